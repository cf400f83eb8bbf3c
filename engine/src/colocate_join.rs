//! `colocate(...)` joins as a space-time index join.
//!
//! DataFusion plans a join whose only condition is `colocate(a.lat, a.lon,
//! a.time, b.lat, b.lon, b.time, radius_km, max_dt_seconds)` (plus any other
//! conditions) as a nested loop over both sides. This rule replaces that
//! `NestedLoopJoinExec` by [`ColocateJoinExec`]: the smaller side is collected
//! and indexed ([`NearSet`]); the larger side's scan is restricted to the
//! granules and tiles near its points; each row of the larger side then looks
//! up one cube of the index. Other conditions are applied to the pairs found.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch, take};
use datafusion::arrow::datatypes::{DataType, Float64Type, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode, TreeNodeRecursion};
use datafusion::common::{JoinSide, JoinType, ScalarValue, internal_err, plan_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::expressions::{CastExpr, Column, Literal};
use datafusion::physical_expr::utils::collect_columns;
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr, ScalarFunctionExpr, conjunction, split_conjunction};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::joins::NestedLoopJoinExec;
use datafusion::physical_plan::joins::utils::JoinFilter;
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, ExecutionPlanProperties, Partitioning, PlanProperties,
    ReplaceChildrenOptions, collect,
};
use futures::{StreamExt, TryStreamExt};

use crate::near::{NearSet, NearSlot, near_scan};

/// Physical optimizer rule: an inner nested-loop join on `colocate(...)` becomes a [`ColocateJoinExec`].
#[derive(Debug, Default)]
pub struct ColocateJoin;

crate::node_rule!(ColocateJoin, "colocate_join", rewrite);

/// The three keys (lat, lon, time) of each side, as expressions over that side's schema.
type Keys = [Arc<dyn PhysicalExpr>; 3];

fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(nlj) = node.downcast_ref::<NestedLoopJoinExec>() else { return Ok(None) };
    let Some(filter) = nlj.filter() else { return Ok(None) };
    if *nlj.join_type() != JoinType::Inner {
        return Ok(None);
    }
    let conjuncts = split_conjunction(filter.expression());
    let found = conjuncts.iter().enumerate().find_map(|(i, c)| colocate_call(c, filter).map(|k| (Some(i), k)));
    // ST_DWithin of two points: candidates from a great circle as long as the planar
    // distance (degrees of latitude), at any time; ST_DWithin itself stays a condition.
    let found = found.or_else(|| conjuncts.iter().find_map(|c| dwithin_call(c, filter).map(|k| (None, k))));
    let Some((at, (keys, radius_km, max_dt_s))) = found else {
        return Ok(None);
    };
    let others: Vec<Arc<dyn PhysicalExpr>> =
        conjuncts.iter().enumerate().filter(|(i, _)| Some(*i) != at).map(|(_, c)| Arc::clone(c)).collect();
    let residual = (!others.is_empty())
        .then(|| JoinFilter::new(conjunction(others), filter.column_indices().to_vec(), Arc::clone(filter.schema())));
    let projection = nlj.projection().as_ref().map(|p| p.iter().copied().collect::<Vec<usize>>());
    let build_left = rows(nlj.left()) <= rows(nlj.right());
    let (mut left, mut right) = (Arc::clone(nlj.left()), Arc::clone(nlj.right()));
    let slot: NearSlot = Arc::default();
    let (probe, probe_keys) = if build_left { (&mut right, &keys[1]) } else { (&mut left, &keys[0]) };
    let restricted = restrict(probe, probe_keys, &slot)?;
    if let Some(p) = &restricted {
        *probe = Arc::clone(p);
    }
    let exec = ColocateJoinExec::try_new(
        left,
        right,
        keys,
        radius_km,
        max_dt_s,
        residual,
        projection,
        build_left,
        nlj.schema(),
        restricted.is_some().then_some(slot),
    )?;
    Ok(Some(Arc::new(exec)))
}

/// Estimated rows of a plan (unknown: as many as can be).
#[allow(deprecated)] // StatisticsContext is not needed for a leaf's or a simple plan's row count
fn rows(plan: &Arc<dyn ExecutionPlan>) -> usize {
    match plan.partition_statistics(None).map(|s| s.num_rows) {
        Ok(Precision::Exact(n) | Precision::Inexact(n)) => n,
        _ => usize::MAX,
    }
}

