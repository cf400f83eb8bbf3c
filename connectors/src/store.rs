//! Object storage (`s3://`): credentials, the stores the readers use, and how
//! each format reads through them.
//!
//! - **Options**: `CREATE EXTERNAL TABLE ... OPTIONS ('aws.access_key_id' '...',
//!   'aws.secret_access_key' '...', 'aws.session_token' '...', 'aws.region' '...',
//!   'aws.endpoint' 'http://127.0.0.1:9000', 'aws.allow_http' 'true')` (DataFusion-cli's
//!   names; the same without the `aws.` prefix; any other `aws.<key>` that
//!   object_store's `AmazonS3ConfigKey` knows, e.g. `aws.skip_signature`,
//!   `aws.timeout`), over the usual `AWS_*` environment variables
//!   (`AmazonS3Builder::from_env`).
//! - **Registry**: one `ObjectStore` per bucket (`s3://bucket`), process-wide,
//!   because granules are opened again by scans on blocking threads long after
//!   CREATE (and by other sessions). A CREATE with storage options replaces the
//!   bucket's store; one without reuses the registered one, else builds one from
//!   the environment. The same configuration is registered (as a separate client)
//!   in the session's `RuntimeEnv` so that DataFusion's own Parquet/CSV tables
//!   read `s3://` too.
//! - **IO runtime**: the readers are synchronous (zarrs, libnetcdf) and run on
//!   tokio blocking threads, where `Runtime::block_on` would panic. Every object
//!   store request is therefore spawned on a small dedicated runtime owned here
//!   and awaited with `futures::executor::block_on` on its `JoinHandle`, which is
//!   safe on any thread. The stores of the registry are only ever polled on that
//!   runtime, so their connection pools never outlive the runtime that made them.
//! - **Zarr** reads through [`ObjectStorage`], a zarrs storage over the store:
//!   only the metadata and the chunks a query needs are fetched (byte ranges for
//!   shards).
//! - **NetCDF/HDF5** needs random access to metadata spread through the file, and
//!   the system libnetcdf cannot sign S3 requests: a granule is downloaded once
//!   into a local cache ([`local_copy`]) and opened there.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use datafusion::catalog::Session;
use datafusion::common::{DataFusionError, plan_datafusion_err};
use datafusion::execution::object_store::ObjectStoreUrl;
use futures::StreamExt;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, GetOptions, ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig};
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{
    AsyncListableStorageTraits, AsyncReadableStorageTraits, ListableStorageTraits, MaybeBytes, MaybeBytesIterator,
    ReadableStorageTraits, StorageError, StoreKey, StoreKeys, StoreKeysPrefixes, StorePrefix,
};
use zarrs_object_store::AsyncObjectStore;

use crate::Result;

/// The storage OPTIONS keys (after `aws.`) that are also accepted bare.
const SHORT_KEYS: &[&str] =
    &["access_key_id", "secret_access_key", "session_token", "region", "endpoint", "allow_http", "skip_signature"];

/// Storage OPTIONS accepted by every table format, for messages listing accepted keys.
pub const STORAGE_OPTIONS: &[&str] = &[
    "aws.access_key_id",
    "aws.secret_access_key",
    "aws.session_token",
    "aws.region",
    "aws.endpoint",
    "aws.allow_http",
    "aws.skip_signature",
];

/// Environment variable that relocates the local cache of downloaded objects.
pub const CACHE_DIR_ENV: &str = "OCEANQL_CACHE_DIR";

/// Whether a LOCATION or granule is on object storage (`s3://`).
pub fn is_remote(location: &str) -> bool {
    location.starts_with("s3://")
}

/// Splits `s3://bucket/key` into the bucket and the key (without leading '/').
pub fn split_url(url: &str) -> Result<(&str, &str)> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| plan_datafusion_err!("'{url}' is not an s3:// URL"))?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(plan_datafusion_err!("'{url}': no bucket name after s3://"));
    }
    Ok((bucket, key))
}

