//! `GridScanExec`: reads the hyperslabs of a gridded product that intersect
//! the query window, in parallel partitions, with pruning metrics.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{ArrayRef, DictionaryArray, Float64Array, Int32Array, StringArray, TimestampMicrosecondArray, UInt32Array};
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{Int32Type, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::stats::Precision;
use datafusion::common::{Statistics, internal_err};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time};
use datafusion::physical_plan::statistics::StatisticsArgs;
use futures::stream::BoxStream;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use oceanql_connectors::sample::{lon_spans, min_max};
use oceanql_connectors::cf::Packing;
use oceanql_connectors::{GridInfo, GridReader, RawValues, Slab, VarInfo, decode};

use crate::grid_table::{GridColumn, GridProduct};
use crate::provenance::Provenance;
use crate::scan_stream::{UnitReader, read_units, split, unit_stream};
use crate::tile_stats::{StatsSplit, TileStat, TileStatsSource, stat_positions, tile_stat};
use crate::near::{Bounds, NearScan, NearSlot, units_near};
use crate::join_cells::{GranuleCells, JoinKeys, KeyedAxes, cell_indices};
use crate::window::{Ranges, Window};
use crate::distributed::{SplitScan, granules_from_json, granules_json, mark_first_of_granule, pad_partitions, product, spec_from_json, spec_to_json, task_share, usizes};

/// Target number of cells in one unit of work (one record batch).
const TARGET_CELLS: usize = 1 << 18;

/// One hyperslab of one granule to read.
#[derive(Clone, Debug)]
struct Unit {
    granule: usize,
    slab: Slab,
    /// Chunks of the reference variable this unit reads first (not counted by an earlier unit).
    new_chunks: u64,
    /// Whether this is the granule's first unit: the one that counts it in `granules_read`,
    /// even when two partitions share the granule.
    first_of_granule: bool,
}

/// What the planner decided before reading anything.
#[derive(Clone, Debug, Default)]
struct PlanSummary {
    granules_total: usize,
    granules_selected: usize,
    chunks_total: u64,
    chunks_selected: u64,
}

/// Scan of a gridded product restricted to a space-time window.
#[derive(Debug)]
pub struct GridScanExec {
    product: Arc<GridProduct>,
    projection: Vec<usize>,
    schema: SchemaRef,
    window: Window,
    provenance: Provenance,
    limit: Option<usize>,
    partitions: Vec<Arc<Vec<Unit>>>,
    summary: PlanSummary,
    metrics: ExecutionPlanMetricsSet,
    cache: Arc<PlanProperties>,
    /// The points of a space-time join's other side, once known: slabs no point comes near are skipped.
    near: Option<NearSlot>,
    /// The keys of an equi-join's other side on the axis columns, once known: only keyed cells are read.
    join_keys: Option<KeyedAxes>,
}

impl GridScanExec {
    pub fn try_new(
        product: Arc<GridProduct>,
        projection: Vec<usize>,
        window: Window,
        limit: Option<usize>,
        target_partitions: usize,
    ) -> Result<Self> {
        Self::try_new_with(product, projection, window, Provenance::default(), limit, target_partitions)
    }

    /// The scan of the window's cells that `provenance` selects (granules, index ranges).
    pub fn try_new_with(
        product: Arc<GridProduct>,
        projection: Vec<usize>,
        window: Window,
        provenance: Provenance,
        limit: Option<usize>,
        target_partitions: usize,
    ) -> Result<Self> {
        let columns: Vec<GridColumn> = projection.iter().map(|&i| product.columns[i]).collect();
        let reference = reference_var(&product, &columns);
        let (units, summary) = plan_units(&product, &window, &provenance, reference);
        Self::from_units(product, projection, (window, provenance), limit, target_partitions, units, summary)
    }

    /// The scan of planned `units`.
    fn from_units(
        product: Arc<GridProduct>,
        projection: Vec<usize>,
        (window, provenance): (Window, Provenance),
        limit: Option<usize>,
        target_partitions: usize,
        units: Vec<Unit>,
        summary: PlanSummary,
    ) -> Result<Self> {
        let partitions = split(units, target_partitions.max(1));
        Self::from_partitions(product, projection, (window, provenance), limit, partitions, summary)
    }

    /// The scan of units already dealt to `partitions`.
    fn from_partitions(
        product: Arc<GridProduct>,
        projection: Vec<usize>,
        (window, provenance): (Window, Provenance),
        limit: Option<usize>,
        partitions: Vec<Arc<Vec<Unit>>>,
        summary: PlanSummary,
    ) -> Result<Self> {
        let schema = Arc::new(product.schema.project(&projection)?);
        let cache = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema.clone()),
            Partitioning::UnknownPartitioning(partitions.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        let metrics = ExecutionPlanMetricsSet::new();
        let global = |name: &'static str, value: u64| MetricBuilder::new(&metrics).global_counter(name).add(value as usize);
        global("granules_total", summary.granules_total as u64);
        global("granules_pruned", (summary.granules_total - summary.granules_selected) as u64);
        global("chunks_pruned", summary.chunks_total - summary.chunks_selected);
        Ok(GridScanExec { product, projection, schema, window, provenance, limit, partitions, summary, metrics, cache, near: None, join_keys: None })
    }

