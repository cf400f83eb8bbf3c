//! `SampleScanExec`: reads the blocks of a swath, along-track or DSG product
//! whose coordinate bounds intersect the query window, in parallel partitions.
//!
//! A block is a range of the outer sample dimension ("lines": swath lines,
//! profiles, observations); its bounds come from the granule's own 2-D (or
//! per-profile) coordinates, read when the table is created.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, DictionaryArray, Int32Array, StringArray, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type, SchemaRef};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::stats::Precision;
use datafusion::common::{Statistics, internal_err};
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time};
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use oceanql_connectors::ArraySource;
use oceanql_connectors::sample::{Block, SampleLayout};

use crate::footprint;
use crate::near::{NearScan, NearSlot, units_near};
use crate::index::{FOOTPRINT_TOLERANCE, Tile};
use crate::provenance::Provenance;
use crate::tile_stats::{StatsSplit, TileStat, TileStatsSource, stat_positions, tile_stat};
use crate::sample_table::{SampleColumn, SampleProduct};
use crate::scan_stream::{UnitReader, split, unit_stream};
use crate::window::Window;
use crate::distributed::{SplitScan, granules_from_json, granules_json, mark_first_of_granule, pad_partitions, product, spec_from_json, spec_to_json, task_share, usizes};

/// One block of one granule to read.
#[derive(Clone, Debug)]
struct Unit {
    granule: usize,
    /// The tile (of the granule's index entry) this block is.
    tile: usize,
    block: Block,
    /// Lines of this block that no earlier block of the granule covered (for `lines_read`).
    new_lines: usize,
    rows: usize,
    /// The granule's first unit: the one that counts it in `granules_read`.
    first_of_granule: bool,
}

#[derive(Clone, Debug, Default)]
struct PlanSummary {
    granules_total: usize,
    granules_selected: usize,
    lines_total: usize,
    lines_selected: usize,
    blocks_total: usize,
    blocks_selected: usize,
}

/// Scan of a sample product restricted to a space-time window.
#[derive(Debug)]
pub struct SampleScanExec {
    product: Arc<SampleProduct>,
    projection: Vec<usize>,
    schema: SchemaRef,
    window: Window,
    provenance: Provenance,
    limit: Option<usize>,
    partitions: Vec<Arc<Vec<Unit>>>,
    summary: PlanSummary,
    metrics: ExecutionPlanMetricsSet,
    cache: Arc<PlanProperties>,
    /// The points of a space-time join's other side, once known: blocks no point comes near are skipped.
    near: Option<NearSlot>,
}

impl SampleScanExec {
    pub fn try_new(
        product: Arc<SampleProduct>,
        projection: Vec<usize>,
        window: Window,
        limit: Option<usize>,
        target_partitions: usize,
    ) -> Result<Self> {
        Self::try_new_with(product, projection, window, Provenance::default(), limit, target_partitions)
    }

    /// The scan of the blocks in `window` that `provenance` selects (granules, index ranges).
    pub fn try_new_with(
        product: Arc<SampleProduct>,
        projection: Vec<usize>,
        window: Window,
        provenance: Provenance,
        limit: Option<usize>,
        target_partitions: usize,
    ) -> Result<Self> {
        let (units, summary) = plan_units(&product, &window, &provenance);
        Self::from_units(product, projection, (window, provenance), limit, target_partitions, units, summary)
    }

    /// The scan of planned `units`.
    fn from_units(
        product: Arc<SampleProduct>,
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
        product: Arc<SampleProduct>,
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
        let global = |name: &'static str, value: usize| MetricBuilder::new(&metrics).global_counter(name).add(value);
        global("granules_total", summary.granules_total);
        global("granules_pruned", summary.granules_total - summary.granules_selected);
        global("lines_total", summary.lines_total);
        global("lines_pruned", summary.lines_total - summary.lines_selected);
        global("blocks_total", summary.blocks_total);
        global("blocks_pruned", summary.blocks_total - summary.blocks_selected);
        Ok(SampleScanExec { product, projection, schema, window, provenance, limit, partitions, summary, metrics, cache, near: None })
    }

