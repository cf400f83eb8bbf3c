//! The st_* functions cross-checked against shapely 2.2 and a numpy haversine:
//! tests/python/st_reference.py prints each case's SQL expression and expected value, this runs
//! `SELECT <sql>` in an OceanQL session and compares: booleans exactly, WKT exactly after
//! normalising spacing and number formatting, numbers to 1e-9 relative, buffer areas to 1 %
//! (the circle segments sit differently), NULL where the reference says null.

use std::process::Command;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use serde_json::Value;

use crate::common;

fn reference() -> Vec<Value> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/st_reference.py");
    let out = Command::new(common::python()).arg(&script).output().expect("run st_reference.py");
    assert!(out.status.success(), "st_reference.py failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("st_reference.py prints JSON");
    doc["cases"].as_array().expect("cases").clone()
}

/// WKT with single spaces only between numbers and after type words, each number rewritten
/// as the shortest text of its f64, single points of a MULTIPOINT without parentheses:
/// `POINT (0.1 1e-7)` and `POINT(0.1 0.0000001)` both become `POINT(0.1 0.0000001)`.
fn normalise_wkt(text: &str) -> String {
    let mut out = String::new();
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        if token.is_empty() {
            return;
        }
        let word = match token.parse::<f64>() {
            Ok(x) if !token.chars().all(char::is_alphabetic) => format!("{x}"),
            _ => token.to_uppercase(),
        };
        if out.ends_with(|c: char| c.is_alphanumeric() || c == '.' || c == '-') {
            out.push(' ');
        }
        out.push_str(&word);
        token.clear();
    };
    for c in text.chars() {
        match c {
            '(' | ')' | ',' => {
                flush(&mut token, &mut out);
                out.push(c);
            }
            c if c.is_whitespace() => flush(&mut token, &mut out),
            c => token.push(c),
        }
    }
    flush(&mut token, &mut out);
    if out.starts_with("MULTIPOINT((") {
        out = format!("MULTIPOINT({}", out["MULTIPOINT(".len()..].replace(['(', ')'], "")) + ")";
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn st_functions_match_shapely() {
    let cases = reference();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let ctx = common::context();
    let mut failures = vec![];
    for case in &cases {
        let (name, sql, kind) = (case["name"].as_str().unwrap(), case["sql"].as_str().unwrap(), case["kind"].as_str().unwrap());
        let expected = &case["expected"];
        let batches = match common::run(&ctx, &format!("SELECT {sql}")).await {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{name}: {sql}: {e}"));
                continue;
            }
        };
        let column = batches[0].column(0);
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 1, "{name}: one row");
        let ok = match (kind, column.is_null(0), column.data_type()) {
            (_, true, _) => expected.is_null(),
            ("bool", false, DataType::Boolean) => expected.as_bool() == Some(column.as_boolean().value(0)),
            ("text", false, DataType::Utf8) => {
                let ours = normalise_wkt(column.as_string::<i32>().value(0));
                expected.as_str().map(normalise_wkt).is_some_and(|theirs| theirs == ours)
            }
            ("number" | "area", false, DataType::Float64) => {
                let (ours, tol) = (column.as_primitive::<Float64Type>().value(0), if kind == "area" { 1e-2 } else { 1e-9 });
                expected.as_f64().is_some_and(|theirs| (ours - theirs).abs() <= tol * theirs.abs().max(1e-300))
            }
            _ => false,
        };
        if !ok {
            let ours = datafusion::arrow::util::pretty::pretty_format_columns("ours", std::slice::from_ref(column)).unwrap();
            failures.push(format!("{name}: {sql}\n  expected {expected}, got\n{ours}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases disagree with shapely:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn wkt_normalisation() {
    assert_eq!(normalise_wkt("POINT (0.1 1e-7)"), normalise_wkt("POINT(0.1 0.0000001)"));
    assert_eq!(normalise_wkt("POLYGON ((0 0, 2 0, 2 2, 0 0))"), "POLYGON((0 0,2 0,2 2,0 0))");
    assert_eq!(normalise_wkt("MULTIPOINT ((1 2), (3 4))"), normalise_wkt("MULTIPOINT(1 2,3 4)"));
    assert_eq!(normalise_wkt("POLYGON EMPTY"), "POLYGON EMPTY");
    assert_ne!(normalise_wkt("POINT(1 2)"), normalise_wkt("POINT(1 2.000001)"));
}
