//! Granule and chunk pruning, read from EXPLAIN ANALYZE's GridScanExec metrics.
//!
//! The `daily` fixture: 30 files (2020-01-01 .. 2020-01-30, one time step each), lat -9.5 + i
//! (i = 0..19), lon -19.5 + j (j = 0..39), sst = 10 + day + 0.25 i + 0.5 j (float32, _FillValue
//! at i = j = 0), chunked (1, 5, 10): 4 x 4 = 16 chunks per file.
//!
//! The box lat BETWEEN 3 AND 6, lon BETWEEN 8 AND 12 holds lat 3.5, 4.5, 5.5 (i = 13, 14, 15:
//! chunk rows 2 and 3) and lon 8.5 .. 11.5 (j = 28 .. 31: chunk columns 2 and 3), so 2 x 2 = 4
//! chunks of the 16 intersect it; 12 cells. On 2020-01-15 (day 14) their sst sum is
//! 12 * 24 + 0.25 * 4 * (13 + 14 + 15) + 0.5 * 3 * (28 + 29 + 30 + 31) = 288 + 42 + 177 = 507,
//! min 24 + 3.25 + 14 = 41.25, max 24 + 3.75 + 15.5 = 43.25.

use std::collections::BTreeMap;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;

use crate::common;

const BOX: &str = "lat BETWEEN 3 AND 6 AND lon BETWEEN 8 AND 12";
const ONE_DAY: &str = "time = TIMESTAMP '2020-01-15T00:00:00Z'";
const CHUNKS_PER_FILE: f64 = 16.0;
/// chunks_pruned counts every chunk of the product not read, in pruned granules too:
/// chunks_read + chunks_pruned = 30 files x 16 chunks.
const CHUNKS_TOTAL: f64 = 30.0 * CHUNKS_PER_FILE;

/// Parses "1", "1.50 K", "2.3 MB", "512 B" into a number.
fn parse_value(text: &str) -> Option<f64> {
    let text = text.trim();
    let (num, unit) = match text.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-')) {
        Some(pos) => (&text[..pos], text[pos..].trim()),
        None => (text, ""),
    };
    let x: f64 = num.parse().ok()?;
    let scale = match unit {
        "" | "B" => 1.0,
        "K" | "KB" => 1e3,
        "M" | "MB" => 1e6,
        "G" | "GB" => 1e9,
        _ => return None,
    };
    Some(x * scale)
}

/// The metrics of the (first) GridScanExec line of an EXPLAIN ANALYZE plan: name -> text value.
fn scan_metrics(plan: &str) -> BTreeMap<String, String> {
    let line = plan
        .lines()
        .find(|l| l.contains("GridScanExec"))
        .unwrap_or_else(|| panic!("no GridScanExec in the plan:\n{plan}"));
    let start = line.find("metrics=[").unwrap_or_else(|| panic!("no metrics on the GridScanExec line: {line}")) + 9;
    let body = &line[start..line.rfind(']').unwrap_or(line.len())];
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for part in body.split(", ") {
        match part.split_once('=') {
            Some((k, v)) if k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') => {
                out.insert(k.to_string(), v.to_string());
                last = Some(k.to_string());
            }
            _ => {
                if let Some(k) = &last {
                    let v = out.get_mut(k).expect("last metric");
                    v.push_str(", ");
                    v.push_str(part);
                }
            }
        }
    }
    out
}

async fn explain_analyze(ctx: &SessionContext, sql: &str) -> String {
    let batches = common::run(ctx, &format!("EXPLAIN ANALYZE {sql}")).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut text = String::new();
    for b in &batches {
        let plans = b.column(1).as_string::<i32>();
        for i in 0..b.num_rows() {
            text.push_str(plans.value(i));
            text.push('\n');
        }
    }
    text
}

fn metric(metrics: &BTreeMap<String, String>, name: &str, plan: &str) -> f64 {
    let text = metrics.get(name).unwrap_or_else(|| panic!("GridScanExec has no metric {name}:\n{plan}"));
    parse_value(text).unwrap_or_else(|| panic!("metric {name}={text} is not a number"))
}

/// Runs `sql` with EXPLAIN ANALYZE and returns the scan metrics.
async fn metrics_of(ctx: &SessionContext, sql: &str) -> (BTreeMap<&'static str, f64>, String) {
    let plan = explain_analyze(ctx, sql).await;
    let m = scan_metrics(&plan);
    let mut out = BTreeMap::new();
    for name in ["granules_total", "granules_read", "chunks_read", "chunks_pruned", "bytes_read"] {
        out.insert(name, metric(&m, name, &plan));
    }
    (out, plan)
}

