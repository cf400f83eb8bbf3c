//! Swaths, along-track products and CF discrete sampling geometries (DSG):
//! products whose rows are samples along one or two dimensions, each sample
//! with its own coordinates (the 2-D lat/lon of a swath, the position of a
//! profile, the time of a line).
//!
//! [`detect`] tells the pattern from a granule's metadata; [`SampleLayout`]
//! maps every variable onto the sample dimensions (broadcasting per-line or
//! per-profile values, dropping length-1 dimensions, expanding contiguous
//! ragged arrays) and reads any range of the outer dimension as Arrow columns.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Float64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

use crate::Result;
use crate::cf::{AttrValue, Packing, TimeUnits, file_error, metadata_attrs, normalize_lon, packing_from_attrs};
use crate::decode::{decode_values, numeric_type};
use crate::grid::{RawVar, Role, SourceType};
use crate::source::ArraySource;

/// Cells across a swath in one block (before alignment to chunks).
pub const SWATH_CELLS: usize = 256;
/// Most samples in one block of a swath.
pub const SWATH_ROWS: usize = 1 << 14;

/// The observation patterns of a product (cerbere's, as in DESIGN.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    Grid,
    Swath,
    AlongTrack,
    Trajectory,
    TimeSeries,
    Profile,
}

impl Pattern {
    pub const ALL: [Pattern; 6] =
        [Pattern::Grid, Pattern::Swath, Pattern::AlongTrack, Pattern::Trajectory, Pattern::TimeSeries, Pattern::Profile];

    pub fn name(self) -> &'static str {
        match self {
            Pattern::Grid => "grid",
            Pattern::Swath => "swath",
            Pattern::AlongTrack => "alongtrack",
            Pattern::Trajectory => "trajectory",
            Pattern::TimeSeries => "timeseries",
            Pattern::Profile => "profile",
        }
    }

    /// Parses a pattern name (`along-track`, `along_track` and `timeSeries` accepted).
    pub fn parse(text: &str) -> Option<Pattern> {
        let key: String = text.trim().to_ascii_lowercase().chars().filter(|c| *c != '-' && *c != '_').collect();
        Pattern::ALL.into_iter().find(|p| p.name() == key)
    }

    /// A CF discrete sampling geometry (has `platform_id` and an optional vertical column).
    pub fn is_dsg(self) -> bool {
        matches!(self, Pattern::Trajectory | Pattern::TimeSeries | Pattern::Profile)
    }

    /// Names of the index columns, one per sample dimension.
    fn index_names(self, ndims: usize) -> Vec<&'static str> {
        let two = ndims == 2;
        match self {
            Pattern::Grid | Pattern::Swath | Pattern::AlongTrack if two => vec!["row", "cell"],
            Pattern::Grid | Pattern::Swath | Pattern::AlongTrack => vec!["row"],
            Pattern::Trajectory if two => vec!["trajectory", "obs"],
            Pattern::Trajectory => vec!["obs"],
            Pattern::TimeSeries if two => vec!["station", "obs"],
            Pattern::TimeSeries => vec!["obs"],
            Pattern::Profile if two => vec!["profile", "level"],
            Pattern::Profile => vec!["level"],
        }
    }
}

/// Tells the pattern of a granule: CF `featureType` first, then the shape of
/// its coordinates: 1-D latitude and longitude on two different dimensions
/// make a grid, on the same dimension an along-track product; a 2-D latitude
/// makes a swath.
pub fn detect(src: &dyn ArraySource) -> Result<Pattern> {
    if let Some(ft) = src.global_text("featureType") {
        match ft.trim().to_ascii_lowercase().as_str() {
            "trajectory" | "point" => return Ok(Pattern::Trajectory),
            "timeseries" => return Ok(Pattern::TimeSeries),
            "profile" | "trajectoryprofile" | "timeseriesprofile" => return Ok(Pattern::Profile),
            _ => {}
        }
    }
    let no_lat = || {
        file_error(
            src.granule(),
            None,
            "no latitude variable found (CF axis Y, standard_name latitude, units degrees_north, or a usual name): cannot tell the observation pattern",
        )
    };
    let lat = pick_coord(src, Role::Lat, None, |_| true)?.ok_or_else(no_lat)?;
    let lon = pick_coord(src, Role::Lon, None, |_| true)?;
    let lat_dims = effective_dims(lat);
    let lon_dims = lon.map(effective_dims).unwrap_or_default();
    match (lat_dims.as_slice(), lon_dims.as_slice()) {
        ([a], [b]) if a != b => Ok(Pattern::Grid),
        ([_], _) => Ok(Pattern::AlongTrack),
        ([_, _], _) => Ok(Pattern::Swath),
        _ => Err(file_error(
            src.granule(),
            Some(&lat.name),
            format!(
                "latitude has {} non-trivial dimensions; set OPTIONS ('pattern' ...) to one of {}",
                lat_dims.len(),
                pattern_names()
            ),
        )),
    }
}

/// The accepted pattern names, for messages.
pub fn pattern_names() -> String {
    Pattern::ALL.map(|p| p.name()).join(", ")
}

