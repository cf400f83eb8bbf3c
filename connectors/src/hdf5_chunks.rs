//! NetCDF-4 chunks read by byte range and inflated in Rust, outside libnetcdf's lock.
//!
//! libnetcdf serialises every call behind one process-wide lock, so partitions
//! reading NetCDF-4 through it decode one chunk at a time. Here the chunk index
//! of a variable (byte address, stored size and filter mask of every chunk) is
//! read once through HDF5 (metadata only, under the lock); the chunks are then
//! read with `pread` and inflated/unshuffled in Rust, in parallel. Only the
//! filters OceanQL decodes (deflate, shuffle) take this path; anything else,
//! and any chunk that is not allocated, falls back to libnetcdf.

use std::collections::HashMap;
use std::ffi::CString;
use std::io::Read;
use std::os::unix::fs::FileExt;

use hdf5_metno_sys::h5::hsize_t;
use hdf5_metno_sys::h5d::{H5D_layout_t, H5Dclose, H5Dget_chunk_info, H5Dget_create_plist, H5Dget_num_chunks, H5Dget_space, H5Dget_type, H5Dopen2};
use hdf5_metno_sys::h5f::{H5F_ACC_RDONLY, H5Fclose, H5Fopen};
use hdf5_metno_sys::h5i::hid_t;
use hdf5_metno_sys::h5p::{H5P_DEFAULT, H5Pclose, H5Pget_chunk, H5Pget_filter2, H5Pget_layout, H5Pget_nfilters};
use hdf5_metno_sys::h5s::{H5Sclose, H5Sget_simple_extent_dims, H5Sget_simple_extent_ndims};
use hdf5_metno_sys::h5t::{H5T_order_t, H5Tclose, H5Tget_order, H5Tget_size};

/// Where each chunk of one variable sits in the file, and how it is encoded.
#[derive(Debug)]
pub struct ChunkIndex {
    pub shape: Vec<usize>,
    pub chunk_shape: Vec<usize>,
    pub elem_size: usize,
    pub little_endian: bool,
    /// Filters in write order: `true` for shuffle, `false` for deflate.
    filters: Vec<bool>,
    /// Chunk grid coordinates -> (byte address, stored size, filter mask).
    chunks: HashMap<Vec<usize>, (u64, u64, u32)>,
    /// The last chunk decoded, reused when consecutive reads (blocks of lines
    /// smaller than a chunk) fall in the same chunk.
    recent: std::sync::Mutex<Option<RecentChunk>>,
}

/// A decoded chunk and its grid coordinates.
type RecentChunk = (Vec<usize>, std::sync::Arc<Vec<u8>>);

const FILTER_DEFLATE: i32 = 1;
const FILTER_SHUFFLE: i32 = 2;

/// Reads the chunk index of `var` in the NetCDF-4 file `path`, or `None` when
/// the variable cannot take the direct path (not chunked, other filters, not HDF5).
pub fn chunk_index(path: &str, var: &str) -> Option<ChunkIndex> {
    let cpath = CString::new(path).ok()?;
    let cvar = CString::new(var).ok()?;
    let _guard = hdf5_metno_sys::LOCK.lock();
    // SAFETY: HDF5 C calls on ids we open and close here, under the HDF5 lock;
    // every output pointer points to a live buffer of the documented size.
    unsafe {
        let file = H5Fopen(cpath.as_ptr(), H5F_ACC_RDONLY, H5P_DEFAULT);
        if file < 0 {
            return None;
        }
        let dset = H5Dopen2(file, cvar.as_ptr(), H5P_DEFAULT);
        let index = if dset < 0 { None } else { read_index(dset) };
        if dset >= 0 {
            H5Dclose(dset);
        }
        H5Fclose(file);
        index
    }
}

unsafe fn read_index(dset: hid_t) -> Option<ChunkIndex> {
    unsafe {
        let space = H5Dget_space(dset);
        let plist = H5Dget_create_plist(dset);
        let dtype = H5Dget_type(dset);
        let index = read_index_with(dset, space, plist, dtype);
        H5Tclose(dtype);
        H5Pclose(plist);
        H5Sclose(space);
        index
    }
}

