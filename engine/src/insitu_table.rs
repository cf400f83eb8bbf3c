//! In situ records (drifters, Argo profiles, moorings, ships) from CSV and Parquet files as one
//! table with OceanQL's column conventions:
//!
//! ```sql
//! CREATE EXTERNAL TABLE drifters STORED AS INSITU LOCATION 'data/drifters/*.csv'
//!   OPTIONS ('time' 'obs_date', 'time_format' '%Y%m%d%H%M%S');
//! ```
//!
//! Each file is read by DataFusion's own CSV or Parquet scan, one scan per file, so that an
//! error names its file and every row knows its `granule`. [`InsituScanExec`] runs those scans
//! and turns their batches into the normalised columns: `platform_id`, `time` (µs, UTC),
//! `lat`, `lon` (in [-180, 180)), `depth` when there is one, the other source columns
//! unchanged, and `granule`. Filters on time/lat/lon/depth become a pruning predicate on the
//! source columns of Parquet files (row groups whose statistics miss the window are skipped).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, DictionaryArray, Float64Array, Int32Array, RecordBatch, RecordBatchOptions, StringArray,
    TimestampMicrosecondArray, new_null_array,
};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, Field, Float64Type, Int32Type, Int64Type, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider, TableProviderFactory};
use datafusion::common::config::CsvOptions;
use datafusion::common::parsers::CompressionTypeVariant;
use datafusion::common::{Column, DFSchema, DataFusionError, internal_err, plan_datafusion_err, plan_err};
use datafusion::datasource::TableType;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingTableUrl, PartitionedFile};
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, FileSource, ParquetSource};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{CreateExternalTable, Expr, TableProviderFilterPushDown, and, lit, or};
use datafusion::object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use datafusion::scalar::ScalarValue;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use oceanql_connectors::cf::{TimeUnits, normalize_lon};

use crate::window::{Interval, Ranges, Window, window_pushdown};

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

/// The OPTIONS keys `STORED AS INSITU` accepts.
pub const ACCEPTED_OPTIONS: [&str; 16] = [
    "time",
    "lat",
    "lon",
    "platform_id",
    "depth",
    "time_format",
    "time_unit",
    "format",
    "has_header",
    "delimiter",
    "comment",
    "quote",
    "escape",
    "null_regex",
    "schema_infer_max_rec",
    "compression",
];

/// Namespaced options meant for an object store (credentials, region), not for this format.
const STORE_OPTION_PREFIXES: [&str; 6] = ["aws.", "gcp.", "google.", "azure.", "http.", "s3."];

/// What a source column stands for; the name is both the OPTIONS key and the output column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Role {
    PlatformId,
    Time,
    Lat,
    Lon,
    Depth,
}

const ROLES: [Role; 5] = [Role::PlatformId, Role::Time, Role::Lat, Role::Lon, Role::Depth];

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::PlatformId => "platform_id",
            Role::Time => "time",
            Role::Lat => "lat",
            Role::Lon => "lon",
            Role::Depth => "depth",
        }
    }

    fn from_name(name: &str) -> Option<Role> {
        ROLES.into_iter().find(|r| r.name() == name)
    }

    /// Usual source names, most likely first (matched case-insensitively).
    fn guesses(self) -> &'static [&'static str] {
        match self {
            Role::Time => &["time", "date", "datetime", "timestamp", "juld", "obs_time", "date_time"],
            Role::Lat => &["lat", "latitude", "y_lat"],
            Role::Lon => &["lon", "long", "longitude", "lng"],
            Role::PlatformId => &[
                "platform_id",
                "platform",
                "platform_number",
                "platform_code",
                "wmo",
                "wmo_id",
                "drifter_id",
                "buoy_id",
                "station_id",
                "id",
            ],
            Role::Depth => &["depth", "z"],
        }
    }

    fn required(self) -> bool {
        matches!(self, Role::Time | Role::Lat | Role::Lon)
    }
}

/// The two file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Csv,
    Parquet,
}

impl FileKind {
    fn parse(value: &str) -> Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "csv" | "tsv" | "txt" => Ok(FileKind::Csv),
            "parquet" | "pq" => Ok(FileKind::Parquet),
            _ => plan_err!("OPTIONS ('format' '{value}'): unknown format (use 'csv' or 'parquet')"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileKind::Csv => "csv",
            FileKind::Parquet => "parquet",
        }
    }

    fn extensions(self) -> &'static [&'static str] {
        match self {
            FileKind::Csv => &["csv", "txt", "tsv"],
            FileKind::Parquet => &["parquet", "pq", "parq"],
        }
    }

    /// The kind a file name says, and the compression of a CSV file (`x.csv.gz`).
    fn from_name(name: &str) -> Option<(FileKind, CompressionTypeVariant)> {
        let lower = name.to_ascii_lowercase();
        let (stem, compression) = split_compression(&lower);
        let ext = stem.rsplit_once('.')?.1;
        [FileKind::Csv, FileKind::Parquet]
            .into_iter()
            .find(|k| k.extensions().contains(&ext))
            .filter(|k| *k == FileKind::Csv || compression == CompressionTypeVariant::UNCOMPRESSED)
            .map(|k| (k, compression))
    }
}

fn split_compression(name: &str) -> (&str, CompressionTypeVariant) {
    let suffixes = [
        (".gz", CompressionTypeVariant::GZIP),
        (".bz2", CompressionTypeVariant::BZIP2),
        (".xz", CompressionTypeVariant::XZ),
        (".zst", CompressionTypeVariant::ZSTD),
    ];
    for (suffix, variant) in suffixes {
        if let Some(stem) = name.strip_suffix(suffix) {
            return (stem, variant);
        }
    }
    (name, CompressionTypeVariant::UNCOMPRESSED)
}

/// CSV reading options given in OPTIONS (the rest are DataFusion's defaults).
#[derive(Clone, Debug, Default)]
struct CsvOverrides {
    has_header: Option<bool>,
    delimiter: Option<u8>,
    comment: Option<u8>,
    quote: Option<u8>,
    escape: Option<u8>,
    null_regex: Option<String>,
    infer_rows: Option<usize>,
    compression: Option<CompressionTypeVariant>,
}

/// Everything OPTIONS says about how to read the files.
#[derive(Clone, Debug)]
pub struct InsituOptions {
    columns: HashMap<Role, String>,
    time: TimeParsing,
    format: Option<FileKind>,
    csv: CsvOverrides,
}

impl InsituOptions {
    /// Parses the OPTIONS of `CREATE EXTERNAL TABLE` (keys come prefixed with `format.`).
    pub fn parse(options: &HashMap<String, String>) -> Result<Self> {
        let mut columns = HashMap::new();
        let mut csv = CsvOverrides::default();
        let (mut format, mut time_format, mut time_unit) = (None, None, None);
        let mut keys: Vec<(&String, &String)> = options.iter().collect();
        keys.sort();
        for (key, value) in keys {
            if STORE_OPTION_PREFIXES.iter().any(|p| key.starts_with(p)) {
                continue;
            }
            let key = key.strip_prefix("format.").unwrap_or(key);
            if let Some(role) = Role::from_name(key) {
                columns.insert(role, value.clone());
                continue;
            }
            match key {
                "time_format" => time_format = Some(value.clone()),
                "time_unit" => time_unit = Some(value.clone()),
                "format" => format = Some(FileKind::parse(value)?),
                "has_header" => csv.has_header = Some(parse_bool(key, value)?),
                "delimiter" => csv.delimiter = Some(parse_byte(key, value)?),
                "comment" => csv.comment = Some(parse_byte(key, value)?),
                "quote" => csv.quote = Some(parse_byte(key, value)?),
                "escape" => csv.escape = Some(parse_byte(key, value)?),
                "null_regex" => csv.null_regex = Some(value.clone()),
                "schema_infer_max_rec" => csv.infer_rows = Some(parse_count(key, value)?),
                "compression" => csv.compression = Some(parse_compression(value)?),
                _ => {
                    return plan_err!(
                        "unknown option '{key}' for STORED AS INSITU; accepted options: {}",
                        ACCEPTED_OPTIONS.join(", ")
                    );
                }
            }
        }
        let time = TimeParsing::new(time_format, time_unit.as_deref())?;
        Ok(InsituOptions { columns, time, format, csv })
    }

