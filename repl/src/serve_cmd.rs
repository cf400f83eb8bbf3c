//! `oceanql serve`: runs the catalog scripts, then serves the session over Arrow Flight SQL.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use datafusion::error::Result;
use oceanql_flight::{Limits, ServerConfig, TlsFiles, parse_size};

use crate::catalog;
use crate::error::usage;
use crate::exec::run_catalog;

/// The flags of `oceanql serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; without a token only loopback addresses are allowed
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:50051")]
    pub addr: String,
    /// SQL files run at start to register the tables (repeatable)
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// SQL run at start, after the files (repeatable)
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub commands: Vec<String>,
    /// Token clients must send (`authorization: Bearer TOKEN`) [default: $OCEANQL_TOKEN]
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// PEM certificate: serve over TLS (grpc+tls://); needs --tls-key
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Directory (or s3://bucket/prefix) that LOCATIONs in clients' DDL must lie in (repeatable);
    /// without one, clients cannot create tables from files
    #[arg(long = "data-root", value_name = "DIR")]
    pub data_roots: Vec<String>,
    /// Queries that run at once; others wait in a queue
    #[arg(long, value_name = "N", default_value_t = 8)]
    pub max_queries: usize,
    /// Seconds a query waits in the queue before it fails
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub queue_timeout: u64,
    /// Memory one query may use (e.g. 512M, 2G); 0 for no limit
    #[arg(long, value_name = "SIZE", default_value = "2G")]
    pub memory_limit: String,
    /// Seconds a query may run; 0 for no limit
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub query_timeout: u64,
    #[command(flatten)]
    pub workers: crate::worker_cmd::WorkersArgs,
}

/// Runs the start-up scripts on a fresh session, then serves it until Ctrl-C.
pub async fn run(args: ServeArgs) -> Result<()> {
    let config = server_config(&args, std::env::var("OCEANQL_TOKEN").ok())?;
    // No `SELECT * FROM 'file'` here: clients reach files only through tables.
    let ctx = crate::worker_cmd::context(&args.workers, false).await?;
    run_catalog(&ctx, &args.files, &args.commands).await?;
    let tables: Vec<String> = catalog::tables(&ctx).await?.into_iter().map(|t| t.name).collect();
    let scheme = if config.tls.is_some() { "grpc+tls" } else { "grpc" };
    // Written, not println!: a reader (a test, a supervisor) that closes the pipe after the
    // first line must not make the server panic on the second (it did: "transport error").
    let ready = |addr: std::net::SocketAddr| {
        let mut out = std::io::stdout();
        let listed = if tables.is_empty() { "(none)".to_string() } else { tables.join(", ") };
        let _ = writeln!(out, "OceanQL Flight SQL server listening on {scheme}://{addr}\ntables: {listed}").and_then(|_| out.flush());
    };
    oceanql_flight::serve(config, ctx, ready).await.map_err(|e| usage(e.to_string()))
}

/// The server's settings from the flags (`env_token`: the value of OCEANQL_TOKEN).
fn server_config(args: &ServeArgs, env_token: Option<String>) -> Result<ServerConfig> {
    let token = args.token.clone().or(env_token).filter(|t| !t.is_empty());
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone() }),
        _ => None,
    };
    let memory_limit = match args.memory_limit.trim() {
        "0" => None,
        text => Some(parse_size(text).map_err(|e| usage(format!("--memory-limit: {e}")))?),
    };
    if args.max_queries == 0 {
        return Err(usage("--max-queries must be at least 1"));
    }
    let limits = Limits {
        max_queries: args.max_queries,
        queue_timeout: Duration::from_secs(args.queue_timeout),
        memory_limit,
        query_timeout: (args.query_timeout > 0).then(|| Duration::from_secs(args.query_timeout)),
    };
    Ok(ServerConfig { addr: args.addr.clone(), token, tls, data_roots: args.data_roots.clone(), limits })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn config(args: &[&str], env: Option<&str>) -> Result<ServerConfig> {
        let wrapper = Wrapper::try_parse_from(std::iter::once("serve").chain(args.iter().copied())).unwrap();
        server_config(&wrapper.args, env.map(str::to_string))
    }

    #[test]
    fn token_from_flag_or_environment() {
        assert_eq!(config(&[], None).unwrap().token, None);
        assert_eq!(config(&[], Some("e")).unwrap().token.as_deref(), Some("e"));
        assert_eq!(config(&["--token", "f"], Some("e")).unwrap().token.as_deref(), Some("f"));
        assert_eq!(config(&[], Some("")).unwrap().token, None);
    }

    #[test]
    fn limits() {
        let c = config(&["--memory-limit", "512M", "--query-timeout", "0", "--max-queries", "2"], None).unwrap();
        assert_eq!(c.limits.memory_limit, Some(512 << 20));
        assert_eq!(c.limits.query_timeout, None);
        assert_eq!(c.limits.max_queries, 2);
        assert_eq!(config(&["--memory-limit", "0"], None).unwrap().limits.memory_limit, None);
        let err = crate::error::message(&config(&["--memory-limit", "lots"], None).unwrap_err());
        assert!(err.starts_with("--memory-limit: invalid size 'lots'"), "{err}");
        assert!(config(&["--max-queries", "0"], None).is_err());
    }
}
