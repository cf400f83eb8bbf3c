//! Answers count/sum/avg/min/max from tile statistics (the NEXUS trick): a
//! partial aggregate over a window scan becomes the same aggregate over the
//! scan of the window's edge tiles, plus state rows built from the statistics
//! of the tiles wholly inside the window. The final aggregate merges both.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, TimestampMicrosecondArray, UInt64Array, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, CastExpr, Column, InListExpr, IsNotNullExpr, Literal};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, PhysicalExprRef, ScalarFunctionExpr, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode, PhysicalGroupBy};
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    ReplaceChildrenOptions,
};

use crate::tile_stats::{TileStat, VarStats, stats_source};
use crate::window::{Interval, Ranges, WINDOW_COLUMNS, Window};

/// Physical optimizer rule: a `Partial` (or `Single`) aggregate of
/// count/sum/avg/min/max over a window scan (through projections, filters,
/// round-robin repartitions) takes the tiles wholly inside the window from
/// their statistics. Runs after DataFusion's rules.
#[derive(Debug, Default)]
pub struct TileStatsAggregate;

impl PhysicalOptimizerRule for TileStatsAggregate {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            // Never split the edge scan of an earlier rewrite again.
            if node.is::<TileStatsAggregateExec>() {
                return Ok(Transformed::new(node, false, TreeNodeRecursion::Jump));
            }
            Ok(match rewrite(&node)? {
                Some(new) => Transformed::new(new, true, TreeNodeRecursion::Jump),
                None => Transformed::no(node),
            })
        })
        .data()
    }

    fn name(&self) -> &str {
        "tile_stats_aggregate"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// How one aggregate's state is built from statistics.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum StateKind {
    /// `count(*)` / `count(literal)`: the tile's rows.
    CountRows,
    /// The rest take the statistics of the `vars` entry at the index.
    Count(usize),
    Sum(usize),
    Avg(usize),
    Min(usize),
    Max(usize),
}

/// The rewrite of one node, `None` when it is not a partial aggregate the statistics can answer.
fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(agg) = node.downcast_ref::<AggregateExec>() else { return Ok(None) };
    if *agg.mode() == AggregateMode::Single {
        return split_single(agg);
    }
    if *agg.mode() != AggregateMode::Partial
        || agg.limit_options().is_some()
        || agg.filter_expr().iter().any(Option::is_some)
        || !plain_group_by(agg.group_expr())
    {
        return Ok(None);
    }
    let Some((chain, scan)) = chain_to_scan(agg.input()) else { return Ok(None) };
    let Some(source) = stats_source(scan.as_ref()) else { return Ok(None) };
    let scan_schema = scan.schema();
    let to_scan = |expr: &Arc<dyn PhysicalExpr>, from: usize| resolve(expr, &chain[from..], &scan_schema);

    // The filters must be exactly the window.
    let mut window = Window::default();
    for (i, node) in chain.iter().enumerate() {
        if let Some(filter) = node.downcast_ref::<FilterExec>() {
            let Some(w) = to_scan(filter.predicate(), i + 1).as_ref().and_then(physical_window) else { return Ok(None) };
            window = window.intersect(&w);
        }
    }

    let mut vars: Vec<String> = Vec::new();
    let mut kinds = Vec::new();
    let mut state_len = 0;
    for a in agg.aggr_expr() {
        let Some(kind) = classify(a, &|e| to_scan(e, 0), &scan_schema, &mut vars)? else { return Ok(None) };
        kinds.push(kind);
        state_len += a.state_fields()?.len();
    }
    let group_exprs = agg.group_expr().expr();
    if agg.schema().fields().len() != group_exprs.len() + state_len {
        return Ok(None);
    }

    let mut groups = Vec::with_capacity(group_exprs.len());
    for (e, _) in group_exprs {
        match to_scan(e, 0) {
            Some(e) if time_monotone(&e, &scan_schema) => groups.push(e),
            _ => return Ok(None),
        }
    }
    let Some(keys) = GroupKeys::new(groups, &scan_schema) else { return Ok(None) };

    let var_names: Vec<&str> = vars.iter().map(String::as_str).collect();
    let accept = |t: &TileStat| keys.key(t).is_some();
    let Some(split) = source.split_by_stats(&window, &var_names, &accept)? else { return Ok(None) };

    let recompute = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
    let mut input = split.edge.clone();
    for n in chain.iter().rev() {
        input = Arc::clone(n).replace_children(vec![input], recompute)?;
    }
    let partial = Arc::clone(node).replace_children(vec![input], recompute)?;
    let state = state_batch(&agg.schema(), &kinds, &keys.group(&split.tiles, vars.len())?)?;
    let counts = TileCounts { from_statistics: split.tiles.len(), scanned: split.tiles_scanned, selected: split.tiles_selected };
    Ok(Some(Arc::new(TileStatsAggregateExec::new(partial, state, counts))))
}

/// A `Single` aggregate (planned over one input partition) as the `Partial` and
/// `Final` aggregates the planner would have made, if the partial one is rewritten.
fn split_single(agg: &AggregateExec) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if agg.limit_options().is_some() || chain_to_scan(agg.input()).is_none() {
        return Ok(None);
    }
    let filters = agg.filter_expr().to_vec();
    let group_by = agg.group_expr().clone();
    let partial = AggregateExec::try_new(
        AggregateMode::Partial,
        group_by,
        agg.aggr_expr().to_vec(),
        filters.clone(),
        Arc::clone(agg.input()),
        agg.input_schema(),
    );
    // Leave aggregates DataFusion would not split alone.
    let Ok(partial) = partial else { return Ok(None) };
    let group_by = partial.group_expr().as_final();
    let aggr = partial.aggr_expr().to_vec();
    let Some(stats) = rewrite(&(Arc::new(partial) as Arc<dyn ExecutionPlan>))? else { return Ok(None) };
    let input = Arc::new(CoalescePartitionsExec::new(stats));
    let final_agg = AggregateExec::try_new(AggregateMode::Final, group_by, aggr, filters, input, agg.input_schema());
    Ok(final_agg.ok().filter(|f| f.schema() == agg.schema()).map(|f| Arc::new(f) as _))
}

/// A GROUP BY without grouping sets.
pub(crate) fn plain_group_by(g: &PhysicalGroupBy) -> bool {
    !g.has_grouping_set() && g.groups().iter().all(|mask| mask.iter().all(|null| !null))
}