/// An object key as an object_store path (keys with characters object_store
/// would reject are percent-encoded, as object_store itself does).
pub fn object_path(key: &str) -> ObjectPath {
    let key = key.trim_matches('/');
    ObjectPath::parse(key).unwrap_or_else(|_| ObjectPath::from(key))
}

/// S3 settings taken from a table's OPTIONS, in the order given.
#[derive(Clone, Debug, Default)]
pub struct StorageOptions {
    s3: Vec<(AmazonS3ConfigKey, String)>,
}

impl StorageOptions {
    pub fn is_empty(&self) -> bool {
        self.s3.is_empty()
    }
}

/// Removes the storage keys from a table's OPTIONS and returns them.
///
/// Accepts `aws.<key>` for any key object_store's S3 builder knows, and the
/// keys of [`STORAGE_OPTIONS`] without the prefix (bare, or as `format.<key>`,
/// which is what DataFusion's SQL planner makes of a bare key).
pub fn take_options(options: &mut HashMap<String, String>) -> Result<StorageOptions> {
    let mut keys: Vec<String> = options.keys().cloned().collect();
    keys.sort();
    let mut out = StorageOptions::default();
    for key in keys {
        let lower = key.to_ascii_lowercase();
        let short = if let Some(k) = lower.strip_prefix("aws.") {
            k.to_string()
        } else {
            let k = lower.strip_prefix("format.").unwrap_or(&lower);
            if !SHORT_KEYS.contains(&k) {
                continue;
            }
            k.to_string()
        };
        let parsed: AmazonS3ConfigKey = short
            .parse()
            .map_err(|_| plan_datafusion_err!("unknown storage option '{key}' (accepted: {})", STORAGE_OPTIONS.join(", ")))?;
        if let Some(value) = options.remove(&key) {
            out.s3.push((parsed, value));
        }
    }
    Ok(out)
}

/// A bucket's store and the configuration it was built with.
struct Entry {
    builder: AmazonS3Builder,
    store: Arc<dyn ObjectStore>,
}

/// `bucket` -> the store the readers use for `s3://bucket`.
static REGISTRY: LazyLock<Mutex<HashMap<String, Entry>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Bounded retries: a wrong endpoint fails in seconds, not after object_store's default 3 minutes.
fn retry_config() -> RetryConfig {
    RetryConfig { backoff: BackoffConfig::default(), max_retries: 3, retry_timeout: Duration::from_secs(20) }
}

fn builder_for(bucket: &str, options: &StorageOptions, env: impl IntoIterator<Item = (String, String)>) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::new();
    for (key, value) in env {
        if key.starts_with("AWS_")
            && let Ok(k) = key.to_ascii_lowercase().parse::<AmazonS3ConfigKey>()
        {
            builder = builder.with_config(k, value);
        }
    }
    for (key, value) in &options.s3 {
        builder = builder.with_config(*key, value);
    }
    builder.with_bucket_name(bucket).with_retry(retry_config())
}

fn build(bucket: &str, builder: &AmazonS3Builder) -> Result<Arc<dyn ObjectStore>> {
    let store = builder
        .clone()
        .build()
        .map_err(|e| plan_datafusion_err!("s3://{bucket}: invalid object storage settings: {e}"))?;
    Ok(Arc::new(store))
}

fn env_vars() -> Vec<(String, String)> {
    std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?))).collect()
}

/// Registers the stores a table's LOCATIONs need, consuming the storage keys of
/// its OPTIONS: process-wide for OceanQL's readers, and in the session's
/// `RuntimeEnv` for DataFusion's own tables (Parquet, CSV, ...).
pub fn register(state: &dyn Session, locations: &[String], options: &mut HashMap<String, String>) -> Result<()> {
    let storage = take_options(options)?;
    let mut buckets: Vec<&str> = Vec::new();
    for location in locations.iter().filter(|l| is_remote(l)) {
        let (bucket, _) = split_url(location)?;
        if !buckets.contains(&bucket) {
            buckets.push(bucket);
        }
    }
    for bucket in buckets {
        let builder = register_bucket(bucket, &storage)?;
        let url = ObjectStoreUrl::parse(format!("s3://{bucket}"))?;
        // A client of its own: DataFusion polls it on the session's runtime.
        state.runtime_env().register_object_store(url.as_ref(), build(bucket, &builder)?);
    }
    Ok(())
}

