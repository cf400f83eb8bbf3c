//! Binning without hashing: a partial aggregate grouped by `floor(x)` (and `floor(y)`) of
//! float columns, the time-averaged map of a grid at 1°, accumulates into a dense array of
//! bins instead of DataFusion's hash table, and skips the `IS NOT NULL` filter under it.
//! Keys outside a dense block of `MAX_CELLS` bins (or NULL/NaN/huge) go to a hash map.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::buffer::NullBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{exec_datafusion_err, internal_err};
use datafusion::error::Result;
use datafusion::execution::memory_pool::MemoryConsumer;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::aggregate::AggregateFunctionExpr;
use datafusion::physical_expr::expressions::{CastExpr, Column, IsNotNullExpr, Literal};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, ScalarFunctionExpr};
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::EmissionType;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    ReplaceChildrenOptions,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::{Value, json};

use crate::cell_stack::{Stack, Stacks};
use crate::grid_scan::{DecodedUnit, GridScanExec, UnitVar};
use crate::grid_table::GridColumn;
use crate::stats_aggregate::{GroupStats, StateKind, plain_group_by, state_batch};
use crate::tile_stats::VarStats;

/// Bins in the dense block of one partition (a 1° global map has 64,800).
const MAX_CELLS: i64 = 1 << 20;

/// Physical optimizer rule: a `Partial` aggregate of count/sum/avg/min/max grouped by
/// `floor()` of one or two float columns becomes a [`BinAggregateExec`].
#[derive(Debug, Default)]
pub struct BinAggregate;

crate::node_rule!(BinAggregate, "bin_aggregate", rewrite);

/// What the node computes, in column indexes of its input.
#[derive(Clone, Debug, PartialEq)]
struct Binning {
    /// The columns whose floor() are the group keys.
    keys: Vec<usize>,
    /// Rows with NULL in this column are skipped (an absorbed `IS NOT NULL` filter).
    keep: Option<usize>,
    /// The columns the aggregates read; `StateKind` indexes into this.
    vars: Vec<usize>,
    kinds: Vec<StateKind>,
}

fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(agg) = node.downcast_ref::<AggregateExec>() else { return Ok(None) };
    if *agg.mode() != AggregateMode::Partial
        || agg.limit_options().is_some()
        || agg.filter_expr().iter().any(Option::is_some)
        || !plain_group_by(agg.group_expr())
        || !(1..=2).contains(&agg.group_expr().expr().len())
    {
        return Ok(None);
    }
    let input = agg.input().schema();
    let keys: Option<Vec<usize>> = agg.group_expr().expr().iter().map(|(e, _)| floor_of_float(e, &input)).collect();
    let Some(keys) = keys else { return Ok(None) };
    let (mut vars, mut kinds) = (Vec::new(), Vec::new());
    for a in agg.aggr_expr() {
        let Some(kind) = kind_of(a, &input, &mut vars)? else { return Ok(None) };
        kinds.push(kind);
    }
    let mut binning = Binning { keys, keep: None, vars, kinds };
    let mut child = Arc::clone(agg.input());
    if let Some((inner, keep, projection)) = not_null_filter(&child) {
        let map = |i: usize| projection.as_ref().map_or(Some(i), |p| p.get(i).copied());
        let remap = |v: &[usize]| v.iter().map(|&i| map(i)).collect::<Option<Vec<_>>>();
        if let (Some(keys), Some(vars)) = (remap(&binning.keys), remap(&binning.vars)) {
            binning = Binning { keys, keep: Some(keep), vars, kinds: binning.kinds };
            child = inner;
        }
    }
    let display = describe(agg);
    Ok(Some(Arc::new(BinAggregateExec::new(child, binning, agg.schema(), display))))
}