/// Plan nodes from the top down.
type Chain = Vec<Arc<dyn ExecutionPlan>>;

/// The nodes between an aggregate and a statistics source (top first), and the source.
#[allow(deprecated)] // CoalesceBatchesExec: still planned by some rules in 55.
fn chain_to_scan(input: &Arc<dyn ExecutionPlan>) -> Option<(Chain, Arc<dyn ExecutionPlan>)> {
    use datafusion::physical_plan::coalesce_batches::CoalesceBatchesExec;
    let mut chain = Vec::new();
    let mut node = Arc::clone(input);
    loop {
        if stats_source(node.as_ref()).is_some() {
            return Some((chain, node));
        }
        let passes = node.is::<ProjectionExec>()
            || node.is::<FilterExec>()
            || node.is::<CoalesceBatchesExec>()
            || node.is::<CooperativeExec>()
            || node
                .downcast_ref::<RepartitionExec>()
                .is_some_and(|r| matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)));
        if !passes || node.fetch().is_some() || node.children().len() != 1 {
            return None;
        }
        let child = Arc::clone(node.children()[0]);
        chain.push(node);
        node = child;
    }
}

/// `expr` (over the output of `chain[0]`) rewritten over the scan's schema:
/// projections inlined, columns named as the scan names them.
fn resolve(expr: &Arc<dyn PhysicalExpr>, chain: &[Arc<dyn ExecutionPlan>], scan: &Schema) -> Option<Arc<dyn PhysicalExpr>> {
    let mut expr = Arc::clone(expr);
    for node in chain {
        if let Some(p) = node.downcast_ref::<ProjectionExec>() {
            let exprs = p.expr();
            expr = substitute(expr, |c| exprs.get(c.index()).map(|e| Arc::clone(&e.expr)))?;
        } else if let Some(f) = node.downcast_ref::<FilterExec>()
            && let Some(proj) = f.projection()
        {
            let input = f.input().schema();
            expr = substitute(expr, |c| {
                let i = *proj.get(c.index())?;
                Some(Arc::new(Column::new(input.fields().get(i)?.name(), i)) as _)
            })?;
        }
    }
    substitute(expr, |c| Some(Arc::new(Column::new(scan.fields().get(c.index())?.name(), c.index())) as _))
}

/// Replaces every column by `f(column)`; `None` if `f` fails for one.
fn substitute(
    expr: Arc<dyn PhysicalExpr>,
    f: impl Fn(&Column) -> Option<Arc<dyn PhysicalExpr>>,
) -> Option<Arc<dyn PhysicalExpr>> {
    expr.transform(|e| match e.downcast_ref::<Column>() {
        Some(c) => match f(c) {
            Some(new) => Ok(Transformed::yes(new)),
            None => datafusion::common::plan_err!("column {c} not resolved"),
        },
        None => Ok(Transformed::no(e)),
    })
    .data()
    .ok()
}

/// The aggregate as a state built from statistics, registering its variable in `vars`.
fn classify(
    a: &AggregateFunctionExpr,
    to_scan: &dyn Fn(&Arc<dyn PhysicalExpr>) -> Option<PhysicalExprRef>,
    scan: &Schema,
    vars: &mut Vec<String>,
) -> Result<Option<StateKind>> {
    if a.is_distinct() || !a.order_bys().is_empty() {
        return Ok(None);
    }
    let args = a.expressions();
    let state = a.state_fields()?;
    let types: Vec<&DataType> = state.iter().map(|f| f.data_type()).collect();
    let mut var = |e: &Arc<dyn PhysicalExpr>, allow_cast: bool| -> Option<usize> {
        let name = var_column(&to_scan(e)?, scan, allow_cast)?;
        Some(vars.iter().position(|v| *v == name).unwrap_or_else(|| {
            vars.push(name);
            vars.len() - 1
        }))
    };
    let kind = match (a.fun().name(), args.as_slice(), types.as_slice()) {
        ("count", [], [DataType::Int64]) => Some(StateKind::CountRows),
        ("count", [arg], [DataType::Int64]) => match arg.downcast_ref::<Literal>() {
            Some(l) if !l.value().is_null() => Some(StateKind::CountRows),
            Some(_) => None,
            None => var(arg, false).map(StateKind::Count),
        },
        ("sum", [arg], [t]) if numeric(t) => var(arg, true).map(StateKind::Sum),
        ("avg", [arg], [DataType::UInt64, t]) if numeric(t) => var(arg, true).map(StateKind::Avg),
        ("min", [arg], [t]) if numeric(t) => var(arg, true).map(StateKind::Min),
        ("max", [arg], [t]) if numeric(t) => var(arg, true).map(StateKind::Max),
        _ => None,
    };
    Ok(kind)
}

fn numeric(t: &DataType) -> bool {
    t.is_integer() || t.is_floating()
}

/// The scan column an aggregate reads: a column, or (`allow_cast`) a widening
/// numeric cast of one, as type coercion plans `sum(int_col)` or `avg(f32_col)`.
fn var_column(e: &Arc<dyn PhysicalExpr>, scan: &Schema, allow_cast: bool) -> Option<String> {
    if let Some(c) = e.downcast_ref::<Column>() {
        return Some(c.name().to_string());
    }
    let c = e.downcast_ref::<CastExpr>().filter(|_| allow_cast)?;
    let col = c.expr().downcast_ref::<Column>()?;
    let from = scan.fields().get(col.index())?.data_type();
    use DataType::*;
    let widening = match c.cast_type() {
        Float64 => from.is_integer() || from.is_floating(),
        Int64 => matches!(from, Int8 | Int16 | Int32 | Int64),
        UInt64 => matches!(from, UInt8 | UInt16 | UInt32 | UInt64),
        _ => false,
    };
    widening.then(|| col.name().to_string())
}

/// Whether `e` is a non-decreasing function of the scan's `time` (or constant), so that
/// equal values at a tile's first and last time mean one value over the whole tile.
fn time_monotone(e: &Arc<dyn PhysicalExpr>, scan: &Schema) -> bool {
    if let Some(c) = e.downcast_ref::<Column>() {
        return c.name() == "time";
    }
    if e.is::<Literal>() {
        return true;
    }
    if let Some(c) = e.downcast_ref::<CastExpr>() {
        let from_time = matches!(c.expr().data_type(scan), Ok(DataType::Timestamp(..)));
        return from_time
            && matches!(c.cast_type(), DataType::Timestamp(..) | DataType::Date32 | DataType::Date64)
            && time_monotone(c.expr(), scan);
    }
    if let Some(f) = e.downcast_ref::<ScalarFunctionExpr>() {
        // date_trunc(granularity, time), date_bin(stride, time[, origin]).
        let args = f.args();
        return matches!(f.fun().name(), "date_trunc" | "date_bin")
            && args.len() >= 2
            && time_monotone(&args[1], scan)
            && args.iter().enumerate().all(|(i, a)| i == 1 || a.is::<Literal>());
    }
    false
}

