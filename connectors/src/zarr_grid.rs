//! Zarr (v2 and v3) stores of gridded products, read with the `zarrs` crate.
//!
//! The metadata JSON is read here (so that v2 `fill_value: null`, xarray's
//! `_ARRAY_DIMENSIONS` and v3 consolidated metadata are under our control);
//! the chunks are read and decoded by zarrs, whose indexing (`ArraySubset`,
//! `retrieve_array_subset`) assembles any hyperslab.
//!
//! Fill values follow xarray's decoding (`xarray.backends.zarr`, 2025.6):
//! - Zarr v2: the array's `fill_value` (when not null) is the `_FillValue`;
//!   xarray writes no `_FillValue` attribute in v2 stores.
//! - Zarr v3: the `_FillValue` attribute, if any (xarray writes integers as
//!   JSON numbers and floats as base64 of a little-endian f64); the mandatory
//!   v3 `fill_value` is only what missing chunks read as, never a mask.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::{Map, Value};
use zarrs::array::{
    Array, ArrayBytes, ArrayMetadata, ArrayMetadataV2, ArrayMetadataV3, ArraySubset,
};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::ReadableStorageTraits;
use zarrs::storage::storage_adapter::performance_metrics::PerformanceMetricsStorageAdapter;

use crate::Result;
use crate::cf::{AttrValue, file_error};
use crate::grid::{GridInfo, GridReader, RawValues, RawVar, SourceType, VarInfo};

/// Largest decoded chunk accepted from store metadata (guards against absurd chunk shapes).
const MAX_CHUNK_BYTES: u64 = 1 << 32;

/// One granule of a gridded product stored as a Zarr store (a directory).
pub struct ZarrGrid {
    info: GridInfo,
    store: Arc<FilesystemStore>,
    /// The opened arrays of the grid's data variables, by name.
    arrays: HashMap<String, Array<FilesystemStore>>,
}

impl std::fmt::Debug for ZarrGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.arrays.keys().collect();
        names.sort();
        f.debug_struct("ZarrGrid")
            .field("granule", &self.info.granule)
            .field("arrays", &names)
            .finish()
    }
}

/// Zarr format of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    V2,
    V3,
}

/// One array at the root of a store, as its metadata describes it.
struct Node {
    name: String,
    format: Format,
    /// `.zarray` (v2) or `zarr.json` (v3) content.
    meta: Value,
    /// Attributes (`.zattrs` for v2, `attributes` for v3).
    attrs: Map<String, Value>,
    /// Where the metadata came from, for messages.
    meta_key: String,
}

impl ZarrGrid {
    /// Opens a Zarr store (v2 or v3, consolidated or not) and recognises its grid.
    pub fn open(path: &str) -> Result<ZarrGrid> {
        let root = Path::new(path.strip_prefix("file://").unwrap_or(path));
        if !root.exists() {
            return Err(file_error(
                path,
                None,
                "no such Zarr store (the path does not exist)",
            ));
        }
        if !root.is_dir() {
            return Err(file_error(
                path,
                None,
                "not a Zarr store: a Zarr store is a directory",
            ));
        }
        let nodes = list_arrays(path, root)?;
        let store = Arc::new(
            FilesystemStore::new(root)
                .map_err(|e| file_error(path, None, format!("cannot open the Zarr store: {e}")))?,
        );
        let mut raw_vars = Vec::with_capacity(nodes.len());
        let mut by_name: HashMap<String, &Node> = HashMap::new();
        for node in &nodes {
            if let Some(v) = raw_var(path, node)? {
                by_name.insert(v.name.clone(), node);
                raw_vars.push(v);
            }
        }
        let mut arrays: HashMap<String, Array<FilesystemStore>> = HashMap::new();
        let mut read_1d = |v: &RawVar| -> Result<Vec<f64>> {
            let node = by_name
                .get(&v.name)
                .ok_or_else(|| file_error(path, Some(&v.name), "array metadata not found"))?;
            let array = open_array(path, &store, node)?;
            let dtype = v
                .dtype
                .ok_or_else(|| file_error(path, Some(&v.name), "unsupported data type"))?;
            let subset = array.subset_all();
            let values = retrieve(&array, &subset, dtype)
                .map_err(|e| read_error(path, &v.name, &array, &subset, e))?;
            Ok(to_f64(values))
        };
        let size_bytes = dir_size(root);
        let info = crate::grid::describe(path, &raw_vars, &mut read_1d, size_bytes)?;
        for var in &info.vars {
            let node = by_name
                .get(&var.name)
                .ok_or_else(|| file_error(path, Some(&var.name), "array metadata not found"))?;
            arrays.insert(var.name.clone(), open_array(path, &store, node)?);
        }
        Ok(ZarrGrid {
            info,
            store,
            arrays,
        })
    }
}