/// The column of `floor(col)` when `col` is a Float32/Float64 column.
fn floor_of_float(e: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<usize> {
    let f = e.downcast_ref::<ScalarFunctionExpr>().filter(|f| f.fun().name() == "floor")?;
    let [arg] = f.args() else { return None };
    let c = arg.downcast_ref::<Column>()?;
    matches!(schema.fields().get(c.index())?.data_type(), DataType::Float32 | DataType::Float64).then_some(c.index())
}

/// The column an aggregate reads: a column, or a widening numeric cast of one.
fn value_column(e: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<usize> {
    let c = match e.downcast_ref::<CastExpr>() {
        Some(cast) if cast.cast_type() == &DataType::Float64 => cast.expr().downcast_ref::<Column>()?,
        Some(_) => return None,
        None => e.downcast_ref::<Column>()?,
    };
    let t = schema.fields().get(c.index())?.data_type();
    (t.is_floating() || t.is_integer()).then_some(c.index())
}

/// How an aggregate's state is built from the bins, registering its column in `vars`.
pub(crate) fn kind_of(a: &AggregateFunctionExpr, schema: &Schema, vars: &mut Vec<usize>) -> Result<Option<StateKind>> {
    if a.is_distinct() || !a.order_bys().is_empty() {
        return Ok(None);
    }
    let state = a.state_fields()?;
    let types: Vec<&DataType> = state.iter().map(|f| f.data_type()).collect();
    let mut var = |e: &Arc<dyn PhysicalExpr>| -> Option<usize> {
        let column = value_column(e, schema)?;
        Some(vars.iter().position(|&v| v == column).unwrap_or_else(|| {
            vars.push(column);
            vars.len() - 1
        }))
    };
    let args = a.expressions();
    Ok(match (a.fun().name(), args.as_slice(), types.as_slice()) {
        ("count", [], [DataType::Int64]) => Some(StateKind::CountRows),
        ("count", [arg], [DataType::Int64]) => match arg.downcast_ref::<Literal>() {
            Some(l) if !l.value().is_null() => Some(StateKind::CountRows),
            Some(_) => None,
            None => var(arg).map(StateKind::Count),
        },
        ("sum", [arg], [DataType::Float64]) => var(arg).map(StateKind::Sum),
        ("avg", [arg], [DataType::UInt64, DataType::Float64]) => var(arg).map(StateKind::Avg),
        ("min", [arg], [t]) if t.is_floating() || t.is_integer() => var(arg).map(StateKind::Min),
        ("max", [arg], [t]) if t.is_floating() || t.is_integer() => var(arg).map(StateKind::Max),
        _ => None,
    })
}

/// A filter `col IS NOT NULL` (with the filter's projection), under a round-robin
/// repartition or not: the plan without it, the column in its input, the projection.
#[allow(clippy::type_complexity)]
pub(crate) fn not_null_filter(plan: &Arc<dyn ExecutionPlan>) -> Option<(Arc<dyn ExecutionPlan>, usize, Option<Vec<usize>>)> {
    if let Some(r) = plan.downcast_ref::<RepartitionExec>()
        && matches!(r.partitioning(), Partitioning::RoundRobinBatch(_))
    {
        let (inner, column, projection) = not_null_filter(r.input())?;
        let repartition = RepartitionExec::try_new(inner, r.partitioning().clone()).ok()?;
        return Some((Arc::new(repartition), column, projection));
    }
    let filter = plan.downcast_ref::<FilterExec>()?;
    let column = filter.predicate().downcast_ref::<IsNotNullExpr>()?.arg().downcast_ref::<Column>()?.index();
    Some((Arc::clone(filter.input()), column, filter.projection().as_ref().map(|p| p.to_vec())))
}

pub(crate) fn describe(agg: &AggregateExec) -> String {
    let keys: Vec<String> = agg.group_expr().expr().iter().map(|(e, _)| e.to_string()).collect();
    let aggs: Vec<String> = agg.aggr_expr().iter().map(|a| a.name().to_string()).collect();
    format!("gby=[{}], aggr=[{}]", keys.join(", "), aggs.join(", "))
}

/// The partial aggregate of [`BinAggregate`]: the same output as the `AggregateExec` it
/// replaces, one batch per partition at the end.
#[derive(Debug)]
pub struct BinAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    binning: Binning,
    schema: SchemaRef,
    display: String,
    metrics: ExecutionPlanMetricsSet,
    cache: Arc<PlanProperties>,
}

impl BinAggregateExec {
    fn new(input: Arc<dyn ExecutionPlan>, binning: Binning, schema: SchemaRef, display: String) -> Self {
        let cache = partial_properties(&input, &schema);
        BinAggregateExec { input, binning, schema, display, metrics: ExecutionPlanMetricsSet::new(), cache }
    }

    /// What a worker needs besides the input: the binning, and the output schema (Arrow IPC).
    pub fn encode(&self) -> Result<(Value, Vec<u8>)> {
        let b = &self.binning;
        let kinds: Vec<Value> = b.kinds.iter().map(|k| json!(kind_to_json(*k))).collect();
        let desc = json!({"keys": b.keys, "keep": b.keep, "vars": b.vars, "kinds": kinds, "display": self.display});
        let empty = RecordBatch::new_empty(self.schema.clone());
        Ok((desc, crate::distributed::write_batch(Some(&empty))?))
    }

    /// The node [`BinAggregateExec::encode`] described, over `input`.
    pub fn decode(input: Arc<dyn ExecutionPlan>, desc: &Value, schema: &[u8]) -> Result<Arc<dyn ExecutionPlan>> {
        use crate::distributed::usizes;
        let bad = || exec_datafusion_err!("OceanQL codec: bad BinAggregateExec");
        let kinds = desc["kinds"].as_array().ok_or_else(bad)?.iter().map(|k| kind_from_json(k).ok_or_else(bad)).collect::<Result<_>>()?;
        let keep = desc["keep"].as_u64().map(|k| k as usize);
        let binning = Binning { keys: usizes(&desc["keys"])?, keep, vars: usizes(&desc["vars"])?, kinds };
        let schema = crate::distributed::read_batch(schema)?.ok_or_else(bad)?.schema();
        let display = desc["display"].as_str().unwrap_or_default().to_string();
        Ok(Arc::new(BinAggregateExec::new(input, binning, schema, display)))
    }
}

/// The properties of a partial aggregate that emits one batch per partition of `input`, at the end.
pub(crate) fn partial_properties(input: &Arc<dyn ExecutionPlan>, schema: &SchemaRef) -> Arc<PlanProperties> {
    let p = input.properties();
    Arc::new(PlanProperties::new(
        EquivalenceProperties::new(schema.clone()),
        Partitioning::UnknownPartitioning(p.partitioning.partition_count()),
        EmissionType::Final,
        p.boundedness,
    ))
}

fn kind_to_json(k: StateKind) -> (&'static str, usize) {
    match k {
        StateKind::CountRows => ("rows", 0),
        StateKind::Count(i) => ("count", i),
        StateKind::Sum(i) => ("sum", i),
        StateKind::Avg(i) => ("avg", i),
        StateKind::Min(i) => ("min", i),
        StateKind::Max(i) => ("max", i),
    }
}

fn kind_from_json(v: &Value) -> Option<StateKind> {
    let i = v[1].as_u64()? as usize;
    Some(match v[0].as_str()? {
        "rows" => StateKind::CountRows,
        "count" => StateKind::Count(i),
        "sum" => StateKind::Sum(i),
        "avg" => StateKind::Avg(i),
        "min" => StateKind::Min(i),
        "max" => StateKind::Max(i),
        _ => return None,
    })
}

impl DisplayAs for BinAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let skip = if self.binning.keep.is_some() { ", rows with NULL skipped" } else { "" };
        let inside = if self.in_scan().is_some() { ", inside the grid scan" } else { "" };
        write!(f, "BinAggregateExec: mode=Partial, {}, dense bins{skip}{inside}", self.display)
    }
}