    fn columns(&self) -> Vec<SampleColumn> {
        self.projection.iter().map(|&i| self.product.columns[i].clone()).collect()
    }
}

/// The blocks whose bounds intersect the window, of the granules `provenance`
/// selects and cut to its index ranges, as units of work.
fn plan_units(product: &SampleProduct, window: &Window, provenance: &Provenance) -> (Vec<Unit>, PlanSummary) {
    let mut summary = PlanSummary { granules_total: product.granules().len(), ..Default::default() };
    let mut units = Vec::new();
    let area = window_area(window);
    let outside = |f: &Option<geo::MultiPolygon<f64>>| matches!((f, &area), (Some(f), Some(a)) if !footprint::intersects(f, a));
    let index_names = index_names(product);
    for (g, granule) in product.granules().iter().enumerate() {
        let lines = granule.lines();
        summary.lines_total += lines;
        summary.blocks_total += granule.tiles.len();
        if outside(&granule.footprint) || !provenance.selects_granule(&granule.granule) {
            continue;
        }
        let mut seen = vec![false; lines];
        let mut first = true;
        for (k, tile) in granule.tiles.iter().enumerate().filter(|(_, t)| tile_matches(t, window) && !outside(&t.footprint)) {
            let Some(slice) = provenance.narrow(&index_names, &tile.slice) else { continue };
            let block = Block { lines: slice[0], cells: slice.get(1).copied().unwrap_or((0, 1)) };
            let fresh = &mut seen[block.lines.0..block.lines.1];
            let new_lines = fresh.iter().filter(|s| !**s).count();
            fresh.iter_mut().for_each(|s| *s = true);
            summary.lines_selected += new_lines;
            summary.blocks_selected += 1;
            units.push(Unit { granule: g, tile: k, block, new_lines, rows: block.rows(), first_of_granule: first });
            first = false;
        }
        summary.granules_selected += usize::from(!first);
    }
    (units, summary)
}

/// The names of the product's index columns, by sample dimension.
pub(crate) fn index_names(product: &SampleProduct) -> Vec<String> {
    let mut names: Vec<(usize, String)> = product
        .columns
        .iter()
        .zip(product.schema.fields())
        .filter_map(|(c, f)| match c {
            SampleColumn::Index(k) => Some((*k, f.name().clone())),
            _ => None,
        })
        .collect();
    names.sort();
    names.into_iter().map(|(_, n)| n).collect()
}

/// The window's lat/lon box(es) widened by the footprints' simplification
/// tolerance, to compare with footprints; `None` when it constrains neither.
fn window_area(w: &Window) -> Option<geo::MultiPolygon<f64>> {
    if w.lat.is_all() && w.lon.is_all() {
        return None;
    }
    let pad = FOOTPRINT_TOLERANCE + 1e-9;
    let clamp = |r: &crate::window::Ranges, limit: f64| -> Vec<(f64, f64)> {
        r.0.iter().map(|i| ((i.lo - pad).max(-limit), (i.hi + pad).min(limit))).filter(|(a, b)| a <= b).collect()
    };
    let lons = clamp(&w.lon, 180.0);
    let mut polygons = Vec::new();
    for lat in clamp(&w.lat, 90.0) {
        // A point window (lat = x) is widened by the pad, so the box always has an area.
        if let Some(m) = footprint::bbox_footprint(lat, &lons) {
            polygons.extend(m.0);
        }
    }
    Some(geo::MultiPolygon(polygons))
}

/// Whether some sample of the tile may lie in the window (missing coordinates match no constraint).
fn tile_matches(b: &Tile, w: &Window) -> bool {
    let lat = w.lat.is_all() || b.lat.is_some_and(|(lo, hi)| w.lat.overlaps(lo, hi));
    let lon = w.lon.is_all() || b.lon.iter().any(|&(lo, hi)| w.lon.overlaps(lo, hi));
    let time = w.time.is_all() || b.time.is_some_and(|(lo, hi)| w.time.overlaps(lo as f64, hi as f64));
    lat && lon && time
}

