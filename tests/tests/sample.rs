//! Swath, along-track and CF discrete-sampling-geometry tables (`SampleScanExec`):
//! cross-checks against xarray (tests/python/expected_sample.py) on the fixtures of
//! make_sample_fixtures.py and on the real files in shared/data/real/{swath,alongtrack,argo};
//! block pruning read from the scan's metrics; bad inputs.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::error::DataFusionError;
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion::prelude::SessionContext;

use crate::{common, crosscheck};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crosscheck_sample_fixtures() {
    let (passed, failures) = crosscheck::run_checks_in(common::expected_sample_json(), |t| t.starts_with("sample_")).await;
    crosscheck::report("sample-fixtures", passed, &failures);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crosscheck_sample_real_data() {
    let (passed, failures) = crosscheck::run_checks_in(common::expected_sample_json(), |t| t.starts_with("real_")).await;
    crosscheck::report("sample-real", passed, &failures);
}

// ---------------------------------------------------------------------------------------------
// Block pruning
// ---------------------------------------------------------------------------------------------

/// The scan's metrics (summed over partitions) and the result, for one query.
struct Scan {
    rows: Vec<String>,
    lines_total: usize,
    lines_read: usize,
    lines_pruned: usize,
    blocks_total: usize,
    blocks_read: usize,
    granules_read: usize,
    bytes_read: usize,
}

fn find_scan(plan: &Arc<dyn ExecutionPlan>) -> Option<Arc<dyn ExecutionPlan>> {
    if plan.name() == "SampleScanExec" {
        return Some(plan.clone());
    }
    plan.children().into_iter().find_map(find_scan)
}

async fn scan(ctx: &SessionContext, sql: &str) -> Scan {
    let df = ctx.sql(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let plan = df.create_physical_plan().await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batches = collect(plan.clone(), ctx.task_ctx()).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let scan = find_scan(&plan).unwrap_or_else(|| panic!("no SampleScanExec in the plan of {sql}"));
    let m = scan.metrics().expect("SampleScanExec metrics").aggregate_by_name();
    let get = |name: &str| m.sum_by_name(name).map_or(0, |v| v.as_usize());
    Scan {
        rows: text_rows(&batches),
        lines_total: get("lines_total"),
        lines_read: get("lines_read"),
        lines_pruned: get("lines_pruned"),
        blocks_total: get("blocks_total"),
        blocks_read: get("blocks_read"),
        granules_read: get("granules_read"),
        bytes_read: get("bytes_read"),
    }
}

/// A session with `t` on `location` and `t_mem`, the same rows materialised (no pruning).
async fn with_table(location: &str) -> SessionContext {
    let ctx = common::context();
    let ddl = format!("CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '{location}'");
    common::run(&ctx, &ddl).await.unwrap_or_else(|e| panic!("{ddl}: {e}"));
    common::run(&ctx, "CREATE TABLE t_mem AS SELECT * FROM t").await.expect("materialise t");
    ctx
}

/// swath_big.nc: 2000 lines x 100 pixels in blocks of 100 lines x 100 cells (a swath block holds at
/// most 16384 samples, 163 lines of 100 cells, rounded down to the 100 x 100 chunks of lat),
/// lat = -60 + 0.06 j + 0.001 i: lat 10..11 is lines 1166..1183, all in block 1100..1200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_box_on_a_long_swath_reads_one_block() {
    let ctx = with_table(&format!("{}/sample/swath_big.nc", common::fixtures_str())).await;
    let q = |t: &str| format!("SELECT count(*), count(sst), sum(sst) FROM {t} WHERE lat BETWEEN 10 AND 11");
    let s = scan(&ctx, &q("t")).await;
    assert_eq!(s.lines_total, 2000);
    assert_eq!(s.lines_read, 100, "one block of 100 lines");
    assert_eq!(s.lines_pruned, 1900);
    assert_eq!(s.granules_read, 1);
    assert!(s.bytes_read > 0);
    // 1659 pixels, sum of (j % 50) + 0.5 (i % 4) over them: numpy on the construction formula
    assert_eq!(s.rows, scan_rows_unpruned(&ctx, &q("t_mem")).await);
    assert_eq!(s.rows, ["1659 1659 41409.0"]);

    // a box in lat and lon: 270 pixels, sum 6595
    let q = |t: &str| {
        format!("SELECT count(*), sum(sst) FROM {t} WHERE lat BETWEEN 10 AND 11 AND lon BETWEEN -30 AND -25")
    };
    let s = scan(&ctx, &q("t")).await;
    assert_eq!(s.lines_read, 100);
    assert_eq!(s.rows, scan_rows_unpruned(&ctx, &q("t_mem")).await);
    assert_eq!(s.rows, ["270 6595.0"]);
}

async fn scan_rows_unpruned(ctx: &SessionContext, sql: &str) -> Vec<String> {
    text_rows(&common::run(ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}")))
}

/// Each row as its values joined by single spaces.
fn text_rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = vec![];
    for b in batches {
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

/// time = j seconds since 2020-06-01: 00:20:00..00:25:00 is lines 1200..=1500, blocks 1200..1600
/// (four of 100 lines); a window that no block reaches reads nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_window_and_empty_window_on_a_long_swath() {
    let ctx = with_table(&format!("{}/sample/swath_big.nc", common::fixtures_str())).await;
    let q = |t: &str| {
        format!(
            "SELECT count(*), min(row), max(row) FROM {t} \
             WHERE time BETWEEN TIMESTAMP '2020-06-01T00:20:00Z' AND TIMESTAMP '2020-06-01T00:25:00Z'"
        )
    };
    let s = scan(&ctx, &q("t")).await;
    assert_eq!((s.lines_read, s.lines_total), (400, 2000));
    assert_eq!(s.rows, scan_rows_unpruned(&ctx, &q("t_mem")).await);
    assert_eq!(s.rows, ["30100 1200 1500"]);

    let s = scan(&ctx, "SELECT count(*), sum(sst) FROM t WHERE lat > 70").await;
    assert_eq!((s.lines_read, s.lines_pruned, s.granules_read), (0, 2000, 0));
    assert_eq!(s.rows, ["0 "]);
}

/// EXPLAIN ANALYZE shows the scan, its window and its metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_analyze_shows_lines_and_metrics() {
    let ctx = with_table(&format!("{}/sample/swath_big.nc", common::fixtures_str())).await;
    let batches = common::run(&ctx, "EXPLAIN ANALYZE SELECT avg(sst) FROM t WHERE lat BETWEEN 10 AND 11")
        .await
        .expect("explain analyze");
    let text = datafusion::arrow::util::pretty::pretty_format_batches(&batches).expect("format").to_string();
    let line = text.lines().find(|l| l.contains("SampleScanExec")).unwrap_or_else(|| panic!("no SampleScanExec:\n{text}"));
    for part in [
        "pattern=swath",
        "lines=100/2000",
        "blocks=1/20",
        "granules=1/1",
        "lat=[10, 11]",
        "lines_total=2.00 K",
        "lines_read=100",
        "lines_pruned=1.90 K",
        "blocks_read=1",
        "bytes_read=",
    ] {
        assert!(line.contains(part), "'{part}' missing from: {line}");
    }
}

/// A miniprod of a multi-file product: the 5 x 5 box of pole.nc (10 lines x 8 pixels, sst = 8 j + i)
/// around (4, 3), by granule, row and cell, reads one block of one granule (of four), with no
/// filter on time, lat or lon; the same box by the `miniprod()` table function reads the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miniprod_reads_one_block_of_one_granule() {
    let ctx = with_table(&format!("{}/sample/swath/*.nc", common::fixtures_str())).await;
    let pole = format!("{}/sample/swath/pole.nc", common::fixtures_str());
    // rows 2..6 (8 j: 5 x 8 x 20 = 800), cells 1..5 (5 x 15 = 75)
    let box_sql = |t: &str| {
        format!("SELECT count(*), sum(sst) FROM {t} WHERE granule = '{pole}' AND row BETWEEN 2 AND 6 AND cell BETWEEN 1 AND 5")
    };
    let s = scan(&ctx, &box_sql("t")).await;
    assert_eq!(s.rows, ["25 875.0"]);
    assert_eq!(s.rows, scan_rows_unpruned(&ctx, &box_sql("t_mem")).await);
    assert_eq!((s.granules_read, s.blocks_read, s.lines_read), (1, 1, 5));
    assert!(s.blocks_total >= 4, "{} blocks in the product", s.blocks_total);

    let s = scan(&ctx, &format!("SELECT count(*), sum(sst), sum(d_row), sum(d_cell) FROM miniprod('t', '{pole}', 4, 3, 2)")).await;
    assert_eq!(s.rows, ["25 875.0 0 0"]);
    assert_eq!((s.granules_read, s.blocks_read, s.lines_read), (1, 1, 5));
}

