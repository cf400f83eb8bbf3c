//! NetCDF (classic and NetCDF-4) gridded products through the system libnetcdf.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use netcdf::types::{FloatType, IntType, NcVariableType};
use netcdf::{AttributeValue, Variable};

use crate::Result;
use crate::cf::{AttrValue, file_error};
use crate::hdf5_chunks::{ChunkIndex, chunk_index};
use crate::grid::{GridInfo, GridReader, RawValues, RawVar, SourceType, VarInfo, describe};

/// One NetCDF granule of a gridded product.
pub struct NetcdfGrid {
    file: netcdf::File,
    info: GridInfo,
    /// The same file for `pread` of chunks on the direct path.
    raw: std::fs::File,
    /// Chunk index per variable, read on first use; `None` where libnetcdf must read.
    chunk_indexes: Mutex<HashMap<String, Option<Arc<ChunkIndex>>>>,
}

impl std::fmt::Debug for NetcdfGrid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetcdfGrid").field("granule", &self.info.granule).finish()
    }
}

impl NetcdfGrid {
    /// Opens `path` and recognises its grid.
    pub fn open(path: &str) -> Result<Self> {
        quiet_hdf5();
        let meta = std::fs::metadata(path).map_err(|e| file_error(path, None, e))?;
        let file = netcdf::open(path).map_err(|e| file_error(path, None, format!("not a readable NetCDF file ({e})")))?;
        let raw_vars = file.variables().map(|v| raw_var(path, &v)).collect::<Result<Vec<_>>>()?;
        let mut read_1d = |v: &RawVar| -> Result<Vec<f64>> {
            let var = file.variable(&v.name).ok_or_else(|| file_error(path, Some(&v.name), "variable vanished"))?;
            var.get_values::<f64, _>(..).map_err(|e| file_error(path, Some(&v.name), e))
        };
        let info = describe(path, &raw_vars, &mut read_1d, meta.len())?;
        let raw = std::fs::File::open(path).map_err(|e| file_error(path, None, e))?;
        Ok(NetcdfGrid { file, info, raw, chunk_indexes: Mutex::new(HashMap::new()) })
    }

    fn chunk_index(&self, var: &VarInfo) -> Option<Arc<ChunkIndex>> {
        let mut cache = self.chunk_indexes.lock().ok()?;
        cache
            .entry(var.name.clone())
            .or_insert_with(|| {
                chunk_index(&self.info.granule, &var.name)
                    .filter(|i| i.elem_size == var.dtype.size() && i.shape.len() == var.dims.len())
                    .map(Arc::new)
            })
            .clone()
    }

    /// Reads through the chunk index, outside libnetcdf's lock; `None` to fall back.
    fn read_direct(&self, var: &VarInfo, start: &[usize], count: &[usize]) -> Result<Option<(RawValues, u64)>> {
        let Some(index) = self.chunk_index(var) else { return Ok(None) };
        let path = &self.info.granule;
        let read = index
            .read(&self.raw, start, count)
            .map_err(|e| file_error(path, Some(&var.name), format!("reading a chunk failed: {e}")))?;
        let Some((bytes, stored)) = read else { return Ok(None) };
        Ok(Some((raw_from_bytes(var.dtype, &bytes), stored)))
    }
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

    fn read_raw(&self, var: &VarInfo, start: &[usize], count: &[usize]) -> Result<(RawValues, u64)> {
        quiet_hdf5();
        if let Some(direct) = self.read_direct(var, start, count)? {
            return Ok(direct);
        }
        let path = &self.info.granule;
        let v = self
            .file
            .variable(&var.name)
            .ok_or_else(|| file_error(path, Some(&var.name), "no such variable in this file"))?;
        let err = |e: netcdf::Error| file_error(path, Some(&var.name), format!("read failed: {e}"));
        let ext = (start, count);
        let raw = match var.dtype {
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
        Ok((raw, chunk_bytes(var, start, count)))
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
fn chunk_bytes(var: &VarInfo, start: &[usize], count: &[usize]) -> u64 {
    let mut chunks = 1u64;
    for ((&s, &c), &k) in start.iter().zip(count).zip(&var.chunks) {
        if c == 0 {
            return 0;
        }
        let k = k.max(1);
        chunks *= ((s + c - 1) / k - s / k + 1) as u64;
    }
    let chunk_len: u64 = var.chunks.iter().map(|&k| k.max(1) as u64).product();
    chunks * chunk_len * var.dtype.size() as u64
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
            let direct = grid.read_direct(&var, &start, &count).unwrap().expect("direct path taken");
            let expected: Vec<i16> = grid.file.variable("v").unwrap().get_values((&start[..], &count[..])).unwrap();
            match direct.0 {
                RawValues::I16(got) => assert_eq!(got, expected, "slab {start:?} {count:?}"),
                other => panic!("wrong type {other:?}"),
            }
            assert!(direct.1 > 0);
        }
        // Chunks never written are not in the index: libnetcdf reads them (as fill values).
        let empty = grid.info().var("empty").unwrap().clone();
        assert!(grid.read_direct(&empty, &[0, 0, 0], &[1, 7, 11]).unwrap().is_none());
        let (raw, _) = grid.read_raw(&empty, &[0, 0, 0], &[1, 7, 11]).unwrap();
        assert_eq!(raw.len(), 77);
    }
}
