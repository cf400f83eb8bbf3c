//! Match-ups on a grid's own cells: a hash join whose probe side is a grid scan, joined by
//! equality on the grid's axis columns (time, depth, lat, lon), reads only the cells that some
//! row of the build side names. The build side's keys are collected while the join builds its
//! hash table; the scan then skips the units of work no key falls in, reads the others' boxes
//! around their keyed cells, and emits only those cells. The join still compares every key,
//! so the scan may emit cells that do not match (an axis not keyed), never too few.
//!
//! Keys compare as the join hashes them: floats bit for bit but -0 as 0, NULL never equal.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Float64Type, SchemaRef, TimeUnit, TimestampMicrosecondType};
use datafusion::common::JoinType;
use datafusion::common::NullEquality;
use datafusion::common::internal_err;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::{RecordBatchStream, SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::{
    ChildrenPropertiesMode, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, ReplaceChildrenOptions,
};
use futures::Stream;
use oceanql_connectors::{GridInfo, Slab};

use crate::grid_scan::GridScanExec;
use crate::grid_table::GridColumn;

/// Names of the canonical axes, for EXPLAIN.
const AXIS_NAMES: [&str; 4] = ["time", "depth", "lat", "lon"];

/// Physical optimizer rule: the probe side of a hash join keyed on a grid scan's axis
/// columns reads only the keyed cells (see the module documentation).
#[derive(Debug, Default)]
pub struct JoinCells;

crate::node_rule!(JoinCells, "join_cells", rewrite);

/// Where the build side's keys go for the scan: set when the build side ends, cleared when
/// it starts, so a scan never reads another run's keys.
pub type KeySlot = Arc<Mutex<Option<Arc<JoinKeys>>>>;

/// The key values of the build side, by canonical axis (`None`: the axis is not keyed).
/// Times are microseconds, the others the bits of the f64; rows with a NULL key are left out.
#[derive(Debug, Default)]
pub struct JoinKeys {
    values: [Option<Vec<u64>>; 4],
    /// Row numbers by time key (one entry, key 0, when time is not keyed).
    by_time: HashMap<u64, Vec<u32>>,
    /// Granules some partition of the scan has counted as read in this run.
    counted: Mutex<std::collections::HashSet<usize>>,
}

impl JoinKeys {
    /// Whether `granule` is read for the first time in this run (by any partition): the
    /// scan's `granules_read` counts it then.
    pub fn first_read_of(&self, granule: usize) -> bool {
        self.counted.lock().is_ok_and(|mut c| c.insert(granule))
    }
}

/// Which axis each key of a scan's join is on, and where its values arrive.
#[derive(Debug, Clone)]
pub struct KeyedAxes {
    pub axes: Vec<usize>,
    pub slot: KeySlot,
}

impl KeyedAxes {
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.axes.iter().map(|&a| AXIS_NAMES[a]).collect();
        format!("cells=keys of the join ({})", names.join(", "))
    }

    /// The keys of the current run, once the build side has ended.
    pub fn keys(&self) -> Option<Arc<JoinKeys>> {
        self.slot.lock().ok().and_then(|k| k.clone())
    }
}

fn rewrite(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let Some(join) = node.downcast_ref::<HashJoinExec>() else { return Ok(None) };
    // Probe rows that match no build row must be dropped by the join for the scan to drop them.
    let probe_may_shrink = matches!(join.join_type(), JoinType::Inner | JoinType::Left | JoinType::LeftSemi | JoinType::LeftAnti | JoinType::RightSemi);
    if *join.partition_mode() != PartitionMode::CollectLeft
        || !probe_may_shrink
        || join.null_equality() != NullEquality::NullEqualsNothing
        || join.left().properties().partitioning.partition_count() != 1
    {
        return Ok(None);
    }
    let left_schema = join.left().schema();
    let (mut exprs, mut axes) = (Vec::new(), Vec::new());
    for (l, r) in join.on() {
        let Some(r) = r.downcast_ref::<Column>() else { continue };
        let Some(axis) = scan_column(join.right(), r.index()).and_then(axis_of) else { continue };
        let wanted = if axis == 0 { DataType::Timestamp(TimeUnit::Microsecond, None) } else { DataType::Float64 };
        let same_type = match (l.data_type(&left_schema)?, &wanted) {
            (DataType::Timestamp(TimeUnit::Microsecond, _), DataType::Timestamp(..)) => true,
            (t, w) => &t == w,
        };
        if same_type && !axes.contains(&axis) {
            exprs.push(l.clone());
            axes.push(axis);
        }
    }
    if axes.is_empty() {
        return Ok(None);
    }
    let keyed = KeyedAxes { axes, slot: KeySlot::default() };
    let Some(right) = with_keys(join.right(), &keyed)? else { return Ok(None) };
    let left: Arc<dyn ExecutionPlan> = Arc::new(JoinKeysExec::new(join.left().clone(), exprs, keyed));
    node.clone().replace_children(vec![left, right], recompute()).map(Some)
}