/// Names of coordinate variables chosen by the user (`OPTIONS ('lat' 'lat_20hz', ...)`).
#[derive(Clone, Debug, Default)]
pub struct CoordNames {
    pub time: Option<String>,
    pub lat: Option<String>,
    pub lon: Option<String>,
    pub depth: Option<String>,
    pub platform_id: Option<String>,
}

/// How one dimension of a variable maps onto the sample dimensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DimMap {
    /// The k-th sample dimension.
    Sample(usize),
    /// A dimension of length 1 (e.g. GHRSST's `time`): index 0.
    Unit,
    /// The string length of a character variable (its last dimension).
    Chars,
    /// The instance dimension of a contiguous ragged array (`rowSize`).
    Instance,
}

/// How a variable's values are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Numeric(SourceType),
    Text,
}

/// A variable mapped onto the sample dimensions.
#[derive(Clone, Debug)]
pub struct SampleVar {
    /// Name in the file (and the column name of data variables).
    pub name: String,
    pub dims: Vec<DimMap>,
    pub kind: Kind,
    pub packing: Packing,
    /// Text attributes kept as Arrow field metadata.
    pub attrs: BTreeMap<String, String>,
    /// Chunk shape in storage order (the full shape when contiguous).
    chunks: Vec<usize>,
    /// Length of each dimension, in storage order.
    shape: Vec<usize>,
}

impl SampleVar {
    /// Arrow type of the decoded column.
    pub fn data_type(&self) -> DataType {
        match self.kind {
            Kind::Numeric(t) => numeric_type(t, &self.packing),
            Kind::Text => DataType::Utf8,
        }
    }

    fn is_identity(&self, ndims: usize) -> bool {
        let mapped: Vec<DimMap> = self.dims.iter().copied().filter(|d| *d != DimMap::Unit).collect();
        mapped == (0..ndims).map(DimMap::Sample).collect::<Vec<_>>()
    }
}

/// The time coordinate: a variable in CF time units, plus GHRSST's per-pixel
/// `sst_dtime` offset (seconds) when the product has one.
#[derive(Clone, Debug)]
pub struct TimeCoord {
    pub var: SampleVar,
    units: TimeUnits,
    pub offset: Option<SampleVar>,
}

/// A ragged array: the instance (trajectory, station, profile) of each
/// observation of the sample dimension.
#[derive(Clone, Debug)]
pub struct Ragged {
    /// The variable that defines it (`rowSize`, or the index variable).
    pub row_size: String,
    kind: RaggedKind,
}

#[derive(Clone, Debug)]
enum RaggedKind {
    /// Contiguous: observations of instance `i` are `offsets[i]..offsets[i + 1]`.
    Contiguous(Vec<usize>),
    /// Indexed (`instance_dimension`): the instance of each observation.
    Indexed(Vec<usize>),
}

impl Ragged {
    fn instance_of(&self, obs: usize) -> usize {
        match &self.kind {
            RaggedKind::Contiguous(offsets) => offsets.partition_point(|&o| o <= obs).saturating_sub(1),
            RaggedKind::Indexed(index) => index.get(obs).copied().unwrap_or(0),
        }
    }

    /// The instances to read for observations `start..end`: first and count (of `len`).
    fn instance_range(&self, start: usize, end: usize, len: usize) -> (usize, usize) {
        match &self.kind {
            RaggedKind::Contiguous(_) => {
                let first = self.instance_of(start);
                let last = self.instance_of(end.saturating_sub(1).max(start));
                (first, (last + 1 - first).min(len - first))
            }
            RaggedKind::Indexed(_) => (0, len),
        }
    }
}

/// The vertical coordinate of a DSG product and its column name (`depth` or `pressure`).
#[derive(Clone, Debug)]
pub struct ZCoord {
    pub column: &'static str,
    pub var: SampleVar,
}

/// One granule's structure: sample dimensions, coordinates and variables.
#[derive(Clone, Debug)]
pub struct SampleLayout {
    pub granule: String,
    pub pattern: Pattern,
    /// The sample dimensions (outer first) and their lengths.
    pub dims: Vec<(String, usize)>,
    /// Column names of the sample indices.
    pub index_names: Vec<&'static str>,
    pub time: Option<TimeCoord>,
    pub lat: SampleVar,
    pub lon: SampleVar,
    pub z: Option<ZCoord>,
    pub platform: Option<SampleVar>,
    /// Data variables, in file order.
    pub vars: Vec<SampleVar>,
    pub ragged: Option<Ragged>,
}

/// A rectangle of samples: lines `lines.0..lines.1` of the outer sample
/// dimension and cells `cells.0..cells.1` of the inner one (all of it, or
/// `(0, 1)` when there is none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub lines: (usize, usize),
    pub cells: (usize, usize),
}

impl Block {
    pub fn line_count(&self) -> usize {
        self.lines.1 - self.lines.0
    }

    pub fn width(&self) -> usize {
        self.cells.1 - self.cells.0
    }

    /// Samples in the block.
    pub fn rows(&self) -> usize {
        self.line_count() * self.width()
    }
}