    /// The CSV format for one file (a `.tsv` file is tab-separated unless OPTIONS say otherwise).
    fn csv_format(&self, state: &dyn Session, file: &Listed) -> CsvFormat {
        let mut o: CsvOptions = state.default_table_options().csv;
        let c = &self.csv;
        o.has_header = Some(c.has_header.unwrap_or(true));
        o.delimiter = self.delimiter(file);
        o.comment = c.comment.or(file.comment).or(o.comment);
        o.quote = c.quote.unwrap_or(o.quote);
        o.escape = c.escape.or(o.escape);
        o.null_regex = c.null_regex.clone().or(o.null_regex);
        o.schema_infer_max_rec = c.infer_rows.or(o.schema_infer_max_rec);
        o.compression = c.compression.unwrap_or(file.compression);
        CsvFormat::default().with_options(o)
    }

    /// The delimiter of a CSV file: OPTIONS, else a tab for `.tsv` files, else a comma.
    fn delimiter(&self, file: &Listed) -> u8 {
        let tsv = file.granule.to_ascii_lowercase().contains(".tsv");
        self.csv.delimiter.unwrap_or(if tsv { b'\t' } else { b',' })
    }
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => plan_err!("OPTIONS ('{key}' '{value}'): expected true or false"),
    }
}

fn parse_byte(key: &str, value: &str) -> Result<u8> {
    match value {
        "\\t" | "\t" | "tab" => Ok(b'\t'),
        v if v.len() == 1 => Ok(v.as_bytes()[0]),
        _ => plan_err!("OPTIONS ('{key}' '{value}'): expected a single ASCII character (or '\\t')"),
    }
}

fn parse_count(key: &str, value: &str) -> Result<usize> {
    value.trim().parse().map_err(|_| plan_datafusion_err!("OPTIONS ('{key}' '{value}'): expected a number of records"))
}

fn parse_compression(value: &str) -> Result<CompressionTypeVariant> {
    value.parse().map_err(|_| {
        plan_datafusion_err!("OPTIONS ('compression' '{value}'): expected gzip, bzip2, xz, zstd or uncompressed")
    })
}

// ---------------------------------------------------------------------------------------------
// Times
// ---------------------------------------------------------------------------------------------

/// How numbers in a time column are read.
#[derive(Clone, Debug)]
enum Numbers {
    /// Since 1970-01-01 in this many microseconds per unit; `explicit` when OPTIONS gave the unit.
    Epoch { unit: EpochUnit, explicit: bool },
    /// CF units given as OPTIONS ('time_unit' 'days since 1950-01-01').
    Cf(TimeUnits),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EpochUnit {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

impl EpochUnit {
    fn micros(self, v: i64) -> Option<i64> {
        match self {
            EpochUnit::Seconds => v.checked_mul(1_000_000),
            EpochUnit::Millis => v.checked_mul(1_000),
            EpochUnit::Micros => Some(v),
            EpochUnit::Nanos => Some(v.div_euclid(1_000)),
        }
    }

    fn micros_per_unit(self) -> f64 {
        match self {
            EpochUnit::Seconds => 1e6,
            EpochUnit::Millis => 1e3,
            EpochUnit::Micros => 1.0,
            EpochUnit::Nanos => 1e-3,
        }
    }
}

/// How the values of a time column become microseconds since 1970-01-01 UTC.
#[derive(Clone, Debug)]
pub struct TimeParsing {
    format: Option<String>,
    numbers: Numbers,
}

/// Integers of 14 digits read as `YYYYMMDDhhmmss` when no unit is given (Argo's index dates):
/// as epoch seconds they would be 300,000 years away.
const COMPACT_DATES: std::ops::Range<i64> = 10_000_000_000_000..100_000_000_000_000;

impl TimeParsing {
    /// From OPTIONS 'time_format' (chrono strftime) and 'time_unit' (s, ms, us, ns or CF units).
    pub fn new(format: Option<String>, unit: Option<&str>) -> Result<Self> {
        let numbers = match unit.map(str::trim) {
            None => Numbers::Epoch { unit: EpochUnit::Seconds, explicit: false },
            Some(u) => {
                let epoch = |unit| Numbers::Epoch { unit, explicit: true };
                match u.to_ascii_lowercase().as_str() {
                    "s" | "sec" | "second" | "seconds" => epoch(EpochUnit::Seconds),
                    "ms" | "millisecond" | "milliseconds" => epoch(EpochUnit::Millis),
                    "us" | "µs" | "microsecond" | "microseconds" => epoch(EpochUnit::Micros),
                    "ns" | "nanosecond" | "nanoseconds" => epoch(EpochUnit::Nanos),
                    l if l.contains(" since ") => Numbers::Cf(TimeUnits::parse(u, None, "OPTIONS", "time_unit")?),
                    _ => {
                        return plan_err!(
                            "OPTIONS ('time_unit' '{u}'): expected s, ms, us, ns or CF units such as 'days since 1950-01-01'"
                        );
                    }
                }
            }
        };
        Ok(TimeParsing { format, numbers })
    }

    /// A time written as text: ISO 8601 (or `time_format`), or a number. Empty is NULL.
    pub fn text(&self, s: &str) -> std::result::Result<Option<i64>, String> {
        let s = s.trim();
        if s.is_empty() || s.eq_ignore_ascii_case("nan") {
            return Ok(None);
        }
        if let Some(f) = &self.format {
            return parse_with_format(s, f)
                .map(Some)
                .ok_or_else(|| format!("cannot parse '{s}' with time_format '{f}'"));
        }
        if let Some(t) = parse_iso(s) {
            return checked(Some(t), s);
        }
        if let Ok(v) = s.parse::<i64>() {
            return self.int(v);
        }
        match s.parse::<f64>() {
            Ok(v) if v.is_finite() => self.float(v),
            _ => Err(format!("cannot parse '{s}' as a time (ISO 8601, or set OPTIONS ('time_format' ...))")),
        }
    }

    /// An integer time: epoch in `time_unit`, CF units, `YYYYMMDDhhmmss`, or text for `time_format`.
    pub fn int(&self, v: i64) -> std::result::Result<Option<i64>, String> {
        if let Some(f) = &self.format {
            return parse_with_format(&v.to_string(), f)
                .map(Some)
                .ok_or_else(|| format!("cannot parse '{v}' with time_format '{f}'"));
        }
        match &self.numbers {
            Numbers::Cf(units) => checked(units.to_micros(v as f64), &v.to_string()),
            Numbers::Epoch { explicit: false, .. } if COMPACT_DATES.contains(&v) => {
                parse_with_format(&v.to_string(), "%Y%m%d%H%M%S").map(Some).ok_or_else(|| {
                    format!(
                        "cannot parse '{v}' as a time (a 14-digit YYYYMMDDhhmmss? else set OPTIONS ('time_unit' ...))"
                    )
                })
            }
            Numbers::Epoch { unit, .. } => checked(unit.micros(v), &v.to_string()),
        }
    }

    /// A floating-point time; NaN is NULL (a fill value), whole numbers are read as integers.
    pub fn float(&self, v: f64) -> std::result::Result<Option<i64>, String> {
        if v.is_nan() {
            return Ok(None);
        }
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            return self.int(v as i64);
        }
        if let Some(f) = &self.format {
            return Err(format!("cannot parse '{v}' with time_format '{f}'"));
        }
        let us = match &self.numbers {
            Numbers::Cf(units) => units.to_micros(v),
            Numbers::Epoch { unit, .. } => {
                let x = (v * unit.micros_per_unit()).round();
                (x.abs() < 9.2e18).then_some(x as i64)
            }
        };
        checked(us, &v.to_string())
    }
}

/// A time in microseconds, if it is one chrono can display.
fn checked(us: Option<i64>, value: &str) -> std::result::Result<Option<i64>, String> {
    match us {
        Some(t) if DateTime::from_timestamp_micros(t).is_some() => Ok(Some(t)),
        _ => Err(format!("'{value}' is out of the range of times (check OPTIONS ('time_unit' ...))")),
    }
}

/// ISO 8601: `2019-08-05T20:37:02Z`, with an offset, a space for the T, fractional seconds,
/// no seconds, or a date alone (midnight UTC). No offset means UTC.
fn parse_iso(s: &str) -> Option<i64> {
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d.timestamp_micros());
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M%#z", "%Y-%m-%d %H:%M%#z"] {
        if let Ok(d) = DateTime::parse_from_str(s, f) {
            return Some(d.timestamp_micros());
        }
    }
    let naive = s.strip_suffix(['Z', 'z']).or_else(|| s.strip_suffix(" UTC")).unwrap_or(s);
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(naive, f) {
            return Some(d.and_utc().timestamp_micros());
        }
    }
    let date = NaiveDate::parse_from_str(naive, "%Y-%m-%d").ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