impl GridReader for ZarrGrid {
    fn info(&self) -> &GridInfo {
        &self.info
    }

    fn read_raw(
        &self,
        var: &VarInfo,
        start: &[usize],
        count: &[usize],
    ) -> Result<(RawValues, u64)> {
        let granule = self.info.granule.as_str();
        let array = self.arrays.get(&var.name).ok_or_else(|| {
            file_error(
                granule,
                Some(&var.name),
                "no such gridded variable in this Zarr store",
            )
        })?;
        let shape = array.shape();
        if start.len() != shape.len() || count.len() != shape.len() {
            return Err(file_error(
                granule,
                Some(&var.name),
                format!(
                    "hyperslab has {} dimensions, the array has {}",
                    start.len().max(count.len()),
                    shape.len()
                ),
            ));
        }
        let in_bounds = start
            .iter()
            .zip(count)
            .zip(shape)
            .all(|((&s, &c), &n)| s.checked_add(c).is_some_and(|end| end as u64 <= n));
        if !in_bounds {
            return Err(file_error(
                granule,
                Some(&var.name),
                format!(
                    "hyperslab start {start:?} count {count:?} is outside the array shape {shape:?}"
                ),
            ));
        }
        let subset = ArraySubset::new_with_start_shape(
            start.iter().map(|&s| s as u64).collect(),
            count.iter().map(|&c| c as u64).collect(),
        )
        .map_err(|e| file_error(granule, Some(&var.name), e))?;
        // A per-read view of the store that counts the bytes fetched (exact,
        // including partial reads of shards); the array itself is not reopened.
        let metered = Arc::new(PerformanceMetricsStorageAdapter::new(self.store.clone()));
        let reader = array.with_storage(metered.clone());
        let values = retrieve(&reader, &subset, var.dtype)
            .map_err(|e| read_error(granule, &var.name, array, &subset, e))?;
        Ok((values, metered.bytes_read() as u64))
    }
}

/// Reads `subset` of `array` as the typed values of `dtype`.
fn retrieve<S: ?Sized + ReadableStorageTraits + 'static>(
    array: &Array<S>,
    subset: &ArraySubset,
    dtype: SourceType,
) -> std::result::Result<RawValues, String> {
    guarded(|| retrieve_typed(array, subset, dtype))
}

/// Runs a zarrs call, turning a panic (zarrs documents some for impossible
/// sizes from untrusted metadata) into an error: a scan must never panic.
fn guarded<T, E: std::fmt::Display>(
    f: impl FnOnce() -> std::result::Result<T, E>,
) -> std::result::Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(p) => {
            let why = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("zarrs panicked: {}", why.unwrap_or_default()))
        }
    }
}

