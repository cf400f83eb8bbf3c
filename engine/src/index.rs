//! The granule and tile index of a product: for each granule (file or store)
//! its version (size, modification time), time range, bounding box and
//! footprint; for each of its tiles (a chunk of a grid, a block of swath
//! lines x cells, a run of profiles or observations) the slice it covers, its
//! time range, bounding box, footprint, and per numeric variable the count,
//! minimum, maximum and sum of the valid values.
//!
//! Built by `oceanql index` (with statistics) and kept as Parquet next to the
//! data ([`crate::index_store`]); a table without one computes the same
//! entries, without statistics, when it is created.

use datafusion::arrow::array::{Array, Float64Array};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::Result;
use geo::MultiPolygon;
use oceanql_connectors::cf::attrs_json;
use oceanql_connectors::sample::{Block, Kind, Pattern, SampleLayout, as_f64, lon_spans, min_max};
use oceanql_connectors::{ArraySource, GridInfo, GridReader, Slab, decode};

use crate::footprint;
use crate::tile_stats::VarStats;

/// Largest tile side along a grid's lat and lon axes (larger chunks are cut).
pub const GRID_TILE_MAX: usize = 256;
/// Simplification tolerance of swath footprints, in degrees.
pub const FOOTPRINT_TOLERANCE: f64 = 0.02;

/// What identifies a version of a granule: size in bytes and modification
/// time (microseconds since the epoch; 0 when unknown). Both 0 for a table
/// without an index, which never compares them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Version {
    pub size: u64,
    pub modified: i64,
}

/// One tile of a granule.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    /// `[start, end)` along each slice dimension of the product ([`ProductIndex::slice_names`]).
    pub slice: Vec<(usize, usize)>,
    pub time: Option<(i64, i64)>,
    pub lat: Option<(f64, f64)>,
    /// Longitude ranges in [-180, 180] (two when the tile crosses the antimeridian).
    pub lon: Vec<(f64, f64)>,
    pub footprint: Option<MultiPolygon<f64>>,
    /// Samples (cells) in the tile, and how many of them lack a time, lat or lon.
    pub rows: u64,
    pub coord_nulls: u64,
    /// Statistics of each of the product's [`ProductIndex::vars`], in order; empty without statistics.
    pub stats: Vec<VarStats>,
}

impl Tile {
    /// The tile as a block of a sample product: lines, then cells (or `(0, 1)`).
    pub fn block(&self) -> Block {
        Block { lines: self.slice[0], cells: self.slice.get(1).copied().unwrap_or((0, 1)) }
    }
}

/// One granule of the index.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexedGranule {
    pub granule: String,
    pub version: Version,
    pub time: Option<(i64, i64)>,
    pub lat: Option<(f64, f64)>,
    pub lon: Vec<(f64, f64)>,
    pub footprint: Option<MultiPolygon<f64>>,
    /// Lengths of the granule's dimensions, as `name=len, ...`.
    pub dimensions: String,
    /// Global attributes as a JSON object.
    pub attributes: String,
    /// A grid's time axis (microseconds); `None` for a grid without one and for other patterns.
    pub time_axis: Option<Vec<i64>>,
    pub tiles: Vec<Tile>,
    pub has_stats: bool,
}

impl IndexedGranule {
    /// Samples along the outer sample dimension (lines) of a sample product.
    pub fn lines(&self) -> usize {
        self.tiles.iter().map(|t| t.slice[0].1).max().unwrap_or(0)
    }
}

/// The index of one product.
#[derive(Clone, Debug)]
pub struct ProductIndex {
    pub pattern: Pattern,
    /// Names of the slice dimensions: `time_index, [depth_index,] lat_index, lon_index` for grids,
    /// the sample index columns (e.g. `line`, `cell`) for others.
    pub slice_names: Vec<String>,
    /// Variables with statistics, in the order of each tile's `stats`.
    pub vars: Vec<String>,
    /// The product table's schema.
    pub schema: SchemaRef,
    pub granules: Vec<IndexedGranule>,
}