/// A time with a chrono strftime format: with an offset, without (UTC), or a date alone.
fn parse_with_format(s: &str, format: &str) -> Option<i64> {
    if let Ok(d) = DateTime::parse_from_str(s, format) {
        return Some(d.timestamp_micros());
    }
    if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
        return Some(d.and_utc().timestamp_micros());
    }
    let date = NaiveDate::parse_from_str(s, format).ok()?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

/// A file found under a LOCATION.
#[derive(Clone, Debug)]
struct Listed {
    /// The path (local files) or URL the records come from.
    granule: String,
    store: ObjectStoreUrl,
    meta: ObjectMeta,
    kind: FileKind,
    compression: CompressionTypeVariant,
    /// The comment character guessed from the file's first lines (CSV without OPTIONS 'comment').
    comment: Option<u8>,
}

/// One file of the table: how to read it and which of its columns play which role.
#[derive(Debug)]
struct SourceFile {
    file: Listed,
    /// The schema the file is read with (CSV: the time column as text, lat/lon/depth as Float64).
    schema: SchemaRef,
    roles: HashMap<Role, usize>,
}

impl SourceFile {
    fn granule(&self) -> &str {
        &self.file.granule
    }

    /// Any error while reading this file, naming it.
    fn error(&self, e: DataFusionError) -> DataFusionError {
        file_error(self.granule(), e)
    }

    fn is_role(&self, index: usize) -> bool {
        self.roles.values().any(|&i| i == index)
    }
}

fn file_error(granule: &str, e: DataFusionError) -> DataFusionError {
    let text = e.to_string();
    if text.contains("in situ file '") {
        return e;
    }
    DataFusionError::Execution(format!("in situ file '{granule}': {text}"))
}

/// A LOCATION as a listing URL; a glob in a URL with a scheme (`s3://b/dir/*.csv`) is split off
/// as the pattern (DataFusion splits globs of plain paths only).
fn location_url(location: &str) -> Result<ListingTableUrl> {
    let err = |e: DataFusionError| plan_datafusion_err!("LOCATION '{location}': {e}");
    if let Some((_, path)) = location.split_once("://")
        && let Some(first) = path.find(['*', '?', '['])
    {
        let cut = location.len() - path.len() + path[..first].rfind('/').map_or(0, |i| i + 1);
        return ListingTableUrl::parse(&location[..cut]).and_then(|u| u.with_glob(&location[cut..])).map_err(err);
    }
    ListingTableUrl::parse(location).map_err(err)
}

