//! The index as Arrow tables and Parquet files: `granules.parquet`,
//! `tiles.parquet` and `schema.arrow` (the product table's schema) in one
//! directory, by default `.oceanql-index/<name>-<hash>/` beside the data, on
//! local disk or object storage alike.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Float64Array, Int64Array, ListArray, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt32Array, UInt64Array,
};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::common::{plan_datafusion_err, plan_err};
use datafusion::error::Result;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::file::metadata::KeyValue;
use oceanql_connectors::sample::Pattern;
use oceanql_connectors::store;

use crate::footprint;
use crate::index::{IndexedGranule, ProductIndex, Tile, Version};
use crate::tile_stats::VarStats;

/// The directory, beside the data, that holds the indexes of the products there.
pub const INDEX_DIR: &str = ".oceanql-index";
/// Version of the index layout; an index of another version is rebuilt.
const LAYOUT_VERSION: &str = "1";

/// Where the index of a product with these LOCATIONs lives: under the first
/// location's fixed directory (the part before any glob), in a directory named
/// after the location and a hash of `key` (locations and options).
pub fn default_location(locations: &[String], key: &str) -> String {
    let first = locations.first().map(String::as_str).unwrap_or(".");
    let fixed = first.split(['*', '?', '[']).next().unwrap_or(first);
    let base = match fixed.rfind('/') {
        Some(i) if fixed.len() < first.len() || !is_dir(fixed) => &fixed[..i],
        _ if is_dir(fixed) => fixed.trim_end_matches('/'),
        _ => ".",
    };
    let base = if base.is_empty() { "/" } else { base };
    let name: String = first
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("product")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    format!("{}/{INDEX_DIR}/{}-{:016x}", base.trim_end_matches('/'), name.trim_matches('_'), fnv1a(key.as_bytes()))
}

/// A local directory that is not a Zarr store (a store is a granule, not a place for indexes).
fn is_dir(path: &str) -> bool {
    let p = std::path::Path::new(path.strip_prefix("file://").unwrap_or(path));
    !store::is_remote(path) && p.is_dir() && !oceanql_connectors::location::looks_like_zarr(p)
}

/// 64-bit FNV-1a: a stable name for an index directory.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// Writes the index into `dir` (created if needed).
pub fn write(dir: &str, index: &ProductIndex) -> Result<()> {
    let meta = vec![
        KeyValue::new("oceanql.index_version".to_string(), LAYOUT_VERSION.to_string()),
        KeyValue::new("oceanql.pattern".to_string(), index.pattern.name().to_string()),
        KeyValue::new("oceanql.slice_names".to_string(), index.slice_names.join(",")),
        KeyValue::new("oceanql.vars".to_string(), serde_vars(&index.vars)),
    ];
    put(dir, "granules.parquet", parquet_bytes(&granules_batch(index, true)?, meta)?)?;
    put(dir, "tiles.parquet", parquet_bytes(&tiles_batch(index)?, vec![])?)?;
    put(dir, "schema.arrow", schema_bytes(&index.schema)?)
}

/// Reads the index in `dir`; `None` when there is none (or of another layout version).
pub fn read(dir: &str) -> Result<Option<ProductIndex>> {
    let Some(granules) = get(dir, "granules.parquet")? else { return Ok(None) };
    let (granule_batches, meta) = parquet_batches(granules, &format!("{dir}/granules.parquet"))?;
    if meta.get("oceanql.index_version").map(String::as_str) != Some(LAYOUT_VERSION) {
        return Ok(None);
    }
    let broken = |what: &str| plan_datafusion_err!("index {dir}: {what}; rebuild it with `oceanql index`");
    let pattern = meta.get("oceanql.pattern").and_then(|p| Pattern::parse(p)).ok_or_else(|| broken("no pattern"))?;
    let slice_names: Vec<String> = meta.get("oceanql.slice_names").map(|s| s.split(',').map(String::from).collect()).unwrap_or_default();
    let vars = parse_vars(meta.get("oceanql.vars").map(String::as_str).unwrap_or("[]")).ok_or_else(|| broken("bad variable list"))?;
    let tiles = get(dir, "tiles.parquet")?.ok_or_else(|| broken("tiles.parquet is missing"))?;
    let (tile_batches, _) = parquet_batches(tiles, &format!("{dir}/tiles.parquet"))?;
    let schema = get(dir, "schema.arrow")?.ok_or_else(|| broken("schema.arrow is missing"))?;
    let schema = FileReader::try_new(std::io::Cursor::new(schema), None)
        .map_err(|e| plan_datafusion_err!("index {dir}/schema.arrow: {e}"))?
        .schema();
    let mut index = ProductIndex { pattern, slice_names, vars, schema, granules: Vec::new() };
    for batch in &granule_batches {
        read_granules(batch, &mut index.granules).map_err(|e| broken(&e))?;
    }
    for batch in &tile_batches {
        read_tiles(batch, &mut index).map_err(|e| broken(&e))?;
    }
    Ok(Some(index))
}

