//! A granule seen as named n-dimensional arrays: the layer under every
//! observation pattern (grid, swath, along-track, discrete sampling geometries).
//!
//! Formats implement [`ArraySource`] (list variables and attributes, read a
//! hyperslab of one variable); the patterns ([`crate::grid`], [`crate::sample`])
//! recognise their structure from it, the same way for NetCDF and Zarr.

use std::collections::BTreeMap;

use crate::Result;
use crate::cf::{AttrValue, file_error};
use crate::grid::{RawValues, RawVar};

/// One granule (file or store) as named arrays.
pub trait ArraySource: Send + Sync + std::fmt::Debug {
    /// The file or store path, as given (the `granule` column).
    fn granule(&self) -> &str;

    /// Every variable (array) of the granule, in file order.
    fn vars(&self) -> &[RawVar];

    /// Global attributes.
    fn global_attrs(&self) -> &BTreeMap<String, AttrValue>;

    /// Reads the stored values of a numeric variable over `start`/`count`
    /// (storage order). Returns the values and the bytes fetched from storage.
    fn read(&self, var: &RawVar, start: &[usize], count: &[usize]) -> Result<(RawValues, u64)>;

    /// Reads a character variable ([`RawVar::text`]): one byte per element.
    fn read_chars(&self, var: &RawVar, start: &[usize], count: &[usize]) -> Result<(Vec<u8>, u64)>;

    /// The variable called `name`.
    fn var(&self, name: &str) -> Result<&RawVar> {
        self.vars()
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| file_error(self.granule(), Some(name), "no such variable in this granule"))
    }

    /// Reads a whole numeric variable as f64 (stored values, not unpacked).
    fn read_all_f64(&self, var: &RawVar) -> Result<Vec<f64>> {
        let start = vec![0; var.dims.len()];
        let count: Vec<usize> = var.dims.iter().map(|(_, n)| *n).collect();
        Ok(self.read(var, &start, &count)?.0.to_f64())
    }

    /// A global attribute as text.
    fn global_text(&self, name: &str) -> Option<&str> {
        self.global_attrs().get(name).and_then(|a| a.as_text())
    }
}
