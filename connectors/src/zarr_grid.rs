//! Zarr (v2 and v3) stores, read with the `zarrs` crate, from a local
//! directory or from object storage (`s3://bucket/path/store.zarr`).
//!
//! [`ZarrSource`] is one store as named arrays ([`ArraySource`]); [`ZarrGrid`]
//! recognises a grid in it with [`crate::grid::describe`], as `NetcdfGrid` does.
//!
//! Every read goes through one zarrs storage: `FilesystemStore` for a local
//! store, [`crate::store::ObjectStorage`] (zarrs_object_store over the bucket's
//! object store) for `s3://`. The metadata JSON is read here (so that v2
//! `fill_value: null`, xarray's `_ARRAY_DIMENSIONS` and v3 consolidated metadata
//! are under our control); the chunks are read and decoded by zarrs, whose
//! indexing (`ArraySubset`, `retrieve_array_subset`) assembles any hyperslab and
//! fetches only the chunks it touches (byte ranges of shards). Each read is
//! metered by a `PerformanceMetricsStorageAdapter`: the `bytes_read` reported
//! is exactly the bytes fetched from the store (from S3 for an `s3://` store).
//!
//! Fill values follow xarray's decoding (`xarray.backends.zarr`, 2025.6):
//! - Zarr v2: the array's `fill_value` (when not null) is the `_FillValue`;
//!   xarray writes no `_FillValue` attribute in v2 stores.
//! - Zarr v3: the `_FillValue` attribute, if any (xarray writes integers as
//!   JSON numbers and floats as base64 of a little-endian f64); the mandatory
//!   v3 `fill_value` is only what missing chunks read as, never a mask.
//!
//! Byte strings (v2 `|S<n>`, fixed-width or `vlen-bytes`, and v3 `bytes`, as
//! zarr-python writes them) are text variables ([`RawVar::text`]) read with
//! [`ArraySource::read_chars`]: one byte per element, with a last dimension
//! `string<n>` added for strings longer than one byte (like a NetCDF `char`
//! variable); shorter values are padded with zero bytes.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use zarrs::array::{
    Array, ArrayBytes, ArrayMetadata, ArrayMetadataV2, ArrayMetadataV3, ArraySubset,
};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::storage_adapter::performance_metrics::PerformanceMetricsStorageAdapter;
use zarrs::storage::{
    ReadableListableStorageTraits, ReadableStorageTraits, StoreKey,
    StorePrefix,
};

use crate::Result;
use crate::cf::{AttrValue, file_error};
use crate::grid::{GridInfo, GridReader, RawValues, RawVar, SourceType, VarInfo, describe};
use crate::source::ArraySource;
use crate::store;

/// Largest decoded chunk accepted from store metadata (guards against absurd chunk shapes).
const MAX_CHUNK_BYTES: u64 = 1 << 32;

/// Largest v3 `bytes` array whose width is found by reading it when the store is opened.
const MAX_SCANNED_STRINGS: u64 = 1 << 22;

/// The storage every read of a store goes through (local directory or object storage).
type Storage = dyn ReadableListableStorageTraits;

/// One Zarr store (a directory or an object storage prefix) as named arrays.
pub struct ZarrSource {
    granule: String,
    storage: Arc<Storage>,
    vars: Vec<RawVar>,
    attrs: BTreeMap<String, AttrValue>,
    /// Metadata of each array listed in `vars`, by name.
    nodes: HashMap<String, Node>,
    /// Arrays opened so far, by name.
    arrays: Mutex<HashMap<String, Arc<Array<Storage>>>>,
}

impl std::fmt::Debug for ZarrSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZarrSource")
            .field("granule", &self.granule)
            .field("vars", &self.vars.iter().map(|v| &v.name).collect::<Vec<_>>())
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
#[derive(Clone)]
struct Node {
    name: String,
    format: Format,
    /// `.zarray` (v2) or `zarr.json` (v3) content.
    meta: Value,
    /// Attributes (`.zattrs` for v2, `attributes` for v3).
    attrs: Map<String, Value>,
    /// Where the metadata came from, for messages.
    meta_key: String,
    /// For byte strings: how they are stored.
    text: Option<TextLayout>,
}