impl ExecutionPlan for BinAggregateExec {
    fn name(&self) -> &'static str {
        "BinAggregateExec"
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
            return internal_err!("BinAggregateExec takes one child, got {}", children.len());
        }
        let node = BinAggregateExec::new(children.swap_remove(0), self.binning.clone(), self.schema.clone(), self.display.clone());
        Ok(Arc::new(node))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let reservation = MemoryConsumer::new(format!("BinAggregateExec[{partition}]")).register(context.memory_pool());
        let input = match self.in_scan() {
            // Under a round-robin repartition, the scan's partitions are the first ones.
            Some((scan, on)) if partition >= scan.properties().partitioning.partition_count() => {
                Input::Decoded(futures::stream::empty().boxed(), on)
            }
            Some((scan, on)) => {
                // One variable, no min/max: sums can be taken from the raw values (Stacks::add_raw).
                let raw = on.vars.len() == 1 && !self.binning.kinds.iter().any(|k| matches!(k, StateKind::Min(_) | StateKind::Max(_)));
                Input::Decoded(scan.execute_decoded(partition, context, &on.columns, raw)?, on)
            }
            None => Input::Batches(self.input.execute(partition, context)?),
        };
        let (binning, schema) = (self.binning.clone(), self.schema.clone());
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let spilled = MetricBuilder::new(&self.metrics).counter("rows_outside_dense_bins", partition);
        let out = futures::stream::once(async move {
            let minmax = binning.kinds.iter().any(|k| matches!(k, StateKind::Min(_) | StateKind::Max(_)));
            let mut bins = Bins::new(binning.keys.len(), binning.vars.len(), minmax);
            let mut scratch = Scratch::default();
            match input {
                Input::Batches(mut batches) => {
                    while let Some(batch) = batches.next().await {
                        let batch = batch?;
                        let _timer = baseline.elapsed_compute().timer();
                        spilled.add(bins.add(&batch, &binning, &mut scratch)?);
                        reservation.try_resize(bins.memory())?;
                    }
                }
                Input::Decoded(mut units, on) => {
                    let mut stacks = Stacks::new(binning.vars.len(), minmax);
                    while let Some(unit) = units.next().await {
                        let unit = unit?;
                        let _timer = baseline.elapsed_compute().timer();
                        if Bins::stack(&unit, &on, &mut stacks)? {
                            spilled.add(bins.bin_stacks(&mut stacks, &on, &mut scratch));
                        }
                        reservation.try_resize(bins.memory() + stacks.memory())?;
                    }
                    let _timer = baseline.elapsed_compute().timer();
                    spilled.add(bins.bin_stacks(&mut stacks, &on, &mut scratch));
                    reservation.try_resize(bins.memory())?;
                }
            }
            let _timer = baseline.elapsed_compute().timer();
            let out = state_batch(&schema, &binning.kinds, &bins.groups())?.unwrap_or_else(|| RecordBatch::new_empty(schema.clone()));
            baseline.record_output(out.num_rows());
            Ok(out)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), out)))
    }
}

/// What the node reads: its input's batches, or the units its grid scan input decodes.
enum Input {
    Batches(SendableRecordBatchStream),
    Decoded(BoxStream<'static, Result<DecodedUnit>>, InScan),
}

/// Binning inside a grid scan: the keys are floor() of grid axes, the values variables, so
/// the scan hands over decoded variables and the slabs' axes, and no coordinate column is
/// built. Indexes into the scan's decoded arrays (`columns`, output columns of the scan).
#[derive(Clone, Debug)]
struct InScan {
    /// The canonical axis (1 depth, 2 lat, 3 lon) of each key.
    key_axes: Vec<usize>,
    keep: Option<usize>,
    vars: Vec<usize>,
    columns: Vec<usize>,
}

impl BinAggregateExec {
    /// The grid scan under this node and how to bin inside it, when the keys are axes and
    /// the values variables of a scan that reads every unit whole (directly under this
    /// node, or under a round-robin repartition, which binning in the scan makes needless).
    fn in_scan(&self) -> Option<(&GridScanExec, InScan)> {
        let input = match self.input.downcast_ref::<RepartitionExec>() {
            Some(r) if matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)) => r.input(),
            _ => &self.input,
        };
        let parts = |p: &dyn ExecutionPlan| p.properties().partitioning.partition_count();
        let scan = input.downcast_ref::<GridScanExec>().filter(|s| s.reads_all_units() && parts(*s) <= parts(self.input.as_ref()))?;
        let b = &self.binning;
        let axis = |i: usize| match scan.output_column(i)? {
            GridColumn::Depth => Some(1),
            GridColumn::Lat => Some(2),
            GridColumn::Lon => Some(3),
            _ => None,
        };
        let key_axes = b.keys.iter().map(|&k| axis(k)).collect::<Option<Vec<_>>>()?;
        let mut columns = Vec::new();
        let mut position = |i: usize| -> Option<usize> {
            matches!(scan.output_column(i)?, GridColumn::Var(_)).then_some(())?;
            Some(columns.iter().position(|&c| c == i).unwrap_or_else(|| {
                columns.push(i);
                columns.len() - 1
            }))
        };
        let vars = b.vars.iter().map(|&v| position(v)).collect::<Option<Vec<_>>>()?;
        let keep = match b.keep {
            None => None,
            // Coordinates of a grid axis are never NULL.
            Some(k) if axis(k).is_some() => None,
            Some(k) => Some(position(k)?),
        };
        Some((scan, InScan { key_axes, keep, vars, columns }))
    }
}

