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
        err.contains(
            "unknown command '\\x'; commands are \\? \\d \\df \\timing \\format \\i \\plot \\q (\\? for help)"
        ),
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
        "--plot <FILE.png>",
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

/// Every `sql-examples/NAME.sql` on the demo data: its output matches `NAME.expected.csv`,
/// and `NAME_check.py`, which computes the same result without OceanQL, agrees with that file.
#[test]
fn sql_examples_match_expected_output_and_independent_checks() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["demo", "data"]);
    let data = dir.path().join("data");
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql-examples");
    let mut names: Vec<String> = std::fs::read_dir(&examples)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".sql").map(String::from))
        .collect();
    names.sort();
    assert!(names.len() >= 5, "only {names:?} in {}", examples.display());
    // The Python checks run on another thread while oceanql runs the scripts.
    let (runs, checks) = std::thread::scope(|s| {
        let checks = s.spawn(|| names.iter().map(|n| check_example(&examples, n, &data)).collect::<Vec<_>>());
        let runs: Vec<_> = names.iter().map(|n| run_example(dir.path(), &examples, n)).collect();
        (runs, checks.join().unwrap())
    });
    let failures: Vec<String> = runs.into_iter().chain(checks).flatten().collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Runs `sql-examples/NAME.sql` on the demo in `dir/data`: a message unless its output
/// matches `NAME.expected.csv`.
fn run_example(dir: &Path, examples: &Path, name: &str) -> Option<String> {
    let script = examples.join(format!("{name}.sql"));
    let output = oceanql(dir, &["-f", "data/catalog.sql", "-f", script.to_str().unwrap()]);
    if !output.status.success() {
        return Some(format!("sql-examples/{name}.sql failed: {}", stderr(&output)));
    }
    let Ok(expected) = std::fs::read_to_string(examples.join(format!("{name}.expected.csv"))) else {
        return Some(format!("sql-examples/{name}.expected.csv is missing: sql-examples/regenerate.sh DIR {name} makes it"));
    };
    let diffs = csv_differences(&expected, &stdout(&output));
    (!diffs.is_empty())
        .then(|| format!("sql-examples/{name}.sql: the output differs from {name}.expected.csv:\n{}", diffs.join("\n")))
}

/// Runs `sql-examples/NAME_check.py DATA`: a message unless the independent computation
/// agrees with `NAME.expected.csv`.
fn check_example(examples: &Path, name: &str, data: &Path) -> Option<String> {
    let check = examples.join(format!("{name}_check.py"));
    if !check.exists() {
        return Some(format!("sql-examples/{name}_check.py is missing: every example needs its independent check"));
    }
    let out = Command::new(python()).arg(&check).arg(data).output().unwrap();
    (!out.status.success()).then(|| {
        format!("sql-examples/{name}_check.py failed:\n{}{}", stdout(&out), stderr(&out))
    })
}

/// The demo's monthly SST, wind and second-sensor swaths agree with an independent numpy
/// implementation of the formulas documented in `repl/src/demo.rs` (`tests/python/demo_reference.py`).
#[test]
fn demo_products_match_their_documented_formulas() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["demo", "data"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/demo_reference.py");
    let out = Command::new(python()).arg(&script).arg(dir.path().join("data")).output().unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(stdout(&out).lines().filter(|l| l.starts_with("ok ")).count(), 3, "{}", stdout(&out));
}

/// The test venv's python, created (or reused) by `tests/python/setup_venv.sh`.
fn python() -> &'static Path {
    static PYTHON: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    PYTHON.get_or_init(|| {
        let setup = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/python/setup_venv.sh");
        let out = Command::new("bash").arg(&setup).output().unwrap();
        assert!(out.status.success(), "tests/python/setup_venv.sh failed:\n{}", stderr(&out));
        let path = stdout(&out).lines().last().unwrap_or("").trim().to_string();
        assert!(Path::new(&path).exists(), "setup_venv.sh printed '{path}', which does not exist");
        path.into()
    })
}