fn retrieve_typed<S: ?Sized + ReadableStorageTraits + 'static>(
    array: &Array<S>,
    subset: &ArraySubset,
    dtype: SourceType,
) -> std::result::Result<RawValues, zarrs::array::ArrayError> {
    Ok(match dtype {
        SourceType::I8 => RawValues::I8(array.retrieve_array_subset::<Vec<i8>>(subset)?),
        SourceType::U8 => RawValues::U8(array.retrieve_array_subset::<Vec<u8>>(subset)?),
        SourceType::I16 => RawValues::I16(array.retrieve_array_subset::<Vec<i16>>(subset)?),
        SourceType::U16 => RawValues::U16(array.retrieve_array_subset::<Vec<u16>>(subset)?),
        SourceType::I32 => RawValues::I32(array.retrieve_array_subset::<Vec<i32>>(subset)?),
        SourceType::U32 => RawValues::U32(array.retrieve_array_subset::<Vec<u32>>(subset)?),
        SourceType::I64 => RawValues::I64(array.retrieve_array_subset::<Vec<i64>>(subset)?),
        SourceType::U64 => RawValues::U64(array.retrieve_array_subset::<Vec<u64>>(subset)?),
        SourceType::F32 => RawValues::F32(array.retrieve_array_subset::<Vec<f32>>(subset)?),
        SourceType::F64 => RawValues::F64(array.retrieve_array_subset::<Vec<f64>>(subset)?),
    })
}

fn to_f64(values: RawValues) -> Vec<f64> {
    match values {
        RawValues::I8(v) => v.into_iter().map(f64::from).collect(),
        RawValues::U8(v) => v.into_iter().map(f64::from).collect(),
        RawValues::I16(v) => v.into_iter().map(f64::from).collect(),
        RawValues::U16(v) => v.into_iter().map(f64::from).collect(),
        RawValues::I32(v) => v.into_iter().map(f64::from).collect(),
        RawValues::U32(v) => v.into_iter().map(f64::from).collect(),
        RawValues::I64(v) => v.into_iter().map(|x| x as f64).collect(),
        RawValues::U64(v) => v.into_iter().map(|x| x as f64).collect(),
        RawValues::F32(v) => v.into_iter().map(f64::from).collect(),
        RawValues::F64(v) => v,
    }
}

/// Turns a failed read into an error naming the store, the array and, when
/// one chunk is at fault (corrupt or truncated), that chunk's key.
fn read_error(
    granule: &str,
    name: &str,
    array: &Array<impl ?Sized + ReadableStorageTraits + 'static>,
    subset: &ArraySubset,
    err: String,
) -> datafusion::error::DataFusionError {
    // Only on the error path: retry chunk by chunk to find the culprit.
    if let Ok(Some(chunks)) = array.chunks_in_array_subset(subset)
        && chunks.num_elements() <= 1_000_000
    {
        for idx in chunks.indices().into_iter() {
            if let Err(e) = guarded(|| array.retrieve_chunk::<ArrayBytes<'static>>(&idx)) {
                let key = array.chunk_key(&idx);
                return file_error(
                    granule,
                    Some(name),
                    format!("cannot read chunk '{key}': {e}"),
                );
            }
        }
    }
    file_error(
        granule,
        Some(name),
        format!("cannot read {:?}: {err}", subset.to_ranges()),
    )
}

/// Opens a zarrs array from the metadata already read (no second read of the store).
fn open_array(
    granule: &str,
    store: &Arc<FilesystemStore>,
    node: &Node,
) -> Result<Array<FilesystemStore>> {
    let err = |e: String| {
        file_error(
            granule,
            Some(&node.name),
            format!("invalid array metadata in '{}': {e}", node.meta_key),
        )
    };
    let metadata = match node.format {
        Format::V2 => {
            let mut m: ArrayMetadataV2 =
                serde_json::from_value(node.meta.clone()).map_err(|e| err(e.to_string()))?;
            m.attributes = node.attrs.clone();
            ArrayMetadata::V2(m)
        }
        Format::V3 => ArrayMetadata::V3(
            serde_json::from_value::<ArrayMetadataV3>(node.meta.clone())
                .map_err(|e| err(e.to_string()))?,
        ),
    };
    let array =
        guarded(|| Array::new_with_metadata(store.clone(), &format!("/{}", node.name), metadata))
            .map_err(err)?;
    // Bound-check the chunk grid from untrusted metadata before any chunk is decoded.
    let size = array.data_type().fixed_size().unwrap_or(8) as u64;
    if array.dimensionality() > 0 {
        let first = vec![0u64; array.dimensionality()];
        if let Ok(chunk) = array.chunk_shape(&first) {
            let bytes = chunk
                .iter()
                .try_fold(size, |acc, n| acc.checked_mul(n.get()));
            if bytes.is_none_or(|b| b > MAX_CHUNK_BYTES) {
                return Err(err(format!(
                    "chunk shape {:?} is too large ({} bytes at most per chunk)",
                    chunk.iter().map(|n| n.get()).collect::<Vec<_>>(),
                    MAX_CHUNK_BYTES
                )));
            }
        }
    }
    Ok(array)
}