    fn columns(&self) -> Vec<GridColumn> {
        self.projection.iter().map(|&i| self.product.columns[i]).collect()
    }

    /// The grid column of output column `i`.
    pub fn output_column(&self, i: usize) -> Option<GridColumn> {
        self.projection.get(i).map(|&p| self.product.columns[p])
    }

    /// Whether every unit is read whole: no row limit, no pruning by a join's other side
    /// (what an aggregate inside the scan, [`GridScanExec::execute_decoded`], needs).
    pub fn reads_all_units(&self) -> bool {
        self.limit.is_none() && self.near.is_none() && self.join_keys.is_none()
    }

    /// The same scan reading only the cells `keyed` names once its keys are known (see
    /// `crate::join_cells`); `None` for a scan with a row limit or already restricted.
    pub fn with_join_keys(&self, keyed: KeyedAxes) -> Option<Arc<dyn ExecutionPlan>> {
        if self.limit.is_some() || self.near.is_some() || self.join_keys.is_some() {
            return None;
        }
        let filters = (self.window.clone(), self.provenance.clone());
        let mut scan = GridScanExec::from_partitions(self.product.clone(), self.projection.clone(), filters, None, self.partitions.clone(), self.summary.clone()).ok()?;
        scan.join_keys = Some(keyed);
        Some(Arc::new(scan))
    }

    /// Reads a partition's units as the decoded arrays of output columns `vars` (variables
    /// only) with the slabs' axis values, instead of record batches with coordinate columns.
    /// With `raw`, variables whose raw values [`decode::add_valid`] can sum come as [`UnitVar::Raw`].
    pub fn execute_decoded(&self, partition: usize, context: Arc<TaskContext>, vars: &[usize], raw: bool) -> Result<BoxStream<'static, Result<DecodedUnit>>> {
        let Some(units) = self.partitions.get(partition).cloned() else {
            return internal_err!("GridScanExec: partition {partition} out of range");
        };
        let columns: Option<Vec<GridColumn>> = vars.iter().map(|&i| self.output_column(i).filter(|c| matches!(c, GridColumn::Var(_)))).collect();
        let Some(columns) = columns else {
            return internal_err!("GridScanExec: decoded read of a coordinate column");
        };
        crate::distributed::note_worker(&self.metrics, partition, &context);
        let mut reader = PartitionReader::new(self, partition, columns, self.schema.clone());
        reader.raw = raw;
        let reader = Arc::new(Mutex::new(reader));
        let read = move |unit: Unit| match reader.lock() {
            Ok(mut r) => r.decoded(&unit),
            Err(_) => internal_err!("GridScanExec: a previous read panicked"),
        };
        Ok(read_units(units, None, |d: &DecodedUnit| d.len(), read))
    }
}

/// The decoded variables of one unit and its slab's axis values (time: NaN, depth: NaN
/// when the grid has none): cell `k` of every array is at (t, d, y, x) in row-major order.
pub struct DecodedUnit {
    pub axes: [Vec<f64>; 4],
    pub vars: Vec<UnitVar>,
    /// The time of each step (microseconds); `None` for a granule without time (NULL).
    pub times: Option<Vec<i64>>,
}

/// A variable of a decoded unit: its Arrow array, or its raw values in output order with
/// their packing (for sums taken straight from them, see [`decode::add_valid`]).
pub enum UnitVar {
    Array(ArrayRef),
    Raw(RawValues, Packing),
}

impl UnitVar {
    pub fn array(&self) -> ArrayRef {
        match self {
            UnitVar::Array(a) => a.clone(),
            UnitVar::Raw(raw, packing) => decode::decode_values(raw, packing, &None),
        }
    }
}

impl DecodedUnit {
    pub fn len(&self) -> usize {
        self.axes.iter().map(Vec::len).product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The variable whose chunks are counted: the first projected one, else the product's first.
fn reference_var<'a>(product: &'a GridProduct, columns: &[GridColumn]) -> Option<&'a VarInfo> {
    let first = product.first();
    columns
        .iter()
        .find_map(|c| match c {
            GridColumn::Var(i) => first.vars.get(*i),
            _ => None,
        })
        .or(first.vars.first())
}

/// The index columns of a grid, in canonical (time, depth, lat, lon) axis order.
pub const INDEX_NAMES: [&str; 4] = ["time_index", "depth_index", "lat_index", "lon_index"];

