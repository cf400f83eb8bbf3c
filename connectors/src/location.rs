//! Expands a table LOCATION (a file, a directory or a glob; local or `s3://`) into granules.

use std::path::{Path, PathBuf};

use datafusion::common::plan_datafusion_err;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

use crate::Result;
use crate::store;

/// Lists the granules a LOCATION names, sorted by path.
///
/// `is_granule` says whether a directory entry is itself a granule (a Zarr
/// store is a directory; a NetCDF granule is a file with one of `extensions`).
pub fn expand(location: &str, extensions: &[&str], dirs_are_granules: bool) -> Result<Vec<String>> {
    if crate::store::is_remote(location) {
        return expand_remote(location, extensions, dirs_are_granules);
    }
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
        return Err(matches_nothing(location, extensions, dirs_are_granules));
    }
    Ok(found.into_iter().map(|p| p.to_string_lossy().into_owned()).collect())
}

/// Size in bytes and modification time (microseconds since the epoch) of a
/// granule: a file's, or for a directory (a Zarr store) the sum of its files'
/// sizes and the latest of their times. What the index compares to know
/// whether a granule changed.
pub fn version(path: &str) -> Result<(u64, i64)> {
    if store::is_remote(path) {
        return store::remote_version(path);
    }
    let local = path.strip_prefix("file://").unwrap_or(path);
    let mut total = (0u64, 0i64);
    add_version(Path::new(local), &mut total).map_err(|e| plan_datafusion_err!("{path}: {e}"))?;
    Ok(total)
}

fn add_version(path: &Path, total: &mut (u64, i64)) -> std::io::Result<()> {
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        let dir = dir_version(path, threads)?;
        *total = (total.0 + dir.0, total.1.max(dir.1));
        return Ok(());
    }
    add_file_version(&meta, total)
}

/// The files under a directory: entry types from the listing and `stat` relative to the
/// directory, so a Zarr store of thousands of chunks costs one cheap call per chunk. The tree
/// is listed level by level until a level has enough directories to share between `threads`
/// threads, which walk them.
fn dir_version(dir: &Path, threads: usize) -> std::io::Result<(u64, i64)> {
    let mut total = (0u64, 0i64);
    let mut level = vec![dir.to_path_buf()];
    while !level.is_empty() && (threads < 2 || level.len() < 4 * threads) {
        let mut next = Vec::new();
        for d in &level {
            next.extend(list_dir(d, &mut total)?);
        }
        level = next;
    }
    let walk = |dirs: &[std::path::PathBuf]| -> std::io::Result<(u64, i64)> {
        let mut total = (0u64, 0i64);
        let mut stack = dirs.to_vec();
        while let Some(d) = stack.pop() {
            stack.extend(list_dir(&d, &mut total)?);
        }
        Ok(total)
    };
    let parts: Vec<std::io::Result<(u64, i64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = level.chunks(level.len().div_ceil(threads).max(1)).map(|part| s.spawn(move || walk(part))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(std::io::Error::other("a directory walk panicked")))).collect()
    });
    for part in parts {
        let (size, modified) = part?;
        total = (total.0 + size, total.1.max(modified));
    }
    Ok(total)
}

/// Adds the files of one directory to `total`; returns its subdirectories.
fn list_dir(dir: &Path, total: &mut (u64, i64)) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            subdirs.push(entry.path());
        } else {
            add_file_version(&entry.metadata()?, total)?;
        }
    }
    Ok(subdirs)
}

fn add_file_version(meta: &std::fs::Metadata, total: &mut (u64, i64)) -> std::io::Result<()> {
    let modified = meta.modified()?.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
    *total = (total.0 + meta.len(), total.1.max(modified));
    Ok(())
}

fn matches_nothing(location: &str, extensions: &[&str], dirs_are_granules: bool) -> datafusion::error::DataFusionError {
    let what = if dirs_are_granules { "Zarr store" } else { "file" };
    plan_datafusion_err!(
        "LOCATION '{location}' matches no {what} (looked for {})",
        extensions.iter().map(|e| format!("*.{e}")).collect::<Vec<_>>().join(", ")
    )
}

/// Metadata files at the root of a Zarr store (v3, v2 group, v2 array, v2 consolidated).
const ZARR_MARKERS: &[&str] = &["zarr.json", ".zgroup", ".zarray", ".zmetadata"];

/// What a remote listing found: granule keys (with the object's metadata for files).
enum Remote {
    Found(Vec<(String, Option<ObjectMeta>)>),
    /// Nothing at all under this key (no object, no prefix).
    Missing,
    Invalid(String),
}

/// [`expand`] for `s3://bucket/key`: one object, a prefix ("directory"), or a
/// glob over keys; for Zarr, a prefix holding Zarr metadata is a store.
fn expand_remote(location: &str, extensions: &[&str], dirs_are_granules: bool) -> Result<Vec<String>> {
    let (bucket, key) = store::split_url(location)?;
    let (object_store, _) = store::resolve(location)?;
    let key = key.to_string();
    let exts: Vec<String> = extensions.iter().map(|e| e.to_string()).collect();
    let listed = store::block_on(async move { list_remote(object_store.as_ref(), &key, &exts, dirs_are_granules).await })
        .map_err(|e| plan_datafusion_err!("LOCATION '{location}': {e}"))?
        .map_err(|e| plan_datafusion_err!("LOCATION '{location}': {}", store::describe_error(location, &e)))?;
    let mut found = match listed {
        Remote::Found(found) => found,
        Remote::Missing => return Err(plan_datafusion_err!("LOCATION '{location}' does not exist (no object and no object under this prefix)")),
        Remote::Invalid(why) => return Err(plan_datafusion_err!("LOCATION '{location}': {why}")),
    };
    if found.is_empty() {
        return Err(matches_nothing(location, extensions, dirs_are_granules));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found
        .into_iter()
        .map(|(key, meta)| {
            let url = format!("s3://{bucket}/{key}");
            store::listed(&url);
            if let Some(meta) = meta {
                store::remember(&url, meta);
            }
            url
        })
        .collect())
}

