//! OceanQL's Arrow Flight SQL server (`oceanql serve`): any Flight SQL client (ADBC,
//! pyarrow.flight, JDBC, BI tools) runs SQL on the server's session and gets Arrow back.

mod auth;
pub mod config;
mod handle;
mod metadata;
mod query;
mod roots;
mod service;
pub mod worker;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use datafusion::prelude::SessionContext;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use config::{Limits, ServeError, ServerConfig, TlsFiles, parse_size};
pub use roots::DataRoots;
pub use worker::{WorkerList, WorkerSource, serve_worker};

use crate::auth::Auth;
use crate::query::Engine;
use crate::service::OceanQlService;

/// Largest message a client may send (parameters of prepared statements).
const MAX_REQUEST_BYTES: usize = 64 << 20;

/// Serves `ctx` (its tables, functions and catalog) over Flight SQL until Ctrl-C. `ready`
/// is called once the socket is bound, with the address (useful with port 0).
pub async fn serve(
    config: ServerConfig,
    ctx: SessionContext,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let addr = resolve(&config.addr).await?;
    if config.token.is_none() && !addr.ip().is_loopback() {
        return Err(ServeError(format!(
            "refusing to listen on {addr} without a token: anyone who reaches it could read the data. \
             Set --token or OCEANQL_TOKEN, or listen on 127.0.0.1"
        )));
    }
    let roots = DataRoots::new(&config.data_roots).map_err(ServeError)?;
    let mut server = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)));
    if let Some(tls) = &config.tls {
        server = server.tls_config(tls_config(tls)?).map_err(|e| ServeError(format!("TLS: {e}")))?;
    }
    let listener =
        tokio::net::TcpListener::bind(addr).await.map_err(|e| ServeError(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().map_err(|e| ServeError(e.to_string()))?;
    let engine = Arc::new(Engine::new(ctx, roots, config.limits.clone()));
    let service = FlightServiceServer::new(OceanQlService::new(engine, config.token.clone()))
        .max_decoding_message_size(MAX_REQUEST_BYTES);
    let auth = Auth::new(config.token.clone());
    let service = InterceptedService::new(service, move |request| auth.check(request));
    ready(bound);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
        .map_err(|e| ServeError(format!("server stopped: {e}")))
}

/// The first address `HOST:PORT` resolves to.
async fn resolve(addr: &str) -> Result<SocketAddr, ServeError> {
    let bad = |why: String| ServeError(format!("--addr {addr}: {why} (expected HOST:PORT, e.g. 127.0.0.1:50051)"));
    let mut addrs = tokio::net::lookup_host(addr).await.map_err(|e| bad(e.to_string()))?;
    addrs.next().ok_or_else(|| bad("no address".into()))
}

fn tls_config(files: &TlsFiles) -> Result<ServerTlsConfig, ServeError> {
    let read = |path: &std::path::Path, flag: &str| {
        std::fs::read(path).map_err(|e| ServeError(format!("{flag} {}: {e}", path.display())))
    };
    let cert = read(&files.cert, "--tls-cert")?;
    let key = read(&files.key, "--tls-key")?;
    Ok(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
}
