//! Object storage for files the platform keeps outside its database: approved exports,
//! attachments and, when the store is S3-compatible, sandbox datasets.
//! A local directory (`<data_dir>/objects`) by default; S3-compatible storage (a cloud's S3 API,
//! MinIO, Ceph) by configuration, with credentials from the environment
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), never from the config file.
//!
//! Every write is a multipart upload that becomes visible only when it completes: a process
//! killed in the middle leaves no partial object behind for anyone to read (on S3 the
//! incomplete parts are invisible and the bucket's lifecycle rule removes them; locally they are
//! a staging file that listings skip).

use std::sync::Arc;

use axum::body::Bytes;
use futures::TryStreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use serde::Deserialize;

use crate::ServerError;

/// Part size of uploads (S3's minimum for all but the last part is 5 MiB).
const PART_BYTES: usize = 5 * 1024 * 1024;

/// Where objects live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ObjectsConfig {
    /// `s3://bucket` or `s3://bucket/prefix`; unset, the local directory `<data_dir>/objects`.
    pub url: Option<String>,
    /// The S3 endpoint when it is not AWS, e.g. `http://minio.internal:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Allow plain HTTP to the endpoint (a storage network inside the data centre).
    pub allow_http: bool,
}

/// The object store and the prefix every key is written under.
#[derive(Clone)]
pub struct Objects {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    describe: String,
    /// The bucket, for an S3-compatible store; `None` for the local directory.
    bucket: Option<String>,
    stall: Option<Arc<Stall>>,
}

/// A test hook, set only on a server started with `test_clock`: uploads of keys under `prefix`
/// store their parts, create `marker`, and never complete, so that a test can SIGKILL the
/// process at exactly that moment.
#[derive(Debug)]
struct Stall {
    prefix: String,
    marker: std::path::PathBuf,
}

/// The environment variable that sets the hook (with `test_clock` only).
pub const STALL_ENV: &str = "SHUYU_TEST_STALL_UPLOADS_UNDER";

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe)
    }
}

/// Why an object operation failed, for the log; callers answer with their own error.
#[derive(Debug, thiserror::Error)]
#[error("object storage ({where_}): {source}")]
pub struct ObjectsError {
    where_: String,
    #[source]
    source: object_store::Error,
}

/// What a caller answers when object storage fails it: logged here with `what` was being done,
/// answered as a 503 the person can retry.
pub(crate) fn unavailable(what: &str, err: &dyn std::fmt::Display) -> crate::error::ApiError {
    tracing::error!(error = %err, "{what}");
    crate::error::ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "object_storage_unavailable")
}

