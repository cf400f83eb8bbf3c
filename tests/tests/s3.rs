//! Object storage: the same queries over the generated fixtures on local disk and on an
//! S3-compatible server (moto, from the test venv) that this module starts on 127.0.0.1.
//!
//! The server (tests/python/s3_server.py) holds two buckets: `oceanql` with the `daily/`
//! (30 NetCDF-4 files) and `daily_zarr/` (30 Zarr v3 stores) fixtures and an `obs/` CSV and
//! Parquet file, and `oceanql-private` with one file, used with wrong credentials.
//! Authentication is on: requests must be signed with the access key the server made.
//! The server stops when this test process ends (it serves until its stdin closes).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::common;

const BUCKET: &str = "oceanql";
const PRIVATE: &str = "oceanql-private";
/// Every statement must finish well within this (no hang on a bad endpoint or credentials).
const TIMEOUT: Duration = Duration::from_secs(120);

struct S3Server {
    child: Mutex<Child>,
    endpoint: String,
    key: String,
    secret: String,
    /// bucket -> key -> size in bytes, as uploaded.
    sizes: Value,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Ok(child) = self.child.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl S3Server {
    /// OPTIONS giving the endpoint and the credentials.
    fn options(&self) -> String {
        format!(
            "OPTIONS ('aws.access_key_id' '{}', 'aws.secret_access_key' '{}', 'aws.endpoint' '{}', \
             'aws.allow_http' 'true', 'aws.region' 'us-east-1')",
            self.key, self.secret, self.endpoint
        )
    }

    /// Total size of the objects of `bucket` under `prefix`.
    fn size_under(&self, bucket: &str, prefix: &str) -> u64 {
        self.sizes[bucket].as_object().expect("sizes").iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v.as_u64().unwrap_or(0)).sum()
    }
}

/// A CSV and a Parquet file of in situ-like records, written once.
fn obs_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("oceanql-s3-obs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create obs dir");
        let mut csv = String::from("id,platform,lat,lon,temp,time\n");
        for i in 0..500 {
            let (lat, lon, temp) = (-9.5 + (i % 20) as f64, -19.5 + (i % 40) as f64, 10.0 + (i as f64) * 0.01);
            let time = format!("2020-01-{:02}T{:02}:00:00Z", 1 + i % 28, i % 24);
            csv.push_str(&format!("{i},P{},{lat},{lon},{temp},{time}\n", i % 7));
        }
        std::fs::write(dir.join("obs.csv"), csv).expect("write obs.csv");
        let out = Command::new(common::python())
            .args(["-c", "import sys, pyarrow.csv as c, pyarrow.parquet as p; p.write_table(c.read_csv(sys.argv[1]), sys.argv[2])"])
            .arg(dir.join("obs.csv"))
            .arg(dir.join("obs.parquet"))
            .output()
            .expect("run pyarrow");
        assert!(out.status.success(), "writing obs.parquet failed: {}", String::from_utf8_lossy(&out.stderr));
        dir
    })
}

/// The server, started once for the whole test binary.
fn server() -> &'static S3Server {
    static SERVER: OnceLock<S3Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let fx = common::fixtures();
        let obs = obs_dir();
        let s = |p: &Path| p.to_string_lossy().into_owned();
        let spec = serde_json::json!({"buckets": {
            BUCKET: [[s(&fx.join("daily")), "daily"], [s(&fx.join("daily_zarr")), "daily_zarr"], [s(obs), "obs"],
                     [s(&fx.join("sample")), "sample"]],
            PRIVATE: [[s(&fx.join("daily/sst_20200101.nc")), "daily"]],
        }});
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/s3_server.py");
        let mut child = Command::new(common::python())
            .arg(script)
            .arg(spec.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start tests/python/s3_server.py");
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = match rx.recv_timeout(Duration::from_secs(300)) {
            Ok(l) if !l.trim().is_empty() => l,
            other => {
                let _ = child.kill();
                panic!("the S3 test server did not start: {other:?}");
            }
        };
        let info: Value = serde_json::from_str(&line).expect("server info JSON");
        let text = |k: &str| info[k].as_str().expect("server info field").to_string();
        S3Server {
            endpoint: text("endpoint"),
            key: text("access_key_id"),
            secret: text("secret_access_key"),
            sizes: info["sizes"].clone(),
            child: Mutex::new(child),
        }
    })
}