/// `colocate(...)` in a join filter: the keys of the left and right sides, the radius and max_dt.
fn colocate_call(expr: &Arc<dyn PhysicalExpr>, filter: &JoinFilter) -> Option<([Keys; 2], f64, f64)> {
    let call = expr.downcast_ref::<ScalarFunctionExpr>()?;
    if call.name() != "colocate" || call.args().len() != 8 {
        return None;
    }
    let args = call.args();
    let side_of = |e: &Arc<dyn PhysicalExpr>| -> Option<JoinSide> {
        let sides: Vec<JoinSide> = collect_columns(e).iter().map(|c| filter.column_indices()[c.index()].side).collect();
        let first = *sides.first()?;
        sides.iter().all(|s| *s == first).then_some(first)
    };
    let (a, b) = (side_of(&args[0])?, side_of(&args[3])?);
    if a == b || (1..3).any(|k| side_of(&args[k]) != Some(a) || side_of(&args[3 + k]) != Some(b)) || a == JoinSide::None || b == JoinSide::None {
        return None;
    }
    let local = |e: &Arc<dyn PhysicalExpr>| to_side(e, filter);
    let first: Keys = [local(&args[0])?, local(&args[1])?, local(&args[2])?];
    let second: Keys = [local(&args[3])?, local(&args[4])?, local(&args[5])?];
    let (left, right) = if a == JoinSide::Left { (first, second) } else { (second, first) };
    Some(([left, right], literal(&args[6])?, literal(&args[7])?))
}

/// `st_dwithin(st_point(lon, lat), st_point(lon, lat), d)` of the two sides: keys with a
/// constant time, a radius of `d` degrees of a great circle (never shorter than the planar
/// distance in degrees), and an unbounded time.
fn dwithin_call(expr: &Arc<dyn PhysicalExpr>, filter: &JoinFilter) -> Option<([Keys; 2], f64, f64)> {
    let call = expr.downcast_ref::<ScalarFunctionExpr>()?;
    if call.name() != "st_dwithin" || call.args().len() != 3 {
        return None;
    }
    // A point built in the filter, or a column DataFusion computed below the join (its
    // projection push-down): then both keys are that WKB point, read by `key_values`.
    let point = |e: &Arc<dyn PhysicalExpr>| -> Option<(JoinSide, Keys)> {
        let sides: Vec<JoinSide> = collect_columns(e).iter().map(|c| filter.column_indices()[c.index()].side).collect();
        let side = *sides.first()?;
        if side == JoinSide::None || sides.iter().any(|s| *s != side) {
            return None;
        }
        let epoch: Arc<dyn PhysicalExpr> = Arc::new(Literal::new(ScalarValue::TimestampMicrosecond(Some(0), Some("UTC".into()))));
        if let Some(p) = e.downcast_ref::<ScalarFunctionExpr>().filter(|p| p.name() == "st_point" && p.args().len() == 2) {
            return Some((side, [to_side(&p.args()[1], filter)?, to_side(&p.args()[0], filter)?, epoch]));
        }
        e.downcast_ref::<Column>()?;
        let column = to_side(e, filter)?;
        Some((side, [Arc::clone(&column), column, epoch]))
    };
    let ((a, ka), (b, kb)) = (point(&call.args()[0])?, point(&call.args()[1])?);
    if a == b {
        return None;
    }
    let degrees = literal(&call.args()[2])?;
    let km = degrees.to_radians() * oceanql_udfs::EARTH_RADIUS_KM * (1.0 + 1e-9);
    let keys = if a == JoinSide::Left { [ka, kb] } else { [kb, ka] };
    Some((keys, km, 1e9))
}

/// An expression over the filter's schema rewritten over its side's own schema.
fn to_side(e: &Arc<dyn PhysicalExpr>, filter: &JoinFilter) -> Option<Arc<dyn PhysicalExpr>> {
    Arc::clone(e)
        .transform(|node| {
            Ok(match node.downcast_ref::<Column>() {
                Some(c) => {
                    let index = filter.column_indices()[c.index()].index;
                    Transformed::yes(Arc::new(Column::new(c.name(), index)) as Arc<dyn PhysicalExpr>)
                }
                None => Transformed::no(node),
            })
        })
        .data()
        .ok()
}