/// Differences between an expected and a printed CSV text, line by line (at most 20):
/// integers, text and timestamps must be equal, floats within one unit of the last decimal
/// printed in their column (the most decimals in that column of that result, in either
/// text), as sums taken in another order can round a value on a half either way.
/// sql-examples/_common.py compares the same way.
fn csv_differences(expected: &str, printed: &str) -> Vec<String> {
    let e: Vec<(&str, Vec<String>)> = expected.lines().map(|l| (l, csv_fields(l))).collect();
    let p: Vec<(&str, Vec<String>)> = printed.lines().map(|l| (l, csv_fields(l))).collect();
    let mut diffs = Vec::new();
    if e.len() != p.len() {
        diffs.push(format!("{} lines expected, {} printed", e.len(), p.len()));
    }
    // A header line (every field a plain name) starts the next result.
    let sections: Vec<usize> = e
        .iter()
        .scan(0, |s, (_, fields)| {
            *s += usize::from(fields.iter().all(|f| is_name(f)));
            Some(*s)
        })
        .collect();
    let mut decimals = std::collections::HashMap::new();
    for rows in [&e, &p] {
        for ((_, fields), section) in rows.iter().zip(&sections) {
            for (j, d) in fields.iter().enumerate().filter_map(|(j, f)| Some((j, float_decimals(f)?))) {
                let max = decimals.entry((*section, j)).or_insert(d);
                *max = d.max(*max);
            }
        }
    }
    for (i, (((el, ef), (pl, pf)), section)) in e.iter().zip(&p).zip(&sections).enumerate() {
        let close = |j: usize, x: &String, y: &String| {
            let (Some(d), Ok(a), Ok(b)) = (decimals.get(&(*section, j)), x.parse::<f64>(), y.parse::<f64>()) else {
                return false;
            };
            float_decimals(x).is_some() && float_decimals(y).is_some() && (a - b).abs() <= 10f64.powi(-d) * (1.0 + 1e-6)
        };
        let same = ef.len() == pf.len() && ef.iter().zip(pf).enumerate().all(|(j, (x, y))| x == y || close(j, x, y));
        if !same {
            diffs.push(format!("line {}: expected {el}\n{:w$}printed  {pl}", i + 1, "", w = format!("line {}: ", i + 1).len()));
        }
        if diffs.len() >= 20 {
            diffs.push("...".into());
            break;
        }
    }
    diffs
}

/// The fields of one CSV line (double-quoted fields with "" escapes; no line breaks).
fn csv_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let (mut quoted, mut chars) = (false, line.chars().peekable());
    while let Some(c) = chars.next() {
        let field = fields.last_mut().unwrap();
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            _ => field.push(c),
        }
    }
    fields
}

