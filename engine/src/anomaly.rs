//! `anomaly(value, time, lat, lon, '<climatology table>')`: a value minus the climatological
//! mean of its grid cell and month (or day of the year).
//!
//! An async scalar function (planned as `AsyncFuncExec`): it reads the climatology table through
//! the session ([`SessionHandle`]) into a dense lookup (period x lat x lon -> mean), once, and
//! keeps it while the table stays the same (same provider; for an in-memory table, same batches).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::DateTime;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, Float64Array, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type, Int64Type, Schema, TimeUnit, TimestampMicrosecondType};
use datafusion::catalog::TableProvider;
use datafusion::common::types::{NativeType, logical_date, logical_float64, logical_string};
use datafusion::common::{exec_datafusion_err, exec_err, plan_err};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use datafusion::logical_expr::async_udf::{AsyncScalarUDF, AsyncScalarUDFImpl};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignatureClass, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use datafusion_macros::user_doc;
use tokio::sync::Mutex;

use crate::climatology::{LAT, LON, PERIOD_METADATA, Period, TIME, column};
use crate::session_handle::SessionHandle;

/// Largest lookup, in (period, lat, lon) cells (8 bytes each).
const MAX_CELLS: usize = 100_000_000;

/// Columns of a climatology table that are never its mean.
const NOT_MEAN: [&str; 11] = [TIME, LAT, LON, "period", "month", "dayofyear", "doy", "std", "count", "depth", "granule"];

/// How many times each climatology table has been read, by name (tests check: once).
static LOADS: std::sync::LazyLock<std::sync::Mutex<HashMap<String, usize>>> = std::sync::LazyLock::new(Default::default);

/// How many times climatology table `name` has been read by `anomaly()` in this process.
pub fn load_count(name: &str) -> usize {
    LOADS.lock().map_or(0, |loads| loads.get(name).copied().unwrap_or(0))
}

/// The `anomaly` function, ready to register in the session `handle` points to.
pub fn udf(handle: SessionHandle) -> ScalarUDF {
    AsyncScalarUDF::new(Arc::new(Anomaly::new(handle))).into_scalar_udf()
}

/// The documentation of `anomaly` (the async wrapper DataFusion registers does not pass it on).
pub fn documentation() -> Option<&'static Documentation> {
    static ANOMALY: std::sync::LazyLock<Anomaly> = std::sync::LazyLock::new(|| Anomaly::new(SessionHandle::new()));
    ANOMALY.doc()
}

#[user_doc(
    doc_section(label = "Oceanographic Functions"),
    description = "The value minus the climatological mean of its grid cell and period (month or day of year, UTC), looked up in a climatology table. The table: a climatology() result (CREATE TABLE clim AS SELECT * FROM climatology(...)), a table with lat, lon, a `month` or `dayofyear` column and a `mean`, or a NetCDF/Zarr table with time, lat, lon whose time steps are at most one per month (a monthly climatology, e.g. 12 steps) or consecutive days; the mean is the `mean` column, else the table's only numeric variable. NULL when an argument is NULL, when the climatology has no value for that period and cell, or when the point is on the climatology's grid but outside it (a regional climatology). A point that is not a cell of its grid (within 1% of the grid spacing; longitudes compared modulo 360) is an error: the grids differ. The table is read once and kept until it is replaced.",
    syntax_example = "anomaly(value, time, lat, lon, '<climatology table>')",
    sql_example = r#"```sql
