//! Shared by every test module: the Python venv, the generated fixtures, the real data, sessions.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use datafusion::arrow::array::RecordBatch;
use datafusion::error::Result;
use datafusion::prelude::SessionContext;

fn python_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("python")
}

/// The venv's python, created (or reused) by `tests/python/setup_venv.sh`.
pub fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON.get_or_init(|| {
        let out = Command::new("bash")
            .arg(python_dir().join("setup_venv.sh"))
            .output()
            .expect("cannot run bash tests/python/setup_venv.sh");
        assert!(out.status.success(), "tests/python/setup_venv.sh failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let path = stdout.lines().last().unwrap_or("").trim().to_string();
        assert!(Path::new(&path).exists(), "setup_venv.sh printed '{path}', which does not exist");
        PathBuf::from(path)
    })
}

/// A short stable hash of some files' contents (keys the fixture cache).
fn content_hash(files: &[PathBuf]) -> String {
    let mut h = DefaultHasher::new();
    for f in files {
        std::fs::read(f).unwrap_or_else(|e| panic!("cannot read {}: {e}", f.display())).hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

/// Runs `python script args...`, panicking with its stderr on failure.
fn run_python(script: &str, args: &[&Path]) {
    let out = Command::new(python())
        .arg(python_dir().join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
    assert!(
        out.status.success(),
        "tests/python/{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds `dir` with `make` into a temporary sibling, then renames it into place, so that
/// concurrent test processes never see a half-written directory.
fn build_once(dir: &Path, make: impl FnOnce(&Path)) {
    if dir.join(".complete").exists() {
        return;
    }
    let tmp = dir.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("create fixture dir");
    make(&tmp);
    std::fs::write(tmp.join(".complete"), b"").expect("write marker");
    if std::fs::rename(&tmp, dir).is_err() {
        // Another process won the race (or a stale incomplete copy is there).
        if dir.join(".complete").exists() {
            let _ = std::fs::remove_dir_all(&tmp);
        } else {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::rename(&tmp, dir).expect("move fixtures into place");
        }
    }
}

/// The generated fixtures (tests/python/make_fixtures.py), cached under the target directory
/// and keyed by the script and the pinned requirements.
pub fn fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Ok(dir) = std::env::var("OCEANQL_FIXTURES") {
            return PathBuf::from(dir);
        }
        let key = content_hash(&[
            python_dir().join("make_fixtures.py"),
            python_dir().join("make_insitu_fixtures.py"),
            python_dir().join("make_sample_fixtures.py"),
            python_dir().join("make_analytics_fixtures.py"),
            python_dir().join("requirements.txt"),
        ]);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("oceanql-fixtures-{key}"));
        build_once(&dir, |tmp| run_python("make_fixtures.py", &[tmp]));
        dir
    })
}

/// 2000 small swath granules and what some windows over them return
/// (tests/python/make_index_fixtures.py), cached like [`fixtures`].
pub fn index_fixtures() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let key = content_hash(&[python_dir().join("make_index_fixtures.py"), python_dir().join("requirements.txt")]);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("oceanql-index-fixtures-{key}"));
        build_once(&dir, |tmp| run_python("make_index_fixtures.py", &[tmp]));
        dir
    })
}

/// The fixtures directory as a string (what `${FIXTURES}` stands for).
pub fn fixtures_str() -> String {
    fixtures().to_string_lossy().into_owned()
}

/// `shared/data/real` beside the clone; a clear failure if it is missing.
pub fn real_data() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/real");
    assert!(
        dir.join("grid_sst").is_dir() && dir.join("grid_ssh").is_dir(),
        "the real test data is missing: expected {} (shared/data/real beside the clone, \
         with grid_sst/ and grid_ssh/)",
        dir.display()
    );
    dir.canonicalize().expect("canonical path of shared/data/real")
}

/// The xarray-computed checks (tests/python/expected.py), cached beside the fixtures.
pub fn expected_json() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let real = real_data();
        let key = content_hash(&[python_dir().join("expected.py"), real.join("SHA256SUMS")]);
        let dir = fixtures().join(format!("expected-{key}"));
        build_once(&dir, |tmp| run_python("expected.py", &[fixtures(), &real, &tmp.join("expected.json")]));
        dir.join("expected.json")
    })
}

/// The xarray-computed checks of the swath, along-track and DSG products
/// (tests/python/expected_sample.py), cached beside the fixtures.
pub fn expected_sample_json() -> &'static Path {
    static FILE: OnceLock<PathBuf> = OnceLock::new();
    FILE.get_or_init(|| {
        let real = real_data();
        let scripts = ["expected_sample.py", "expected.py"].map(|s| python_dir().join(s));
        let key = content_hash(&[&scripts[..], &[real.join("SHA256SUMS")]].concat());
        let dir = fixtures().join(format!("expected-sample-{key}"));
        build_once(&dir, |tmp| run_python("expected_sample.py", &[fixtures(), &real, &tmp.join("expected.json")]));
        dir.join("expected.json")
    })
}

/// A fresh OceanQL session.
pub fn context() -> SessionContext {
    oceanql_engine::create_context().expect("create_context")
}

/// Runs one SQL statement to completion.
pub async fn run(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    ctx.sql(sql).await?.collect().await
}