fn serde_vars(vars: &[String]) -> String {
    serde_json::Value::Array(vars.iter().map(|v| serde_json::Value::from(v.as_str())).collect()).to_string()
}

fn parse_vars(text: &str) -> Option<Vec<String>> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    value.as_array()?.iter().map(|v| v.as_str().map(String::from)).collect()
}

fn put(dir: &str, name: &str, bytes: Vec<u8>) -> Result<()> {
    let target = format!("{}/{name}", dir.trim_end_matches('/'));
    if store::is_remote(dir) {
        return store::put_bytes(&target, bytes);
    }
    let local = dir.strip_prefix("file://").unwrap_or(dir);
    std::fs::create_dir_all(local).map_err(|e| plan_datafusion_err!("cannot create the index directory {local}: {e}"))?;
    let local_target = format!("{}/{name}", local.trim_end_matches('/'));
    let tmp = format!("{local_target}.tmp{}", std::process::id());
    std::fs::write(&tmp, bytes).map_err(|e| plan_datafusion_err!("cannot write {tmp}: {e}"))?;
    std::fs::rename(&tmp, &local_target).map_err(|e| plan_datafusion_err!("cannot write {local_target}: {e}"))
}

fn get(dir: &str, name: &str) -> Result<Option<Vec<u8>>> {
    let target = format!("{}/{name}", dir.trim_end_matches('/'));
    if store::is_remote(dir) {
        return store::get_bytes(&target);
    }
    let local = target.strip_prefix("file://").unwrap_or(&target).to_string();
    match std::fs::read(&local) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => plan_err!("cannot read the index file {local}: {e}"),
    }
}

fn parquet_bytes(batch: &RecordBatch, meta: Vec<KeyValue>) -> Result<Vec<u8>> {
    let props = WriterProperties::builder().set_key_value_metadata(Some(meta)).build();
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(props))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(out)
}

fn parquet_batches(bytes: Vec<u8>, what: &str) -> Result<(Vec<RecordBatch>, HashMap<String, String>)> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
        .map_err(|e| plan_datafusion_err!("index file {what}: {e}"))?;
    let meta: HashMap<String, String> = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| kv.iter().filter_map(|k| k.value.clone().map(|v| (k.key.clone(), v))).collect())
        .unwrap_or_default();
    let batches = builder.build()?.collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((batches, meta))
}

fn schema_bytes(schema: &SchemaRef) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut writer = FileWriter::try_new(&mut out, schema)?;
    writer.finish()?;
    drop(writer);
    Ok(out)
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// The footprint column: WKB with GeoArrow extension metadata.
pub(crate) fn footprint_field() -> Field {
    Field::new("footprint", DataType::Binary, true).with_metadata(HashMap::from([
        ("ARROW:extension:name".to_string(), "geoarrow.wkb".to_string()),
        ("ARROW:extension:metadata".to_string(), r#"{"crs":"OGC:CRS84"}"#.to_string()),
    ]))
}

/// A bounding box: the latitude range and the longitude spans.
type Bbox<'a> = (Option<(f64, f64)>, &'a [(f64, f64)]);
/// A bounding box read back, owning its spans.
type OwnedBbox = (Option<(f64, f64)>, Vec<(f64, f64)>);

