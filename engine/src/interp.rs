//! `interp('<table>', '<variable>', time, lat, lon [, method])`: a gridded product sampled at
//! points (bilinear in space and linear in time, or nearest), to compare in situ records with L4 analyses.
//!
//! An async scalar function (planned as `AsyncFuncExec`): for each batch of points it finds the
//! grid cells and time steps they need and reads only the tiles (chunks) holding them, straight
//! from the granules, through a small cache of decoded tiles and open granules.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use datafusion::arrow::compute::{CastOptions, cast, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{exec_datafusion_err, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::scalar::ScalarValue;
use datafusion_macros::user_doc;
use oceanql_connectors::{GridReader, Role, Slab, VarInfo, decode};

use crate::grid_table::{GridColumn, GridProduct, GridTable};
use crate::session_handle::SessionHandle;

/// Largest tile side in cells: bigger chunks (and contiguous variables) are read in parts.
const TILE_MAX: usize = 1024;
/// Smaller chunks are read several at a time, in tiles of at least this many cells (or the
/// whole lat/lon plane): fewer reads, and a whole plane of a small grid is read once.
const TILE_CELLS: usize = 1 << 16;
/// Decoded tiles kept between batches, all grids together (bytes of f64 values).
const TILE_CACHE_BYTES: usize = 256 << 20;
/// Granules kept open, all grids together.
const OPEN_GRANULES: usize = 64;
/// Grids (table, variable) whose axes are kept.
const GRIDS: usize = 8;

/// The `interp` function, ready to register in the session `handle` points to.
pub fn udf(handle: SessionHandle) -> ScalarUDF {
    AsyncScalarUDF::new(Arc::new(Interp::new(handle))).into_scalar_udf()
}

/// The documentation of `interp` (the async wrapper DataFusion registers does not pass it on).
pub fn documentation() -> Option<&'static Documentation> {
    static INTERP: std::sync::LazyLock<Interp> = std::sync::LazyLock::new(|| Interp::new(SessionHandle::new()));
    INTERP.doc()
}

#[user_doc(
    doc_section(label = "Oceanographic Functions"),
    description = "Samples a variable of a gridded table (STORED AS NETCDF or ZARR) at points: bilinear in latitude/longitude between the four surrounding cell centres and linear in time between the two time steps around the point ('bilinear', the default), or the value of the nearest cell at the nearest time step ('nearest'; ties go to the lower coordinate). NULL when a value it needs is missing (land, fill value), when the point is outside the grid's time or latitude range (beyond the outermost cell centres), outside a regional grid's longitudes, or when an argument is NULL. A point exactly on a time step or cell centre uses it alone. Global grids wrap around in longitude; point longitudes may be -180..180 or 0..360. The variable must have one depth level at most. Reads only the chunks around the points; decoded chunks are cached (the files of a table are taken not to change while it is registered).",
    syntax_example = "interp('<table>', '<variable>', time, lat, lon [, 'bilinear' | 'nearest'])",
    sql_example = r#"```sql