/// A ragged trajectory file of 160001 observations in blocks of 65536: lat = -60 + 0.0007 o is
/// above 40 from o = 142858 on, all in the last block (131072..160001) and in trajectory T4
/// (140000..160000), whose per-trajectory `drogue` is 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ragged_trajectories_across_blocks() {
    let ctx = with_table(&format!("{}/sample/dsg/trajectory_big.nc", common::fixtures_str())).await;
    let q = |t: &str| format!("SELECT platform_id, count(*), sum(drogue), min(obs) FROM {t} WHERE lat > 40 GROUP BY 1");
    let s = scan(&ctx, &q("t")).await;
    assert_eq!((s.lines_read, s.lines_total), (160001 - 131072, 160001));
    assert_eq!(s.rows, ["T4 17143 17143 142858"]);
    assert_eq!(s.rows, scan_rows_unpruned(&ctx, &q("t_mem")).await);
    // every trajectory, the empty T1 left out: sizes 40000, 30000, 70000, 20001
    let q = "SELECT platform_id, count(*), sum(drogue), min(obs), max(obs) FROM t GROUP BY 1 ORDER BY 1";
    let s = scan(&ctx, q).await;
    assert_eq!(s.rows, [
        "T0 40000 40000 0 39999",
        "T2 30000 30000 40000 69999",
        "T3 70000 0 70000 139999",
        "T4 20001 20001 140000 160000"
    ]);
}