/// Makes `s3://bucket` known to the readers; returns the configuration used.
pub fn register_bucket(bucket: &str, options: &StorageOptions) -> Result<AmazonS3Builder> {
    let mut registry = REGISTRY.lock().map_err(|_| plan_datafusion_err!("object store registry poisoned"))?;
    if options.is_empty()
        && let Some(entry) = registry.get(bucket)
    {
        return Ok(entry.builder.clone());
    }
    let builder = builder_for(bucket, options, env_vars());
    let store = build(bucket, &builder)?;
    registry.insert(bucket.to_string(), Entry { builder: builder.clone(), store });
    Ok(builder)
}

/// The store of `url`'s bucket (registered, else built from the environment) and the key in it.
pub fn resolve(url: &str) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
    let (bucket, key) = split_url(url)?;
    let store = {
        let registry = REGISTRY.lock().map_err(|_| plan_datafusion_err!("object store registry poisoned"))?;
        registry.get(bucket).map(|e| e.store.clone())
    };
    let store = match store {
        Some(s) => s,
        None => {
            register_bucket(bucket, &StorageOptions::default())?;
            let registry = REGISTRY.lock().map_err(|_| plan_datafusion_err!("object store registry poisoned"))?;
            registry.get(bucket).map(|e| e.store.clone()).ok_or_else(|| plan_datafusion_err!("s3://{bucket}: no store"))?
        }
    };
    Ok((store, object_path(key)))
}

/// The small runtime every object store request runs on.
fn io_runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("oceanql-io")
            .enable_all()
            .build()
            .expect("cannot start the object storage IO runtime")
    })
}

/// Runs `fut` on the IO runtime and waits for it. Safe on any thread (a tokio
/// worker, a blocking thread, a plain thread): it never calls `Runtime::block_on`.
/// Call it from blocking code: on an async worker it blocks that worker.
pub fn block_on<F>(fut: F) -> std::result::Result<F::Output, String>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handle = io_runtime().spawn(fut);
    futures::executor::block_on(handle).map_err(|e| format!("object storage request failed: {e}"))
}

/// The bytes of the object at `url`; `None` when there is none.
pub fn get_bytes(url: &str) -> Result<Option<Vec<u8>>> {
    let (store, path) = resolve(url)?;
    let got = block_on(async move {
        match store.get(&path).await {
            Ok(r) => r.bytes().await.map(Some),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    })
    .map_err(|e| plan_datafusion_err!("{url}: {e}"))?;
    got.map(|b| b.map(|b| b.to_vec())).map_err(|e| plan_datafusion_err!("{url}: {}", describe_error(url, &e)))
}

/// Writes `bytes` as the object at `url` (replacing it).
pub fn put_bytes(url: &str, bytes: Vec<u8>) -> Result<()> {
    let (store, path) = resolve(url)?;
    block_on(async move { store.put(&path, bytes.into()).await })
        .map_err(|e| plan_datafusion_err!("{url}: {e}"))?
        .map_err(|e| plan_datafusion_err!("{url}: {}", describe_error(url, &e)))?;
    Ok(())
}

/// Size and last-modified time (microseconds) of a remote granule: the
/// object's, or for a store (a prefix) the sum of sizes and the latest time.
pub fn remote_version(url: &str) -> Result<(u64, i64)> {
    if let Some(meta) = KNOWN.lock().ok().and_then(|k| k.get(url).cloned()) {
        return Ok((meta.size, meta.last_modified.timestamp_micros()));
    }
    let (store, path) = resolve(url)?;
    let listed = block_on(async move {
        let mut total = (0u64, 0i64);
        let mut list = store.list(Some(&path));
        while let Some(meta) = list.next().await {
            let meta = meta?;
            total = (total.0 + meta.size, total.1.max(meta.last_modified.timestamp_micros()));
        }
        Ok::<_, object_store::Error>(total)
    })
    .map_err(|e| plan_datafusion_err!("{url}: {e}"))?;
    listed.map_err(|e| plan_datafusion_err!("{url}: {}", describe_error(url, &e)))
}

/// Turns an object_store error about `url` into a message a user can act on.
pub fn describe_error(url: &str, err: &object_store::Error) -> String {
    let text = err.to_string();
    let bucket = split_url(url).map(|(b, _)| b).unwrap_or("");
    if text.contains("NoSuchBucket") {
        return format!("bucket '{bucket}' does not exist ({})", short(&text));
    }
    let refused = matches!(err, object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. })
        || ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken", "403 Forbidden"]
            .iter()
            .any(|m| text.contains(m));
    if refused {
        return format!("access denied: the server refused the credentials for bucket '{bucket}' ({})", short(&text));
    }
    if matches!(err, object_store::Error::NotFound { .. }) {
        return format!("not found ({})", short(&text));
    }
    format!("object storage error: {}", short(&text))
}