/// The result rows as text, without the header (which names the table).
async fn rows(ctx: &SessionContext, sql: &str) -> Vec<String> {
    let batches = common::run(ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = vec![];
    for b in &batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).expect("formatter"))
            .collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect::<Vec<_>>().join(" "));
        }
    }
    out
}

async fn daily(format: &str, location: &str) -> SessionContext {
    let ctx = common::context();
    let ddl =
        format!("CREATE EXTERNAL TABLE daily STORED AS {format} LOCATION '{}/{location}'", common::fixtures_str());
    common::run(&ctx, &ddl).await.unwrap_or_else(|e| panic!("{ddl}: {e}"));
    // The same rows, materialised: a table without any pruning, for the unpruned answer.
    common::run(&ctx, "CREATE TABLE daily_mem AS SELECT * FROM daily").await.expect("materialise daily");
    ctx
}

async fn one_day_small_box(format: &str, location: &str) {
    let ctx = daily(format, location).await;
    let query = |t: &str| format!("SELECT count(sst), sum(sst), min(sst), max(sst) FROM {t} WHERE {ONE_DAY} AND {BOX}");
    let (m, plan) = metrics_of(&ctx, &query("daily")).await;
    let ctx_msg = format!("{format} one day, small box; plan:\n{plan}");
    assert_eq!(m["granules_total"], 30.0, "{ctx_msg}");
    assert_eq!(m["granules_read"], 1.0, "{ctx_msg}");
    assert_eq!(m["chunks_read"], 4.0, "{ctx_msg}");
    assert_eq!(m["chunks_pruned"], CHUNKS_TOTAL - 4.0, "{ctx_msg}");
    assert!(m["bytes_read"] > 0.0, "{ctx_msg}");

    let pruned = rows(&ctx, &query("daily")).await;
    let unpruned = rows(&ctx, &query("daily_mem")).await;
    assert_eq!(pruned, unpruned, "{format}: pruned and unpruned answers differ");
    assert_eq!(pruned, vec!["12 507.0 41.25 43.25".to_string()], "{format}: the answer worked out by hand");
}

async fn three_days_no_box(format: &str, location: &str) {
    let ctx = daily(format, location).await;
    let q = |t: &str| {
        format!(
            "SELECT count(sst), count(*) FROM {t} WHERE time BETWEEN TIMESTAMP '2020-01-10T00:00:00Z' AND TIMESTAMP '2020-01-12T00:00:00Z'"
        )
    };
    let (m, plan) = metrics_of(&ctx, &q("daily")).await;
    assert_eq!(m["granules_total"], 30.0, "{format}:\n{plan}");
    assert_eq!(m["granules_read"], 3.0, "{format}:\n{plan}");
    assert_eq!(m["chunks_read"], 3.0 * CHUNKS_PER_FILE, "{format}:\n{plan}");
    assert_eq!(m["chunks_pruned"], CHUNKS_TOTAL - 3.0 * CHUNKS_PER_FILE, "{format}:\n{plan}");
    assert_eq!(rows(&ctx, &q("daily")).await, rows(&ctx, &q("daily_mem")).await, "{format}");
    // 3 files x 800 cells, one fill value each.
    assert_eq!(rows(&ctx, &q("daily")).await, vec!["2397 2400".to_string()], "{format}");
}

async fn box_every_day(format: &str, location: &str) {
    let ctx = daily(format, location).await;
    let q = |t: &str| format!("SELECT count(sst), sum(sst) FROM {t} WHERE {BOX}");
    let (m, plan) = metrics_of(&ctx, &q("daily")).await;
    assert_eq!(m["granules_read"], 30.0, "{format}:\n{plan}");
    assert_eq!(m["chunks_read"], 30.0 * 4.0, "{format}:\n{plan}");
    assert_eq!(m["chunks_pruned"], CHUNKS_TOTAL - 30.0 * 4.0, "{format}:\n{plan}");
    assert_eq!(rows(&ctx, &q("daily")).await, rows(&ctx, &q("daily_mem")).await, "{format}");
}

async fn full_scan_reads_more_bytes(format: &str, location: &str) {
    let ctx = daily(format, location).await;
    let (small, _) = metrics_of(&ctx, &format!("SELECT sum(sst) FROM daily WHERE {ONE_DAY} AND {BOX}")).await;
    let (full, plan) = metrics_of(&ctx, "SELECT sum(sst) FROM daily").await;
    assert_eq!(full["granules_read"], 30.0, "{format}:\n{plan}");
    assert_eq!(full["chunks_read"], 30.0 * CHUNKS_PER_FILE, "{format}:\n{plan}");
    assert_eq!(full["chunks_pruned"], 0.0, "{format}:\n{plan}");
    assert!(full["bytes_read"] > 10.0 * small["bytes_read"], "{format}: bytes_read {small:?} vs {full:?}");
}

