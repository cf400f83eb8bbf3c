//! Runs the built `oceanql` binary with -c, -f, --format and -o on CSV files the tests write.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use tempfile::TempDir;

const DRIFTERS_CSV: &str = "platform_id,lat,sst\n101,45.5,12.25\n101,45.75,12.5\n202,-10.0,27.0\n";

/// A directory with `drifters.csv` and `catalog.sql`, which registers it as `drifters`.
fn workspace() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("drifters.csv"), DRIFTERS_CSV).unwrap();
    let csv = dir.path().join("drifters.csv");
    let catalog = format!(
        "-- the test catalog\nCREATE EXTERNAL TABLE drifters STORED AS CSV LOCATION '{}'\n  \
         OPTIONS ('format.has_header' 'true');\n",
        csv.display()
    );
    std::fs::write(dir.path().join("catalog.sql"), catalog).unwrap();
    dir
}

fn oceanql(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oceanql")).args(args).current_dir(dir).output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs and checks success, returning stdout.
fn ok(dir: &Path, args: &[&str]) -> String {
    let output = oceanql(dir, args);
    assert!(output.status.success(), "oceanql {args:?} failed: {}", stderr(&output));
    stdout(&output)
}

/// Runs and checks failure with `Error: ` on stderr, returning the message.
fn fails(dir: &Path, args: &[&str]) -> String {
    let output = oceanql(dir, args);
    assert!(!output.status.success(), "oceanql {args:?} should fail; stdout: {}", stdout(&output));
    let err = stderr(&output);
    assert!(err.starts_with("Error: "), "stderr of {args:?}: {err}");
    err
}

#[test]
fn command_prints_csv_with_header_when_piped() {
    let dir = workspace();
    let out = ok(dir.path(), &["-c", "SELECT 1 AS one, 'a,b' AS text"]);
    assert_eq!(out, "one,text\n1,\"a,b\"\n");
}

#[test]
fn files_run_before_commands_in_one_session() {
    let dir = workspace();
    let sql = "SELECT platform_id, count(*) AS fixes FROM drifters GROUP BY 1 ORDER BY 1";
    let out = ok(dir.path(), &["-c", sql, "-f", "catalog.sql"]);
    assert_eq!(out, "platform_id,fixes\n101,2\n202,1\n");
}

#[test]
fn commands_and_files_repeat_in_order() {
    let dir = workspace();
    std::fs::write(dir.path().join("second.sql"), "CREATE VIEW warm AS SELECT * FROM drifters WHERE sst > 20;")
        .unwrap();
    let args = [
        "-f",
        "catalog.sql",
        "-f",
        "second.sql",
        "-c",
        "SELECT 1 AS a; SELECT 2 AS b",
        "-c",
        "SELECT count(*) AS n FROM warm",
    ];
    assert_eq!(ok(dir.path(), &args), "a\n1\nb\n2\nn\n1\n");
}

#[test]
fn csv_header_is_written_for_an_empty_result() {
    let dir = workspace();
    let out = ok(dir.path(), &["-f", "catalog.sql", "-c", "SELECT * FROM drifters WHERE sst > 100"]);
    assert_eq!(out, "platform_id,lat,sst\n");
}

#[test]
fn json_is_one_array_of_objects() {
    let dir = workspace();
    let out = ok(
        dir.path(),
        &["-f", "catalog.sql", "--format", "json", "-c", "SELECT platform_id, sst FROM drifters ORDER BY sst"],
    );
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.as_array().map(Vec::len), Some(3));
    assert_eq!(rows[2]["platform_id"], 202);
    assert_eq!(rows[0]["sst"], 12.25);
}

#[test]
fn table_format_and_maxrows() {
    let dir = workspace();
    let out = ok(dir.path(), &["--format", "table", "-c", "SELECT * FROM (VALUES (1), (2), (3)) AS t(x)"]);
    assert!(out.contains("| x |"), "{out}");
    assert!(out.ends_with("(3 rows)\n"), "{out}");
    let args = ["--format", "table", "--maxrows", "2", "-c", "SELECT * FROM (VALUES (1), (2), (3)) AS t(x)"];
    let out = ok(dir.path(), &args);
    assert!(!out.contains("| 3 |"), "{out}");
    assert!(out.ends_with("... 3 rows total, first 2 shown\n"), "{out}");
    let out = ok(dir.path(), &["-q", "--format", "table", "-c", "SELECT 1 AS x"]);
    assert!(out.ends_with("+---+\n"), "{out}");
}

#[test]
fn output_file_gets_the_last_result() {
    let dir = workspace();
    let out = ok(
        dir.path(),
        &["-f", "catalog.sql", "-c", "SELECT 'first' AS x; SELECT platform_id FROM drifters", "-o", "ids.csv"],
    );
    assert_eq!(out, "x\nfirst\n");
    let written = std::fs::read_to_string(dir.path().join("ids.csv")).unwrap();
    assert_eq!(written, "platform_id\n101\n101\n202\n");
}