async fn run_text(ctx: &SessionContext, sql: &str) -> String {
    let batches = tokio::time::timeout(TIMEOUT, common::run(ctx, sql))
        .await
        .unwrap_or_else(|_| panic!("timed out: {sql}"))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    pretty_format_batches(&batches).expect("format").to_string()
}

async fn run_err(ctx: &SessionContext, sql: &str) -> String {
    match tokio::time::timeout(TIMEOUT, common::run(ctx, sql)).await {
        Err(_) => panic!("timed out (should fail fast): {sql}"),
        Ok(Ok(_)) => panic!("should have failed: {sql}"),
        Ok(Err(e)) => e.to_string(),
    }
}

/// EXPLAIN ANALYZE and the `bytes_read` of the GridScanExec, in bytes.
async fn bytes_read(ctx: &SessionContext, sql: &str) -> f64 {
    let batches = tokio::time::timeout(TIMEOUT, common::run(ctx, &format!("EXPLAIN ANALYZE {sql}")))
        .await
        .expect("timed out")
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut plan = String::new();
    for b in &batches {
        let col = b.column(1).as_string::<i32>();
        for i in 0..b.num_rows() {
            plan.push_str(col.value(i));
            plan.push('\n');
        }
    }
    let line = plan.lines().find(|l| l.contains("GridScanExec")).unwrap_or_else(|| panic!("no GridScanExec:\n{plan}"));
    let start = line.find("bytes_read=").unwrap_or_else(|| panic!("no bytes_read: {line}")) + "bytes_read=".len();
    let text: String = line[start..].chars().take_while(|c| *c != ',' && *c != ']').collect();
    let text = text.trim();
    let (num, unit) = text.split_at(text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len()));
    let scale = match unit.trim() {
        "" | "B" => 1.0,
        "K" | "KB" => 1e3,
        "M" | "MB" => 1e6,
        "G" | "GB" => 1e9,
        u => panic!("unit {u} in {line}"),
    };
    num.parse::<f64>().unwrap_or_else(|_| panic!("bytes_read '{text}' in {line}")) * scale
}

/// Queries whose answers must not depend on where the product is stored.
const GRID_QUERIES: &[&str] = &[
    "SELECT count(*) AS n, count(sst) AS valid, sum(sst) AS s, min(sst) AS lo, max(sst) AS hi FROM {t}",
    "SELECT time, lat, lon, sst, time_index, lat_index, lon_index FROM {t} \
     WHERE lat BETWEEN 3 AND 6 AND lon BETWEEN 8 AND 12 AND time <= TIMESTAMP '2020-01-03T00:00:00Z' ORDER BY time, lat, lon",
    "SELECT date_trunc('day', time) AS d, avg(sst) AS m FROM {t} \
     WHERE time BETWEEN TIMESTAMP '2020-01-10T00:00:00Z' AND TIMESTAMP '2020-01-12T00:00:00Z' GROUP BY 1 ORDER BY 1",
    "SELECT regexp_replace(CAST(granule AS VARCHAR), '^.*/', '') AS g, count(*) AS n FROM {t} \
     WHERE lat > 8 GROUP BY 1 ORDER BY 1 LIMIT 4",
];