/// A group key part: the bits of a floor() value, `None` for NULL.
type KeyPart = Option<u64>;

/// The accumulators of one partition: a dense block of bins (one array per statistic), and
/// a map for other keys. With one key the second dimension is a single bin (key part 0).
struct Bins {
    nkeys: usize,
    /// First key and number of bins per key dimension.
    lo: [i64; 2],
    len: [i64; 2],
    rows: Vec<u64>,
    /// Per variable, per bin (min and max only when asked).
    count: Vec<Vec<u64>>,
    sum: Vec<Vec<f64>>,
    min: Vec<Vec<f64>>,
    max: Vec<Vec<f64>>,
    other: HashMap<[KeyPart; 2], GroupStats>,
}

/// Marks a row whose bin is not in the dense block.
const NO_CELL: u32 = u32::MAX;

/// Row buffers reused from batch to batch (fresh ones cost page faults).
#[derive(Default)]
struct Scratch {
    /// The dense bin of each row.
    cells: Vec<u32>,
    /// The rows to add (those `keep` has as valid).
    rows: Vec<u32>,
}

impl Scratch {
    fn select(&mut self, keep: Option<&NullBuffer>, n: usize) {
        self.rows.clear();
        match keep {
            Some(nulls) => self.rows.extend(nulls.valid_indices().map(|r| r as u32)),
            None => self.rows.extend(0..n as u32),
        }
    }
}

/// A column as Float64 values.
pub(crate) fn f64s(column: &ArrayRef) -> Result<Float64Array> {
    Ok(cast(column, &DataType::Float64)?.as_primitive::<Float64Type>().clone())
}

/// floor() as an integer, without libm (callers check that |x| < 1e15).
fn floor_int(x: f64) -> i64 {
    let t = x as i64; // toward zero: one less below zero unless exact
    t - i64::from((t as f64) > x)
}

/// The dense bin of the keys floor(x), floor(y).
fn cell_of(x: f64, y: f64, lo: [i64; 2], len: [i64; 2]) -> u32 {
    let (i, j) = (floor_int(x).wrapping_sub(lo[0]), floor_int(y).wrapping_sub(lo[1]));
    let inside = x.abs() < 1e15 && y.abs() < 1e15 && (i as u64) < len[0] as u64 && (j as u64) < len[1] as u64;
    if inside { (i * len[1] + j) as u32 } else { NO_CELL }
}

impl Bins {
    fn new(nkeys: usize, nvars: usize, minmax: bool) -> Self {
        let per_var = |kept: bool| -> Vec<Vec<f64>> { vec![Vec::new(); if kept { nvars } else { 0 }] };
        Bins {
            nkeys,
            lo: [0, 0],
            len: [0, 0],
            rows: Vec::new(),
            count: vec![Vec::new(); nvars],
            sum: per_var(true),
            min: per_var(minmax),
            max: per_var(minmax),
            other: HashMap::new(),
        }
    }

    /// Adds a batch; returns the rows that went to the map. `scratch` is reused across batches.
    fn add(&mut self, batch: &RecordBatch, b: &Binning, scratch: &mut Scratch) -> Result<usize> {
        let keys: Vec<Float64Array> = b.keys.iter().map(|&k| f64s(batch.column(k))).collect::<Result<_>>()?;
        let vars: Vec<Float64Array> = b.vars.iter().map(|&v| f64s(batch.column(v))).collect::<Result<_>>()?;
        // Once the block holds the keys (after the first batches), one pass finds every bin.
        if self.fill_cells(&keys, &mut scratch.cells) > 0 {
            let bounds: Vec<(i64, i64)> = (0..2).map(|d| keys.get(d).map_or((0, 0), key_bounds)).collect();
            if self.grow(&bounds) {
                self.fill_cells(&keys, &mut scratch.cells);
            }
        }
        let keep = b.keep.and_then(|k| batch.column(k).logical_nulls());
        let outside = self.accumulate(scratch, keep.as_ref(), &vars);
        for &row in &outside {
            let part = |d: usize| -> KeyPart { keys.get(d).map_or(Some(0), |k| k.is_valid(row).then(|| k.value(row).floor().to_bits())) };
            self.add_outside([part(0), part(1)], &vars, row);
        }
        Ok(outside.len())
    }

    /// Adds a unit the grid scan decoded to the stack of its slab (`on.keep` and `on.vars`
    /// index its arrays); whether the stacks should be binned now.
    fn stack(unit: &DecodedUnit, on: &InScan, stacks: &mut Stacks) -> Result<bool> {
        if let [v] = on.vars[..]
            && let Some(UnitVar::Raw(raw, packing)) = unit.vars.get(v)
            && on.keep.is_none_or(|k| k == v)
            && let Some(full) = stacks.add_raw(unit, raw, packing, on.keep.is_some())
        {
            return Ok(full);
        }
        let vars: Vec<Float64Array> = on.vars.iter().map(|&v| f64s(&unit.vars[v].array())).collect::<Result<_>>()?;
        let keep = on.keep.and_then(|k| unit.vars[k].array().logical_nulls());
        Ok(stacks.add(unit, keep.as_ref(), &vars))
    }

    /// Bins the stacks (leaving none): the keys are floor() of their axes `on.key_axes`
    /// (canonical numbers, depth to lon). Returns the cells that went to the map.
    fn bin_stacks(&mut self, stacks: &mut Stacks, on: &InScan, scratch: &mut Scratch) -> usize {
        let mut outside = 0;
        for stack in stacks.take() {
            self.slab_cells(&stack.axes, &on.key_axes, &mut scratch.cells);
            outside += self.merge_stack(&stack, &scratch.cells, &on.key_axes);
        }
        outside
    }

