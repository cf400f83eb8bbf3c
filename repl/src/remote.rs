//! `oceanql --connect URL`: statements, `\d` and `\df` run on an Arrow Flight SQL server
//! (`oceanql serve`, or another Flight SQL server) instead of a session in this process.
//! Statements go as Flight SQL statement queries (DDL included: the server runs it when the
//! result is fetched); tables and their columns come from GetTables; functions from the
//! server's `information_schema.routines`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow_flight::FlightInfo;
use arrow_flight::error::FlightError;
use arrow_flight::sql::CommandGetTables;
use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::convert::try_schema_from_ipc_buffer;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use futures::{StreamExt, TryStreamExt};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::error::usage;

/// The catalog and schema whose tables go by their bare names (DataFusion's defaults, which
/// `oceanql serve` keeps).
const DEFAULT_CATALOG: &str = "datafusion";
const DEFAULT_SCHEMA: &str = "public";

/// How to reach a server: its URL, the token and the CA certificate for TLS.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub url: String,
    pub token: Option<String>,
    pub tls_ca: Option<std::path::PathBuf>,
}

/// A connection to a Flight SQL server.
pub struct Remote {
    client: FlightSqlServiceClient<Channel>,
    url: String,
}

/// A table on the server: the name a query uses, its type and its columns.
pub struct RemoteTable {
    pub name: String,
    pub kind: String,
    pub schema: SchemaRef,
}

impl Remote {
    /// Connects and checks that the server accepts the token.
    pub async fn connect(options: &ConnectOptions) -> Result<Remote> {
        let url = options.url.as_str();
        let (uri, tls) = endpoint_uri(url)?;
        let mut endpoint = Endpoint::from_shared(uri)
            .map_err(|e| usage(format!("--connect {url}: {e}")))?
            .connect_timeout(Duration::from_secs(10))
            .http2_keep_alive_interval(Duration::from_secs(30));
        if tls {
            endpoint = endpoint
                .tls_config(tls_config(options.tls_ca.as_deref())?)
                .map_err(|e| usage(format!("--connect {url}: TLS: {e}")))?;
        } else if options.tls_ca.is_some() {
            return Err(usage(format!("--tls-ca needs a grpc+tls:// URL, not {url}")));
        }
        let channel = endpoint.connect().await.map_err(|e| usage(format!("cannot connect to {url}: {}", chain(&e))))?;
        let mut client = FlightSqlServiceClient::new(channel);
        if let Some(token) = &options.token {
            client.set_token(token.clone());
        }
        let remote = Remote { client, url: url.to_string() };
        remote.client.clone().get_catalogs().await.map_err(|e| remote.error(e))?;
        Ok(remote)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Runs one statement; its result arrives batch by batch. Dropping the stream cancels
    /// the query on the server.
    pub async fn query(&self, sql: &str) -> Result<SendableRecordBatchStream> {
        let info = self.client.clone().execute(sql.to_string(), None).await.map_err(|e| self.error(e))?;
        self.fetch(info)
    }

    /// Every table of the server except `information_schema`'s, sorted by name.
    pub async fn tables(&self) -> Result<Vec<RemoteTable>> {
        let request = CommandGetTables { include_schema: true, ..Default::default() };
        let info = self.client.clone().get_tables(request).await.map_err(|e| self.error(e))?;
        let batches: Vec<RecordBatch> = self.fetch(info)?.try_collect().await?;
        let mut tables = Vec::new();
        for batch in &batches {
            tables.extend(self.table_rows(batch)?);
        }
        tables.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(tables)
    }

    /// The table `name` (as `\d NAME` gives it: unquoted names are lower-cased).
    pub async fn table(&self, name: &str) -> Result<RemoteTable> {
        let wanted = normalize(name);
        let tables = self.tables().await?;
        tables
            .into_iter()
            .find(|t| t.name == wanted)
            .ok_or_else(|| usage(format!("no table {name} on {} (\\d lists them)", self.url)))
    }

    /// (name, kind, description) of the server's functions, from `information_schema.routines`.
    pub async fn functions(&self) -> Result<Vec<(String, String, Option<String>)>> {
        let sql = "SELECT DISTINCT routine_name, lower(function_type), description FROM information_schema.routines";
        let stream = self.query(sql).await.map_err(|e| usage(format!("\\df on {}: {e}", self.url)))?;
        let batches: Vec<RecordBatch> = stream.try_collect().await?;
        let mut rows = Vec::new();
        for batch in &batches {
            let text = |i: usize| batch.column(i).as_string_opt::<i32>().cloned();
            let (Some(names), Some(kinds), Some(docs)) = (text(0), text(1), text(2)) else {
                return Err(usage(format!("\\df: unexpected columns from {}", self.url)));
            };
            for row in 0..batch.num_rows() {
                let doc = docs.is_valid(row).then(|| docs.value(row).to_string()).filter(|d| !d.is_empty());
                rows.push((names.value(row).to_string(), kinds.value(row).to_string(), doc));
            }
        }
        Ok(rows)
    }

    /// The result of a FlightInfo: each endpoint's ticket fetched in turn from this server.
    fn fetch(&self, info: FlightInfo) -> Result<SendableRecordBatchStream> {
        let schema: SchemaRef = Arc::new(info.clone().try_decode_schema().map_err(|e| self.error(e.into()))?);
        let client = self.client.clone();
        let url = self.url.clone();
        let tickets = info.endpoint.into_iter().filter_map(|endpoint| endpoint.ticket);
        let batches = futures::stream::iter(tickets)
            .then(move |ticket| {
                let mut client = client.clone();
                async move { client.do_get(ticket).await }
            })
            .try_flatten()
            .map_err(move |e| remote_error(&url, e));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, batches)))
    }

    /// The tables of one GetTables batch.
    fn table_rows(&self, batch: &RecordBatch) -> Result<Vec<RemoteTable>> {
        let column = |name: &str| {
            batch.column_by_name(name).ok_or_else(|| usage(format!("GetTables from {} has no {name} column", self.url)))
        };
        let (catalogs, schemas) = (column("catalog_name")?.as_string::<i32>(), column("db_schema_name")?.as_string::<i32>());
        let (names, kinds) = (column("table_name")?.as_string::<i32>(), column("table_type")?.as_string::<i32>());
        let ipc = column("table_schema")?.as_binary::<i32>();
        let mut tables = Vec::new();
        for row in 0..batch.num_rows() {
            let (catalog, schema) = (catalogs.value(row), schemas.value(row));
            if schema == "information_schema" {
                continue;
            }
            let table = names.value(row);
            let name = match (catalog == DEFAULT_CATALOG, schema == DEFAULT_SCHEMA) {
                (true, true) => table.to_string(),
                (true, false) => format!("{schema}.{table}"),
                _ => format!("{catalog}.{schema}.{table}"),
            };
            let columns = try_schema_from_ipc_buffer(ipc.value(row))
                .map_err(|e| usage(format!("the columns of {name} from {}: {e}", self.url)))?;
            tables.push(RemoteTable { name, kind: kind(kinds.value(row)), schema: Arc::new(columns) });
        }
        Ok(tables)
    }

    fn error(&self, err: FlightError) -> DataFusionError {
        remote_error(&self.url, err)
    }
}

