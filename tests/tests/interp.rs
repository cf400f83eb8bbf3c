//! interp() cross-checked against xarray's `DataArray.interp` (scipy interpn):
//! tests/python/interp_reference.py writes gridded products (a global 2.5° NetCDF product in two
//! files, a regional Zarr grid across the antimeridian; plus the daily fixture), a few thousand
//! random points per product (over and around the grid, near the seam, near missing cells,
//! exactly on grid values) and xarray's linear and nearest values there. This runs interp() on
//! the same files and points: values agree to 1e-6 relative and NULLs fall exactly where
//! xarray gives NaN.

use std::path::Path;
use std::process::Command;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Float64Type, Int64Type};
use serde_json::Value;

use crate::common;

/// Runs the reference script into a fresh directory; returns it and the cases it wrote.
fn reference(dir: &Path) -> Vec<Value> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/interp_reference.py");
    let out = Command::new(common::python()).arg(&script).arg(common::fixtures()).arg(dir).output().expect("run interp_reference.py");
    assert!(out.status.success(), "interp_reference.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(dir.join("cases.json")).expect("cases.json");
    serde_json::from_str::<Value>(&text).expect("cases.json is JSON").as_array().expect("a list of cases").clone()
}

/// Mismatches between interp() and the reference column `method` of one case, and the count of
/// non-NULL and NULL values compared.
async fn check(ctx: &datafusion::prelude::SessionContext, case: &Value, method: &str) -> (Vec<String>, usize, usize) {
    let name = case["name"].as_str().unwrap();
    let sql = format!(
        "SELECT id, interp('{name}', '{}', time, lat, lon, '{}'), {method} FROM {name}_points ORDER BY id",
        case["variable"].as_str().unwrap(),
        if method == "linear" { "bilinear" } else { "nearest" }
    );
    let batches = common::run(ctx, &sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let (mut failures, mut values, mut nulls) = (vec![], 0, 0);
    for b in &batches {
        let (id, ours, theirs) = (b.column(0).as_primitive::<Int64Type>(), b.column(1).as_primitive::<Float64Type>(), b.column(2).as_primitive::<Float64Type>());
        for r in 0..b.num_rows() {
            let (a, e) = (ours.is_valid(r).then(|| ours.value(r)), theirs.is_valid(r).then(|| theirs.value(r)));
            match (a, e) {
                (None, None) => nulls += 1,
                (Some(a), Some(e)) if (a - e).abs() <= 1e-6 * e.abs().max(1e-9) => values += 1,
                _ => failures.push(format!("{name} {method} point {}: interp() {a:?}, xarray {e:?}", id.value(r))),
            }
        }
    }
    (failures, values, nulls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interp_matches_xarray() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cases = reference(dir.path());
    let ctx = common::context();
    let mut failures = vec![];
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let (format, location, points) = (case["format"].as_str().unwrap(), case["location"].as_str().unwrap(), case["points"].as_str().unwrap());
        common::run(&ctx, &format!("CREATE EXTERNAL TABLE {name} STORED AS {format} LOCATION '{location}' OPTIONS ('index' 'none')")).await.unwrap();
        common::run(&ctx, &format!("CREATE EXTERNAL TABLE {name}_points STORED AS PARQUET LOCATION '{points}'")).await.unwrap();
        for method in ["linear", "nearest"] {
            let (bad, values, nulls) = check(&ctx, case, method).await;
            eprintln!("{name} {method}: {values} values and {nulls} NULLs agree, {} differ", bad.len());
            assert!(values >= 300 && nulls >= 50, "{name} {method}: too few values ({values}) or NULLs ({nulls}) to tell");
            failures.extend(bad);
        }
    }
    assert_eq!(cases.len(), 4, "the reference wrote {} cases", cases.len());
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.iter().take(30).cloned().collect::<Vec<_>>().join("\n"));
}