/// Turns the window into units of work over every granule it touches, cut to
/// the granules and index ranges `provenance` selects.
fn plan_units(product: &GridProduct, window: &Window, provenance: &Provenance, reference: Option<&VarInfo>) -> (Vec<Unit>, PlanSummary) {
    let first = product.first();
    let depth_axis = first.depth.clone().unwrap_or_else(|| vec![0.0]);
    let depth_runs = if first.depth.is_some() { window.depth.runs(&depth_axis) } else { vec![(0, 1)] };
    let lat_runs = window.lat.runs(&first.lat);
    let lon_runs = window.lon.runs(&first.lon);
    let chunk_shape = canonical_chunks(reference);
    let mut summary = PlanSummary { granules_total: product.granules.len(), ..Default::default() };
    let mut units = Vec::new();
    for (g, info) in product.granules.iter().enumerate() {
        let shape = info.shape();
        summary.chunks_total += (0..4).map(|a| shape[a].div_ceil(chunk_shape[a]) as u64).product::<u64>();
        let time_runs = if info.has_time { window.time.runs(&info.time.iter().map(|&t| t as f64).collect::<Vec<_>>()) } else { time_runs_without_axis(&window.time) };
        let runs = [time_runs, depth_runs.clone(), lat_runs.clone(), lon_runs.clone()];
        let runs: [Vec<(usize, usize)>; 4] = std::array::from_fn(|a| provenance.cut(INDEX_NAMES[a], &runs[a], shape[a]));
        if runs.iter().any(Vec::is_empty) || !provenance.selects_granule(&info.granule) {
            continue;
        }
        summary.granules_selected += 1;
        let mut seen = HashSet::new();
        for (i, slab) in slabs(&runs, &chunk_shape, shape).into_iter().enumerate() {
            let new_chunks = if reference.is_some() { count_new_chunks(&slab, &chunk_shape, &mut seen) } else { 0 };
            units.push(Unit { granule: g, slab, new_chunks, first_of_granule: i == 0 });
        }
        summary.chunks_selected += seen.len() as u64;
    }
    (units, summary)
}

/// A granule without a time axis has NULL times: it matches only an unconstrained time window.
fn time_runs_without_axis(time: &Ranges) -> Vec<(usize, usize)> {
    if time.is_all() { vec![(0, 1)] } else { vec![] }
}

/// Chunk shape of the reference variable in canonical (time, depth, lat, lon) order.
fn canonical_chunks(var: Option<&VarInfo>) -> [usize; 4] {
    let mut shape = [usize::MAX; 4];
    if let Some(v) = var {
        for (role, &c) in v.dims.iter().zip(&v.chunks) {
            shape[role.axis()] = c.max(1);
        }
    }
    // Axes the variable lacks are never split by its chunks.
    shape.map(|c| if c == usize::MAX { usize::MAX / 2 } else { c })
}

/// Cuts the Cartesian product of runs into chunk-aligned slabs of about [`TARGET_CELLS`].
fn slabs(runs: &[Vec<(usize, usize)>; 4], chunks: &[usize; 4], shape: [usize; 4]) -> Vec<Slab> {
    let mut out = Vec::new();
    for &(t0, t1) in &runs[0] {
        for t in pieces(t0, t1, chunks[0].min(shape[0].max(1))) {
            for &(d0, d1) in &runs[1] {
                for &(y0, y1) in &runs[2] {
                    for &(x0, x1) in &runs[3] {
                        let plane = (x1 - x0) * (d1 - d0) * (t.1 - t.0);
                        let rows = (TARGET_CELLS / plane.max(1)).max(1);
                        let band = (rows / chunks[2].max(1)).max(1).saturating_mul(chunks[2]);
                        for y in aligned_pieces(y0, y1, chunks[2], band) {
                            out.push(Slab { start: [t.0, d0, y.0, x0], count: [t.1 - t.0, d1 - d0, y.1 - y.0, x1 - x0] });
                        }
                    }
                }
            }
        }
    }
    out
}

/// Splits [a, b) at multiples of `chunk`.
fn pieces(a: usize, b: usize, chunk: usize) -> Vec<(usize, usize)> {
    aligned_pieces(a, b, chunk, chunk)
}

/// Splits [a, b) into pieces of at most `band` that end on multiples of `chunk`.
fn aligned_pieces(a: usize, b: usize, chunk: usize, band: usize) -> Vec<(usize, usize)> {
    let chunk = chunk.max(1);
    let band = band.max(chunk);
    let mut out = Vec::new();
    let mut s = a;
    while s < b {
        let limit = (s / chunk) * chunk + band;
        let e = limit.min(b);
        out.push((s, e));
        s = e;
    }
    out
}

/// Counts the chunks a slab touches.
fn chunks_in(slab: &Slab, chunks: &[usize; 4]) -> u64 {
    (0..4).map(|a| if slab.count[a] == 0 { 0 } else { ((slab.start[a] + slab.count[a] - 1) / chunks[a] - slab.start[a] / chunks[a] + 1) as u64 }).product()
}

/// Counts the chunks a slab touches that no earlier slab of the granule touched.
fn count_new_chunks(slab: &Slab, chunks: &[usize; 4], seen: &mut HashSet<[usize; 4]>) -> u64 {
    let range = |a: usize| (slab.start[a] / chunks[a], (slab.start[a] + slab.count[a] - 1) / chunks[a]);
    let r = [range(0), range(1), range(2), range(3)];
    let mut fresh = 0;
    for t in r[0].0..=r[0].1 {
        for d in r[1].0..=r[1].1 {
            for y in r[2].0..=r[2].1 {
                for x in r[3].0..=r[3].1 {
                    fresh += u64::from(seen.insert([t, d, y, x]));
                }
            }
        }
    }
    fresh
}