impl DisplayAs for SampleScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.schema.fields().iter().map(|f| f.name().as_str()).collect();
        let s = &self.summary;
        write!(
            f,
            "SampleScanExec: pattern={}, format={}, location={}, granules={}/{}, lines={}/{}, blocks={}/{}, projection=[{}]",
            self.product.pattern.name(),
            self.product.format.name(),
            self.product.location,
            s.granules_selected,
            s.granules_total,
            s.lines_selected,
            s.lines_total,
            s.blocks_selected,
            s.blocks_total,
            names.join(", ")
        )?;
        let w = &self.window;
        for (name, r) in [("time", &w.time), ("lat", &w.lat), ("lon", &w.lon)] {
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
        Ok(())
    }
}

impl ExecutionPlan for SampleScanExec {
    fn name(&self) -> &'static str {
        "SampleScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    crate::leaf_exec_methods!();

    /// The scan emits exactly the samples of its blocks: an exact row count per partition.
    fn statistics_from_inputs(&self, _input_stats: &[Arc<Statistics>], args: &StatisticsArgs) -> Result<Arc<Statistics>> {
        let rows: usize = match args.partition() {
            Some(p) => self.partitions.get(p).map_or(0, |u| u.iter().map(|u| u.rows).sum()),
            None => self.partitions.iter().flat_map(|u| u.iter()).map(|u| u.rows).sum(),
        };
        let stats = Statistics::new_unknown(&self.schema);
        let stats = match self.limit {
            Some(l) => stats.with_num_rows(Precision::Inexact(rows.min(l))),
            None => stats.with_num_rows(Precision::Exact(rows)),
        };
        Ok(Arc::new(stats))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let Some(units) = self.partitions.get(partition).cloned() else {
            return internal_err!("SampleScanExec: partition {partition} out of range");
        };
        crate::distributed::note_worker(&self.metrics, partition, &context);
        let pruned = MetricBuilder::new(&self.metrics).counter("blocks_pruned_by_join", partition);
        let granules = self.product.granules();
        let units = units_near(units, self.near.as_ref(), pruned, |u| {
            let t = &granules[u.granule].tiles[u.tile];
            (t.lat, t.lon.clone(), t.time)
        });
        let counter = |name: &'static str| MetricBuilder::new(&self.metrics).counter(name, partition);
        let reader = PartitionReader {
            product: self.product.clone(),
            columns: self.columns(),
            schema: self.schema.clone(),
            current: None,
            granules_read: counter("granules_read"),
            lines_read: counter("lines_read"),
            blocks_read: counter("blocks_read"),
            bytes_read: counter("bytes_read"),
            rows: counter("rows_decoded"),
            decode_time: MetricBuilder::new(&self.metrics).subset_time("decode_time", partition),
        };
        Ok(unit_stream(self.schema.clone(), units, self.limit, reader))
    }
}

/// Reads the units of one partition, keeping the current granule open.
struct PartitionReader {
    product: Arc<SampleProduct>,
    columns: Vec<SampleColumn>,
    schema: SchemaRef,
    current: Option<(usize, Arc<dyn ArraySource>, Arc<SampleLayout>)>,
    granules_read: Count,
    lines_read: Count,
    blocks_read: Count,
    bytes_read: Count,
    rows: Count,
    decode_time: Time,
}

impl PartitionReader {
    fn needs_data(&self) -> bool {
        self.columns.iter().any(|c| !matches!(c, SampleColumn::Granule | SampleColumn::Index(_)))
    }