unsafe fn read_index_with(dset: hid_t, space: hid_t, plist: hid_t, dtype: hid_t) -> Option<ChunkIndex> {
    unsafe {
        if space < 0 || plist < 0 || dtype < 0 || H5Pget_layout(plist) != H5D_layout_t::H5D_CHUNKED {
            return None;
        }
        let ndims = usize::try_from(H5Sget_simple_extent_ndims(space)).ok().filter(|&n| n > 0)?;
        let mut dims = vec![0 as hsize_t; ndims];
        H5Sget_simple_extent_dims(space, dims.as_mut_ptr(), std::ptr::null_mut());
        let mut cdims = vec![0 as hsize_t; ndims];
        if H5Pget_chunk(plist, ndims as i32, cdims.as_mut_ptr()) != ndims as i32 {
            return None;
        }
        let mut filters = Vec::new();
        for i in 0..H5Pget_nfilters(plist).max(0) as u32 {
            let (mut flags, mut nelmts, mut config) = (0u32, 8usize, 0u32);
            let mut values = [0u32; 8];
            let mut name = [0 as std::ffi::c_char; 64];
            let id = H5Pget_filter2(plist, i, &mut flags, &mut nelmts, values.as_mut_ptr(), 64, name.as_mut_ptr(), &mut config);
            match id {
                FILTER_SHUFFLE => filters.push(true),
                FILTER_DEFLATE => filters.push(false),
                _ => return None,
            }
        }
        let elem_size = H5Tget_size(dtype);
        let little_endian = match H5Tget_order(dtype) {
            H5T_order_t::H5T_ORDER_LE => true,
            H5T_order_t::H5T_ORDER_BE => false,
            _ => return None,
        };
        let mut n: hsize_t = 0;
        if H5Dget_num_chunks(dset, space, &mut n) < 0 {
            return None;
        }
        let mut chunks = HashMap::with_capacity(n as usize);
        let mut offset = vec![0 as hsize_t; ndims];
        for i in 0..n {
            let (mut mask, mut addr, mut size) = (0u32, 0u64, 0 as hsize_t);
            if H5Dget_chunk_info(dset, space, i, offset.as_mut_ptr(), &mut mask, &mut addr, &mut size) < 0 {
                return None;
            }
            let coords: Vec<usize> = offset.iter().zip(&cdims).map(|(&o, &c)| (o / c.max(1)) as usize).collect();
            chunks.insert(coords, (addr, size, mask));
        }
        Some(ChunkIndex {
            shape: dims.iter().map(|&d| d as usize).collect(),
            chunk_shape: cdims.iter().map(|&c| c.max(1) as usize).collect(),
            elem_size,
            little_endian,
            filters,
            chunks,
            recent: Default::default(),
        })
    }
}

impl ChunkIndex {
    /// Reads the hyperslab `start`/`count` as raw bytes in storage order and
    /// native byte order, or `Ok(None)` when a chunk is not allocated.
    /// Returns the bytes and the number of stored bytes read.
    pub fn read(&self, file: &std::fs::File, start: &[usize], count: &[usize]) -> std::io::Result<Option<(Vec<u8>, u64)>> {
        let n = count.len();
        let total: usize = count.iter().product();
        let mut out = vec![0u8; total * self.elem_size];
        if total == 0 {
            return Ok(Some((out, 0)));
        }
        let first: Vec<usize> = (0..n).map(|d| start[d] / self.chunk_shape[d]).collect();
        let last: Vec<usize> = (0..n).map(|d| (start[d] + count[d] - 1) / self.chunk_shape[d]).collect();
        let mut coords = first.clone();
        let mut stored = 0u64;
        loop {
            let Some(&(addr, size, mask)) = self.chunks.get(&coords) else { return Ok(None) };
            let chunk = match self.cached(&coords) {
                Some(chunk) => chunk,
                None => {
                    stored += size;
                    let chunk = std::sync::Arc::new(self.decode_chunk(file, addr, size, mask)?);
                    if let Ok(mut recent) = self.recent.lock() {
                        *recent = Some((coords.clone(), chunk.clone()));
                    }
                    chunk
                }
            };
            self.copy_chunk(&chunk, &coords, start, count, &mut out);
            // Next chunk coordinates (row-major).
            let mut d = n;
            loop {
                if d == 0 {
                    self.to_native(&mut out);
                    return Ok(Some((out, stored)));
                }
                d -= 1;
                if coords[d] < last[d] {
                    coords[d] += 1;
                    break;
                }
                coords[d] = first[d];
            }
        }
    }