> CREATE TABLE clim AS SELECT * FROM climatology('sst_monthly', 'sst', 'month', 1991, 2020);
> SELECT time, lat, lon, anomaly(sst, time, lat, lon, 'clim') AS ssta FROM sst_monthly WHERE time >= '2023-01-01';
```"#,
    argument(name = "value", description = "The value (a number)."),
    argument(name = "time", description = "Its timestamp (or date)."),
    argument(name = "lat", description = "Its latitude, degrees."),
    argument(name = "lon", description = "Its longitude, degrees (any range: compared modulo 360)."),
    argument(name = "climatology table", description = "Name of the climatology table, a text literal in quotes.")
)]
#[derive(Debug)]
pub struct Anomaly {
    signature: Signature,
    handle: SessionHandle,
    cache: Mutex<HashMap<String, Cached>>,
}

impl PartialEq for Anomaly {
    fn eq(&self, other: &Self) -> bool {
        self.signature == other.signature
    }
}

impl Eq for Anomaly {}

impl Hash for Anomaly {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.signature.hash(state);
    }
}

impl Anomaly {
    pub fn new(handle: SessionHandle) -> Self {
        let number = Coercion::new_implicit(
            TypeSignatureClass::Native(logical_float64()),
            vec![TypeSignatureClass::Numeric],
            NativeType::Float64,
        );
        let time = Coercion::new_implicit(
            TypeSignatureClass::Timestamp,
            vec![TypeSignatureClass::Native(logical_date())],
            NativeType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        );
        let text = Coercion::new_exact(TypeSignatureClass::Native(logical_string()));
        // Volatile: never folded at planning time (the function runs asynchronously only).
        let signature = Signature::coercible(vec![number.clone(), time, number.clone(), number, text], Volatility::Volatile);
        Self { signature, handle, cache: Mutex::new(HashMap::new()) }
    }

    /// The lookup of climatology table `name`, read again only when the table has changed.
    async fn lookup(&self, name: &str) -> Result<Arc<Lookup>> {
        let ctx = self.handle.context("anomaly")?;
        let provider = ctx
            .table_provider(name)
            .await
            .map_err(|_| exec_datafusion_err!("anomaly(): no climatology table '{name}' (argument 5)"))?;
        let version = version(&provider).await;
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.get(name)
            && Arc::ptr_eq(&c.provider, &provider)
            && c.version == version
        {
            return Ok(c.lookup.clone());
        }
        let lookup = Arc::new(load(&ctx, name).await?);
        if let Ok(mut loads) = LOADS.lock() {
            *loads.entry(name.to_string()).or_default() += 1;
        }
        cache.insert(name.to_string(), Cached { provider, version, lookup: lookup.clone() });
        Ok(lookup)
    }
}

/// A loaded climatology and what it was loaded from.
#[derive(Debug)]
struct Cached {
    provider: Arc<dyn TableProvider>,
    version: Vec<(usize, usize)>,
    lookup: Arc<Lookup>,
}

/// What identifies the contents of an in-memory table (INSERT adds batches): each batch's
/// first column and row count. Empty for other tables, whose provider is replaced when they change.
async fn version(provider: &Arc<dyn TableProvider>) -> Vec<(usize, usize)> {
    let Some(memory) = provider.downcast_ref::<MemTable>() else { return vec![] };
    let mut version = vec![];
    for partition in &memory.batches {
        for batch in partition.read().await.iter() {
            let first = batch.columns().first().map_or(0, |c| Arc::as_ptr(c) as *const () as usize);
            version.push((first, batch.num_rows()));
        }
    }
    version
}

impl ScalarUDFImpl for Anomaly {
    fn name(&self) -> &str {
        "anomaly"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        match args.scalar_arguments.get(4) {
            Some(Some(ScalarValue::Utf8(Some(_)) | ScalarValue::LargeUtf8(Some(_)) | ScalarValue::Utf8View(Some(_)))) => {
                Ok(Arc::new(Field::new(self.name(), DataType::Float64, true)))
            }
            _ => plan_err!("anomaly(): the climatology table (argument 5) must be a text literal in quotes: anomaly(value, time, lat, lon, 'clim')"),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.doc()
    }

    fn invoke_with_args(&self, _args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        exec_err!("anomaly() runs asynchronously only")
    }
}

#[async_trait]
impl AsyncScalarUDFImpl for Anomaly {
    async fn invoke_async_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let [value, time, lat, lon, table] = args.args.as_slice() else {
            return exec_err!("anomaly() takes 5 arguments: anomaly(value, time, lat, lon, '<climatology table>')");
        };
        let name = match table {
            ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s))) => s.clone(),
            _ => return exec_err!("anomaly(): the climatology table (argument 5) must be a text literal in quotes"),
        };
        let lookup = self.lookup(&name).await?;
        let float = |v: &ColumnarValue| -> Result<ArrayRef> { Ok(cast(&v.to_array(rows)?, &DataType::Float64)?) };
        let (value, lat, lon) = (float(value)?, float(lat)?, float(lon)?);
        let time = cast(&time.to_array(rows)?, &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())))?;
        let (value, lat, lon) = (value.as_primitive::<Float64Type>(), lat.as_primitive::<Float64Type>(), lon.as_primitive::<Float64Type>());
        let time = time.as_primitive::<TimestampMicrosecondType>();
        let mut out = Vec::with_capacity(rows);
        for i in 0..rows {
            if value.is_null(i) || time.is_null(i) || lat.is_null(i) || lon.is_null(i) {
                out.push(None);
                continue;
            }
            let mean = lookup.mean(time.value(i), lat.value(i), lon.value(i))?;
            out.push(mean.map(|m| value.value(i) - m));
        }
        Ok(ColumnarValue::Array(Arc::new(Float64Array::from(out))))
    }
}

/// The sorted distinct values of a lat or lon axis of a climatology, with their spacing.
#[derive(Debug)]
struct Axis {
    values: Vec<f64>,
    /// Smallest spacing between two values (0 with one value).
    step: f64,
    /// Largest distance from a value that still is that value.
    tolerance: f64,
    /// Longitudes: compared modulo 360.
    wrap: bool,
}

/// Where a coordinate falls on an axis.
enum Place {
    Cell(usize),
    /// On the lattice of the axis (first value + k step) but not one of its values.
    Outside,
    OffGrid,
}

impl Axis {
    fn new(mut values: Vec<f64>, wrap: bool) -> Self {
        if wrap {
            values.iter_mut().for_each(|x| *x = normalize_lon(*x));
        }
        values.sort_by(f64::total_cmp);
        values.dedup();
        let step = values.windows(2).map(|w| w[1] - w[0]).fold(f64::INFINITY, f64::min);
        let step = if step.is_finite() { step } else { 0.0 };
        let tolerance = if step > 0.0 { 0.01 * step } else { 1e-6 };
        Self { values, step, tolerance, wrap }
    }

    fn distance(&self, a: f64, b: f64) -> f64 {
        let d = (a - b).abs();
        if self.wrap { d.min(360.0 - d) } else { d }
    }

    fn place(&self, x: f64) -> Place {
        let x = if self.wrap { normalize_lon(x) } else { x };
        let n = self.values.len();
        let at = self.values.partition_point(|v| *v < x);
        let candidates = [at.saturating_sub(1), at.min(n - 1), 0, n - 1];
        let nearest = candidates.into_iter().min_by(|a, b| self.distance(x, self.values[*a]).total_cmp(&self.distance(x, self.values[*b])));
        if let Some(i) = nearest.filter(|i| self.distance(x, self.values[*i]) <= self.tolerance) {
            return Place::Cell(i);
        }
        if self.step == 0.0 {
            return Place::OffGrid;
        }
        let offset = x - self.values[0];
        let offsets = if self.wrap { vec![offset.rem_euclid(360.0), offset.rem_euclid(360.0) - 360.0] } else { vec![offset] };
        let aligned = offsets.iter().any(|o| (o / self.step - (o / self.step).round()).abs() * self.step <= self.tolerance);
        if aligned { Place::Outside } else { Place::OffGrid }
    }

    fn describe(&self) -> String {
        let (first, last) = (self.values[0], self.values[self.values.len() - 1]);
        if self.step > 0.0 { format!("{first} to {last} by {}", self.step) } else { format!("{first}") }
    }
}

/// A longitude in [-180, 180).
fn normalize_lon(x: f64) -> f64 {
    (x + 180.0).rem_euclid(360.0) - 180.0 + 0.0
}

/// A climatology as a dense array: mean by (period, lat index, lon index), NaN where it has none.
#[derive(Debug)]
pub struct Lookup {
    table: String,
    period: Period,
    /// Slot in `means` of each period number (index 0 unused).
    slots: Vec<Option<usize>>,
    lat: Axis,
    lon: Axis,
    means: Vec<f64>,
}

impl Lookup {
    /// The mean at a time and place: `None` if the climatology has none there; an error if the
    /// place is not on the climatology's grid.
    fn mean(&self, micros: i64, lat: f64, lon: f64) -> Result<Option<f64>> {
        let slot = self.period.of_micros(micros).and_then(|p| self.slots.get(p).copied().flatten());
        let (i, j) = match (self.lat.place(lat), self.lon.place(lon)) {
            (Place::Cell(i), Place::Cell(j)) => (i, j),
            (Place::OffGrid, _) | (_, Place::OffGrid) => {
                return exec_err!(
                    "anomaly(): the point (lat {lat}, lon {lon}) is not a cell of the grid of climatology table '{}' \
                     (lat {}, lon {}): the grids differ; put the values on its grid first (grid_snap(), resample(), interp())",
                    self.table,
                    self.lat.describe(),
                    self.lon.describe()
                );
            }
            _ => return Ok(None),
        };
        let Some(slot) = slot else { return Ok(None) };
        let mean = self.means[(slot * self.lat.values.len() + i) * self.lon.values.len() + j];
        Ok((!mean.is_nan()).then_some(mean))
    }
}

/// Reads climatology table `name` into a [`Lookup`].
async fn load(ctx: &SessionContext, name: &str) -> Result<Lookup> {
    let df = ctx.table(name).await?;
    let schema: Schema = df.schema().as_arrow().clone();
    for axis in [LAT, LON] {
        match schema.field_with_name(axis) {
            Ok(f) if f.data_type().is_numeric() => {}
            _ => return exec_err!("anomaly(): climatology table '{name}' has no numeric '{axis}' column"),
        }
    }
    let (key, kind) = period_column(name, &schema)?;
    let mean = mean_column(name, &schema)?;
    let batches = df.select(vec![column(&key), column(LAT), column(LON), column(&mean)])?.collect().await?;
    let mut rows = Rows::read(&batches, kind.is_none())?;
    let period = match kind {
        Some(Known::Period(p)) => p,
        Some(Known::FromValues) => rows.period_from_numbers(name)?,
        None => rows.period_from_times(name)?,
    };
    rows.into_lookup(name, period)
}

/// How the period kind of a climatology table is known.
enum Known {
    Period(Period),
    /// From the largest period number (<= 12: months).
    FromValues,
}

/// The column holding the period (and how its kind is known), `None` when it is `time`.
fn period_column(name: &str, schema: &Schema) -> Result<(String, Option<Known>)> {
    let integer = |c: &str| schema.field_with_name(c).ok().filter(|f| f.data_type().is_integer());
    if let Some(field) = integer("period") {
        let kind = field.metadata().get(PERIOD_METADATA).and_then(|k| Period::parse(k));
        return Ok(("period".into(), Some(kind.map_or(Known::FromValues, Known::Period))));
    }
    if integer("month").is_some() {
        return Ok(("month".into(), Some(Known::Period(Period::Month))));
    }
    for doy in ["dayofyear", "doy"] {
        if integer(doy).is_some() {
            return Ok((doy.into(), Some(Known::Period(Period::DayOfYear))));
        }
    }
    match schema.field_with_name(TIME).map(|f| f.data_type()) {
        Ok(DataType::Timestamp(..) | DataType::Date32 | DataType::Date64) => Ok((TIME.into(), None)),
        _ => exec_err!(
            "anomaly(): climatology table '{name}' has no period: expected an integer 'period', 'month' or 'dayofyear' column, or a 'time' column"
        ),
    }
}

/// The mean column: `mean`, else the only numeric column that is not a coordinate or an index.
fn mean_column(name: &str, schema: &Schema) -> Result<String> {
    if schema.field_with_name("mean").is_ok_and(|f| f.data_type().is_numeric()) {
        return Ok("mean".into());
    }
    let candidates: Vec<&str> = schema
        .fields()
        .iter()
        .filter(|f| f.data_type().is_numeric() && !NOT_MEAN.contains(&f.name().as_str()) && !f.name().ends_with("_index"))
        .map(|f| f.name().as_str())
        .collect();
    match candidates.as_slice() {
        [one] => Ok(one.to_string()),
        [] => exec_err!("anomaly(): climatology table '{name}' has no numeric variable to take as its mean (a 'mean' column, or one variable)"),
        many => exec_err!(
            "anomaly(): climatology table '{name}' has several numeric variables ({}): name one 'mean', e.g. CREATE VIEW clim AS SELECT time, lat, lon, {} AS mean FROM {name}",
            many.join(", "),
            many[0]
        ),
    }
}

/// The rows of a climatology table: period number (or time, microseconds), lat, lon, mean.
struct Rows {
    keys: Vec<i64>,
    lat: Vec<f64>,
    lon: Vec<f64>,
    mean: Vec<f64>,
}

impl Rows {
    /// Rows without a key, lat or lon are left out; a NULL mean is NaN.
    fn read(batches: &[RecordBatch], times: bool) -> Result<Self> {
        let mut rows = Rows { keys: vec![], lat: vec![], lon: vec![], mean: vec![] };
        let key_type = if times { DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())) } else { DataType::Int64 };
        for batch in batches {
            let key = cast(cast(batch.column(0), &key_type)?.as_ref(), &DataType::Int64)?;
            let [lat, lon, mean] = [1, 2, 3].map(|c| cast(batch.column(c), &DataType::Float64));
            let (lat, lon, mean) = (lat?, lon?, mean?);
            let (key, lat, lon, mean) = (
                key.as_primitive::<Int64Type>(),
                lat.as_primitive::<Float64Type>(),
                lon.as_primitive::<Float64Type>(),
                mean.as_primitive::<Float64Type>(),
            );
            for i in 0..batch.num_rows() {
                if key.is_null(i) || lat.is_null(i) || lon.is_null(i) {
                    continue;
                }
                rows.keys.push(key.value(i));
                rows.lat.push(lat.value(i));
                rows.lon.push(lon.value(i));
                rows.mean.push(if mean.is_null(i) { f64::NAN } else { mean.value(i) });
            }
        }
        Ok(rows)
    }

    fn period_from_numbers(&self, name: &str) -> Result<Period> {
        match self.keys.iter().copied().max().unwrap_or(0) {
            ..=12 => Ok(Period::Month),
            13..=366 => Ok(Period::DayOfYear),
            largest => exec_err!("anomaly(): climatology table '{name}' has period {largest}, more than 366"),
        }
    }

    /// Month if no two distinct times share a month, else day of year if the times are
    /// consecutive days of at most a year; the keys become period numbers.
    fn period_from_times(&mut self, name: &str) -> Result<Period> {
        const DAY: i64 = 86_400_000_000;
        let mut times = self.keys.clone();
        times.sort_unstable();
        times.dedup();
        let mut months: HashMap<usize, i64> = HashMap::new();
        let clash = times.iter().find_map(|&t| months.insert(Period::Month.of_micros(t).unwrap_or(0), t).map(|other| (other, t)));
        let daily = times.len() <= 366 && times.windows(2).all(|w| w[1] - w[0] == DAY);
        let period = match clash {
            None => Period::Month,
            Some(_) if daily => Period::DayOfYear,
            Some((a, b)) => {
                let show = |t: i64| DateTime::from_timestamp_micros(t).map_or(t.to_string(), |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string());
                return exec_err!(
                    "anomaly(): climatology table '{name}' has {} time steps, two in the same month ({}, {}), and they are not \
                     consecutive days: expected at most one per month (a monthly climatology) or one a day over at most a year (a daily climatology)",
                    times.len(),
                    show(a),
                    show(b)
                );
            }
        };
        for key in self.keys.iter_mut() {
            *key = period.of_micros(*key).unwrap_or(0) as i64;
        }
        Ok(period)
    }

    fn into_lookup(self, name: &str, period: Period) -> Result<Lookup> {
        if self.keys.is_empty() {
            return exec_err!("anomaly(): climatology table '{name}' is empty");
        }
        let mut slots = vec![None; period.count() + 1];
        let mut used: usize = 0;
        for &k in &self.keys {
            let Some(slot) = usize::try_from(k).ok().filter(|p| (1..=period.count()).contains(p)).map(|p| &mut slots[p]) else {
                return exec_err!("anomaly(): climatology table '{name}' has period {k}, not a {} (1 to {})", period.name(), period.count());
            };
            if slot.is_none() {
                *slot = Some(used);
                used += 1;
            }
        }
        let (lat, lon) = (Axis::new(self.lat.clone(), false), Axis::new(self.lon.clone(), true));
        let (nlat, nlon) = (lat.values.len(), lon.values.len());
        let cells = used.saturating_mul(nlat).saturating_mul(nlon);
        if cells > MAX_CELLS {
            return exec_err!(
                "anomaly(): climatology table '{name}' is too large to look up: {used} periods x {nlat} latitudes x {nlon} longitudes (at most {MAX_CELLS} cells)"
            );
        }
        let mut means = vec![f64::NAN; cells];
        let mut filled = vec![false; cells];
        for r in 0..self.keys.len() {
            let (Place::Cell(i), Place::Cell(j)) = (lat.place(self.lat[r]), lon.place(self.lon[r])) else {
                return exec_err!("anomaly(): climatology table '{name}': lat {} or lon {} is not on its own grid", self.lat[r], self.lon[r]);
            };
            let slot = slots[self.keys[r] as usize].unwrap_or(0);
            let cell = (slot * nlat + i) * nlon + j;
            if filled[cell] {
                return exec_err!(
                    "anomaly(): climatology table '{name}' has more than one row for {} {} at lat {}, lon {} (a depth axis? several grids?)",
                    period.name(),
                    self.keys[r],
                    self.lat[r],
                    self.lon[r]
                );
            }
            filled[cell] = true;
            means[cell] = self.mean[r];
        }
        Ok(Lookup { table: name.to_string(), period, slots, lat, lon, means })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_places_cells_lattice_points_and_others() {
        let lon = Axis::new(vec![178.5, 179.5, 180.5, 181.5], true);
        assert!(matches!(lon.place(-179.5), Place::Cell(0)));
        assert!(matches!(lon.place(180.5), Place::Cell(0)));
        assert!(matches!(lon.place(538.5), Place::Cell(2)));
        assert!(matches!(lon.place(179.5 + 0.005), Place::Cell(3)));
        assert!(matches!(lon.place(10.5), Place::Outside));
        assert!(matches!(lon.place(179.0), Place::OffGrid));
        let lat = Axis::new(vec![-1.0, 1.0, 3.0], false);
        assert!(matches!(lat.place(5.0), Place::Outside));
        assert!(matches!(lat.place(0.0), Place::OffGrid));
        let single = Axis::new(vec![10.0], false);
        assert!(matches!(single.place(10.0), Place::Cell(0)));
        assert!(matches!(single.place(11.0), Place::OffGrid));
    }

    #[test]
    fn global_lon_axis_wraps_at_the_seam() {
        let lon = Axis::new((0..360).map(|k| -180.0 + k as f64).collect(), true);
        assert!(matches!(lon.place(180.0), Place::Cell(0)));
        assert!(matches!(lon.place(179.999_999_9), Place::Cell(0)));
        assert!(matches!(lon.place(-180.000_000_1), Place::Cell(0)));
    }
}