/// Space-time bounds of a block (valid coordinates only).
#[derive(Clone, Debug, PartialEq)]
pub struct BlockSummary {
    pub block: Block,
    /// Latitude range; `None` when every latitude is missing.
    pub lat: Option<(f64, f64)>,
    /// Longitude ranges in [-180, 180] (two when the block crosses the antimeridian).
    pub lon: Vec<(f64, f64)>,
    /// Time range in microseconds; `None` when there is no valid time.
    pub time: Option<(i64, i64)>,
}

/// Decoded values of one column over a block, and the bytes read for them.
pub struct Column {
    pub array: ArrayRef,
    pub bytes: u64,
}

impl SampleLayout {
    /// Maps the granule's variables onto the sample dimensions of `pattern`.
    pub fn new(src: &dyn ArraySource, pattern: Pattern, names: &CoordNames) -> Result<SampleLayout> {
        if pattern == Pattern::Grid {
            return Err(file_error(src.granule(), None, "a gridded product has no sample layout"));
        }
        let granule = src.granule().to_string();
        let lat_raw = required(src, Role::Lat, names.lat.as_deref(), "latitude")?;
        let lon_raw = required(src, Role::Lon, names.lon.as_deref(), "longitude")?;
        let ragged = if pattern.is_dsg() { ragged(src)? } else { None };
        let instance_dim = ragged.as_ref().map(|(dim, _, _)| dim.clone());
        let time_raw = pick_coord(src, Role::Time, names.time.as_deref(), |v| effective_dims(v).len() <= 2)?;
        let z_raw = if pattern.is_dsg() { pick_coord(src, Role::Depth, names.depth.as_deref(), |_| true)? } else { None };
        let dims = sample_dims(src, pattern, lat_raw, &[Some(lon_raw), time_raw, z_raw], instance_dim.as_deref())?;
        let map = |v: &RawVar| map_var(v, &dims, instance_dim.as_deref());
        let must_map = |v: &RawVar, what: &str| {
            map(v).ok_or_else(|| {
                file_error(
                    &granule,
                    Some(&v.name),
                    format!(
                        "inconsistent dimensions: the {what} variable has dimensions ({}) but the samples are ({})",
                        dim_list(&v.dims),
                        dim_list(&dims)
                    ),
                )
            })
        };
        let lat = must_map(lat_raw, "latitude")?;
        let lon = must_map(lon_raw, "longitude")?;
        let time = match time_raw {
            Some(v) => Some(time_coord(src, v, must_map(v, "time")?, &dims, instance_dim.as_deref())?),
            None => None,
        };
        let z = match z_raw {
            Some(v) => Some(ZCoord { column: z_column(v), var: must_map(v, "vertical")? }),
            None => None,
        };
        let platform_raw = if pattern.is_dsg() { platform_var(src, names.platform_id.as_deref())? } else { None };
        let platform = match platform_raw {
            Some(v) => Some(must_map(v, "platform id")?),
            None => None,
        };
        let index_names = pattern.index_names(dims.len());
        let mut used: Vec<&str> = [Some(lat_raw), Some(lon_raw), time_raw, z_raw, platform_raw]
            .into_iter()
            .flatten()
            .map(|v| v.name.as_str())
            .collect();
        if let Some((_, name, _)) = &ragged {
            used.push(name.as_str());
        }
        let reserved = reserved_names(&index_names, z.as_ref().map(|z| z.column));
        let mut vars = Vec::new();
        for v in src.vars() {
            if used.contains(&v.name.as_str()) || reserved.contains(&v.name.as_str()) {
                continue;
            }
            if let Some(sv) = map(v).filter(|sv| sv.dims.iter().any(|d| matches!(d, DimMap::Sample(_) | DimMap::Instance))) {
                vars.push(sv);
            }
        }
        let ragged = ragged.map(|(_, row_size, kind)| Ragged { row_size, kind });
        Ok(SampleLayout { granule, pattern, dims, index_names, time, lat, lon, z, platform, vars, ragged })
    }

    /// Length of the outer sample dimension (lines, profiles, observations).
    pub fn outer_len(&self) -> usize {
        self.dims.first().map_or(0, |d| d.1)
    }

    /// Samples per outer index (pixels per line, levels per profile).
    pub fn inner_len(&self) -> usize {
        self.dims[1..].iter().map(|d| d.1).product()
    }

    pub fn var(&self, name: &str) -> Option<&SampleVar> {
        self.vars.iter().find(|v| v.name == name)
    }