    /// The bin of each cell of a slab (depth, lat, lon values) in `cells`, `NO_CELL` where
    /// it has none in the block (grown to the slab's keys when it can be).
    fn slab_cells(&mut self, axes: &[Vec<f64>; 3], key_axes: &[usize], cells: &mut Vec<u32>) {
        let floors: Vec<Vec<Option<i64>>> =
            key_axes.iter().map(|&a| axes[a - 1].iter().map(|&x| (x.abs() < 1e15).then(|| floor_int(x))).collect()).collect();
        let bounds: Vec<(i64, i64)> = (0..2)
            .map(|d| floors.get(d).map_or((0, 0), |f| f.iter().flatten().fold((i64::MAX, i64::MIN), |(lo, hi), &k| (lo.min(k), hi.max(k)))))
            .collect();
        self.grow(&bounds);
        // Each axis index adds its part to the cell number; a key outside the block adds OFF.
        const OFF: u64 = 1 << 40;
        let mut part: [Vec<u64>; 3] = std::array::from_fn(|a| vec![0; axes[a].len()]);
        let stride = [self.len[1], 1];
        for (d, &a) in key_axes.iter().enumerate() {
            for (p, f) in part[a - 1].iter_mut().zip(&floors[d]) {
                let offset = f.map(|k| k.wrapping_sub(self.lo[d])).filter(|&o| (o as u64) < self.len[d] as u64);
                *p += offset.map_or(OFF, |o| (o * stride[d]) as u64);
            }
        }
        cells.clear();
        for d in &part[0] {
            for y in &part[1] {
                let base = d + y;
                cells.extend(part[2].iter().map(|x| u32::try_from(base + x).unwrap_or(NO_CELL)));
            }
        }
    }

    /// Adds a stack's cells to their bins `cells`; returns the cells that went to the map.
    fn merge_stack(&mut self, stack: &Stack, cells: &[u32], key_axes: &[usize]) -> usize {
        let minmax = !self.min.is_empty();
        let mut outside = 0;
        for (k, (&cell, &rows)) in cells.iter().zip(&stack.rows).enumerate().filter(|(_, (_, r))| **r > 0) {
            let var = |v: usize| {
                let s = &stack.vars[v];
                let (min, max) = if minmax { (s.min[k], s.max[k]) } else { (f64::NAN, f64::NAN) };
                VarStats { count: u64::from(s.count[k]), sum: s.sum[k], min, max }
            };
            if cell == NO_CELL {
                let n = stack.axes.each_ref().map(Vec::len);
                let at = [k / (n[1] * n[2]), k / n[2] % n[1], k % n[2]];
                let part = |d: usize| -> KeyPart { key_axes.get(d).map_or(Some(0), |&a| Some(stack.axes[a - 1][at[a - 1]].floor().to_bits())) };
                let g = self.other.entry([part(0), part(1)]).or_insert_with(|| GroupStats::new(stack.vars.len()));
                g.rows += u64::from(rows);
                g.vars.iter_mut().enumerate().for_each(|(v, s)| merge(s, &var(v), minmax));
                outside += 1;
                continue;
            }
            let cell = cell as usize;
            self.rows[cell] += u64::from(rows);
            for v in 0..stack.vars.len() {
                let s = var(v);
                if minmax && s.count > 0 {
                    let first = self.count[v][cell] == 0;
                    min_max(&mut self.min[v][cell], &mut self.max[v][cell], s.min, first);
                    min_max(&mut self.min[v][cell], &mut self.max[v][cell], s.max, false);
                }
                self.count[v][cell] += s.count;
                self.sum[v][cell] += s.sum;
            }
        }
        outside
    }

    /// Adds the rows (those `keep` has as valid) to the bins `scratch.cells` gives them;
    /// returns the rows that have no bin in the block.
    fn accumulate(&mut self, scratch: &mut Scratch, keep: Option<&NullBuffer>, vars: &[Float64Array]) -> Vec<usize> {
        if self.min.is_empty() && !scratch.cells.contains(&NO_CELL) {
            self.accumulate_dense(&scratch.cells, keep, vars);
            return Vec::new();
        }
        scratch.select(keep, scratch.cells.len());
        let (cells, rows) = (&scratch.cells, &scratch.rows);
        let mut outside = Vec::new();
        for &row in rows {
            match cells[row as usize] {
                NO_CELL => outside.push(row as usize),
                cell => self.rows[cell as usize] += 1,
            }
        }
        for (v, values) in vars.iter().enumerate() {
            let (xs, nulls) = (values.values(), values.nulls().filter(|n| n.null_count() > 0));
            let (count, sum) = (&mut self.count[v], &mut self.sum[v]);
            let (mut min, mut max) = (self.min.get_mut(v), self.max.get_mut(v));
            for &row in rows {
                let (row, cell) = (row as usize, cells[row as usize] as usize);
                if cell == NO_CELL as usize || nulls.is_some_and(|n| n.is_null(row)) {
                    continue;
                }
                let x = xs[row];
                count[cell] += 1;
                sum[cell] += x;
                if let (Some(min), Some(max)) = (min.as_deref_mut(), max.as_deref_mut()) {
                    min_max(&mut min[cell], &mut max[cell], x, count[cell] == 1);
                }
            }
        }
        outside
    }

