//! Runs SQL statements and backslash commands from files, `-c` strings and the interactive REPL.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::error::Result;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement as DFStatement};
use futures::StreamExt;
use rustyline::Editor;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;

use crate::catalog;
use crate::command::{Command, help_text};
use crate::error::{message, usage};
use crate::helper::SqlHelper;
use crate::plot;
use crate::print_format::{self, Format, Output, TableOptions};
use crate::progress::Progress;
use crate::remote::Remote;
use crate::script::{Piece, split};

/// The message of the error a Ctrl-C during a query gives.
pub const CANCELLED: &str = "query cancelled (Ctrl-C)";

/// Set when a write to stdout fails because its reader went away (`oceanql ... | head`).
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether stdout's reader went away; the error that caused is not worth reporting.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Buffered stdout that notes a broken pipe in [`STDOUT_CLOSED`].
struct Stdout(BufWriter<io::Stdout>);

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf).inspect_err(note_broken_pipe)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush().inspect_err(note_broken_pipe)
    }
}

fn note_broken_pipe(err: &io::Error) {
    if err.kind() == io::ErrorKind::BrokenPipe {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
    }
}

/// How deep `\i` may nest before we assume a file includes itself.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Settings the user can change while the session runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Format for results printed to stdout (never Parquet).
    pub format: Format,
    /// Rows a table shows before it is cut; `None` shows all.
    pub maxrows: Option<usize>,
    /// Print the elapsed time after each statement.
    pub timing: bool,
    /// No notes, row counts, spinner or banner; only results and errors.
    pub quiet: bool,
    /// Show the spinner on stderr for long queries.
    pub progress: bool,
}

/// Where the result of a statement goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Stdout,
    File { path: PathBuf, format: Format },
    /// Kept for `--plot` only, not printed.
    Discard,
}

/// Whether to go on after a piece (`\q` quits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// The result of the last statement, kept for `\plot` while it has at most
/// [`plot::MAX_ROWS`] rows.
#[derive(Debug, Default)]
enum LastResult {
    #[default]
    Nothing,
    NoColumns,
    Rows { schema: SchemaRef, batches: Vec<RecordBatch>, rows: usize },
}

impl LastResult {
    fn add(&mut self, batch: &RecordBatch) {
        if let LastResult::Rows { batches, rows, .. } = self {
            *rows += batch.num_rows();
            if *rows <= plot::MAX_ROWS {
                batches.push(batch.clone());
            } else {
                batches.clear();
            }
        }
    }
}

/// Where statements run: a DataFusion session in this process, or a Flight SQL server
/// (`--connect`).
pub enum Backend {
    Local(SessionContext),
    Remote(Box<Remote>),
}

/// Where statements run, plus the CLI's settings.
pub struct Session {
    pub backend: Backend,
    pub options: Options,
    depth: usize,
    sources: catalog::Sources,
    last: LastResult,
}

impl Session {
    pub fn new(ctx: SessionContext, options: Options) -> Session {
        Session::with_backend(Backend::Local(ctx), options)
    }

    /// A session whose statements run on the server `remote` (`oceanql --connect`).
    pub fn connected(remote: Remote, options: Options) -> Session {
        Session::with_backend(Backend::Remote(Box::new(remote)), options)
    }

    fn with_backend(backend: Backend, options: Options) -> Session {
        Session { backend, options, depth: 0, sources: catalog::Sources::default(), last: LastResult::Nothing }
    }

    /// Draws the last statement's result into the PNG file `path` (`\plot`, `--plot`).
    pub fn plot(&self, path: &Path) -> Result<()> {
        let (schema, batches) = match &self.last {
            LastResult::Nothing => return Err(usage("nothing to plot: run a query first")),
            LastResult::NoColumns => return Err(usage("nothing to plot: the last statement returned no columns")),
            LastResult::Rows { rows, .. } if *rows > plot::MAX_ROWS => {
                return Err(usage(format!(
                    "cannot plot {rows} rows (at most {}): aggregate the result first (GROUP BY ...)",
                    plot::MAX_ROWS
                )));
            }
            LastResult::Rows { schema, batches, .. } => (schema, batches),
        };
        let what = plot::plot(schema, batches, path)?;
        self.note(&format!("Wrote {what} to {}.", path.display()));
        Ok(())
    }

    /// Runs `text` (statements and commands), results to stdout.
    pub async fn run_text(&mut self, text: &str) -> Result<Flow> {
        self.run_pieces(&split(text).pieces, &Target::Stdout).await
    }

