//! NetCDF (classic and NetCDF-4) gridded products through the system libnetcdf.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use netcdf::types::{FloatType, IntType, NcVariableType};
use netcdf::{AttributeValue, Variable};

use crate::Result;
use crate::cf::{AttrValue, file_error};
use crate::hdf5_chunks::{ChunkIndex, chunk_index};
use crate::grid::{GridInfo, GridReader, RawValues, RawVar, SourceType, VarInfo, describe};
use crate::source::ArraySource;

/// One NetCDF file (classic or NetCDF-4) as named arrays.
pub struct NetcdfSource {
    /// The granule: the path or `s3://` URL as given.
    path: String,
    /// The local file read: the path itself, or the cached copy of an `s3://` object.
    local: String,
    file: netcdf::File,
    vars: Vec<RawVar>,
    attrs: BTreeMap<String, AttrValue>,
    /// The same file for `pread` of chunks on the direct path.
    raw: std::fs::File,
    /// Chunk index per variable, read on first use; `None` where libnetcdf must read.
    chunk_indexes: Mutex<HashMap<String, Option<Arc<ChunkIndex>>>>,
    /// NetCDF-3 (classic) files have no HDF5 chunks: never ask HDF5 about them
    /// (a failed open leaves HDF5 error records behind that it loops on at exit).
    classic: bool,
}

impl std::fmt::Debug for NetcdfSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetcdfSource").field("path", &self.path).finish()
    }
}

impl NetcdfSource {
    /// Opens `path` and lists its variables and global attributes.
    ///
    /// An `s3://` URL is read from a local copy downloaded once into the cache
    /// (libnetcdf needs random access to metadata spread through the file, and
    /// cannot sign S3 requests); the granule stays the URL.
    pub fn open(path: &str) -> Result<Self> {
        quiet_hdf5();
        let local = if crate::store::is_remote(path) {
            crate::store::local_copy(path)?.to_string_lossy().into_owned()
        } else {
            path.strip_prefix("file://").unwrap_or(path).to_string()
        };
        std::fs::metadata(&local).map_err(|e| file_error(path, None, e))?;
        let file = netcdf::open(&local).map_err(|e| file_error(path, None, format!("not a readable NetCDF file ({e})")))?;
        let vars = file.variables().map(|v| raw_var(path, &v)).collect::<Result<Vec<_>>>()?;
        let mut attrs = BTreeMap::new();
        for a in file.attributes() {
            if let Some(value) = a.value().ok().and_then(attr_value) {
                attrs.insert(a.name().to_string(), value);
            }
        }
        let raw = std::fs::File::open(&local).map_err(|e| file_error(path, None, e))?;
        let classic = is_classic(&raw);
        Ok(NetcdfSource {
            classic,
            path: path.to_string(),
            local,
            file,
            vars,
            attrs,
            raw,
            chunk_indexes: Mutex::new(HashMap::new()),
        })
    }

    fn chunk_index(&self, var: &RawVar, elem_size: usize) -> Option<Arc<ChunkIndex>> {
        if self.classic {
            return None;
        }
        let mut cache = self.chunk_indexes.lock().ok()?;
        cache
            .entry(var.name.clone())
            .or_insert_with(|| {
                chunk_index(&self.local, &var.name)
                    .filter(|i| i.elem_size == elem_size && i.shape.len() == var.dims.len())
                    .map(Arc::new)
            })
            .clone()
    }

    /// Reads through the chunk index, outside libnetcdf's lock; `None` to fall back.
    fn read_direct(&self, var: &RawVar, dtype: SourceType, start: &[usize], count: &[usize]) -> Result<Option<(RawValues, u64)>> {
        let Some(index) = self.chunk_index(var, dtype.size()) else { return Ok(None) };
        let read = index
            .read(&self.raw, start, count)
            .map_err(|e| file_error(&self.path, Some(&var.name), format!("reading a chunk failed: {e}")))?;
        let Some((bytes, stored)) = read else { return Ok(None) };
        Ok(Some((raw_from_bytes(dtype, &bytes), stored)))
    }

    fn variable(&self, name: &str) -> Result<Variable<'_>> {
        self.file.variable(name).ok_or_else(|| file_error(&self.path, Some(name), "no such variable in this file"))
    }
}

impl ArraySource for NetcdfSource {
    fn granule(&self) -> &str {
        &self.path
    }