    /// [`Bins::accumulate`] when every row has a bin and no min/max is kept: one pass per
    /// statistic over all rows, without branches (a NULL adds 0 and counts 0).
    fn accumulate_dense(&mut self, cells: &[u32], keep: Option<&NullBuffer>, vars: &[Float64Array]) {
        let valid = |nulls: Option<&NullBuffer>, k: usize| nulls.is_none_or(|n| n.is_valid(k));
        let keep = keep.filter(|n| n.null_count() > 0);
        for (k, &cell) in cells.iter().enumerate() {
            self.rows[cell as usize] += u64::from(valid(keep, k));
        }
        for (v, values) in vars.iter().enumerate() {
            let nulls = NullBuffer::union(keep, values.nulls());
            let nulls = nulls.as_ref().filter(|n| n.null_count() > 0);
            let (count, sum) = (&mut self.count[v], &mut self.sum[v]);
            for (k, (&cell, &x)) in cells.iter().zip(values.values().iter()).enumerate() {
                let ok = valid(nulls, k);
                count[cell as usize] += u64::from(ok);
                sum[cell as usize] += if ok { x } else { 0.0 };
            }
        }
    }

    /// The dense bin of each row of `keys`, `NO_CELL` where it has none; returns how many
    /// rows have none.
    fn fill_cells(&self, keys: &[Float64Array], cells: &mut Vec<u32>) -> usize {
        let (lo, len) = (self.lo, self.len);
        cells.clear();
        match keys {
            [a] => cells.extend(a.values().iter().map(|&x| cell_of(x, 0.0, lo, len))),
            [a, b] => cells.extend(a.values().iter().zip(b.values().iter()).map(|(&x, &y)| cell_of(x, y, lo, len))),
            _ => {}
        }
        for nulls in keys.iter().filter_map(|k| k.nulls()).filter(|n| n.null_count() > 0) {
            for row in (0..cells.len()).filter(|&r| nulls.is_null(r)) {
                cells[row] = NO_CELL;
            }
        }
        cells.iter().filter(|&&c| c == NO_CELL).count()
    }

    /// A row whose bin is not in the dense block.
    fn add_outside(&mut self, key: [KeyPart; 2], vars: &[Float64Array], row: usize) {
        let g = self.other.entry(key).or_insert_with(|| GroupStats::new(vars.len()));
        g.rows += 1;
        for (s, values) in g.vars.iter_mut().zip(vars) {
            if values.is_valid(row) {
                push(s, values.value(row));
            }
        }
    }

    /// Widens the dense block to the keys of a batch (their bounds per dimension), unless it
    /// would pass `MAX_CELLS`; whether it did. Bounds may come from NULL rows (harmless: a larger block).
    fn grow(&mut self, batch: &[(i64, i64)]) -> bool {
        let mut bounds = [[0i64; 2]; 2];
        for (d, &(lo, hi)) in batch.iter().enumerate() {
            if lo > hi {
                return false; // no key of the batch fits
            }
            bounds[d] = if self.rows.is_empty() { [lo, hi] } else { [lo.min(self.lo[d]), hi.max(self.lo[d] + self.len[d] - 1)] };
        }
        let lo = [bounds[0][0], bounds[1][0]];
        let len = [bounds[0][1] - lo[0] + 1, bounds[1][1] - lo[1] + 1];
        if (lo == self.lo && len == self.len) || len[0].saturating_mul(len[1]) > MAX_CELLS {
            return false;
        }
        self.relayout(lo, len);
        true
    }

    fn relayout(&mut self, lo: [i64; 2], len: [i64; 2]) {
        let cells = (len[0] * len[1]) as usize;
        let moved: Vec<(usize, usize)> = (0..self.rows.len())
            .filter(|&old| self.rows[old] > 0)
            .map(|old| {
                let (i, j) = (old as i64 / self.len[1] + self.lo[0] - lo[0], old as i64 % self.len[1] + self.lo[1] - lo[1]);
                (old, (i * len[1] + j) as usize)
            })
            .collect();
        fn move_to<T: Copy>(v: &mut Vec<T>, cells: usize, fill: T, moved: &[(usize, usize)]) {
            let mut new = vec![fill; cells];
            for &(old, at) in moved {
                new[at] = v[old];
            }
            *v = new;
        }
        move_to(&mut self.rows, cells, 0, &moved);
        self.count.iter_mut().for_each(|v| move_to(v, cells, 0, &moved));
        self.sum.iter_mut().for_each(|v| move_to(v, cells, 0.0, &moved));
        self.min.iter_mut().chain(self.max.iter_mut()).for_each(|v| move_to(v, cells, f64::NAN, &moved));
        (self.lo, self.len) = (lo, len);
    }

    /// Bytes held: the dense block's arrays and the map's groups (about), which the node
    /// reserves from the session's memory pool (`oceanql serve --memory-limit`).
    fn memory(&self) -> usize {
        let floats: usize = self.sum.iter().chain(&self.min).chain(&self.max).map(Vec::len).sum();
        let block = self.rows.len() + self.count.iter().map(Vec::len).sum::<usize>() + floats;
        let group = std::mem::size_of::<([KeyPart; 2], GroupStats)>() + self.count.len() * std::mem::size_of::<VarStats>();
        block * 8 + self.other.capacity() * group
    }

    /// Every bin with rows: its keys (floor values), its statistics.
    fn groups(&self) -> Vec<(Vec<ScalarValue>, GroupStats)> {
        let mut out = Vec::new();
        for (cell, &rows) in self.rows.iter().enumerate().filter(|(_, r)| **r > 0) {
            let keys = [cell as i64 / self.len[1] + self.lo[0], cell as i64 % self.len[1] + self.lo[1]];
            let keys = keys[..self.nkeys].iter().map(|&k| ScalarValue::Float64(Some(k as f64))).collect();
            let var = |v: usize| VarStats {
                count: self.count[v][cell],
                sum: self.sum[v][cell],
                min: self.min.get(v).map_or(f64::NAN, |m| m[cell]),
                max: self.max.get(v).map_or(f64::NAN, |m| m[cell]),
            };
            out.push((keys, GroupStats { rows, vars: (0..self.count.len()).map(var).collect() }));
        }
        for (k, g) in &self.other {
            let keys = k[..self.nkeys].iter().map(|p| ScalarValue::Float64(p.map(f64::from_bits))).collect();
            out.push((keys, g.clone()));
        }
        out
    }
}