/// The real VIIRS L2P swath: a box at the swath's southern edge reads fewer lines than the
/// granule has, with the same answer. (Blocks are 64 lines x 256 cells here; lat 62.3..62.6 is
/// only reached in the first 98 lines, so only blocks of the first two bands of 64 lines can hold
/// it.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_viirs_small_box_prunes_lines() {
    let path = common::real_data().join("swath/VIIRS_NPP-NAVO-L2P-v3.0_subset.nc");
    let ctx = with_table(&path.to_string_lossy()).await;
    let q = |t: &str| {
        format!(
            "SELECT count(*), count(sea_surface_temperature), avg(sea_surface_temperature) FROM {t} \
             WHERE lat BETWEEN 62.3 AND 62.6"
        )
    };
    let s = scan(&ctx, &q("t")).await;
    assert_eq!(s.lines_total, 768);
    assert_eq!(s.lines_read, 128, "two bands of 64 lines");
    assert_eq!(s.lines_read + s.lines_pruned, s.lines_total);
    assert_eq!(s.rows, scan_rows_unpruned(&ctx, &q("t_mem")).await);

    // Pixel times (time + sst_dtime) rise by about 0.107 s per line: 28..33 s after the
    // reference time (20:37:02) are lines 261..308, all in the band 256..320. Pixels without
    // sst_dtime have no time, so they do not stretch the blocks' time ranges.
    let q = |t: &str| {
        format!(
            "SELECT count(*), avg(sea_surface_temperature) FROM {t} WHERE quality_level = 5 \
             AND time BETWEEN TIMESTAMP '2019-08-05T20:37:30Z' AND TIMESTAMP '2019-08-05T20:37:35Z'"
        )
    };
    let s = scan(&ctx, &q("t")).await;
    assert_eq!(s.lines_read, 64, "one band of 64 lines");
    assert_eq!(s.rows, scan_rows_unpruned(&ctx, &q("t_mem")).await);
}

/// A box in the middle of the real VIIRS swath: every band of lines reaches its latitudes, but
/// only a few blocks of 256 cells across the swath reach its longitudes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_viirs_box_in_mid_swath_reads_few_blocks() {
    let path = common::real_data().join("swath/VIIRS_NPP-NAVO-L2P-v3.0_subset.nc");
    let ctx = with_table(&path.to_string_lossy()).await;
    let q = |t: &str| format!("SELECT count(*), count(lat), sum(row), sum(cell) FROM {t} WHERE lat BETWEEN 65 AND 66 AND lon BETWEEN -160 AND -158");
    let s = scan(&ctx, &q("t")).await;
    assert!(s.blocks_read * 4 < s.blocks_total, "{} of {} blocks read", s.blocks_read, s.blocks_total);
    assert_eq!(s.rows, scan_rows_unpruned(&ctx, &q("t_mem")).await);
}

// ---------------------------------------------------------------------------------------------
// Bad inputs: an error naming the file and what is wrong, never a panic.
// ---------------------------------------------------------------------------------------------