/// How a byte-string array is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TextLayout {
    /// `|S<n>` without a vlen filter: `n` bytes per element, read as raw bits.
    Fixed(usize),
    /// Variable-length bytes (`vlen-bytes`), padded to `n` bytes per element.
    Variable(usize),
}

impl TextLayout {
    fn width(self) -> usize {
        match self {
            TextLayout::Fixed(n) | TextLayout::Variable(n) => n,
        }
    }
}

impl ZarrSource {
    /// Opens a Zarr store (v2 or v3, consolidated or not): a local directory
    /// (or `file://` URL) or an `s3://` prefix. Lists its arrays and attributes.
    pub fn open(path: &str) -> Result<ZarrSource> {
        let storage: Arc<Storage> = if store::is_remote(path) {
            Arc::new(store::ObjectStorage::open(path)?)
        } else {
            let root = Path::new(path.strip_prefix("file://").unwrap_or(path));
            if !root.exists() {
                return Err(file_error(path, None, "no such Zarr store (the path does not exist)"));
            }
            if !root.is_dir() {
                return Err(file_error(path, None, "not a Zarr store: a Zarr store is a directory"));
            }
            Arc::new(
                FilesystemStore::new(root)
                    .map_err(|e| file_error(path, None, format!("cannot open the Zarr store: {e}")))?,
            )
        };
        let (nodes, group_attrs) = list_arrays(path, storage.as_ref())?;
        let mut vars = Vec::with_capacity(nodes.len());
        let mut by_name = HashMap::new();
        for mut node in nodes {
            if let Some(v) = raw_var(path, &mut node, &storage)? {
                by_name.insert(v.name.clone(), node);
                vars.push(v);
            }
        }
        let mut attrs = BTreeMap::new();
        for (k, v) in &group_attrs {
            if let Some(a) = attr_value(v) {
                attrs.insert(k.clone(), a);
            }
        }
        Ok(ZarrSource {
            granule: path.to_string(),
            storage,
            vars,
            attrs,
            nodes: by_name,
            arrays: Mutex::new(HashMap::new()),
        })
    }

    /// The zarrs array of `name`, opened on first use from the metadata already read.
    fn array(&self, name: &str) -> Result<Arc<Array<Storage>>> {
        let mut arrays = self
            .arrays
            .lock()
            .map_err(|_| file_error(&self.granule, Some(name), "a previous read panicked"))?;
        if let Some(a) = arrays.get(name) {
            return Ok(a.clone());
        }
        let node = self
            .nodes
            .get(name)
            .ok_or_else(|| file_error(&self.granule, Some(name), "no such array in this Zarr store"))?;
        let array = Arc::new(open_array(&self.granule, &self.storage, node)?);
        arrays.insert(name.to_string(), array.clone());
        Ok(array)
    }

    /// Checks a hyperslab against the array's shape and makes it a zarrs subset.
    fn subset(&self, var: &RawVar, array: &Array<Storage>, start: &[usize], count: &[usize]) -> Result<ArraySubset> {
        let granule = self.granule.as_str();
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
                format!("hyperslab start {start:?} count {count:?} is outside the array shape {shape:?}"),
            ));
        }
        ArraySubset::new_with_start_shape(
            start.iter().map(|&s| s as u64).collect(),
            count.iter().map(|&c| c as u64).collect(),
        )
        .map_err(|e| file_error(granule, Some(&var.name), e))
    }

    /// A per-read view of the store that counts the bytes fetched (exact,
    /// including partial reads of shards); the array itself is not reopened.
    fn metered(&self) -> Arc<PerformanceMetricsStorageAdapter<Storage>> {
        Arc::new(PerformanceMetricsStorageAdapter::new(self.storage.clone()))
    }
}

impl ArraySource for ZarrSource {
    fn granule(&self) -> &str {
        &self.granule
    }

    fn vars(&self) -> &[RawVar] {
        &self.vars
    }

    fn global_attrs(&self) -> &BTreeMap<String, AttrValue> {
        &self.attrs
    }

