//! The `oceanql` binary: an SQL REPL and script runner over ocean data, and the demo data writer.

mod catalog;
mod command;
mod demo;
mod error;
mod exec;
mod helper;
mod index_cmd;
mod plot;
mod print_format;
mod progress;
mod remote;
mod script;
mod serve_cmd;
mod worker_cmd;

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use datafusion::error::Result;

use crate::demo::{CONTENTS, DemoOptions, EXAMPLE_QUERIES, write_demo};
use crate::error::{message, usage};
use crate::exec::{Options, Session, Target, run_repl, stdout_closed};
use crate::print_format::Format;
use crate::remote::{ConnectOptions, Remote};
use crate::script::{Piece, split};

const EXAMPLES: &str = "\
Examples:
  oceanql                                  open the REPL (\\? lists its commands)
  oceanql -f catalog.sql -c 'SELECT count(*) FROM sst'
  oceanql -c \"SELECT * FROM 'drifters.parquet' LIMIT 5\" --format json
  oceanql -f query.sql -o result.parquet   write the last statement's result to a file
  oceanql --demo -c 'SELECT time, avg(sst) FROM sst GROUP BY 1' --plot sst.png
                                           draw the last result: time series, map or Hovmöller diagram
  oceanql demo ./oceanql-demo              write the demo data and its catalog.sql
  oceanql index -f catalog.sql [TABLE...]  build/refresh the granule and tile index
  oceanql --demo                           open the REPL on the demo data
  oceanql serve -f catalog.sql --token T --addr 0.0.0.0:50051
                                           serve the tables over Arrow Flight SQL (Python, BI tools)
  oceanql --connect grpc://host:50051 --token T
                                           the REPL (or -f/-c) against a server
  oceanql --demo -c '\\d'                   list the demo tables

Commands in the REPL, in -f files and in -c (a line starting with a backslash):
  \\? help   \\d list tables   \\d NAME columns with units   \\df [PATTERN] functions
  \\timing   \\format table|csv|json   \\i FILE   \\plot [FILE.png]   \\q

Files (-f) run first, in order, then commands (-c), in order, in one session;
the first error stops the run with exit status 1. Without -f or -c, SQL is read
from stdin when it is not a terminal.";

/// SQL over ocean data (NetCDF, Zarr, Parquet, CSV), on Apache DataFusion.
#[derive(Debug, Parser)]
#[command(name = "oceanql", version, after_help = EXAMPLES, args_conflicts_with_subcommands = true)]
struct Args {
    /// Run the SQL statements and \commands in FILE (repeatable)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,

    /// Run SQL (one or more statements separated by ';') or a \command (repeatable)
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,

    /// Output format [default: table on a terminal, csv otherwise; with -o, from the file extension]
    #[arg(long, value_enum, value_name = "FORMAT")]
    format: Option<Format>,

    /// Write the result of the last statement to FILE instead of stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,

    /// Draw the result of the last statement into FILE.png instead of printing it: a time series
    /// (a time column and numeric columns), a map (lat, lon and a numeric column) or a Hovmöller
    /// diagram (time, lat or lon, and a numeric column)
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,

    /// Print only results and errors: no banner, row counts, notes or spinner
    #[arg(short, long)]
    quiet: bool,

    /// Rows a table shows before it is cut, 0 for all [default: 40 in the REPL, all otherwise]
    #[arg(long, value_name = "N")]
    maxrows: Option<usize>,

    /// Load the demo data (writing it first if needed), then run -f/-c or open the REPL
    #[arg(long)]
    demo: bool,

    /// Where --demo finds or writes the demo data
    #[arg(long, value_name = "DIR", default_value = "oceanql-demo", requires = "demo")]
    demo_dir: PathBuf,

    /// Run statements, \d and \df on an `oceanql serve` (or another Arrow Flight SQL server)
    /// instead of in this process: grpc://HOST:PORT, or grpc+tls://HOST:PORT
    #[arg(long, value_name = "URL", conflicts_with = "demo")]
    connect: Option<String>,

