//! The series of a box: a partial aggregate grouped by a grid's `time` column alone (count,
//! sum, avg, min, max of its variables) over a grid scan that reads every unit whole takes
//! each time step of each unit the scan decodes as one group. The scan builds no time or
//! coordinate column, and DataFusion's hash table sees one row per step and partition
//! instead of one per cell.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, RecordBatch};
use datafusion::arrow::compute::sum;
use datafusion::common::ScalarValue;
use datafusion::common::internal_err;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
    ReplaceChildrenOptions,
};
use datafusion::arrow::datatypes::SchemaRef;
use futures::StreamExt;

use crate::bin_aggregate::{describe, f64s, kind_of, not_null_filter, partial_properties, push};
use crate::grid_scan::{DecodedUnit, GridScanExec, UnitVar};
use crate::grid_table::GridColumn;
use crate::stats_aggregate::{GroupStats, StateKind, plain_group_by, state_batch};

/// Physical optimizer rule: a `Partial` aggregate grouped by a grid scan's `time` column
/// becomes a [`StepAggregateExec`].
#[derive(Debug, Default)]
pub struct StepAggregate;

crate::node_rule!(StepAggregate, "step_aggregate", rewrite);

/// What the node sums, as indexes into the scan's decoded arrays (`columns`, output columns
/// of the scan): the variables, and the column whose NULL rows are skipped.
#[derive(Clone, Debug)]
struct Steps {
    columns: Vec<usize>,
    vars: Vec<usize>,
    keep: Option<usize>,
    kinds: Vec<StateKind>,
}

fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(agg) = node.downcast_ref::<AggregateExec>() else { return Ok(None) };
    if *agg.mode() != AggregateMode::Partial
        || agg.limit_options().is_some()
        || agg.filter_expr().iter().any(Option::is_some)
        || !plain_group_by(agg.group_expr())
    {
        return Ok(None);
    }
    let [(key, _)] = agg.group_expr().expr() else { return Ok(None) };
    let Some(mut key) = key.downcast_ref::<Column>().map(Column::index) else { return Ok(None) };
    let input = agg.input().schema();
    let (mut vars, mut kinds) = (Vec::new(), Vec::new());
    for a in agg.aggr_expr() {
        let Some(kind) = kind_of(a, &input, &mut vars)? else { return Ok(None) };
        kinds.push(kind);
    }
    let (mut child, mut keep) = (Arc::clone(agg.input()), None);
    if let Some((inner, column, projection)) = not_null_filter(&child) {
        let map = |i: usize| projection.as_ref().map_or(Some(i), |p| p.get(i).copied());
        if let (Some(k), Some(v)) = (map(key), vars.iter().map(|&v| map(v)).collect::<Option<Vec<_>>>()) {
            (key, vars, keep, child) = (k, v, Some(column), inner);
        }
    }
    let Some(scan) = scan_under(&child) else { return Ok(None) };
    let column = |i: usize| scan.output_column(i);
    if column(key) != Some(GridColumn::Time) {
        return Ok(None);
    }
    let mut columns = Vec::new();
    let mut position = |i: usize| -> Option<usize> {
        matches!(column(i)?, GridColumn::Var(_)).then_some(())?;
        Some(columns.iter().position(|&c| c == i).unwrap_or_else(|| {
            columns.push(i);
            columns.len() - 1
        }))
    };
    let Some(vars) = vars.iter().map(|&v| position(v)).collect::<Option<Vec<_>>>() else { return Ok(None) };
    let keep = match keep.map(|k| (k, column(k))) {
        None => None,
        // Depth, lat and lon come from the axes: never NULL.
        Some((_, Some(GridColumn::Depth | GridColumn::Lat | GridColumn::Lon))) => None,
        Some((k, _)) => match position(k) {
            Some(p) => Some(p),
            None => return Ok(None),
        },
    };
    let steps = Steps { columns, vars, keep, kinds };
    Ok(Some(Arc::new(StepAggregateExec::new(child, steps, agg.schema(), describe(agg)))))
}

/// The grid scan `plan` is, directly or under a round-robin repartition, when it reads every unit whole.
fn scan_under(plan: &Arc<dyn ExecutionPlan>) -> Option<&GridScanExec> {
    let input = match plan.downcast_ref::<RepartitionExec>() {
        Some(r) if matches!(r.partitioning(), Partitioning::RoundRobinBatch(_)) => r.input(),
        _ => plan,
    };
    input.downcast_ref::<GridScanExec>().filter(|s| s.reads_all_units())
}