impl Objects {
    /// Opens the configured store; a local one is created under `data_dir`.
    pub fn open(config: &ObjectsConfig, data_dir: &std::path::Path) -> Result<Self, ServerError> {
        let bad = |reason: String| ServerError::Objects(reason);
        match config.url.as_deref().filter(|u| !u.is_empty()) {
            None => {
                let dir = data_dir.join("objects");
                std::fs::create_dir_all(&dir)
                    .map_err(|source| ServerError::DataDir { path: dir.display().to_string(), source })?;
                let store = object_store::local::LocalFileSystem::new_with_prefix(&dir)
                    .map_err(|e| bad(e.to_string()))?
                    .with_automatic_cleanup(true);
                Ok(Self {
                    store: Arc::new(store),
                    prefix: String::new(),
                    describe: format!("local {}", dir.display()),
                    bucket: None,
                    stall: None,
                })
            }
            Some(url) => {
                let rest = url
                    .strip_prefix("s3://")
                    .ok_or_else(|| bad(format!("{url}: use s3://bucket[/prefix] or leave it unset")))?;
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(bad(format!("{url}: the bucket is missing")));
                }
                let mut b = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
                if let Some(endpoint) = &config.endpoint {
                    b = b.with_endpoint(endpoint).with_virtual_hosted_style_request(false);
                }
                if let Some(region) = &config.region {
                    b = b.with_region(region);
                }
                let store = b.with_allow_http(config.allow_http).build().map_err(|e| bad(e.to_string()))?;
                Ok(Self {
                    store: Arc::new(store),
                    prefix: prefix.trim_matches('/').to_string(),
                    describe: format!("s3://{bucket}/{}", prefix.trim_matches('/')),
                    bucket: Some(bucket.to_string()),
                    stall: None,
                })
            }
        }
    }

    /// Sets the test hook from [`STALL_ENV`]; the marker is `<data_dir>/upload-stalled`.
    pub fn with_test_stall(mut self, data_dir: &std::path::Path) -> Self {
        if let Ok(prefix) = std::env::var(STALL_ENV) {
            self.stall = Some(Arc::new(Stall { prefix, marker: data_dir.join("upload-stalled") }));
        }
        self
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }

    fn err(&self, key: &str, source: object_store::Error) -> ObjectsError {
        ObjectsError { where_: format!("{self:?} {key}"), source }
    }

    /// Writes `bytes` at `key`, visible only once all of it is stored.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<(), ObjectsError> {
        if let Some(stall) = self.stall.as_deref().filter(|s| key.starts_with(&s.prefix)) {
            let mut upload = self.store.put_multipart(&self.path(key)).await.map_err(|e| self.err(key, e))?;
            for chunk in bytes.chunks(PART_BYTES) {
                upload.put_part(Bytes::copy_from_slice(chunk).into()).await.map_err(|e| self.err(key, e))?;
            }
            let _ = std::fs::write(&stall.marker, key);
            std::future::pending::<()>().await;
        }
        let path = self.path(key);
        let upload = self.store.put_multipart(&path).await.map_err(|e| self.err(key, e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        for chunk in bytes.chunks(PART_BYTES) {
            if let Err(e) = w.wait_for_capacity(2).await {
                let _ = w.abort().await;
                return Err(self.err(key, e));
            }
            w.write(chunk);
        }
        w.finish().await.map(|_| ()).map_err(|e| self.err(key, e))
    }

    /// Whether objects live in an S3-compatible store rather than the local directory.
    pub fn is_remote(&self) -> bool {
        self.bucket.is_some()
    }

    /// The directory `key` as the query engine reads it (`s3://bucket/prefix/key/`), with the
    /// store to read it through.
    pub fn dataset(&self, key: &str) -> shuyu_sandbox::engine::ObjectDataset {
        let bucket = self.bucket.as_deref().unwrap_or_default();
        shuyu_sandbox::engine::ObjectDataset {
            url: format!("s3://{bucket}/{}/", self.path(key)),
            store: self.store.clone(),
        }
    }

    /// Streams the file at `file` to `key` without holding it in memory; visible only once
    /// complete, like [`Objects::put`].
    pub async fn put_file(&self, key: &str, file: &std::path::Path) -> Result<(), ObjectsError> {
        use tokio::io::AsyncReadExt;
        let io = |e: std::io::Error| self.err(key, object_store::Error::Generic { store: "file", source: Box::new(e) });
        let mut f = tokio::fs::File::open(file).await.map_err(io)?;
        let upload = self.store.put_multipart(&self.path(key)).await.map_err(|e| self.err(key, e))?;
        let mut w = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut buf = vec![0u8; PART_BYTES];
        loop {
            let n = match f.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(io(e));
                }
            };
            if let Err(e) = w.wait_for_capacity(2).await {
                let _ = w.abort().await;
                return Err(self.err(key, e));
            }
            w.write(&buf[..n]);
        }
        w.finish().await.map(|_| ()).map_err(|e| self.err(key, e))
    }

    /// The object at `key`, or `None` when there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, ObjectsError> {
        match self.store.get(&self.path(key)).await {
            Ok(r) => r.bytes().await.map(Some).map_err(|e| self.err(key, e)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.err(key, e)),
        }
    }

    /// Deletes the object at `key`, if there is one.
    pub async fn delete(&self, key: &str) -> Result<(), ObjectsError> {
        match self.store.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err(key, e)),
        }
    }

    /// Deletes every object under `prefix` (a workspace destroyed); returns how many.
    pub async fn delete_under(&self, prefix: &str) -> Result<usize, ObjectsError> {
        let keys = self.list(prefix).await?;
        for (key, _) in &keys {
            self.delete(key).await?;
        }
        Ok(keys.len())
    }

    /// The keys under `prefix` (relative to the configured prefix) and their sizes.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, ObjectsError> {
        let base = self.path(prefix);
        let metas: Vec<object_store::ObjectMeta> =
            self.store.list(Some(&base)).try_collect().await.map_err(|e| self.err(prefix, e))?;
        let strip = if self.prefix.is_empty() { String::new() } else { format!("{}/", self.prefix) };
        let mut out: Vec<(String, u64)> = metas
            .into_iter()
            .map(|m| (m.location.as_ref().strip_prefix(&strip).unwrap_or(m.location.as_ref()).to_string(), m.size))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Starts an upload and stores one part of it without completing it: what a process killed
    /// mid-upload leaves behind. For tests of that guarantee only.
    #[doc(hidden)]
    pub async fn begin_and_abandon(&self, key: &str, bytes: Bytes) -> Result<(), ObjectsError> {
        let mut upload = self.store.put_multipart(&self.path(key)).await.map_err(|e| self.err(key, e))?;
        upload.put_part(bytes.into()).await.map_err(|e| self.err(key, e))?;
        // Dropped here: no completion, as when the process dies.
        Ok(())
    }
}