    /// Token the server asks for (--connect) [default: $OCEANQL_TOKEN]
    #[arg(long, value_name = "TOKEN", requires = "connect")]
    token: Option<String>,

    /// PEM certificate of the CA (or the server's self-signed certificate) for grpc+tls://
    #[arg(long, value_name = "FILE", requires = "connect")]
    tls_ca: Option<PathBuf>,

    #[command(flatten)]
    workers: worker_cmd::WorkersArgs,

    #[command(subcommand)]
    command: Option<Subcommands>,
}

#[derive(Debug, Subcommand)]
enum Subcommands {
    /// Write the demo data set (NetCDF, Zarr, Parquet) and its catalog.sql
    Demo {
        /// Directory to write to
        #[arg(default_value = "oceanql-demo")]
        dir: PathBuf,
        /// Write the larger benchmark variant
        #[arg(long)]
        benchmark: bool,
    },
    /// Build or refresh the granule/tile index of tables: footprints, bounds and
    /// per-tile statistics, as Parquet beside the data (only new or changed files are read)
    Index {
        /// SQL files that create the tables (the catalog), run first (repeatable)
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        files: Vec<PathBuf>,
        /// SQL that creates tables (repeatable)
        #[arg(short = 'c', long = "command", value_name = "SQL")]
        commands: Vec<String>,
        /// Print nothing but errors
        #[arg(short, long)]
        quiet: bool,
        /// Tables to index [default: every NetCDF and Zarr table of the catalog]
        tables: Vec<String>,
    },
    /// Serve the tables over Arrow Flight SQL (ADBC, pyarrow.flight, JDBC, BI tools)
    Serve(serve_cmd::ServeArgs),
    /// Run plan fragments for coordinators (`oceanql --workers`, `oceanql serve --workers`):
    /// a datafusion-distributed worker with OceanQL's tables and functions
    Worker(worker_cmd::WorkerArgs),
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&usage(format!("cannot start the runtime: {err}"))),
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) if stdout_closed() => ExitCode::SUCCESS,
        Err(err) => fail(&err),
    }
}

fn fail(err: &datafusion::error::DataFusionError) -> ExitCode {
    eprintln!("Error: {}", message(err));
    ExitCode::FAILURE
}

async fn run(args: Args) -> Result<()> {
    match args.command {
        Some(Subcommands::Demo { dir, benchmark }) => return write_demo_and_report(&DemoOptions { dir, benchmark }),
        Some(Subcommands::Index { files, commands, quiet, tables }) => {
            return index_cmd::run(index_cmd::IndexArgs { files, commands, tables, quiet }).await;
        }
        Some(Subcommands::Serve(args)) => return serve_cmd::run(args).await,
        Some(Subcommands::Worker(args)) => return worker_cmd::run(args).await,
        None => {}
    }
    let interactive = args.files.is_empty() && args.commands.is_empty() && std::io::stdin().is_terminal();
    let target = output_target(&args, interactive)?;
    let mut session = session(&args, options(&args, interactive)).await?;
    if args.demo {
        load_demo(&mut session, &args.demo_dir, interactive).await?;
    }
    if interactive {
        return run_repl(&mut session).await;
    }
    let pieces = script_pieces(&args)?;
    session.run_pieces(&pieces, &target).await?;
    match &args.plot {
        Some(path) => session.plot(path),
        None => Ok(()),
    }
}

/// A session in this process, or on the server of `--connect`.
async fn session(args: &Args, options: Options) -> Result<Session> {
    if let Some(url) = &args.connect {
        let token = args.token.clone().or_else(|| std::env::var("OCEANQL_TOKEN").ok());
        let connect = ConnectOptions { url: url.clone(), token, tls_ca: args.tls_ca.clone() };
        return Ok(Session::connected(Remote::connect(&connect).await?, options));
    }
    // Like datafusion-cli: `SELECT * FROM 'file.parquet'` reads a file without registering it.
    let ctx = worker_cmd::context(&args.workers, true).await?;
    Ok(Session::new(ctx, options))
}