/// Evaluates the group keys at a time (the scan's `time` set, other columns NULL).
struct GroupKeys {
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    /// The scan schema with every field nullable.
    schema: SchemaRef,
    time: Option<(usize, DataType)>,
    /// Keys by time: tiles of one time step share their time range.
    memo: RefCell<HashMap<i64, Option<Vec<ScalarValue>>>>,
}

impl GroupKeys {
    /// `None` when there are group keys but no timestamp `time` column.
    fn new(exprs: Vec<Arc<dyn PhysicalExpr>>, scan: &Schema) -> Option<Self> {
        let time = scan
            .fields()
            .iter()
            .position(|f| f.name() == "time" && matches!(f.data_type(), DataType::Timestamp(..)))
            .map(|i| (i, scan.field(i).data_type().clone()));
        if !exprs.is_empty() && time.is_none() {
            return None;
        }
        let fields: Vec<Field> = scan.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
        Some(GroupKeys { exprs, schema: Arc::new(Schema::new(fields)), time, memo: RefCell::default() })
    }

    /// The keys at `t` (microseconds since the epoch), `None` if they cannot be evaluated.
    fn at(&self, t: i64) -> Option<Vec<ScalarValue>> {
        self.memo.borrow_mut().entry(t).or_insert_with(|| self.evaluate(t).ok()).clone()
    }

    fn evaluate(&self, t: i64) -> Result<Vec<ScalarValue>> {
        let Some((time_idx, time_type)) = &self.time else {
            return datafusion::common::internal_err!("group keys without a time column");
        };
        let tz = match time_type {
            DataType::Timestamp(_, tz) => tz.clone(),
            _ => None,
        };
        let columns = self
            .schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                if i == *time_idx {
                    let micros: ArrayRef = Arc::new(TimestampMicrosecondArray::from(vec![t]).with_timezone_opt(tz.clone()));
                    Ok(cast(&micros, time_type)?)
                } else {
                    Ok(new_null_array(f.data_type(), 1))
                }
            })
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(self.schema.clone(), columns)?;
        self.exprs.iter().map(|e| ScalarValue::try_from_array(&e.evaluate(&batch)?.into_array(1)?, 0)).collect()
    }

    /// The tile's group keys if the whole tile falls in one group.
    fn key(&self, tile: &TileStat) -> Option<Vec<ScalarValue>> {
        if self.exprs.is_empty() {
            return Some(Vec::new());
        }
        let (start, end) = (tile.time_start?, tile.time_end?);
        let first = self.at(start)?;
        (first == self.at(end)?).then_some(first)
    }

    /// The tiles merged per group, in order of first appearance.
    fn group(&self, tiles: &[TileStat], nvars: usize) -> Result<Vec<(Vec<ScalarValue>, GroupStats)>> {
        let mut index: HashMap<Vec<ScalarValue>, usize> = HashMap::new();
        let mut out: Vec<(Vec<ScalarValue>, GroupStats)> = Vec::new();
        for tile in tiles {
            let Some(key) = self.key(tile) else {
                return datafusion::common::internal_err!("a tile answered from statistics spans several groups");
            };
            let i = *index.entry(key.clone()).or_insert_with(|| {
                out.push((key, GroupStats::new(nvars)));
                out.len() - 1
            });
            out[i].1.add(tile)?;
        }
        Ok(out)
    }
}

/// Statistics of the tiles of one group.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct GroupStats {
    pub(crate) rows: u64,
    pub(crate) vars: Vec<VarStats>,
}

impl GroupStats {
    pub(crate) fn new(nvars: usize) -> Self {
        GroupStats { rows: 0, vars: vec![VarStats::EMPTY; nvars] }
    }

    fn add(&mut self, tile: &TileStat) -> Result<()> {
        if tile.vars.len() != self.vars.len() {
            return datafusion::common::internal_err!("tile statistics for {} variables, {} asked", tile.vars.len(), self.vars.len());
        }
        self.rows += tile.rows;
        for (acc, v) in self.vars.iter_mut().zip(&tile.vars) {
            if v.count == 0 {
                continue;
            }
            if acc.count == 0 {
                *acc = *v;
            } else {
                acc.min = acc.min.min(v.min);
                acc.max = acc.max.max(v.max);
                acc.count += v.count;
                acc.sum += v.sum;
            }
        }
        Ok(())
    }
}

/// The partial aggregate's output rows for `groups`: group keys, then each
/// aggregate's state fields, as DataFusion 55 lays them out (count: Int64
/// count; sum: sum in the return type, NULL without values; avg: UInt64
/// count and sum, both NULL without values; min/max: the value, NULL without values).
pub(crate) fn state_batch(schema: &SchemaRef, kinds: &[StateKind], groups: &[(Vec<ScalarValue>, GroupStats)]) -> Result<Option<RecordBatch>> {
    if groups.is_empty() {
        return Ok(None);
    }
    let nkeys = groups[0].0.len();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for k in 0..nkeys {
        let keys = ScalarValue::iter_to_array(groups.iter().map(|(key, _)| key[k].clone()))?;
        columns.push(cast(&keys, schema.field(k).data_type())?);
    }
    let var = |i: usize| groups.iter().map(move |(_, g)| g.vars[i]);
    fn nonempty<T>(v: VarStats, x: T) -> Option<T> {
        (v.count > 0).then_some(x)
    }
    for kind in kinds {
        let parts: Vec<ArrayRef> = match *kind {
            StateKind::CountRows => vec![Arc::new(Int64Array::from_iter_values(groups.iter().map(|(_, g)| g.rows as i64)))],
            StateKind::Count(i) => vec![Arc::new(Int64Array::from_iter_values(var(i).map(|v| v.count as i64)))],
            StateKind::Sum(i) => vec![Arc::new(Float64Array::from_iter(var(i).map(|v| nonempty(v, v.sum))))],
            StateKind::Avg(i) => vec![
                // NULL, not 0, without values: a grouped final average counts a
                // non-null 0 as a value seen and returns NaN (0/0).
                Arc::new(UInt64Array::from_iter(var(i).map(|v| nonempty(v, v.count)))),
                Arc::new(Float64Array::from_iter(var(i).map(|v| nonempty(v, v.sum)))),
            ],
            StateKind::Min(i) => vec![Arc::new(Float64Array::from_iter(var(i).map(|v| nonempty(v, v.min))))],
            StateKind::Max(i) => vec![Arc::new(Float64Array::from_iter(var(i).map(|v| nonempty(v, v.max))))],
        };
        for part in parts {
            let Some(field) = schema.fields().get(columns.len()) else {
                return datafusion::common::internal_err!("more state columns than the partial aggregate has");
            };
            columns.push(cast(&part, field.data_type())?);
        }
    }
    Ok(Some(RecordBatch::try_new(schema.clone(), columns)?))
}