/// Lists the files of every LOCATION (in order, each sorted, without repeats).
async fn list_files(state: &dyn Session, locations: &[String], format: Option<FileKind>) -> Result<Vec<Listed>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for location in locations {
        for f in list_location(state, location, format).await? {
            if seen.insert(f.granule.clone()) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

async fn list_location(state: &dyn Session, location: &str, format: Option<FileKind>) -> Result<Vec<Listed>> {
    let url = location_url(location)?;
    let store_url = url.object_store();
    let err = |e: DataFusionError| plan_datafusion_err!("LOCATION '{location}': {e}");
    let store = state.runtime_env().object_store(&store_url).map_err(err)?;
    let listing = url.list_all_files(state, store.as_ref(), "").await.map_err(err)?;
    let mut metas: Vec<ObjectMeta> = listing.try_collect().await.map_err(err)?;
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let single = metas.len() == 1 && metas[0].location == *url.prefix();
    let named = single || url.get_glob().is_some();
    let mut files = Vec::new();
    for meta in metas {
        let name = meta.location.filename().unwrap_or("").to_string();
        if name.starts_with(['.', '_']) && !single {
            continue;
        }
        let granule = if url.scheme() == "file" {
            format!("/{}", meta.location)
        } else {
            format!("{}{}", store_url.as_str(), meta.location)
        };
        let Some((kind, compression)) = file_kind(&name, format, named, &granule)? else { continue };
        files.push(Listed { granule, store: store_url.clone(), meta, kind, compression, comment: None });
    }
    if files.is_empty() {
        let kinds = format.map_or(vec![FileKind::Csv, FileKind::Parquet], |k| vec![k]);
        let patterns: Vec<String> =
            kinds.iter().flat_map(|k| k.extensions().iter().map(|e| format!("*.{e}"))).collect();
        return plan_err!("LOCATION '{location}' matches no file (looked for {})", patterns.join(", "));
    }
    Ok(files)
}

/// The format of a listed file, or None to skip it (a directory's other files).
/// `named`: the file was named by the LOCATION itself or by its glob, not found in a directory.
fn file_kind(
    name: &str,
    format: Option<FileKind>,
    named: bool,
    granule: &str,
) -> Result<Option<(FileKind, CompressionTypeVariant)>> {
    let from_name = FileKind::from_name(name);
    Ok(match (format, from_name) {
        (Some(f), Some((k, c))) if f == k => Some((k, c)),
        (Some(f), _) if named => Some((f, split_compression(&name.to_ascii_lowercase()).1)),
        (Some(_), _) => None,
        (None, Some(found)) => Some(found),
        (None, None) if named => {
            return plan_err!(
                "in situ file '{granule}': cannot tell its format from its name; set OPTIONS ('format' 'csv') or ('format' 'parquet')"
            );
        }
        (None, None) => None,
    })
}

/// Infers a file's schema and finds its time/lat/lon/platform/depth columns.
async fn describe(state: &dyn Session, mut file: Listed, options: &InsituOptions) -> Result<SourceFile> {
    let store = state.runtime_env().object_store(&file.store)?;
    if file.kind == FileKind::Csv && options.csv.comment.is_none() {
        file.comment = guess_comment(store.as_ref(), &file, options.delimiter(&file)).await?;
    }
    let objects = [file.meta.clone()];
    let inferred = match file.kind {
        FileKind::Csv => options.csv_format(state, &file).infer_schema(state, &store, &objects).await,
        FileKind::Parquet => parquet_format(state).infer_schema(state, &store, &objects).await,
    };
    let schema = inferred.map_err(|e| file_error(&file.granule, e))?;
    let roles = find_roles(&file.granule, &schema, &options.columns)?;
    Ok(SourceFile { file, schema, roles })
}

/// Bytes read from the start of a CSV file to look for comment lines.
const HEAD_BYTES: u64 = 64 * 1024;

/// `#` when an uncompressed CSV file starts with comment lines: several `#` lines, or one that
/// does not have the fields of the line after it (Argo's index files open with 8 such lines).
async fn guess_comment(store: &dyn ObjectStore, file: &Listed, delimiter: u8) -> Result<Option<u8>> {
    if file.compression != CompressionTypeVariant::UNCOMPRESSED {
        return Ok(None);
    }
    let range = 0..file.meta.size.min(HEAD_BYTES);
    let head = store.get_range(&file.meta.location, range).await.map_err(|e| file_error(&file.granule, e.into()))?;
    Ok(starts_with_comments(&String::from_utf8_lossy(&head), delimiter).then_some(b'#'))
}

fn starts_with_comments(head: &str, delimiter: u8) -> bool {
    let mut lines = head.lines().filter(|l| !l.trim().is_empty());
    let Some(first) = lines.next().filter(|l| l.starts_with('#')) else { return false };
    let fields = |line: &str| line.bytes().filter(|&b| b == delimiter).count();
    let mut comments = 1;
    for line in lines {
        if !line.starts_with('#') {
            return comments >= 2 || fields(line) != fields(first);
        }
        comments += 1;
    }
    comments >= 2
}

fn parquet_format(state: &dyn Session) -> ParquetFormat {
    ParquetFormat::default().with_options(state.default_table_options().parquet)
}

/// The column of each role: named by OPTIONS, else guessed from usual names.
fn find_roles(granule: &str, schema: &Schema, named: &HashMap<Role, String>) -> Result<HashMap<Role, usize>> {
    let columns = || schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
    let mut roles = HashMap::new();
    for role in ROLES {
        if let Some(name) = named.get(&role) {
            let Some(i) = find_column(schema, name) else {
                return plan_err!(
                    "in situ file '{granule}': OPTIONS ('{}' '{name}') names no column of this file; its columns are: {}",
                    role.name(),
                    columns()
                );
            };
            roles.insert(role, i);
        } else if let Some(i) = role.guesses().iter().find_map(|g| find_column(schema, g)) {
            roles.insert(role, i);
        } else if role.required() {
            return plan_err!(
                "in situ file '{granule}': no {} column found (looked for {}); set OPTIONS ('{}' '<column>'); its columns are: {}",
                role.name(),
                role.guesses().join(", "),
                role.name(),
                columns()
            );
        }
    }
    Ok(roles)
}

/// A column by its exact name, else by its name in any case.
fn find_column(schema: &Schema, name: &str) -> Option<usize> {
    let fields = schema.fields();
    fields
        .iter()
        .position(|f| f.name() == name)
        .or_else(|| fields.iter().position(|f| f.name().eq_ignore_ascii_case(name)))
}

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// Where an output column comes from.
#[derive(Clone, Debug, PartialEq)]
enum OutColumn {
    Role(Role),
    /// Another source column, by its source name.
    Other(String),
    Granule,
}

/// The in situ records of every file under one or more LOCATIONs.
#[derive(Debug)]
pub struct InsituTable {
    location: String,
    schema: SchemaRef,
    columns: Vec<OutColumn>,
    files: Vec<Arc<SourceFile>>,
    options: Arc<InsituOptions>,
    /// The LOCATIONs and OPTIONS (without object store keys) it was created with, for workers.
    definition: Arc<Definition>,
}

/// What an in situ table was created from: a worker reopens it from this.
#[derive(Debug, Clone, PartialEq)]
struct Definition {
    locations: Vec<String>,
    options: Vec<(String, String)>,
}

/// Files whose schemas are inferred at the same time.
const CONCURRENT_FILES: usize = 8;

impl InsituTable {
    /// Lists the LOCATIONs, infers every file's schema and builds the table schema.
    pub async fn open(state: &dyn Session, locations: &[String], options: InsituOptions) -> Result<Self> {
        Self::open_with(state, locations, options, HashMap::new()).await
    }

    /// [`InsituTable::open`], remembering the OPTIONS `raw` for workers.
    async fn open_with(
        state: &dyn Session,
        locations: &[String],
        options: InsituOptions,
        raw: HashMap<String, String>,
    ) -> Result<Self> {
        let mut kept: Vec<(String, String)> =
            raw.into_iter().filter(|(k, _)| !STORE_OPTION_PREFIXES.iter().any(|p| k.starts_with(p))).collect();
        kept.sort();
        let definition = Arc::new(Definition { locations: locations.to_vec(), options: kept });
        let listed = list_files(state, locations, options.format).await?;
        let described: Vec<SourceFile> = futures::stream::iter(listed)
            .map(|file| describe(state, file, &options))
            .buffered(CONCURRENT_FILES)
            .try_collect()
            .await?;
        let (schema, columns) = table_schema(&described);
        let files = described.into_iter().map(|f| Arc::new(read_schema(f, &schema, &columns))).collect();
        Ok(InsituTable { location: locations.join(", "), schema, columns, files, options: Arc::new(options), definition })
    }

    /// The path or URL of every file, in table order.
    pub fn granules(&self) -> Vec<&str> {
        self.files.iter().map(|f| f.granule()).collect()
    }

    /// The scan of the files at the indexes of each partition.
    async fn scan_files(
        &self,
        state: &dyn Session,
        projection: Vec<usize>,
        window: Window,
        limit: Option<usize>,
        partitions: Vec<Vec<usize>>,
    ) -> Result<InsituScanExec> {
        let columns: Vec<OutColumn> = projection.iter().map(|&i| self.columns.get(i).cloned()).collect::<Option<_>>()
            .ok_or_else(|| plan_datafusion_err!("{}: projection {projection:?} out of range", self.location))?;
        let mut parts = Vec::with_capacity(partitions.len());
        for files in partitions {
            let mut scans = Vec::with_capacity(files.len());
            for i in files {
                let file = self.files.get(i).ok_or_else(|| plan_datafusion_err!("{}: no file {i}", self.location))?;
                scans.push(Arc::new(self.file_scan(state, i, file, &columns, &window, limit).await?));
            }
            parts.push(scans);
        }
        let out = Arc::new(Output {
            schema: Arc::new(self.schema.project(&projection)?),
            columns,
            time: self.options.time.clone(),
        });
        let source = Arc::new(ScanSource { definition: self.definition.clone(), projection });
        Ok(InsituScanExec::new(self.location.clone(), source, out, parts, self.files.len(), window, limit))
    }

    /// The scan of one file: its source columns for `columns`, and a pruning predicate.
    async fn file_scan(
        &self,
        state: &dyn Session,
        index: usize,
        file: &Arc<SourceFile>,
        columns: &[OutColumn],
        window: &Window,
        limit: Option<usize>,
    ) -> Result<FileScan> {
        let sources: Vec<Option<usize>> = columns.iter().map(|c| source_index(file, c)).collect();
        let mut needed: Vec<usize> = sources.iter().flatten().copied().collect();
        needed.sort_unstable();
        needed.dedup();
        let inputs = sources.iter().map(|s| s.and_then(|i| needed.binary_search(&i).ok())).collect();
        let predicate = match file.file.kind {
            FileKind::Parquet => file_predicate(file, window),
            FileKind::Csv => None,
        };
        let physical = match &predicate {
            Some(p) => Some(state.create_physical_expr(p.clone(), &DFSchema::try_from(file.schema.as_ref().clone())?)?),
            None => None,
        };
        let plan = self.inner_plan(state, file, needed, physical, limit).await.map_err(|e| file.error(e))?;
        Ok(FileScan { index, file: file.clone(), plan, inputs, predicate })
    }

    /// DataFusion's scan of one file, reading only `columns` of it.
    async fn inner_plan(
        &self,
        state: &dyn Session,
        file: &SourceFile,
        columns: Vec<usize>,
        predicate: Option<Arc<dyn PhysicalExpr>>,
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let table_schema = TableSchema::from(file.schema.clone());
        let format: Arc<dyn FileFormat> = match file.file.kind {
            FileKind::Csv => Arc::new(self.options.csv_format(state, &file.file)),
            FileKind::Parquet => Arc::new(parquet_format(state)),
        };
        let source: Arc<dyn FileSource> = match (file.file.kind, predicate) {
            (FileKind::Parquet, Some(p)) => Arc::new(ParquetSource::new(table_schema).with_predicate(p)),
            _ => format.file_source(table_schema),
        };
        let config = FileScanConfigBuilder::new(file.file.store.clone(), source)
            .with_file(PartitionedFile::new_from_meta(file.file.meta.clone()))
            .with_projection_indices(Some(columns))?
            .with_limit(limit)
            .build();
        format.create_physical_plan(state, config).await
    }
}

/// The table schema: the role columns, the other columns of all files (first seen first, types
/// merged), `granule`. A source column named like an output column is kept as `<name>_source`.
fn table_schema(files: &[SourceFile]) -> (SchemaRef, Vec<OutColumn>) {
    let has_depth = files.iter().any(|f| f.roles.contains_key(&Role::Depth));
    let mut fields = vec![
        Field::new("platform_id", DataType::Utf8, true),
        Field::new("time", time_type(), true),
        Field::new("lat", DataType::Float64, true).with_metadata(units("degrees_north", "latitude")),
        Field::new("lon", DataType::Float64, true).with_metadata(units("degrees_east", "longitude")),
    ];
    let mut columns =
        vec![Role::PlatformId, Role::Time, Role::Lat, Role::Lon].into_iter().map(OutColumn::Role).collect::<Vec<_>>();
    if has_depth {
        fields.push(Field::new("depth", DataType::Float64, true));
        columns.push(OutColumn::Role(Role::Depth));
    }
    let mut reserved: Vec<String> = fields.iter().map(|f| f.name().clone()).collect();
    reserved.push("granule".into());
    for field in other_fields(files) {
        let name = field.name().clone();
        let out_name = if reserved.contains(&name) { format!("{name}_source") } else { name.clone() };
        let data_type = if field.data_type() == &DataType::Null { DataType::Utf8 } else { field.data_type().clone() };
        fields.push(field.with_name(out_name).with_data_type(data_type));
        columns.push(OutColumn::Other(name));
    }
    fields.push(Field::new("granule", granule_type(), false));
    columns.push(OutColumn::Granule);
    (Arc::new(Schema::new(fields)), columns)
}

/// The columns of the files that play no role, first seen first, with their types merged.
fn other_fields(files: &[SourceFile]) -> Vec<Field> {
    let mut others: Vec<Field> = Vec::new();
    for f in files {
        for (i, field) in f.schema.fields().iter().enumerate() {
            if f.is_role(i) {
                continue;
            }
            match others.iter_mut().find(|o| o.name() == field.name()) {
                Some(o) => *o = o.clone().with_data_type(merge_types(o.data_type(), field.data_type())),
                None => others.push(field.as_ref().clone().with_nullable(true)),
            }
        }
    }
    others
}

fn units(units: &str, standard_name: &str) -> HashMap<String, String> {
    HashMap::from([("units".to_string(), units.to_string()), ("standard_name".to_string(), standard_name.to_string())])
}

pub fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn granule_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// One type for a column found with different types in different files: integers as Int64,
/// numbers as Float64, anything else as text.
fn merge_types(a: &DataType, b: &DataType) -> DataType {
    match (a, b) {
        _ if a == b => a.clone(),
        (DataType::Null, t) | (t, DataType::Null) => t.clone(),
        _ if a.is_integer() && b.is_integer() => DataType::Int64,
        _ if a.is_numeric() && b.is_numeric() => DataType::Float64,
        _ => DataType::Utf8,
    }
}

/// The schema a file is read with. CSV: times and platform ids as text (parsed here, with
/// errors naming the record), coordinates as Float64, other columns as the table's type.
/// Parquet files are read as they are and converted batch by batch.
fn read_schema(mut file: SourceFile, table: &Schema, columns: &[OutColumn]) -> SourceFile {
    if file.file.kind != FileKind::Csv {
        return file;
    }
    let role_type = |role: Role| match role {
        Role::Time | Role::PlatformId => DataType::Utf8,
        Role::Lat | Role::Lon | Role::Depth => DataType::Float64,
    };
    let fields: Vec<Field> = file
        .schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let role = file.roles.iter().find(|(_, idx)| **idx == i).map(|(r, _)| *r);
            let t = match role {
                Some(r) => role_type(r),
                None => other_type(table, columns, f.name()).unwrap_or(DataType::Utf8),
            };
            f.as_ref().clone().with_data_type(t).with_nullable(true)
        })
        .collect();
    file.schema = Arc::new(Schema::new(fields));
    file
}