#[test]
fn parquet_output_reads_back() {
    let dir = workspace();
    ok(dir.path(), &["-f", "catalog.sql", "-c", "SELECT * FROM drifters", "-o", "out.parquet"]);
    let out = ok(dir.path(), &["-c", "SELECT count(*) AS n, max(sst) AS warmest FROM 'out.parquet'"]);
    assert_eq!(out, "n,warmest\n3,27.0\n");
    let err = fails(dir.path(), &["-c", "SELECT 1", "--format", "parquet"]);
    assert_eq!(err, "Error: --format parquet needs -o FILE\n");
}

#[test]
fn output_file_needs_a_result_to_write() {
    let dir = workspace();
    let err = fails(dir.path(), &["-f", "catalog.sql", "-o", "out.csv"]);
    assert!(err.contains("nothing to write to out.csv: the last statement returned no columns"), "{err}");
}

#[test]
fn missing_file_is_an_error() {
    let dir = workspace();
    let err = fails(dir.path(), &["-f", "nope.sql", "-c", "SELECT 1"]);
    assert!(err.starts_with("Error: cannot read nope.sql: No such file"), "{err}");
}

#[test]
fn sql_error_stops_the_run() {
    let dir = workspace();
    let output = oceanql(dir.path(), &["-c", "SELECT 1 AS first; SELEC 2; SELECT 3 AS third"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(stdout(&output), "first\n1\n");
    let err = stderr(&output);
    assert!(err.starts_with("Error: SQL error: ParserError"), "{err}");
    assert!(err.contains("SELEC"), "{err}");
}

#[test]
fn column_typo_names_the_column() {
    let dir = workspace();
    let err = fails(dir.path(), &["-f", "catalog.sql", "-c", "SELECT sstt FROM drifters"]);
    assert!(err.contains("No field named sstt"), "{err}");
    assert!(err.contains("drifters.sst"), "{err}");
}

#[test]
fn unknown_table_is_an_error() {
    let dir = workspace();
    let err = fails(dir.path(), &["-c", "SELECT * FROM nowhere"]);
    assert!(err.contains("table 'datafusion.public.nowhere' not found"), "{err}");
}

#[test]
fn meta_commands_work_from_the_command_line() {
    let dir = workspace();
    let out = ok(dir.path(), &["-f", "catalog.sql", "-c", "\\d"]);
    assert!(out.starts_with("name,type,pattern,format,location,columns\ndrifters,table,,csv,"), "{out}");
    assert!(out.trim_end().ends_with(",3"), "{out}");
    let out = ok(dir.path(), &["-f", "catalog.sql", "-c", "\\d drifters"]);
    assert!(
        out.starts_with("column,type,nullable,units,standard_name,long_name\nplatform_id,Int64,true,,,\n"),
        "{out}"
    );
    let out = ok(dir.path(), &["-c", "\\df sqrt"]);
    assert!(out.starts_with("name,kind,description\nsqrt,scalar,"), "{out}");
    let out = ok(dir.path(), &["-c", "\\?"]);
    assert!(out.contains("\\timing"), "{out}");
}

#[test]
fn meta_command_errors() {
    let dir = workspace();
    let err = fails(dir.path(), &["-c", "\\x"]);
    assert!(
        err.contains("unknown command '\\x'; commands are \\? \\d \\df \\timing \\format \\i \\q (\\? for help)"),
        "{err}"
    );
    let err = fails(dir.path(), &["-c", "\\d nowhere"]);
    assert!(err.contains("No table named 'nowhere'"), "{err}");
    let err = fails(dir.path(), &["-c", "\\format xml"]);
    assert!(err.contains("unknown format 'xml': use table, csv or json"), "{err}");
    let err = fails(dir.path(), &["-c", "\\i missing.sql"]);
    assert!(err.starts_with("Error: cannot read missing.sql: "), "{err}");
}

#[test]
fn script_commands_change_the_session() {
    let dir = workspace();
    std::fs::write(
        dir.path().join("script.sql"),
        "\\i catalog.sql\n\\format json\n\\timing\nSELECT count(*) AS n FROM drifters;\n\\q\nSELECT 'never';",
    )
    .unwrap();
    let output = oceanql(dir.path(), &["-f", "script.sql"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "[{\"n\":3}]\n");
    let err = stderr(&output);
    assert!(err.contains("Output format is json.\nTiming is on.\nTime: "), "{err}");
}

#[test]
fn reads_sql_from_stdin() {
    let dir = workspace();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oceanql"))
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"SELECT 40 + 2 AS answer;\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "answer\n42\n");
}

#[test]
fn demo_flag_runs_an_existing_catalog() {
    let dir = workspace();
    let args = ["--demo", "--demo-dir", ".", "-c", "SELECT count(*) AS n FROM drifters"];
    assert_eq!(ok(dir.path(), &args), "n\n3\n");
    let err = String::from_utf8_lossy(&oceanql(dir.path(), &["--demo-dir", "."]).stderr).into_owned();
    assert!(err.contains("--demo"), "{err}");
}

#[test]
fn help_shows_flags_and_examples() {
    let dir = workspace();
    let out = ok(dir.path(), &["--help"]);
    for text in [
        "-f, --file <FILE>",
        "-c, --command <SQL>",
        "--format <FORMAT>",
        "-o, --output <FILE>",
        "--maxrows <N>",
        "demo",
        "Examples:",
    ] {
        assert!(out.contains(text), "missing {text} in:\n{out}");
    }
}

#[test]
fn demo_subcommand_reports_what_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["demo", "data"]);
    assert!(out.starts_with("Wrote the OceanQL demo data to data:\n"), "{out}");
    assert!(out.contains("  catalog.sql "), "{out}");
    assert!(out.contains("oceanql --demo --demo-dir data"), "{out}");
    assert!(dir.path().join("data/catalog.sql").exists());
}

#[test]
fn closed_stdout_ends_quietly() {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_oceanql"))
        .args(["-c", "SELECT * FROM generate_series(1, 2000000)"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 16];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap(); // then the pipe closes
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "");
}

/// Writes a small gridded NetCDF file: sst(time=1, lat=4, lon=6) on day `day` of 2020.
fn write_grid(path: &Path, day: f64) {
    let mut file = netcdf::create(path).unwrap();
    file.add_dimension("time", 1).unwrap();
    file.add_dimension("lat", 4).unwrap();
    file.add_dimension("lon", 6).unwrap();
    let mut time = file.add_variable::<f64>("time", &["time"]).unwrap();
    time.put_attribute("units", "days since 2020-01-01").unwrap();
    time.put_values(&[day], ..).unwrap();
    let mut lat = file.add_variable::<f64>("lat", &["lat"]).unwrap();
    lat.put_attribute("units", "degrees_north").unwrap();
    lat.put_values(&[0.5, 1.5, 2.5, 3.5], ..).unwrap();
    let mut lon = file.add_variable::<f64>("lon", &["lon"]).unwrap();
    lon.put_attribute("units", "degrees_east").unwrap();
    lon.put_values(&[0.5, 1.5, 2.5, 3.5, 4.5, 5.5], ..).unwrap();
    let mut sst = file.add_variable::<f32>("sst", &["time", "lat", "lon"]).unwrap();
    let values: Vec<f32> = (0..24).map(|i| day as f32 + i as f32).collect();
    sst.put_values(&values, ..).unwrap();
}

#[test]
fn index_builds_then_refreshes_and_names_bad_tables() {
    let dir = workspace();
    std::fs::create_dir(dir.path().join("grid")).unwrap();
    for day in 0..3 {
        write_grid(&dir.path().join(format!("grid/g{day}.nc")), f64::from(day));
    }
    let catalog = std::fs::read_to_string(dir.path().join("catalog.sql")).unwrap()
        + "CREATE EXTERNAL TABLE g STORED AS NETCDF LOCATION 'grid/*.nc';\n";
    std::fs::write(dir.path().join("catalog.sql"), catalog).unwrap();

    let out = ok(dir.path(), &["index", "-f", "catalog.sql"]);
    assert!(out.starts_with("g: 3 granules (3 added, 0 changed, 0 removed, 0 unchanged), 3 tiles with statistics of sst -> grid/.oceanql-index/nc-"), "{out}");
    write_grid(&dir.path().join("grid/g3.nc"), 3.0);
    let out = ok(dir.path(), &["index", "-f", "catalog.sql", "g"]);
    assert!(out.starts_with("g: 4 granules (1 added, 0 changed, 0 removed, 3 unchanged)"), "{out}");
    // The table reads its statistics: sum of 4 files of 24 values, day + i
    let out = ok(dir.path(), &["-f", "catalog.sql", "-c", "SELECT sum(sst_sum) AS s, sum(sst_count) AS n FROM tiles('g')"]);
    assert_eq!(out, "s,n\n1248.0,96\n");

    // The index serves the same files named from another directory (`\d` notes go to stderr).
    let args = ["-c", "CREATE EXTERNAL TABLE g STORED AS NETCDF LOCATION '*.nc'", "-c", "\\d g"];
    let from_grid = oceanql(&dir.path().join("grid"), &args);
    assert!(from_grid.status.success() && stderr(&from_grid).contains("tile statistics for 4 of 4 granules"), "{}", stderr(&from_grid));

    assert!(fails(dir.path(), &["index"]).contains("-f catalog.sql"));
    assert!(fails(dir.path(), &["index", "-f", "catalog.sql", "nope"]).contains("no table 'nope' in the catalog (tables: drifters, g)"));
    let err = fails(dir.path(), &["index", "-f", "catalog.sql", "drifters"]);
    assert!(err.contains("table 'drifters' is not a NetCDF or Zarr table"), "{err}");
}

#[test]
fn matchups_example_reproduces_its_expected_output() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["demo", "data"]);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql-examples");
    let script = examples.join("matchups.sql");
    let out = ok(dir.path(), &["-f", "data/catalog.sql", "-f", script.to_str().unwrap()]);
    let expected = std::fs::read_to_string(examples.join("matchups.expected.csv")).unwrap();
    assert_eq!(out, expected);
}