    fn vars(&self) -> &[RawVar] {
        &self.vars
    }

    fn global_attrs(&self) -> &BTreeMap<String, AttrValue> {
        &self.attrs
    }

    fn read(&self, var: &RawVar, start: &[usize], count: &[usize]) -> Result<(RawValues, u64)> {
        quiet_hdf5();
        let path = &self.path;
        let dtype = var.dtype.ok_or_else(|| file_error(path, Some(&var.name), "not a numeric variable"))?;
        if let Some(direct) = self.read_direct(var, dtype, start, count)? {
            return Ok(direct);
        }
        let v = self.variable(&var.name)?;
        let err = |e: netcdf::Error| file_error(path, Some(&var.name), format!("read failed: {e}"));
        let ext = (start, count);
        let raw = match dtype {
            SourceType::I8 => RawValues::I8(v.get_values(ext).map_err(err)?),
            SourceType::U8 => RawValues::U8(v.get_values(ext).map_err(err)?),
            SourceType::I16 => RawValues::I16(v.get_values(ext).map_err(err)?),
            SourceType::U16 => RawValues::U16(v.get_values(ext).map_err(err)?),
            SourceType::I32 => RawValues::I32(v.get_values(ext).map_err(err)?),
            SourceType::U32 => RawValues::U32(v.get_values(ext).map_err(err)?),
            SourceType::I64 => RawValues::I64(v.get_values(ext).map_err(err)?),
            SourceType::U64 => RawValues::U64(v.get_values(ext).map_err(err)?),
            SourceType::F32 => RawValues::F32(v.get_values(ext).map_err(err)?),
            SourceType::F64 => RawValues::F64(v.get_values(ext).map_err(err)?),
        };
        Ok((raw, chunk_bytes(var, dtype.size(), start, count)))
    }

    fn read_chars(&self, var: &RawVar, start: &[usize], count: &[usize]) -> Result<(Vec<u8>, u64)> {
        quiet_hdf5();
        if !var.text {
            return Err(file_error(&self.path, Some(&var.name), "not a character variable"));
        }
        let v = self.variable(&var.name)?;
        let bytes = v
            .get_raw_values((start, count))
            .map_err(|e| file_error(&self.path, Some(&var.name), format!("read failed: {e}")))?;
        let stored = chunk_bytes(var, 1, start, count);
        Ok((bytes, stored))
    }
}

/// One NetCDF granule of a gridded product.
#[derive(Debug)]
pub struct NetcdfGrid {
    source: NetcdfSource,
    info: GridInfo,
}

impl NetcdfGrid {
    /// Opens `path` and recognises its grid.
    pub fn open(path: &str) -> Result<Self> {
        let source = NetcdfSource::open(path)?;
        let mut read_1d = |v: &RawVar| source.read_all_f64(v);
        let info = describe(path, source.vars(), &mut read_1d)?;
        Ok(NetcdfGrid { source, info })
    }
}

/// Whether a file is NetCDF-3 (classic, 64-bit offset or CDF-5): it starts with `CDF`.
fn is_classic(file: &std::fs::File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut magic = [0u8; 3];
    file.read_exact_at(&mut magic, 0).is_ok() && &magic == b"CDF"
}

/// Native-order bytes to typed values.
fn raw_from_bytes(dtype: SourceType, b: &[u8]) -> RawValues {
    macro_rules! typed {
        ($t:ty, $variant:ident) => {
            RawValues::$variant(b.chunks_exact(size_of::<$t>()).map(|c| <$t>::from_ne_bytes(c.try_into().unwrap_or_default())).collect())
        };
    }
    match dtype {
        SourceType::I8 => typed!(i8, I8),
        SourceType::U8 => typed!(u8, U8),
        SourceType::I16 => typed!(i16, I16),
        SourceType::U16 => typed!(u16, U16),
        SourceType::I32 => typed!(i32, I32),
        SourceType::U32 => typed!(u32, U32),
        SourceType::I64 => typed!(i64, I64),
        SourceType::U64 => typed!(u64, U64),
        SourceType::F32 => typed!(f32, F32),
        SourceType::F64 => typed!(f64, F64),
    }
}

impl GridReader for NetcdfGrid {
    fn info(&self) -> &GridInfo {
        &self.info
    }

    fn global_attrs(&self) -> &std::collections::BTreeMap<String, crate::cf::AttrValue> {
        self.source.global_attrs()
    }