fn other_type(table: &Schema, columns: &[OutColumn], source: &str) -> Option<DataType> {
    let i = columns.iter().position(|c| matches!(c, OutColumn::Other(n) if n == source))?;
    Some(table.field(i).data_type().clone())
}

/// The index in a file's schema of the source column of an output column.
fn source_index(file: &SourceFile, column: &OutColumn) -> Option<usize> {
    match column {
        OutColumn::Role(r) => file.roles.get(r).copied(),
        OutColumn::Other(name) => file.schema.index_of(name).ok().filter(|&i| !file.is_role(i)),
        OutColumn::Granule => None,
    }
}

#[async_trait]
impl TableProvider for InsituTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters on time/lat/lon/depth prune Parquet row groups; rows still need them: Inexact.
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(window_pushdown(filters))
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let projection = projection.cloned().unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let files: Vec<usize> = (0..self.files.len()).collect();
        let partitions = split_files(files, state.config().target_partitions());
        Ok(Arc::new(self.scan_files(state, projection, Window::from_filters(filters), limit, partitions).await?))
    }
}

/// `STORED AS INSITU`.
#[derive(Debug, Default)]
pub struct InsituTableFactory;

#[async_trait]
impl TableProviderFactory for InsituTableFactory {
    async fn create(&self, state: &dyn Session, cmd: &CreateExternalTable) -> Result<Arc<dyn TableProvider>> {
        if !cmd.schema.fields().is_empty() {
            return plan_err!(
                "CREATE EXTERNAL TABLE {}: column definitions are not accepted for STORED AS INSITU: the columns come from the files",
                cmd.name
            );
        }
        if !cmd.table_partition_cols.is_empty() {
            return plan_err!(
                "CREATE EXTERNAL TABLE {}: PARTITIONED BY is not supported for STORED AS INSITU",
                cmd.name
            );
        }
        let options = InsituOptions::parse(&cmd.options)
            .map_err(|e| plan_datafusion_err!("CREATE EXTERNAL TABLE {}: {}", cmd.name, e.strip_backtrace()))?;
        Ok(Arc::new(InsituTable::open_with(state, &cmd.locations, options, cmd.options.clone()).await?))
    }
}

// ---------------------------------------------------------------------------------------------
// Pushdown
// ---------------------------------------------------------------------------------------------

/// A predicate on a file's own columns that keeps every row the window may match (a superset:
/// DataFusion filters the rows again), for the columns whose type allows it.
fn file_predicate(file: &SourceFile, window: &Window) -> Option<Expr> {
    let windows =
        [(Role::Time, &window.time), (Role::Lat, &window.lat), (Role::Lon, &window.lon), (Role::Depth, &window.depth)];
    let mut parts = Vec::new();
    for (role, ranges) in windows {
        let Some(&i) = file.roles.get(&role).filter(|_| !ranges.is_all()) else { continue };
        let field = file.schema.field(i);
        let column = Expr::Column(Column::from_name(field.name()));
        let ranges = if role == Role::Lon { source_lon_ranges(ranges) } else { ranges.clone() };
        parts.extend(ranges_predicate(column, field.data_type(), &ranges));
    }
    parts.into_iter().reduce(and)
}

/// Source longitudes whose normalised value may fall in `ranges`: the ranges (within
/// [-180, 180]) and the same plus 360 (sources in 0..360), and anything outside [-180, 360).
fn source_lon_ranges(ranges: &Ranges) -> Ranges {
    let inf = f64::INFINITY;
    let world = Ranges(vec![Interval { lo: -180.0, lo_incl: true, hi: 180.0, hi_incl: true }]);
    let mut out = vec![
        Interval { lo: -inf, lo_incl: true, hi: -180.0, hi_incl: false },
        Interval { lo: 360.0, lo_incl: true, hi: inf, hi_incl: true },
    ];
    for i in ranges.intersect(&world).0 {
        out.push(i);
        out.push(Interval { lo: i.lo + 360.0, hi: i.hi + 360.0, ..i });
    }
    Ranges(out)
}

/// `column` within any of `ranges` (bounds made inclusive), or None when its type cannot be
/// compared with the window's values or nothing is constrained.
fn ranges_predicate(column: Expr, data_type: &DataType, ranges: &Ranges) -> Option<Expr> {
    let mut alternatives = Vec::new();
    for i in &ranges.0 {
        let lo = bound(data_type, i.lo, false)?;
        let hi = bound(data_type, i.hi, true)?;
        alternatives.push(match (lo, hi) {
            (None, None) => return None,
            (Some(lo), None) => column.clone().gt_eq(lit(lo)),
            (None, Some(hi)) => column.clone().lt_eq(lit(hi)),
            (Some(lo), Some(hi)) => column.clone().between(lit(lo), lit(hi)),
        });
    }
    Some(alternatives.into_iter().reduce(or).unwrap_or(lit(false)))
}

/// A window bound (degrees, metres or µs) as a literal of the source column's type, rounded
/// outwards. Outer None: the type is not comparable; inner None: no bound.
fn bound(data_type: &DataType, x: f64, upper: bool) -> Option<Option<ScalarValue>> {
    if !x.is_finite() {
        return match data_type {
            DataType::Float64 | DataType::Float32 | DataType::Timestamp(..) => Some(None),
            _ => None,
        };
    }
    let round = |v: f64| if upper { v.ceil() } else { v.floor() };
    let ts = |v: f64| (v.abs() < 9.2e18).then_some(v as i64);
    Some(match data_type {
        DataType::Float64 => Some(ScalarValue::Float64(Some(x))),
        DataType::Float32 => Some(ScalarValue::Float32(Some(f32_outward(x, upper)))),
        DataType::Timestamp(unit, tz) => {
            let tz = tz.clone();
            match unit {
                TimeUnit::Second => ts(round(x / 1e6)).map(|v| ScalarValue::TimestampSecond(Some(v), tz)),
                TimeUnit::Millisecond => ts(round(x / 1e3)).map(|v| ScalarValue::TimestampMillisecond(Some(v), tz)),
                TimeUnit::Microsecond => ts(round(x)).map(|v| ScalarValue::TimestampMicrosecond(Some(v), tz)),
                TimeUnit::Nanosecond => ts(round(x) * 1e3).map(|v| ScalarValue::TimestampNanosecond(Some(v), tz)),
            }
        }
        _ => return None,
    })
}

/// The nearest f32 at or beyond `x` (below it for a lower bound, above for an upper one).
fn f32_outward(x: f64, upper: bool) -> f32 {
    let y = x as f32;
    if upper && (y as f64) < x {
        y.next_up()
    } else if !upper && (y as f64) > x {
        y.next_down()
    } else {
        y
    }
}

// ---------------------------------------------------------------------------------------------
// The scan
// ---------------------------------------------------------------------------------------------

/// The projected output of a scan.
#[derive(Debug)]
struct Output {
    schema: SchemaRef,
    columns: Vec<OutColumn>,
    time: TimeParsing,
}