impl DisplayAs for GridScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
        let s = &self.summary;
        write!(
            f,
            "GridScanExec: format={}, location={}, granules={}/{}, chunks={}/{}, projection=[{}]",
            self.product.format.name(),
            self.product.location,
            s.granules_selected,
            s.granules_total,
            s.chunks_selected,
            s.chunks_total,
            names.join(", ")
        )?;
        let w = &self.window;
        for (name, r) in [("time", &w.time), ("depth", &w.depth), ("lat", &w.lat), ("lon", &w.lon)] {
            if !r.is_all() {
                write!(f, ", {name}={}", r.describe(name == "time"))?;
            }
        }
        if !self.provenance.is_all() {
            write!(f, ", {}", self.provenance.describe())?;
        }
        if let Some(l) = self.limit {
            write!(f, ", limit={l}")?;
        }
        if let Some(k) = &self.join_keys {
            write!(f, ", {}", k.describe())?;
        }
        Ok(())
    }
}

impl ExecutionPlan for GridScanExec {
    fn name(&self) -> &'static str {
        "GridScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    crate::leaf_exec_methods!();

    /// The scan emits exactly the cells of its units: an exact row count per partition.
    fn statistics_from_inputs(&self, _input_stats: &[Arc<Statistics>], args: &StatisticsArgs) -> Result<Arc<Statistics>> {
        let rows: usize = match args.partition() {
            Some(p) => self.partitions.get(p).map_or(0, |u| u.iter().map(|u| u.slab.len()).sum()),
            None => self.partitions.iter().flat_map(|u| u.iter()).map(|u| u.slab.len()).sum(),
        };
        let rows = self.limit.map_or(rows, |l| rows.min(l));
        let stats = Statistics::new_unknown(&self.schema).with_num_rows(if self.limit.is_some() {
            Precision::Inexact(rows)
        } else {
            Precision::Exact(rows)
        });
        Ok(Arc::new(stats))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let Some(units) = self.partitions.get(partition).cloned() else {
            return internal_err!("GridScanExec: partition {partition} out of range");
        };
        crate::distributed::note_worker(&self.metrics, partition, &context);
        let pruned = MetricBuilder::new(&self.metrics).counter("slabs_pruned_by_join", partition);
        let units = units_near(units, self.near.as_ref(), pruned.clone(), |u| slab_bounds(&self.product.granules[u.granule], &u.slab));
        let mut reader = PartitionReader::new(self, partition, self.columns(), self.schema.clone());
        let chunks = canonical_chunks(reference_var(&self.product, &self.columns()));
        reader.join = self.join_keys.clone().map(|keyed| KeyedReads { keyed, skipped: pruned, cells: None, chunks });
        Ok(unit_stream(self.schema.clone(), units, self.limit, reader))
    }
}

/// Reads units of one partition, keeping the current granule open.
struct PartitionReader {
    product: Arc<GridProduct>,
    columns: Vec<GridColumn>,
    schema: SchemaRef,
    current: Option<(usize, Arc<dyn GridReader>)>,
    granules_read: Count,
    chunks_read: Count,
    bytes_read: Count,
    rows: Count,
    decode_time: Time,
    join: Option<KeyedReads>,
    /// Decoded reads may hand variables over raw ([`UnitVar::Raw`]).
    raw: bool,
}

/// What a partition reading only the cells of a join's keys keeps.
struct KeyedReads {
    keyed: KeyedAxes,
    /// Units without a keyed cell.
    skipped: Count,
    /// The keyed cells of the granule read last.
    cells: Option<GranuleCells>,
    /// Chunk shape of the reference variable, to count the chunks read.
    chunks: [usize; 4],
}

impl PartitionReader {
    fn new(scan: &GridScanExec, partition: usize, columns: Vec<GridColumn>, schema: SchemaRef) -> Self {
        let counter = |name: &'static str| MetricBuilder::new(&scan.metrics).counter(name, partition);
        PartitionReader {
            product: scan.product.clone(),
            columns,
            schema,
            current: None,
            granules_read: counter("granules_read"),
            chunks_read: counter("chunks_read"),
            bytes_read: counter("bytes_read"),
            rows: counter("rows_decoded"),
            decode_time: MetricBuilder::new(&scan.metrics).subset_time("decode_time", partition),
            join: None,
            raw: false,
        }
    }

