//! Distributed execution: `oceanql worker` (a datafusion-distributed Worker, an Arrow Flight
//! service that runs plan fragments with OceanQL's session and codec) and the list of
//! workers a coordinator (`oceanql --workers`, `oceanql serve --workers`) sends tasks to.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use datafusion::common::{DataFusionError, plan_datafusion_err};
use datafusion::prelude::SessionContext;
use datafusion_distributed::{Worker, WorkerQueryContext, WorkerResolver};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use oceanql_engine::distributed::NamedChannels;
use url::Url;

use crate::config::ServeError;

/// Serves `base` (the session `-f`/`-c` set up: tables, functions, object stores) as a
/// worker until Ctrl-C: each task runs in a session with `base`'s functions and tables.
/// `ready` is called once the socket is bound, with the address (useful with port 0).
pub async fn serve_worker(addr: &str, base: SessionContext, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let addr = resolve(addr).await?;
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| ServeError(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| ServeError(e.to_string()))?;
    let runtime = base.runtime_env();
    let (base, name) = (Arc::new(base), Arc::new(display_address(bound)));
    let channels = NamedChannels::default(); // one for the worker's lifetime: connections are reused
    let worker = Worker::from_session_builder(move |ctx: WorkerQueryContext| {
        let (base, name, channels) = (Arc::clone(&base), Arc::clone(&name), channels.clone());
        async move { Ok(oceanql_engine::distributed::worker_state(ctx.builder, &base.state(), &name, &channels)) }
    })
    .with_runtime_env(runtime);
    ready(bound);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Server::builder()
        .add_service(worker.into_worker_server())
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| ServeError(format!("worker stopped: {e}")))
}

/// How EXPLAIN ANALYZE names this worker: its address, with the host name for 0.0.0.0.
fn display_address(bound: SocketAddr) -> String {
    if !bound.ip().is_unspecified() {
        return bound.to_string();
    }
    let host = std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
    format!("{}:{}", host.unwrap_or_else(|| bound.ip().to_string()), bound.port())
}

async fn resolve(addr: &str) -> Result<SocketAddr, ServeError> {
    let bad = |why: String| ServeError(format!("--bind {addr}: {why} (expected HOST:PORT, e.g. 0.0.0.0:50061)"));
    let mut addrs = tokio::net::lookup_host(addr).await.map_err(|e| bad(e.to_string()))?;
    addrs.next().ok_or_else(|| bad("no address".into()))
}

/// Where the worker addresses come from.
#[derive(Clone, Debug)]
pub enum WorkerSource {
    /// `--workers HOST:PORT,HOST:PORT`
    List(Vec<Url>),
    /// `--workers-file FILE`: one HOST:PORT a line (`#` comments), re-read when it changes.
    File(PathBuf),
}

impl WorkerSource {
    /// `HOST:PORT,HOST:PORT,...` (or `http://HOST:PORT`).
    pub fn parse_list(text: &str) -> Result<Self, DataFusionError> {
        let urls = parse_entries(text.split(','), "--workers")?;
        if urls.is_empty() {
            return Err(plan_datafusion_err!("--workers: no worker address (expected HOST:PORT,HOST:PORT)"));
        }
        Ok(WorkerSource::List(urls))
    }

    fn read(&self) -> Result<Vec<Url>, DataFusionError> {
        match self {
            WorkerSource::List(urls) => Ok(urls.clone()),
            WorkerSource::File(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| plan_datafusion_err!("--workers-file {}: {e}", path.display()))?;
                let lines = text.lines().map(|l| l.split('#').next().unwrap_or(""));
                parse_entries(lines, &format!("--workers-file {}", path.display()))
            }
        }
    }

    fn modified(&self) -> Option<SystemTime> {
        match self {
            WorkerSource::List(_) => None,
            WorkerSource::File(path) => std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        }
    }
}

fn parse_entries<'a>(entries: impl Iterator<Item = &'a str>, what: &str) -> Result<Vec<Url>, DataFusionError> {
    let mut urls = Vec::new();
    for entry in entries.map(str::trim).filter(|e| !e.is_empty()) {
        let text = if entry.contains("://") { entry.to_string() } else { format!("http://{entry}") };
        let url = Url::parse(&text).map_err(|e| plan_datafusion_err!("{what}: '{entry}' is not HOST:PORT ({e})"))?;
        if url.host_str().is_none() || url.port_or_known_default().is_none() {
            return Err(plan_datafusion_err!("{what}: '{entry}' is not HOST:PORT"));
        }
        urls.push(url);
    }
    Ok(urls)
}

/// The workers a coordinator sends tasks to: those of the source that accept a connection,
/// checked every second in the background (so that a query after a worker died runs on the
/// others). A file source is re-read when it changes.
#[derive(Clone)]
pub struct WorkerList {
    live: Arc<RwLock<Vec<Url>>>,
}

impl WorkerList {
    /// Reads the source, checks the workers once, then keeps checking in the background
    /// (on the current Tokio runtime).
    pub async fn start(source: WorkerSource) -> Result<Self, DataFusionError> {
        let all = source.read()?;
        let live = Arc::new(RwLock::new(reachable(&all).await));
        let list = WorkerList { live: Arc::clone(&live) };
        tokio::spawn(watch(source, all, Arc::downgrade(&live)));
        Ok(list)
    }
}

impl WorkerResolver for WorkerList {
    fn get_urls(&self) -> Result<Vec<Url>, DataFusionError> {
        Ok(self.live.read().map(|l| l.clone()).unwrap_or_default())
    }
}

/// Re-checks the workers (and re-reads a changed file) every second while the list is in use.
async fn watch(source: WorkerSource, mut all: Vec<Url>, live: std::sync::Weak<RwLock<Vec<Url>>>) {
    let mut modified = source.modified();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let Some(live) = live.upgrade() else { return };
        let now = source.modified();
        if now != modified {
            modified = now;
            match source.read() {
                Ok(urls) => all = urls,
                Err(e) => log::warn!("{e}"),
            }
        }
        let up = reachable(&all).await;
        if let Ok(mut l) = live.write() {
            *l = up;
        }
    }
}

/// The workers of `urls` that accept a TCP connection within a second.
async fn reachable(urls: &[Url]) -> Vec<Url> {
    let checks = urls.iter().map(|url| async move {
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        let connect = tokio::net::TcpStream::connect((host, port));
        matches!(tokio::time::timeout(Duration::from_secs(1), connect).await, Ok(Ok(_))).then(|| url.clone())
    });
    futures::future::join_all(checks).await.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_host_port_entries() {
        let WorkerSource::List(urls) = WorkerSource::parse_list("127.0.0.1:5001, node2:5002").unwrap() else { panic!() };
        let urls: Vec<String> = urls.iter().map(Url::to_string).collect();
        assert_eq!(urls, ["http://127.0.0.1:5001/", "http://node2:5002/"]);
        let err = WorkerSource::parse_list("a b:1").unwrap_err().to_string();
        assert!(err.contains("'a b:1' is not HOST:PORT"), "{err}");
        assert!(WorkerSource::parse_list(" , ").is_err());
    }

    #[test]
    fn files_have_one_worker_a_line_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("workers");
        std::fs::write(&path, "# cluster\n10.0.0.1:50061\n\n10.0.0.2:50061  # spare\n").unwrap();
        let urls = WorkerSource::File(path.clone()).read().unwrap();
        assert_eq!(urls.len(), 2);
        let err = WorkerSource::File(dir.path().join("missing")).read().unwrap_err().to_string();
        assert!(err.contains("--workers-file") && err.contains("missing"), "{err}");
    }
}