/// DataFusion's scan of one file and where each output column is in its batches.
#[derive(Debug)]
struct FileScan {
    /// The file's position in the table.
    index: usize,
    file: Arc<SourceFile>,
    plan: Arc<dyn ExecutionPlan>,
    inputs: Vec<Option<usize>>,
    /// The pruning predicate given to the Parquet scan, if any.
    predicate: Option<Expr>,
}

/// Runs the scans of the files of each partition one after the other and normalises their
/// batches.
#[derive(Debug)]
pub struct InsituScanExec {
    location: String,
    source: Arc<ScanSource>,
    out: Arc<Output>,
    partitions: Vec<Vec<Arc<FileScan>>>,
    files_total: usize,
    window: Window,
    limit: Option<usize>,
    metrics: ExecutionPlanMetricsSet,
    cache: Arc<PlanProperties>,
}

/// The table definition and projection of a scan, for workers.
#[derive(Debug)]
struct ScanSource {
    definition: Arc<Definition>,
    projection: Vec<usize>,
}

/// The file indexes `files` in at most `n` partitions of consecutive files (at least one).
fn split_files<T: Clone>(files: Vec<T>, n: usize) -> Vec<Vec<T>> {
    let per = files.len().div_ceil(n.clamp(1, files.len().max(1))).max(1);
    let mut partitions: Vec<Vec<T>> = files.chunks(per).map(<[T]>::to_vec).collect();
    if partitions.is_empty() {
        partitions.push(Vec::new());
    }
    partitions
}

impl InsituScanExec {
    fn new(
        location: String,
        source: Arc<ScanSource>,
        out: Arc<Output>,
        partitions: Vec<Vec<Arc<FileScan>>>,
        files_total: usize,
        window: Window,
        limit: Option<usize>,
    ) -> Self {
        let cache = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(out.schema.clone()),
            Partitioning::UnknownPartitioning(partitions.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        let metrics = ExecutionPlanMetricsSet::new();
        MetricBuilder::new(&metrics).global_counter("files_total").add(files_total);
        InsituScanExec { location, source, out, partitions, files_total, window, limit, metrics, cache }
    }
}

impl DisplayAs for InsituScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let names: Vec<&str> = self.out.schema.fields().iter().map(|f| f.name().as_str()).collect();
        write!(
            f,
            "InsituScanExec: location={}, files={}, projection=[{}]",
            self.location,
            self.files_total,
            names.join(", ")
        )?;
        let mut predicates: Vec<String> = Vec::new();
        for scan in self.partitions.iter().flatten() {
            if let Some(p) = &scan.predicate {
                let p = p.to_string();
                if !predicates.contains(&p) {
                    predicates.push(p);
                }
            }
        }
        let w = &self.window;
        for (name, r) in [("time", &w.time), ("depth", &w.depth), ("lat", &w.lat), ("lon", &w.lon)] {
            if !r.is_all() {
                write!(f, ", {name}={}", r.describe(name == "time"))?;
            }
        }
        if !predicates.is_empty() {
            write!(f, ", parquet_predicate={}", predicates.join(" | "))?;
        }
        if let Some(l) = self.limit {
            write!(f, ", limit={l}")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for InsituScanExec {
    fn name(&self) -> &'static str {
        "InsituScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.cache
    }

    crate::leaf_exec_methods!();

    /// Our counters plus those of the files' scans (Parquet row groups pruned, bytes read...).
    fn metrics(&self) -> Option<MetricsSet> {
        let mut set = self.metrics.clone_inner();
        for scan in self.partitions.iter().flatten() {
            for m in scan.plan.metrics().iter().flat_map(|m| m.iter()) {
                set.push(m.clone());
            }
        }
        Some(set)
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let Some(scans) = self.partitions.get(partition).cloned() else {
            return internal_err!("InsituScanExec: partition {partition} out of range");
        };
        crate::distributed::note_worker(&self.metrics, partition, &context);
        let out = self.out.clone();
        let files_read = MetricBuilder::new(&self.metrics).counter("files_read", partition);
        let batches = futures::stream::iter(scans)
            .map(move |scan| {
                files_read.add(1);
                file_stream(scan, out.clone(), context.clone())
            })
            .try_flatten();
        let limit = self.limit.unwrap_or(usize::MAX);
        let limited = batches.scan(0usize, move |produced, item| {
            if *produced >= limit {
                return futures::future::ready(None);
            }
            if let Ok(b) = &item {
                *produced += b.num_rows();
            }
            futures::future::ready(Some(item))
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.out.schema.clone(), limited)))
    }
}

/// The normalised batches of one file.
fn file_stream(
    scan: Arc<FileScan>,
    out: Arc<Output>,
    context: Arc<TaskContext>,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let inner = scan.plan.execute(0, context).map_err(|e| scan.file.error(e))?;
    let mut seen = 0usize;
    Ok(inner
        .map(move |batch| {
            let batch = batch.map_err(|e| scan.file.error(e))?;
            let first = seen;
            seen += batch.num_rows();
            normalise(&scan, &out, &batch, first)
        })
        .boxed())
}

/// Where a value is: for error messages.
struct At<'a> {
    file: &'a str,
    column: &'a str,
    /// Records of the file before this batch.
    first: usize,
    /// Whether row groups may have been skipped (record numbers count the rows read).
    pruned: bool,
}

impl At<'_> {
    fn record_error(&self, row: usize, message: &str) -> DataFusionError {
        let note = if self.pruned { " (counting the row groups read)" } else { "" };
        DataFusionError::Execution(format!(
            "in situ file '{}', column '{}', record {}{note}: {message}",
            self.file,
            self.column,
            self.first + row + 1
        ))
    }

    fn column_error(&self, e: impl fmt::Display) -> DataFusionError {
        DataFusionError::Execution(format!("in situ file '{}', column '{}': {e}", self.file, self.column))
    }
}

/// One batch of a file's scan as the table's columns.
fn normalise(scan: &FileScan, out: &Output, batch: &RecordBatch, first: usize) -> Result<RecordBatch> {
    let n = batch.num_rows();
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(out.columns.len());
    for ((column, input), field) in out.columns.iter().zip(&scan.inputs).zip(out.schema.fields()) {
        let Some(i) = *input else {
            arrays.push(match column {
                OutColumn::Granule => granule_array(scan.file.granule(), n)?,
                _ => new_null_array(field.data_type(), n),
            });
            continue;
        };
        let source = batch.column(i);
        let name = batch.schema_ref().field(i).name().clone();
        let at = At { file: scan.file.granule(), column: &name, first, pruned: scan.predicate.is_some() };
        arrays.push(match column {
            OutColumn::Role(Role::Time) => to_time(source, &out.time, &at)?,
            OutColumn::Role(Role::PlatformId) => to_platform(source, &at)?,
            OutColumn::Role(Role::Lon) => to_float(source, &at, true)?,
            OutColumn::Role(_) => to_float(source, &at, false)?,
            OutColumn::Other(_) => cast_to(source, field.data_type(), &at)?,
            OutColumn::Granule => granule_array(scan.file.granule(), n)?,
        });
    }
    let options = RecordBatchOptions::new().with_row_count(Some(n));
    Ok(RecordBatch::try_new_with_options(out.schema.clone(), arrays, &options)?)
}

/// A strict cast (a value that does not convert is an error, not a NULL).
fn cast_to(array: &ArrayRef, data_type: &DataType, at: &At) -> Result<ArrayRef> {
    if array.data_type() == data_type {
        return Ok(array.clone());
    }
    let options = CastOptions { safe: false, ..Default::default() };
    cast_with_options(array, data_type, &options).map_err(|e| at.column_error(e))
}