    /// The unit's variables decoded (the reader's columns are all variables), with its axes.
    fn decoded(&mut self, unit: &Unit) -> Result<DecodedUnit> {
        let decode_time = self.decode_time.clone();
        let _timer = decode_time.timer();
        let product = self.product.clone();
        let info = &product.granules[unit.granule];
        let reader = self.reader_for(unit)?;
        let mut vars = Vec::with_capacity(self.columns.len());
        for col in &self.columns {
            let (GridColumn::Var(i), Some(reader)) = (col, reader.as_ref()) else {
                return internal_err!("GridScanExec: decoded read of a coordinate column");
            };
            let (raw, own) = self.read_raw(reader.as_ref(), &product.first().vars[*i], &unit.slab)?;
            vars.push(if self.raw && decode::in_output_order(&own.dims, &unit.slab) && decode::adds_valid(&raw, &own.packing) {
                UnitVar::Raw(raw, own.packing.clone())
            } else {
                UnitVar::Array(decode::to_arrow(own, &raw, &unit.slab)?)
            });
        }
        let ([_, d0, y0, x0], [nt, nd, ny, nx]) = (unit.slab.start, unit.slab.count);
        let depth = match &info.depth {
            Some(depth) => depth[d0..d0 + nd].to_vec(),
            None => vec![f64::NAN; nd],
        };
        let axes = [vec![f64::NAN; nt], depth, info.lat[y0..y0 + ny].to_vec(), info.lon[x0..x0 + nx].to_vec()];
        self.rows.add(unit.slab.len());
        let times = info.has_time.then(|| info.time[unit.slab.start[0]..unit.slab.start[0] + nt].to_vec());
        Ok(DecodedUnit { axes, vars, times })
    }

    /// The unit's granule, opened (and counted) when the reader reads variables.
    fn reader_for(&mut self, unit: &Unit) -> Result<Option<Arc<dyn GridReader>>> {
        if !self.needs_data() {
            return Ok(None);
        }
        self.chunks_read.add(unit.new_chunks as usize);
        self.granules_read.add(usize::from(unit.first_of_granule));
        self.open(unit.granule).map(Some)
    }

    fn needs_data(&self) -> bool {
        self.columns.iter().any(|c| matches!(c, GridColumn::Var(_)))
    }

    fn open(&mut self, granule: usize) -> Result<Arc<dyn GridReader>> {
        if let Some((g, r)) = &self.current
            && *g == granule
        {
            return Ok(r.clone());
        }
        let path = &self.product.granules[granule].granule;
        let reader = self.product.format.open(path)?;
        self.current = Some((granule, reader.clone()));
        Ok(reader)
    }

}

impl UnitReader<Unit> for PartitionReader {
    fn read(&mut self, unit: &Unit) -> Result<RecordBatch> {
        if let Some(keys) = self.join.as_ref().and_then(|j| j.keyed.keys()) {
            return self.read_cells(unit, &keys);
        }
        let decode_time = self.decode_time.clone();
        let _timer = decode_time.timer();
        let product = self.product.clone();
        let info = &product.granules[unit.granule];
        let reader = self.reader_for(unit)?;
        let slab = &unit.slab;
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for col in &self.columns {
            arrays.push(match col {
                GridColumn::Var(i) => {
                    let Some(reader) = reader.as_ref() else {
                        return internal_err!("GridScanExec: variable read without an open granule");
                    };
                    self.read_var(reader.as_ref(), &self.product.first().vars[*i], slab)?
                }
                other => coordinate_column(*other, info, slab, unit.granule)?,
            });
        }
        self.rows.add(slab.len());
        let options = RecordBatchOptions::new().with_row_count(Some(slab.len()));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)?)
    }
}

impl PartitionReader {
    /// The cells of `unit` that the join's keys name (none: no read at all).
    fn read_cells(&mut self, unit: &Unit, keys: &JoinKeys) -> Result<RecordBatch> {
        let product = self.product.clone();
        let info = &product.granules[unit.granule];
        let Some(join) = self.join.as_mut() else { return internal_err!("GridScanExec: cells read without join keys") };
        if join.cells.as_ref().is_none_or(|c| c.granule != unit.granule) {
            join.cells = Some(GranuleCells::new(keys, info, unit.granule));
        }
        let Some((slab, offsets)) = join.cells.as_ref().and_then(|c| c.in_slab(&unit.slab)) else {
            join.skipped.add(1);
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        };
        let chunks = join.chunks;
        let decode_time = self.decode_time.clone();
        let _timer = decode_time.timer();
        // Counted as reader_for counts a whole unit, but for the chunks of the box only, and the
        // granule by whichever partition reads it first (its planned first unit may be skipped).
        let first_of_granule = keys.first_read_of(unit.granule);
        let boxed = Unit { slab, new_chunks: chunks_in(&slab, &chunks), first_of_granule, ..unit.clone() };
        let reader = self.reader_for(&boxed)?;
        let picked = UInt32Array::from(offsets.clone());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for col in &self.columns {
            arrays.push(match (col, reader.as_ref()) {
                (GridColumn::Var(i), Some(reader)) => take(&self.read_var(reader.as_ref(), &product.first().vars[*i], &slab)?, &picked, None)?,
                (GridColumn::Var(_), None) => return internal_err!("GridScanExec: variable read without an open granule"),
                (other, _) => cell_coordinates(*other, info, &slab, &offsets)?,
            });
        }
        self.rows.add(slab.len());
        let options = RecordBatchOptions::new().with_row_count(Some(offsets.len()));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)?)
    }

    fn read_var(&self, reader: &dyn GridReader, var: &VarInfo, slab: &Slab) -> Result<ArrayRef> {
        let (raw, own) = self.read_raw(reader, var, slab)?;
        decode::to_arrow(own, &raw, slab)
    }

    /// The raw values of `var` over `slab`, with the granule's own copy of the variable's
    /// attributes (checked equal in type).
    fn read_raw<'a>(&self, reader: &'a dyn GridReader, var: &'a VarInfo, slab: &Slab) -> Result<(RawValues, &'a VarInfo)> {
        let own = reader.info().var(&var.name).unwrap_or(var);
        let (start, count) = slab.for_dims(&own.dims);
        let (raw, bytes) = reader.read_raw(own, &start, &count)?;
        self.bytes_read.add(bytes as usize);
        Ok((raw, own))
    }
}