    fn open(&mut self, granule: usize) -> Result<(Arc<dyn ArraySource>, Arc<SampleLayout>)> {
        if let Some((g, src, layout)) = &self.current
            && *g == granule
        {
            return Ok((src.clone(), layout.clone()));
        }
        let (src, layout) = self.product.open(granule)?;
        let layout = Arc::new(layout);
        self.current = Some((granule, src.clone(), layout.clone()));
        Ok((src, layout))
    }

    /// One column of a block read from the file.
    fn read_column(&self, col: &SampleColumn, layout: &SampleLayout, src: &dyn ArraySource, unit: &Unit) -> Result<ArrayRef> {
        let b = &unit.block;
        let column = match col {
            SampleColumn::Time => layout.read_time(src, b)?,
            SampleColumn::Lat => layout.read_lat(src, b)?,
            SampleColumn::Lon => layout.read_lon(src, b)?,
            SampleColumn::Z => match &layout.z {
                Some(z) => layout.read(src, &z.var, b)?,
                None => return Ok(new_null_array(&DataType::Float64, unit.rows)),
            },
            SampleColumn::PlatformId => match &layout.platform {
                Some(p) => layout.read(src, p, b)?,
                None => return Ok(new_null_array(&DataType::Utf8, unit.rows)),
            },
            SampleColumn::Var(name) => match layout.var(name) {
                Some(v) => layout.read(src, v, b)?,
                // Not in this granule (the product's other files have it).
                None => return Ok(new_null_array(&DataType::Null, unit.rows)),
            },
            SampleColumn::Granule | SampleColumn::Index(_) => return internal_err!("{col:?} is not read from the file"),
        };
        self.bytes_read.add(column.bytes as usize);
        Ok(column.array)
    }
}

impl UnitReader<Unit> for PartitionReader {
    fn read(&mut self, unit: &Unit) -> Result<RecordBatch> {
        let decode_time = self.decode_time.clone();
        let _timer = decode_time.timer();
        let product = self.product.clone();
        let path = &product.granules()[unit.granule].granule;
        let opened = if self.needs_data() {
            self.granules_read.add(usize::from(unit.first_of_granule));
            self.lines_read.add(unit.new_lines);
            self.blocks_read.add(1);
            Some(self.open(unit.granule)?)
        } else {
            None
        };
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len());
        for (col, field) in self.columns.iter().zip(self.schema.fields()) {
            let array = match (col, &opened) {
                (SampleColumn::Granule, _) => granule_column(path, unit.rows)?,
                (SampleColumn::Index(k), _) => index_column(unit, *k),
                (_, Some((src, layout))) => self.read_column(col, layout, src.as_ref(), unit)?,
                (_, None) => return internal_err!("SampleScanExec: column read without an open granule"),
            };
            arrays.push(if array.data_type() == field.data_type() { array } else { cast(&array, field.data_type())? });
        }
        self.rows.add(unit.rows);
        let options = RecordBatchOptions::new().with_row_count(Some(unit.rows));
        Ok(RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)?)
    }
}

fn granule_column(path: &str, rows: usize) -> Result<ArrayRef> {
    let keys = Int32Array::from(vec![0; rows]);
    let values = Arc::new(StringArray::from(vec![path]));
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values)?))
}

/// The index along sample dimension `k` of every sample of the unit.
fn index_column(unit: &Unit, k: usize) -> ArrayRef {
    let (b, width) = (&unit.block, unit.block.width().max(1));
    let values: Vec<i32> = (0..unit.rows)
        .map(|r| if k == 0 { (b.lines.0 + r / width) as i32 } else { (b.cells.0 + r % width) as i32 })
        .collect();
    Arc::new(Int32Array::from(values))
}