/// Runs `ddl` then `query` in a fresh session; returns the first error (panics if both succeed
/// or if the engine panics).
async fn first_error(ddl: &str, query: &str) -> String {
    let ddl = ddl.replace("${FIXTURES}", &common::fixtures_str());
    let (d, q) = (ddl.clone(), query.to_string());
    let task = tokio::spawn(async move {
        let ctx = common::context();
        common::run(&ctx, &d).await?;
        common::run(&ctx, &q).await.map(|b| b.iter().map(|b| b.num_rows()).sum::<usize>())
    });
    let result: Result<usize, DataFusionError> = match task.await {
        Ok(r) => r,
        Err(e) => panic!("the engine panicked on `{ddl}`: {e}"),
    };
    match result {
        Ok(rows) => panic!("`{ddl}` then `{query}` succeeded ({rows} rows) instead of failing"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(msg: &str, parts: &[&str]) {
    for p in parts {
        assert!(msg.contains(p), "the error should mention '{p}':\n{msg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inconsistent_ragged_dsg_names_file_and_variable() {
    let msg = first_error(
        "CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '${FIXTURES}/sample/bad/dsg_inconsistent.nc'",
        "SELECT * FROM t",
    )
    .await;
    assert_mentions(&msg, &["dsg_inconsistent.nc", "rowSize", "6", "5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indexed_ragged_dsg_with_a_bad_index_names_file_and_variable() {
    let msg = first_error(
        "CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '${FIXTURES}/sample/bad/dsg_bad_index.nc'",
        "SELECT * FROM t",
    )
    .await;
    assert_mentions(&msg, &["dsg_bad_index.nc", "stationIndex", "station"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_pattern_lists_the_patterns() {
    let msg = first_error(
        "CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '${FIXTURES}/sample/swath/curved.nc' OPTIONS ('pattern' 'curtain')",
        "SELECT * FROM t",
    )
    .await;
    assert_mentions(&msg, &["curtain", "grid", "swath", "alongtrack", "trajectory", "timeseries", "profile"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_naming_a_missing_variable() {
    for key in ["lat", "lon", "time", "depth", "platform_id"] {
        let msg = first_error(
            &format!(
                "CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '${{FIXTURES}}/sample/dsg/profile.nc' OPTIONS ('{key}' 'no_such_var')"
            ),
            "SELECT * FROM t",
        )
        .await;
        assert_mentions(&msg, &["profile.nc", "no_such_var"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_latitude_is_a_clear_error() {
    let ddl = "CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '${FIXTURES}/sample/bad/no_latitude.nc'";
    let msg = first_error(ddl, "SELECT * FROM t").await;
    assert_mentions(&msg, &["no_latitude.nc", "latitude"]);
    let msg = first_error(&format!("{ddl} OPTIONS ('pattern' 'swath')"), "SELECT * FROM t").await;
    assert_mentions(&msg, &["no_latitude.nc", "latitude", "OPTIONS"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granules_with_other_variables_give_nulls() {
    // swath/ holds four swaths with different variables: one table with the union of them,
    // NULL where a file lacks a variable; each file's own counts are kept.
    let ctx = common::context();
    let fx = common::fixtures_str();
    common::run(&ctx, &format!("CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '{fx}/sample/swath/'")).await.unwrap();
    let mut rows = 0;
    let mut ssts = 0;
    for f in ["curved", "antimeridian", "pole", "nan_coords"] {
        let sql = format!("CREATE EXTERNAL TABLE {f} STORED AS NETCDF LOCATION '{fx}/sample/swath/{f}.nc'");
        common::run(&ctx, &sql).await.unwrap();
        rows += count(&ctx, &format!("SELECT count(*) FROM {f}")).await;
        if f == "pole" {
            ssts = count(&ctx, "SELECT count(sst) FROM pole").await;
        }
    }
    assert_eq!(count(&ctx, "SELECT count(*) FROM t").await, rows);
    assert_eq!(count(&ctx, "SELECT count(sea_surface_temperature) FROM t").await, 28);
    assert_eq!(count(&ctx, "SELECT count(sst) FROM t").await, ssts);
    let in_curved = "SELECT count(*) FROM t WHERE sea_surface_temperature IS NOT NULL AND CAST(granule AS VARCHAR) LIKE '%curved.nc'";
    assert_eq!(count(&ctx, in_curved).await, 28);
}

async fn count(ctx: &datafusion::prelude::SessionContext, sql: &str) -> i64 {
    let batches = common::run(ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let col = batches[0].column(0);
    let col = col.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().expect("an Int64 count");
    col.value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granules_with_a_variable_of_another_type_name_both_files() {
    let msg = first_error("CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '${FIXTURES}/sample/bad/conflict/'", "SELECT * FROM t").await;
    assert_mentions(&msg, &["b.nc", "'sst'", "Int16", "Float32", "a.nc"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dsg_file_read_as_a_swath_is_an_error() {
    let msg = first_error(
        "CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '${FIXTURES}/sample/dsg/profile.nc' OPTIONS ('pattern' 'swath')",
        "SELECT * FROM t",
    )
    .await;
    assert_mentions(&msg, &["profile.nc", "'lat'", "2-D"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_option_is_refused() {
    let msg = first_error(
        "CREATE EXTERNAL TABLE t STORED AS NETCDF LOCATION '${FIXTURES}/sample/swath/curved.nc' OPTIONS ('latitude' 'lat')",
        "SELECT * FROM t",
    )
    .await;
    assert_mentions(&msg, &["latitude", "pattern", "platform_id"]);
}