fn literal(e: &Arc<dyn PhysicalExpr>) -> Option<f64> {
    let e = e.downcast_ref::<CastExpr>().map_or(e, |c| c.expr());
    match e.downcast_ref::<Literal>()?.value().cast_to(&DataType::Float64).ok()? {
        ScalarValue::Float64(Some(x)) if x.is_finite() && x >= 0.0 => Some(x),
        _ => None,
    }
}

/// The space-time join of two sides on `colocate(...)`.
#[derive(Debug)]
pub struct ColocateJoinExec {
    left: Arc<dyn ExecutionPlan>,
    right: Arc<dyn ExecutionPlan>,
    /// Keys of the left and right sides.
    keys: [Keys; 2],
    radius_km: f64,
    max_dt_s: f64,
    /// The join's other conditions, over the nested loop's filter schema.
    residual: Option<JoinFilter>,
    projection: Option<Vec<usize>>,
    /// Whether the left side is the one collected and indexed.
    build_left: bool,
    /// Where the build side's points go for the probe side's scan, when it is restricted.
    slot: Option<NearSlot>,
    schema: SchemaRef,
    cache: Arc<PlanProperties>,
    prepared: Arc<tokio::sync::OnceCell<Arc<Prepared>>>,
    metrics: ExecutionPlanMetricsSet,
}

/// The build side collected and indexed.
#[derive(Debug)]
struct Prepared {
    build: RecordBatch,
    /// Its points: the index the probe rows look up (and the probe scan's restriction).
    near: NearSlot,
}

impl ColocateJoinExec {
    #[allow(clippy::too_many_arguments)]
    pub fn try_new(
        left: Arc<dyn ExecutionPlan>,
        right: Arc<dyn ExecutionPlan>,
        keys: [Keys; 2],
        radius_km: f64,
        max_dt_s: f64,
        residual: Option<JoinFilter>,
        projection: Option<Vec<usize>>,
        build_left: bool,
        schema: SchemaRef,
        slot: Option<NearSlot>,
    ) -> Result<Self> {
        let probe = if build_left { &right } else { &left };
        let partitions = probe.output_partitioning().partition_count();
        let cache = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        Ok(ColocateJoinExec {
            left,
            right,
            keys,
            radius_km,
            max_dt_s,
            residual,
            projection,
            build_left,
            slot,
            schema,
            cache,
            prepared: Arc::new(tokio::sync::OnceCell::new()),
            metrics: ExecutionPlanMetricsSet::new(),
        })
    }

    fn sides(&self) -> (&Arc<dyn ExecutionPlan>, &Arc<dyn ExecutionPlan>, &Keys, &Keys) {
        if self.build_left {
            (&self.left, &self.right, &self.keys[0], &self.keys[1])
        } else {
            (&self.right, &self.left, &self.keys[1], &self.keys[0])
        }
    }
}

/// The keys of a batch: lat and lon as f64 (from a WKB point when the key is one), time in microseconds.
fn key_values(keys: &Keys, batch: &RecordBatch) -> Result<[ArrayRef; 3]> {
    let n = batch.num_rows();
    let coordinate = |e: &Arc<dyn PhysicalExpr>, y: bool| -> Result<ArrayRef> {
        let values = e.evaluate(batch)?.into_array(n)?;
        if !matches!(values.data_type(), DataType::Binary | DataType::LargeBinary | DataType::BinaryView) {
            return Ok(cast(&values, &DataType::Float64)?);
        }
        let values = cast(&values, &DataType::Binary)?;
        let wkb = values.as_binary::<i32>();
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            let xy = if wkb.is_null(i) { None } else { oceanql_udfs::point_xy("st_dwithin", wkb.value(i))? };
            out.push(xy.map(|(x, lat)| if y { lat } else { x }));
        }
        Ok(Arc::new(datafusion::arrow::array::Float64Array::from(out)))
    };
    let micros = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let time = cast(&keys[2].evaluate(batch)?.into_array(n)?, &micros)?;
    Ok([coordinate(&keys[0], true)?, coordinate(&keys[1], false)?, time])
}