impl TileStatsSource for SampleScanExec {
    fn split_by_stats(&self, window: &Window, vars: &[&str], accept: &dyn Fn(&TileStat) -> bool) -> Result<Option<StatsSplit>> {
        let Some(positions) = stat_positions(&self.product.index.vars, vars) else { return Ok(None) };
        if !window.depth.is_all() || !self.provenance.is_all() {
            return Ok(None); // tiles do not record their depth range; statistics are of whole tiles
        }
        let (mut tiles, mut edge) = (Vec::new(), Vec::new());
        for unit in self.partitions.iter().flat_map(|p| p.iter()) {
            let tile = &self.product.granules()[unit.granule].tiles[unit.tile];
            let stat = tile_stat(tile, &positions).filter(|s| tile.coord_nulls == 0 && tile_inside(tile, window) && accept(s));
            match stat {
                Some(stat) => tiles.push(stat),
                None => edge.push(unit.clone()),
            }
        }
        if tiles.is_empty() {
            return Ok(None);
        }
        let mut previous = None;
        for unit in edge.iter_mut() {
            unit.first_of_granule = previous != Some(unit.granule);
            previous = Some(unit.granule);
        }
        let (selected, scanned) = (tiles.len() + edge.len(), edge.len());
        let mut summary = self.summary.clone();
        summary.blocks_selected = edge.len();
        summary.lines_selected = edge.iter().map(|u| u.new_lines).sum();
        summary.granules_selected = edge.iter().filter(|u| u.first_of_granule).count();
        let partitions = self.partitions.len().max(1);
        let scan = SampleScanExec::from_units(self.product.clone(), self.projection.clone(), (self.window.clone(), self.provenance.clone()), self.limit, partitions, edge, summary)?;
        Ok(Some(StatsSplit { tiles, edge: Arc::new(scan), tiles_selected: selected, tiles_scanned: scanned }))
    }
}

impl NearScan for SampleScanExec {
    fn with_near_slot(&self, slot: NearSlot) -> Result<Arc<dyn ExecutionPlan>> {
        let units: Vec<Unit> = self.partitions.iter().flat_map(|p| p.iter().cloned()).collect();
        let mut scan = SampleScanExec::from_units(
            self.product.clone(),
            self.projection.clone(),
            (self.window.clone(), self.provenance.clone()),
            self.limit,
            self.partitions.len(),
            units,
            self.summary.clone(),
        )?;
        scan.near = Some(slot);
        Ok(Arc::new(scan))
    }
}

crate::scan_unit!(Unit);

impl SplitScan for SampleScanExec {
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
        let mut scan = SampleScanExec::from_partitions(self.product.clone(), self.projection.clone(), filters, self.limit, partitions, self.summary.clone())?;
        if task > 0 {
            scan.metrics = ExecutionPlanMetricsSet::new(); // one task reports the planner's counts
        }
        Ok(Arc::new(scan))
    }
}

impl SampleScanExec {
    /// What a worker needs to rebuild this scan (see `crate::distributed`).
    pub fn encode(&self) -> Result<serde_json::Value> {
        let unit = |u: &Unit| {
            let b = u.block;
            [u.granule, u.tile, b.lines.0, b.lines.1, b.cells.0, b.cells.1, u.new_lines, u.rows, usize::from(u.first_of_granule)]
        };
        let parts: Vec<Vec<[usize; 9]>> = self.partitions.iter().map(|p| p.iter().map(unit).collect()).collect();
        let granules = self.product.granules();
        let used = self.partitions.iter().flat_map(|p| p.iter()).map(|u| (u.granule, granules[u.granule].granule.clone()));
        let s = &self.summary;
        Ok(serde_json::json!({
            "spec": spec_to_json(&self.product.spec),
            "granules": granules_json(used),
            "projection": self.projection,
            "limit": self.limit,
            "partitions": parts,
            "summary": [s.granules_total, s.granules_selected, s.lines_total, s.lines_selected, s.blocks_total, s.blocks_selected],
            "counters": self.metrics.clone_inner().iter().next().is_some(),
        }))
    }