/// Reads and parses a JSON metadata file; `None` when it does not exist.
fn read_json(granule: &str, var: Option<&str>, root: &Path, key: &str) -> Result<Option<Value>> {
    let file = root.join(key);
    let bytes = match std::fs::read(&file) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(file_error(
                granule,
                var,
                format!("cannot read '{key}': {e}"),
            ));
        }
    };
    parse_json(&bytes).map(Some).map_err(|e| {
        file_error(
            granule,
            var,
            format!("invalid Zarr metadata in '{key}': {e}"),
        )
    })
}

/// Parses metadata JSON, accepting the bare `NaN`/`Infinity` that zarr-python 2 wrote in attributes.
fn parse_json(bytes: &[u8]) -> std::result::Result<Value, serde_json::Error> {
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(v),
        Err(e) => {
            let Ok(text) = std::str::from_utf8(bytes) else {
                return Err(e);
            };
            let fixed = quote_non_finite(text);
            if fixed == text {
                Err(e)
            } else {
                serde_json::from_str(&fixed).map_err(|_| e)
            }
        }
    }
}

/// Quotes bare `NaN`, `Infinity` and `-Infinity` tokens outside strings.
fn quote_non_finite(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if c == '"' {
            in_string = true;
        } else if let Some(tok) = ["-Infinity", "Infinity", "NaN"]
            .iter()
            .find(|t| rest.starts_with(**t))
        {
            out.push('"');
            out.push_str(tok);
            out.push('"');
            rest = &rest[tok.len()..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Lists the arrays at the root of a store, sorted by name.
fn list_arrays(granule: &str, root: &Path) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    if let Some(group) = read_json(granule, None, root, "zarr.json")? {
        let node_type = group.get("node_type").and_then(Value::as_str);
        if node_type == Some("array") {
            return Err(file_error(
                granule,
                None,
                "the root of this Zarr store is a single array, not a group of variables",
            ));
        }
        if node_type != Some("group") || group.get("zarr_format").and_then(Value::as_u64) != Some(3)
        {
            return Err(file_error(
                granule,
                None,
                "invalid Zarr metadata in 'zarr.json': not a Zarr v3 group (node_type/zarr_format)",
            ));
        }
        let consolidated = group
            .get("consolidated_metadata")
            .and_then(|c| c.get("metadata"))
            .and_then(Value::as_object);
        if let Some(all) = consolidated {
            for (name, meta) in all {
                if name.contains('/')
                    || meta.get("node_type").and_then(Value::as_str) != Some("array")
                {
                    continue;
                }
                nodes.push(v3_node(
                    name,
                    meta.clone(),
                    format!("zarr.json (consolidated metadata of '{name}')"),
                ));
            }
        } else {
            for name in subdirs(granule, root)? {
                let key = format!("{name}/zarr.json");
                let Some(meta) = read_json(granule, Some(&name), root, &key)? else {
                    continue;
                };
                if meta.get("node_type").and_then(Value::as_str) == Some("array") {
                    nodes.push(v3_node(&name, meta, key));
                }
            }
        }
    } else if let Some(consolidated) = read_json(granule, None, root, ".zmetadata")? {
        let all = consolidated
            .get("metadata")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                file_error(
                    granule,
                    None,
                    "invalid Zarr metadata in '.zmetadata': no 'metadata' object",
                )
            })?;
        for (key, meta) in all {
            let Some(name) = key.strip_suffix("/.zarray") else {
                continue;
            };
            if name.contains('/') {
                continue;
            }
            let attrs = match all.get(&format!("{name}/.zattrs")) {
                Some(Value::Object(a)) => a.clone(),
                Some(_) => {
                    return Err(file_error(
                        granule,
                        Some(name),
                        format!(
                            "invalid Zarr metadata in '.zmetadata': '{name}/.zattrs' is not an object"
                        ),
                    ));
                }
                None => Map::new(),
            };
            nodes.push(Node {
                name: name.to_string(),
                format: Format::V2,
                meta: meta.clone(),
                attrs,
                meta_key: format!(".zmetadata ('{name}/.zarray')"),
            });
        }
    } else if root.join(".zgroup").is_file() {
        read_json(granule, None, root, ".zgroup")?;
        for name in subdirs(granule, root)? {
            let key = format!("{name}/.zarray");
            let Some(meta) = read_json(granule, Some(&name), root, &key)? else {
                continue;
            };
            let attrs = match read_json(granule, Some(&name), root, &format!("{name}/.zattrs"))? {
                Some(Value::Object(a)) => a,
                Some(_) => {
                    return Err(file_error(
                        granule,
                        Some(&name),
                        format!("invalid Zarr metadata in '{name}/.zattrs': not an object"),
                    ));
                }
                None => Map::new(),
            };
            nodes.push(Node {
                name,
                format: Format::V2,
                meta,
                attrs,
                meta_key: key,
            });
        }
    } else if root.join(".zarray").is_file() {
        return Err(file_error(
            granule,
            None,
            "the root of this Zarr store is a single array, not a group of variables",
        ));
    } else {
        return Err(file_error(
            granule,
            None,
            "not a Zarr store: no zarr.json (Zarr v3) nor .zgroup/.zmetadata (Zarr v2) at its root",
        ));
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(nodes)
}

fn v3_node(name: &str, meta: Value, meta_key: String) -> Node {
    let attrs = match meta.get("attributes") {
        Some(Value::Object(a)) => a.clone(),
        _ => Map::new(),
    };
    Node {
        name: name.to_string(),
        format: Format::V3,
        meta,
        attrs,
        meta_key,
    }
}

/// Names of the subdirectories of `root`, sorted.
fn subdirs(granule: &str, root: &Path) -> Result<Vec<String>> {
    let entries = std::fs::read_dir(root)
        .map_err(|e| file_error(granule, None, format!("cannot list the Zarr store: {e}")))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry
            .map_err(|e| file_error(granule, None, format!("cannot list the Zarr store: {e}")))?;
        if entry.path().is_dir()
            && let Some(name) = entry.file_name().to_str()
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Total size of the files under `dir` (0 for what cannot be read).
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack: Vec<PathBuf> = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                stack.push(entry.path());
            } else if let Ok(m) = entry.path().metadata()
                && m.is_file()
            {
                total += m.len();
            }
        }
    }
    total
}