/// Collects and indexes the build side; its points go into `slot` (shared with the probe scan).
async fn prepare(build: Arc<dyn ExecutionPlan>, keys: Keys, slot: NearSlot, radius_km: f64, max_dt_s: f64, context: Arc<TaskContext>) -> Result<Arc<Prepared>> {
    let schema = build.schema();
    let batches = collect(build, context).await?;
    let build = concat_batches(&schema, &batches)?;
    let [lat, lon, time] = key_values(&keys, &build)?;
    let (lat, lon, time) = (lat.as_primitive::<Float64Type>(), lon.as_primitive::<Float64Type>(), time.as_primitive::<TimestampMicrosecondType>());
    let points = (0..build.num_rows()).map(|i| {
        (lat.is_valid(i) && lon.is_valid(i) && time.is_valid(i)).then(|| (lat.value(i), lon.value(i), time.value(i)))
    });
    let _ = slot.set(NearSet::new(points, radius_km, (max_dt_s * 1e6).round() as i64));
    Ok(Arc::new(Prepared { build, near: slot }))
}

/// The probe plan with its scan reading only near the points `slot` will hold, when the probe
/// keys are the scan's own `lat`, `lon` and `time` columns seen through projections, filters
/// and repartitions; `None` otherwise.
fn restrict(plan: &Arc<dyn ExecutionPlan>, keys: &Keys, slot: &NearSlot) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let names = ["lat", "lon", "time"];
    for (key, name) in keys.iter().zip(names) {
        let plain = key.downcast_ref::<CastExpr>().map_or(key, |c| c.expr());
        if plain.downcast_ref::<Column>().map(|c| c.name()) != Some(name) {
            return Ok(None);
        }
    }
    restrict_chain(plan, slot)
}

fn restrict_chain(plan: &Arc<dyn ExecutionPlan>, slot: &NearSlot) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if let Some(scan) = near_scan(plan.as_ref()) {
        return scan.with_near_slot(Arc::clone(slot)).map(Some);
    }
    let passes = ["FilterExec", "CoalesceBatchesExec", "RepartitionExec", "CooperativeExec", "ProjectionExec"].contains(&plan.name());
    let [child] = plan.children()[..] else { return Ok(None) };
    if !passes || !keeps_names(plan) {
        return Ok(None);
    }
    let Some(new_child) = restrict_chain(child, slot)? else { return Ok(None) };
    let options = ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute);
    Ok(Some(Arc::clone(plan).replace_children(vec![new_child], options)?))
}

/// A projection that passes `lat`, `lon` and `time` through unchanged (other nodes keep columns).
fn keeps_names(plan: &Arc<dyn ExecutionPlan>) -> bool {
    let Some(p) = plan.downcast_ref::<ProjectionExec>() else { return true };
    p.expr().iter().all(|e| {
        !["lat", "lon", "time"].contains(&e.alias.as_str()) || e.expr.downcast_ref::<Column>().is_some_and(|c| c.name() == e.alias)
    })
}

impl DisplayAs for ColocateJoinExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "ColocateJoinExec: radius_km={}, max_dt_seconds={}, build={}",
            self.radius_km,
            self.max_dt_s,
            if self.build_left { "left" } else { "right" }
        )?;
        if self.slot.is_some() {
            write!(f, ", probe scan restricted to the build side's neighbourhood")?;
        }
        if let Some(r) = &self.residual {
            write!(f, ", filter={}", r.expression())?;
        }
        Ok(())
    }
}

impl ExecutionPlan for ColocateJoinExec {
    fn name(&self) -> &'static str {
        "ColocateJoinExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.left, &self.right]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for e in self.keys.iter().flatten() {
            if f(e)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
        _options: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let [left, right] = <[Arc<dyn ExecutionPlan>; 2]>::try_from(children)
            .map_err(|c| DataFusionError::Internal(format!("ColocateJoinExec takes two children, got {}", c.len())))?;
        Ok(Arc::new(ColocateJoinExec::try_new(
            left,
            right,
            self.keys.clone(),
            self.radius_km,
            self.max_dt_s,
            self.residual.clone(),
            self.projection.clone(),
            self.build_left,
            Arc::clone(&self.schema),
            self.slot.clone(),
        )?))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let (build, probe, build_keys, probe_keys) = self.sides();
        let (build, probe, build_keys, probe_keys) = (Arc::clone(build), Arc::clone(probe), build_keys.clone(), probe_keys.clone());
        let (radius_km, max_dt_s) = (self.radius_km, self.max_dt_s);
        let cell = Arc::clone(&self.prepared);
        let slot = self.slot.clone().unwrap_or_default();
        let counter = |name: &'static str| MetricBuilder::new(&self.metrics).counter(name, partition);
        let pairing = Pairing {
            probe_keys: probe_keys.clone(),
            build_left: self.build_left,
            residual: self.residual.clone(),
            projection: self.projection.clone(),
            schema: Arc::clone(&self.schema),
            left_schema: self.left.schema(),
            right_schema: self.right.schema(),
            probe_rows: counter("probe_rows"),
            pairs: counter("pairs"),
        };
        let build_rows = MetricBuilder::new(&self.metrics).global_counter("build_rows");
        let ctx = Arc::clone(&context);
        let stream = futures::stream::once(async move {
            let prepared = cell
                .get_or_try_init(|| async {
                    let p = prepare(build, build_keys, slot, radius_km, max_dt_s, ctx).await?;
                    build_rows.add(p.build.num_rows());
                    Ok::<_, DataFusionError>(p)
                })
                .await?
                .clone();
            let probe_stream = probe.execute(partition, context)?;
            Ok::<_, DataFusionError>(probe_stream.map(move |batch| pairing.join(&prepared, &batch?)))
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(Arc::clone(&self.schema), stream)))
    }
}