    /// Cuts the samples into blocks of about `target_rows`, aligned to the
    /// latitude variable's chunks. A swath's lines are also cut across, into
    /// blocks of [`SWATH_CELLS`] cells and at most [`SWATH_ROWS`] samples (64
    /// lines), so that a small box in a wide swath reads only the cells near
    /// it and a time window only the lines near it; other patterns keep whole
    /// inner rows (a profile's levels, a trajectory's observations).
    pub fn blocks(&self, target_rows: usize) -> Vec<Block> {
        let (n, inner) = (self.outer_len(), self.inner_len());
        let swath = self.pattern == Pattern::Swath && self.dims.len() == 2;
        let (target, width) =
            if swath { (target_rows.min(SWATH_ROWS), self.aligned(SWATH_CELLS, 1, inner)) } else { (target_rows, inner) };
        let lines = self.aligned((target / width.max(1)).max(1), 0, n).max(1);
        // Blocks shorter than a chunk go chunk by chunk (all the blocks of one chunk in a row),
        // so that a chunk is inflated once and kept for its next blocks.
        let band = self.chunk_along(0, n).max(lines) / lines * lines;
        let mut blocks = Vec::new();
        for b in (0..n).step_by(band) {
            for c in (0..inner).step_by(width.max(1)) {
                for l in (b..(b + band).min(n)).step_by(lines) {
                    blocks.push(Block { lines: (l, (l + lines).min(n)), cells: (c, (c + width).min(inner)) });
                }
            }
        }
        blocks
    }

    /// Blocks of exactly `lines` lines x `cells` cells (fewer at the ends), line-major.
    pub fn fixed_blocks(&self, lines: usize, cells: usize) -> Vec<Block> {
        let (n, inner) = (self.outer_len(), self.inner_len());
        let (lines, cells) = (lines.max(1), cells.max(1));
        let mut blocks = Vec::new();
        for l in (0..n).step_by(lines) {
            for c in (0..inner).step_by(cells) {
                blocks.push(Block { lines: (l, (l + lines).min(n)), cells: (c, (c + cells).min(inner)) });
            }
        }
        blocks
    }

    /// The latitude's chunk length along sample dimension `k` (1 when it has none), at most `len`.
    fn chunk_along(&self, k: usize, len: usize) -> usize {
        let chunk = self.lat.dims.iter().position(|d| *d == DimMap::Sample(k)).map_or(1, |i| self.lat.chunks[i]);
        chunk.clamp(1, len.max(1))
    }

    /// `per` rounded down to whole chunks of the latitude along sample dimension `k` (when it holds one).
    fn aligned(&self, per: usize, k: usize, len: usize) -> usize {
        let chunk = self.chunk_along(k, len);
        let per = per.min(len.max(1));
        if per >= chunk { per / chunk * chunk } else { per }
    }

    /// Reads the coordinates of each block and returns their space-time bounds.
    pub fn summarize(&self, src: &dyn ArraySource, target_rows: usize) -> Result<Vec<BlockSummary>> {
        self.blocks(target_rows)
            .into_iter()
            .map(|block| {
                let lat = as_f64(&self.read_lat(src, &block)?.array)?;
                let lon = as_f64(&self.read_lon(src, &block)?.array)?;
                let time = match &self.time {
                    Some(_) => Some(self.read_time(src, &block)?.array),
                    None => None,
                };
                Ok(BlockSummary { block, lat: min_max(lat.iter().flatten()), lon: lon_spans(&lon), time: time_range(time)? })
            })
            .collect()
    }

    /// Latitudes of a block, NULL where missing or out of [-90, 90].
    pub fn read_lat(&self, src: &dyn ArraySource, block: &Block) -> Result<Column> {
        let c = self.read(src, &self.lat, block)?;
        let lat = as_f64(&c.array)?;
        let array: Float64Array = lat.iter().map(|x| x.filter(|v| v.is_finite() && v.abs() <= 90.0)).collect();
        Ok(Column { array: Arc::new(array), bytes: c.bytes })
    }

    /// Longitudes of a block in [-180, 180), NULL where missing.
    pub fn read_lon(&self, src: &dyn ArraySource, block: &Block) -> Result<Column> {
        let c = self.read(src, &self.lon, block)?;
        let lon = as_f64(&c.array)?;
        let array: Float64Array = lon.iter().map(|x| x.filter(|v| v.is_finite()).map(normalize_lon)).collect();
        Ok(Column { array: Arc::new(array), bytes: c.bytes })
    }

    /// Times of a block as UTC timestamps (reference time plus the per-pixel
    /// offset where the product has one); NULL where either is missing.
    pub fn read_time(&self, src: &dyn ArraySource, block: &Block) -> Result<Column> {
        let rows = block.rows();
        let Some(t) = &self.time else {
            return Ok(Column { array: Arc::new(TimestampMicrosecondArray::from(vec![None; rows]).with_timezone("UTC")), bytes: 0 });
        };
        let base = self.read(src, &t.var, block)?;
        let values = as_f64(&base.array)?;
        let mut bytes = base.bytes;
        let offsets = match &t.offset {
            Some(o) => {
                let c = self.read(src, o, block)?;
                bytes += c.bytes;
                Some(as_f64(&c.array)?)
            }
            None => None,
        };
        // Times repeat (one per granule or per line): convert each distinct run once.
        let mut last: Option<(f64, Option<i64>)> = None;
        let micros: TimestampMicrosecondArray = (0..values.len())
            .map(|i| {
                let v = values.value(i);
                let base = match last {
                    _ if values.is_null(i) => None,
                    Some((prev, us)) if prev == v => us,
                    _ => {
                        let us = t.units.to_micros(v);
                        last = Some((v, us));
                        us
                    }
                }?;
                // A pixel without its offset has no known time (as reference + NaT in xarray):
                // the reference time would be up to a whole granule off, and would widen
                // every block's time range to the reference time, defeating time pruning.
                let offset = match &offsets {
                    Some(o) if o.is_null(i) => return None,
                    Some(o) => o.value(i),
                    None => 0.0,
                };
                Some(base + (offset * 1e6).round() as i64)
            })
            .collect();
        Ok(Column { array: Arc::new(micros.with_timezone("UTC")), bytes })
    }