/// Builds a coordinate or provenance column for a slab, without touching the file.
fn coordinate_column(col: GridColumn, info: &GridInfo, slab: &Slab, _granule: usize) -> Result<ArrayRef> {
    let [nt, nd, ny, nx] = slab.count;
    let [t0, d0, y0, x0] = slab.start;
    let per_t = nd * ny * nx;
    let per_d = ny * nx;
    let idx = |axis: usize| -> Vec<i32> {
        let mut v = Vec::with_capacity(slab.len());
        for t in 0..nt {
            for d in 0..nd {
                for y in 0..ny {
                    for x in 0..nx {
                        let i = [t0 + t, d0 + d, y0 + y, x0 + x][axis];
                        v.push(i as i32);
                    }
                }
            }
        }
        v
    };
    Ok(match col {
        GridColumn::Time => {
            if info.has_time {
                let mut v = Vec::with_capacity(slab.len());
                for t in 0..nt {
                    v.extend(std::iter::repeat_n(info.time[t0 + t], per_t));
                }
                Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
            } else {
                Arc::new(TimestampMicrosecondArray::from(vec![None; slab.len()]).with_timezone("UTC"))
            }
        }
        GridColumn::Depth => {
            let depth = info.depth.as_deref().unwrap_or(&[]);
            let mut v = Vec::with_capacity(slab.len());
            for _ in 0..nt {
                for d in 0..nd {
                    v.extend(std::iter::repeat_n(depth.get(d0 + d).copied().unwrap_or(f64::NAN), per_d));
                }
            }
            Arc::new(Float64Array::from(v))
        }
        GridColumn::Lat => {
            let mut v = Vec::with_capacity(slab.len());
            for _ in 0..nt * nd {
                for y in 0..ny {
                    v.extend(std::iter::repeat_n(info.lat[y0 + y], nx));
                }
            }
            Arc::new(Float64Array::from(v))
        }
        GridColumn::Lon => {
            let row = &info.lon[x0..x0 + nx];
            let mut v = Vec::with_capacity(slab.len());
            for _ in 0..nt * nd * ny {
                v.extend_from_slice(row);
            }
            Arc::new(Float64Array::from(v))
        }
        GridColumn::Granule => {
            let keys = Int32Array::from(vec![0; slab.len()]);
            let values = Arc::new(StringArray::from(vec![info.granule.as_str()]));
            Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values)?)
        }
        GridColumn::TimeIndex => Arc::new(Int32Array::from(idx(0))),
        GridColumn::DepthIndex => Arc::new(Int32Array::from(idx(1))),
        GridColumn::LatIndex => Arc::new(Int32Array::from(idx(2))),
        GridColumn::LonIndex => Arc::new(Int32Array::from(idx(3))),
        GridColumn::Var(_) => return internal_err!("variable column built as a coordinate"),
    })
}

/// A coordinate column for the cells at `offsets` of `slab` (see [`cell_indices`]).
fn cell_coordinates(col: GridColumn, info: &GridInfo, slab: &Slab, offsets: &[u32]) -> Result<ArrayRef> {
    let cells = || cell_indices(slab, offsets);
    let index = |a: usize| -> ArrayRef { Arc::new(Int32Array::from_iter_values(cells().map(|p| p[a] as i32))) };
    Ok(match col {
        GridColumn::Time if info.has_time => Arc::new(TimestampMicrosecondArray::from_iter_values(cells().map(|p| info.time[p[0]])).with_timezone("UTC")),
        GridColumn::Depth => Arc::new(Float64Array::from_iter_values(cells().map(|p| info.depth.as_ref().map_or(f64::NAN, |d| d[p[1]])))),
        GridColumn::Lat => Arc::new(Float64Array::from_iter_values(cells().map(|p| info.lat[p[2]]))),
        GridColumn::Lon => Arc::new(Float64Array::from_iter_values(cells().map(|p| info.lon[p[3]]))),
        GridColumn::TimeIndex => index(0),
        GridColumn::DepthIndex => index(1),
        GridColumn::LatIndex => index(2),
        GridColumn::LonIndex => index(3),
        // NULL times and the granule's name are alike for every cell: any slab of as many cells.
        other => coordinate_column(other, info, &Slab { start: slab.start, count: [offsets.len(), 1, 1, 1] }, 0)?,
    })
}