/// The grid column that output column `col` of `plan` passes on unchanged from a grid scan.
fn scan_column(plan: &Arc<dyn ExecutionPlan>, col: usize) -> Option<GridColumn> {
    if let Some(scan) = plan.downcast_ref::<GridScanExec>() {
        return scan.output_column(col);
    }
    let (child, col) = passes_through(plan, col)?;
    scan_column(&child, col)
}

/// The child and its column that output column `col` of `plan` is, when `plan` keeps or
/// drops rows but never changes them.
fn passes_through(plan: &Arc<dyn ExecutionPlan>, col: usize) -> Option<(Arc<dyn ExecutionPlan>, usize)> {
    if let Some(f) = plan.downcast_ref::<FilterExec>() {
        let col = match f.projection() {
            Some(p) => *p.get(col)?,
            None => col,
        };
        return Some((f.input().clone(), col));
    }
    if let Some(p) = plan.downcast_ref::<ProjectionExec>() {
        let c = p.expr().get(col)?.expr.downcast_ref::<Column>()?.index();
        return Some((p.input().clone(), c));
    }
    if plan.downcast_ref::<RepartitionExec>().is_some() || plan.downcast_ref::<CooperativeExec>().is_some() {
        return Some((plan.children()[0].clone(), col));
    }
    None
}

fn recompute() -> ReplaceChildrenOptions {
    ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute)
}

fn axis_of(col: GridColumn) -> Option<usize> {
    match col {
        GridColumn::Time => Some(0),
        GridColumn::Depth => Some(1),
        GridColumn::Lat => Some(2),
        GridColumn::Lon => Some(3),
        _ => None,
    }
}

/// `plan` with its grid scan reading only keyed cells.
fn with_keys(plan: &Arc<dyn ExecutionPlan>, keyed: &KeyedAxes) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    if let Some(scan) = plan.downcast_ref::<GridScanExec>() {
        return Ok(scan.with_join_keys(keyed.clone()));
    }
    if passes_through(plan, 0).is_none() && plan.downcast_ref::<ProjectionExec>().is_none() {
        return Ok(None);
    }
    let Some(child) = with_keys(&plan.children()[0].clone(), keyed)? else { return Ok(None) };
    plan.clone().replace_children(vec![child], recompute()).map(Some)
}

/// The build side of the join, unchanged, whose key values it collects on the way.
#[derive(Debug)]
pub struct JoinKeysExec {
    input: Arc<dyn ExecutionPlan>,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    keyed: KeyedAxes,
    cache: Arc<PlanProperties>,
}

impl JoinKeysExec {
    fn new(input: Arc<dyn ExecutionPlan>, exprs: Vec<Arc<dyn PhysicalExpr>>, keyed: KeyedAxes) -> Self {
        let cache = input.properties().clone();
        JoinKeysExec { input, exprs, keyed, cache }
    }
}

impl DisplayAs for JoinKeysExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let keys: Vec<String> = self.exprs.iter().zip(&self.keyed.axes).map(|(e, &a)| format!("{e} -> {}", AXIS_NAMES[a])).collect();
        write!(f, "JoinKeysExec: for the grid scan of the other side, keys=[{}]", keys.join(", "))
    }
}

