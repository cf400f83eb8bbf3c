//! NetCDF (classic and NetCDF-4) gridded products through the system libnetcdf.

use std::collections::BTreeMap;

use netcdf::types::{FloatType, IntType, NcVariableType};
use netcdf::{AttributeValue, Variable};

use crate::Result;
use crate::cf::{AttrValue, file_error};
use crate::grid::{GridInfo, GridReader, RawValues, RawVar, SourceType, VarInfo, describe};

/// One NetCDF granule of a gridded product.
pub struct NetcdfGrid {
    file: netcdf::File,
    info: GridInfo,
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
        Ok(NetcdfGrid { file, info })
    }
}

impl GridReader for NetcdfGrid {
    fn info(&self) -> &GridInfo {
        &self.info
    }

    fn read_raw(&self, var: &VarInfo, start: &[usize], count: &[usize]) -> Result<(RawValues, u64)> {
        quiet_hdf5();
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
