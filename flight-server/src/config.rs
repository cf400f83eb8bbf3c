//! What `oceanql serve` is told: address, credentials, TLS, data roots and limits.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// The server's settings (the flags of `oceanql serve`).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `HOST:PORT` to listen on; port 0 picks a free port (the bound address is reported).
    pub addr: String,
    /// The bearer token every call must carry; without one the server listens on loopback only.
    pub token: Option<String>,
    /// PEM certificate and key: serve `grpc+tls://` instead of plain `grpc://`.
    pub tls: Option<TlsFiles>,
    /// Directories (or `s3://bucket/prefix` URLs) that LOCATIONs of client DDL must lie in.
    pub data_roots: Vec<String>,
    pub limits: Limits,
}

/// The PEM files of `--tls-cert` and `--tls-key`.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What one client may use.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Queries that run at once; others wait for a slot.
    pub max_queries: usize,
    /// How long a query waits for a slot before it fails with RESOURCE_EXHAUSTED.
    pub queue_timeout: Duration,
    /// Bytes one query's operators may hold (DataFusion's memory pool); sorts, aggregates
    /// and joins that can spill do so, others fail with RESOURCE_EXHAUSTED. `None`: no limit.
    pub memory_limit: Option<usize>,
    /// How long a query may run, from the start of its execution to its last batch.
    pub query_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_queries: 8,
            queue_timeout: Duration::from_secs(30),
            memory_limit: Some(2 << 30),
            query_timeout: Some(Duration::from_secs(600)),
        }
    }
}

/// Why the server could not start (bad flag, address in use, unreadable certificate...).
#[derive(Debug)]
pub struct ServeError(pub String);

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServeError {}

/// Parses a size such as `512M`, `2G`, `1.5GB` or `1000000` (bytes).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let upper = text.trim().to_ascii_uppercase();
    let digits = upper.trim_end_matches('B').trim_end_matches('I');
    let (number, unit) = match digits.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&digits[..i], c),
        _ => (digits, ' '),
    };
    let scale: f64 = match unit {
        ' ' => 1.0,
        'K' => 1024.0,
        'M' => 1024.0 * 1024.0,
        'G' => 1024.0 * 1024.0 * 1024.0,
        'T' => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("invalid size '{text}': use a number of bytes or K, M, G, T")),
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n > 0.0 && n.is_finite() => Ok((n * scale) as usize),
        _ => Err(format!("invalid size '{text}': use a positive number of bytes or K, M, G, T (e.g. 512M)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1000"), Ok(1000));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("1.5GB"), Ok(3 << 29));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert!(parse_size("lots").unwrap_err().contains("invalid size 'lots'"));
        assert!(parse_size("-1M").is_err());
        assert!(parse_size("3X").is_err());
    }
}