/// The window of a physical filter predicate over the scan's columns, `None`
/// unless every conjunct is a window constraint (so that the window is exactly the filter).
pub fn physical_window(expr: &Arc<dyn PhysicalExpr>) -> Option<Window> {
    let mut w = Window::default();
    for conjunct in split_conjunction(expr) {
        let (col, r) = physical_ranges(conjunct)?;
        let slot = w.slot(&col);
        *slot = slot.intersect(&r);
    }
    Some(w)
}

/// The single window column `expr` constrains and the ranges it allows (window.rs's `column_ranges`).
fn physical_ranges(expr: &Arc<dyn PhysicalExpr>) -> Option<(String, Ranges)> {
    if let Some(b) = expr.downcast_ref::<BinaryExpr>() {
        return match b.op() {
            Operator::And | Operator::Or => {
                let (a, ra) = physical_ranges(b.left())?;
                let (c, rc) = physical_ranges(b.right())?;
                (a == c).then(|| (a, if *b.op() == Operator::And { ra.intersect(&rc) } else { ra.union(rc) }))
            }
            op => comparison(b.left(), *op, b.right()),
        };
    }
    if let Some(l) = expr.downcast_ref::<InListExpr>() {
        if l.negated() {
            return None;
        }
        let col = window_column(l.expr())?;
        let points = l.list().iter().map(|e| literal(e).map(Interval::point)).collect::<Option<Vec<_>>>()?;
        return Some((col, Ranges(points)));
    }
    // Tiles answered from statistics have no missing coordinate.
    if let Some(n) = expr.downcast_ref::<IsNotNullExpr>() {
        return Some((window_column(n.arg())?, Ranges::all()));
    }
    None
}

fn comparison(left: &Arc<dyn PhysicalExpr>, op: Operator, right: &Arc<dyn PhysicalExpr>) -> Option<(String, Ranges)> {
    let (col, value, op) = match (window_column(left), window_column(right)) {
        (Some(c), None) => (c, literal(right)?, op),
        (None, Some(c)) => (c, literal(left)?, op.swap()?),
        _ => return None,
    };
    Some((col, Ranges(vec![Interval::compared(op, value)?])))
}

fn window_column(expr: &Arc<dyn PhysicalExpr>) -> Option<String> {
    let c = expr.downcast_ref::<Column>()?;
    WINDOW_COLUMNS.contains(&c.name()).then(|| c.name().to_string())
}

/// A literal as the exact f64 window.rs compares with: numbers as they are,
/// timestamps and dates in microseconds; `None` where the conversion would round.
fn literal(expr: &Arc<dyn PhysicalExpr>) -> Option<f64> {
    const EXACT: i64 = 1 << 53;
    let int = |x: i64| (x.abs() <= EXACT).then_some(x as f64);
    let x = match expr.downcast_ref::<Literal>()?.value() {
        ScalarValue::TimestampSecond(Some(x), _) => int(x.checked_mul(1_000_000)?)?,
        ScalarValue::TimestampMillisecond(Some(x), _) => int(x.checked_mul(1_000)?)?,
        ScalarValue::TimestampMicrosecond(Some(x), _) => int(*x)?,
        ScalarValue::TimestampNanosecond(Some(x), _) if x % 1_000 == 0 => int(x / 1_000)?,
        ScalarValue::Date32(Some(d)) => int(i64::from(*d) * 86_400_000_000)?,
        ScalarValue::Date64(Some(ms)) => int(ms.checked_mul(1_000)?)?,
        ScalarValue::Float64(Some(x)) => *x,
        ScalarValue::Float32(Some(x)) => f64::from(*x),
        ScalarValue::Int8(Some(x)) => f64::from(*x),
        ScalarValue::Int16(Some(x)) => f64::from(*x),
        ScalarValue::Int32(Some(x)) => f64::from(*x),
        ScalarValue::Int64(Some(x)) => int(*x)?,
        ScalarValue::UInt8(Some(x)) => f64::from(*x),
        ScalarValue::UInt16(Some(x)) => f64::from(*x),
        ScalarValue::UInt32(Some(x)) => f64::from(*x),
        ScalarValue::UInt64(Some(x)) => int(i64::try_from(*x).ok()?)?,
        _ => return None,
    };
    x.is_finite().then_some(x)
}

#[derive(Clone, Copy, Debug)]
struct TileCounts {
    from_statistics: usize,
    scanned: usize,
    selected: usize,
}

/// A partial aggregate over the edge tiles (its partitions first) plus one
/// partition of state rows computed from tile statistics.
#[derive(Debug)]
pub struct TileStatsAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    state: Option<RecordBatch>,
    counts: TileCounts,
    metrics: ExecutionPlanMetricsSet,
    cache: Arc<PlanProperties>,
}

impl TileStatsAggregateExec {
    fn new(input: Arc<dyn ExecutionPlan>, state: Option<RecordBatch>, counts: TileCounts) -> Self {
        let p = input.properties();
        let mut props = PlanProperties::new(
            EquivalenceProperties::new(input.schema()),
            Partitioning::UnknownPartitioning(p.partitioning.partition_count() + 1),
            p.emission_type,
            p.boundedness,
        );
        props.scheduling_type = p.scheduling_type;
        props.evaluation_type = p.evaluation_type;
        let metrics = ExecutionPlanMetricsSet::new();
        let global = |name: &'static str, value: usize| MetricBuilder::new(&metrics).global_counter(name).add(value);
        global("tiles_from_statistics", counts.from_statistics);
        global("tiles_scanned", counts.scanned);
        global("state_rows", state.as_ref().map_or(0, RecordBatch::num_rows));
        TileStatsAggregateExec { input, state, counts, metrics, cache: Arc::new(props) }
    }