    /// Reads `var` over a block, broadcast to one value per sample.
    pub fn read(&self, src: &dyn ArraySource, var: &SampleVar, block: &Block) -> Result<Column> {
        let raw_var = src.var(&var.name)?;
        let (starts, counts) = self.hyperslab(var, block);
        let identity = var.is_identity(self.dims.len()) && var.kind != Kind::Text;
        match var.kind {
            Kind::Numeric(_) => {
                let (raw, bytes) = src.read(raw_var, &starts, &counts)?;
                let order = if identity { None } else { Some(self.order(var, &counts, block)) };
                Ok(Column { array: decode_values(&raw, &var.packing, &order), bytes })
            }
            Kind::Text => {
                let (raw, bytes) = src.read_chars(raw_var, &starts, &counts)?;
                let width = var.dims.iter().zip(&counts).find(|(d, _)| **d == DimMap::Chars).map_or(1, |(_, c)| *c);
                let order = self.order(var, &counts, block);
                let text: StringArray = order.iter().map(|&i| text_at(&raw, i, width)).collect();
                Ok(Column { array: Arc::new(text), bytes })
            }
        }
    }

    /// Start and count of `var` for a block.
    fn hyperslab(&self, var: &SampleVar, block: &Block) -> (Vec<usize>, Vec<usize>) {
        let (start, end) = block.lines;
        var.dims
            .iter()
            .zip(&var.shape)
            .map(|(d, &len)| match d {
                DimMap::Sample(0) => (start, end - start),
                DimMap::Sample(_) => (block.cells.0, block.width()),
                DimMap::Unit => (0, 1),
                DimMap::Chars => (0, len),
                DimMap::Instance => self.ragged.as_ref().map_or((0, len), |r| r.instance_range(start, end, len)),
            })
            .unzip()
    }

    /// For each sample of the block, the index of its (first) raw element.
    fn order(&self, var: &SampleVar, counts: &[usize], block: &Block) -> Vec<usize> {
        if !var.dims.iter().any(|d| matches!(d, DimMap::Sample(_) | DimMap::Instance)) {
            return vec![0; block.rows()]; // one value for every sample (GHRSST's reference time)
        }
        let (start, end) = block.lines;
        let mut strides = vec![0usize; counts.len()];
        let mut s = 1;
        for i in (0..counts.len()).rev() {
            strides[i] = s;
            s *= counts[i];
        }
        let inner = block.width();
        let first_instance = self.ragged.as_ref().map_or(0, |r| r.instance_range(start, end, usize::MAX).0);
        let mut order = Vec::with_capacity((end - start) * inner);
        for i in 0..end - start {
            let instance = self.ragged.as_ref().map_or(0, |r| r.instance_of(start + i) - first_instance);
            for j in 0..inner {
                let at = var.dims.iter().zip(&strides).map(|(d, st)| {
                    st * match d {
                        DimMap::Sample(0) => i,
                        DimMap::Sample(_) => j,
                        DimMap::Unit | DimMap::Chars => 0,
                        DimMap::Instance => instance,
                    }
                });
                order.push(at.sum());
            }
        }
        order
    }
}

/// The text of `width` bytes at `at`, trimmed; NULL when empty (CF char fill is a blank or NUL).
fn text_at(raw: &[u8], at: usize, width: usize) -> Option<String> {
    let bytes = raw.get(at..at + width)?;
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end]).trim().to_string();
    (!text.is_empty()).then_some(text)
}

pub fn as_f64(array: &ArrayRef) -> Result<Float64Array> {
    let c = cast(array, &DataType::Float64)?;
    Ok(c.as_any().downcast_ref::<Float64Array>().cloned().unwrap_or_else(|| Float64Array::from(vec![None::<f64>; array.len()])))
}

pub fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, x| match acc {
        None => Some((x, x)),
        Some((lo, hi)) => Some((lo.min(x), hi.max(x))),
    })
}

/// The narrowest longitude cover of some values: one range, or two when it
/// is narrower to go across the antimeridian.
pub fn lon_spans(lon: &Float64Array) -> Vec<(f64, f64)> {
    let Some((lo, hi)) = min_max(lon.iter().flatten()) else { return vec![] };
    let Some((lo360, hi360)) = min_max(lon.iter().flatten().map(|x| if x < 0.0 { x + 360.0 } else { x })) else {
        return vec![];
    };
    if hi360 - lo360 >= hi - lo {
        return vec![(lo, hi)];
    }
    if hi360 < 180.0 {
        vec![(lo360, hi360)]
    } else if lo360 >= 180.0 {
        vec![(lo360 - 360.0, hi360 - 360.0)]
    } else {
        vec![(lo360, 180.0), (-180.0, hi360 - 360.0)]
    }
}

