//! Cross-checks against xarray: tests/python/expected.py computes, for each fixture product and
//! for the real gridded files, named checks {name, sql, expected, tolerance}; each SQL runs here
//! through `create_context()` and its rows are compared (relative tolerance: 1e-9 for float64
//! values, 1e-6 for float32, exact for counts, integers and timestamps).

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use serde_json::Value;

use crate::common;

/// One cell of a result, as compared.
#[derive(Debug, Clone, PartialEq)]
enum Cell {
    Null,
    Num(f64),
    Text(String),
}

impl std::fmt::Display for Cell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cell::Null => write!(f, "NULL"),
            Cell::Num(x) => write!(f, "{x:?}"),
            Cell::Text(s) => write!(f, "'{s}'"),
        }
    }
}

fn cell(col: &ArrayRef, row: usize) -> Cell {
    if col.is_null(row) {
        return Cell::Null;
    }
    let dt = col.data_type();
    if dt.is_numeric() {
        let as_f64 = cast(&col.slice(row, 1), &DataType::Float64).expect("cast to Float64");
        return Cell::Num(as_f64.as_primitive::<Float64Type>().value(0));
    }
    let s = cast(&col.slice(row, 1), &DataType::Utf8).expect("cast to Utf8");
    Cell::Text(s.as_string::<i32>().value(0).to_string())
}

fn rows_of(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let mut rows = vec![];
    for b in batches {
        for r in 0..b.num_rows() {
            rows.push(b.columns().iter().map(|c| cell(c, r)).collect());
        }
    }
    rows
}

fn expected_cell(v: &Value) -> Cell {
    match v {
        Value::Null => Cell::Null,
        Value::Number(n) => Cell::Num(n.as_f64().expect("number")),
        Value::String(s) => Cell::Text(s.clone()),
        other => Cell::Text(other.to_string()),
    }
}

fn close(actual: &Cell, expected: &Cell, tol: f64) -> bool {
    match (actual, expected) {
        (Cell::Num(a), Cell::Num(e)) => {
            if tol == 0.0 {
                a == e
            } else {
                (a - e).abs() <= tol * e.abs().max(f64::MIN_POSITIVE)
            }
        }
        (a, e) => a == e,
    }
}

fn show(rows: &[Vec<Cell>]) -> String {
    let lines: Vec<String> =
        rows.iter().take(8).map(|r| r.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")).collect();
    let more = if rows.len() > 8 { format!(" ... ({} rows)", rows.len()) } else { String::new() };
    format!("[{}]{more}", lines.join("; "))
}

/// Runs the checks of the products `select` accepts; returns (passed, failure descriptions).
async fn run_checks(select: impl Fn(&str) -> bool) -> (usize, Vec<String>) {
    run_checks_in(common::expected_json(), select).await
}

/// Runs the checks of `json` (the format of expected.py) for the products `select` accepts.
pub async fn run_checks_in(json: &std::path::Path, select: impl Fn(&str) -> bool) -> (usize, Vec<String>) {
    let text = std::fs::read_to_string(json).unwrap_or_else(|e| panic!("read {}: {e}", json.display()));
    let json: Value = serde_json::from_str(&text).expect("parse expected.json");
    let mut passed = 0;
    let mut failures = vec![];
    for product in json["products"].as_array().expect("products") {
        let table = product["table"].as_str().expect("table");
        if !select(table) {
            continue;
        }
        let checks = product["checks"].as_array().expect("checks");
        let ctx = common::context();
        let ddl = product["ddl"].as_str().expect("ddl");
        if let Err(e) = common::run(&ctx, ddl).await {
            failures.push(format!("{table}: {} checks not run: `{ddl}` failed: {e}", checks.len()));
            continue;
        }
        for check in checks {
            let name = check["name"].as_str().expect("name");
            let sql = check["sql"].as_str().expect("sql");
            let tol = check["tolerance"].as_f64().expect("tolerance");
            let expected: Vec<Vec<Cell>> = check["expected"]
                .as_array()
                .expect("expected rows")
                .iter()
                .map(|r| r.as_array().expect("row").iter().map(expected_cell).collect())
                .collect();
            match common::run(&ctx, sql).await {
                Err(e) => failures.push(format!("{name}: error: {e}\n    sql: {sql}")),
                Ok(batches) => {
                    let actual = rows_of(&batches);
                    let ok = actual.len() == expected.len()
                        && actual
                            .iter()
                            .zip(&expected)
                            .all(|(a, e)| a.len() == e.len() && a.iter().zip(e).all(|(a, e)| close(a, e, tol)));
                    if ok {
                        passed += 1;
                    } else {
                        failures.push(format!(
                            "{name}: expected {} got {} (tolerance {tol})\n    sql: {sql}",
                            show(&expected),
                            show(&actual)
                        ));
                    }
                }
            }
        }
    }
    (passed, failures)
}

pub fn report(what: &str, passed: usize, failures: &[String]) {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("crosscheck-{what}.txt"));
    let _ = std::fs::write(&out, failures.join("\n"));
    assert!(
        failures.is_empty(),
        "{what}: {passed} checks passed, {} failed (also in {}):\n{}",
        failures.len(),
        out.display(),
        failures.join("\n")
    );
    assert!(passed > 0, "{what}: no check ran");
    eprintln!("crosscheck {what}: {passed} checks passed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crosscheck_fixtures() {
    let (passed, failures) = run_checks(|t| !t.starts_with("real_")).await;
    report("fixtures", passed, &failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crosscheck_real_data() {
    let (passed, failures) = run_checks(|t| t.starts_with("real_")).await;
    report("real", passed, &failures);
}