/// The last segment of an object path.
fn last_segment(path: &str) -> &str {
    path.trim_end_matches('/').rsplit('/').next().unwrap_or(path)
}

fn prefix_path(prefix: &str) -> Option<ObjectPath> {
    let p = prefix.trim_matches('/');
    (!p.is_empty()).then(|| store::object_path(p))
}

async fn list_remote(
    os: &dyn ObjectStore,
    key: &str,
    exts: &[String],
    dirs: bool,
) -> std::result::Result<Remote, object_store::Error> {
    let has_ext = |name: &str| exts.iter().any(|e| name.rsplit_once('.').is_some_and(|(_, x)| x.eq_ignore_ascii_case(e)));
    let key_trim = key.trim_matches('/');
    if !key.contains(['*', '?', '[']) {
        if !dirs && !key_trim.is_empty() && !key.ends_with('/') {
            match os.head(&store::object_path(key_trim)).await {
                Ok(meta) => return Ok(Remote::Found(vec![(key_trim.to_string(), Some(meta))])),
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let listing = os.list_with_delimiter(prefix_path(key_trim).as_ref()).await?;
        if dirs && listing.objects.iter().any(|o| ZARR_MARKERS.contains(&last_segment(o.location.as_ref()))) {
            return Ok(Remote::Found(vec![(key_trim.to_string(), None)]));
        }
        if listing.objects.is_empty() && listing.common_prefixes.is_empty() {
            return Ok(Remote::Missing);
        }
        let mut found = Vec::new();
        if dirs {
            for p in listing.common_prefixes {
                if has_ext(last_segment(p.as_ref())) || is_zarr_prefix(os, &p).await? {
                    found.push((p.to_string(), None));
                }
            }
        } else {
            for o in listing.objects {
                if has_ext(last_segment(o.location.as_ref())) {
                    found.push((o.location.to_string(), Some(o)));
                }
            }
        }
        return Ok(Remote::Found(found));
    }
    // A glob: walk the key one segment at a time, listing with a delimiter, so
    // that a glob over Zarr stores never lists their chunks.
    let segments: Vec<&str> = key_trim.split('/').collect();
    let first = segments.iter().position(|s| s.contains(['*', '?', '['])).unwrap_or(0);
    let mut current: Vec<String> = vec![segments[..first].join("/")];
    let mut found = Vec::new();
    for (i, segment) in segments.iter().enumerate().skip(first) {
        if segment.contains("**") {
            return Ok(Remote::Invalid("'**' is not supported in object storage globs; use one '*' per level".into()));
        }
        let pattern = match glob::Pattern::new(segment) {
            Ok(p) => p,
            Err(e) => return Ok(Remote::Invalid(format!("not a valid glob: {e}"))),
        };
        let last = i + 1 == segments.len();
        let mut next = Vec::new();
        for prefix in &current {
            let listing = os.list_with_delimiter(prefix_path(prefix).as_ref()).await?;
            for p in listing.common_prefixes {
                if pattern.matches(last_segment(p.as_ref())) {
                    next.push(p.to_string());
                }
            }
            if last && !dirs {
                for o in listing.objects {
                    if pattern.matches(last_segment(o.location.as_ref())) {
                        found.push((o.location.to_string(), Some(o)));
                    }
                }
            }
        }
        if last && dirs {
            found.extend(next.into_iter().map(|p| (p, None)));
            break;
        }
        current = next;
    }
    Ok(Remote::Found(found))
}

/// Whether a prefix holds Zarr metadata at its root.
async fn is_zarr_prefix(os: &dyn ObjectStore, prefix: &ObjectPath) -> std::result::Result<bool, object_store::Error> {
    let listing = os.list_with_delimiter(Some(prefix)).await?;
    Ok(listing.objects.iter().any(|o| ZARR_MARKERS.contains(&last_segment(o.location.as_ref()))))
}

/// Whether a directory is a Zarr store (v2 or v3 metadata at its root).
pub fn looks_like_zarr(path: &Path) -> bool {
    path.is_dir() && ["zarr.json", ".zgroup", ".zarray", ".zmetadata"].iter().any(|m| path.join(m).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_of_a_directory_sums_every_file_under_it() {
        let root = std::env::temp_dir().join(format!("oceanql-version-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        // A store-like tree: 3 levels of directories, 40 x 3 leaves with files of k bytes.
        let mut want = (0u64, 0i64);
        for t in 0..40 {
            for y in 0..3 {
                let d = root.join("c").join(t.to_string()).join(y.to_string());
                std::fs::create_dir_all(&d).unwrap();
                let k = t * 3 + y + 1;
                std::fs::write(d.join("0"), vec![0u8; k]).unwrap();
                let meta = std::fs::metadata(d.join("0")).unwrap();
                let modified = meta.modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
                want = (want.0 + k as u64, want.1.max(modified));
            }
        }
        std::fs::write(root.join("zarr.json"), b"{}").unwrap();
        want.0 += 2;
        let modified = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
        want.1 = want.1.max(modified(&root.join("zarr.json")));
        for threads in [1, 2, 3] {
            assert_eq!(dir_version(&root, threads).unwrap(), want, "{threads} threads");
        }
        assert_eq!(version(root.to_str().unwrap()).unwrap(), want);
        let missing = root.join("nowhere");
        assert!(version(missing.to_str().unwrap()).unwrap_err().to_string().contains("nowhere"));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
