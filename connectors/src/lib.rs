//! Format readers for OceanQL: turn gridded NetCDF and Zarr products into Arrow.
//!
//! Each format implements [`grid::GridReader`]: it describes its grid
//! ([`grid::GridInfo`]) and reads raw hyperslabs of one variable. The CF
//! semantics (time decoding, unpacking, fill values) live in [`cf`] and
//! [`decode`] and are shared by every format, so NetCDF and Zarr answer alike.

pub mod cf;
pub mod decode;
pub mod grid;
pub mod hdf5_chunks;
pub mod location;
pub mod netcdf_grid;
pub mod sample;
pub mod source;
pub mod store;
pub mod zarr_grid;

pub use grid::{GridInfo, GridReader, RawValues, RawVar, Role, Slab, VarInfo};
pub use source::ArraySource;

/// Result type of this crate: DataFusion's, so errors flow into SQL unchanged.
pub type Result<T> = datafusion::error::Result<T>;