/// Times of any type as µs since 1970-01-01 UTC.
fn to_time(array: &ArrayRef, parsing: &TimeParsing, at: &At) -> Result<ArrayRef> {
    let t = array.data_type();
    let values: Vec<Option<i64>> = match t {
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => return cast_to(array, &time_type(), at),
        DataType::Null => vec![None; array.len()],
        _ if t.is_integer() => {
            let a = cast_to(array, &DataType::Int64, at)?;
            convert(a.as_primitive::<Int64Type>().iter(), |v| parsing.int(v), at)?
        }
        _ if t.is_numeric() => {
            let a = cast_to(array, &DataType::Float64, at)?;
            convert(a.as_primitive::<Float64Type>().iter(), |v| parsing.float(v), at)?
        }
        _ => {
            let a = cast_to(array, &DataType::Utf8, at)?;
            convert(a.as_string::<i32>().iter(), |v| parsing.text(v), at)?
        }
    };
    Ok(Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC")))
}

/// Converts every value, failing on the first one that does not convert (with its record).
fn convert<T>(
    values: impl Iterator<Item = Option<T>>,
    f: impl Fn(T) -> std::result::Result<Option<i64>, String>,
    at: &At,
) -> Result<Vec<Option<i64>>> {
    values
        .enumerate()
        .map(|(row, v)| match v {
            None => Ok(None),
            Some(v) => f(v).map_err(|message| at.record_error(row, &message)),
        })
        .collect()
}

/// Coordinates as Float64 (NaN is NULL); longitudes in [-180, 180).
fn to_float(array: &ArrayRef, at: &At, lon: bool) -> Result<ArrayRef> {
    let a = cast_to(array, &DataType::Float64, at)?;
    let values: Float64Array = a
        .as_primitive::<Float64Type>()
        .iter()
        .map(|v| v.map(|x| if lon { to_lon(x) } else { x }).filter(|x| !x.is_nan()))
        .collect();
    Ok(Arc::new(values))
}

/// A longitude in [-180, 180); one already there is kept as it is (no rounding).
fn to_lon(x: f64) -> f64 {
    if (-180.0..180.0).contains(&x) { x } else { normalize_lon(x) }
}

/// Platform ids as text: whole numbers without decimals, text trimmed, empty as NULL.
fn to_platform(array: &ArrayRef, at: &At) -> Result<ArrayRef> {
    if array.data_type().is_floating() {
        let a = cast_to(array, &DataType::Float64, at)?;
        let ids: StringArray = a
            .as_primitive::<Float64Type>()
            .iter()
            .map(|v| {
                v.filter(|x| x.is_finite()).map(|x| if x.fract() == 0.0 { format!("{x:.0}") } else { x.to_string() })
            })
            .collect();
        return Ok(Arc::new(ids));
    }
    let a = cast_to(array, &DataType::Utf8, at)?;
    let ids: StringArray = a.as_string::<i32>().iter().map(|v| v.map(str::trim).filter(|s| !s.is_empty())).collect();
    Ok(Arc::new(ids))
}

fn granule_array(granule: &str, n: usize) -> Result<ArrayRef> {
    let keys = Int32Array::from(vec![0; n]);
    let values = Arc::new(StringArray::from(vec![granule]));
    Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(keys, values)?))
}

// ---------------------------------------------------------------------------------------------
// Distributed execution: scans split by files, rebuilt on workers (see `crate::distributed`)
// ---------------------------------------------------------------------------------------------

impl crate::distributed::SplitScan for InsituScanExec {
    fn unit_count(&self) -> usize {
        self.partitions.iter().map(Vec::len).sum()
    }

    fn task_variant(&self, task: usize, tasks: usize) -> Result<Arc<dyn ExecutionPlan>> {
        let all: Vec<Arc<FileScan>> = self.partitions.iter().flatten().cloned().collect();
        let n = self.partitions.len();
        let mut partitions = split_files(crate::distributed::task_share(&all, task, tasks), n);
        partitions.resize_with(n.max(partitions.len()), Vec::new);
        let (location, source, out) = (self.location.clone(), self.source.clone(), self.out.clone());
        let mut scan = InsituScanExec::new(location, source, out, partitions, self.files_total, self.window.clone(), self.limit);
        if task > 0 {
            scan.metrics = ExecutionPlanMetricsSet::new(); // one task reports files_total
        }
        Ok(Arc::new(scan))
    }
}

/// In situ tables workers have opened, by definition.
static OPENED: std::sync::Mutex<Vec<(Arc<Definition>, Arc<InsituTable>)>> = std::sync::Mutex::new(Vec::new());

impl InsituScanExec {
    /// What a worker needs to rebuild this scan.
    pub fn encode(&self) -> serde_json::Value {
        use crate::distributed::{granules_json, window_to_json};
        let parts: Vec<Vec<usize>> = self.partitions.iter().map(|p| p.iter().map(|s| s.index).collect()).collect();
        let used = self.partitions.iter().flatten().map(|s| (s.index, s.file.granule().to_string()));
        serde_json::json!({
            "locations": self.source.definition.locations,
            "options": self.source.definition.options,
            "projection": self.source.projection,
            "window": window_to_json(&self.window),
            "limit": self.limit,
            "partitions": parts,
            "granules": granules_json(used),
        })
    }

    /// The scan [`InsituScanExec::encode`] described, over this process's copy of the table.
    pub fn decode(desc: &serde_json::Value, context: &TaskContext) -> Result<Arc<dyn ExecutionPlan>> {
        use crate::distributed::{granules_from_json, usizes, window_from_json};
        let bad = |what: &str| DataFusionError::Execution(format!("OceanQL codec: bad '{what}' in an encoded in situ scan"));
        let locations = serde_json::from_value(desc["locations"].clone()).map_err(|_| bad("locations"))?;
        let options = serde_json::from_value(desc["options"].clone()).map_err(|_| bad("options"))?;
        let definition = Definition { locations, options };
        let projection = usizes(&desc["projection"])?;
        let window = window_from_json(&desc["window"])?;
        let limit = desc["limit"].as_u64().map(|l| l as usize);
        let parts = desc["partitions"].as_array().ok_or_else(|| bad("partitions"))?.iter().map(usizes).collect::<Result<Vec<_>>>()?;
        let granules = granules_from_json(&desc["granules"])?;
        let state = datafusion::execution::SessionStateBuilder::new()
            .with_config(context.session_config().clone())
            .with_runtime_env(context.runtime_env())
            .build();
        crate::distributed::block_on(async move {
            let table = worker_table(&state, definition, &granules).await?;
            let scan = table.scan_files(&state, projection, window, limit, parts).await?;
            Ok(Arc::new(scan) as Arc<dyn ExecutionPlan>)
        })
    }
}