fn time_range(time: Option<ArrayRef>) -> Result<Option<(i64, i64)>> {
    let Some(t) = time else { return Ok(None) };
    let t = cast(&t, &DataType::Int64)?;
    let Some(t) = t.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>() else { return Ok(None) };
    Ok(t.iter().flatten().fold(None, |acc, x| match acc {
        None => Some((x, x)),
        Some((lo, hi)) => Some((lo.min(x), hi.max(x))),
    }))
}

/// Dimensions of a variable other than those of length 1 (and a character variable's string length).
fn effective_dims(v: &RawVar) -> Vec<&(String, usize)> {
    let n = v.dims.len();
    v.dims.iter().enumerate().filter(|(i, (_, len))| *len != 1 && !(v.text && *i == n - 1)).map(|(_, d)| d).collect()
}

/// How strongly a variable claims `role`: 0 by CF axis, 1 by standard_name, 2 by units or name.
fn claim(v: &RawVar, role: Role) -> Option<u8> {
    if v.dtype.is_none() || crate::cf::coordinate_role(&v.name, &v.attrs) != Some(role) {
        return None;
    }
    let only = |k: &str| {
        let attrs: BTreeMap<String, AttrValue> = v.attrs.iter().filter(|(n, _)| n.as_str() == k).map(|(n, a)| (n.clone(), a.clone())).collect();
        crate::cf::coordinate_role("", &attrs) == Some(role)
    };
    Some(if only("axis") { 0 } else if only("standard_name") { 1 } else { 2 })
}

/// The coordinate variable for `role`: the one named by the user, else the
/// one with the fewest dimensions among those `accept`s, strongest claim first.
fn pick_coord<'a>(
    src: &'a dyn ArraySource,
    role: Role,
    named: Option<&str>,
    accept: impl Fn(&RawVar) -> bool,
) -> Result<Option<&'a RawVar>> {
    if let Some(name) = named {
        return src.vars().iter().find(|v| v.name == name).map(Some).ok_or_else(|| {
            file_error(src.granule(), Some(name), "named in OPTIONS as a coordinate, but there is no such variable")
        });
    }
    Ok(src
        .vars()
        .iter()
        .filter(|v| accept(v))
        .filter_map(|v| claim(v, role).map(|c| (effective_dims(v).len(), c, v)))
        .min_by_key(|(n, c, _)| (*n, *c))
        .map(|(_, _, v)| v))
}

fn required<'a>(src: &'a dyn ArraySource, role: Role, named: Option<&str>, what: &str) -> Result<&'a RawVar> {
    pick_coord(src, role, named, |_| true)?.ok_or_else(|| {
        file_error(src.granule(), None, format!("no {what} variable found; name it with OPTIONS ('{}' '<variable>')", role_option(role)))
    })
}

fn role_option(role: Role) -> &'static str {
    match role {
        Role::Time => "time",
        Role::Depth => "depth",
        Role::Lat => "lat",
        Role::Lon => "lon",
    }
}

/// The sample dimensions of a granule.
fn sample_dims(
    src: &dyn ArraySource,
    pattern: Pattern,
    lat: &RawVar,
    others: &[Option<&RawVar>],
    instance_dim: Option<&str>,
) -> Result<Vec<(String, usize)>> {
    let own = |v: &RawVar| -> Vec<(String, usize)> {
        effective_dims(v).into_iter().filter(|(d, _)| Some(d.as_str()) != instance_dim).cloned().collect()
    };
    let dims = if pattern.is_dsg() {
        let mut union = own(lat);
        for v in others.iter().flatten() {
            for d in own(v) {
                if !union.contains(&d) {
                    union.push(d);
                }
            }
        }
        most_common_dims(src, &union, instance_dim).unwrap_or(union)
    } else {
        own(lat)
    };
    if dims.is_empty() || dims.len() > 2 {
        return Err(file_error(
            src.granule(),
            Some(&lat.name),
            format!("found {} sample dimensions ({}); OceanQL reads one or two", dims.len(), dim_list(&dims)),
        ));
    }
    if pattern == Pattern::Swath && dims.len() != 2 {
        return Err(file_error(
            src.granule(),
            Some(&lat.name),
            format!("pattern swath needs a 2-D latitude, but this one is on ({}); see OPTIONS ('pattern' ...)", dim_list(&dims)),
        ));
    }
    Ok(dims)
}

/// Among the data variables whose dimensions cover all of `coords`, the
/// dimensions most of them share (ties: more dimensions).
fn most_common_dims(src: &dyn ArraySource, coords: &[(String, usize)], instance_dim: Option<&str>) -> Option<Vec<(String, usize)>> {
    let mut counts: Vec<(Vec<(String, usize)>, usize)> = Vec::new();
    for v in src.vars().iter().filter(|v| v.dtype.is_some()) {
        let dims: Vec<(String, usize)> =
            effective_dims(v).into_iter().filter(|(d, _)| Some(d.as_str()) != instance_dim).cloned().collect();
        if dims.len() > 2 || !coords.iter().all(|c| dims.contains(c)) {
            continue;
        }
        match counts.iter_mut().find(|(d, _)| *d == dims) {
            Some((_, n)) => *n += 1,
            None => counts.push((dims, 1)),
        }
    }
    counts.into_iter().max_by_key(|(d, n)| (*n, d.len())).map(|(d, _)| d)
}