impl ExecutionPlan for JoinKeysExec {
    fn name(&self) -> &'static str {
        "JoinKeysExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(&self, f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>) -> Result<TreeNodeRecursion> {
        for e in &self.exprs {
            if f(e)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn replace_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>, _options: ReplaceChildrenOptions) -> Result<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return internal_err!("JoinKeysExec takes one child, got {}", children.len());
        }
        Ok(Arc::new(JoinKeysExec::new(children.swap_remove(0), self.exprs.clone(), self.keyed.clone())))
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(children, recompute())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if partition != 0 || self.input.properties().partitioning.partition_count() != 1 {
            return internal_err!("JoinKeysExec: one partition expected, asked for {partition}");
        }
        if let Ok(mut slot) = self.keyed.slot.lock() {
            *slot = None;
        }
        let input = self.input.execute(partition, context)?;
        let collected = Collected { axes: self.keyed.axes.clone(), values: vec![Vec::new(); self.keyed.axes.len()] };
        Ok(Box::pin(KeyStream { input, exprs: self.exprs.clone(), slot: self.keyed.slot.clone(), collected: Some(collected) }))
    }
}

/// Key values collected so far, by key.
struct Collected {
    axes: Vec<usize>,
    values: Vec<Vec<Option<u64>>>,
}

impl Collected {
    fn add(&mut self, batch: &RecordBatch, exprs: &[Arc<dyn PhysicalExpr>]) -> Result<()> {
        for (k, e) in exprs.iter().enumerate() {
            let array = e.evaluate(batch)?.into_array(batch.num_rows())?;
            let out = &mut self.values[k];
            if self.axes[k] == 0 {
                out.extend(array.as_primitive::<TimestampMicrosecondType>().iter().map(|v| v.map(|t| t as u64)));
            } else {
                out.extend(array.as_primitive::<Float64Type>().iter().map(|v| v.map(key_bits)));
            }
        }
        Ok(())
    }

    fn finish(self) -> JoinKeys {
        let rows = self.values.first().map_or(0, Vec::len);
        let complete: Vec<u32> = (0..rows).filter(|&r| self.values.iter().all(|v| v[r].is_some())).map(|r| r as u32).collect();
        let mut keys = JoinKeys::default();
        for (k, values) in self.values.into_iter().enumerate() {
            keys.values[self.axes[k]] = Some(values.into_iter().map(|v| v.unwrap_or(0)).collect());
        }
        for r in complete {
            let t = keys.values[0].as_ref().map_or(0, |v| v[r as usize]);
            keys.by_time.entry(t).or_default().push(r);
        }
        keys
    }
}

struct KeyStream {
    input: SendableRecordBatchStream,
    exprs: Vec<Arc<dyn PhysicalExpr>>,
    slot: KeySlot,
    collected: Option<Collected>,
}

impl Stream for KeyStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.input.as_mut().poll_next(cx);
        let this = &mut *self;
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                if let Some(c) = this.collected.as_mut()
                    && let Err(e) = c.add(batch, &this.exprs)
                {
                    return Poll::Ready(Some(Err(e)));
                }
            }
            Poll::Ready(None) => {
                if let (Some(c), Ok(mut slot)) = (this.collected.take(), this.slot.lock()) {
                    *slot = Some(Arc::new(c.finish()));
                }
            }
            _ => {}
        }
        polled
    }
}

impl RecordBatchStream for KeyStream {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}

/// The keyed cells of one granule: for each time step (one list for all steps when time is
/// not keyed), the (depth, lat, lon) indices of its keys, `ALL` on an axis not keyed.
pub struct GranuleCells {
    pub granule: usize,
    by_step: Vec<Vec<[u32; 3]>>,
    /// Time is not keyed: `by_step[0]` holds for every step.
    every_step: bool,
}

const ALL: u32 = u32::MAX;

