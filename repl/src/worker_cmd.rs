//! Distributed execution from the command line: `oceanql worker` (runs plan fragments) and
//! `--workers` / `--workers-file` (this process, or `oceanql serve`, coordinates).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::prelude::{SessionConfig, SessionContext};
use oceanql_flight::{WorkerList, WorkerSource, serve_worker};

use crate::error::usage;
use crate::exec::run_catalog;

/// The flags of `oceanql worker`.
#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// Address to listen on (coordinators connect to it; workers have no authentication:
    /// keep them on a private network)
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50061")]
    pub bind: String,
    /// SQL files run at start (repeatable): tables, settings and object stores tasks may use
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// SQL run at start, after the files (repeatable)
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub commands: Vec<String>,
}

/// Where a coordinator finds its workers.
#[derive(Debug, Default, clap::Args)]
pub struct WorkersArgs {
    /// Run queries on these workers (`oceanql worker`), HOST:PORT,HOST:PORT,...: scans are
    /// split by granules/chunks into tasks, and this process coordinates
    #[arg(long, value_name = "HOST:PORT,...", conflicts_with = "workers_file")]
    pub workers: Option<String>,
    /// Same as --workers with the addresses in FILE, one HOST:PORT a line, re-read when it changes
    #[arg(long, value_name = "FILE")]
    pub workers_file: Option<PathBuf>,
}

impl WorkersArgs {
    fn source(&self) -> Result<Option<WorkerSource>> {
        if let Some(list) = &self.workers {
            return WorkerSource::parse_list(list).map(Some);
        }
        Ok(self.workers_file.clone().map(WorkerSource::File))
    }
}

/// A session that runs queries in this process, or coordinates them over the workers of `args`.
pub async fn context(args: &WorkersArgs, url_table: bool) -> Result<SessionContext> {
    let Some(source) = args.source()? else {
        return if url_table {
            oceanql_engine::session::create_context_with_url_table()
        } else {
            oceanql_engine::session::create_context()
        };
    };
    let workers = WorkerList::start(source).await?;
    oceanql_engine::session::create_distributed_context(SessionConfig::new(), url_table, Arc::new(workers))
}

/// Runs the start-up scripts, then serves plan fragments until Ctrl-C.
pub async fn run(args: WorkerArgs) -> Result<()> {
    let ctx = oceanql_engine::session::create_context()?;
    run_catalog(&ctx, &args.files, &args.commands).await?;
    // Written, not println!: a reader that closed the pipe after the first line must not stop the worker.
    let ready = |addr: std::net::SocketAddr| {
        let mut out = std::io::stdout();
        let _ = writeln!(out, "OceanQL worker listening on {addr}").and_then(|_| out.flush());
    };
    serve_worker(&args.bind, ctx, ready).await.map_err(|e| usage(e.to_string()))
}
