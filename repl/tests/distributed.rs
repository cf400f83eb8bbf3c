//! Distributed execution: `oceanql worker` processes on 127.0.0.1 (free ports) and a
//! coordinator (`oceanql --workers`) give the answers of a single process, split the scans
//! over both workers, and fail clearly when a worker dies.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The demo data set, written once for all tests.
fn demo() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = oceanql(dir.path(), &["demo", "data"]);
        assert!(out.status.success(), "oceanql demo: {}", text(&out.stderr));
        dir
    })
    .path()
}

fn catalog() -> String {
    demo().join("data/catalog.sql").display().to_string()
}

fn oceanql(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oceanql")).args(args).current_dir(dir).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A running `oceanql worker` with its stderr collected; killed when dropped.
struct Worker {
    child: Child,
    addr: String,
    log: Arc<Mutex<String>>,
}

impl Worker {
    fn start() -> Worker {
        let catalog = catalog();
        let mut child = Command::new(env!("CARGO_BIN_EXE_oceanql"))
            .args(["worker", "--bind", "127.0.0.1:0", "-f", &catalog])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oceanql worker");
        let log = Arc::new(Mutex::new(String::new()));
        let (mut stderr, sink) = (child.stderr.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            let mut buf = String::new();
            let _ = stderr.read_to_string(&mut buf);
            if let Ok(mut log) = sink.lock() {
                log.push_str(&buf);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
        let addr = first.strip_prefix("OceanQL worker listening on ").unwrap_or("").to_string();
        let said = log.lock().map(|l| l.clone()).unwrap_or_default();
        assert!(addr.starts_with("127.0.0.1:"), "worker said {first:?}; log: {said}");
        std::thread::spawn(move || for _ in lines {});
        Worker { child, addr, log }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `args` in one process and with `--workers`: both must succeed; returns both outputs.
fn both(workers: &str, args: &[&str]) -> (String, String) {
    let single = oceanql(demo(), args);
    assert!(single.status.success(), "oceanql {args:?}: {}", text(&single.stderr));
    let mut distributed_args = vec!["--workers", workers];
    distributed_args.extend(args);
    let distributed = oceanql(demo(), &distributed_args);
    assert!(distributed.status.success(), "oceanql {distributed_args:?}: {}", text(&distributed.stderr));
    (text(&single.stdout), text(&distributed.stdout))
}

/// The lines of a result sorted, for results whose order is not defined.
fn sorted(output: &str) -> String {
    let mut lines: Vec<&str> = output.lines().collect();
    lines.sort();
    lines.join("\n")
}

/// Whether two printed results agree: the same text, except that a float may differ by one
/// unit of its last printed decimal (sums taken in another order round a half either way,
/// as the sql-examples comparison with the independent checks allows).
fn same_output(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x == y || same_line(x, y))
}

fn same_line(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split(',').collect(), b.split(',').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x == y || within_last_decimal(x, y))
}

fn within_last_decimal(a: &str, b: &str) -> bool {
    let decimals = |s: &str| s.split_once('.').map_or(0, |(_, d)| d.len() as i32);
    let (Ok(x), Ok(y)) = (a.parse::<f64>(), b.parse::<f64>()) else { return false };
    (x - y).abs() <= 1.01 * 10f64.powi(-decimals(a).max(decimals(b)))
}

/// Queries whose scans are pushed down or that call OceanQL's functions (no ORDER BY: compared sorted).
const QUERIES: &[&str] = &[
    "SELECT count(*), round(avg(sst), 6), min(time), max(time) FROM sst",
    "SELECT count(*), round(sum(sst), 3) FROM sst WHERE lat BETWEEN 10 AND 40 AND lon BETWEEN -150 AND -120 \
     AND time BETWEEN '2023-03-01' AND '2023-03-20'",
    "SELECT date_trunc('month', time) AS m, count(sst), round(avg(sst), 6) FROM sst WHERE lat > 50 GROUP BY m",
    "SELECT granule, time_index, count(*) FROM sst WHERE lat BETWEEN -1 AND 1 AND lon BETWEEN 0 AND 2 GROUP BY 1, 2",
    "SELECT count(*), round(avg(sst), 6) FROM sst_zarr WHERE lat BETWEEN -30 AND 30",
    "SELECT count(*), round(avg(sea_surface_temperature), 6), round(max(haversine_km(lat, lon, 0.0, 0.0)), 3) FROM l2p \
     WHERE lat BETWEEN 20 AND 50",
    "SELECT count(*), count(DISTINCT granule) FROM l2p WHERE ST_Intersects(ST_Point(lon, lat), \
     ST_GeomFromText('POLYGON((-160 20, -120 20, -120 50, -160 50, -160 20))'))",
    "SELECT platform_id, count(*), round(avg(sst), 6) FROM drifters GROUP BY platform_id",
    "SELECT round(lat), count(*), round(avg(sst), 6) FROM sst_monthly WHERE time >= '2020-01-01' \
     AND lat BETWEEN -60 AND 60 AND lon BETWEEN -140 AND -100 GROUP BY 1",
    "SELECT d.platform_id, count(*), round(avg(d.sst - s.sst), 6) FROM drifters d JOIN sst s \
     ON s.time = date_trunc('day', d.time) AND s.lat = floor(d.lat) + 0.5 AND s.lon = floor(d.lon) + 0.5 GROUP BY 1",
];

/// Queries on an in situ table `di` (three files).
const INSITU_QUERIES: &[&str] = &[
    "SELECT count(*), count(DISTINCT granule), round(avg(sst), 6) FROM di WHERE lat > 0 AND time < '2023-07-01'",
    "SELECT d.platform_id, count(*), round(avg(d.sst - s.sst), 6) FROM di d JOIN sst s \
     ON s.time = date_trunc('day', d.time) AND s.lat = floor(d.lat) + 0.5 AND s.lon = floor(d.lon) + 0.5 GROUP BY 1",
];

#[test]
fn sql_examples_and_pushdown_queries_give_the_single_process_answers() {
    let (a, b) = (Worker::start(), Worker::start());
    let workers = format!("{},{}", a.addr, b.addr);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql-examples");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    let catalog = catalog();
    let mut failures = Vec::new();
    for script in &names {
        let script = script.display().to_string();
        let (single, distributed) = both(&workers, &["-f", &catalog, "-f", &script]);
        if !same_output(&single, &distributed) {
            failures.push(format!("{script}:\n--- one process\n{single}\n--- with workers\n{distributed}"));
        }
    }
    for sql in QUERIES {
        let (single, distributed) = both(&workers, &["-f", &catalog, "-c", sql]);
        assert!(single.lines().count() >= 2, "{sql}: no rows:\n{single}");
        if !same_output(&sorted(&single), &sorted(&distributed)) {
            failures.push(format!("{sql}:\n--- one process\n{single}\n--- with workers\n{distributed}"));
        }
    }
    // STORED AS INSITU (our own scan, split by files): two copies of the drifters in a directory.
    let insitu = demo().join("insitu");
    std::fs::create_dir_all(&insitu).unwrap();
    for name in ["a.parquet", "b.parquet", "c.parquet"] {
        std::fs::copy(demo().join("data/drifters.parquet"), insitu.join(name)).unwrap();
    }
    let create = format!("CREATE EXTERNAL TABLE di STORED AS INSITU LOCATION '{}/'", insitu.display());
    for sql in INSITU_QUERIES {
        let (single, distributed) = both(&workers, &["-f", &catalog, "-c", &create, "-c", sql]);
        if !same_output(&sorted(&single), &sorted(&distributed)) {
            failures.push(format!("{sql}:\n--- one process\n{single}\n--- with workers\n{distributed}"));
        }
    }
    let logs = [&a, &b].map(|w| w.log.lock().map(|l| l.clone()).unwrap_or_default());
    assert!(failures.is_empty(), "{}\nworker logs:\n{}\n{}", failures.join("\n\n"), logs[0], logs[1]);
}

#[test]
fn output_comparison_allows_one_unit_of_the_last_decimal_only() {
    assert!(same_output("a,b\n1,0.252\n", "a,b\n1,0.251\n"));
    assert!(same_output("x\n20.684187", "x\n20.684188"));
    assert!(!same_output("x\n0.252", "x\n0.250"));
    assert!(!same_output("x\nfoo", "x\nbar"));
    assert!(!same_output("x\n1", "x\n1\n2"));
}

#[test]
fn explain_analyze_shows_the_tasks_on_both_workers() {
    let (a, b) = (Worker::start(), Worker::start());
    let workers = format!("{},{}", a.addr, b.addr);
    let sql = "EXPLAIN ANALYZE SELECT date_trunc('month', time) AS m, avg(sst) FROM sst GROUP BY m";
    let out = oceanql(demo(), &["--workers", &workers, "-f", &catalog(), "--format", "csv", "-c", sql]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("Stage 1") && plan.contains("tasks=2"), "{plan}");
    assert!(plan.contains("DistributedLeafExec") && plan.contains("GridScanExec"), "{plan}");
    for w in [&a.addr, &b.addr] {
        assert!(plan.contains(w.as_str()), "worker {w} is not in the plan:\n{plan}");
    }
    assert!(plan.contains("bytes_read=") && plan.contains("output_rows="), "{plan}");
}

#[test]
fn a_killed_worker_fails_the_query_with_its_address_and_the_next_query_runs_on_the_others() {
    let (mut a, b) = (Worker::start(), Worker::start());
    let workers = format!("{},{}", a.addr, b.addr);
    // A scan-heavy query, over both workers; the first worker dies while it runs.
    let sql = "SELECT date_trunc('month', time) AS m, avg(sst) FROM sst GROUP BY m ORDER BY m";
    let catalog = catalog();
    let args = ["--workers", &workers, "-f", &catalog, "-c", sql];
    let query = Command::new(env!("CARGO_BIN_EXE_oceanql"))
        .args(args)
        .current_dir(demo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    a.child.kill().unwrap();
    let _ = a.child.wait();
    let started = Instant::now();
    let out = query.wait_with_output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(60), "the query hung after the worker died");
    let err = text(&out.stderr);
    if out.status.success() {
        // The dead worker's tasks were done: the answer must be the right one.
        let single = oceanql(demo(), &["-f", &catalog, "-c", sql]);
        assert_eq!(text(&out.stdout), text(&single.stdout));
    } else {
        assert!(err.contains(&a.addr), "the error does not name the dead worker {}: {err}", a.addr);
    }
    // The next query, with the same worker list, runs on the remaining worker.
    let out = oceanql(demo(), &["--workers", &workers, "-f", &catalog, "-c", "SELECT count(*) FROM sst WHERE lat > 0"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let single = oceanql(demo(), &["-f", &catalog, "-c", "SELECT count(*) FROM sst WHERE lat > 0"]);
    assert_eq!(text(&out.stdout), text(&single.stdout));
    drop(b);
}

#[test]
fn workers_file_lists_the_workers_and_serve_coordinates() {
    let (a, b) = (Worker::start(), Worker::start());
    let file = demo().join(format!("workers-{}.txt", std::process::id()));
    std::fs::write(&file, format!("# the cluster\n{}\n{}\n", a.addr, b.addr)).unwrap();
    let file = file.display().to_string();
    let sql = "EXPLAIN ANALYZE SELECT date_trunc('month', time) AS m, max(sst) FROM sst GROUP BY m";
    let out = oceanql(demo(), &["--workers-file", &file, "-f", &catalog(), "-c", sql]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains(&a.addr) && plan.contains(&b.addr), "{plan}");
    // `oceanql serve` coordinates too: its Flight SQL clients get the distributed plan.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_oceanql"))
        .args(["serve", "--addr", "127.0.0.1:0", "--workers-file", &file, "-f", &catalog()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The pipe stays open while the server runs (it writes a second line).
    let mut lines = BufReader::new(serve.stdout.take().unwrap()).lines();
    let first = lines.next().and_then(|l| l.ok()).unwrap_or_default();
    let uri = first.rsplit(' ').next().unwrap_or("").to_string();
    let out = oceanql(demo(), &["--connect", &uri, "--format", "csv", "-c", sql]);
    let _ = serve.kill();
    let _ = serve.wait();
    assert!(out.status.success(), "{first}: {}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("tasks=2") && plan.contains(&a.addr) && plan.contains(&b.addr), "{plan}");
    let err = text(&oceanql(demo(), &["--workers-file", "/nonexistent/workers", "-c", "SELECT 1"]).stderr);
    assert!(err.contains("--workers-file /nonexistent/workers"), "{err}");
    let err = text(&oceanql(demo(), &["--workers", "not an address", "-c", "SELECT 1"]).stderr);
    assert!(err.contains("'not an address' is not HOST:PORT"), "{err}");
}
