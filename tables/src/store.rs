//! Where the lake lives: a local folder, `hdfs://` (hdfs-native, each call in its own task:
//! `hdfs_store.rs`) or `s3://` (object_store's own S3 client); both registered here.
//!
//! S3 goes through object_store rather than deltalake's `s3` feature: that feature brings the AWS
//! SDK for DynamoDB locking, which S3's conditional writes (`If-None-Match`, on AWS since 2024 and
//! on SeaweedFS/MinIO) make unnecessary. Delta commits use put-if-absent, so two writers racing
//! for one version cannot both win.
//!
//! S3 settings are object_store's `aws_*` keys (`aws_endpoint`, `aws_access_key_id`,
//! `aws_secret_access_key`, `aws_region`, `aws_conditional_put`, `aws_allow_http`, ...), taken
//! from the `AWS_*` environment and overridden by the options given to [`Lake::with_options`]
//! (the config file's `[lake.storage]`). Secrets among them are never printed: [`Lake`]'s Debug
//! shows option names only.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Once};

use deltalake::logstore::{
    default_logstore, logstore_factories, object_store_factories, LogStore, LogStoreFactory, ObjectStoreFactory,
    ObjectStoreRef, StorageConfig,
};
use deltalake::{DeltaResult, DeltaTableError, Path};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey, S3ConditionalPut};
use url::Url;

use crate::error::{Error, Result};
use crate::hdfs_store::hdfs_store;

/// URL schemes a lake may use.
pub const SCHEMES: &[&str] = &["file", "hdfs", "viewfs", "s3", "s3a"];

/// A lake root: its URL (always ending in `/`) and the storage options for its object store.
#[derive(Clone)]
pub struct Lake {
    url: Url,
    options: BTreeMap<String, String>,
    /// The chain the writer's node serves: recorded in each table it creates, checked against
    /// each table it opens ([`crate::CHAIN_ID_KEY`]).
    chain_id: Option<u64>,
}

impl std::fmt::Debug for Lake {
    // Options may hold credentials: show their names only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("url", &self.url.as_str())
            .field("options", &self.options.keys().collect::<Vec<_>>())
            .field("chain_id", &self.chain_id)
            .finish()
    }
}

impl std::fmt::Display for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.url.as_str())
    }
}

impl Lake {
    /// Parses `--lake`: a local path (created if missing), a `file://` URL, `hdfs://host:port/path`
    /// or `s3://bucket/path`.
    pub fn parse(location: &str) -> Result<Lake> {
        register_stores();
        let shown = redact(location);
        let bad = |reason: String| Error::BadLocation {
            location: shown.clone(),
            reason,
        };
        let mut url = if location.contains("://") {
            let url = Url::parse(location).map_err(|e| bad(e.to_string()))?;
            if !SCHEMES.contains(&url.scheme()) {
                return Err(bad(format!(
                    "`{}://` is not a lake scheme; use a local folder or one of {}",
                    url.scheme(),
                    SCHEMES.iter().map(|s| format!("{s}://")).collect::<Vec<_>>().join(", ")
                )));
            }
            if url.scheme() != "file" && url.host_str().unwrap_or("").is_empty() {
                return Err(bad(format!(
                    "a `{}://` lake needs a {} in the URL",
                    url.scheme(),
                    if url.scheme().starts_with("s3") {
                        "bucket (s3://BUCKET/path)"
                    } else {
                        "NameNode (hdfs://HOST:PORT/path)"
                    }
                )));
            }
            if !url.username().is_empty() || url.password().is_some() {
                return Err(bad(
                    "credentials do not belong in the lake URL; give them as storage options or AWS_* env".to_string(),
                ));
            }
            url
        } else {
            std::fs::create_dir_all(location).map_err(|e| bad(format!("cannot create the folder: {e}")))?;
            let abs = std::fs::canonicalize(location).map_err(|e| bad(e.to_string()))?;
            Url::from_directory_path(&abs).map_err(|_| bad("not an absolute path".to_string()))?
        };
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Lake {
            url,
            options: BTreeMap::new(),
            chain_id: None,
        })
    }

    /// Adds storage options (object_store keys such as `aws_endpoint`); later ones win.
    pub fn with_options<I, K, V>(mut self, options: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.options.extend(
            options
                .into_iter()
                .map(|(k, v)| (k.into().to_ascii_lowercase(), v.into())),
        );
        self
    }

    /// The lake as written from a node of chain `id` (its `eth_chainId`): tables created are
    /// marked with it, and a table of another chain refuses to open.
    pub fn with_chain_id(mut self, id: u64) -> Self {
        self.chain_id = Some(id);
        self
    }

    pub fn chain_id(&self) -> Option<u64> {
        self.chain_id
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn options(&self) -> &BTreeMap<String, String> {
        &self.options
    }

    /// The local folder of a `file://` lake.
    pub fn local_path(&self) -> Option<std::path::PathBuf> {
        (self.url.scheme() == "file")
            .then(|| self.url.to_file_path().ok())
            .flatten()
    }
}