    fn read_raw(&self, var: &VarInfo, start: &[usize], count: &[usize]) -> Result<(RawValues, u64)> {
        self.source.read(self.source.var(&var.name)?, start, count)
    }
}

/// Turns off HDF5's automatic error printing on this thread.
///
/// libnetcdf probes optional attributes (e.g. `_QuantizeBitRoundNumberOfSignificantBits`)
/// and expects failures; HDF5 prints each failure to stderr unless told not to,
/// and that setting is per thread, while libnetcdf sets it only on the thread
/// that initialised it. Errors still come back to us as return codes.
fn quiet_hdf5() {
    thread_local! { static DONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) }; }
    DONE.with(|done| {
        if !done.get() {
            let _guard = hdf5_metno_sys::LOCK.lock();
            // SAFETY: plain FFI call with the default error stack and no callback, under the HDF5 lock.
            unsafe {
                hdf5_metno_sys::h5e::H5Eset_auto2(hdf5_metno_sys::h5e::H5E_DEFAULT, None, std::ptr::null_mut());
            }
            done.set(true);
        }
    });
}

/// Uncompressed bytes of the chunks a hyperslab touches (libnetcdf reads whole chunks).
fn chunk_bytes(var: &RawVar, elem_size: usize, start: &[usize], count: &[usize]) -> u64 {
    let shape: Vec<usize> = var.dims.iter().map(|(_, n)| *n).collect();
    let chunk_shape = var.chunks.as_ref().unwrap_or(&shape);
    let mut chunks = 1u64;
    for ((&s, &c), &k) in start.iter().zip(count).zip(chunk_shape) {
        if c == 0 {
            return 0;
        }
        let k = k.max(1);
        chunks *= ((s + c - 1) / k - s / k + 1) as u64;
    }
    let chunk_len: u64 = chunk_shape.iter().map(|&k| k.max(1) as u64).product();
    chunks * chunk_len * elem_size as u64
}

fn raw_var(path: &str, v: &Variable<'_>) -> Result<RawVar> {
    let name = v.name();
    let dtype = match v.vartype() {
        NcVariableType::Int(IntType::I8) => Some(SourceType::I8),
        NcVariableType::Int(IntType::U8) => Some(SourceType::U8),
        NcVariableType::Int(IntType::I16) => Some(SourceType::I16),
        NcVariableType::Int(IntType::U16) => Some(SourceType::U16),
        NcVariableType::Int(IntType::I32) => Some(SourceType::I32),
        NcVariableType::Int(IntType::U32) => Some(SourceType::U32),
        NcVariableType::Int(IntType::I64) => Some(SourceType::I64),
        NcVariableType::Int(IntType::U64) => Some(SourceType::U64),
        NcVariableType::Float(FloatType::F32) => Some(SourceType::F32),
        NcVariableType::Float(FloatType::F64) => Some(SourceType::F64),
        _ => None,
    };
    let text = matches!(v.vartype(), NcVariableType::Char);
    let mut attrs = BTreeMap::new();
    for a in v.attributes() {
        let value = a.value().map_err(|e| file_error(path, Some(&name), format!("attribute '{}': {e}", a.name())))?;
        if let Some(value) = attr_value(value) {
            attrs.insert(a.name().to_string(), value);
        }
    }
    let chunks = v.chunking().map_err(|e| file_error(path, Some(&name), e))?;
    Ok(RawVar {
        dims: v.dimensions().iter().map(|d| (d.name(), d.len())).collect(),
        name,
        dtype,
        text,
        attrs,
        chunks,
    })
}