    fn read(&self, var: &RawVar, start: &[usize], count: &[usize]) -> Result<(RawValues, u64)> {
        let granule = self.granule.as_str();
        let dtype = var
            .dtype
            .ok_or_else(|| file_error(granule, Some(&var.name), "not a numeric variable"))?;
        let array = self.array(&var.name)?;
        let subset = self.subset(var, &array, start, count)?;
        let metered = self.metered();
        let reader = array.with_storage(metered.clone());
        let values = retrieve(&reader, &subset, dtype)
            .map_err(|e| read_error(granule, &var.name, &array, &subset, e))?;
        Ok((values, metered.bytes_read() as u64))
    }

    fn read_chars(&self, var: &RawVar, start: &[usize], count: &[usize]) -> Result<(Vec<u8>, u64)> {
        let granule = self.granule.as_str();
        let layout = self
            .nodes
            .get(&var.name)
            .and_then(|n| n.text)
            .filter(|_| var.text)
            .ok_or_else(|| file_error(granule, Some(&var.name), "not a character variable"))?;
        let array = self.array(&var.name)?;
        let width = layout.width();
        // The array's own dimensions: without the `string<n>` dimension added for strings of n > 1 bytes.
        let (start_a, count_a) = if var.dims.len() > array.dimensionality() {
            let k = start.len().saturating_sub(1);
            (&start[..k], &count[..k])
        } else {
            (start, count)
        };
        let subset = self.subset(var, &array, start_a, count_a)?;
        let metered = self.metered();
        let reader = array.with_storage(metered.clone());
        let bytes = guarded(|| reader.retrieve_array_subset::<ArrayBytes<'static>>(&subset))
            .map_err(|e| read_error(granule, &var.name, &array, &subset, e))?;
        // Each element's bytes, cut to the requested part of the string dimension
        // and padded with zero bytes.
        let (s0, c0) = if start.len() > start_a.len() {
            (start[start.len() - 1], count[count.len() - 1])
        } else {
            (0, width)
        };
        let cut = |elem: &[u8], out: &mut Vec<u8>| {
            for j in s0..s0 + c0 {
                out.push(elem.get(j).copied().unwrap_or(0));
            }
        };
        let out = match (layout, bytes) {
            (TextLayout::Fixed(n), ArrayBytes::Fixed(raw)) => {
                let mut out = Vec::with_capacity(raw.len() / n.max(1) * c0);
                for elem in raw.chunks(n.max(1)) {
                    cut(elem, &mut out);
                }
                out
            }
            (TextLayout::Variable(_), ArrayBytes::Variable(v)) => {
                let data: &[u8] = v.bytes();
                let offsets: &[usize] = v.offsets();
                let mut out = Vec::with_capacity(offsets.len().saturating_sub(1) * c0);
                for w in offsets.windows(2) {
                    cut(&data[w[0].min(data.len())..w[1].min(data.len())], &mut out);
                }
                out
            }
            _ => {
                return Err(file_error(
                    granule,
                    Some(&var.name),
                    "unexpected byte layout for a character variable",
                ));
            }
        };
        Ok((out, metered.bytes_read() as u64))
    }
}

impl Clone for ZarrSource {
    fn clone(&self) -> Self {
        let arrays = self.arrays.lock().map(|a| a.clone()).unwrap_or_default();
        ZarrSource {
            granule: self.granule.clone(),
            storage: self.storage.clone(),
            vars: self.vars.clone(),
            attrs: self.attrs.clone(),
            nodes: self.nodes.clone(),
            arrays: Mutex::new(arrays),
        }
    }
}

/// One granule of a gridded product stored as a Zarr store.
#[derive(Clone, Debug)]
pub struct ZarrGrid {
    source: ZarrSource,
    info: GridInfo,
}

/// Stores on object storage opened in this process (metadata, coordinates),
/// by URL, with the listing generation they were read under: a scan opening a
/// granule again sends no request until it reads chunks.
static REMOTE_GRIDS: std::sync::LazyLock<Mutex<HashMap<String, (u64, ZarrGrid)>>> =
    std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));