/// Maps a variable's dimensions onto the sample dimensions; `None` when one does not map.
fn map_var(v: &RawVar, dims: &[(String, usize)], instance_dim: Option<&str>) -> Option<SampleVar> {
    let kind = match (v.dtype, v.text) {
        (Some(t), _) => Kind::Numeric(t),
        (None, true) => Kind::Text,
        (None, false) => return None,
    };
    let n = v.dims.len();
    let mut map = Vec::with_capacity(n);
    for (i, (name, len)) in v.dims.iter().enumerate() {
        map.push(if let Some(k) = dims.iter().position(|(d, _)| d == name) {
            DimMap::Sample(k)
        } else if Some(name.as_str()) == instance_dim {
            DimMap::Instance
        } else if v.text && i == n - 1 {
            DimMap::Chars
        } else if *len == 1 {
            DimMap::Unit
        } else {
            return None;
        });
    }
    let shape: Vec<usize> = v.dims.iter().map(|(_, n)| *n).collect();
    Some(SampleVar {
        name: v.name.clone(),
        dims: map,
        kind,
        packing: packing_from_attrs(&v.attrs),
        attrs: metadata_attrs(&v.attrs),
        chunks: v.chunks.clone().unwrap_or_else(|| shape.clone()),
        shape,
    })
}

fn time_coord(
    src: &dyn ArraySource,
    raw: &RawVar,
    var: SampleVar,
    dims: &[(String, usize)],
    instance_dim: Option<&str>,
) -> Result<TimeCoord> {
    let units = raw
        .attrs
        .get("units")
        .and_then(|u| u.as_text())
        .ok_or_else(|| file_error(src.granule(), Some(&raw.name), "time variable has no text 'units' attribute"))?;
    let calendar = raw.attrs.get("calendar").and_then(|c| c.as_text());
    let units = TimeUnits::parse(units, calendar, src.granule(), &raw.name)?;
    let offset = src
        .vars()
        .iter()
        .find(|v| v.name == "sst_dtime")
        .filter(|v| v.attrs.get("units").and_then(|u| u.as_text()).is_some_and(|u| u.trim().starts_with("s")))
        .and_then(|v| map_var(v, dims, instance_dim));
    Ok(TimeCoord { var, units, offset })
}

/// The ragged array of a DSG granule, if any: its instance dimension, the
/// name of the variable that defines it and how observations map to instances.
fn ragged(src: &dyn ArraySource) -> Result<Option<(String, String, RaggedKind)>> {
    let contiguous = src.vars().iter().find(|v| v.attrs.contains_key("sample_dimension"));
    let indexed = src.vars().iter().find(|v| v.attrs.contains_key("instance_dimension"));
    match (contiguous, indexed) {
        (Some(c), Some(i)) => Err(file_error(
            src.granule(),
            Some(&i.name),
            format!("ragged arrays of both kinds ('{}' has sample_dimension, '{}' instance_dimension) are not supported", c.name, i.name),
        )),
        (Some(v), None) => contiguous_ragged(src, v).map(Some),
        (None, Some(v)) => indexed_ragged(src, v).map(Some),
        (None, None) => Ok(None),
    }
}

/// The length of dimension `dim` in `src`, if a variable uses it.
fn dim_len(src: &dyn ArraySource, dim: &str) -> Option<usize> {
    src.vars().iter().flat_map(|o| o.dims.iter()).find(|(d, _)| d == dim).map(|(_, n)| *n)
}

/// An indexed ragged array: the index variable (one per observation) names
/// the instance of each observation; every index must be one of the instances.
fn indexed_ragged(src: &dyn ArraySource, v: &RawVar) -> Result<(String, String, RaggedKind)> {
    let granule = src.granule();
    let instance_dim = v.attrs.get("instance_dimension").and_then(|a| a.as_text()).unwrap_or("").trim().to_string();
    if v.dims.len() != 1 {
        return Err(file_error(granule, Some(&v.name), "a ragged array's instance index must have one dimension"));
    }
    let n = dim_len(src, &instance_dim).ok_or_else(|| {
        file_error(granule, Some(&v.name), format!("instance_dimension '{instance_dim}' is not a dimension of any variable"))
    })?;
    let mut index = Vec::with_capacity(v.dims[0].1);
    for x in src.read_all_f64(v)? {
        if !(x.is_finite() && x >= 0.0 && x.fract() == 0.0 && (x as usize) < n) {
            return Err(file_error(granule, Some(&v.name), format!("instance index {x} is not one of the {n} elements of dimension '{instance_dim}'")));
        }
        index.push(x as usize);
    }
    Ok((instance_dim, v.name.clone(), RaggedKind::Indexed(index)))
}

