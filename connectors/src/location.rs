//! Expands a table LOCATION (a file, a directory or a glob) into granules.

use std::path::{Path, PathBuf};

use datafusion::common::plan_datafusion_err;

use crate::Result;

/// Lists the granules a LOCATION names, sorted by path.
///
/// `is_granule` says whether a directory entry is itself a granule (a Zarr
/// store is a directory; a NetCDF granule is a file with one of `extensions`).
pub fn expand(location: &str, extensions: &[&str], dirs_are_granules: bool) -> Result<Vec<String>> {
    let location = location.strip_prefix("file://").unwrap_or(location);
    let is_granule = |p: &Path| {
        if dirs_are_granules {
            p.is_dir() && extensions.iter().any(|e| p.extension().is_some_and(|x| x.eq_ignore_ascii_case(e)))
        } else {
            p.is_file() && extensions.iter().any(|e| p.extension().is_some_and(|x| x.eq_ignore_ascii_case(e)))
        }
    };
    let mut found: Vec<PathBuf> = Vec::new();
    if location.contains(['*', '?', '[']) {
        let paths = glob::glob(location).map_err(|e| plan_datafusion_err!("LOCATION '{location}' is not a valid glob: {e}"))?;
        for p in paths {
            let p = p.map_err(|e| plan_datafusion_err!("LOCATION '{location}': {e}"))?;
            if p.is_file() || (dirs_are_granules && p.is_dir()) {
                found.push(p);
            }
        }
    } else {
        let path = Path::new(location);
        if !path.exists() {
            return Err(plan_datafusion_err!("LOCATION '{location}' does not exist"));
        }
        if path.is_file() || (dirs_are_granules && is_granule(path)) || (dirs_are_granules && looks_like_zarr(path)) {
            found.push(path.to_path_buf());
        } else if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| plan_datafusion_err!("LOCATION '{location}': {e}"))?;
            for entry in entries {
                let p = entry.map_err(|e| plan_datafusion_err!("LOCATION '{location}': {e}"))?.path();
                if is_granule(&p) || (dirs_are_granules && looks_like_zarr(&p)) {
                    found.push(p);
                }
            }
        }
    }
    found.sort();
    if found.is_empty() {
        let what = if dirs_are_granules { "Zarr store" } else { "file" };
        return Err(plan_datafusion_err!(
            "LOCATION '{location}' matches no {what} (looked for {})",
            extensions.iter().map(|e| format!("*.{e}")).collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(found.into_iter().map(|p| p.to_string_lossy().into_owned()).collect())
}

/// Whether a directory is a Zarr store (v2 or v3 metadata at its root).
pub fn looks_like_zarr(path: &Path) -> bool {
    path.is_dir() && ["zarr.json", ".zgroup", ".zarray", ".zmetadata"].iter().any(|m| path.join(m).is_file())
}