/// Builds the format-neutral description of one array; `None` for arrays
/// without dimension names (not part of a labelled grid).
fn raw_var(granule: &str, node: &Node) -> Result<Option<RawVar>> {
    let name = node.name.as_str();
    let bad = |why: String| {
        file_error(
            granule,
            Some(name),
            format!("invalid array metadata in '{}': {why}", node.meta_key),
        )
    };
    let shape: Vec<u64> = node
        .meta
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
        .ok_or_else(|| bad("'shape' is not a list of non-negative integers".into()))?;
    if shape
        .iter()
        .try_fold(1u64, |acc, &n| acc.checked_mul(n))
        .is_none_or(|n| n > usize::MAX as u64 / 8)
    {
        return Err(bad(format!("shape {shape:?} is too large")));
    }
    let mut attrs = node.attrs.clone();
    let xarray_dims = attrs.remove("_ARRAY_DIMENSIONS");
    let dim_names = match node.format {
        Format::V2 => xarray_dims,
        Format::V3 => node
            .meta
            .get("dimension_names")
            .cloned()
            .filter(|d| !d.is_null())
            .or(xarray_dims),
    };
    let dim_names: Option<Vec<String>> = dim_names
        .as_ref()
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|d| d.as_str().map(str::to_string)).collect());
    let Some(dim_names) = dim_names else {
        return Ok(None);
    };
    if dim_names.len() != shape.len() {
        return Err(bad(format!(
            "{} dimension names {dim_names:?} for a {}-D array",
            dim_names.len(),
            shape.len()
        )));
    }
    let dtype = match node.format {
        Format::V2 => node
            .meta
            .get("dtype")
            .and_then(Value::as_str)
            .and_then(v2_dtype),
        Format::V3 => node
            .meta
            .get("data_type")
            .and_then(Value::as_str)
            .and_then(v3_dtype),
    };
    let chunks = chunk_shape(node, &shape).map_err(bad)?;
    let mut attr_values: BTreeMap<String, AttrValue> = BTreeMap::new();
    for (k, v) in &attrs {
        if let Some(a) = attr_value(v) {
            attr_values.insert(k.clone(), a);
        }
    }
    match node.format {
        Format::V2 => {
            // xarray (use_zarr_fill_value_as_mask, the v2 default): the array's
            // fill_value, when set, is the _FillValue.
            if let Some(fill) = node
                .meta
                .get("fill_value")
                .filter(|f| !f.is_null())
                .and_then(json_number)
            {
                attr_values.insert("_FillValue".into(), AttrValue::Numbers(vec![fill]));
            }
        }
        Format::V3 => {
            // xarray writes _FillValue as an attribute: integers as numbers,
            // floats as base64 of a little-endian f64.
            match attrs.get("_FillValue").map(|f| fill_attr(f, dtype)) {
                Some(Some(fill)) => {
                    attr_values.insert("_FillValue".into(), AttrValue::Numbers(vec![fill]));
                }
                Some(None) => {
                    attr_values.remove("_FillValue");
                }
                None => {}
            }
        }
    }
    Ok(Some(RawVar {
        name: name.to_string(),
        dims: dim_names
            .into_iter()
            .zip(shape.iter().map(|&n| n as usize))
            .collect(),
        dtype,
        attrs: attr_values,
        chunks,
    }))
}