impl ZarrGrid {
    /// Opens a Zarr store (v2 or v3, consolidated or not; local or `s3://`) and recognises its grid.
    pub fn open(path: &str) -> Result<ZarrGrid> {
        let remote = store::is_remote(path);
        let generation = store::generation(path);
        if remote
            && let Some((g, grid)) = REMOTE_GRIDS.lock().ok().and_then(|c| c.get(path).cloned())
            && g == generation
        {
            return Ok(grid);
        }
        let source = ZarrSource::open(path)?;
        let mut read_1d = |v: &RawVar| source.read_all_f64(v);
        let info = describe(path, source.vars(), &mut read_1d)?;
        let grid = ZarrGrid { source, info };
        if remote && let Ok(mut cache) = REMOTE_GRIDS.lock() {
            cache.insert(path.to_string(), (generation, grid.clone()));
        }
        Ok(grid)
    }

    /// The store as named arrays.
    pub fn source(&self) -> &ZarrSource {
        &self.source
    }
}

impl GridReader for ZarrGrid {
    fn info(&self) -> &GridInfo {
        &self.info
    }

    fn global_attrs(&self) -> &std::collections::BTreeMap<String, crate::cf::AttrValue> {
        self.source.global_attrs()
    }

    fn read_raw(
        &self,
        var: &VarInfo,
        start: &[usize],
        count: &[usize],
    ) -> Result<(RawValues, u64)> {
        let raw = self.source.var(&var.name).map_err(|_| {
            file_error(
                &self.info.granule,
                Some(&var.name),
                "no such gridded variable in this Zarr store",
            )
        })?;
        self.source.read(raw, start, count)
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
fn open_array(granule: &str, store: &Arc<Storage>, node: &Node) -> Result<Array<Storage>> {
    let err = |e: String| {
        file_error(
            granule,
            Some(&node.name),
            format!("invalid array metadata in '{}': {e}", node.meta_key),
        )
    };
    let metadata = match node.format {
        Format::V2 => {
            let meta = match node.text {
                Some(layout) => v2_text_metadata(&node.meta, layout),
                None => node.meta.clone(),
            };
            let mut m: ArrayMetadataV2 =
                serde_json::from_value(meta).map_err(|e| err(e.to_string()))?;
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

/// The metadata of a v2 byte-string array as zarrs can read it: fixed-width
/// `|S<n>` as raw bits `|V<n>` (the same bytes), vlen-encoded `|S<n>` as
/// zarrs' variable-length `|O`.
fn v2_text_metadata(meta: &Value, layout: TextLayout) -> Value {
    let mut m = meta.clone();
    if let Some(obj) = m.as_object_mut() {
        match layout {
            TextLayout::Fixed(n) => {
                obj.insert("dtype".into(), Value::from(format!("|V{n}")));
                obj.insert("fill_value".into(), Value::from(vec![0u8; n]));
            }
            TextLayout::Variable(_) => {
                obj.insert("dtype".into(), Value::from("|O"));
                obj.insert("fill_value".into(), Value::Null);
            }
        }
    }
    m
}

/// Reads and parses a JSON metadata key of the store; `None` when it does not exist.
fn read_json(granule: &str, var: Option<&str>, store: &Storage, key: &str) -> Result<Option<Value>> {
    let store_key = StoreKey::new(key)
        .map_err(|e| file_error(granule, var, format!("invalid key '{key}': {e}")))?;
    let bytes = match store.get(&store_key) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
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

/// Lists the arrays at the root of a store, sorted by name, and the group's attributes.
fn list_arrays(granule: &str, root: &Storage) -> Result<(Vec<Node>, Map<String, Value>)> {
    let mut nodes = Vec::new();
    let group_attrs: Map<String, Value>;
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
        group_attrs = match group.get("attributes") {
            Some(Value::Object(a)) => a.clone(),
            _ => Map::new(),
        };
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
        group_attrs = match all.get(".zattrs") {
            Some(Value::Object(a)) => a.clone(),
            _ => Map::new(),
        };
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
                text: None,
            });
        }
    } else if read_json(granule, None, root, ".zgroup")?.is_some() {
        group_attrs = match read_json(granule, None, root, ".zattrs")? {
            Some(Value::Object(a)) => a,
            _ => Map::new(),
        };
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
                text: None,
            });
        }
    } else if read_json(granule, None, root, ".zarray")?.is_some() {
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
    Ok((nodes, group_attrs))
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
        text: None,
    }
}