async fn same_answers(ctx: &SessionContext, local: &str, remote: &str) {
    for q in GRID_QUERIES {
        let a = run_text(ctx, &q.replace("{t}", local)).await;
        let b = run_text(ctx, &q.replace("{t}", remote)).await;
        assert_eq!(a, b, "different answers on local and S3 for: {q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_zarr_same_answers_and_reads_only_needed_chunks() {
    let s3 = server();
    let fx = common::fixtures_str();
    let ctx = common::context();
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE zl STORED AS ZARR LOCATION '{fx}/daily_zarr'")).await;
    // A prefix holding 30 stores lists the stores.
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE zs STORED AS ZARR LOCATION 's3://{BUCKET}/daily_zarr/' {}", s3.options())).await;
    // And a glob over the stores.
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE zg STORED AS ZARR LOCATION 's3://{BUCKET}/daily_zarr/sst_2020010*.zarr' {}", s3.options())).await;
    same_answers(&ctx, "zl", "zs").await;
    assert_eq!(
        run_text(&ctx, "SELECT count(DISTINCT granule) AS n FROM zg").await,
        run_text(&ctx, "SELECT count(DISTINCT granule) AS n FROM zl WHERE time < TIMESTAMP '2020-01-10T00:00:00Z'").await
    );
    let granules = run_text(&ctx, "SELECT DISTINCT CAST(granule AS VARCHAR) AS g FROM zs ORDER BY g LIMIT 1").await;
    assert!(granules.contains(&format!("s3://{BUCKET}/daily_zarr/sst_20200101.zarr")), "{granules}");

    // A small box over one day reads one chunk of one store; over 30 days, one chunk per store.
    let store_size = s3.size_under(BUCKET, "daily_zarr/") as f64;
    let one_day = "SELECT avg(sst) FROM {t} WHERE time = TIMESTAMP '2020-01-15T00:00:00Z' AND lat BETWEEN 3 AND 4 AND lon BETWEEN 8 AND 9";
    let all_days = "SELECT avg(sst) FROM {t} WHERE lat BETWEEN 3 AND 4 AND lon BETWEEN 8 AND 9";
    for (q, max_fraction) in [(one_day, 0.01), (all_days, 0.10)] {
        let remote = bytes_read(&ctx, &q.replace("{t}", "zs")).await;
        let local = bytes_read(&ctx, &q.replace("{t}", "zl")).await;
        eprintln!("Zarr box query: {remote} bytes read from S3 of a {store_size}-byte product ({:.3}%)", 100.0 * remote / store_size);
        assert!(remote > 0.0, "nothing read for {q}");
        assert_eq!(remote, local, "S3 and local reads differ for {q}");
        assert!(remote < max_fraction * store_size, "{remote} bytes read of {store_size} for {q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_netcdf_same_answers() {
    let s3 = server();
    let fx = common::fixtures_str();
    let ctx = common::context();
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE nl STORED AS NETCDF LOCATION '{fx}/daily/*.nc'")).await;
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE ns STORED AS NETCDF LOCATION 's3://{BUCKET}/daily/*.nc' {}", s3.options())).await;
    same_answers(&ctx, "nl", "ns").await;
    // One object.
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE n1 STORED AS NETCDF LOCATION 's3://{BUCKET}/daily/sst_20200105.nc' {}", s3.options())).await;
    assert_eq!(
        run_text(&ctx, "SELECT sum(sst) AS s FROM n1").await,
        run_text(&ctx, "SELECT sum(sst) AS s FROM nl WHERE time = TIMESTAMP '2020-01-05T00:00:00Z'").await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_parquet_and_csv_same_answers() {
    let s3 = server();
    let obs = obs_dir().to_string_lossy().into_owned();
    let ctx = common::context();
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE pl STORED AS PARQUET LOCATION '{obs}/obs.parquet'")).await;
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE ps STORED AS PARQUET LOCATION 's3://{BUCKET}/obs/obs.parquet' {}", s3.options())).await;
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE cl STORED AS CSV LOCATION '{obs}/obs.csv' OPTIONS ('format.has_header' 'true')")).await;
    let opts = s3.options().replace("OPTIONS (", "OPTIONS ('format.has_header' 'true', ");
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE cs STORED AS CSV LOCATION 's3://{BUCKET}/obs/obs.csv' {opts}")).await;
    let q = "SELECT platform, count(*) AS n, sum(temp) AS t, min(lat) AS lat0, max(lon) AS lon1 FROM {t} WHERE temp > 11 GROUP BY platform ORDER BY platform";
    let local = run_text(&ctx, &q.replace("{t}", "pl")).await;
    assert_eq!(local, run_text(&ctx, &q.replace("{t}", "ps")).await);
    assert_eq!(local, run_text(&ctx, &q.replace("{t}", "cl")).await);
    assert_eq!(local, run_text(&ctx, &q.replace("{t}", "cs")).await);
}

/// Swath (NetCDF), profiles (Zarr) and in situ records (STORED AS INSITU, CSV and Parquet)
/// answer the same from S3 as from disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_sample_and_insitu_same_answers() {
    let s3 = server();
    let fx = common::fixtures_str();
    let obs = obs_dir().to_string_lossy().into_owned();
    let ctx = common::context();
    let pairs = [
        ("NETCDF", format!("{fx}/sample/swath/curved.nc"), format!("s3://{BUCKET}/sample/swath/curved.nc")),
        ("ZARR", format!("{fx}/sample/dsg/profile.zarr"), format!("s3://{BUCKET}/sample/dsg/profile.zarr")),
        ("INSITU", format!("{obs}/obs.csv"), format!("s3://{BUCKET}/obs/obs.csv")),
        ("INSITU", format!("{obs}/obs.parquet"), format!("s3://{BUCKET}/obs/obs.parquet")),
    ];
    let q = "SELECT count(*) AS n, count(lat) AS nl, sum(lat) AS la, sum(lon) AS lo, min(time) AS t0, max(time) AS t1, \
             count(DISTINCT CAST(granule AS VARCHAR)) AS g FROM {t} WHERE lat > -39.2";
    for (i, (format, local, remote)) in pairs.iter().enumerate() {
        run_text(&ctx, &format!("CREATE EXTERNAL TABLE l{i} STORED AS {format} LOCATION '{local}'")).await;
        run_text(&ctx, &format!("CREATE EXTERNAL TABLE r{i} STORED AS {format} LOCATION '{remote}' {}", s3.options())).await;
        let a = run_text(&ctx, &q.replace("{t}", &format!("l{i}"))).await;
        assert!(!a.contains("| 0 "), "{format} {local}: no rows\n{a}");
        assert_eq!(a, run_text(&ctx, &q.replace("{t}", &format!("r{i}"))).await, "{format}: {local} vs {remote}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_errors_are_clear() {
    let s3 = server();
    let ctx = common::context();
    let opts = s3.options();
    let cases = [
        (
            format!("CREATE EXTERNAL TABLE e1 STORED AS ZARR LOCATION 's3://no-such-bucket/daily_zarr/' {opts}"),
            vec!["s3://no-such-bucket/daily_zarr/".to_string(), "bucket 'no-such-bucket' does not exist".to_string()],
        ),
        (
            format!("CREATE EXTERNAL TABLE e2 STORED AS NETCDF LOCATION 's3://{BUCKET}/daily/*.nc4' {opts}"),
            vec![format!("s3://{BUCKET}/daily/*.nc4"), "matches no file".to_string()],
        ),
        (
            format!("CREATE EXTERNAL TABLE e3 STORED AS ZARR LOCATION 's3://{BUCKET}/nothing/here/' {opts}"),
            vec![format!("s3://{BUCKET}/nothing/here/"), "does not exist".to_string()],
        ),
        (
            format!("CREATE EXTERNAL TABLE e4 STORED AS ZARR LOCATION 's3://{BUCKET}/daily/' {opts}"),
            vec![format!("s3://{BUCKET}/daily/"), "matches no Zarr store".to_string()],
        ),
        (
            format!(
                "CREATE EXTERNAL TABLE e5 STORED AS NETCDF LOCATION 's3://{PRIVATE}/daily/*.nc' \
                 OPTIONS ('aws.access_key_id' '{}', 'aws.secret_access_key' 'wrong', 'aws.endpoint' '{}', 'aws.allow_http' 'true')",
                s3.key, s3.endpoint
            ),
            vec![format!("s3://{PRIVATE}/daily/*.nc"), "access denied".to_string()],
        ),
        (
            format!(
                "CREATE EXTERNAL TABLE e6 STORED AS PARQUET LOCATION 's3://{PRIVATE}/daily/x.parquet' \
                 OPTIONS ('aws.access_key_id' 'AKIAUNKNOWN', 'aws.secret_access_key' 'wrong', 'aws.endpoint' '{}', 'aws.allow_http' 'true')",
                s3.endpoint
            ),
            vec![format!("s3://{PRIVATE}/daily/x.parquet"), "access denied".to_string()],
        ),
        (
            format!("CREATE EXTERNAL TABLE e7 STORED AS ZARR LOCATION 's3://{BUCKET}/daily_zarr/' OPTIONS ('aws.acces_key' 'x')"),
            vec!["unknown storage option 'aws.acces_key'".to_string()],
        ),
    ];
    for (sql, wanted) in cases {
        let e = run_err(&ctx, &sql).await;
        for w in &wanted {
            assert!(e.contains(w.as_str()), "error for\n  {sql}\nshould contain '{w}', got\n  {e}");
        }
    }
}

/// Credentials and endpoint from the AWS_* environment variables, in a child process of
/// this test binary (environment variables are process-wide: setting them here would race
/// with the other tests); the NetCDF cache is relocated with OCEANQL_CACHE_DIR.
#[test]
fn s3_credentials_from_the_environment() {
    let s3 = server();
    let cache = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .args(["--exact", "s3::s3_environment_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("AWS_ACCESS_KEY_ID", &s3.key)
        .env("AWS_SECRET_ACCESS_KEY", &s3.secret)
        .env("AWS_ENDPOINT", &s3.endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_REGION", "us-east-1")
        .env("OCEANQL_CACHE_DIR", cache.path())
        .env("OCEANQL_FIXTURES", common::fixtures())
        .env("OCEANQL_S3_CHILD", "1")
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each NetCDF object was downloaded once into the relocated cache, whole.
    let cached: Vec<u64> = std::fs::read_dir(cache.path())
        .expect("cache dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".nc"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .collect();
    assert_eq!(cached.len(), 30, "cached files: {cached:?}");
    assert_eq!(cached.iter().sum::<u64>(), s3.size_under(BUCKET, "daily/"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by s3_credentials_from_the_environment in a child process"]
async fn s3_environment_child() {
    assert!(std::env::var("OCEANQL_S3_CHILD").is_ok(), "run by s3_credentials_from_the_environment");
    let fx = common::fixtures_str();
    let ctx = common::context();
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE nl STORED AS NETCDF LOCATION '{fx}/daily'")).await;
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE ns STORED AS NETCDF LOCATION 's3://{BUCKET}/daily/'")).await;
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE zl STORED AS ZARR LOCATION '{fx}/daily_zarr'")).await;
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE zs STORED AS ZARR LOCATION 's3://{BUCKET}/daily_zarr'")).await;
    let q = "SELECT count(sst) AS n, sum(sst) AS s FROM {t} WHERE lat BETWEEN -5 AND 5";
    assert_eq!(run_text(&ctx, &q.replace("{t}", "nl")).await, run_text(&ctx, &q.replace("{t}", "ns")).await);
    assert_eq!(run_text(&ctx, &q.replace("{t}", "zl")).await, run_text(&ctx, &q.replace("{t}", "zs")).await);
}

/// The index of a product on S3 is written beside it, in the same bucket, and read back by
/// the tables created over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_index_beside_the_data() {
    let s3 = server();
    let ctx = common::context();
    let location = format!("s3://{BUCKET}/daily_zarr/");
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE zs STORED AS ZARR LOCATION '{location}' {}", s3.options())).await;
    let spec = oceanql_engine::indexing::ProductSpec {
        format: oceanql_engine::grid_table::GridFormat::Zarr,
        pattern: None,
        locations: vec![location.clone()],
        names: Default::default(),
        index: oceanql_engine::indexing::IndexSetting::Beside,
        tile_size: None,
    };
    let (dir, refresh, _) =
        tokio::task::spawn_blocking(move || oceanql_engine::indexing::build_index(&spec, &|_, _| {})).await.expect("join").expect("index on S3");
    assert!(dir.starts_with(&format!("s3://{BUCKET}/daily_zarr/.oceanql-index/")), "{dir}");
    assert_eq!(refresh.added.len(), 30);
    let stored = oceanql_connectors::store::get_bytes(&format!("{dir}/tiles.parquet")).expect("get").expect("tiles.parquet on S3");
    assert!(!stored.is_empty());
    run_text(&ctx, &format!("CREATE EXTERNAL TABLE zi STORED AS ZARR LOCATION '{location}' {}", s3.options())).await;
    let flags = run_text(&ctx, "SELECT count(*) AS n, bool_and(has_statistics) AS all_stats FROM granules('zi')").await;
    assert!(flags.contains("| 30 | true"), "{flags}");
    assert_eq!(
        run_text(&ctx, "SELECT sum(sst_count) AS n, round(sum(sst_sum), 3) AS s FROM tiles('zi')").await,
        run_text(&ctx, "SELECT count(sst) AS n, round(sum(sst), 3) AS s FROM zs").await
    );
}
