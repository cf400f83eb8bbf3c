//! Zarr reader cross-checked against xarray: stores written by xarray (Zarr v2
//! consolidated and not, v3 consolidated and not, v3 sharded) must decode to
//! exactly what `xr.open_zarr` gives.
//!
//! The Python venv is created (or reused) by `tests/python/setup_venv.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use datafusion::arrow::array::{Array, Float64Array};
use oceanql_connectors::decode::to_arrow;
use oceanql_connectors::zarr_grid::ZarrGrid;
use oceanql_connectors::{GridReader, Slab};
use serde_json::Value;

const STORES: &[&str] = &["v2c", "v2n", "v3", "v3c", "v3s"];

const WRITER: &str = r#"
import json, os, sys
import numpy as np, xarray as xr
out = sys.argv[1]
lon = np.arange(0.0, 360.0, 22.5)            # 16 values, 0..337.5
lat = np.arange(67.5, -68.0, -15.0)           # 10 values, descending
time = np.array([0, 6, 30], dtype="int64")    # hours since 2000-01-01
rng = np.random.default_rng(42)
sst = rng.uniform(-2.0, 32.0, size=(3, lat.size, lon.size))
sst[0, 0, 0] = np.nan
sst[1, 4, 7] = np.nan
# One whole chunk (time 2, lat 8..9, lon 15) of fill values: zarr does not
# write it in v2 (it equals the array fill_value), so it is a missing chunk.
sst[2, 8:10, 15] = np.nan
ds = xr.Dataset(
    {"sst": (("time", "lat", "lon"), sst, {"units": "degree_Celsius", "long_name": "sea surface temperature"})},
    coords={
        "time": ("time", time, {"units": "hours since 2000-01-01", "standard_name": "time"}),
        "lat": ("lat", lat, {"units": "degrees_north", "standard_name": "latitude"}),
        "lon": ("lon", lon, {"units": "degrees_east", "standard_name": "longitude"}),
    },
)
ds = xr.decode_cf(ds)
def enc(**sst):
    return {
        "sst": {"dtype": "int16", "scale_factor": 0.001, "add_offset": 15.0, "_FillValue": -32768, "chunks": (2, 4, 5), **sst},
        "time": {"units": "hours since 2000-01-01", "dtype": "int64"},
    }
stores = {
    "v2c": (dict(zarr_format=2, consolidated=True), enc()),
    "v2n": (dict(zarr_format=2, consolidated=False), enc()),
    "v3": (dict(zarr_format=3, consolidated=False), enc()),
    "v3c": (dict(zarr_format=3, consolidated=True), enc()),
    "v3s": (dict(zarr_format=3, consolidated=False), enc(chunks=(1, 2, 4), shards=(2, 4, 8))),
}
result = {}
import warnings
warnings.simplefilter("ignore")
for name, (kw, encoding) in stores.items():
    path = os.path.join(out, name + ".zarr")
    ds.to_zarr(path, mode="w", encoding=encoding, **kw)
    back = xr.open_zarr(path, consolidated=kw["consolidated"])
    v = back["sst"].values
    result[name] = {
        "path": path,
        "sst": [None if np.isnan(x) else float(x) for x in v.ravel()],
        "shape": list(v.shape),
        "time_us": [int(t) for t in back["time"].values.astype("datetime64[us]").astype("int64")],
        "lat": [float(x) for x in back["lat"].values],
        "lon": [float(x) for x in back["lon"].values],
    }
with open(os.path.join(out, "expected.json"), "w") as f:
    json.dump(result, f)
"#;