/// The bounding-box columns: lon_min > lon_max when the box crosses the antimeridian.
fn bbox_arrays(items: &[Bbox]) -> [ArrayRef; 4] {
    let lat_min: Float64Array = items.iter().map(|(l, _)| l.map(|l| l.0)).collect();
    let lat_max: Float64Array = items.iter().map(|(l, _)| l.map(|l| l.1)).collect();
    let lon = |spans: &[(f64, f64)]| match spans {
        [] => (None, None),
        [one] => (Some(one.0), Some(one.1)),
        [first, .., last] => (Some(first.0), Some(last.1)),
    };
    let lon_min: Float64Array = items.iter().map(|(_, s)| lon(s).0).collect();
    let lon_max: Float64Array = items.iter().map(|(_, s)| lon(s).1).collect();
    [Arc::new(lat_min), Arc::new(lat_max), Arc::new(lon_min), Arc::new(lon_max)]
}

/// Longitude spans from a bounding box's lon_min/lon_max.
fn spans(lon_min: Option<f64>, lon_max: Option<f64>) -> Vec<(f64, f64)> {
    match (lon_min, lon_max) {
        (Some(a), Some(b)) if a <= b => vec![(a, b)],
        (Some(a), Some(b)) => vec![(a, 180.0), (-180.0, b)],
        _ => vec![],
    }
}

fn bbox_fields() -> [Field; 4] {
    ["lat_min", "lat_max", "lon_min", "lon_max"].map(|n| Field::new(n, DataType::Float64, true))
}

fn wkb_array<'a>(items: impl Iterator<Item = Option<&'a geo::MultiPolygon<f64>>>) -> ArrayRef {
    let wkb: Vec<Option<Vec<u8>>> = items.map(|g| g.map(footprint::to_wkb)).collect();
    Arc::new(BinaryArray::from_iter(wkb))
}

/// One row per granule. `internal` adds the columns only the index needs (a grid's time axis).
pub fn granules_batch(index: &ProductIndex, internal: bool) -> Result<RecordBatch> {
    let g = &index.granules;
    let mut fields = vec![
        Field::new("granule", DataType::Utf8, false),
        Field::new("time_start", timestamp(), true),
        Field::new("time_end", timestamp(), true),
    ];
    fields.extend(bbox_fields());
    fields.extend([
        footprint_field(),
        Field::new("dimensions", DataType::Utf8, false),
        Field::new("tiles", DataType::UInt32, false),
        Field::new("size", DataType::UInt64, false),
        Field::new("modified", timestamp(), true),
        Field::new("has_statistics", DataType::Boolean, false),
        Field::new("attributes", DataType::Utf8, false),
    ]);
    let times = |f: fn(&(i64, i64)) -> i64| TimestampMicrosecondArray::from(g.iter().map(|x| x.time.as_ref().map(f)).collect::<Vec<_>>()).with_timezone("UTC");
    let boxes: Vec<_> = g.iter().map(|x| (x.lat, x.lon.as_slice())).collect();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(g.iter().map(|x| x.granule.as_str()))),
        Arc::new(times(|t| t.0)),
        Arc::new(times(|t| t.1)),
    ];
    columns.extend(bbox_arrays(&boxes));
    columns.extend([
        wkb_array(g.iter().map(|x| x.footprint.as_ref())),
        Arc::new(StringArray::from_iter_values(g.iter().map(|x| x.dimensions.as_str()))) as ArrayRef,
        Arc::new(UInt32Array::from_iter_values(g.iter().map(|x| x.tiles.len() as u32))),
        Arc::new(UInt64Array::from_iter_values(g.iter().map(|x| x.version.size))),
        Arc::new(
            TimestampMicrosecondArray::from(g.iter().map(|x| (x.version.modified != 0).then_some(x.version.modified)).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        Arc::new(BooleanArray::from_iter(g.iter().map(|x| Some(x.has_stats)))),
        Arc::new(StringArray::from_iter_values(g.iter().map(|x| x.attributes.as_str()))),
    ]);
    if internal {
        fields.push(Field::new("time_axis", DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))), true));
        let axes = ListArray::from_iter_primitive::<Int64Type, _, _>(
            g.iter().map(|x| x.time_axis.as_ref().map(|t| t.iter().map(|&v| Some(v)).collect::<Vec<_>>())),
        );
        columns.push(Arc::new(axes));
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