/// The smallest and largest floor() of the valid values under 1e15 in magnitude
/// (`i64::MAX, i64::MIN` when there is none).
fn key_bounds(values: &Float64Array) -> (i64, i64) {
    let fits = |x: &f64| x.abs() < 1e15;
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    if values.null_count() == 0 {
        for &x in values.values().iter() {
            (lo, hi) = (lo.min(x), hi.max(x));
        }
    }
    if values.null_count() > 0 || !fits(&lo) || !fits(&hi) {
        (lo, hi) = values.iter().flatten().filter(fits).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
    }
    if lo > hi { (i64::MAX, i64::MIN) } else { (floor_int(lo), floor_int(hi)) }
}

/// Updates a bin's min and max with `x` in DataFusion's float order (NaN above numbers).
pub(crate) fn min_max(min: &mut f64, max: &mut f64, x: f64, first: bool) {
    if first {
        (*min, *max) = (x, x);
        return;
    }
    if x.total_cmp(min).is_lt() {
        *min = x;
    }
    if x.total_cmp(max).is_gt() {
        *max = x;
    }
}

/// Adds the statistics `o` of some values to a map group's (min and max when `minmax`).
fn merge(s: &mut VarStats, o: &VarStats, minmax: bool) {
    if o.count == 0 {
        return;
    }
    if minmax {
        let first = s.count == 0;
        min_max(&mut s.min, &mut s.max, o.min, first);
        min_max(&mut s.min, &mut s.max, o.max, false);
    }
    s.count += o.count;
    s.sum += o.sum;
}