    fn cached(&self, coords: &[usize]) -> Option<std::sync::Arc<Vec<u8>>> {
        let recent = self.recent.lock().ok()?;
        recent.as_ref().filter(|(c, _)| c == coords).map(|(_, chunk)| chunk.clone())
    }

    fn decode_chunk(&self, file: &std::fs::File, addr: u64, size: u64, mask: u32) -> std::io::Result<Vec<u8>> {
        let mut bytes = vec![0u8; size as usize];
        file.read_exact_at(&mut bytes, addr)?;
        let chunk_len = self.chunk_shape.iter().product::<usize>() * self.elem_size;
        // Undo the filters in reverse order; a set bit in the mask means the filter was skipped.
        for (i, &shuffle) in self.filters.iter().enumerate().rev() {
            if mask & (1 << i) != 0 {
                continue;
            }
            bytes = if shuffle { unshuffle(&bytes, self.elem_size) } else { inflate(&bytes, chunk_len)? };
        }
        if bytes.len() != chunk_len {
            return Err(std::io::Error::other(format!("chunk decodes to {} bytes, expected {chunk_len}", bytes.len())));
        }
        Ok(bytes)
    }

    /// Copies the part of one chunk that lies in the hyperslab into `out`.
    fn copy_chunk(&self, chunk: &[u8], coords: &[usize], start: &[usize], count: &[usize], out: &mut [u8]) {
        let n = coords.len();
        let es = self.elem_size;
        // Intersection of the chunk and the slab, in absolute indices.
        let lo: Vec<usize> = (0..n).map(|d| (coords[d] * self.chunk_shape[d]).max(start[d])).collect();
        let hi: Vec<usize> = (0..n).map(|d| ((coords[d] + 1) * self.chunk_shape[d]).min(start[d] + count[d])).collect();
        let run = (hi[n - 1] - lo[n - 1]) * es;
        let mut idx = lo.clone();
        loop {
            let (mut src, mut dst) = (0usize, 0usize);
            for d in 0..n {
                src = src * self.chunk_shape[d] + (idx[d] - coords[d] * self.chunk_shape[d]);
                dst = dst * count[d] + (idx[d] - start[d]);
            }
            out[dst * es..dst * es + run].copy_from_slice(&chunk[src * es..src * es + run]);
            // Advance over all but the last dimension.
            let mut d = n - 1;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                idx[d] += 1;
                if idx[d] < hi[d] {
                    break;
                }
                idx[d] = lo[d];
            }
        }
    }

    fn to_native(&self, bytes: &mut [u8]) {
        if self.little_endian != cfg!(target_endian = "little") && self.elem_size > 1 {
            bytes.chunks_exact_mut(self.elem_size).for_each(|e| e.reverse());
        }
    }
}

fn inflate(bytes: &[u8], expected: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(expected);
    flate2::read::ZlibDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

/// HDF5's shuffle: byte k of every element is stored together.
fn unshuffle(bytes: &[u8], elem_size: usize) -> Vec<u8> {
    if elem_size <= 1 {
        return bytes.to_vec();
    }
    let n = bytes.len() / elem_size;
    let mut out = vec![0u8; bytes.len()];
    for k in 0..elem_size {
        let plane = &bytes[k * n..(k + 1) * n];
        for (i, &b) in plane.iter().enumerate() {
            out[i * elem_size + k] = b;
        }
    }
    // Trailing bytes that do not fill an element are stored unshuffled.
    out[n * elem_size..].copy_from_slice(&bytes[n * elem_size..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unshuffle_interleaves_byte_planes() {
        assert_eq!(unshuffle(&[1, 3, 2, 4], 2), vec![1, 2, 3, 4]);
        assert_eq!(unshuffle(&[1, 2, 3], 1), vec![1, 2, 3]);
    }
}