/// Session settings from the flags.
fn options(args: &Args, interactive: bool) -> Options {
    let terminal = std::io::stdout().is_terminal();
    let default_format = if terminal || interactive { Format::Table } else { Format::Csv };
    let format = args.format.filter(|f| *f != Format::Parquet).unwrap_or(default_format);
    let maxrows = match args.maxrows {
        Some(0) => None,
        Some(n) => Some(n),
        None => interactive.then_some(40),
    };
    let progress = !args.quiet && std::io::stderr().is_terminal();
    Options { format, maxrows, timing: false, quiet: args.quiet, progress }
}

/// Where the last statement's result goes: `-o FILE` in the format given or
/// implied by its extension (CSV otherwise), else stdout.
fn output_target(args: &Args, interactive: bool) -> Result<Target> {
    if interactive && args.plot.is_some() {
        return Err(usage("--plot FILE needs -c or -f (or SQL on stdin); in the REPL use \\plot FILE"));
    }
    let Some(path) = &args.output else {
        if args.format == Some(Format::Parquet) {
            return Err(usage("--format parquet needs -o FILE"));
        }
        return Ok(if args.plot.is_some() { Target::Discard } else { Target::Stdout });
    };
    if interactive {
        return Err(usage("-o FILE needs -c or -f (or SQL on stdin)"));
    }
    let format = args.format.or_else(|| Format::from_path(path)).unwrap_or(Format::Csv);
    Ok(Target::File { path: path.clone(), format })
}

/// All `-f` files, then all `-c` commands, or stdin when neither is given.
fn script_pieces(args: &Args) -> Result<Vec<Piece>> {
    let mut pieces = exec::script_pieces(&args.files, &args.commands)?;
    if args.files.is_empty() && args.commands.is_empty() {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| usage(format!("cannot read stdin: {e}")))?;
        pieces = split(&text).pieces;
    }
    Ok(pieces)
}

/// `oceanql demo`: writes the data and lists what is in the directory.
fn write_demo_and_report(options: &DemoOptions) -> Result<()> {
    let catalog = write_demo(options)?;
    println!("Wrote the OceanQL demo data to {}:", options.dir.display());
    for (name, bytes) in dir_listing(&options.dir)? {
        let table = CONTENTS.iter().find(|(entry, _)| *entry == name).map_or("", |(_, what)| what);
        println!("  {name:<17} {:>8}  {table}", human_size(bytes));
    }
    println!("\nTry it:\n  oceanql -f {}\n  oceanql --demo --demo-dir {}", catalog.display(), options.dir.display());
    Ok(())
}

/// `--demo`: writes the data unless `DIR/catalog.sql` exists, registers its
/// tables and, in the REPL, shows the example queries.
async fn load_demo(session: &mut Session, dir: &Path, interactive: bool) -> Result<()> {
    let mut catalog = dir.join("catalog.sql");
    if !catalog.exists() {
        if !session.options.quiet {
            eprintln!("Writing the demo data to {} ...", dir.display());
        }
        catalog = write_demo(&DemoOptions { dir: dir.to_path_buf(), benchmark: false })?;
    }
    session.run_file(&catalog, &Target::Stdout).await?;
    if interactive && !session.options.quiet {
        println!("Demo tables are loaded from {}. Example queries:\n", catalog.display());
        for (title, sql) in EXAMPLE_QUERIES {
            println!("-- {title}\n{};\n", sql.trim().trim_end_matches(';'));
        }
    }
    Ok(())
}