/// Adds a value to a map group's statistics.
pub(crate) fn push(s: &mut VarStats, x: f64) {
    s.count += 1;
    let first = s.count == 1;
    min_max(&mut s.min, &mut s.max, x, first);
    s.sum += x;
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::Field;

    fn batch(x: &[f64], v: &[f64]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, true), Field::new("v", DataType::Float64, true)]));
        let columns: Vec<Arc<dyn Array>> = vec![Arc::new(Float64Array::from(x.to_vec())), Arc::new(Float64Array::from(v.to_vec()))];
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[test]
    fn bins_keep_their_sums_when_the_block_grows_and_far_keys_go_to_the_map() {
        let b = Binning { keys: vec![0], keep: None, vars: vec![1], kinds: vec![StateKind::Sum(0)] };
        let (mut bins, mut scratch) = (Bins::new(1, 1, false), Scratch::default());
        assert_eq!(bins.add(&batch(&[0.5, 1.5, 0.2], &[1.0, 2.0, 4.0]), &b, &mut scratch).unwrap(), 0);
        assert_eq!(bins.add(&batch(&[3.2, -0.7], &[8.0, 32.0]), &b, &mut scratch).unwrap(), 0); // grows to -1..3
        assert_eq!(bins.add(&batch(&[5e6, 0.9], &[16.0, 64.0]), &b, &mut scratch).unwrap(), 1); // 5e6: too far
        let mut groups: Vec<(f64, u64, f64)> = bins
            .groups()
            .iter()
            .map(|(k, g)| match k[0] {
                ScalarValue::Float64(Some(k)) => (k, g.rows, g.vars[0].sum),
                _ => panic!("key {k:?}"),
            })
            .collect();
        groups.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(groups, vec![(-1.0, 1, 32.0), (0.0, 3, 69.0), (1.0, 1, 2.0), (3.0, 1, 8.0), (5e6, 1, 16.0)]);
    }

    #[test]
    fn units_of_a_grid_scan_bin_by_their_axes_and_odd_coordinates_go_to_the_map() {
        // lat 0.5, NaN, 2e15 (outside the block: too large) x lon -0.5, 0.5; v = 1..6; v NULL at 2.
        let v = Float64Array::from(vec![Some(1.0), None, Some(3.0), Some(4.0), Some(5.0), Some(6.0)]);
        let unit = DecodedUnit { axes: [vec![f64::NAN], vec![f64::NAN], vec![0.5, f64::NAN, 2e15], vec![-0.5, 0.5]], vars: vec![UnitVar::Array(Arc::new(v))], times: None };
        let on = InScan { key_axes: vec![2, 3], keep: None, vars: vec![0], columns: vec![7] };
        let (mut bins, mut scratch) = (Bins::new(2, 1, false), Scratch::default());
        let mut stacks = Stacks::new(1, false);
        assert!(!Bins::stack(&unit, &on, &mut stacks).unwrap());
        assert_eq!(bins.bin_stacks(&mut stacks, &on, &mut scratch), 4);
        let on_keep = InScan { keep: Some(0), ..on };
        assert!(!Bins::stack(&unit, &on_keep, &mut stacks).unwrap());
        assert_eq!(bins.bin_stacks(&mut stacks, &on_keep, &mut scratch), 4);
        let key = |k: &ScalarValue| match k {
            ScalarValue::Float64(Some(x)) => *x,
            other => panic!("key {other:?}"),
        };
        let mut groups: Vec<(f64, f64, u64, u64, f64)> =
            bins.groups().iter().map(|(k, g)| (key(&k[0]), key(&k[1]), g.rows, g.vars[0].count, g.vars[0].sum)).collect();
        groups.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        // Each unit twice: rows 2 + 2 (NULL v kept) / 2 + 1 (skipped with `keep`), sums doubled.
        let want = [(0.0, -1.0, 2, 2, 2.0), (0.0, 0.0, 1, 0, 0.0), (2e15, -1.0, 2, 2, 10.0), (2e15, 0.0, 2, 2, 12.0)];
        assert_eq!(groups[..4], want[..]);
        assert!(groups[4].0.is_nan() && groups[5].0.is_nan());
        assert_eq!((groups[4].2 + groups[5].2, groups[4].4 + groups[5].4), (4, 14.0));
    }

    #[test]
    fn time_steps_of_a_slab_stack_cell_by_cell_before_binning() {
        // Two units of the same slab (lat 0.5, 1.5 x lon 0.25, 0.75), the first with two time
        // steps; v NULL at one cell. Bins: (0, 0) and (1, 0), 1° wide.
        let axes = |nt: usize| [vec![f64::NAN; nt], vec![f64::NAN], vec![0.5, 1.5], vec![0.25, 0.75]];
        let a = Float64Array::from(vec![Some(1.0), Some(2.0), Some(3.0), Some(4.0), Some(-5.0), None, Some(7.0), Some(8.0)]);
        let b = Float64Array::from(vec![Some(10.0), Some(20.0), Some(30.0), Some(40.0)]);
        let on = InScan { key_axes: vec![2, 3], keep: None, vars: vec![0], columns: vec![3] };
        let (mut bins, mut scratch, mut stacks) = (Bins::new(2, 1, true), Scratch::default(), Stacks::new(1, true));
        for (nt, v) in [(2, a), (1, b)] {
            let unit = DecodedUnit { axes: axes(nt), vars: vec![UnitVar::Array(Arc::new(v))], times: None };
            assert!(!Bins::stack(&unit, &on, &mut stacks).unwrap());
        }
        assert_eq!(stacks.memory(), 4 * (4 + 4) + 4 * 3 * 8); // one stack of 4 cells
        assert_eq!(bins.bin_stacks(&mut stacks, &on, &mut scratch), 0);
        assert_eq!(stacks.memory(), 0);
        let mut groups: Vec<(Vec<ScalarValue>, u64, VarStats)> = bins.groups().into_iter().map(|(k, g)| (k, g.rows, g.vars[0])).collect();
        groups.sort_by(|x, y| x.0.partial_cmp(&y.0).unwrap());
        let f = |x: f64| ScalarValue::Float64(Some(x));
        // (0, 0): 1, 2, -5, 10, 20 (NULL skipped, its row kept); (1, 0): 3, 4, 7, 8, 30, 40.
        let want = vec![
            (vec![f(0.0), f(0.0)], 6, VarStats { count: 5, min: -5.0, max: 20.0, sum: 28.0 }),
            (vec![f(1.0), f(0.0)], 6, VarStats { count: 6, min: 3.0, max: 40.0, sum: 92.0 }),
        ];
        assert_eq!(groups, want);
    }

    #[tokio::test]
    async fn bins_are_reserved_from_the_memory_pool_and_a_small_pool_stops_the_query() {
        use datafusion::execution::memory_pool::GreedyMemoryPool;
        use datafusion::execution::runtime_env::RuntimeEnvBuilder;
        use datafusion::physical_plan::test::TestMemoryExec;
        // Keys 0 and 500,000: a dense block of 500,001 bins (3 arrays of 8 bytes: 12 MB).
        let input = batch(&[0.5, 500_000.5], &[1.0, 2.0]);
        let run = |limit: usize| {
            let input = input.clone();
            async move {
                let memory = TestMemoryExec::try_new_exec(&[vec![input.clone()]], input.schema(), None).unwrap();
                let b = Binning { keys: vec![0], keep: None, vars: vec![1], kinds: vec![StateKind::Sum(0)] };
                let out = Arc::new(Schema::new(vec![
                    datafusion::arrow::datatypes::Field::new("k", DataType::Float64, true),
                    datafusion::arrow::datatypes::Field::new("s", DataType::Float64, true),
                ]));
                let node = BinAggregateExec::new(memory, b, out, String::new());
                let runtime = RuntimeEnvBuilder::new().with_memory_pool(Arc::new(GreedyMemoryPool::new(limit))).build_arc().unwrap();
                let ctx = Arc::new(TaskContext::default().with_runtime(runtime));
                datafusion::physical_plan::common::collect(node.execute(0, ctx).unwrap()).await
            }
        };
        let err = run(1 << 20).await.unwrap_err().to_string();
        assert!(err.contains("BinAggregateExec[0]") && err.contains("Resources exhausted"), "{err}");
        let rows: usize = run(64 << 20).await.unwrap().iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 2);
    }

    #[test]
    fn floor_without_libm_matches_floor() {
        for x in [-2.7, -1.0, -0.5, -0.0, 0.0, 0.3, 2.0, 2.7, 1e14 + 0.5, -1e14 - 0.5, 179.99999999999997] {
            assert_eq!(floor_int(x) as f64, x.floor(), "{x}");
        }
        assert_eq!(cell_of(f64::NAN, 0.0, [0, 0], [4, 4]), NO_CELL);
        assert_eq!(cell_of(-0.5, 0.5, [-1, 0], [2, 1]), 0);
        assert_eq!(cell_of(1.5, 0.5, [-1, 0], [2, 1]), NO_CELL);
    }

    #[test]
    fn min_and_max_order_nan_above_numbers_as_datafusion_does() {
        let mut s = VarStats::EMPTY;
        for x in [2.0, f64::NAN, -1.0] {
            push(&mut s, x);
        }
        assert_eq!((s.count, s.min), (3, -1.0));
        assert!(s.max.is_nan());
    }
}