impl ProductIndex {
    /// The entry of `granule` if it is indexed at `version`.
    pub fn find(&self, granule: &str, version: Version) -> Option<&IndexedGranule> {
        self.granules.iter().find(|g| g.granule == granule && g.version == version)
    }
}

/// The slice dimension names of a grid product.
pub fn grid_slice_names(info: &GridInfo) -> Vec<String> {
    let mut names = vec!["time_index"];
    if info.depth.is_some() {
        names.push("depth_index");
    }
    names.extend(["lat_index", "lon_index"]);
    names.into_iter().map(String::from).collect()
}

/// Numeric variables of a grid product that get statistics.
pub fn grid_stat_vars(info: &GridInfo) -> Vec<String> {
    info.vars.iter().map(|v| v.name.clone()).collect()
}

/// Numeric variables of a sample product that get statistics.
pub fn sample_stat_vars(layout: &SampleLayout) -> Vec<String> {
    layout.vars.iter().filter(|v| matches!(v.kind, Kind::Numeric(_))).map(|v| v.name.clone()).collect()
}

/// A grid's tile shape in canonical (time, depth, lat, lon) order: one time
/// step and one level, the chunks of the first variable along lat and lon (at
/// most [`GRID_TILE_MAX`]).
pub fn grid_tile_shape(info: &GridInfo, tile_size: Option<(usize, usize)>) -> [usize; 4] {
    let shape = info.shape();
    let mut tile = [1, 1, shape[2], shape[3]];
    if let Some(v) = info.vars.first() {
        for (role, &c) in v.dims.iter().zip(&v.chunks) {
            let a = role.axis();
            if a >= 2 {
                tile[a] = c.max(1);
            }
        }
    }
    tile[2] = tile[2].min(GRID_TILE_MAX);
    tile[3] = tile[3].min(GRID_TILE_MAX);
    if let Some((lat, lon)) = tile_size {
        (tile[2], tile[3]) = (lat.max(1), lon.max(1));
    }
    tile
}

/// The index entry of one grid granule; `stats` reads every variable.
pub fn grid_granule(
    reader: &dyn GridReader,
    version: Version,
    tile_size: Option<(usize, usize)>,
    stats: Option<&[String]>,
) -> Result<IndexedGranule> {
    let info = reader.info();
    let shape = info.shape();
    let tile = grid_tile_shape(info, tile_size);
    let mut tiles = Vec::new();
    for t in steps(shape[0], tile[0]) {
        for d in steps(shape[1], tile[1]) {
            for y in steps(shape[2], tile[2]) {
                for x in steps(shape[3], tile[3]) {
                    tiles.push(grid_tile(reader, [t, d, y, x], stats)?);
                }
            }
        }
    }
    let lat = min_max(info.lat.iter().copied());
    let lon = lon_spans(&Float64Array::from(info.lon.clone()));
    let time = if info.has_time { range(info.time.iter().copied()) } else { None };
    Ok(IndexedGranule {
        granule: info.granule.clone(),
        version,
        time,
        lat,
        footprint: lat.and_then(|l| footprint::bbox_footprint(l, &lon)),
        lon,
        dimensions: grid_dimensions(info),
        attributes: attrs_json(reader.global_attrs()),
        time_axis: info.has_time.then(|| info.time.clone()),
        tiles,
        has_stats: stats.is_some(),
    })
}

/// The smallest and largest of some times.
fn range(values: impl Iterator<Item = i64>) -> Option<(i64, i64)> {
    values.fold(None, |acc, x| Some(acc.map_or((x, x), |(lo, hi): (i64, i64)| (lo.min(x), hi.max(x)))))
}