impl GranuleCells {
    pub fn new(keys: &JoinKeys, info: &GridInfo, granule: usize) -> Self {
        let every_step = keys.values[0].is_none();
        // A granule none of whose times is keyed (most, for sparse match-ups) needs no axis lookup.
        let keyed_time = info.has_time && info.time.iter().any(|&t| keys.by_time.contains_key(&(t as u64)));
        if !every_step && !keyed_time {
            return GranuleCells { granule, by_step: Vec::new(), every_step };
        }
        let index = |axis: usize, values: &[u64]| -> Option<HashMap<u64, u32>> {
            keys.values[axis].as_ref()?;
            Some(values.iter().enumerate().rev().map(|(i, &v)| (v, i as u32)).collect())
        };
        let bits = |v: &[f64]| v.iter().map(|&x| key_bits(x)).collect::<Vec<u64>>();
        // Without a depth axis the depth column is NaN: nothing to select by.
        let depth = info.depth.as_ref().and_then(|d| index(1, &bits(d)));
        let (lat, lon) = (index(2, &bits(&info.lat)), index(3, &bits(&info.lon)));
        let cells_of = |rows: &[u32]| -> Vec<[u32; 3]> {
            let at = |map: &Option<HashMap<u64, u32>>, axis: usize, r: u32| -> Option<u32> {
                match (map, &keys.values[axis]) {
                    (Some(m), Some(v)) => m.get(&v[r as usize]).copied(),
                    _ => Some(ALL),
                }
            };
            rows.iter().filter_map(|&r| Some([at(&depth, 1, r)?, at(&lat, 2, r)?, at(&lon, 3, r)?])).collect()
        };
        // (A granule without time has NULL times, which match no key: returned above.)
        let by_step = if every_step {
            vec![keys.by_time.get(&0).map_or_else(Vec::new, |rows| cells_of(rows))]
        } else {
            info.time.iter().map(|&t| keys.by_time.get(&(t as u64)).map_or_else(Vec::new, |rows| cells_of(rows))).collect()
        };
        GranuleCells { granule, by_step, every_step }
    }

    /// The keyed cells of `slab`: the smallest slab holding them all, and their offsets in it
    /// (row-major, sorted, each once); `None` when the slab holds no keyed cell.
    pub fn in_slab(&self, slab: &Slab) -> Option<(Slab, Vec<u32>)> {
        let mut cells: Vec<[usize; 4]> = Vec::new();
        let (s, c) = (slab.start, slab.count);
        let span = |a: usize, i: u32| -> std::ops::Range<usize> {
            if i == ALL {
                s[a]..s[a] + c[a]
            } else if (s[a]..s[a] + c[a]).contains(&(i as usize)) {
                i as usize..i as usize + 1
            } else {
                0..0
            }
        };
        for t in s[0]..s[0] + c[0] {
            let step = if self.every_step { self.by_step.first() } else { self.by_step.get(t) };
            for &[d, y, x] in step.map_or(&[][..], Vec::as_slice) {
                for dd in span(1, d) {
                    for yy in span(2, y) {
                        for xx in span(3, x) {
                            cells.push([t, dd, yy, xx]);
                        }
                    }
                }
            }
        }
        if cells.is_empty() {
            return None;
        }
        let lo: [usize; 4] = std::array::from_fn(|a| cells.iter().map(|p| p[a]).min().unwrap_or(0));
        let hi: [usize; 4] = std::array::from_fn(|a| cells.iter().map(|p| p[a]).max().unwrap_or(0));
        let count: [usize; 4] = std::array::from_fn(|a| hi[a] - lo[a] + 1);
        let mut offsets: Vec<u32> = cells
            .iter()
            .map(|p| (((p[0] - lo[0]) * count[1] + p[1] - lo[1]) * count[2] + p[2] - lo[2]) * count[3] + p[3] - lo[3])
            .map(|o| o as u32)
            .collect();
        offsets.sort_unstable();
        offsets.dedup();
        Some((Slab { start: lo, count }, offsets))
    }
}

/// The bits a float key is compared by: DataFusion hashes -0.0 as 0.0.
fn key_bits(x: f64) -> u64 {
    if x == 0.0 { 0 } else { x.to_bits() }
}

