//! climatology(), anomaly() and resample() cross-checked against xarray and numpy:
//! tests/python/analytics_reference.py computes, from the fixture files alone
//! (tests/python/make_analytics_fixtures.py, and the swath and trajectory of
//! make_sample_fixtures.py), every row these functions must return; this runs the same on
//! OceanQL and compares row by row: the same keys (period or time, lat, lon) on both sides,
//! every number within 1e-6 relative, NULL where the reference has NaN.
//!
//! Cases: monthly climatology of a 5-year monthly grid stored lon 0..360 across the
//! antimeridian with land and gaps (all years, and 2002-2004); day-of-year climatology of a
//! 3-year daily grid with a leap year; anomalies against a climatology() table and against a
//! monthly climatology NetCDF file on the same grid in another order (lat ascending, lon
//! -180..180); resample of a swath (0.25°, 10 minutes), a CF trajectory (2°, 6 hours), in situ
//! Parquet points (5°, 1 month, 3 months, 7 days) and the monthly grid (2°, 12 months).

use std::collections::BTreeMap;
use std::process::Command;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::common;

const REL: f64 = 1e-6;

/// (period or time in µs, lat and lon in millionths of a degree, lon in [-180, 180)).
type Key = (i64, i64, i64);

fn key(k: f64, lat: f64, lon: f64) -> Key {
    let lon = (lon + 180.0).rem_euclid(360.0) - 180.0;
    (k as i64, (lat * 1e6).round() as i64, (lon * 1e6).round() as i64)
}

/// Writes the reference into a temporary directory and reads it back.
fn reference() -> Value {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("python/analytics_reference.py");
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file = dir.path().join("reference.json");
    let out = Command::new(common::python()).arg(&script).arg(common::fixtures()).arg(&out_file).output().expect("run analytics_reference.py");
    assert!(
        out.status.success(),
        "analytics_reference.py failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(&out_file).expect("read reference.json")).expect("reference.json")
}

/// The reference rows of one case: key -> the other numbers (None for null).
fn reference_rows(rows: &Value) -> BTreeMap<Key, Vec<Option<f64>>> {
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            let row = row.as_array().expect("row");
            let n = |i: usize| row[i].as_f64();
            (key(n(0).expect("key"), n(1).expect("lat"), n(2).expect("lon")), (3..row.len()).map(n).collect())
        })
        .collect()
}

/// OceanQL's rows of a query whose first three columns are the key (a timestamp is taken in µs).
async fn oceanql_rows(ctx: &SessionContext, sql: &str) -> BTreeMap<Key, Vec<Option<f64>>> {
    let batches = common::run(ctx, sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut rows = BTreeMap::new();
    for batch in &batches {
        let columns: Vec<_> = batch
            .columns()
            .iter()
            .map(|c| {
                let c = if matches!(c.data_type(), DataType::Timestamp(..)) { cast(c, &DataType::Int64).expect("cast") } else { c.clone() };
                cast(&c, &DataType::Float64).expect("cast to f64")
            })
            .collect();
        for r in 0..batch.num_rows() {
            let values: Vec<Option<f64>> = columns.iter().map(|c| (!c.is_null(r)).then(|| c.as_primitive::<Float64Type>().value(r))).collect();
            let k = key(values[0].expect("key"), values[1].expect("lat"), values[2].expect("lon"));
            assert!(rows.insert(k, values[3..].to_vec()).is_none(), "{sql}: key {k:?} twice");
        }
    }
    rows
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= REL * a.abs().max(b.abs()) + 1e-12,
        (None, None) => true,
        _ => false,
    }
}

/// Every difference between OceanQL's rows and the reference's, at most 10 shown.
fn compare(case: &str, ours: &BTreeMap<Key, Vec<Option<f64>>>, reference: &BTreeMap<Key, Vec<Option<f64>>>) -> Vec<String> {
    let mut problems = vec![];
    for (k, want) in reference {
        match ours.get(k) {
            None => problems.push(format!("{case}: no row {k:?} (reference {want:?})")),
            Some(got) if got.len() != want.len() || !got.iter().zip(want).all(|(a, b)| close(*a, *b)) => {
                problems.push(format!("{case}: row {k:?}: OceanQL {got:?}, reference {want:?}"))
            }
            Some(_) => {}
        }
    }
    problems.extend(ours.keys().filter(|k| !reference.contains_key(k)).map(|k| format!("{case}: extra row {k:?}")));
    if problems.len() > 10 {
        let more = problems.len() - 10;
        problems.truncate(10);
        problems.push(format!("{case}: ... and {more} more"));
    }
    problems
}