/// What a partition needs to turn probe batches into joined batches.
struct Pairing {
    probe_keys: Keys,
    build_left: bool,
    residual: Option<JoinFilter>,
    projection: Option<Vec<usize>>,
    schema: SchemaRef,
    left_schema: SchemaRef,
    right_schema: SchemaRef,
    probe_rows: Count,
    pairs: Count,
}

impl Pairing {
    fn join(&self, prepared: &Prepared, probe: &RecordBatch) -> Result<RecordBatch> {
        self.probe_rows.add(probe.num_rows());
        let [lat, lon, time] = key_values(&self.probe_keys, probe)?;
        let (lat, lon, time) = (lat.as_primitive::<Float64Type>(), lon.as_primitive::<Float64Type>(), time.as_primitive::<TimestampMicrosecondType>());
        let Some(near) = prepared.near.get() else { return internal_err!("ColocateJoinExec: the build side is not indexed") };
        let (mut build_rows, mut probe_rows) = (Vec::new(), Vec::new());
        for i in 0..probe.num_rows() {
            if lat.is_valid(i) && lon.is_valid(i) && time.is_valid(i) {
                near.matches(lat.value(i), lon.value(i), time.value(i), |b| {
                    build_rows.push(b);
                    probe_rows.push(i as u32);
                });
            }
        }
        self.pairs.add(build_rows.len());
        let taken = |batch: &RecordBatch, rows: Vec<u32>| -> Result<Vec<ArrayRef>> {
            let idx = UInt32Array::from(rows);
            batch.columns().iter().map(|c| Ok(take(c.as_ref(), &idx, None)?)).collect()
        };
        let (build_cols, probe_cols) = (taken(&prepared.build, build_rows)?, taken(probe, probe_rows)?);
        let (left, right) = if self.build_left { (build_cols, probe_cols) } else { (probe_cols, build_cols) };
        let mut fields: Vec<_> = self.left_schema.fields().iter().cloned().collect();
        fields.extend(self.right_schema.fields().iter().cloned());
        let mut columns = left.clone();
        columns.extend(right.iter().cloned());
        let joined = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        let joined = match &self.residual {
            Some(filter) => {
                let inputs: Vec<ArrayRef> = filter
                    .column_indices()
                    .iter()
                    .map(|c| match c.side {
                        JoinSide::Left => Ok(Arc::clone(&left[c.index])),
                        JoinSide::Right => Ok(Arc::clone(&right[c.index])),
                        JoinSide::None => internal_err!("ColocateJoinExec: a filter column of no side"),
                    })
                    .collect::<Result<_>>()?;
                let intermediate = RecordBatch::try_new(Arc::clone(filter.schema()), inputs)?;
                let keep = filter.expression().evaluate(&intermediate)?.into_array(intermediate.num_rows())?;
                let Some(keep) = keep.as_boolean_opt() else { return plan_err!("colocate join: the join condition is not boolean") };
                filter_record_batch(&joined, keep)?
            }
            None => joined,
        };
        let columns = match &self.projection {
            Some(p) => p.iter().map(|&i| Arc::clone(joined.column(i))).collect(),
            None => joined.columns().to_vec(),
        };
        Ok(RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            columns,
            &datafusion::arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(joined.num_rows())),
        )?)
    }
}