    /// Tiles answered from statistics, and tiles the edge scan reads.
    pub fn tiles(&self) -> (usize, usize) {
        (self.counts.from_statistics, self.counts.scanned)
    }

    /// What a worker needs besides the input: the tile counts, and the state rows.
    pub fn encode(&self) -> (serde_json::Value, Option<&RecordBatch>) {
        let c = &self.counts;
        (serde_json::json!([c.from_statistics, c.scanned, c.selected]), self.state.as_ref())
    }

    /// The node [`TileStatsAggregateExec::encode`] described, over `input`.
    pub fn decode(input: Arc<dyn ExecutionPlan>, desc: &serde_json::Value, state: Option<RecordBatch>) -> Result<Arc<dyn ExecutionPlan>> {
        let counts = crate::distributed::usizes(desc)?;
        let [from_statistics, scanned, selected] = <[usize; 3]>::try_from(counts)
            .map_err(|_| datafusion::common::exec_datafusion_err!("OceanQL codec: bad TileStatsAggregateExec counts"))?;
        Ok(Arc::new(TileStatsAggregateExec::new(input, state, TileCounts { from_statistics, scanned, selected })))
    }
}

impl DisplayAs for TileStatsAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let c = &self.counts;
        write!(
            f,
            "TileStatsAggregateExec: tiles_from_statistics={}, tiles_scanned={} (of {} in the window)",
            c.from_statistics, c.scanned, c.selected
        )
    }
}