/// `grpc://` and `http://` connect in plain text, `grpc+tls://` and `https://` over TLS.
fn endpoint_uri(url: &str) -> Result<(String, bool)> {
    let schemes = [("grpc://", "http://", false), ("http://", "http://", false), ("grpc+tls://", "https://", true), ("https://", "https://", true)];
    for (scheme, http, tls) in schemes {
        if let Some(rest) = url.strip_prefix(scheme) {
            if rest.is_empty() {
                break;
            }
            return Ok((format!("{http}{rest}"), tls));
        }
    }
    Err(usage(format!("--connect {url}: expected grpc://HOST:PORT or grpc+tls://HOST:PORT")))
}

/// TLS with the system's roots, plus `--tls-ca` (e.g. a self-signed server certificate).
fn tls_config(ca: Option<&Path>) -> Result<ClientTlsConfig> {
    let config = ClientTlsConfig::new().with_native_roots();
    let Some(path) = ca else { return Ok(config) };
    let pem = std::fs::read(path).map_err(|e| usage(format!("--tls-ca {}: {e}", path.display())))?;
    Ok(config.ca_certificate(Certificate::from_pem(pem)))
}

/// A server's answer as the user needs it: what was refused and why.
fn remote_error(url: &str, err: FlightError) -> DataFusionError {
    let FlightError::Tonic(status) = &err else { return usage(format!("{url}: {err}")) };
    let message = status.message();
    usage(match status.code() {
        Code::Unauthenticated => format!("{url} refused the connection: {message} (give the server's token with --token or OCEANQL_TOKEN)"),
        Code::Unavailable => format!("{url} is unavailable: {message}"),
        Code::PermissionDenied => format!("permission denied: {message}"),
        Code::ResourceExhausted => format!("resources exhausted: {message}"),
        Code::DeadlineExceeded => format!("timed out: {message}"),
        _ => message.to_string(),
    })
}

/// An error with its causes, for transport errors whose top line says little.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// A table name as the server knows it: unquoted parts lower-cased, quotes removed.
fn normalize(name: &str) -> String {
    name.split('.')
        .map(|part| match part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            Some(quoted) => quoted.to_string(),
            None => part.to_lowercase(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// Flight SQL table types in the words `\d` uses for local tables.
fn kind(table_type: &str) -> String {
    match table_type {
        "BASE TABLE" | "TABLE" => "table",
        "VIEW" => "view",
        "LOCAL TEMPORARY" => "temporary",
        other => return other.to_lowercase(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_names() {
        assert_eq!(endpoint_uri("grpc://127.0.0.1:50051").unwrap(), ("http://127.0.0.1:50051".into(), false));
        assert_eq!(endpoint_uri("grpc+tls://host:1").unwrap(), ("https://host:1".into(), true));
        let err = endpoint_uri("ftp://host:1").unwrap_err().to_string();
        assert!(err.contains("expected grpc://HOST:PORT or grpc+tls://HOST:PORT"), "{err}");
        assert!(endpoint_uri("grpc://").is_err());
        assert_eq!(normalize("SST"), "sst");
        assert_eq!(normalize("s.\"Mixed\""), "s.Mixed");
        assert_eq!(kind("BASE TABLE"), "table");
        assert_eq!(kind("VIEW"), "view");
    }

    #[test]
    fn errors_say_what_the_server_refused() {
        let refused = FlightError::Tonic(Box::new(tonic::Status::unauthenticated("missing token")));
        let err = remote_error("grpc://h:1", refused).to_string();
        assert!(err.contains("grpc://h:1 refused the connection: missing token (give the server's token"), "{err}");
        let denied = FlightError::Tonic(Box::new(tonic::Status::permission_denied("outside the data roots")));
        assert!(remote_error("u", denied).to_string().contains("permission denied: outside the data roots"));
    }
}