/// A grid granule's dimensions as `time=1, [depth=n, ]lat=n, lon=n`.
pub fn grid_dimensions(info: &GridInfo) -> String {
    let shape = info.shape();
    let dims = [("time", shape[0]), ("depth", if info.depth.is_some() { shape[1] } else { 0 }), ("lat", shape[2]), ("lon", shape[3])];
    dims.iter().filter(|(_, n)| *n > 0).map(|(d, n)| format!("{d}={n}")).collect::<Vec<_>>().join(", ")
}

/// `[start, end)` steps of `len` cut every `step`.
fn steps(len: usize, step: usize) -> Vec<(usize, usize)> {
    (0..len).step_by(step.max(1)).map(|s| (s, (s + step).min(len))).collect()
}

fn grid_tile(reader: &dyn GridReader, [t, d, y, x]: [(usize, usize); 4], stats: Option<&[String]>) -> Result<Tile> {
    let info = reader.info();
    let slab = Slab { start: [t.0, d.0, y.0, x.0], count: [t.1 - t.0, d.1 - d.0, y.1 - y.0, x.1 - x.0] };
    let lat = min_max(info.lat[y.0..y.1].iter().copied());
    let lon = lon_spans(&Float64Array::from(info.lon[x.0..x.1].to_vec()));
    let time = if info.has_time { range(info.time[t.0..t.1].iter().copied()) } else { None };
    let mut slice = vec![t];
    if info.depth.is_some() {
        slice.push(d);
    }
    slice.extend([y, x]);
    let rows = slab.len() as u64;
    let mut values = Vec::new();
    for name in stats.unwrap_or(&[]) {
        let Some(var) = info.var(name) else {
            values.push(VarStats::EMPTY);
            continue;
        };
        let (start, count) = slab.for_dims(&var.dims);
        let (raw, _) = reader.read_raw(var, &start, &count)?;
        values.push(var_stats(decode::to_arrow(var, &raw, &slab)?.as_ref())?);
    }
    Ok(Tile {
        slice,
        time,
        lat,
        footprint: lat.and_then(|l| footprint::bbox_footprint(l, &lon)),
        lon,
        rows,
        coord_nulls: if info.has_time { 0 } else { rows },
        stats: values,
    })
}

/// Count, min, max and sum of the non-null values of a numeric array.
pub fn var_stats(array: &dyn Array) -> Result<VarStats> {
    let values = as_f64(&datafusion::arrow::array::make_array(array.to_data()))?;
    let mut s = VarStats::EMPTY;
    for x in values.iter().flatten() {
        s.push(x);
    }
    Ok(s)
}

/// The index entry of one granule of a swath, along-track or DSG product:
/// one tile per block ([`SampleLayout::blocks`], or of `tile_size` lines x cells);
/// `stats` reads every numeric variable.
pub fn sample_granule(
    src: &dyn ArraySource,
    layout: &SampleLayout,
    target_rows: usize,
    tile_size: Option<(usize, usize)>,
    version: Version,
    stats: Option<&[String]>,
) -> Result<IndexedGranule> {
    let (lines, cells) = (layout.outer_len(), layout.inner_len());
    let whole = Block { lines: (0, lines), cells: (0, cells) };
    let lat = as_f64(&layout.read_lat(src, &whole)?.array)?;
    let lon = as_f64(&layout.read_lon(src, &whole)?.array)?;
    let time = match &layout.time {
        Some(_) => Some(layout.read_time(src, &whole)?.array),
        None => None,
    };
    let times: Option<Vec<Option<i64>>> = match &time {
        Some(t) => {
            let t = datafusion::arrow::compute::cast(t, &datafusion::arrow::datatypes::DataType::Int64)?;
            let t = t.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().cloned();
            t.map(|t| t.iter().collect())
        }
        None => None,
    };
    let swath = layout.pattern == Pattern::Swath && layout.dims.len() == 2;
    let mut tiles = Vec::new();
    let blocks = match tile_size {
        Some((lines, cells)) => layout.fixed_blocks(lines, cells),
        None => layout.blocks(target_rows),
    };
    for block in blocks {
        tiles.push(sample_tile(src, layout, &block, cells, [&lat, &lon], times.as_deref(), swath, stats)?);
    }
    let lat_range = min_max(lat.iter().flatten());
    let lon_range = lon_spans(&lon);
    let footprint = if swath {
        let nan = |a: &Float64Array| a.iter().map(|x| x.unwrap_or(f64::NAN)).collect::<Vec<_>>();
        footprint::swath_footprint(&nan(&lat), &nan(&lon), lines, cells, FOOTPRINT_TOLERANCE)
    } else {
        union_of_boxes(&tiles)
    };
    let time_range = range(tiles.iter().filter_map(|t| t.time).flat_map(|(a, b)| [a, b]));
    Ok(IndexedGranule {
        granule: src.granule().to_string(),
        version,
        time: time_range,
        lat: lat_range,
        lon: lon_range,
        footprint,
        dimensions: layout.dims.iter().map(|(d, n)| format!("{d}={n}")).collect::<Vec<_>>().join(", "),
        attributes: attrs_json(src.global_attrs()),
        time_axis: None,
        tiles,
        has_stats: stats.is_some(),
    })
}

