//! Where client DDL may point: the LOCATIONs of CREATE EXTERNAL TABLE and the targets of
//! COPY must lie inside the server's data roots (`--data-root`), symbolic links included.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};

/// The allowed places: local directories (canonical) and object-store URL prefixes.
#[derive(Debug, Clone, Default)]
pub struct DataRoots {
    local: Vec<PathBuf>,
    remote: Vec<String>,
}

impl DataRoots {
    /// Roots from `--data-root` values: existing directories, or URLs such as `s3://bucket/prefix`.
    pub fn new(roots: &[String]) -> Result<Self, String> {
        let mut out = DataRoots::default();
        for root in roots {
            if let Some(path) = root.strip_prefix("file://") {
                out.local.push(local_root(root, path)?);
            } else if scheme(root).is_some() {
                out.remote.push(format!("{}/", root.trim_end_matches('/')));
            } else {
                out.local.push(local_root(root, root)?);
            }
        }
        Ok(out)
    }

    /// Checks every LOCATION and COPY target in `plan`.
    pub fn check_plan(&self, plan: &LogicalPlan) -> Result<(), String> {
        let mut result = Ok(());
        let _ = plan.apply_with_subqueries(|node| {
            result = match node {
                LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd)) => {
                    cmd.locations.iter().try_for_each(|location| self.check_location(location, true))
                }
                LogicalPlan::Copy(copy) => self.check_location(&copy.output_url, false),
                _ => Ok(()),
            };
            Ok(if result.is_ok() { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
        });
        result
    }

    /// Checks one LOCATION; `read` also checks every file and directory it would read.
    pub fn check_location(&self, location: &str, read: bool) -> Result<(), String> {
        if self.local.is_empty() && self.remote.is_empty() {
            return Err(format!(
                "LOCATION '{location}' refused: this server takes no LOCATION from clients \
                 (start it with --data-root DIR to allow some)"
            ));
        }
        if location.split(['/', '\\']).any(|part| part == "..") {
            return Err(format!("LOCATION '{location}' refused: '..' is not allowed"));
        }
        match scheme(location) {
            Some("file") => match location.strip_prefix("file://") {
                Some(path) if !path.contains('%') => self.check_local(location, path, read),
                _ => Err(format!("LOCATION '{location}' refused: give a plain path or file:///absolute/path")),
            },
            Some(_) => self.check_remote(location),
            None => self.check_local(location, location, read),
        }
    }

    fn check_remote(&self, location: &str) -> Result<(), String> {
        let inside =
            self.remote.iter().any(|root| location.starts_with(root.as_str()) || *root == format!("{location}/"));
        if inside { Ok(()) } else { Err(self.outside(location)) }
    }

    fn check_local(&self, location: &str, path: &str, read: bool) -> Result<(), String> {
        let cwd = std::env::current_dir().map_err(|e| format!("LOCATION '{location}': {e}"))?;
        let path = cwd.join(path);
        if !self.inside(&resolve(&literal_prefix(&path))) {
            return Err(self.outside(location));
        }
        if !read {
            return Ok(());
        }
        let mut seen = HashSet::new();
        for entry in expand(&path) {
            self.check_tree(location, &entry, &mut seen)?;
        }
        Ok(())
    }

    /// Checks `path` and, for a directory, everything below it, following links.
    fn check_tree(&self, location: &str, path: &Path, seen: &mut HashSet<PathBuf>) -> Result<(), String> {
        let Ok(real) = path.canonicalize() else {
            return Ok(()); // a dangling link reads nothing
        };
        if !self.inside(&real) {
            return Err(format!(
                "LOCATION '{location}' refused: {} leads outside the server's data roots (to {})",
                path.display(),
                real.display()
            ));
        }
        if !real.is_dir() || !seen.insert(real.clone()) {
            return Ok(());
        }
        let entries =
            std::fs::read_dir(&real).map_err(|e| format!("LOCATION '{location}': {}: {e}", real.display()))?;
        for entry in entries.flatten() {
            self.check_tree(location, &entry.path(), seen)?;
        }
        Ok(())
    }

    fn inside(&self, path: &Path) -> bool {
        self.local.iter().any(|root| path.starts_with(root))
    }

    fn outside(&self, location: &str) -> String {
        let roots: Vec<String> =
            self.local.iter().map(|p| p.display().to_string()).chain(self.remote.iter().cloned()).collect();
        format!("LOCATION '{location}' is outside the server's data roots ({})", roots.join(", "))
    }
}