    /// The scan [`SampleScanExec::encode`] described, over this process's copy of the product.
    pub fn decode(desc: &serde_json::Value) -> Result<Arc<dyn ExecutionPlan>> {
        let bad = |what: &str| datafusion::common::exec_datafusion_err!("OceanQL codec: bad sample scan {what}");
        let spec = spec_from_json(&desc["spec"])?;
        let table = product(&spec, &granules_from_json(&desc["granules"])?)?;
        let Some(sample) = table.downcast_ref::<crate::sample_table::SampleTable>() else {
            return internal_err!("{}: a worker opened it as another kind of product", spec.location());
        };
        let unit = |v: Vec<usize>| -> Result<Unit> {
            let [g, tile, l0, l1, c0, c1, new_lines, rows, first] = <[usize; 9]>::try_from(v).map_err(|_| bad("unit"))?;
            let block = Block { lines: (l0, l1), cells: (c0, c1) };
            Ok(Unit { granule: g, tile, block, new_lines, rows, first_of_granule: first == 1 })
        };
        let parts = desc["partitions"].as_array().map(Vec::as_slice).unwrap_or_default();
        let partitions = parts
            .iter()
            .map(|p| p.as_array().map(Vec::as_slice).unwrap_or_default().iter().map(|u| usizes(u).and_then(unit)).collect::<Result<Vec<_>>>().map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let [gt, gs, lt, ls, bt, bs] = <[usize; 6]>::try_from(usizes(&desc["summary"])?).map_err(|_| bad("summary"))?;
        let summary = PlanSummary { granules_total: gt, granules_selected: gs, lines_total: lt, lines_selected: ls, blocks_total: bt, blocks_selected: bs };
        let projection = usizes(&desc["projection"])?;
        let limit = desc["limit"].as_u64().map(|l| l as usize);
        let filters = (Window::default(), Provenance::default());
        let mut scan = SampleScanExec::from_partitions(sample.product().clone(), projection, filters, limit, partitions, summary)?;
        if !desc["counters"].as_bool().unwrap_or(true) {
            scan.metrics = ExecutionPlanMetricsSet::new();
        }
        Ok(Arc::new(scan))
    }
}

/// Whether every sample of the tile lies in the window (its bounds inside the window's ranges).
fn tile_inside(t: &Tile, w: &Window) -> bool {
    let within = |r: &crate::window::Ranges, lo: f64, hi: f64| r.0.iter().any(|i| i.contains(lo) && i.contains(hi));
    let lat = w.lat.is_all() || t.lat.is_some_and(|(lo, hi)| within(&w.lat, lo, hi));
    let lon = w.lon.is_all() || (!t.lon.is_empty() && t.lon.iter().all(|&(lo, hi)| within(&w.lon, lo, hi)));
    let time = w.time.is_all() || t.time.is_some_and(|(lo, hi)| within(&w.time, lo as f64, hi as f64));
    lat && lon && time
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{Interval, Ranges};

    fn block(lat: Option<(f64, f64)>, lon: Vec<(f64, f64)>, time: Option<(i64, i64)>) -> Tile {
        Tile { slice: vec![(0, 1)], time, lat, lon, footprint: None, rows: 1, coord_nulls: 0, stats: vec![] }
    }

    #[test]
    fn blocks_across_the_antimeridian_match_either_side() {
        let b = block(Some((0.0, 10.0)), vec![(170.0, 180.0), (-180.0, -170.0)], Some((0, 10)));
        let mut w = Window { lon: Ranges(vec![Interval { lo: -175.0, lo_incl: true, hi: -172.0, hi_incl: true }]), ..Default::default() };
        assert!(tile_matches(&b, &w));
        w.lon = Ranges(vec![Interval { lo: 0.0, lo_incl: true, hi: 100.0, hi_incl: true }]);
        assert!(!tile_matches(&b, &w));
    }

    #[test]
    fn blocks_without_valid_coordinates_match_only_unconstrained_windows() {
        let b = block(None, vec![], None);
        assert!(tile_matches(&b, &Window::default()));
        let w = Window { lat: Ranges(vec![Interval::point(1.0)]), ..Default::default() };
        assert!(!tile_matches(&b, &w));
    }
}