/// One row per tile.
pub fn tiles_batch(index: &ProductIndex) -> Result<RecordBatch> {
    let tiles: Vec<(&IndexedGranule, usize, &Tile)> =
        index.granules.iter().flat_map(|g| g.tiles.iter().enumerate().map(move |(i, t)| (g, i, t))).collect();
    let mut fields = vec![Field::new("granule", DataType::Utf8, false), Field::new("tile", DataType::UInt32, false)];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(tiles.iter().map(|(g, _, _)| g.granule.as_str()))),
        Arc::new(UInt32Array::from_iter_values(tiles.iter().map(|(_, i, _)| *i as u32))),
    ];
    for (k, name) in index.slice_names.iter().enumerate() {
        for (suffix, end) in [("start", false), ("end", true)] {
            fields.push(Field::new(format!("{name}_{suffix}"), DataType::Int64, false));
            columns.push(Arc::new(Int64Array::from_iter_values(
                tiles.iter().map(|(_, _, t)| t.slice.get(k).map_or(0, |s| if end { s.1 } else { s.0 }) as i64),
            )));
        }
    }
    fields.extend([Field::new("time_start", timestamp(), true), Field::new("time_end", timestamp(), true)]);
    for f in [|t: &(i64, i64)| t.0, |t: &(i64, i64)| t.1] {
        columns.push(Arc::new(
            TimestampMicrosecondArray::from(tiles.iter().map(|(_, _, t)| t.time.as_ref().map(f)).collect::<Vec<_>>()).with_timezone("UTC"),
        ));
    }
    fields.extend(bbox_fields());
    let boxes: Vec<_> = tiles.iter().map(|(_, _, t)| (t.lat, t.lon.as_slice())).collect();
    columns.extend(bbox_arrays(&boxes));
    fields.extend([footprint_field(), Field::new("rows", DataType::UInt64, false), Field::new("coord_nulls", DataType::UInt64, false)]);
    columns.extend([
        wkb_array(tiles.iter().map(|(_, _, t)| t.footprint.as_ref())),
        Arc::new(UInt64Array::from_iter_values(tiles.iter().map(|(_, _, t)| t.rows))) as ArrayRef,
        Arc::new(UInt64Array::from_iter_values(tiles.iter().map(|(_, _, t)| t.coord_nulls))),
    ]);
    for (k, var) in index.vars.iter().enumerate() {
        let stat = |t: &Tile| t.stats.get(k).copied();
        fields.push(Field::new(format!("{var}_count"), DataType::UInt64, true));
        columns.push(Arc::new(UInt64Array::from_iter(tiles.iter().map(|(_, _, t)| stat(t).map(|s| s.count)))));
        for (suffix, pick) in [("min", 0), ("max", 1), ("sum", 2)] {
            fields.push(Field::new(format!("{var}_{suffix}"), DataType::Float64, true));
            let values = tiles.iter().map(|(_, _, t)| {
                stat(t).and_then(|s| match pick {
                    0 => (s.count > 0).then_some(s.min),
                    1 => (s.count > 0).then_some(s.max),
                    _ => Some(s.sum),
                })
            });
            columns.push(Arc::new(Float64Array::from_iter(values)));
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?)
}

type Parse<T> = std::result::Result<T, String>;

fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Parse<&'a T> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_any().downcast_ref::<T>())
        .ok_or_else(|| format!("column '{name}' is missing or of another type"))
}

fn opt_f64(a: &Float64Array, i: usize) -> Option<f64> {
    a.is_valid(i).then(|| a.value(i))
}

fn opt_i64(a: &TimestampMicrosecondArray, i: usize) -> Option<i64> {
    a.is_valid(i).then(|| a.value(i))
}

fn read_bbox(batch: &RecordBatch, i: usize) -> Parse<OwnedBbox> {
    let [lat_min, lat_max, lon_min, lon_max] = ["lat_min", "lat_max", "lon_min", "lon_max"].map(|n| column::<Float64Array>(batch, n));
    let lat = opt_f64(lat_min?, i).zip(opt_f64(lat_max?, i));
    Ok((lat, spans(opt_f64(lon_min?, i), opt_f64(lon_max?, i))))
}

fn read_time(batch: &RecordBatch, i: usize) -> Parse<Option<(i64, i64)>> {
    let start = column::<TimestampMicrosecondArray>(batch, "time_start")?;
    let end = column::<TimestampMicrosecondArray>(batch, "time_end")?;
    Ok(opt_i64(start, i).zip(opt_i64(end, i)))
}