/// A join on time, lat and lon reads only the chunks of the keyed cells: day 14 at i 10, j 19
/// (chunk row 2, column 1) and day 29 at i 19, j 39 (chunk row 3, column 3), one chunk each;
/// the other 28 files are not opened.
async fn join_reads_keyed_cells(format: &str, location: &str) {
    let ctx = daily(format, location).await;
    let pts = "CREATE TABLE pts AS SELECT column1 AS id, arrow_cast(column2, 'Timestamp(Microsecond, Some(\"UTC\"))') AS t, \
               column3 AS lat, column4 AS lon FROM (VALUES (1, TIMESTAMP '2020-01-15T00:00:00Z', 0.5, -0.5), \
               (2, TIMESTAMP '2020-01-30T00:00:00Z', 9.5, 19.5))";
    common::run(&ctx, pts).await.expect("pts");
    let q = |t: &str| format!("SELECT p.id, g.sst FROM pts p JOIN {t} g ON g.time = p.t AND g.lat = p.lat AND g.lon = p.lon ORDER BY p.id");
    let plan = explain_analyze(&ctx, &q("daily")).await;
    let m = scan_metrics(&plan);
    for (name, want) in [("granules_read", 2.0), ("chunks_read", 2.0), ("slabs_pruned_by_join", 28.0), ("rows_decoded", 2.0)] {
        assert_eq!(metric(&m, name, &plan), want, "{format} {name}:\n{plan}");
    }
    assert_eq!(rows(&ctx, &q("daily")).await, rows(&ctx, &q("daily_mem")).await, "{format}");
    // 10 + 14 + 0.25 * 10 + 0.5 * 19 and 10 + 29 + 0.25 * 19 + 0.5 * 39
    assert_eq!(rows(&ctx, &q("daily")).await, vec!["1 36.0", "2 63.25"], "{format}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_join_reads_only_keyed_cells() {
    join_reads_keyed_cells("NETCDF", "daily/*.nc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zarr_join_reads_only_keyed_cells() {
    join_reads_keyed_cells("ZARR", "daily_zarr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_one_day_small_box() {
    one_day_small_box("NETCDF", "daily/*.nc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zarr_one_day_small_box() {
    one_day_small_box("ZARR", "daily_zarr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_three_days_reads_three_granules() {
    three_days_no_box("NETCDF", "daily/*.nc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zarr_three_days_reads_three_granules() {
    three_days_no_box("ZARR", "daily_zarr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_box_prunes_chunks_in_every_granule() {
    box_every_day("NETCDF", "daily/*.nc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zarr_box_prunes_chunks_in_every_granule() {
    box_every_day("ZARR", "daily_zarr").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn netcdf_full_scan_reads_every_chunk() {
    full_scan_reads_more_bytes("NETCDF", "daily/*.nc").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zarr_full_scan_reads_every_chunk() {
    full_scan_reads_more_bytes("ZARR", "daily_zarr").await;
}

#[test]
fn parses_metric_values() {
    assert_eq!(parse_value("30"), Some(30.0));
    assert_eq!(parse_value("1.50 K"), Some(1500.0));
    assert_eq!(parse_value("2.0 MB"), Some(2e6));
    let m = scan_metrics(
        "GridScanExec: granules=30, metrics=[output_rows=12, granules_total=30, granules_read=1, chunks_read=4, elapsed_compute=1ms]",
    );
    assert_eq!(m["granules_read"], "1");
    assert_eq!(m["chunks_read"], "4");
}

/// A granule whose units are dealt to several partitions is still counted once in granules_read.
#[tokio::test]
async fn granule_shared_by_partitions_counts_once() {
    let ctx = common::context();
    let ddl = format!("CREATE EXTERNAL TABLE g STORED AS NETCDF LOCATION '{}/basic/basic_nc4.nc'", common::fixtures_str());
    common::run(&ctx, &ddl).await.unwrap_or_else(|e| panic!("{ddl}: {e}"));
    let (m, plan) = metrics_of(&ctx, "SELECT sum(val) FROM g").await;
    // basic_nc4.nc has 12 chunks in 3 time steps: its units go to both of the default partitions.
    assert_eq!(m["granules_total"], 1.0, "{plan}");
    assert_eq!(m["granules_read"], 1.0, "{plan}");
}