/// Writes the stores once per test run and returns (directory, xarray's answers).
fn fixtures() -> &'static (PathBuf, Value) {
    static FIXTURES: OnceLock<(PathBuf, Value)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let setup = root.join("tests/python/setup_venv.sh");
        let out = Command::new("bash")
            .arg(&setup)
            .output()
            .expect("run tests/python/setup_venv.sh");
        assert!(
            out.status.success(),
            "{} failed (it creates the Python venv of the cross-checks):\n{}",
            setup.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let python = String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_string();
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        // Remove the fixtures of earlier runs whose process is gone.
        for e in std::fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("zarr-fixtures-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
        let dir = tmp.join(format!("zarr-fixtures-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("write_stores.py");
        std::fs::write(&script, WRITER).unwrap();
        let out = Command::new(&python)
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("run the venv python");
        assert!(
            out.status.success(),
            "writing the Zarr stores with xarray failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected: Value =
            serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
        (dir, expected)
    })
}

fn store(name: &str) -> (String, &'static Value) {
    let (dir, expected) = fixtures();
    (
        dir.join(format!("{name}.zarr"))
            .to_string_lossy()
            .into_owned(),
        &expected[name],
    )
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn optional_floats(v: &Value) -> Vec<Option<f64>> {
    v.as_array().unwrap().iter().map(Value::as_f64).collect()
}

/// Reads `sst` over a canonical (time, depth, lat, lon) slab and decodes it.
fn read_sst(z: &ZarrGrid, slab: Slab) -> (Vec<Option<f64>>, u64) {
    let var = z.info().var("sst").expect("sst is a grid variable").clone();
    let (start, count) = slab.for_dims(&var.dims);
    let (raw, bytes) = z.read_raw(&var, &start, &count).unwrap();
    let array = to_arrow(&var, &raw, &slab).unwrap();
    let array = array
        .as_any()
        .downcast_ref::<Float64Array>()
        .expect("packed sst decodes to Float64");
    (
        (0..array.len())
            .map(|i| array.is_valid(i).then(|| array.value(i)))
            .collect(),
        bytes,
    )
}

fn assert_close(got: &[Option<f64>], want: &[Option<f64>], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        match (g, w) {
            (None, None) => {}
            (Some(g), Some(w)) => assert!(
                (g - w).abs() <= 1e-9 * w.abs().max(1e-300),
                "{what}[{i}]: got {g}, xarray {w}"
            ),
            _ => panic!("{what}[{i}]: got {g:?}, xarray {w:?}"),
        }
    }
}

/// Stored size of the `sst` chunk files (what a full read fetches).
fn chunk_bytes(store: &str) -> u64 {
    fn walk(p: &Path, total: &mut u64) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, total);
            } else if !matches!(
                e.file_name().to_str(),
                Some(".zarray" | ".zattrs" | "zarr.json")
            ) {
                *total += e.metadata().unwrap().len();
            }
        }
    }
    let mut total = 0;
    walk(&Path::new(store).join("sst"), &mut total);
    total
}

#[test]
fn zarr_stores_decode_like_xarray() {
    for name in STORES {
        let (path, want) = store(name);
        let z = ZarrGrid::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let info = z.info();
        assert_eq!(info.granule, path);
        assert!(info.has_time);
        let want_time: Vec<i64> = want["time_us"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_i64().unwrap())
            .collect();
        assert_eq!(info.time, want_time, "{name}: time");
        assert_eq!(info.lat, floats(&want["lat"]), "{name}: lat");
        let want_lon: Vec<f64> = floats(&want["lon"])
            .into_iter()
            .map(|x| if x >= 180.0 { x - 360.0 } else { x })
            .collect();
        assert_eq!(info.lon, want_lon, "{name}: lon normalised to [-180, 180)");
        assert!(info.depth.is_none());
        assert_eq!(info.vars.len(), 1, "{name}: only sst is a data variable");
        let var = info.var("sst").unwrap();
        assert_eq!(var.packing.fill_value, Some(-32768.0), "{name}: _FillValue");
        assert_eq!(var.packing.scale_factor, Some(0.001));
        assert_eq!(var.packing.add_offset, Some(15.0));
        assert_eq!(
            var.attrs.get("units").map(String::as_str),
            Some("degree_Celsius")
        );
        let want_chunks = if *name == "v3s" {
            vec![1, 2, 4]
        } else {
            vec![2, 4, 5]
        };
        assert_eq!(var.chunks, want_chunks, "{name}: chunks");

        // The whole variable.
        let [nt, ny, nx] = [3, 10, 16];
        let full = Slab {
            start: [0; 4],
            count: [nt, 1, ny, nx],
        };
        let (got, bytes) = read_sst(&z, full);
        let want_sst = optional_floats(&want["sst"]);
        assert_close(&got, &want_sst, &format!("{name}: sst"));
        assert!(
            got.iter().filter(|v| v.is_none()).count() >= 4,
            "{name}: fill values are NULL"
        );
        if *name == "v3s" {
            assert!(
                bytes > 0 && bytes <= chunk_bytes(&path),
                "{name}: {bytes} bytes read"
            );
        } else {
            assert_eq!(
                bytes,
                chunk_bytes(&path),
                "{name}: bytes read = stored chunk sizes"
            );
        }

        // A sub-slab across chunk boundaries.
        let sub = Slab {
            start: [1, 0, 3, 6],
            count: [2, 1, 5, 7],
        };
        let (got, bytes) = read_sst(&z, sub);
        let mut expect = Vec::new();
        for t in 1..3 {
            for y in 3..8 {
                for x in 6..13 {
                    expect.push(want_sst[(t * ny + y) * nx + x]);
                }
            }
        }
        assert_close(&got, &expect, &format!("{name}: sst sub-slab"));
        assert!(
            bytes > 0 && bytes < chunk_bytes(&path),
            "{name}: a sub-slab reads fewer bytes ({bytes})"
        );
    }
}