/// Names of the child prefixes ("subdirectories") at the root of a store, sorted.
fn subdirs(granule: &str, root: &Storage) -> Result<Vec<String>> {
    let listing = root
        .list_dir(&StorePrefix::root())
        .map_err(|e| file_error(granule, None, format!("cannot list the Zarr store: {e}")))?;
    let mut names: Vec<String> = listing
        .prefixes()
        .iter()
        .map(|p| p.as_str().trim_end_matches('/').to_string())
        .filter(|n| !n.is_empty())
        .collect();
    names.sort();
    Ok(names)
}

/// Builds the format-neutral description of one array; `None` for arrays
/// without dimension names (not part of a labelled grid).
fn raw_var(granule: &str, node: &mut Node, store: &Arc<Storage>) -> Result<Option<RawVar>> {
    node.text = text_layout(granule, node, store)?;
    let node = &*node;
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
    let mut chunks = chunk_shape(node, &shape).map_err(bad)?;
    let mut dims: Vec<(String, usize)> = dim_names.into_iter().zip(shape.iter().map(|&n| n as usize)).collect();
    if let Some(layout) = node.text {
        // A string of n > 1 bytes gets a last dimension of n characters, as a NetCDF char variable has.
        let n = layout.width();
        if n > 1 {
            dims.push((format!("string{n}"), n));
            if let Some(c) = chunks.as_mut() {
                c.push(n);
            }
        }
    }
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
    if node.text.is_some() {
        attr_values.remove("_FillValue");
    }
    Ok(Some(RawVar {
        name: name.to_string(),
        dims,
        dtype,
        text: node.text.is_some(),
        attrs: attr_values,
        chunks,
    }))
}