/// Converts a NetCDF attribute to the format-neutral [`AttrValue`].
pub fn attr_value(value: AttributeValue) -> Option<AttrValue> {
    fn nums<T: Copy + Into<f64>>(v: Vec<T>) -> Option<AttrValue> {
        Some(AttrValue::Numbers(v.into_iter().map(Into::into).collect()))
    }
    match value {
        AttributeValue::Str(s) => Some(AttrValue::Text(s)),
        AttributeValue::Strs(s) => Some(AttrValue::Text(s.join(" "))),
        AttributeValue::Uchar(x) => nums(vec![x]),
        AttributeValue::Uchars(x) => nums(x),
        AttributeValue::Schar(x) => nums(vec![x]),
        AttributeValue::Schars(x) => nums(x),
        AttributeValue::Ushort(x) => nums(vec![x]),
        AttributeValue::Ushorts(x) => nums(x),
        AttributeValue::Short(x) => nums(vec![x]),
        AttributeValue::Shorts(x) => nums(x),
        AttributeValue::Uint(x) => nums(vec![x]),
        AttributeValue::Uints(x) => nums(x),
        AttributeValue::Int(x) => nums(vec![x]),
        AttributeValue::Ints(x) => nums(x),
        AttributeValue::Ulonglong(x) => Some(AttrValue::Numbers(vec![x as f64])),
        AttributeValue::Ulonglongs(x) => Some(AttrValue::Numbers(x.into_iter().map(|v| v as f64).collect())),
        AttributeValue::Longlong(x) => Some(AttrValue::Numbers(vec![x as f64])),
        AttributeValue::Longlongs(x) => Some(AttrValue::Numbers(x.into_iter().map(|v| v as f64).collect())),
        AttributeValue::Float(x) => nums(vec![x]),
        AttributeValue::Floats(x) => nums(x),
        AttributeValue::Double(x) => nums(vec![x]),
        AttributeValue::Doubles(x) => nums(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A NetCDF-4 file with a deflated, shuffled, chunked int16 variable whose
    /// last chunks are partial, plus one whose chunks are never written.
    fn write_file(path: &std::path::Path) {
        let mut f = netcdf::create(path).unwrap();
        f.add_dimension("time", 2).unwrap();
        f.add_dimension("lat", 7).unwrap();
        f.add_dimension("lon", 11).unwrap();
        let mut t = f.add_variable::<f64>("time", &["time"]).unwrap();
        t.put_attribute("units", "days since 2000-01-01").unwrap();
        t.put_values(&[0.0, 1.0], ..).unwrap();
        let mut lat = f.add_variable::<f64>("lat", &["lat"]).unwrap();
        lat.put_attribute("units", "degrees_north").unwrap();
        lat.put_values(&(0..7).map(|i| i as f64).collect::<Vec<_>>(), ..).unwrap();
        let mut lon = f.add_variable::<f64>("lon", &["lon"]).unwrap();
        lon.put_attribute("units", "degrees_east").unwrap();
        lon.put_values(&(0..11).map(|i| i as f64 * 30.0).collect::<Vec<_>>(), ..).unwrap();
        let mut v = f.add_variable::<i16>("v", &["time", "lat", "lon"]).unwrap();
        v.set_chunking(&[1, 3, 4]).unwrap();
        v.set_compression(4, true).unwrap();
        let values: Vec<i16> = (0..2 * 7 * 11).map(|i| (i * 37 % 1000 - 500) as i16).collect();
        v.put_values(&values, ..).unwrap();
        let mut empty = f.add_variable::<f32>("empty", &["time", "lat", "lon"]).unwrap();
        empty.set_chunking(&[1, 7, 11]).unwrap();
        empty.set_compression(1, false).unwrap();
    }

    #[test]
    fn direct_chunk_reads_equal_libnetcdf() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunks.nc");
        write_file(&path);
        let grid = NetcdfGrid::open(path.to_str().unwrap()).unwrap();
        let var = grid.info().var("v").unwrap().clone();
        for (start, count) in [([0, 0, 0], [2, 7, 11]), ([1, 2, 3], [1, 4, 6]), ([0, 6, 10], [2, 1, 1])] {
            let raw = grid.source.var("v").unwrap().clone();
            let direct = grid.source.read_direct(&raw, var.dtype, &start, &count).unwrap().expect("direct path taken");
            let expected: Vec<i16> = grid.source.file.variable("v").unwrap().get_values((&start[..], &count[..])).unwrap();
            match direct.0 {
                RawValues::I16(got) => assert_eq!(got, expected, "slab {start:?} {count:?}"),
                other => panic!("wrong type {other:?}"),
            }
            assert!(direct.1 > 0);
        }
        // Chunks never written are not in the index: libnetcdf reads them (as fill values).
        let empty = grid.info().var("empty").unwrap().clone();
        let raw_empty = grid.source.var("empty").unwrap().clone();
        assert!(grid.source.read_direct(&raw_empty, empty.dtype, &[0, 0, 0], &[1, 7, 11]).unwrap().is_none());
        let (raw, _) = grid.read_raw(&empty, &[0, 0, 0], &[1, 7, 11]).unwrap();
        assert_eq!(raw.len(), 77);
    }
}