/// The footprint of a non-swath granule: its tiles' bounding boxes.
fn union_of_boxes(tiles: &[Tile]) -> Option<MultiPolygon<f64>> {
    let polygons: Vec<_> = tiles.iter().filter_map(|t| t.footprint.as_ref()).flat_map(|m| m.0.iter().cloned()).collect();
    (!polygons.is_empty()).then_some(MultiPolygon(polygons))
}

/// One block of a sample granule as a tile; `coords` are the whole granule's lat and lon.
#[allow(clippy::too_many_arguments)]
fn sample_tile(
    src: &dyn ArraySource,
    layout: &SampleLayout,
    block: &Block,
    cells: usize,
    [lat, lon]: [&Float64Array; 2],
    times: Option<&[Option<i64>]>,
    swath: bool,
    stats: Option<&[String]>,
) -> Result<Tile> {
    let positions: Vec<usize> =
        (block.lines.0..block.lines.1).flat_map(|l| (block.cells.0..block.cells.1).map(move |c| l * cells.max(1) + c)).collect();
    let pick = |a: &Float64Array| -> Float64Array { positions.iter().map(|&i| a.is_valid(i).then(|| a.value(i))).collect() };
    let (block_lat, block_lon) = (pick(lat), pick(lon));
    let block_times: Vec<Option<i64>> = match times {
        Some(t) => positions.iter().map(|&i| t[i]).collect(),
        None => vec![None; positions.len()],
    };
    let coord_nulls = (0..positions.len())
        .filter(|&i| block_lat.is_null(i) || block_lon.is_null(i) || block_times[i].is_none())
        .count() as u64;
    let lat_range = min_max(block_lat.iter().flatten());
    let lon_range = lon_spans(&block_lon);
    let footprint = if swath {
        let nan = |a: &Float64Array| a.iter().map(|x| x.unwrap_or(f64::NAN)).collect::<Vec<_>>();
        footprint::swath_footprint(&nan(&block_lat), &nan(&block_lon), block.line_count(), block.width(), FOOTPRINT_TOLERANCE)
    } else {
        lat_range.and_then(|l| footprint::bbox_footprint(l, &lon_range))
    };
    let mut values = Vec::new();
    for name in stats.unwrap_or(&[]) {
        values.push(match layout.var(name) {
            Some(v) => var_stats(layout.read(src, v, block)?.array.as_ref())?,
            None => VarStats::EMPTY,
        });
    }
    let mut slice = vec![block.lines];
    if layout.dims.len() == 2 {
        slice.push(block.cells);
    }
    Ok(Tile {
        slice,
        time: range(block_times.iter().flatten().copied()),
        lat: lat_range,
        lon: lon_range,
        footprint,
        rows: positions.len() as u64,
        coord_nulls,
        stats: values,
    })
}