/// The partial aggregate of [`StepAggregate`]: the same output as the `AggregateExec` it
/// replaces, one batch per partition at the end.
#[derive(Debug)]
pub struct StepAggregateExec {
    input: Arc<dyn ExecutionPlan>,
    steps: Steps,
    schema: SchemaRef,
    display: String,
    metrics: ExecutionPlanMetricsSet,
    cache: Arc<PlanProperties>,
}

impl StepAggregateExec {
    fn new(input: Arc<dyn ExecutionPlan>, steps: Steps, schema: SchemaRef, display: String) -> Self {
        let cache = partial_properties(&input, &schema);
        StepAggregateExec { input, steps, schema, display, metrics: ExecutionPlanMetricsSet::new(), cache }
    }
}

impl DisplayAs for StepAggregateExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let skip = if self.steps.keep.is_some() { ", rows with NULL skipped" } else { "" };
        write!(f, "StepAggregateExec: mode=Partial, {}, one group per time step inside the grid scan{skip}", self.display)
    }
}

impl ExecutionPlan for StepAggregateExec {
    fn name(&self) -> &'static str {
        "StepAggregateExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>, _options: ReplaceChildrenOptions) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("StepAggregateExec takes one child, got {}", children.len());
        }
        Ok(Arc::new(StepAggregateExec::new(children.swap_remove(0), self.steps.clone(), self.schema.clone(), self.display.clone())))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let Some(scan) = scan_under(&self.input) else {
            return internal_err!("StepAggregateExec: its input is no longer a grid scan that reads every unit");
        };
        // Under a round-robin repartition, the scan's partitions are the first ones.
        let mut units = if partition < scan.properties().partitioning.partition_count() {
            scan.execute_decoded(partition, context, &self.steps.columns, false)?
        } else {
            futures::stream::empty().boxed()
        };
        let (steps, schema) = (self.steps.clone(), self.schema.clone());
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let out = futures::stream::once(async move {
            let mut groups: HashMap<Option<i64>, GroupStats> = HashMap::new();
            while let Some(unit) = units.next().await {
                let unit = unit?;
                let _timer = baseline.elapsed_compute().timer();
                add_unit(&unit, &steps, &mut groups)?;
            }
            let _timer = baseline.elapsed_compute().timer();
            let mut groups: Vec<(Vec<ScalarValue>, GroupStats)> =
                groups.into_iter().map(|(t, g)| (vec![ScalarValue::TimestampMicrosecond(t, Some("UTC".into()))], g)).collect();
            groups.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            let out = state_batch(&schema, &steps.kinds, &groups)?.unwrap_or_else(|| RecordBatch::new_empty(schema.clone()));
            baseline.record_output(out.num_rows());
            Ok(out)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), out)))
    }
}

/// Adds each time step of a decoded unit to the group of its time (`None`: NULL time).
fn add_unit(unit: &DecodedUnit, steps: &Steps, groups: &mut HashMap<Option<i64>, GroupStats>) -> Result<()> {
    let arrays: Vec<ArrayRef> = unit.vars.iter().map(UnitVar::array).collect();
    let vars: Vec<Float64Array> = steps.vars.iter().map(|&v| f64s(&arrays[v])).collect::<Result<_>>()?;
    let keep = steps.keep.and_then(|k| arrays[k].logical_nulls());
    let minmax = steps.kinds.iter().any(|k| matches!(k, StateKind::Min(_) | StateKind::Max(_)));
    let nt = unit.axes[0].len();
    let m = unit.len().checked_div(nt).unwrap_or(0);
    for t in 0..nt {
        let group = groups.entry(unit.times.as_ref().map(|times| times[t])).or_insert_with(|| GroupStats::new(vars.len()));
        let keep = keep.as_ref().map(|k| k.slice(t * m, m));
        group.rows += (m - keep.as_ref().map_or(0, |k| k.null_count())) as u64;
        for (i, (s, values)) in group.vars.iter_mut().zip(&vars).enumerate() {
            let values = values.slice(t * m, m);
            // Where the kept rows are this variable's valid ones (or all), arrow's sum does it.
            if !minmax && (keep.is_none() || steps.keep == Some(steps.vars[i])) {
                s.count += (m - values.null_count()) as u64;
                s.sum += sum(&values).unwrap_or(0.0);
                continue;
            }
            for k in 0..m {
                if keep.as_ref().is_none_or(|n| n.is_valid(k)) && values.is_valid(k) {
                    push(s, values.value(k));
                }
            }
        }
    }
    Ok(())
}