/// A contiguous ragged array's row sizes (`sample_dimension` attribute):
/// cumulative offsets, checked against the length of the sample dimension.
fn contiguous_ragged(src: &dyn ArraySource, v: &RawVar) -> Result<(String, String, RaggedKind)> {
    let granule = src.granule();
    let sample_dim = v.attrs.get("sample_dimension").and_then(|a| a.as_text()).unwrap_or("").trim().to_string();
    let [(instance_dim, _)] = v.dims.as_slice() else {
        return Err(file_error(granule, Some(&v.name), "a ragged array's row sizes must have one dimension"));
    };
    let obs_len = dim_len(src, &sample_dim)
        .ok_or_else(|| file_error(granule, Some(&v.name), format!("sample_dimension '{sample_dim}' is not a dimension of any variable")))?;
    let sizes = src.read_all_f64(v)?;
    let mut offsets = Vec::with_capacity(sizes.len() + 1);
    offsets.push(0usize);
    for s in &sizes {
        if !s.is_finite() || *s < 0.0 {
            return Err(file_error(granule, Some(&v.name), format!("row size {s} is not a count")));
        }
        offsets.push(offsets[offsets.len() - 1] + *s as usize);
    }
    let total = offsets[offsets.len() - 1];
    if total != obs_len {
        return Err(file_error(
            granule,
            Some(&v.name),
            format!("inconsistent dimensions: row sizes add up to {total} but dimension '{sample_dim}' has {obs_len} elements"),
        ));
    }
    Ok((instance_dim.clone(), v.name.clone(), RaggedKind::Contiguous(offsets)))
}

/// The platform id of a DSG: the variable with a CF `cf_role`, else a usual name.
fn platform_var<'a>(src: &'a dyn ArraySource, named: Option<&str>) -> Result<Option<&'a RawVar>> {
    if let Some(name) = named {
        return src
            .vars()
            .iter()
            .find(|v| v.name == name)
            .map(Some)
            .ok_or_else(|| file_error(src.granule(), Some(name), "named in OPTIONS as platform_id, but there is no such variable"));
    }
    let by_role = src.vars().iter().find(|v| {
        v.attrs
            .get("cf_role")
            .and_then(|r| r.as_text())
            .is_some_and(|r| matches!(r.trim(), "trajectory_id" | "timeseries_id" | "profile_id"))
    });
    let usual = ["platform_id", "platform_number", "platform", "wmo_id", "station_id", "trajectory", "station"];
    Ok(by_role.or_else(|| src.vars().iter().find(|v| usual.contains(&v.name.to_ascii_lowercase().as_str()))))
}

/// `pressure` when the vertical coordinate is in pressure units, else `depth`.
fn z_column(v: &RawVar) -> &'static str {
    let units = v.attrs.get("units").and_then(|u| u.as_text()).unwrap_or("").trim().to_ascii_lowercase();
    let sn = v.attrs.get("standard_name").and_then(|u| u.as_text()).unwrap_or("");
    if sn.contains("pressure") || matches!(units.as_str(), "dbar" | "decibar" | "decibars" | "db" | "hpa" | "pa" | "bar") {
        "pressure"
    } else {
        "depth"
    }
}

fn reserved_names(index_names: &[&'static str], z: Option<&'static str>) -> Vec<&'static str> {
    let mut r = vec!["platform_id", "time", "lat", "lon", "granule"];
    r.extend(index_names);
    r.extend(z);
    r
}

fn dim_list(dims: &[(String, usize)]) -> String {
    dims.iter().map(|(d, n)| format!("{d}={n}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pattern_names() {
        assert_eq!(Pattern::parse("along-track"), Some(Pattern::AlongTrack));
        assert_eq!(Pattern::parse("timeSeries"), Some(Pattern::TimeSeries));
        assert_eq!(Pattern::parse("Swath"), Some(Pattern::Swath));
        assert_eq!(Pattern::parse("curtain"), None);
    }

    #[test]
    fn longitude_spans_cross_the_antimeridian() {
        let spans = lon_spans(&Float64Array::from(vec![170.0, 179.0, -179.0, -170.0]));
        assert_eq!(spans, vec![(170.0, 180.0), (-180.0, -170.0)]);
        let spans = lon_spans(&Float64Array::from(vec![-10.0, 10.0]));
        assert_eq!(spans, vec![(-10.0, 10.0)]);
        assert!(lon_spans(&Float64Array::from(vec![None::<f64>])).is_empty());
    }

    #[test]
    fn ragged_instances() {
        let r = Ragged { row_size: "rowSize".into(), kind: RaggedKind::Contiguous(vec![0, 3, 3, 5]) };
        let got: Vec<usize> = (0..5).map(|i| r.instance_of(i)).collect();
        assert_eq!(r.instance_range(3, 5, 3), (2, 1));
        let r = Ragged { row_size: "stationIndex".into(), kind: RaggedKind::Indexed(vec![1, 0, 1]) };
        assert_eq!((r.instance_of(0), r.instance_of(1), r.instance_range(1, 2, 2)), (1, 0, (0, 2)));
        assert_eq!(got, vec![0, 0, 0, 2, 2]);
    }
}