/// (name, size in bytes) of the entries in `dir`; directories count their files.
fn dir_listing(dir: &Path) -> Result<Vec<(String, u64)>> {
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let mut name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() {
            name.push('/');
        }
        entries.push((name, tree_size(&entry.path())));
    }
    entries.sort();
    Ok(entries)
}

fn tree_size(path: &Path) -> u64 {
    match std::fs::read_dir(path) {
        Ok(entries) => entries.flatten().map(|e| tree_size(&e.path())).sum(),
        Err(_) => std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KB", "MB", "GB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1024.0 && unit + 1 < UNITS.len() {
        size /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{bytes} B") } else { format!("{size:.1} {}", UNITS[unit]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("oceanql").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn files_and_commands_repeat() {
        let args = parse(&["-f", "a.sql", "-c", "SELECT 1", "-f", "b.sql", "-c", "SELECT 2"]);
        assert_eq!(args.files, vec![PathBuf::from("a.sql"), PathBuf::from("b.sql")]);
        assert_eq!(args.commands, vec!["SELECT 1", "SELECT 2"]);
    }

    #[test]
    fn output_format_comes_from_flag_or_extension() {
        let args = parse(&["-c", "SELECT 1", "-o", "out.parquet"]);
        let expected = Target::File { path: "out.parquet".into(), format: Format::Parquet };
        assert_eq!(output_target(&args, false).unwrap(), expected);
        let args = parse(&["-c", "SELECT 1", "-o", "out.txt", "--format", "json"]);
        assert!(matches!(output_target(&args, false).unwrap(), Target::File { format: Format::Json, .. }));
        let args = parse(&["-c", "SELECT 1", "-o", "out.txt"]);
        assert!(matches!(output_target(&args, false).unwrap(), Target::File { format: Format::Csv, .. }));
    }

    #[test]
    fn output_errors() {
        let args = parse(&["-c", "SELECT 1", "--format", "parquet"]);
        assert_eq!(message(&output_target(&args, false).unwrap_err()), "--format parquet needs -o FILE");
        let args = parse(&["-o", "out.csv"]);
        assert_eq!(message(&output_target(&args, true).unwrap_err()), "-o FILE needs -c or -f (or SQL on stdin)");
        let args = parse(&["--plot", "out.png"]);
        let err = message(&output_target(&args, true).unwrap_err());
        assert_eq!(err, "--plot FILE needs -c or -f (or SQL on stdin); in the REPL use \\plot FILE");
    }

    #[test]
    fn plot_replaces_printing_unless_output_is_given() {
        let args = parse(&["-c", "SELECT 1", "--plot", "out.png"]);
        assert_eq!(output_target(&args, false).unwrap(), Target::Discard);
        let args = parse(&["-c", "SELECT 1", "--plot", "out.png", "-o", "out.csv"]);
        assert!(matches!(output_target(&args, false).unwrap(), Target::File { .. }));
    }

    #[test]
    fn maxrows_defaults_to_40_in_the_repl_only() {
        assert_eq!(options(&parse(&[]), true).maxrows, Some(40));
        assert_eq!(options(&parse(&["-c", "x"]), false).maxrows, None);
        assert_eq!(options(&parse(&["--maxrows", "0"]), true).maxrows, None);
        assert_eq!(options(&parse(&["--maxrows", "5"]), false).maxrows, Some(5));
    }

    #[test]
    fn demo_subcommand_and_flag() {
        let args = parse(&["demo", "/tmp/d", "--benchmark"]);
        assert!(matches!(args.command, Some(Subcommands::Demo { benchmark: true, .. })));
        let args = parse(&["--demo", "--demo-dir", "/tmp/d", "-c", "SELECT 1"]);
        assert!(args.demo);
        assert_eq!(args.demo_dir, PathBuf::from("/tmp/d"));
        assert!(Args::try_parse_from(["oceanql", "--demo-dir", "x"]).is_err());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KB");
        assert_eq!(human_size(3 * 1024 * 1024), "3.0 MB");
    }
}