/// The first line of a long error, at most 300 characters.
fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.len() > 300 {
        let mut end = 300;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &line[..end])
    } else {
        line.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// Zarr: a synchronous zarrs storage over an object store prefix.
// ---------------------------------------------------------------------------------------------

type Inner = AsyncObjectStore<PrefixStore<Arc<dyn ObjectStore>>>;

/// A Zarr store under an object store prefix, for zarrs' synchronous API.
///
/// Each call runs zarrs_object_store's async store on the IO runtime; reads
/// of a whole key are one GET, byte ranges (shards) are range requests.
pub struct ObjectStorage {
    inner: Arc<Inner>,
}

impl ObjectStorage {
    /// The Zarr store at `url` (`s3://bucket/path/store.zarr`).
    pub fn open(url: &str) -> Result<Self> {
        let (store, prefix) = resolve(url)?;
        Ok(ObjectStorage { inner: Arc::new(AsyncObjectStore::new(PrefixStore::new(store, prefix))) })
    }

    fn run<T, F, Fut>(&self, f: F) -> std::result::Result<T, StorageError>
    where
        F: FnOnce(Arc<Inner>) -> Fut,
        Fut: Future<Output = std::result::Result<T, StorageError>> + Send + 'static,
        T: Send + 'static,
    {
        block_on(f(self.inner.clone())).map_err(StorageError::Other)?
    }
}

impl ReadableStorageTraits for ObjectStorage {
    fn get(&self, key: &StoreKey) -> std::result::Result<MaybeBytes, StorageError> {
        let key = key.clone();
        self.run(move |s| async move { s.get(&key).await })
    }

    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> std::result::Result<MaybeBytesIterator<'a>, StorageError> {
        let ranges: Vec<ByteRange> = byte_ranges.collect();
        if let [ByteRange::FromStart(0, None)] = ranges.as_slice() {
            return Ok(self.get(key)?.map(|b| Box::new(std::iter::once(Ok(b))) as _));
        }
        let key = key.clone();
        let parts = self.run(move |s| async move {
            match s.get_partial_many(&key, Box::new(ranges.into_iter())).await? {
                Some(stream) => Ok(Some(stream.collect::<Vec<_>>().await)),
                None => Ok(None),
            }
        })?;
        Ok(parts.map(|p| Box::new(p.into_iter()) as _))
    }

    fn size_key(&self, key: &StoreKey) -> std::result::Result<Option<u64>, StorageError> {
        let key = key.clone();
        self.run(move |s| async move { s.size_key(&key).await })
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

impl ListableStorageTraits for ObjectStorage {
    fn list(&self) -> std::result::Result<StoreKeys, StorageError> {
        self.run(move |s| async move { s.list().await })
    }

    fn list_prefix(&self, prefix: &StorePrefix) -> std::result::Result<StoreKeys, StorageError> {
        let prefix = prefix.clone();
        self.run(move |s| async move { s.list_prefix(&prefix).await })
    }

    fn list_dir(&self, prefix: &StorePrefix) -> std::result::Result<StoreKeysPrefixes, StorageError> {
        let prefix = prefix.clone();
        self.run(move |s| async move { s.list_dir(&prefix).await })
    }

    fn size_prefix(&self, prefix: &StorePrefix) -> std::result::Result<u64, StorageError> {
        let prefix = prefix.clone();
        self.run(move |s| async move { s.size_prefix(&prefix).await })
    }
}

// ---------------------------------------------------------------------------------------------
// NetCDF: a local copy of each object, downloaded once.
// ---------------------------------------------------------------------------------------------

/// Bytes downloaded into the local cache by this process.
static DOWNLOADED: AtomicU64 = AtomicU64::new(0);
/// Objects served from the local cache without a download.
static CACHE_HITS: AtomicU64 = AtomicU64::new(0);

/// What [`local_copy`] did in this process: bytes downloaded and cache hits.
pub fn cache_stats() -> (u64, u64) {
    (DOWNLOADED.load(Ordering::Relaxed), CACHE_HITS.load(Ordering::Relaxed))
}

/// Object metadata seen by the last listing (or HEAD) of each URL: a table's
/// granules are read as they were when it was created.
static KNOWN: LazyLock<Mutex<HashMap<String, ObjectMeta>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

/// Records what a listing saw of `url` (size, ETag, last modified).
pub fn remember(url: &str, meta: ObjectMeta) {
    if let Ok(mut known) = KNOWN.lock() {
        known.insert(url.to_string(), meta);
    }
}

/// Listing generation of each granule URL: bumped each time a LOCATION listing
/// (a CREATE) finds it, so that what was read of it before is read again.
static LISTED: LazyLock<Mutex<(u64, HashMap<String, u64>)>> = LazyLock::new(|| Mutex::new((0, HashMap::new())));

/// Records that a listing found `url` (see [`generation`]).
pub fn listed(url: &str) {
    if let Ok(mut l) = LISTED.lock() {
        l.0 += 1;
        let g = l.0;
        l.1.insert(url.to_string(), g);
    }
}

/// The listing generation of `url` (0 if never listed in this process): metadata
/// cached under the same generation is still the table's view of the granule.
pub fn generation(url: &str) -> u64 {
    LISTED.lock().ok().and_then(|l| l.1.get(url).copied()).unwrap_or(0)
}

/// The cache directory: `$OCEANQL_CACHE_DIR`, else `$XDG_CACHE_HOME/oceanql/objects`,
/// else `~/.cache/oceanql/objects`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("oceanql").join("objects")
}

/// FNV-1a, 64 bits: a stable name for a cache entry.
fn fnv64(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// A local file with the bytes of the object at `url`, downloaded on first use.
///
/// The cache entry is keyed by the URL, the ETag, the last-modified time and
/// the size, so a changed object is downloaded again; downloads go to a
/// temporary file renamed into place, so a reader never sees half a file.
pub fn local_copy(url: &str) -> Result<PathBuf> {
    let err = |why: String| DataFusionError::Plan(format!("{url}: {why}"));
    let (store, path) = resolve(url)?;
    let known = KNOWN.lock().ok().and_then(|k| k.get(url).cloned());
    let meta = match known {
        Some(m) => m,
        None => {
            let (s, p) = (store.clone(), path.clone());
            let meta = block_on(async move { s.head(&p).await }).map_err(err)?.map_err(|e| err(describe_error(url, &e)))?;
            remember(url, meta.clone());
            meta
        }
    };
    let stamp = meta.last_modified.timestamp_micros().to_string();
    let size = meta.size.to_string();
    let etag = meta.e_tag.clone().unwrap_or_default();
    let hash = fnv64(&[url, &etag, &stamp, &size]);
    let name: String = path
        .filename()
        .unwrap_or("object")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' })
        .collect();
    let dir = cache_dir();
    let file = dir.join(format!("{hash:016x}-{name}"));
    if std::fs::metadata(&file).is_ok_and(|m| m.len() == meta.size) {
        CACHE_HITS.fetch_add(1, Ordering::Relaxed);
        return Ok(file);
    }
    std::fs::create_dir_all(&dir).map_err(|e| err(format!("cannot create the cache directory {}: {e}", dir.display())))?;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(".{hash:016x}.{}.{}.part", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed)));
    let (tmp2, url2) = (tmp.clone(), url.to_string());
    let options = GetOptions { if_match: meta.e_tag.clone(), ..Default::default() };
    let written = block_on(async move {
        let result = store.get_opts(&path, options).await.map_err(|e| describe_error(&url2, &e))?;
        let mut out = std::fs::File::create(&tmp2).map_err(|e| format!("cannot write {}: {e}", tmp2.display()))?;
        let mut stream = result.into_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| describe_error(&url2, &e))?;
            out.write_all(&chunk).map_err(|e| format!("cannot write {}: {e}", tmp2.display()))?;
            n += chunk.len() as u64;
        }
        out.sync_all().map_err(|e| format!("cannot write {}: {e}", tmp2.display()))?;
        Ok::<u64, String>(n)
    })
    .and_then(|r| r);
    let written = match written {
        Ok(n) => n,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(err(format!("download failed: {e}")));
        }
    };
    if written != meta.size {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(format!("download incomplete: {written} of {} bytes", meta.size)));
    }
    std::fs::rename(&tmp, &file).map_err(|e| err(format!("cannot move the download into {}: {e}", file.display())))?;
    DOWNLOADED.fetch_add(written, Ordering::Relaxed);
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_taken_with_and_without_prefix() {
        let mut options: HashMap<String, String> = [
            ("aws.access_key_id", "AK"),
            ("format.secret_access_key", "SK"),
            ("region", "eu-west-1"),
            ("aws.endpoint", "http://127.0.0.1:9000"),
            ("aws.allow_http", "true"),
            ("format.has_header", "true"),
            ("pattern", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let taken = take_options(&mut options).unwrap();
        assert_eq!(taken.s3.len(), 5);
        let mut left: Vec<&String> = options.keys().collect();
        left.sort();
        assert_eq!(left, ["format.has_header", "pattern"]);
        let mut bad: HashMap<String, String> = [("aws.acess_key".to_string(), "x".to_string())].into();
        let e = take_options(&mut bad).unwrap_err().to_string();
        assert!(e.contains("unknown storage option 'aws.acess_key'"), "{e}");
    }

    #[test]
    fn options_override_the_environment() {
        let env = vec![
            ("AWS_ACCESS_KEY_ID".to_string(), "from-env".to_string()),
            ("AWS_REGION".to_string(), "eu-north-1".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ];
        let mut options: HashMap<String, String> = [("aws.access_key_id".to_string(), "from-options".to_string())].into();
        let taken = take_options(&mut options).unwrap();
        let b = builder_for("b", &taken, env);
        assert_eq!(b.get_config_value(&AmazonS3ConfigKey::AccessKeyId).as_deref(), Some("from-options"));
        assert_eq!(b.get_config_value(&AmazonS3ConfigKey::Region).as_deref(), Some("eu-north-1"));
        assert_eq!(b.get_config_value(&AmazonS3ConfigKey::Bucket).as_deref(), Some("b"));
    }

    #[test]
    fn urls_split_into_bucket_and_key() {
        assert_eq!(split_url("s3://b/x/y.nc").unwrap(), ("b", "x/y.nc"));
        assert_eq!(split_url("s3://b").unwrap(), ("b", ""));
        assert!(split_url("s3:///x").is_err());
        assert_eq!(object_path("/a/b.zarr/").as_ref(), "a/b.zarr");
    }

    #[test]
    fn block_on_works_inside_a_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let v = rt.block_on(async { tokio::task::spawn_blocking(|| block_on(async { 41 + 1 })).await.unwrap() });
        assert_eq!(v, Ok(42));
    }
}