/// The table of `definition` as this process sees it, opened once; reopened when the files at
/// `granules` (index, path) differ, and an error naming the first that still differs.
async fn worker_table(state: &dyn Session, definition: Definition, granules: &[(usize, String)]) -> Result<Arc<InsituTable>> {
    let differs = |t: &InsituTable| granules.iter().find(|(i, p)| t.files.get(*i).map(|f| f.granule()) != Some(p.as_str())).cloned();
    let cached = OPENED.lock().ok().and_then(|o| o.iter().find(|(d, _)| **d == definition).map(|(_, t)| t.clone()));
    if let Some(table) = cached.filter(|t| differs(t).is_none()) {
        return Ok(table);
    }
    let raw: HashMap<String, String> = definition.options.iter().cloned().collect();
    let options = InsituOptions::parse(&raw)?;
    let table = Arc::new(InsituTable::open_with(state, &definition.locations, options, raw).await?);
    if let Some((i, path)) = differs(&table) {
        return Err(DataFusionError::Execution(format!(
            "this worker does not see the coordinator's file {i} ({path}) of {}: data paths must be the same on every node",
            definition.locations.join(", ")
        )));
    }
    if let Ok(mut opened) = OPENED.lock() {
        opened.retain(|(d, _)| **d != definition);
        opened.push((table.definition.clone(), table.clone()));
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Float64Array, TimestampMicrosecondArray};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::file::properties::WriterProperties;
    use datafusion::physical_plan::collect;
    use datafusion::physical_plan::display::DisplayableExecutionPlan;

    fn us(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros()
    }

    fn parsing(format: Option<&str>, unit: Option<&str>) -> TimeParsing {
        TimeParsing::new(format.map(str::to_string), unit).unwrap()
    }

    #[test]
    fn iso_spellings() {
        let p = parsing(None, None);
        let t = |s: &str| p.text(s).unwrap().unwrap();
        assert_eq!(t("2019-08-05T20:37:02Z"), us("2019-08-05T20:37:02Z"));
        assert_eq!(t("2019-08-05T22:37:02+02:00"), us("2019-08-05T20:37:02Z"));
        assert_eq!(t("2019-08-05T22:37:02+0200"), us("2019-08-05T20:37:02Z"));
        assert_eq!(t("2019-08-05 20:37:02"), us("2019-08-05T20:37:02Z"));
        assert_eq!(t("2019-08-05 20:37:02.5Z"), us("2019-08-05T20:37:02.5Z"));
        assert_eq!(t("2019-08-05T20:37:02.123456"), us("2019-08-05T20:37:02.123456Z"));
        assert_eq!(t("2019-08-05T20:37"), us("2019-08-05T20:37:00Z"));
        assert_eq!(t(" 2019-08-05 "), us("2019-08-05T00:00:00Z"));
        assert_eq!(p.text("").unwrap(), None);
        assert_eq!(p.text("NaN").unwrap(), None);
        let e = p.text("yesterday").unwrap_err();
        assert_eq!(e, "cannot parse 'yesterday' as a time (ISO 8601, or set OPTIONS ('time_format' ...))");
    }

    #[test]
    fn numbers_and_formats() {
        let p = parsing(None, None);
        assert_eq!(p.int(1_564_000_000).unwrap(), Some(1_564_000_000_000_000));
        assert_eq!(p.text("1564000000.5").unwrap(), Some(1_564_000_000_500_000));
        // 14 digits without a unit: YYYYMMDDhhmmss
        assert_eq!(p.int(19_970_729_200_300).unwrap(), Some(us("1997-07-29T20:03:00Z")));
        assert_eq!(p.float(19_970_729_200_300.0).unwrap(), Some(us("1997-07-29T20:03:00Z")));
        assert!(p.int(19_971_329_200_300).is_err());
        assert_eq!(p.float(f64::NAN).unwrap(), None);
        let ms = parsing(None, Some("ms"));
        assert_eq!(ms.int(19_970_729_200_300).unwrap(), Some(19_970_729_200_300_000));
        let ns = parsing(None, Some("ns"));
        assert_eq!(ns.int(1_500_000_000_123_456_789).unwrap(), Some(1_500_000_000_123_456));
        let cf = parsing(None, Some("days since 1950-01-01"));
        assert_eq!(cf.float(0.5).unwrap(), Some(us("1950-01-01T12:00:00Z")));
        assert_eq!(cf.int(1).unwrap(), Some(us("1950-01-02T00:00:00Z")));
        let f = parsing(Some("%Y%m%d%H%M%S"), None);
        assert_eq!(f.int(20_050_523_123_800).unwrap(), Some(us("2005-05-23T12:38:00Z")));
        assert_eq!(f.text("20050523123800").unwrap(), Some(us("2005-05-23T12:38:00Z")));
        let d = parsing(Some("%d/%m/%Y"), None);
        assert_eq!(d.text("23/05/2005").unwrap(), Some(us("2005-05-23T00:00:00Z")));
        assert_eq!(d.text("2005-05-23").unwrap_err(), "cannot parse '2005-05-23' with time_format '%d/%m/%Y'");
        assert!(p.float(1e300).unwrap_err().contains("out of the range of times"));
        assert!(TimeParsing::new(None, Some("fortnights")).is_err());
        assert!(TimeParsing::new(None, Some("months since 2000-01-01")).is_err());
    }

    #[test]
    fn options() {
        let opts = |pairs: &[(&str, &str)]| {
            InsituOptions::parse(&pairs.iter().map(|(k, v)| (format!("format.{k}"), v.to_string())).collect())
        };
        let o = opts(&[("time", "obs_date"), ("delimiter", "\\t"), ("comment", "#"), ("format", "csv")]).unwrap();
        assert_eq!(o.columns[&Role::Time], "obs_date");
        assert_eq!(o.csv.delimiter, Some(b'\t'));
        assert_eq!(o.csv.comment, Some(b'#'));
        assert_eq!(o.format, Some(FileKind::Csv));
        let e = opts(&[("tme", "x")]).unwrap_err().to_string();
        assert!(e.contains("unknown option 'tme' for STORED AS INSITU; accepted options: time, lat, lon"), "{e}");
        assert!(opts(&[("delimiter", ";;")]).is_err());
        assert!(opts(&[("has_header", "maybe")]).is_err());
        let store = HashMap::from([("aws.region".to_string(), "eu-west-1".to_string())]);
        assert!(InsituOptions::parse(&store).is_ok());
    }

    #[test]
    fn comment_lines() {
        assert!(starts_with_comments("# Title : x\n# Date : y\nfile,date\na,1\n", b','));
        assert!(starts_with_comments("# made up\nfile,date\na,1\n", b','));
        assert!(!starts_with_comments("#time,lat,lon\n2020-01-01,1,2\n", b','));
        assert!(!starts_with_comments("time,lat,lon\n# not at the top\n", b','));
        assert!(!starts_with_comments("", b','));
    }

    #[test]
    fn file_kinds() {
        assert_eq!(FileKind::from_name("a.CSV"), Some((FileKind::Csv, CompressionTypeVariant::UNCOMPRESSED)));
        assert_eq!(FileKind::from_name("a.csv.gz"), Some((FileKind::Csv, CompressionTypeVariant::GZIP)));
        assert_eq!(FileKind::from_name("ar_index.txt"), Some((FileKind::Csv, CompressionTypeVariant::UNCOMPRESSED)));
        assert_eq!(FileKind::from_name("x.parquet"), Some((FileKind::Parquet, CompressionTypeVariant::UNCOMPRESSED)));
        assert_eq!(FileKind::from_name("x.parquet.gz"), None);
        assert_eq!(FileKind::from_name("notes.md"), None);
    }

    #[test]
    fn globs_in_urls() {
        let u = location_url("s3://bucket/dir/sub/*.csv").unwrap();
        assert_eq!(u.prefix().as_ref(), "dir/sub");
        assert!(u.get_glob().as_ref().is_some_and(|g| g.matches("a.csv")));
        let u = location_url("s3://bucket/dir/").unwrap();
        assert!(u.get_glob().is_none() && u.is_collection());
    }

    #[test]
    fn lon_ranges_cover_sources_in_0_360() {
        let window = Ranges(vec![Interval { lo: -150.0, lo_incl: true, hi: -120.0, hi_incl: true }]);
        let src = source_lon_ranges(&window);
        for lon in [-150.0, -120.0, 210.0, 240.0, -200.0, 400.0] {
            assert!(src.contains(lon), "{lon}");
        }
        for lon in [-100.0, 0.0, 150.0, 250.0] {
            assert!(!src.contains(lon), "{lon}");
        }
        // Every source value whose normalised value is in the window is kept.
        for k in -720..720 {
            let x = k as f64 * 0.5;
            if window.contains(normalize_lon(x)) {
                assert!(src.contains(x), "{x}");
            }
        }
    }

    #[test]
    fn longitudes_in_range_are_kept_exactly() {
        assert_eq!(to_lon(171.6958), 171.6958);
        assert_eq!(to_lon(-180.0), -180.0);
        assert_eq!(to_lon(180.0), -180.0);
        assert!((to_lon(351.6958) + 8.3042).abs() < 1e-12);
    }

    #[test]
    fn f32_bounds_round_outwards() {
        assert!((f32_outward(0.1, false) as f64) <= 0.1);
        assert!((f32_outward(0.1, true) as f64) >= 0.1);
        assert_eq!(f32_outward(0.5, true), 0.5);
    }

    /// A Parquet file of 100 hourly records in row groups of 10.
    fn write_hourly(path: &std::path::Path) {
        let t0 = us("2022-01-01T00:00:00Z");
        let time = TimestampMicrosecondArray::from((0..100).map(|i| t0 + i * 3_600_000_000).collect::<Vec<_>>());
        let lat = Float64Array::from((0..100).map(|i| i as f64 * 0.5 - 25.0).collect::<Vec<_>>());
        let lon = Float64Array::from((0..100).map(|i| i as f64 * 3.5).collect::<Vec<_>>());
        let batch = RecordBatch::try_from_iter([
            ("time", Arc::new(time) as ArrayRef),
            ("lat", Arc::new(lat) as ArrayRef),
            ("lon", Arc::new(lon) as ArrayRef),
        ])
        .unwrap();
        let props = WriterProperties::builder().set_max_row_group_row_count(Some(10)).build();
        let mut w = ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), Some(props)).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
    }

    #[tokio::test]
    async fn time_filter_prunes_row_groups() {
        let dir = std::env::temp_dir().join(format!("oceanql-insitu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hourly.parquet");
        write_hourly(&path);
        let ctx = crate::create_context().unwrap();
        let ddl = format!("CREATE EXTERNAL TABLE h STORED AS INSITU LOCATION '{}'", path.display());
        ctx.sql(&ddl).await.unwrap().collect().await.unwrap();
        // Records 25..=27 (01:00 to 03:00 on Jan 2nd) sit in the third row group.
        let sql = "SELECT count(*), min(lon), max(lon) FROM h \
                   WHERE time BETWEEN '2022-01-02T01:00:00Z' AND '2022-01-02T03:00:00Z'";
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        let batches = collect(plan.clone(), ctx.task_ctx()).await.unwrap();
        let row = |c: usize| batches[0].column(c).as_primitive::<Float64Type>().value(0);
        assert_eq!(batches[0].column(0).as_primitive::<Int64Type>().value(0), 3);
        assert_eq!((row(1), row(2)), (87.5, 94.5));
        let analyzed = DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true).to_string();
        assert!(analyzed.contains("row_groups_pruned_statistics=10 total → 1 matched"), "{analyzed}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