async fn setup(ctx: &SessionContext) {
    let fx = common::fixtures_str();
    for sql in [
        format!("CREATE EXTERNAL TABLE monthly STORED AS NETCDF LOCATION '{fx}/analytics/monthly/*.nc'"),
        format!("CREATE EXTERNAL TABLE daily STORED AS NETCDF LOCATION '{fx}/analytics/daily/sst_daily.nc'"),
        format!("CREATE EXTERNAL TABLE clim_file STORED AS NETCDF LOCATION '{fx}/analytics/clim/monthly_clim.nc'"),
        format!("CREATE EXTERNAL TABLE swath STORED AS NETCDF LOCATION '{fx}/sample/swath_big.nc' OPTIONS ('index' 'none')"),
        format!("CREATE EXTERNAL TABLE trajectory STORED AS NETCDF LOCATION '{fx}/sample/dsg/trajectory_big.nc' OPTIONS ('index' 'none')"),
        format!("CREATE EXTERNAL TABLE points STORED AS PARQUET LOCATION '{fx}/analytics/points.parquet'"),
        "CREATE TABLE clim AS SELECT * FROM climatology('monthly', 'sst', 'month')".to_string(),
        "CREATE TABLE clim_doy AS SELECT * FROM climatology('daily', 'sst', 'dayofyear')".to_string(),
    ] {
        common::run(ctx, &sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analytics_match_xarray_and_numpy() {
    let r = reference();
    let ctx = common::context();
    setup(&ctx).await;
    let anomaly = |table: &str, clim: &str| {
        format!("SELECT time, lat, lon, anomaly(sst, time, lat, lon, '{clim}') FROM {table} WHERE sst IS NOT NULL")
    };
    let resample = |table: &str, variable: &str, res: f64, interval: &str| format!("SELECT * FROM resample('{table}', '{variable}', {res}, '{interval}')");
    let cases = [
        ("clim_month", &r["clim_month"], "SELECT * FROM climatology('monthly', 'sst', 'month')".to_string()),
        ("clim_month_2002_2004", &r["clim_month_2002_2004"], "SELECT * FROM climatology('monthly', 'sst', 'month', 2002, 2004)".to_string()),
        ("clim_doy", &r["clim_doy"], "SELECT * FROM climatology('daily', 'sst', 'dayofyear')".to_string()),
        ("anomaly_month", &r["anomaly_month"], anomaly("monthly", "clim")),
        ("anomaly_file", &r["anomaly_file"], anomaly("monthly", "clim_file")),
        ("anomaly_doy", &r["anomaly_doy"], anomaly("daily", "clim_doy")),
        ("resample swath", &r["resample"]["swath"], resample("swath", "sst", 0.25, "10 minutes")),
        ("resample trajectory", &r["resample"]["trajectory"], resample("trajectory", "temp", 2.0, "6 hours")),
        ("resample points_month", &r["resample"]["points_month"], resample("points", "temp", 5.0, "1 month")),
        ("resample points_quarter", &r["resample"]["points_quarter"], resample("points", "temp", 5.0, "3 months")),
        ("resample points_week", &r["resample"]["points_week"], resample("points", "temp", 5.0, "7 days")),
        ("resample grid", &r["resample"]["grid"], resample("monthly", "sst", 2.0, "1 year")),
    ];
    let mut problems = vec![];
    let mut checked = 0;
    for (name, reference, sql) in cases {
        let want = reference_rows(reference);
        assert!(want.len() > 50, "{name}: only {} reference rows", want.len());
        let got = oceanql_rows(&ctx, &sql).await;
        checked += want.len();
        problems.extend(compare(name, &got, &want));
    }
    assert!(problems.is_empty(), "{} difference(s) with xarray/numpy:\n{}", problems.len(), problems.join("\n"));
    eprintln!("analytics: {checked} rows equal to xarray/numpy's (relative 1e-6)");
}

/// The climatology is read once, not once per batch: 1096 x 6 daily values in batches of 7
/// rows (940 batches), the same sum as in batches of 8192; read again only once replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anomaly_reads_its_climatology_once() {
    let mut sums = vec![];
    for (run, batch_size) in [7, 8192].into_iter().enumerate() {
        let config = datafusion::prelude::SessionConfig::new().with_batch_size(batch_size);
        let ctx = oceanql_engine::session::create_context_with(config).expect("context");
        setup(&ctx).await;
        let name = format!("clim_doy_once_{run}");
        common::run(&ctx, &format!("CREATE TABLE {name} AS SELECT * FROM clim_doy")).await.expect("create");
        let sql = format!("SELECT sum(anomaly(sst, time, lat, lon, '{name}')), count(*) FROM daily");
        let batches = common::run(&ctx, &sql).await.expect("query");
        assert_eq!(oceanql_engine::anomaly::load_count(&name), 1, "batch size {batch_size}");
        let sum = cast(batches[0].column(0), &DataType::Float64).expect("cast");
        let count = cast(batches[0].column(1), &DataType::Int64).expect("cast");
        sums.push((sum.as_primitive::<Float64Type>().value(0), count.as_primitive::<Int64Type>().value(0)));
        common::run(&ctx, &sql).await.expect("query again");
        assert_eq!(oceanql_engine::anomaly::load_count(&name), 1, "a second query reuses it");
        common::run(&ctx, &format!("CREATE OR REPLACE TABLE {name} AS SELECT * FROM clim_doy")).await.expect("replace");
        common::run(&ctx, &sql).await.expect("query after replace");
        assert_eq!(oceanql_engine::anomaly::load_count(&name), 2, "a replaced table is read again");
    }
    assert_eq!(sums[0].1, 1096 * 6);
    assert!(close(Some(sums[0].0), Some(sums[1].0)), "{sums:?}");
}