impl TileStatsSource for GridScanExec {
    fn split_by_stats(&self, window: &Window, vars: &[&str], accept: &dyn Fn(&TileStat) -> bool) -> Result<Option<StatsSplit>> {
        // Axis ranges pushed down Exact have no filter left above the scan: they are in its window.
        let window = &window.intersect(&self.window);
        let index = &self.product.index;
        let Some(positions) = stat_positions(&index.vars, vars) else { return Ok(None) };
        if !self.provenance.is_all() {
            return Ok(None); // statistics are of whole tiles
        }
        let first = self.product.first();
        let depth_axis = first.depth.clone().unwrap_or_else(|| vec![0.0]);
        let depth_runs = if first.depth.is_some() { window.depth.runs(&depth_axis) } else { vec![(0, 1)] };
        let (lat_runs, lon_runs) = (window.lat.runs(&first.lat), window.lon.runs(&first.lon));
        let columns = self.columns();
        let chunk_shape = canonical_chunks(reference_var(&self.product, &columns));
        let (mut tiles, mut units) = (Vec::new(), Vec::new());
        let (mut selected, mut scanned) = (0, 0);
        for (g, info) in self.product.granules.iter().enumerate() {
            let entry = &index.granules[g];
            let time_axis: Vec<f64> = info.time.iter().map(|&t| t as f64).collect();
            let time_runs = if info.has_time { window.time.runs(&time_axis) } else { time_runs_without_axis(&window.time) };
            let runs = [time_runs, depth_runs.clone(), lat_runs.clone(), lon_runs.clone()];
            if runs.iter().any(Vec::is_empty) {
                continue;
            }
            let mut seen = HashSet::new();
            let mut first = true;
            for tile in &entry.tiles {
                let slice = canonical_slice(&tile.slice, info.depth.is_some());
                let clipped: Vec<Vec<(usize, usize)>> = (0..4).map(|a| clip(&runs[a], slice[a])).collect();
                if clipped.iter().any(Vec::is_empty) {
                    continue;
                }
                selected += 1;
                let stat = tile_stat(tile, &positions);
                let whole = (0..4).all(|a| clipped[a] == [slice[a]]);
                if let Some(stat) = stat.filter(|s| whole && tile.coord_nulls == 0 && accept(s)) {
                    tiles.push(stat);
                    continue;
                }
                scanned += 1;
                let clipped: [Vec<(usize, usize)>; 4] = [clipped[0].clone(), clipped[1].clone(), clipped[2].clone(), clipped[3].clone()];
                for slab in slabs(&clipped, &chunk_shape, info.shape()) {
                    let new_chunks = count_new_chunks(&slab, &chunk_shape, &mut seen);
                    units.push(Unit { granule: g, slab, new_chunks, first_of_granule: first });
                    first = false;
                }
            }
        }
        if tiles.is_empty() {
            return Ok(None);
        }
        let summary = PlanSummary {
            granules_total: self.summary.granules_total,
            granules_selected: units.iter().filter(|u| u.first_of_granule).count(),
            chunks_total: self.summary.chunks_total,
            chunks_selected: units.iter().map(|u| u.new_chunks).sum(),
        };
        let partitions = self.partitions.len().max(1);
        let edge = GridScanExec::from_units(self.product.clone(), self.projection.clone(), (self.window.clone(), self.provenance.clone()), self.limit, partitions, units, summary)?;
        Ok(Some(StatsSplit { tiles, edge: Arc::new(edge), tiles_selected: selected, tiles_scanned: scanned }))
    }
}

impl NearScan for GridScanExec {
    fn with_near_slot(&self, slot: NearSlot) -> Result<Arc<dyn ExecutionPlan>> {
        let units: Vec<Unit> = self.partitions.iter().flat_map(|p| p.iter().cloned()).collect();
        let filters = (self.window.clone(), self.provenance.clone());
        let mut scan = GridScanExec::from_units(self.product.clone(), self.projection.clone(), filters, self.limit, self.partitions.len(), units, self.summary.clone())?;
        scan.near = Some(slot);
        Ok(Arc::new(scan))
    }
}

crate::scan_unit!(Unit);

impl SplitScan for GridScanExec {
    fn unit_count(&self) -> usize {
        self.partitions.iter().map(|p| p.len()).sum()
    }

    fn task_variant(&self, task: usize, tasks: usize) -> Result<Arc<dyn ExecutionPlan>> {
        let all: Vec<Unit> = self.partitions.iter().flat_map(|p| p.iter().cloned()).collect();
        let mut units = task_share(&all, task, tasks);
        mark_first_of_granule(&mut units);
        let n = self.partitions.len();
        let partitions = pad_partitions(split(units, n), n);
        let filters = (self.window.clone(), self.provenance.clone());
        let mut scan = GridScanExec::from_partitions(self.product.clone(), self.projection.clone(), filters, self.limit, partitions, self.summary.clone())?;
        scan.plan_counters(task == 0);
        Ok(Arc::new(scan))
    }
}

impl GridScanExec {
    /// Whether this copy reports the planner's counts (granules_total, ...): only one task of
    /// a distributed scan does, so that the counts add up.
    fn plan_counters(&mut self, on: bool) {
        if !on {
            self.metrics = ExecutionPlanMetricsSet::new();
        }
    }