/// The location with any `user:password@` replaced, for errors and logs.
fn redact(location: &str) -> String {
    match (location.find("://"), location.find('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &location[..scheme_end], &location[at + 1..])
        }
        _ => location.to_string(),
    }
}

/// Registers the S3 and HDFS stores with delta-rs (in place of any it registered); idempotent.
pub fn register_stores() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for (scheme, factory) in [
            ("s3", StoreFactory::S3),
            ("s3a", StoreFactory::S3),
            ("hdfs", StoreFactory::Hdfs),
            ("viewfs", StoreFactory::Hdfs),
        ] {
            if let Ok(url) = Url::parse(&format!("{scheme}://")) {
                let factory = Arc::new(factory);
                object_store_factories().insert(url.clone(), factory.clone());
                logstore_factories().insert(url, factory);
            }
        }
    });
}

/// delta-rs's factories for the stores chainx builds itself.
#[derive(Debug)]
enum StoreFactory {
    S3,
    Hdfs,
}

impl ObjectStoreFactory for StoreFactory {
    fn parse_url_opts(&self, url: &Url, config: &StorageConfig) -> DeltaResult<(ObjectStoreRef, Path)> {
        let store: ObjectStoreRef = match self {
            StoreFactory::S3 => Arc::new(
                s3_builder(url, config.raw.iter())?
                    .build()
                    .map_err(|e| DeltaTableError::Generic(format!("S3 store for {url}: {e}")))?,
            ),
            StoreFactory::Hdfs => hdfs_store(url, config)?,
        };
        Ok((store, Path::parse(url.path())?))
    }
}

impl LogStoreFactory for StoreFactory {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        // Commits are put-if-absent on both (S3's conditional put; on HDFS a temporary file
        // renamed without overwrite), so the default log store is safe.
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}

/// `AWS_*` env, then the given options; conditional put on, and plain HTTP allowed when the
/// endpoint is `http://` (a local SeaweedFS or MinIO).
fn s3_builder<'a>(url: &Url, options: impl Iterator<Item = (&'a String, &'a String)>) -> DeltaResult<AmazonS3Builder> {
    let mut builder = AmazonS3Builder::from_env()
        .with_url(url.as_str())
        .with_conditional_put(S3ConditionalPut::ETagMatch);
    let mut endpoint = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .ok();
    for (key, value) in options {
        // Options for other stores (or for delta-rs itself) are not S3 settings: skip them.
        let Ok(config_key) = AmazonS3ConfigKey::from_str(key) else {
            continue;
        };
        if matches!(config_key, AmazonS3ConfigKey::Endpoint) {
            endpoint = Some(value.clone());
        }
        builder = builder.with_config(config_key, value.clone());
    }
    if endpoint.as_deref().is_some_and(|e| e.starts_with("http://")) {
        builder = builder.with_allow_http(true);
    }
    Ok(builder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_and_mistakes_are_named() {
        for good in ["s3://bucket/lake", "hdfs://nn:9000/chainx", "s3a://b/x/"] {
            let lake = Lake::parse(good).unwrap();
            assert!(lake.url().path().ends_with('/'), "{good}");
        }
        let err = Lake::parse("gs://bucket/lake").unwrap_err().to_string();
        assert!(err.contains("gs://") && err.contains("s3://"), "{err}");
        let err = Lake::parse("s3:///lake").unwrap_err().to_string();
        assert!(err.contains("bucket"), "{err}");
        let err = Lake::parse("s3://key:secret@bucket/lake").unwrap_err().to_string();
        assert!(err.contains("credentials") && !err.contains("key:secret"), "{err}");
    }

    #[test]
    fn debug_hides_option_values() {
        let lake = Lake::parse("s3://b/l")
            .unwrap()
            .with_options([("AWS_SECRET_ACCESS_KEY", "hunter2")]);
        let shown = format!("{lake:?} {lake}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("aws_secret_access_key"), "{shown}");
    }
}