fn is_name(field: &str) -> bool {
    field.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Decimals printed in a float field ("12.25" -> 2, "1e-7" -> 7); None for integers and text.
fn float_decimals(field: &str) -> Option<i32> {
    let numeric = field.chars().all(|c| c.is_ascii_digit() || "-.e".contains(c));
    if !numeric || !(field.contains('.') || field.contains('e')) || field.parse::<f64>().is_err() {
        return None;
    }
    let (mantissa, exponent) = field.split_once('e').unwrap_or((field, "0"));
    let fraction = mantissa.split_once('.').map_or(0, |(_, f)| f.len() as i32);
    Some(fraction - exponent.parse::<i32>().ok()?)
}

#[test]
fn csv_comparison_allows_one_unit_of_the_last_decimal_only() {
    let expected = "day,n,mean\n2023-01-01T00:00:00Z,3,28.689\n2023-01-02T00:00:00Z,4,28.7\nn\n1\n";
    assert!(csv_differences(expected, expected).is_empty());
    // A half rounded the other way; fewer decimals printed for the same column.
    let printed = "day,n,mean\n2023-01-01T00:00:00Z,3,28.688\n2023-01-02T00:00:00Z,4,28.701\nn\n1\n";
    assert!(csv_differences(expected, printed).is_empty(), "{:?}", csv_differences(expected, printed));
    // Two units, a different count, a missing line.
    for printed in [
        "day,n,mean\n2023-01-01T00:00:00Z,3,28.687\n2023-01-02T00:00:00Z,4,28.7\nn\n1\n",
        "day,n,mean\n2023-01-01T00:00:00Z,3,28.689\n2023-01-02T00:00:00Z,5,28.7\nn\n1\n",
        "day,n,mean\n2023-01-01T00:00:00Z,3,28.689\n2023-01-02T00:00:00Z,4,28.7\nn\n2\n",
        "day,n,mean\n2023-01-01T00:00:00Z,3,28.689\nn\n1\n",
    ] {
        assert!(!csv_differences(expected, printed).is_empty(), "{printed}");
    }
    assert_eq!(csv_fields(r#"a,"b,""c""",,1.5"#), ["a", "b,\"c\"", "", "1.5"]);
    assert_eq!((float_decimals("1e-7"), float_decimals("97.0"), float_decimals("1365")), (Some(7), Some(1), None));
}

/// A PNG file read by this test's own decoder (not the encoder's code): checks the
/// signature and every chunk's CRC, inflates the image data and undoes the five PNG
/// filters; returns width, height and the distinct colours. Only 8-bit RGB, as we write.
/// The image must be on a white background: its corners and a third of it white.
fn decode_png(bytes: &[u8]) -> (u32, u32, std::collections::HashSet<[u8; 3]>) {
    use std::io::Read;
    assert_eq!(bytes[..8], [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'], "not a PNG signature");
    let (mut header, mut data, mut at) = (Vec::new(), Vec::new(), 8);
    loop {
        let length = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let (kind, body) = (&bytes[at + 4..at + 8], &bytes[at + 8..at + 8 + length]);
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(body);
        assert_eq!(crc.sum().to_be_bytes(), bytes[at + 8 + length..at + 12 + length], "bad CRC");
        match kind {
            b"IHDR" => header = body.to_vec(),
            b"IDAT" => data.extend_from_slice(body),
            b"IEND" => break,
            _ => {}
        }
        at += 12 + length;
    }
    let width = u32::from_be_bytes(header[0..4].try_into().unwrap());
    let height = u32::from_be_bytes(header[4..8].try_into().unwrap());
    assert_eq!(header[8..], [8, 2, 0, 0, 0], "only 8-bit RGB, not interlaced");
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&data[..]).read_to_end(&mut raw).unwrap();
    let stride = width as usize * 3;
    assert_eq!(raw.len(), (stride + 1) * height as usize);
    let mut image = vec![0u8; stride * height as usize];
    for row in 0..height as usize {
        let filter = raw[row * (stride + 1)];
        for i in 0..stride {
            let x = raw[row * (stride + 1) + 1 + i];
            let a = if i >= 3 { image[row * stride + i - 3] } else { 0 };
            let b = if row > 0 { image[(row - 1) * stride + i] } else { 0 };
            let c = if row > 0 && i >= 3 { image[(row - 1) * stride + i - 3] } else { 0 };
            let p = a as i32 + b as i32 - c as i32;
            let (pa, pb, pc) = ((p - a as i32).abs(), (p - b as i32).abs(), (p - c as i32).abs());
            let paeth = if pa <= pb && pa <= pc { a } else if pb <= pc { b } else { c };
            let predicted = match filter {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((a as u16 + b as u16) / 2) as u8,
                4 => paeth,
                other => panic!("unknown filter {other}"),
            };
            image[row * stride + i] = x.wrapping_add(predicted);
        }
    }
    let pixels: Vec<[u8; 3]> = image.chunks_exact(3).map(|p| [p[0], p[1], p[2]]).collect();
    let white = pixels.iter().filter(|p| **p == [255, 255, 255]).count();
    assert!(white > pixels.len() / 3, "{white} white pixels of {}", pixels.len());
    let corners = [0, width as usize - 1, pixels.len() - width as usize, pixels.len() - 1];
    assert!(corners.iter().all(|&i| pixels[i] == [255, 255, 255]), "corners not white");
    (width, height, pixels.into_iter().collect())
}

fn read_png(path: &Path) -> (u32, u32, std::collections::HashSet<[u8; 3]>) {
    decode_png(&std::fs::read(path).unwrap())
}

const DAILY: &str = "SELECT to_timestamp_seconds(1672531200 + v * 86400) AS day, 15 + 5 * sin(v / 10.0) AS sst, \
     CASE WHEN v % 50 < 3 THEN NULL ELSE 14 + 3 * cos(v / 20.0) END AS air FROM generate_series(0, 364) AS t(v)";

/// lat, lon (1° cells over 10°S-10°N, 30°W-30°E) and sst = 20 + lat + lon / 10, NULL on a box.
const GRID: &str = "SELECT lat, lon, CASE WHEN lat > 5 AND lon > 20 THEN NULL ELSE 20 + lat + lon / 10 END AS sst \
     FROM (SELECT a - 9.5 AS lat FROM generate_series(0, 19) t(a)) CROSS JOIN (SELECT b - 29.5 AS lon FROM generate_series(0, 59) t(b))";

#[test]
fn plot_draws_a_time_series_and_a_map() {
    let dir = workspace();
    let output = oceanql(dir.path(), &["-c", DAILY, "--plot", "series.png"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output), "", "--plot replaces printing");
    assert_eq!(stderr(&output), "Wrote a time series of sst, air to series.png.\n");
    let (width, height, colours) = read_png(&dir.path().join("series.png"));
    assert_eq!((width, height), (1000, 600));
    assert!(colours.len() > 20, "{} colours", colours.len());
    for line in [[31, 119, 180], [255, 127, 14]] {
        assert!(colours.contains(&line), "no line coloured {line:?}");
    }

    let output = oceanql(dir.path(), &["-c", GRID, "--plot", "map.png", "-o", "map.csv"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "Wrote a map of sst to map.png.\n");
    assert!(std::fs::read_to_string(dir.path().join("map.csv")).unwrap().starts_with("lat,lon,sst\n"));
    let (width, height, colours) = read_png(&dir.path().join("map.png"));
    assert_eq!((width, height), (1000, 600));
    // The lowest and highest cells have the ends of viridis.
    assert!(colours.contains(&[68, 1, 84]) && colours.contains(&[254, 232, 37]), "no ends of viridis");
}

#[test]
fn plot_draws_hovmoller_diagrams_and_one_day_maps() {
    let dir = workspace();
    let hovmoller = "SELECT to_timestamp_seconds(1672531200 + d * 86400) AS day, a - 59.5 AS lat, 20 - abs(a - 60) / 4.0 + d / 30.0 AS sst \
         FROM generate_series(0, 119) t(a) CROSS JOIN generate_series(0, 89) u(d)";
    let output = oceanql(dir.path(), &["-c", hovmoller, "--plot", "hov.png"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stderr(&output), "Wrote a Hovmöller diagram (time x lat) of sst to hov.png.\n");
    let (width, height, colours) = read_png(&dir.path().join("hov.png"));
    assert_eq!((width, height), (1000, 600));
    assert!(colours.contains(&[68, 1, 84]) && colours.contains(&[254, 232, 37]), "no ends of viridis");

    let one_day = format!("SELECT TIMESTAMP '2023-08-01' AS time, * FROM ({GRID})");
    let output = oceanql(dir.path(), &["-q", "-c", &one_day, "--plot", "day.png"]);
    assert!(output.status.success() && stderr(&output).is_empty(), "{}", stderr(&output));
    assert_eq!(read_png(&dir.path().join("day.png")).0, 1000);
}

#[test]
fn plot_command_draws_the_last_result() {
    let dir = workspace();
    let output = oceanql(dir.path(), &["-c", DAILY, "-c", "\\plot 'my plot.png'", "-c", "\\plot"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).starts_with("day,sst,air\n2023-01-01T00:00:00,15.0,\n"), "{}", stdout(&output));
    let err = stderr(&output);
    assert!(err.contains("Wrote a time series of sst, air to my plot.png.\nWrote a time series of sst, air to oceanql-plot.png.\n"), "{err}");
    assert_eq!(read_png(&dir.path().join("my plot.png")).1, 600);
    assert_eq!(read_png(&dir.path().join("oceanql-plot.png")).1, 600);
}

#[test]
fn plot_errors() {
    let dir = workspace();
    let many = "SELECT to_timestamp_seconds(v) AS t, v FROM generate_series(1, 2000001) AS g(v)";
    let cases: [(&[&str], &str); 10] = [
        (&["-c", "\\plot x.png"], "nothing to plot: run a query first"),
        (&["-c", "CREATE TABLE t AS VALUES (1)", "--plot", "x.png"], "nothing to plot: the last statement returned no columns"),
        (&["-c", "SELECT 1 AS n WHERE false", "--plot", "x.png"], "nothing to plot: the last result has no rows"),
        (
            &["-f", "catalog.sql", "-c", "SELECT platform_id, lat, sst FROM drifters", "--plot", "x.png"],
            "cannot plot columns platform_id (Int64), lat (Float64), sst (Float64): a time series needs",
        ),
        (&["-c", "SELECT 'a' AS name, now() AS t", "--plot", "x.png"], "cannot plot column name (Utf8): it is neither a time, lat, lon nor a number"),
        (&["-c", "SELECT now() AS t, NULL::double AS v", "--plot", "x.png"], "nothing to plot: every value of v is NULL"),
        (&["-c", DAILY, "--plot", "/no/such/dir/x.png"], "cannot write /no/such/dir/x.png: No such file or directory"),
        (&["-c", DAILY, "--plot", "x.svg"], "cannot plot to x.svg: plots are PNG files, name it FILE.png"),
        (&["-c", many, "--plot", "x.png"], "cannot plot 2000001 rows (at most 2000000): aggregate the result first"),
        (
            &["-c", &format!("SELECT CASE WHEN lat > 0 THEN DATE '2023-08-02' ELSE DATE '2023-08-01' END AS time, * FROM ({GRID})"), "--plot", "x.png"],
            "a map needs one time, and time goes from 2023-08-01 to 2023-08-02: choose one (WHERE time = ...) or aggregate over time (GROUP BY lat, lon)",
        ),
    ];
    for (args, expected) in cases {
        let err = fails(dir.path(), args);
        assert!(err.starts_with(&format!("Error: {expected}")), "{args:?}: {err}");
    }
    assert!(!dir.path().join("x.png").exists());
}