    /// Runs a script file; the result of its last statement goes to `last`.
    pub async fn run_file(&mut self, path: &Path, last: &Target) -> Result<Flow> {
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(usage(format!("\\i nested more than {MAX_INCLUDE_DEPTH} deep at {}", path.display())));
        }
        let text = read_script(path)?;
        self.depth += 1;
        let flow = self.run_pieces(&split(&text).pieces, last).await;
        self.depth -= 1;
        flow
    }

    /// Runs pieces in order and stops at the first error; the result of the
    /// last piece goes to `last`, the others to stdout.
    pub async fn run_pieces(&mut self, pieces: &[Piece], last: &Target) -> Result<Flow> {
        for (i, piece) in pieces.iter().enumerate() {
            let target = if i + 1 == pieces.len() { last } else { &Target::Stdout };
            if self.run_piece(piece, target).await? == Flow::Quit {
                return Ok(Flow::Quit);
            }
        }
        Ok(Flow::Continue)
    }

    async fn run_piece(&mut self, piece: &Piece, target: &Target) -> Result<Flow> {
        match piece {
            Piece::Sql(sql) => self.run_sql(sql, target).await.map(|_| Flow::Continue),
            Piece::Command(line) => self.run_command(line.parse()?, target).await,
        }
    }

    /// Runs one statement; Ctrl-C drops the query and gives [`CANCELLED`].
    async fn run_sql(&mut self, sql: &str, target: &Target) -> Result<()> {
        let started = Instant::now();
        tokio::select! {
            result = self.query(sql, target) => result?,
            _ = tokio::signal::ctrl_c() => return Err(usage(CANCELLED)),
        }
        if self.options.timing {
            eprintln!("Time: {:.3} s", started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    async fn query(&mut self, sql: &str, target: &Target) -> Result<()> {
        let stream = match &self.backend {
            Backend::Local(ctx) => {
                let ctx = ctx.clone();
                let frame = ctx.sql(sql).await?;
                self.remember_source(&ctx, sql).await;
                frame.execute_stream().await?
            }
            Backend::Remote(remote) => remote.query(sql).await?,
        };
        self.write_stream(stream, target).await
    }

    /// Records format and location of a table made by `CREATE EXTERNAL TABLE`, for `\d`.
    async fn remember_source(&mut self, ctx: &SessionContext, sql: &str) {
        let Ok(mut statements) = DFParser::parse_sql(sql) else { return };
        let Some(DFStatement::CreateExternalTable(create)) = statements.pop_front() else { return };
        if let Ok(provider) = ctx.table_provider(create.name.to_string()).await {
            self.sources.add(&provider, &create.file_type, &create.locations.join(", "));
        }
    }

    /// Writes a result as it arrives and keeps it for `\plot`; statements without
    /// columns (DDL) print nothing.
    async fn write_stream(&mut self, mut stream: SendableRecordBatchStream, target: &Target) -> Result<()> {
        let schema = stream.schema();
        self.last = LastResult::Nothing;
        if schema.fields().is_empty() {
            while let Some(batch) = stream.next().await {
                batch?;
            }
            self.last = LastResult::NoColumns;
            return no_result(target);
        }
        let (format, out) = self.open(target)?;
        let mut writer = print_format::writer(format, schema.clone(), out, self.table_options())?;
        let mut last = LastResult::Rows { schema, batches: Vec::new(), rows: 0 };
        let mut progress = Progress::start(self.options.progress);
        let streams_to_terminal = *target == Target::Stdout && !format.buffers();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            progress.add_rows(batch.num_rows());
            if streams_to_terminal {
                progress.stop();
            }
            last.add(&batch);
            if *target != Target::Discard {
                writer.write(&batch)?;
            }
        }
        progress.stop();
        self.last = last;
        if *target == Target::Discard { Ok(()) } else { writer.finish() }
    }

    fn print_batch(&self, batch: RecordBatch, target: &Target) -> Result<()> {
        let (format, out) = self.open(target)?;
        let mut writer = print_format::writer(format, batch.schema(), out, self.table_options())?;
        writer.write(&batch)?;
        writer.finish()
    }

    fn open(&self, target: &Target) -> Result<(Format, Output)> {
        match target {
            Target::Stdout => Ok((self.options.format, Box::new(Stdout(BufWriter::new(io::stdout()))))),
            Target::File { path, format } => {
                let file = File::create(path).map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
                Ok((*format, Box::new(BufWriter::new(file))))
            }
            Target::Discard => Ok((Format::Csv, Box::new(io::sink()))),
        }
    }

    fn table_options(&self) -> TableOptions {
        TableOptions { maxrows: self.options.maxrows, footer: !self.options.quiet }
    }

    async fn run_command(&mut self, command: Command, target: &Target) -> Result<Flow> {
        match command {
            Command::Help => print!("{}", help_text()),
            Command::ListTables => self.print_batch(self.table_list().await?, target)?,
            Command::Describe(name) => self.print_batch(self.describe(&name).await?, target)?,
            Command::ListFunctions(pattern) => self.print_batch(self.function_list(pattern.as_deref()).await?, target)?,
            Command::Timing => {
                self.options.timing = !self.options.timing;
                self.note(if self.options.timing { "Timing is on." } else { "Timing is off." });
            }
            Command::Format(None) => println!("Output format is {}.", self.options.format),
            Command::Format(Some(format)) => {
                self.options.format = format;
                self.note(&format!("Output format is {format}."));
            }
            Command::Include(path) => return Box::pin(self.run_file(&path, target)).await,
            Command::Plot(path) => self.plot(path.as_deref().unwrap_or(Path::new(plot::DEFAULT_FILE)))?,
            Command::Quit => return Ok(Flow::Quit),
        }
        Ok(Flow::Continue)
    }

    /// `\d`: the tables of the session or of the server.
    async fn table_list(&self) -> Result<RecordBatch> {
        match &self.backend {
            Backend::Local(ctx) => catalog::list_tables(ctx, &self.sources).await,
            Backend::Remote(remote) => catalog::list_remote_tables(&remote.tables().await?),
        }
    }

    /// `\d NAME`: the columns of a table; a note on its product for local tables.
    async fn describe(&self, name: &str) -> Result<RecordBatch> {
        match &self.backend {
            Backend::Local(ctx) => {
                let batch = catalog::describe_table(ctx, name).await?;
                if let Some(line) = catalog::table_summary(ctx, name).await? {
                    self.note(&line);
                }
                Ok(batch)
            }
            Backend::Remote(remote) => catalog::describe_schema(&remote.table(name).await?.schema),
        }
    }

    /// `\df [PATTERN]`: the functions of the session or of the server.
    async fn function_list(&self, pattern: Option<&str>) -> Result<RecordBatch> {
        match &self.backend {
            Backend::Local(ctx) => catalog::list_functions(ctx, pattern),
            Backend::Remote(remote) => catalog::list_remote_functions(remote.functions().await?, pattern),
        }
    }

    /// Table, column and function names for completion in the REPL.
    async fn completion_words(&self) -> Result<Vec<String>> {
        match &self.backend {
            Backend::Local(ctx) => catalog::completion_words(ctx).await,
            Backend::Remote(remote) => {
                let functions: Vec<String> = remote.functions().await?.into_iter().map(|(name, _, _)| name).collect();
                Ok(catalog::remote_completion_words(&remote.tables().await?, &functions))
            }
        }
    }

    /// A message about the session itself, on stderr so it never mixes with results.
    fn note(&self, text: &str) {
        if !self.options.quiet {
            eprintln!("{text}");
        }
    }
}

/// A statement without columns has nothing for `-o FILE`.
fn no_result(target: &Target) -> Result<()> {
    match target {
        Target::Stdout | Target::Discard => Ok(()),
        Target::File { path, .. } => {
            Err(usage(format!("nothing to write to {}: the last statement returned no columns", path.display())))
        }
    }
}

/// Reads a SQL script, naming the file in the error.
pub fn read_script(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}

/// The statements of the `-f` files (in order), then of the `-c` commands (in order).
pub fn script_pieces(files: &[PathBuf], commands: &[String]) -> Result<Vec<Piece>> {
    let mut pieces = Vec::new();
    for path in files {
        pieces.extend(split(&read_script(path)?).pieces);
    }
    for command in commands {
        pieces.extend(split(command).pieces);
    }
    Ok(pieces)
}

/// Runs catalog scripts (`-f`, `-c`) quietly on `ctx`, for the commands that set up a
/// session before doing their own job (`oceanql index`, `oceanql serve`).
pub async fn run_catalog(ctx: &SessionContext, files: &[PathBuf], commands: &[String]) -> Result<()> {
    let options = Options { format: Format::Csv, maxrows: None, timing: false, quiet: true, progress: false };
    let mut session = Session::new(ctx.clone(), options);
    session.run_pieces(&script_pieces(files, commands)?, &Target::Stdout).await.map(|_| ())
}

/// The interactive loop: read, run, print, until `\q` or Ctrl-D.
pub async fn run_repl(session: &mut Session) -> Result<()> {
    let mut editor = editor().map_err(|e| usage(format!("cannot start the line editor: {e}")))?;
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path); // a first run has no history yet
    }
    if !session.options.quiet {
        println!("OceanQL {}. Type \\? for help, \\q to quit.", env!("CARGO_PKG_VERSION"));
        if let Backend::Remote(remote) = &session.backend {
            println!("Connected to {}: statements, \\d and \\df run on the server.", remote.url());
        }
    }
    loop {
        let words = session.completion_words().await.unwrap_or_default();
        if let Some(helper) = editor.helper_mut() {
            helper.set_words(words);
        }
        match editor.readline("oceanql> ") {
            Ok(input) => {
                remember(&mut editor, &input, history.as_deref());
                match session.run_text(&input).await {
                    Ok(Flow::Quit) => break,
                    Ok(Flow::Continue) => {}
                    Err(err) => eprintln!("Error: {}", message(&err)),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(err) => return Err(usage(format!("cannot read input: {err}"))),
        }
    }
    Ok(())
}

fn editor() -> rustyline::Result<Editor<SqlHelper, DefaultHistory>> {
    let config = Config::builder()
        .history_ignore_dups(true)?
        .max_history_size(10_000)?
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .build();
    let mut editor = Editor::with_config(config)?;
    editor.set_helper(Some(SqlHelper::new(Vec::new())));
    Ok(editor)
}

/// Adds the input to the history and saves the history file at once, so a
/// crash loses nothing.
fn remember(editor: &mut Editor<SqlHelper, DefaultHistory>, input: &str, path: Option<&Path>) {
    if input.trim().is_empty() {
        return;
    }
    let _ = editor.add_history_entry(input.trim_end());
    if let Some(path) = path
        && let Err(err) = editor.save_history(path)
    {
        eprintln!("Warning: cannot save history to {}: {err}", path.display());
    }
}

/// `$OCEANQL_HISTORY`, else `<data dir>/oceanql/history`; `None` if the
/// directory cannot be made.
fn history_path() -> Option<PathBuf> {
    let path = match std::env::var_os("OCEANQL_HISTORY") {
        Some(path) => PathBuf::from(path),
        None => dirs::data_dir()?.join("oceanql").join("history"),
    };
    if let Some(dir) = path.parent()
        && let Err(err) = std::fs::create_dir_all(dir)
    {
        eprintln!("Warning: no history: cannot create {}: {err}", dir.display());
        return None;
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        let options = Options { format: Format::Csv, maxrows: None, timing: false, quiet: true, progress: false };
        Session::new(SessionContext::new(), options)
    }

    #[tokio::test]
    async fn runs_statements_in_one_session() {
        let mut session = session();
        let flow = session.run_text("CREATE TABLE t AS VALUES (1), (2); SELECT count(*) FROM t;").await.unwrap();
        assert_eq!(flow, Flow::Continue);
    }

    #[tokio::test]
    async fn commands_change_settings_and_quit() {
        let mut session = session();
        session.run_text("\\timing\n\\format json\n").await.unwrap();
        assert!(session.options.timing);
        assert_eq!(session.options.format, Format::Json);
        assert_eq!(session.run_text("\\q\nSELECT 1;").await.unwrap(), Flow::Quit);
    }

    #[tokio::test]
    async fn stops_at_the_first_error() {
        let mut session = session();
        let err = session.run_text("SELECT nope; CREATE TABLE later AS VALUES (1);").await.unwrap_err();
        assert!(message(&err).contains("nope"), "{err}");
        let Backend::Local(ctx) = &session.backend else { panic!("a local session") };
        assert!(ctx.table_exist("later").is_ok_and(|exists| !exists));
    }

    #[tokio::test]
    async fn file_errors_name_the_file() {
        let mut session = session();
        let err = session.run_text("\\i /no/such/file.sql").await.unwrap_err();
        assert!(message(&err).starts_with("cannot read /no/such/file.sql: "), "{err}");
        let err = session.run_text("\\q please").await.unwrap_err();
        assert!(message(&err).starts_with("\\q takes no argument"), "{err}");
    }

    #[tokio::test]
    async fn self_including_file_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loop.sql");
        std::fs::write(&path, format!("\\i {}\n", path.display())).unwrap();
        let err = session().run_file(&path, &Target::Stdout).await.unwrap_err();
        assert!(message(&err).starts_with("\\i nested more than 16 deep"), "{err}");
    }

    #[tokio::test]
    async fn output_file_needs_a_result() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        let target = Target::File { path: path.clone(), format: Format::Csv };
        let pieces = split("CREATE TABLE t AS VALUES (1);").pieces;
        let err = session().run_pieces(&pieces, &target).await.unwrap_err();
        assert!(message(&err).contains("the last statement returned no columns"), "{err}");
        let pieces = split("SELECT 1 AS one; SELECT 2 AS two").pieces;
        session().run_pieces(&pieces, &target).await.unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n2\n");
    }
}