/// The regular (inner, for sharded arrays) chunk shape, bounded by the array shape.
fn chunk_shape(node: &Node, shape: &[u64]) -> std::result::Result<Option<Vec<usize>>, String> {
    let list = |v: Option<&Value>| -> Option<Vec<u64>> {
        v?.as_array()?.iter().map(Value::as_u64).collect()
    };
    let chunks = match node.format {
        Format::V2 => {
            Some(list(node.meta.get("chunks")).ok_or("'chunks' is not a list of integers")?)
        }
        Format::V3 => {
            let grid = node.meta.get("chunk_grid");
            if grid.and_then(|g| g.get("name")).and_then(Value::as_str) != Some("regular") {
                None
            } else {
                let outer = list(
                    grid.and_then(|g| g.get("configuration"))
                        .and_then(|c| c.get("chunk_shape")),
                )
                .ok_or("'chunk_grid' has no list of integers 'chunk_shape'")?;
                let inner = node
                    .meta
                    .get("codecs")
                    .and_then(Value::as_array)
                    .and_then(|codecs| {
                        codecs.iter().find(|c| {
                            c.get("name").and_then(Value::as_str) == Some("sharding_indexed")
                        })
                    })
                    .and_then(|c| list(c.get("configuration").and_then(|c| c.get("chunk_shape"))));
                Some(inner.filter(|i| i.len() == outer.len()).unwrap_or(outer))
            }
        }
    };
    let Some(chunks) = chunks else {
        return Ok(None);
    };
    if chunks.len() != shape.len() {
        return Err(format!(
            "chunk shape {chunks:?} does not match the array shape {shape:?}"
        ));
    }
    if chunks.contains(&0) {
        return Err(format!("chunk shape {chunks:?} has a zero length"));
    }
    Ok(Some(
        chunks
            .iter()
            .zip(shape)
            .map(|(&c, &n)| c.min(n.max(1)) as usize)
            .collect(),
    ))
}

fn v2_dtype(d: &str) -> Option<SourceType> {
    let d = d.trim_start_matches(['<', '>', '|', '=']);
    Some(match d {
        "i1" => SourceType::I8,
        "u1" => SourceType::U8,
        "i2" => SourceType::I16,
        "u2" => SourceType::U16,
        "i4" => SourceType::I32,
        "u4" => SourceType::U32,
        "i8" => SourceType::I64,
        "u8" => SourceType::U64,
        "f4" => SourceType::F32,
        "f8" => SourceType::F64,
        _ => return None,
    })
}