impl ExecutionPlan for TileStatsAggregateExec {
    fn name(&self) -> &'static str {
        "TileStatsAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return datafusion::common::internal_err!("TileStatsAggregateExec takes one child, got {}", children.len());
        }
        Ok(Arc::new(TileStatsAggregateExec::new(children.swap_remove(0), self.state.clone(), self.counts)))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let edge = self.input.properties().partitioning.partition_count();
        if partition < edge {
            return self.input.execute(partition, context);
        }
        if partition > edge {
            return datafusion::common::internal_err!("TileStatsAggregateExec: partition {partition} out of range");
        }
        // In a distributed stage every task has this node: the first one emits the state rows.
        let first_task = datafusion_distributed::DistributedTaskContext::from_ctx(&context).task_index == 0;
        let batches = if first_task { self.state.iter().cloned().collect() } else { vec![] };
        Ok(Box::pin(MemoryStream::try_new(batches, self.schema(), None)?))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use async_trait::async_trait;
    use datafusion::arrow::array::{Array, AsArray, Float32Array, Int32Array};
    use datafusion::arrow::datatypes::{Float32Type, Float64Type, Int32Type, Int64Type, TimeUnit, TimestampMicrosecondType};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::catalog::{Session, TableProvider};
    use datafusion::datasource::MemTable;
    use datafusion::execution::SessionStateBuilder;
    use datafusion::logical_expr::{Expr, TableType};
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::{SessionConfig, SessionContext};

    use crate::tile_stats::{StatsSplit, TileStatsSource};

    /// An in-memory tiled source: each tile is a batch of the full schema.
    #[derive(Debug)]
    pub(crate) struct TileMemExec {
        tiles: Arc<Vec<RecordBatch>>,
        ids: Vec<usize>,
        projection: Vec<usize>,
        per_partition: usize,
        parts: Vec<Vec<usize>>,
        cache: Arc<PlanProperties>,
    }

    impl TileMemExec {
        fn new(tiles: Arc<Vec<RecordBatch>>, ids: Vec<usize>, projection: Vec<usize>, per_partition: usize) -> Self {
            let schema = Arc::new(tiles[0].schema().project(&projection).unwrap());
            let parts: Vec<Vec<usize>> = ids.chunks(per_partition).map(<[usize]>::to_vec).collect();
            let parts = if parts.is_empty() { vec![vec![]] } else { parts };
            let cache = Arc::new(PlanProperties::new(
                EquivalenceProperties::new(schema),
                Partitioning::UnknownPartitioning(parts.len()),
                datafusion::physical_plan::execution_plan::EmissionType::Incremental,
                datafusion::physical_plan::execution_plan::Boundedness::Bounded,
            ));
            TileMemExec { tiles, ids, projection, per_partition, parts, cache }
        }

        /// Whether the window holds every row (no missing coordinate), and whether it holds any.
        fn inside(tile: &RecordBatch, w: &Window) -> (bool, bool) {
            let time = tile.column_by_name("time").unwrap().as_primitive::<TimestampMicrosecondType>();
            let lat = tile.column_by_name("lat").unwrap().as_primitive::<Float64Type>();
            let lon = tile.column_by_name("lon").unwrap().as_primitive::<Float64Type>();
            let rows: Vec<bool> = (0..tile.num_rows())
                .map(|i| {
                    !time.is_null(i)
                        && !lat.is_null(i)
                        && !lon.is_null(i)
                        && w.time.contains(time.value(i) as f64)
                        && w.lat.contains(lat.value(i))
                        && w.lon.contains(lon.value(i))
                })
                .collect();
            (rows.iter().all(|r| *r) && w.depth.is_all(), rows.iter().any(|r| *r))
        }

        fn stat(tile: &RecordBatch, vars: &[&str]) -> Option<TileStat> {
            let time = tile.column_by_name("time")?.as_primitive::<TimestampMicrosecondType>();
            let mut out = TileStat {
                time_start: time.iter().flatten().min(),
                time_end: time.iter().flatten().max(),
                rows: tile.num_rows() as u64,
                vars: Vec::new(),
            };
            for v in vars {
                let col = cast(tile.column_by_name(v)?, &DataType::Float64).ok()?;
                let mut s = VarStats::EMPTY;
                col.as_primitive::<Float64Type>().iter().flatten().for_each(|x| s.push(x));
                out.vars.push(s);
            }
            Some(out)
        }
    }

    impl TileStatsSource for TileMemExec {
        fn split_by_stats(&self, window: &Window, vars: &[&str], accept: &dyn Fn(&TileStat) -> bool) -> Result<Option<StatsSplit>> {
            let (mut tiles, mut edge, mut selected) = (Vec::new(), Vec::new(), 0);
            for &id in &self.ids {
                let tile = &self.tiles[id];
                let Some(stat) = Self::stat(tile, vars) else { return Ok(None) };
                let (all, any) = Self::inside(tile, window);
                selected += usize::from(any);
                if all && accept(&stat) {
                    tiles.push(stat);
                } else {
                    edge.push(id);
                }
            }
            let tiles_scanned = edge.iter().filter(|&&id| Self::inside(&self.tiles[id], window).1).count();
            let edge = Arc::new(TileMemExec::new(self.tiles.clone(), edge, self.projection.clone(), self.per_partition));
            Ok(Some(StatsSplit { tiles, edge, tiles_selected: selected, tiles_scanned }))
        }
    }

    impl DisplayAs for TileMemExec {
        fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
            write!(f, "TileMemExec: tiles={}", self.ids.len())
        }
    }

    impl ExecutionPlan for TileMemExec {
        fn name(&self) -> &'static str {
            "TileMemExec"
        }

        fn properties(&self) -> &Arc<PlanProperties> {
            &self.cache
        }

        crate::leaf_exec_methods!();

        fn execute(&self, partition: usize, _context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
            let batches = self.parts[partition].iter().map(|&id| self.tiles[id].clone()).collect();
            Ok(Box::pin(MemoryStream::try_new(batches, self.schema(), Some(self.projection.clone()))?))
        }
    }

    #[derive(Debug)]
    struct TileMemTable {
        tiles: Arc<Vec<RecordBatch>>,
        per_partition: usize,
    }

    #[async_trait]
    impl TableProvider for TileMemTable {
        fn schema(&self) -> SchemaRef {
            self.tiles[0].schema()
        }

        fn table_type(&self) -> TableType {
            TableType::Base
        }

        async fn scan(
            &self,
            _state: &dyn Session,
            projection: Option<&Vec<usize>>,
            _filters: &[Expr],
            _limit: Option<usize>,
        ) -> Result<Arc<dyn ExecutionPlan>> {
            let projection = projection.cloned().unwrap_or_else(|| (0..self.schema().fields().len()).collect());
            Ok(Arc::new(TileMemExec::new(self.tiles.clone(), (0..self.tiles.len()).collect(), projection, self.per_partition)))
        }
    }

    const DAY: i64 = 86_400_000_000;
    /// 2020-01-01T00:00:00Z in microseconds.
    const JAN1: i64 = 1_577_836_800_000_000;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("time", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), true),
            Field::new("lat", DataType::Float64, true),
            Field::new("lon", DataType::Float64, true),
            Field::new("sst", DataType::Float32, true),
            Field::new("q", DataType::Int32, true),
        ]))
    }

    /// Twelve tiles of six rows: two per 10-day span from Jan 1 to Mar 1 (one
    /// crosses into February), lat 0..60 in bands; values are multiples of 1/4
    /// so that sums do not depend on their order.
    fn tiles() -> Arc<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for k in 0..12i64 {
            let t0 = JAN1 + (k / 2) * 10 * DAY + if k == 5 { 7 * DAY } else { 0 };
            let time: Vec<Option<i64>> = (0..6).map(|i| Some(t0 + i * DAY)).collect();
            let lat: Vec<Option<f64>> = (0..6)
                .map(|i| if k == 7 && i == 3 { None } else { Some((k % 4) as f64 * 15.0 + i as f64) })
                .collect();
            let lon: Vec<Option<f64>> = (0..6).map(|i| Some(-10.0 + i as f64 * 4.0 + k as f64)).collect();
            let sst: Vec<Option<f32>> = (0..6)
                .map(|i| if k == 2 || (i + k) % 4 == 0 { None } else { Some(((k * 7 + i * 3) % 23) as f32 * 0.25 - 2.0) })
                .collect();
            let q: Vec<Option<i32>> = (0..6).map(|i| if i == 5 { None } else { Some((k * 11 + i) as i32 % 17 - 5) }).collect();
            out.push(
                RecordBatch::try_new(
                    schema(),
                    vec![
                        Arc::new(TimestampMicrosecondArray::from(time).with_timezone("UTC")),
                        Arc::new(Float64Array::from(lat)),
                        Arc::new(Float64Array::from(lon)),
                        Arc::new(Float32Array::from(sst)),
                        Arc::new(Int32Array::from(q)),
                    ],
                )
                .unwrap(),
            );
        }
        Arc::new(out)
    }

    /// A session with `t` (tiles, `per_partition` tiles in each scan partition) and `m` (the same rows in a MemTable).
    fn context(rule: bool, target_partitions: usize, per_partition: usize) -> SessionContext {
        let config = SessionConfig::new().with_target_partitions(target_partitions);
        let mut builder = SessionStateBuilder::new().with_config(config).with_default_features();
        if rule {
            builder = builder.with_physical_optimizer_rule(Arc::new(TileStatsAggregate));
        }
        let ctx = SessionContext::new_with_state(builder.build());
        ctx.register_table("t", Arc::new(TileMemTable { tiles: tiles(), per_partition })).unwrap();
        let mem = MemTable::try_new(schema(), vec![tiles().to_vec()]).unwrap();
        ctx.register_table("m", Arc::new(mem)).unwrap();
        ctx
    }

    async fn plan(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
        let df = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        df.create_physical_plan().await.unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    fn find<T: ExecutionPlan>(plan: &Arc<dyn ExecutionPlan>) -> Vec<Arc<dyn ExecutionPlan>> {
        let mut out = Vec::new();
        plan.apply(|n| {
            if n.is::<T>() {
                out.push(Arc::clone(n));
            }
            Ok(TreeNodeRecursion::Continue)
        })
        .unwrap();
        out
    }

    async fn sorted_rows(ctx: &SessionContext, plan: Arc<dyn ExecutionPlan>) -> Vec<String> {
        let batches = collect(plan, ctx.task_ctx()).await.unwrap();
        let text = pretty_format_batches(&batches).unwrap().to_string();
        let mut rows: Vec<String> = text.lines().skip(3).filter(|l| !l.starts_with('+')).map(str::to_string).collect();
        rows.sort();
        rows
    }

    /// The rule answers the query from statistics, with the same result as without it.
    async fn check_answered(sql: &str, target_partitions: usize, per_partition: usize) -> (usize, usize) {
        let with = context(true, target_partitions, per_partition);
        let without = context(false, target_partitions, per_partition);
        let p = plan(&with, sql).await;
        let text = displayable(p.as_ref()).indent(true).to_string();
        let nodes = find::<TileStatsAggregateExec>(&p);
        assert_eq!(nodes.len(), 1, "{sql}:\n{text}");
        let (from_stats, scanned) = nodes[0].downcast_ref::<TileStatsAggregateExec>().unwrap().tiles();
        assert!(from_stats > 0, "{sql}: no tile from statistics\n{text}");
        let expected = sorted_rows(&without, plan(&without, sql).await).await;
        assert!(find::<TileStatsAggregateExec>(&plan(&without, sql).await).is_empty());
        assert_eq!(sorted_rows(&with, p).await, expected, "{sql}\n{text}");
        (from_stats, scanned)
    }

    async fn check_untouched(sql: &str) {
        let ctx = context(true, 3, 3);
        let p = plan(&ctx, sql).await;
        let text = displayable(p.as_ref()).indent(true).to_string();
        assert!(find::<TileStatsAggregateExec>(&p).is_empty(), "{sql}:\n{text}");
    }

    #[tokio::test]
    async fn answers_from_statistics_like_a_full_scan() {
        let aggs = "count(*), count(sst), sum(sst), avg(sst), min(sst), max(sst), sum(q), avg(q), min(q), max(q), count(1)";
        let bin = "date_bin(INTERVAL '10 days', time, TIMESTAMP '2020-01-01T00:00:00Z')";
        let or = "lat BETWEEN 10 AND 60 AND lon > -100 OR lat BETWEEN 10 AND 60 AND lon < -200";
        let queries = [
            format!("SELECT {aggs} FROM t"),
            format!("SELECT {aggs} FROM t WHERE lat >= 0 AND lat < 40"),
            format!("SELECT {aggs} FROM t WHERE {or}"),
            format!("SELECT date_trunc('month', time) AS m, {aggs} FROM t GROUP BY m"),
            format!(
                "SELECT date_trunc('month', time) AS m, {aggs} FROM t \
                 WHERE time >= TIMESTAMP '2020-01-11T00:00:00Z' AND time < '2020-02-25T00:00:00Z' \
                 AND lat IN (0, 15, 16, 17, 18, 19, 20, 1, 2, 3, 4, 5) GROUP BY m"
            ),
            format!("SELECT {bin} AS b, {aggs} FROM t WHERE lat < 100 GROUP BY b"),
            // All-NULL sst in one group (tile 2 only, in the Jan 11-21 bucket with lat 30..35).
            format!("SELECT {bin} AS b, {aggs} FROM t WHERE lat >= 30 AND lat < 45 GROUP BY b"),
            // Tiles 0..4 are partly outside the window: scanned.
            format!("SELECT {aggs}, date_trunc('month', time) FROM t WHERE lon >= -5 GROUP BY date_trunc('month', time)"),
        ];
        for sql in &queries {
            // Partial and Final aggregates; Single over one scan partition.
            for (target_partitions, per_partition) in [(1, 3), (3, 3), (1, 100)] {
                check_answered(sql, target_partitions, per_partition).await;
            }
        }
    }

    #[tokio::test]
    async fn splits_single_aggregates() {
        let sql = "SELECT date_trunc('month', time), sum(q) FROM t WHERE lat < 30 GROUP BY 1";
        let modes = |p: &Arc<dyn ExecutionPlan>| -> Vec<AggregateMode> {
            find::<AggregateExec>(p).iter().map(|a| *a.downcast_ref::<AggregateExec>().unwrap().mode()).collect()
        };
        assert_eq!(modes(&plan(&context(false, 1, 100), sql).await), vec![AggregateMode::Single]);
        let p = plan(&context(true, 1, 100), sql).await;
        assert_eq!(modes(&p), vec![AggregateMode::Final, AggregateMode::Partial]);
        check_answered(sql, 1, 100).await;
    }

    #[tokio::test]
    async fn counts_tiles_and_explains() {
        // Tiles whose lat band is 0..5 or 15..20, all Jan 1..Mar 1, lat NULL in tile 7 (lat 45+).
        let (from_stats, scanned) = check_answered("SELECT count(*), avg(sst) FROM t WHERE lat < 30", 3, 3).await;
        assert_eq!((from_stats, scanned), (6, 0));
        // Tile 5 crosses into February: scanned, not answered, when grouping by month.
        let sql = "SELECT date_trunc('month', time), max(sst) FROM t WHERE lat < 30 GROUP BY 1";
        let (from_stats, scanned) = check_answered(sql, 3, 3).await;
        assert_eq!((from_stats, scanned), (5, 1));
        let ctx = context(true, 3, 3);
        let df = ctx.sql("EXPLAIN SELECT count(*), avg(sst) FROM t WHERE lat < 30").await.unwrap();
        let text = pretty_format_batches(&df.collect().await.unwrap()).unwrap().to_string();
        assert!(text.contains("TileStatsAggregateExec: tiles_from_statistics=6, tiles_scanned=0 (of 6 in the window)"), "{text}");
    }

    #[tokio::test]
    async fn leaves_other_plans_untouched() {
        check_untouched("SELECT count(DISTINCT sst) FROM t").await;
        check_untouched("SELECT sum(sst) FILTER (WHERE q > 0) FROM t").await;
        check_untouched("SELECT count(*) FROM t WHERE sst > 0").await;
        check_untouched("SELECT count(*) FROM t WHERE lat > 0 OR lon > 0").await;
        check_untouched("SELECT count(*) FROM t WHERE lat + 1 > 0").await;
        check_untouched("SELECT count(*) FROM t WHERE lat <> 5").await;
        check_untouched("SELECT q, count(*) FROM t GROUP BY q").await;
        check_untouched("SELECT date_trunc('month', time), lat, count(*) FROM t GROUP BY 1, 2").await;
        // Not monotone in time: equal at both ends of a tile says nothing about between.
        check_untouched("SELECT extract(hour FROM time), count(*) FROM t GROUP BY 1").await;
        check_untouched("SELECT sum(sst * 2) FROM t").await;
        check_untouched("SELECT sum(CAST(sst AS BIGINT)) FROM t").await;
        check_untouched("SELECT stddev(sst) FROM t").await;
        check_untouched("SELECT date_trunc('month', time), count(*) FROM t GROUP BY ROLLUP(date_trunc('month', time))").await;
        check_untouched("SELECT count(x) FROM (SELECT lat AS x FROM t LIMIT 10)").await;
        check_untouched("SELECT count(*) FROM m WHERE lat < 30").await;
    }

    /// The predicate of the (only) FilterExec of a query on the MemTable `m`.
    async fn predicate(sql: &str) -> Arc<dyn PhysicalExpr> {
        let ctx = context(false, 1, 3);
        let filters = find::<FilterExec>(&plan(&ctx, sql).await);
        assert_eq!(filters.len(), 1, "{sql}");
        Arc::clone(filters[0].downcast_ref::<FilterExec>().unwrap().predicate())
    }

    #[tokio::test]
    async fn windows_of_planned_filters() {
        let w = physical_window(&predicate("SELECT * FROM m WHERE lat >= 10 AND lat < 20 AND 5 > lon").await).unwrap();
        assert_eq!(w.lat, Ranges(vec![Interval { lo: 10.0, lo_incl: true, hi: 20.0, hi_incl: false }]));
        assert_eq!(w.lon, Ranges(vec![Interval { lo: f64::NEG_INFINITY, lo_incl: true, hi: 5.0, hi_incl: false }]));
        assert!(w.time.is_all() && w.depth.is_all());

        let sql = "SELECT * FROM m WHERE time BETWEEN '2020-01-02' AND TIMESTAMP '2020-01-03T00:00:00Z'";
        let w = physical_window(&predicate(sql).await).unwrap();
        let (a, b) = ((JAN1 + DAY) as f64, (JAN1 + 2 * DAY) as f64);
        assert_eq!(w.time, Ranges(vec![Interval { lo: a, lo_incl: true, hi: b, hi_incl: true }]));

        let w = physical_window(&predicate("SELECT * FROM m WHERE lon > 170 OR lon < -170 OR lon IN (1, 2)").await).unwrap();
        assert!(w.lon.contains(175.0) && w.lon.contains(-175.0) && w.lon.contains(2.0) && !w.lon.contains(0.0));

        for sql in [
            "SELECT * FROM m WHERE lat > 0 AND sst > 1",
            "SELECT * FROM m WHERE lat > 0 OR lon > 0",
            "SELECT * FROM m WHERE lat NOT IN (1, 2)",
            "SELECT * FROM m WHERE lat * 2 > 1",
            "SELECT * FROM m WHERE lat <> 1",
        ] {
            assert_eq!(physical_window(&predicate(sql).await), None, "{sql}");
        }
    }

    /// State rows for hand-computed statistics, merged by a Final aggregate with
    /// the partial states of real rows, give the aggregate of all rows.
    #[tokio::test]
    async fn state_rows_merge_with_edge_rows() {
        let ctx = context(false, 2, 3);
        let p = plan(&ctx, "SELECT count(*), count(sst), sum(sst), avg(sst), min(sst), max(sst), sum(q) FROM t").await;
        let is_partial = |a: &Arc<dyn ExecutionPlan>| *a.downcast_ref::<AggregateExec>().unwrap().mode() == AggregateMode::Partial;
        let partial = find::<AggregateExec>(&p).into_iter().find(is_partial).unwrap();
        let agg = partial.downcast_ref::<AggregateExec>().unwrap();
        use StateKind::*;
        let kinds = [CountRows, Count(0), Sum(0), Avg(0), Min(0), Max(0), Sum(1)];
        let sst = VarStats { count: 3, min: -10.0, max: 20.5, sum: 13.0 };
        let q = VarStats { count: 2, min: 1.0, max: 6.0, sum: 7.0 };
        let groups = [(vec![], GroupStats { rows: 5, vars: vec![sst, q] })];
        let state = state_batch(&agg.schema(), &kinds, &groups).unwrap().unwrap();
        // Rows of the whole table, by hand from the same generator.
        let (mut n, mut n_sst, mut s_sst, mut s_q) = (0i64, 0i64, 0f64, 0i64);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for b in tiles().iter() {
            n += b.num_rows() as i64;
            for x in b.column(3).as_primitive::<Float32Type>().iter().flatten().map(f64::from) {
                n_sst += 1;
                s_sst += x;
                lo = lo.min(x);
                hi = hi.max(x);
            }
            s_q += b.column(4).as_primitive::<Int32Type>().iter().flatten().map(i64::from).sum::<i64>();
        }
        let counts = TileCounts { from_statistics: 1, scanned: 0, selected: 1 };
        let rebuilt = p
            .transform_down(|node| {
                if !Arc::ptr_eq(&node, &partial) {
                    return Ok(Transformed::no(node));
                }
                let exec: Arc<dyn ExecutionPlan> = Arc::new(TileStatsAggregateExec::new(node, Some(state.clone()), counts));
                Ok(Transformed::new(exec, true, TreeNodeRecursion::Jump))
            })
            .data()
            .unwrap();
        let out = collect(rebuilt, ctx.task_ctx()).await.unwrap();
        let row = &out[0];
        let f = |i: usize| row.column(i).as_primitive::<Float64Type>().value(0);
        let i = |i: usize| row.column(i).as_primitive::<Int64Type>().value(0);
        let f32v = |i: usize| f64::from(row.column(i).as_primitive::<Float32Type>().value(0));
        assert_eq!(i(0), n + 5);
        assert_eq!(i(1), n_sst + 3);
        assert_eq!(f(2), s_sst + 13.0);
        assert_eq!(f(3), (s_sst + 13.0) / (n_sst + 3) as f64);
        assert!(lo > -10.0 && hi < 20.5);
        assert_eq!(f32v(4), -10.0);
        assert_eq!(f32v(5), 20.5);
        assert_eq!(i(6), s_q + 7);

        // An empty group states what an empty input would: counts 0, the rest NULL.
        let empty = [(vec![], GroupStats { rows: 0, vars: vec![VarStats::EMPTY, VarStats::EMPTY] })];
        let state = state_batch(&agg.schema(), &kinds, &empty).unwrap().unwrap();
        let nulls: Vec<usize> = state.columns().iter().map(|c| c.null_count()).collect();
        // count, count, sum, avg count, avg sum, min, max, sum(q)
        assert_eq!(nulls, vec![0, 0, 1, 1, 1, 1, 1, 1]);
    }

    #[test]
    fn session_registers_the_rule() {
        let ctx = crate::session::create_context().unwrap();
        assert!(ctx.state().physical_optimizers().iter().any(|r| r.name() == "tile_stats_aggregate"));
    }
}