#[test]
fn zarr_missing_chunk_reads_as_fill() {
    let (path, _) = store("v2n");
    // The all-fill chunk (time 2, lat 8..9, lon 15) was not written.
    assert!(!Path::new(&path).join("sst/1.2.3").exists());
    let z = ZarrGrid::open(&path).unwrap();
    let (got, bytes) = read_sst(
        &z,
        Slab {
            start: [2, 0, 8, 15],
            count: [1, 1, 2, 1],
        },
    );
    assert_eq!(got, vec![None, None]);
    assert_eq!(bytes, 0, "a missing chunk fetches nothing");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let (dir, _) = fixtures();
    let p = dir.join("broken").join(name);
    let _ = std::fs::remove_dir_all(&p);
    p
}

#[test]
fn zarr_corrupt_metadata_is_a_clear_error() {
    // Garbage root zarr.json.
    let p = scratch("garbage.zarr");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join("zarr.json"), b"{ this is not json").unwrap();
    let path = p.to_string_lossy().into_owned();
    let e = ZarrGrid::open(&path).unwrap_err().to_string();
    assert!(e.contains(&path) && e.contains("zarr.json"), "{e}");

    // Garbage array metadata names the store and the array.
    let (v3, _) = store("v3");
    let p = scratch("bad-array.zarr");
    copy_dir(Path::new(&v3), &p);
    std::fs::write(p.join("sst/zarr.json"), b"[1, 2").unwrap();
    let path = p.to_string_lossy().into_owned();
    let e = ZarrGrid::open(&path).unwrap_err().to_string();
    assert!(
        e.contains(&path) && e.contains("'sst'") && e.contains("sst/zarr.json"),
        "{e}"
    );

    // Not a store at all; a file; a missing path.
    let p = scratch("empty-dir");
    std::fs::create_dir_all(&p).unwrap();
    let path = p.to_string_lossy().into_owned();
    let e = ZarrGrid::open(&path).unwrap_err().to_string();
    assert!(e.contains(&path) && e.contains("not a Zarr store"), "{e}");
    let file = p.join("file.zarr");
    std::fs::write(&file, b"x").unwrap();
    let e = ZarrGrid::open(file.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a Zarr store"), "{e}");
    let e = ZarrGrid::open(p.join("nope.zarr").to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("nope.zarr") && e.contains("does not exist"),
        "{e}"
    );
}

#[test]
fn zarr_truncated_chunk_names_the_chunk() {
    for (name, key) in [
        ("v2n", "sst/0.1.2"),
        ("v3", "sst/c/0/1/2"),
        ("v3s", "sst/c/0/1/1"),
    ] {
        let (src, _) = store(name);
        let p = scratch(&format!("truncated-{name}.zarr"));
        copy_dir(Path::new(&src), &p);
        let chunk = p.join(key);
        let len = std::fs::metadata(&chunk).unwrap().len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&chunk)
            .unwrap();
        f.set_len(len / 2).unwrap();
        let path = p.to_string_lossy().into_owned();
        let z = ZarrGrid::open(&path).unwrap();
        let var = z.info().var("sst").unwrap().clone();
        let e = z
            .read_raw(&var, &[0, 0, 0], &[3, 10, 16])
            .unwrap_err()
            .to_string();
        let chunk_key = key.trim_start_matches("sst/");
        assert!(
            e.contains(&path) && e.contains("'sst'") && e.contains(chunk_key),
            "{name}: {e}"
        );
        // Reads that do not touch the damaged chunk still work.
        assert!(z.read_raw(&var, &[0, 0, 0], &[1, 1, 1]).is_ok());
    }
}