fn v3_dtype(d: &str) -> Option<SourceType> {
    Some(match d {
        "int8" => SourceType::I8,
        "uint8" => SourceType::U8,
        "int16" => SourceType::I16,
        "uint16" => SourceType::U16,
        "int32" => SourceType::I32,
        "uint32" => SourceType::U32,
        "int64" => SourceType::I64,
        "uint64" => SourceType::U64,
        "float32" => SourceType::F32,
        "float64" => SourceType::F64,
        _ => return None,
    })
}

/// A JSON number, or one of Zarr's spellings of non-finite floats.
fn json_number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// Decodes a v3 `_FillValue` attribute the way xarray's `FillValueCoder` does.
fn fill_attr(v: &Value, dtype: Option<SourceType>) -> Option<f64> {
    if let Some(x) = json_number(v) {
        return Some(x);
    }
    let s = v.as_str()?;
    let is_float = matches!(dtype, Some(SourceType::F32 | SourceType::F64));
    if is_float && let Some(bytes) = base64_decode(s) {
        return match bytes.len() {
            8 => Some(f64::from_le_bytes(bytes.try_into().ok()?)),
            4 => Some(f64::from(f32::from_le_bytes(bytes.try_into().ok()?))),
            _ => None,
        };
    }
    s.trim().parse().ok()
}

/// Standard base64 (with padding), as Python's `base64.standard_b64encode` writes it.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Converts a JSON attribute to an [`AttrValue`] (numbers, lists of numbers, text).
fn attr_value(v: &Value) -> Option<AttrValue> {
    match v {
        Value::String(s) => Some(AttrValue::Text(s.clone())),
        Value::Number(_) | Value::Bool(_) => json_number(v).map(|x| AttrValue::Numbers(vec![x])),
        Value::Array(items) if !items.is_empty() => {
            if let Some(nums) = items.iter().map(json_number).collect::<Option<Vec<f64>>>()
                && items.iter().any(|i| !i.is_string())
            {
                return Some(AttrValue::Numbers(nums));
            }
            let texts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            texts.map(|t| AttrValue::Text(t.join(", ")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_xarray_float_fill_values() {
        // xarray writes NaN as base64 of the little-endian f64 bits.
        let v = Value::String("AAAAAAAA+H8=".into());
        assert!(fill_attr(&v, Some(SourceType::F64)).unwrap().is_nan());
        let v = Value::String(base64_of(&(-999.0f64).to_le_bytes()));
        assert_eq!(fill_attr(&v, Some(SourceType::F32)), Some(-999.0));
        assert_eq!(
            fill_attr(&serde_json::json!(-32768), Some(SourceType::I16)),
            Some(-32768.0)
        );
        assert!(
            fill_attr(&serde_json::json!("NaN"), Some(SourceType::F32))
                .unwrap()
                .is_nan()
        );
    }

    fn base64_of(bytes: &[u8]) -> String {
        const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in bytes.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                if i <= c.len() {
                    out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    #[test]
    fn accepts_bare_nan_in_old_attributes() {
        let v = parse_json(br#"{"a": NaN, "b": [1.0, -Infinity], "c": "NaN in text"}"#).unwrap();
        assert_eq!(v["a"], "NaN");
        assert_eq!(v["c"], "NaN in text");
        match attr_value(&v["b"]) {
            Some(AttrValue::Numbers(n)) => assert_eq!(n[1], f64::NEG_INFINITY),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn maps_dtypes() {
        assert_eq!(v2_dtype("<i2"), Some(SourceType::I16));
        assert_eq!(v2_dtype(">f8"), Some(SourceType::F64));
        assert_eq!(v2_dtype("|u1"), Some(SourceType::U8));
        assert_eq!(v2_dtype("<U5"), None);
        assert_eq!(v3_dtype("uint64"), Some(SourceType::U64));
        assert_eq!(v3_dtype("bool"), None);
    }
}