    /// What a worker needs to rebuild this scan (see `crate::distributed`).
    pub fn encode(&self) -> Result<serde_json::Value> {
        let unit = |u: &Unit| {
            let (s, c) = (u.slab.start, u.slab.count);
            [u.granule, s[0], s[1], s[2], s[3], c[0], c[1], c[2], c[3], u.new_chunks as usize, usize::from(u.first_of_granule)]
        };
        let parts: Vec<Vec<[usize; 11]>> = self.partitions.iter().map(|p| p.iter().map(unit).collect()).collect();
        let used = self.partitions.iter().flat_map(|p| p.iter()).map(|u| (u.granule, self.product.granules[u.granule].granule.clone()));
        let s = &self.summary;
        Ok(serde_json::json!({
            "spec": spec_to_json(&self.product.spec),
            "granules": granules_json(used),
            "projection": self.projection,
            "limit": self.limit,
            "partitions": parts,
            "summary": [s.granules_total, s.granules_selected, s.chunks_total as usize, s.chunks_selected as usize],
            "counters": self.metrics.clone_inner().iter().next().is_some(),
        }))
    }

    /// The scan [`GridScanExec::encode`] described, over this process's copy of the product.
    pub fn decode(desc: &serde_json::Value) -> Result<Arc<dyn ExecutionPlan>> {
        let spec = spec_from_json(&desc["spec"])?;
        let table = product(&spec, &granules_from_json(&desc["granules"])?)?;
        let Some(grid) = table.downcast_ref::<crate::grid_table::GridTable>() else {
            return internal_err!("{}: a worker opened it as another kind of product", spec.location());
        };
        let unit = |v: Vec<usize>| -> Result<Unit> {
            let [g, s0, s1, s2, s3, c0, c1, c2, c3, chunks, first] = <[usize; 11]>::try_from(v)
                .map_err(|_| datafusion::common::exec_datafusion_err!("OceanQL codec: bad grid unit"))?;
            Ok(Unit { granule: g, slab: Slab { start: [s0, s1, s2, s3], count: [c0, c1, c2, c3] }, new_chunks: chunks as u64, first_of_granule: first == 1 })
        };
        let parts = desc["partitions"].as_array().map(Vec::as_slice).unwrap_or_default();
        let partitions = parts
            .iter()
            .map(|p| p.as_array().map(Vec::as_slice).unwrap_or_default().iter().map(|u| usizes(u).and_then(unit)).collect::<Result<Vec<_>>>().map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let [gt, gs, ct, cs] = <[usize; 4]>::try_from(usizes(&desc["summary"])?)
            .map_err(|_| datafusion::common::exec_datafusion_err!("OceanQL codec: bad grid summary"))?;
        let summary = PlanSummary { granules_total: gt, granules_selected: gs, chunks_total: ct as u64, chunks_selected: cs as u64 };
        let projection = usizes(&desc["projection"])?;
        let limit = desc["limit"].as_u64().map(|l| l as usize);
        let filters = (Window::default(), Provenance::default());
        let mut scan = GridScanExec::from_partitions(grid.product().clone(), projection, filters, limit, partitions, summary)?;
        scan.plan_counters(desc["counters"].as_bool().unwrap_or(true));
        Ok(Arc::new(scan))
    }
}

/// Latitude range, longitude spans and time range of a slab, from the granule's axes.
fn slab_bounds(info: &GridInfo, slab: &Slab) -> Bounds {
    let [t0, _, y0, x0] = slab.start;
    let [nt, _, ny, nx] = slab.count;
    let lat = min_max(info.lat[y0..y0 + ny].iter().copied());
    let lon = lon_spans(&Float64Array::from(info.lon[x0..x0 + nx].to_vec()));
    let times = &info.time[t0..t0 + nt];
    let time = info.has_time.then(|| (times.iter().copied().min().unwrap_or(0), times.iter().copied().max().unwrap_or(0)));
    (lat, lon, time)
}

/// A tile's slice in canonical (time, depth, lat, lon) order.
fn canonical_slice(slice: &[(usize, usize)], has_depth: bool) -> [(usize, usize); 4] {
    if has_depth { [slice[0], slice[1], slice[2], slice[3]] } else { [slice[0], (0, 1), slice[1], slice[2]] }
}

/// The parts of `runs` inside `[a, b)`.
fn clip(runs: &[(usize, usize)], (a, b): (usize, usize)) -> Vec<(usize, usize)> {
    runs.iter().filter_map(|&(s, e)| (s.max(a) < e.min(b)).then_some((s.max(a), e.min(b)))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_pieces_follow_chunks() {
        assert_eq!(aligned_pieces(5, 30, 10, 10), vec![(5, 10), (10, 20), (20, 30)]);
        assert_eq!(aligned_pieces(0, 25, 10, 20), vec![(0, 20), (20, 25)]);
        assert_eq!(pieces(3, 4, 1), vec![(3, 4)]);
    }

    #[test]
    fn counts_each_chunk_once() {
        let mut seen = HashSet::new();
        let chunks = [1, 1, 10, 10];
        let a = Slab { start: [0, 0, 5, 5], count: [1, 1, 10, 10] };
        assert_eq!(count_new_chunks(&a, &chunks, &mut seen), 4);
        let b = Slab { start: [0, 0, 12, 12], count: [1, 1, 3, 3] };
        assert_eq!(count_new_chunks(&b, &chunks, &mut seen), 0);
    }
}