fn local_root(root: &str, path: &str) -> Result<PathBuf, String> {
    let real = Path::new(path).canonicalize().map_err(|e| format!("--data-root {root}: {e}"))?;
    if real.is_dir() { Ok(real) } else { Err(format!("--data-root {root}: not a directory")) }
}

/// The URL scheme of `location` (`s3`, `file`...), if it has one.
fn scheme(location: &str) -> Option<&str> {
    let (head, _) = location.split_once(':')?;
    let valid = head.len() > 1
        && head.starts_with(|c: char| c.is_ascii_alphabetic())
        && head.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    valid.then_some(head)
}

fn has_glob(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// The leading components of `path` that hold no glob character.
fn literal_prefix(path: &Path) -> PathBuf {
    path.components().take_while(|c| !has_glob(&c.as_os_str().to_string_lossy())).collect()
}

/// `path` with its longest existing ancestor canonicalized (links and all resolved).
fn resolve(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut head = path.to_path_buf();
    loop {
        if let Ok(real) = head.canonicalize() {
            return rest.iter().rev().fold(real, |acc, part| acc.join(part));
        }
        match (head.file_name().map(|n| n.to_os_string()), head.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                head = parent.to_path_buf();
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// The files and directories a LOCATION names: the matches of a glob, or the path itself.
fn expand(path: &Path) -> Vec<PathBuf> {
    let text = path.to_string_lossy();
    if !has_glob(&text) {
        return vec![path.to_path_buf()];
    }
    match glob::glob(&text) {
        Ok(paths) => paths.flatten().collect(),
        Err(_) => vec![literal_prefix(path)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roots(dir: &Path) -> DataRoots {
        DataRoots::new(&[dir.display().to_string(), "s3://bucket/data".into()]).unwrap()
    }

    #[test]
    fn inside_and_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/a.csv"), "x\n1\n").unwrap();
        let r = roots(&root);
        let inside = root.join("sub/a.csv").display().to_string();
        assert_eq!(r.check_location(&inside, true), Ok(()));
        assert_eq!(r.check_location(&format!("file://{inside}"), true), Ok(()));
        assert_eq!(r.check_location(&format!("{}/*.csv", root.join("sub").display()), true), Ok(()));
        assert_eq!(r.check_location(&root.join("new/out.parquet").display().to_string(), false), Ok(()));
        assert_eq!(r.check_location("s3://bucket/data/x.zarr", true), Ok(()));
        let err = r.check_location("/etc/passwd", true).unwrap_err();
        assert!(err.starts_with("LOCATION '/etc/passwd' is outside the server's data roots ("), "{err}");
        assert!(r.check_location("s3://bucket/database/x", true).is_err());
        assert!(r.check_location("s3://other/data/x", true).is_err());
        assert!(r.check_location("file:///etc/passwd", true).is_err());
        assert!(r.check_location("file:/etc/passwd", true).is_err());
        assert!(r.check_location(&format!("file://{}/%2e%2e/x", root.display()), true).is_err());
    }

    #[test]
    fn parent_components_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let r = roots(tmp.path());
        let location = format!("{}/../x.csv", tmp.path().display());
        assert_eq!(
            r.check_location(&location, true).unwrap_err(),
            format!("LOCATION '{location}' refused: '..' is not allowed")
        );
        assert!(r.check_location("s3://bucket/data/../secret", true).is_err());
    }

    #[test]
    fn links_out_of_the_roots_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let (root, outside) = (tmp.path().join("root"), tmp.path().join("outside"));
        std::fs::create_dir_all(root.join("dir")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.csv"), "x\n1\n").unwrap();
        std::os::unix::fs::symlink(outside.join("secret.csv"), root.join("dir/link.csv")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("linkdir")).unwrap();
        let r = roots(&root);
        for location in
            [root.join("dir"), root.join("dir/link.csv"), root.join("linkdir/secret.csv"), root.join("linkdir")]
        {
            let err = r.check_location(&location.display().to_string(), true).unwrap_err();
            assert!(err.contains("outside the server's data roots"), "{err}");
        }
        let err = r.check_location(&format!("{}/*.csv", root.join("dir").display()), true).unwrap_err();
        assert!(err.contains("link.csv leads outside the server's data roots"), "{err}");
    }

    #[test]
    fn no_roots_refuse_everything() {
        let err = DataRoots::default().check_location("data/x.nc", true).unwrap_err();
        assert!(err.contains("takes no LOCATION from clients (start it with --data-root DIR"), "{err}");
        assert!(DataRoots::new(&["/no/such/dir".into()]).unwrap_err().starts_with("--data-root /no/such/dir: "));
    }
}