/// The (time, depth, lat, lon) indices of the cells at `offsets` of `slab`.
pub fn cell_indices(slab: &Slab, offsets: &[u32]) -> impl Iterator<Item = [usize; 4]> {
    let (s, [_, nd, ny, nx]) = (slab.start, slab.count);
    offsets.iter().map(move |&o| {
        let o = o as usize;
        [s[0] + o / (nx * ny * nd), s[1] + (o / (nx * ny)) % nd, s[2] + (o / nx) % ny, s[3] + o % nx]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> GridInfo {
        GridInfo {
            granule: "g".into(),
            time: vec![0, 10, 20],
            has_time: true,
            depth: None,
            lat: vec![-1.0, 0.0, 1.0],
            lon: vec![10.0, 20.0, 30.0, 40.0],
            coord_attrs: Default::default(),
            vars: vec![],
        }
    }

    fn keys(time: Option<Vec<Option<i64>>>, lat: Vec<Option<f64>>, lon: Vec<Option<f64>>) -> JoinKeys {
        let mut c = Collected { axes: vec![], values: vec![] };
        if let Some(t) = time {
            c.axes.push(0);
            c.values.push(t.into_iter().map(|v| v.map(|x| x as u64)).collect());
        }
        c.axes.extend([2, 3]);
        c.values.push(lat.into_iter().map(|v| v.map(key_bits)).collect());
        c.values.push(lon.into_iter().map(|v| v.map(key_bits)).collect());
        c.finish()
    }

    #[test]
    fn keyed_cells_of_a_slab_are_found_once_and_boxed() {
        // Row 1 repeats row 0; row 2 is off the grid (lat 0.5); row 3 has a NULL; row 4 is on another step.
        let k = keys(
            Some(vec![Some(10), Some(10), Some(10), None, Some(20)]),
            vec![Some(0.0), Some(0.0), Some(0.5), Some(1.0), Some(1.0)],
            vec![Some(30.0), Some(30.0), Some(30.0), Some(10.0), Some(20.0)],
        );
        let cells = GranuleCells::new(&k, &info(), 0);
        let whole = Slab { start: [0, 0, 0, 0], count: [3, 1, 3, 4] };
        let (slab, offsets) = cells.in_slab(&whole).unwrap();
        // (t 1, y 1, x 2) and (t 2, y 2, x 1): box t 1..2, y 1..2, x 1..2.
        assert_eq!(slab, Slab { start: [1, 0, 1, 1], count: [2, 1, 2, 2] });
        assert_eq!(offsets, vec![1, 6]);
        assert_eq!(cell_indices(&slab, &offsets).collect::<Vec<_>>(), vec![[1, 0, 1, 2], [2, 0, 2, 1]]);
        // A slab of step 0 only holds no keyed cell.
        assert!(cells.in_slab(&Slab { start: [0, 0, 0, 0], count: [1, 1, 3, 4] }).is_none());
        // Nor does any slab when no key has one of the granule's times.
        let k = keys(Some(vec![Some(999)]), vec![Some(0.0)], vec![Some(30.0)]);
        assert!(GranuleCells::new(&k, &info(), 0).in_slab(&whole).is_none());
    }

    #[test]
    fn an_axis_not_keyed_keeps_all_its_cells() {
        let k = keys(None, vec![Some(-1.0)], vec![Some(40.0)]);
        let cells = GranuleCells::new(&k, &info(), 0);
        let (slab, offsets) = cells.in_slab(&Slab { start: [1, 0, 0, 0], count: [2, 1, 3, 4] }).unwrap();
        assert_eq!(slab, Slab { start: [1, 0, 0, 3], count: [2, 1, 1, 1] });
        assert_eq!(offsets, vec![0, 1]);
        // -0.0 may equal 0.0 to the join (it hashes them alike): its cells are kept.
        let k = keys(None, vec![Some(-0.0)], vec![Some(10.0)]);
        let (_, offsets) = GranuleCells::new(&k, &info(), 0).in_slab(&Slab { start: [0, 0, 0, 0], count: [3, 1, 3, 4] }).unwrap();
        assert_eq!(offsets, vec![0, 1, 2]);
    }
}