fn read_footprint(batch: &RecordBatch, i: usize) -> Parse<Option<geo::MultiPolygon<f64>>> {
    let wkb = column::<BinaryArray>(batch, "footprint")?;
    if wkb.is_null(i) {
        return Ok(None);
    }
    footprint::from_wkb(wkb.value(i)).map(Some)
}

fn read_granules(batch: &RecordBatch, out: &mut Vec<IndexedGranule>) -> Parse<()> {
    let name = column::<StringArray>(batch, "granule")?;
    let dims = column::<StringArray>(batch, "dimensions")?;
    let attrs = column::<StringArray>(batch, "attributes")?;
    let size = column::<UInt64Array>(batch, "size")?;
    let modified = column::<TimestampMicrosecondArray>(batch, "modified")?;
    let stats = column::<BooleanArray>(batch, "has_statistics")?;
    let axes = column::<ListArray>(batch, "time_axis")?;
    for i in 0..batch.num_rows() {
        let (lat, lon) = read_bbox(batch, i)?;
        let time_axis = if axes.is_null(i) {
            None
        } else {
            let a = axes.value(i);
            let a = a.as_any().downcast_ref::<Int64Array>().ok_or("time_axis is not a list of Int64")?;
            Some(a.values().to_vec())
        };
        out.push(IndexedGranule {
            granule: name.value(i).to_string(),
            version: Version { size: size.value(i), modified: opt_i64(modified, i).unwrap_or(0) },
            time: read_time(batch, i)?,
            lat,
            lon,
            footprint: read_footprint(batch, i)?,
            dimensions: dims.value(i).to_string(),
            attributes: attrs.value(i).to_string(),
            time_axis,
            tiles: Vec::new(),
            has_stats: stats.value(i),
        });
    }
    Ok(())
}

fn read_tiles(batch: &RecordBatch, index: &mut ProductIndex) -> Parse<()> {
    let by_name: HashMap<String, usize> = index.granules.iter().enumerate().map(|(i, g)| (g.granule.clone(), i)).collect();
    let name = column::<StringArray>(batch, "granule")?;
    let rows = column::<UInt64Array>(batch, "rows")?;
    let nulls = column::<UInt64Array>(batch, "coord_nulls")?;
    let mut slices = Vec::new();
    for s in &index.slice_names {
        slices.push((column::<Int64Array>(batch, &format!("{s}_start"))?, column::<Int64Array>(batch, &format!("{s}_end"))?));
    }
    let mut stats = Vec::new();
    for v in &index.vars {
        let f = |suffix: &str| column::<Float64Array>(batch, &format!("{v}_{suffix}"));
        stats.push((column::<UInt64Array>(batch, &format!("{v}_count"))?, f("min")?, f("max")?, f("sum")?));
    }
    for i in 0..batch.num_rows() {
        let g = *by_name.get(name.value(i)).ok_or_else(|| format!("tile of unknown granule {}", name.value(i)))?;
        let (lat, lon) = read_bbox(batch, i)?;
        let has_stats = index.granules[g].has_stats;
        let tile = Tile {
            slice: slices.iter().map(|(a, b)| (a.value(i) as usize, b.value(i) as usize)).collect(),
            time: read_time(batch, i)?,
            lat,
            lon,
            footprint: read_footprint(batch, i)?,
            rows: rows.value(i),
            coord_nulls: nulls.value(i),
            stats: if has_stats {
                stats
                    .iter()
                    .map(|(c, lo, hi, sum)| VarStats {
                        count: c.value(i),
                        min: opt_f64(lo, i).unwrap_or(f64::NAN),
                        max: opt_f64(hi, i).unwrap_or(f64::NAN),
                        sum: opt_f64(sum, i).unwrap_or(0.0),
                    })
                    .collect()
            } else {
                Vec::new()
            },
        };
        index.granules[g].tiles.push(tile);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_directory_sits_beside_the_data() {
        let a = default_location(&["s3://bucket/l2p/2024/*.nc".into()], "k");
        assert!(a.starts_with("s3://bucket/l2p/2024/.oceanql-index/nc-"), "{a}");
        assert_ne!(default_location(&["data/*.nc".into()], "a"), default_location(&["data/*.nc".into()], "b"));
        assert!(default_location(&["x.nc".into()], "k").starts_with("./.oceanql-index/x_nc-"));
    }
}