/// Whether an array holds byte strings, and how: v2 `|S<n>` (fixed width, or
/// with a `vlen-bytes` filter as zarr-python 3 writes it), v3 `bytes` (whose
/// width is not in the metadata: found by reading the array when it is small).
fn text_layout(granule: &str, node: &Node, store: &Arc<Storage>) -> Result<Option<TextLayout>> {
    match node.format {
        Format::V2 => {
            let Some(n) = node
                .meta
                .get("dtype")
                .and_then(Value::as_str)
                .and_then(|d| d.strip_prefix("|S"))
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n > 0)
            else {
                return Ok(None);
            };
            let vlen = node
                .meta
                .get("filters")
                .and_then(Value::as_array)
                .is_some_and(|f| f.iter().any(|c| c.get("id").and_then(Value::as_str) == Some("vlen-bytes")));
            Ok(Some(if vlen { TextLayout::Variable(n) } else { TextLayout::Fixed(n) }))
        }
        Format::V3 => {
            if node.meta.get("data_type").and_then(Value::as_str) != Some("bytes") {
                return Ok(None);
            }
            let count: Option<u64> = node
                .meta
                .get("shape")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(Value::as_u64).try_fold(1u64, |acc, n| acc.checked_mul(n?)));
            if count.is_none_or(|c| c > MAX_SCANNED_STRINGS) {
                return Ok(None);
            }
            let probe = Node { text: Some(TextLayout::Variable(1)), ..node.clone() };
            let array = open_array(granule, store, &probe)?;
            let subset = array.subset_all();
            let bytes = guarded(|| array.retrieve_array_subset::<ArrayBytes<'static>>(&subset))
                .map_err(|e| read_error(granule, &node.name, &array, &subset, e))?;
            let width = match bytes {
                ArrayBytes::Variable(v) => v.offsets().windows(2).map(|w| w[1].saturating_sub(w[0])).max().unwrap_or(0),
                _ => return Ok(None),
            };
            Ok(Some(TextLayout::Variable(width.max(1))))
        }
    }
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

    /// vlen-bytes encoding: item count, then each item's length and bytes (u32 LE).
    fn vlen(items: &[&[u8]]) -> Vec<u8> {
        let mut out = (items.len() as u32).to_le_bytes().to_vec();
        for i in items {
            out.extend((i.len() as u32).to_le_bytes());
            out.extend_from_slice(i);
        }
        out
    }

    #[test]
    fn reads_byte_strings_as_characters() {
        let dir = tempfile::tempdir().unwrap();
        let w = |rel: &str, bytes: &[u8]| {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        };
        // Zarr v2: fixed-width |S3 and |S1 (zarr-python 2), vlen-encoded |S3 (zarr-python 3).
        let v2 = |dtype: &str, shape: &str, filters: &str| {
            format!(
                r#"{{"zarr_format": 2, "shape": {shape}, "chunks": {shape}, "dtype": "{dtype}", "fill_value": null,
                   "order": "C", "compressor": null, "filters": {filters}}}"#
            )
        };
        w("v2.zarr/.zgroup", br#"{"zarr_format": 2}"#);
        w("v2.zarr/.zattrs", br#"{"title": "strings"}"#);
        w("v2.zarr/ids/.zarray", v2("|S3", "[3]", "null").as_bytes());
        w("v2.zarr/ids/.zattrs", br#"{"_ARRAY_DIMENSIONS": ["obs"]}"#);
        w("v2.zarr/ids/0", b"ab\0cdefg\0");
        w("v2.zarr/c/.zarray", v2("|S1", "[3, 2]", "null").as_bytes());
        w("v2.zarr/c/.zattrs", br#"{"_ARRAY_DIMENSIONS": ["obs", "strlen"]}"#);
        w("v2.zarr/c/0.0", b"abcdef");
        w("v2.zarr/vl/.zarray", v2("|S3", "[3]", r#"[{"id": "vlen-bytes"}]"#).as_bytes());
        w("v2.zarr/vl/.zattrs", br#"{"_ARRAY_DIMENSIONS": ["obs"]}"#);
        w("v2.zarr/vl/0", &vlen(&[b"ab", b"cde", b""]));
        // Zarr v3: `bytes` with the vlen-bytes codec (zarr-python 3).
        w("v3.zarr/zarr.json", br#"{"zarr_format": 3, "node_type": "group", "attributes": {"title": "v3"}}"#);
        w(
            "v3.zarr/pid/zarr.json",
            br#"{"zarr_format": 3, "node_type": "array", "shape": [3], "data_type": "bytes",
                "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [3]}},
                "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
                "fill_value": [], "codecs": [{"name": "vlen-bytes", "configuration": {}}],
                "attributes": {}, "dimension_names": ["obs"]}"#,
        );
        w("v3.zarr/pid/c/0", &vlen(&[b"x", b"yz", b"w"]));

        let src = ZarrSource::open(dir.path().join("v2.zarr").to_str().unwrap()).unwrap();
        assert_eq!(src.global_text("title"), Some("strings"));
        let read = |src: &ZarrSource, name: &str, start: &[usize], count: &[usize]| {
            let v = src.var(name).unwrap().clone();
            assert!(v.text && v.dtype.is_none(), "{v:?}");
            src.read_chars(&v, start, count).unwrap().0
        };
        assert_eq!(src.var("ids").unwrap().dims, vec![("obs".to_string(), 3), ("string3".to_string(), 3)]);
        assert_eq!(read(&src, "ids", &[0, 0], &[3, 3]), b"ab\0cdefg\0");
        assert_eq!(read(&src, "ids", &[1, 1], &[2, 2]), b"deg\0");
        assert_eq!(src.var("c").unwrap().dims.len(), 2);
        assert_eq!(read(&src, "c", &[1, 0], &[2, 2]), b"cdef");
        assert_eq!(read(&src, "vl", &[0, 0], &[3, 3]), b"ab\0cde\0\0\0");
        assert_eq!(read(&src, "vl", &[1, 1], &[1, 2]), b"de");

        let src = ZarrSource::open(dir.path().join("v3.zarr").to_str().unwrap()).unwrap();
        assert_eq!(src.global_text("title"), Some("v3"));
        assert_eq!(src.var("pid").unwrap().dims, vec![("obs".to_string(), 3), ("string2".to_string(), 2)]);
        assert_eq!(read(&src, "pid", &[0, 0], &[3, 2]), b"x\0yzw\0");
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