> SELECT avg(d.sst - interp('sst', 'sst', d.time, d.lat, d.lon)) FROM drifters d;
```"#,
    argument(name = "table", description = "Name of a gridded table, in quotes."),
    argument(name = "variable", description = "A numeric variable (column) of that table, in quotes."),
    argument(name = "time", description = "Timestamp of each point."),
    argument(name = "lat", description = "Latitude of each point, degrees north."),
    argument(name = "lon", description = "Longitude of each point, degrees east."),
    argument(name = "method", description = "'bilinear' (default) or 'nearest'.")
)]
#[derive(Debug)]
pub struct Interp {
    signature: Signature,
    handle: SessionHandle,
    /// Grids in use, most recently used last.
    grids: Arc<Mutex<Vec<Arc<Grid>>>>,
    cache: Arc<Cache>,
}

/// Decoded tiles and open granules, shared by the grids of one session: keyed by [`Grid::id`].
#[derive(Debug)]
struct Cache {
    tiles: Mutex<Lru<TileKey, Arc<Tile>>>,
    readers: Mutex<Lru<(u64, usize), Arc<dyn GridReader>>>,
}

impl PartialEq for Interp {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.grids, &other.grids)
    }
}

impl Eq for Interp {}

impl Hash for Interp {
    fn hash<H: Hasher>(&self, state: &mut H) {
        Arc::as_ptr(&self.grids).hash(state);
    }
}

impl Interp {
    /// Arguments are checked by [`check_args`] (not by the signature) for errors that name them.
    /// Volatile: never evaluated at planning (it is async) and never pushed into scans.
    pub fn new(handle: SessionHandle) -> Self {
        let cache = Cache { tiles: Mutex::new(Lru::new(TILE_CACHE_BYTES)), readers: Mutex::new(Lru::new(OPEN_GRANULES)) };
        Interp { signature: Signature::variadic_any(Volatility::Volatile), handle, grids: Arc::default(), cache: Arc::new(cache) }
    }

    /// The grid of `table`.`variable` as registered now: cached unless the table was replaced.
    async fn grid(&self, table: &str, variable: &str) -> Result<Arc<Grid>> {
        let product = grid_product(&self.handle, table).await?;
        let mut grids = lock(&self.grids)?;
        let found = grids.iter().position(|g| g.table == table && g.var.name == variable && Arc::ptr_eq(&g.product, &product));
        let grid = match found {
            Some(i) => grids.remove(i),
            None => Arc::new(Grid::new(table, variable, product, self.cache.clone())?),
        };
        grids.retain(|g| !(g.table == table && g.var.name == variable));
        grids.push(grid.clone());
        if grids.len() > GRIDS {
            grids.remove(0);
        }
        Ok(grid)
    }
}

/// The product of a gridded table, or an error naming the table.
async fn grid_product(handle: &SessionHandle, table: &str) -> Result<Arc<GridProduct>> {
    let ctx = handle.context("interp")?;
    let provider = ctx.table_provider(table).await.map_err(|_| exec_datafusion_err!("interp(): no table '{table}'"))?;
    match provider.downcast_ref::<GridTable>() {
        Some(grid) => Ok(grid.product().clone()),
        None => exec_err!("interp(): table '{table}' is not a gridded product (a NETCDF or ZARR table with a time/lat/lon grid)"),
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for Interp {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let table = text_arg(&args.args[0], "table")?;
        let variable = text_arg(&args.args[1], "variable")?;
        let method = match args.args.get(5) {
            Some(m) => Method::parse(&text_arg(m, "method")?)?,
            None => Method::Bilinear,
        };
        let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let strict = CastOptions { safe: false, ..Default::default() };
        let time = cast_with_options(&args.args[2].to_array(rows)?, &utc, &strict)
            .map_err(|e| exec_datafusion_err!("interp(): argument 'time': {e}"))?;
        let lat = cast(&args.args[3].to_array(rows)?, &DataType::Float64)?;
        let lon = cast(&args.args[4].to_array(rows)?, &DataType::Float64)?;
        let grid = self.grid(&table, &variable).await?;
        let values = tokio::task::spawn_blocking(move || grid.sample(method, &time, &lat, &lon))
            .await
            .map_err(|e| exec_datafusion_err!("interp(): {e}"))??;
        Ok(ColumnarValue::Array(values))
    }
}

impl ScalarUDFImpl for Interp {
    fn name(&self) -> &str {
        "interp"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        check_args(&args)?;
        Ok(Arc::new(Field::new(self.name(), DataType::Float64, true)))
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!("interp() runs only as an async function")
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }
}

/// Checks at planning the number and types of the arguments, and that the table, variable
/// and method are constants.
fn check_args(args: &ReturnFieldArgs) -> Result<()> {
    let n = args.arg_fields.len();
    if n != 5 && n != 6 {
        return plan_err!("interp() takes 5 or 6 arguments: interp('<table>', '<variable>', time, lat, lon [, 'bilinear' | 'nearest']), not {n}");
    }
    for (i, name) in [(0, "table"), (1, "variable"), (5, "method")] {
        if i >= n {
            continue;
        }
        let Some(value) = args.scalar_arguments[i] else {
            return plan_err!("interp(): argument '{name}' must be a constant string in quotes");
        };
        let text = text_arg(&ColumnarValue::Scalar(value.clone()), name)?;
        if i == 5 {
            Method::parse(&text)?;
        }
    }
    let time = args.arg_fields[2].data_type();
    if !matches!(time, DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 | DataType::Null) && !is_text(time) {
        return plan_err!("interp(): argument 'time' must be a timestamp, not {time}");
    }
    for (i, name) in [(3, "lat"), (4, "lon")] {
        let t = args.arg_fields[i].data_type();
        if !t.is_numeric() && *t != DataType::Null {
            return plan_err!("interp(): argument '{name}' must be a number of degrees, not {t}");
        }
    }
    Ok(())
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

/// A constant string argument.
fn text_arg(value: &ColumnarValue, name: &str) -> Result<String> {
    match value {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => {
            Ok(s.clone())
        }
        _ => plan_err!("interp(): argument '{name}' must be a constant string in quotes"),
    }
}

/// How values between grid points are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Bilinear,
    Nearest,
}

impl Method {
    fn parse(text: &str) -> Result<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "bilinear" => Ok(Method::Bilinear),
            "nearest" => Ok(Method::Nearest),
            _ => plan_err!("interp(): argument 'method' must be 'bilinear' or 'nearest', not '{text}'"),
        }
    }
}

/// A coordinate axis, sorted: `values[k]` is at storage index `index[k]`.
#[derive(Debug, Clone, PartialEq)]
struct Axis {
    values: Vec<f64>,
    index: Vec<usize>,
    /// Longitudes: points are taken modulo 360 into [values[0], values[0] + 360).
    modulo: bool,
    /// A global longitude axis: the last value is followed by the first, 360° on.
    periodic: bool,
}

/// Neighbours of a point on one axis: (storage index, weight), weights > 0 summing to 1.
type Corners = Vec<(usize, f64)>;

impl Axis {
    /// A latitude or time axis: values in any order; NaN and repeated values dropped.
    fn new(coords: &[f64]) -> Self {
        let mut pairs: Vec<(f64, usize)> = coords.iter().copied().enumerate().filter(|(_, v)| v.is_finite()).map(|(i, v)| (v, i)).collect();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        pairs.dedup_by(|b, a| a.0 == b.0);
        Axis { values: pairs.iter().map(|p| p.0).collect(), index: pairs.iter().map(|p| p.1).collect(), modulo: false, periodic: false }
    }

    /// A longitude axis: starts after its widest gap (so a regional grid across the
    /// antimeridian is one run); global when no gap is wider than 1.5 times the median spacing.
    fn longitude(coords: &[f64]) -> Self {
        let mut axis = Axis::new(&coords.iter().map(|x| x.rem_euclid(360.0)).collect::<Vec<_>>());
        let n = axis.values.len();
        if n == 0 {
            return axis;
        }
        let gap = |k: usize| if k + 1 < n { axis.values[k + 1] - axis.values[k] } else { axis.values[0] + 360.0 - axis.values[k] };
        let gaps: Vec<f64> = (0..n).map(gap).collect();
        let widest = (0..n).max_by(|&a, &b| gaps[a].total_cmp(&gaps[b])).unwrap_or(n - 1);
        // The median of the other gaps: the grid's spacing.
        let mut others: Vec<f64> = gaps.iter().enumerate().filter(|&(k, _)| k != widest).map(|(_, g)| *g).collect();
        others.sort_by(f64::total_cmp);
        let start = (widest + 1) % n;
        let values = (0..n).map(|k| (start + k) % n).map(|k| axis.values[k] + if k < start { 360.0 } else { 0.0 }).collect();
        axis.index.rotate_left(start);
        axis.values = values;
        axis.modulo = true;
        axis.periodic = others.get(others.len() / 2).is_some_and(|&spacing| gaps[widest] <= 1.5 * spacing);
        axis
    }

    /// The two values around `x` and the weight of each; one value when `x` is on it.
    fn bracket(&self, x: f64) -> Option<Corners> {
        let n = self.values.len();
        let first = *self.values.first()?;
        let x = if self.modulo { first + (x - first).rem_euclid(360.0) } else { x };
        let k = self.values.partition_point(|&v| v <= x);
        if k == 0 {
            return None;
        }
        let i = k - 1;
        if self.values[i] == x {
            return Some(vec![(self.index[i], 1.0)]);
        }
        let (j, next) = match (i + 1 < n, self.periodic) {
            (true, _) => (i + 1, self.values[i + 1]),
            (false, true) => (0, first + 360.0),
            (false, false) => return None,
        };
        let w = (x - self.values[i]) / (next - self.values[i]);
        Some([(self.index[i], 1.0 - w), (self.index[j], w)].into_iter().filter(|c| c.1 > 0.0).collect())
    }

    /// The value nearest to `x`; halfway between two, the lower.
    fn nearest(&self, x: f64) -> Option<Corners> {
        let corners = self.bracket(x)?;
        let pick = match corners.as_slice() {
            [(_, w0), (i1, w1)] if w1 > w0 => *i1,
            [(i0, _), ..] => *i0,
            [] => return None,
        };
        Some(vec![(pick, 1.0)])
    }

    fn corners(&self, method: Method, x: f64) -> Option<Corners> {
        match method {
            Method::Bilinear => self.bracket(x),
            Method::Nearest => self.nearest(x),
        }
    }
}

/// One gridded variable ready to sample: its axes and its caches.
#[derive(Debug)]
struct Grid {
    table: String,
    product: Arc<GridProduct>,
    var: VarInfo,
    lat: Axis,
    lon: Axis,
    /// The time axis over all granules (indices into `steps`); `None` for a static variable.
    time: Option<Axis>,
    /// (granule, time index in the granule) of each time step.
    steps: Vec<(usize, usize)>,
    /// Tile shape (lat rows, lon columns), from the variable's chunks.
    tile: [usize; 2],
    /// Tells this grid's entries in `cache` from other grids' (unique in the process).
    id: u64,
    cache: Arc<Cache>,
}

impl Grid {
    fn new(table: &str, variable: &str, product: Arc<GridProduct>, cache: Arc<Cache>) -> Result<Self> {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        let first = product.first();
        let var = variable_of(&product, table, variable)?;
        let depth_levels = first.depth.as_ref().map_or(1, Vec::len);
        if var.dims.contains(&Role::Depth) && depth_levels > 1 {
            return exec_err!(
                "interp(): variable '{variable}' of table '{table}' has {depth_levels} depth levels; interp() samples grids with one level"
            );
        }
        let chunk = |role: Role| var.dims.iter().position(|&r| r == role).map(|p| var.chunks.get(p).copied().unwrap_or(usize::MAX));
        let (Some(rows), Some(cols)) = (chunk(Role::Lat), chunk(Role::Lon)) else {
            return exec_err!("interp(): variable '{variable}' of table '{table}' is not laid on the lat/lon grid");
        };
        let tile = tile_shape([rows, cols], [first.lat.len(), first.lon.len()]);
        let (lat, lon) = (Axis::new(&first.lat), Axis::longitude(&first.lon));
        let (time, steps) = time_steps(&product, &var);
        Ok(Grid {
            table: table.to_string(),
            lat,
            lon,
            product,
            var,
            time,
            steps,
            tile,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            cache,
        })
    }

    /// The interpolated values at the points (NULL where a point argument is NULL).
    fn sample(&self, method: Method, time: &ArrayRef, lat: &ArrayRef, lon: &ArrayRef) -> Result<ArrayRef> {
        let time = time.as_primitive::<TimestampMicrosecondType>();
        let (lat, lon) = (lat.as_primitive::<Float64Type>(), lon.as_primitive::<Float64Type>());
        let mut parts = Vec::new();
        let found: Vec<bool> = (0..lat.len())
            .map(|p| {
                let valid = time.is_valid(p) && lat.is_valid(p) && lon.is_valid(p);
                valid && self.locate(method, p, (time.value(p), lat.value(p), lon.value(p)), &mut parts)
            })
            .collect();
        let (sums, missing) = self.accumulate(parts, lat.len())?;
        let values: Float64Array = (0..lat.len()).map(|p| (found[p] && !missing[p]).then_some(sums[p])).collect();
        Ok(Arc::new(values))
    }

    /// Adds the weighted grid values point `p` needs to `parts`; false when it is off the grid.
    fn locate(&self, method: Method, p: usize, (t, lat, lon): (i64, f64, f64), parts: &mut Vec<Part>) -> bool {
        let steps = match &self.time {
            Some(axis) => axis.corners(method, t as f64),
            None => Some(vec![(0, 1.0)]),
        };
        let (Some(steps), Some(rows), Some(cols)) = (steps, self.lat.corners(method, lat), self.lon.corners(method, lon)) else {
            return false;
        };
        for &(step, wt) in &steps {
            for &(row, wy) in &rows {
                for &(col, wx) in &cols {
                    parts.push(Part { step, row, col, weight: wt * wy * wx, point: p });
                }
            }
        }
        true
    }

    /// Sums the weighted values of `parts` per point, reading one tile at a time; also
    /// which points met a missing value.
    fn accumulate(&self, mut parts: Vec<Part>, points: usize) -> Result<(Vec<f64>, Vec<bool>)> {
        let key = |p: &Part| [p.step, p.row / self.tile[0], p.col / self.tile[1]];
        parts.sort_unstable_by_key(key);
        let (mut sums, mut missing) = (vec![0.0; points], vec![false; points]);
        for group in parts.chunk_by(|a, b| key(a) == key(b)) {
            let tile = self.tile_at(key(&group[0]))?;
            for part in group {
                let v = tile.value(part.row, part.col);
                if v.is_nan() {
                    missing[part.point] = true;
                } else {
                    sums[part.point] += part.weight * v;
                }
            }
        }
        Ok((sums, missing))
    }

    /// The decoded tile (time step, tile row, tile column), from the cache or the granule.
    fn tile_at(&self, key: [usize; 3]) -> Result<Arc<Tile>> {
        if let Some(tile) = lock(&self.cache.tiles)?.get(&(self.id, key)) {
            return Ok(tile);
        }
        let tile = Arc::new(self.read_tile(key)?);
        lock(&self.cache.tiles)?.put((self.id, key), tile.clone(), tile.values.len() * 8);
        Ok(tile)
    }

    fn read_tile(&self, [step, tr, tc]: [usize; 3]) -> Result<Tile> {
        let (granule, t) = self.steps[step];
        let first = self.product.first();
        let (row0, col0) = (tr * self.tile[0], tc * self.tile[1]);
        let rows = self.tile[0].min(first.lat.len() - row0);
        let cols = self.tile[1].min(first.lon.len() - col0);
        let slab = Slab { start: [t, 0, row0, col0], count: [1, 1, rows, cols] };
        let reader = self.reader(granule)?;
        let own = reader.info().var(&self.var.name).unwrap_or(&self.var);
        let (start, count) = slab.for_dims(&own.dims);
        let (raw, _bytes) = reader.read_raw(own, &start, &count)?;
        let values = cast(&decode::to_arrow(own, &raw, &slab)?, &DataType::Float64)?;
        let values = values.as_primitive::<Float64Type>();
        let values = (0..values.len()).map(|i| if values.is_null(i) { f64::NAN } else { values.value(i) }).collect();
        Ok(Tile { row0, col0, cols, values })
    }

    fn reader(&self, granule: usize) -> Result<Arc<dyn GridReader>> {
        if let Some(reader) = lock(&self.cache.readers)?.get(&(self.id, granule)) {
            return Ok(reader);
        }
        let reader = self.product.format.open(&self.product.granules[granule].granule)?;
        lock(&self.cache.readers)?.put((self.id, granule), reader.clone(), 1);
        Ok(reader)
    }
}

fn lock<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock().map_err(|_| exec_datafusion_err!("interp(): a thread panicked"))
}

/// The data variable `name` of a product, or an error listing its variables.
fn variable_of(product: &GridProduct, table: &str, name: &str) -> Result<VarInfo> {
    let vars: Vec<&VarInfo> = product
        .columns
        .iter()
        .filter_map(|c| match c {
            GridColumn::Var(i) => product.first().vars.get(*i),
            _ => None,
        })
        .collect();
    match vars.iter().find(|v| v.name == name) {
        Some(v) => Ok((*v).clone()),
        None => {
            let names: Vec<&str> = vars.iter().map(|v| v.name.as_str()).collect();
            exec_err!("interp(): table '{table}' has no variable '{name}' (variables: {})", names.join(", "))
        }
    }
}

/// The product's time steps in time order, or `None` (one step) for a variable without time.
fn time_steps(product: &GridProduct, var: &VarInfo) -> (Option<Axis>, Vec<(usize, usize)>) {
    if !var.dims.contains(&Role::Time) || !product.granules.iter().any(|g| g.has_time) {
        return (None, vec![(0, 0)]);
    }
    let steps: Vec<(usize, usize)> = product
        .granules
        .iter()
        .enumerate()
        .filter(|(_, g)| g.has_time)
        .flat_map(|(g, info)| (0..info.time.len()).map(move |t| (g, t)))
        .collect();
    let times: Vec<f64> = steps.iter().map(|&(g, t)| product.granules[g].time[t] as f64).collect();
    (Some(Axis::new(&times)), steps)
}

/// Tile shape (rows, columns) over a plane of `len` cells with chunks of `chunk`: whole chunks,
/// grown to [`TILE_CELLS`] cells; a chunk larger than [`TILE_MAX`] on a side is split evenly.
fn tile_shape(chunk: [usize; 2], len: [usize; 2]) -> [usize; 2] {
    let step = [tile_side(chunk[0], len[0]), tile_side(chunk[1], len[1])];
    let mut tile = step;
    while tile[0] * tile[1] < TILE_CELLS {
        let rows_full = tile[0] >= len[0];
        if tile[1] < len[1] && (tile[1] <= tile[0] || rows_full) {
            tile[1] = (tile[1] + step[1]).min(len[1]);
        } else if !rows_full {
            tile[0] = (tile[0] + step[0]).min(len[0]);
        } else {
            break;
        }
    }
    tile
}

/// A tile side along an axis of `len` cells with chunks of `chunk`: the chunk, split evenly
/// when larger than [`TILE_MAX`].
fn tile_side(chunk: usize, len: usize) -> usize {
    let chunk = chunk.clamp(1, len.max(1));
    chunk.div_ceil(chunk.div_ceil(TILE_MAX))
}

/// One weighted grid value a point needs.
#[derive(Debug, Clone, Copy)]
struct Part {
    step: usize,
    row: usize,
    col: usize,
    weight: f64,
    point: usize,
}

/// (grid id, time step, tile row, tile column).
type TileKey = (u64, [usize; 3]);

/// Decoded values of a block of cells of one time step (NaN where missing).
#[derive(Debug)]
struct Tile {
    row0: usize,
    col0: usize,
    cols: usize,
    values: Vec<f64>,
}

impl Tile {
    fn value(&self, row: usize, col: usize) -> f64 {
        self.values[(row - self.row0) * self.cols + (col - self.col0)]
    }
}

/// A map that drops its least recently used entries beyond a total size.
#[derive(Debug)]
struct Lru<K, V> {
    entries: HashMap<K, (V, usize, u64)>,
    size: usize,
    capacity: usize,
    clock: u64,
}

impl<K: Eq + Hash + Clone, V: Clone> Lru<K, V> {
    fn new(capacity: usize) -> Self {
        Lru { entries: HashMap::new(), size: 0, capacity, clock: 0 }
    }

    fn get(&mut self, key: &K) -> Option<V> {
        self.clock += 1;
        let entry = self.entries.get_mut(key)?;
        entry.2 = self.clock;
        Some(entry.0.clone())
    }

    /// Inserts; beyond capacity, drops the oldest entries down to three quarters of it.
    fn put(&mut self, key: K, value: V, size: usize) {
        self.clock += 1;
        if let Some(old) = self.entries.insert(key, (value, size, self.clock)) {
            self.size -= old.1;
        }
        self.size += size;
        if self.size <= self.capacity {
            return;
        }
        let mut ages: Vec<(u64, K)> = self.entries.iter().map(|(k, e)| (e.2, k.clone())).collect();
        ages.sort_unstable_by_key(|a| a.0);
        for (_, k) in ages {
            if self.size <= self.capacity / 4 * 3 {
                break;
            }
            if let Some(e) = self.entries.remove(&k) {
                self.size -= e.1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn approx(c: Option<Corners>) -> Vec<(usize, String)> {
        c.unwrap_or_default().into_iter().map(|(i, w)| (i, format!("{w:.3}"))).collect()
    }

    #[test]
    fn latitude_descending() {
        let lat = Axis::new(&[15.0, 5.0, -5.0, -15.0]);
        assert_eq!(approx(lat.bracket(0.0)), vec![(2, "0.500".into()), (1, "0.500".into())]);
        assert_eq!(approx(lat.bracket(12.5)), vec![(1, "0.250".into()), (0, "0.750".into())]);
        assert_eq!(approx(lat.bracket(15.0)), vec![(0, "1.000".into())]);
        assert_eq!(lat.bracket(15.1), None);
        assert_eq!(lat.bracket(-16.0), None);
        assert_eq!(approx(lat.nearest(0.0)), vec![(2, "1.000".into())]);
        assert_eq!(approx(lat.nearest(0.1)), vec![(1, "1.000".into())]);
    }

    #[test]
    fn longitude_global_wraps() {
        // 0..360 storage, normalised to [-180, 180) as grid tables do
        let lon = Axis::longitude(&[0.0, 60.0, 120.0, -180.0, -120.0, -60.0]);
        assert!(lon.periodic);
        assert_eq!(approx(lon.bracket(-30.0)), vec![(5, "0.500".into()), (0, "0.500".into())]);
        assert_eq!(approx(lon.bracket(330.0)), vec![(5, "0.500".into()), (0, "0.500".into())]);
        assert_eq!(approx(lon.bracket(179.0)), vec![(2, "0.017".into()), (3, "0.983".into())]);
        assert_eq!(approx(lon.bracket(-180.0)), vec![(3, "1.000".into())]);
        assert_eq!(approx(lon.nearest(-30.0)), vec![(5, "1.000".into())]);
    }

    #[test]
    fn longitude_regional_across_the_antimeridian() {
        let lon = Axis::longitude(&[170.0, 175.0, -180.0, -175.0]);
        assert!(!lon.periodic);
        assert_eq!(approx(lon.bracket(178.0)), vec![(1, "0.400".into()), (2, "0.600".into())]);
        assert_eq!(approx(lon.bracket(-177.5)), vec![(2, "0.500".into()), (3, "0.500".into())]);
        assert_eq!(lon.bracket(-174.0), None);
        assert_eq!(lon.bracket(169.0), None);
        assert_eq!(approx(lon.bracket(170.0)), vec![(0, "1.000".into())]);
        let two = Axis::longitude(&[30.0, 40.0]);
        assert!(!two.periodic);
        assert_eq!(two.bracket(41.0), None);
    }

    #[test]
    fn tiles_follow_chunks() {
        assert_eq!(tile_side(90, 360), 90);
        assert_eq!(tile_side(usize::MAX, 360), 360);
        assert_eq!(tile_side(2047, 4096), 1024);
        assert_eq!(tile_side(1440, 1440), 720);
        // the demo's 1° grid in chunks of 45 x 90: one tile per plane
        assert_eq!(tile_shape([45, 90], [180, 360]), [180, 360]);
        // 0.25° in chunks of 180 x 360: two chunks
        assert_eq!(tile_shape([180, 360], [720, 1440]), [360, 360]);
        // contiguous 0.25°: the plane in four
        assert_eq!(tile_shape([720, 1440], [720, 1440]), [720, 720]);
    }

    #[test]
    fn lru_drops_the_oldest() {
        let mut lru = Lru::new(4);
        for k in 0..4 {
            lru.put(k, k, 1);
        }
        assert_eq!(lru.get(&0), Some(0));
        lru.put(4, 4, 1);
        assert_eq!(lru.get(&1), None);
        assert_eq!(lru.get(&0), Some(0));
        assert_eq!(lru.get(&4), Some(4));
    }
}
