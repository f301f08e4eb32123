//! ABIs from an Etherscan-compatible `getabi` endpoint, cached on disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy_json_abi::JsonAbi;
use alloy_primitives::Address;
use serde_json::Value;

use super::json::parse_abi;
use super::AbiError;
use crate::redact::redact_url;

/// An Etherscan-compatible ABI endpoint (`?module=contract&action=getabi&address=A`), asked at
/// most once per address; answers are cached in `cache_dir` across runs. Its `Debug` hides the
/// key.
pub struct EtherscanAbis {
    endpoint: String,
    api_key: Option<String>,
    cache_dir: PathBuf,
    /// The chain asked for (Etherscan's V2 API serves every chain by `chainid`); the cache is
    /// kept per chain, as one address holds different contracts on different chains.
    chain_id: Option<u64>,
    http: reqwest::Client,
    /// Addresses whose lookup failed for a transient reason, with when to ask again: an outage
    /// must not turn into one request per transaction.
    backoff: Mutex<HashMap<Address, Instant>>,
    requests: std::sync::atomic::AtomicU64,
}

impl std::fmt::Debug for EtherscanAbis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtherscanAbis")
            .field("endpoint", &redact_url(&self.endpoint))
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("cache_dir", &self.cache_dir)
            .field("chain_id", &self.chain_id)
            .finish_non_exhaustive()
    }
}

/// How long a failed lookup waits before the same address is asked again.
const RETRY_AFTER: Duration = Duration::from_secs(600);

impl EtherscanAbis {
    pub fn new(endpoint: &str, api_key: Option<String>, cache_dir: &Path) -> Result<Self, AbiError> {
        std::fs::create_dir_all(cache_dir).map_err(|e| AbiError::Cache {
            path: cache_dir.to_path_buf(),
            reason: e.to_string(),
        })?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .map_err(|e| AbiError::Endpoint {
                endpoint: redact_url(endpoint),
                reason: e.to_string(),
            })?;
        Ok(EtherscanAbis {
            endpoint: endpoint.to_string(),
            api_key,
            cache_dir: cache_dir.to_path_buf(),
            chain_id: None,
            http,
            backoff: Mutex::new(HashMap::new()),
            requests: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Asks for the contracts of chain `chain_id` (`chainid=`), cached in their own folder
    /// (`<cache>/<chain id>/`). Without it the endpoint's default chain, cached at the root.
    pub fn for_chain(mut self, chain_id: u64) -> Result<Self, AbiError> {
        let dir = self.cache_dir.join(chain_id.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| AbiError::Cache {
            path: dir.clone(),
            reason: e.to_string(),
        })?;
        self.cache_dir = dir;
        self.chain_id = Some(chain_id);
        Ok(self)
    }

    /// HTTP requests made to the endpoint so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn cache_path(&self, address: Address) -> PathBuf {
        self.cache_dir.join(format!("{address:#x}.json"))
    }

    /// The verified ABI of `address`, or `None` (unverified, or the endpoint failed).
    pub async fn abi(&self, address: Address) -> Option<JsonAbi> {
        let path = self.cache_path(address);
        if let Ok(text) = std::fs::read_to_string(&path) {
            // `null` caches "not verified".
            return parse_abi(&text).ok();
        }
        if let Ok(b) = self.backoff.lock() {
            if b.get(&address).is_some_and(|until| Instant::now() < *until) {
                return None;
            }
        }
        match self.fetch(address).await {
            Ok(abi) => {
                let text = abi
                    .as_ref()
                    .and_then(|a| serde_json::to_string(a).ok())
                    .unwrap_or_else(|| "null".to_string());
                let tmp = path.with_extension("tmp");
                if std::fs::write(&tmp, text)
                    .and_then(|_| std::fs::rename(&tmp, &path))
                    .is_err()
                {
                    tracing::warn!(path = %path.display(), "could not cache an ABI");
                }
                abi
            }
            Err(reason) => {
                tracing::warn!(address = %format!("{address:#x}"), "ABI lookup failed: {reason}");
                if let Ok(mut b) = self.backoff.lock() {
                    b.insert(address, Instant::now() + RETRY_AFTER);
                }
                None
            }
        }
    }

    async fn fetch(&self, address: Address) -> Result<Option<JsonAbi>, String> {
        self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut query = vec![
            ("module", "contract".to_string()),
            ("action", "getabi".to_string()),
            ("address", format!("{address:#x}")),
        ];
        if let Some(id) = self.chain_id {
            query.insert(0, ("chainid", id.to_string()));
        }
        if let Some(k) = &self.api_key {
            query.push(("apikey", k.clone()));
        }
        let scrub = |e: String| match &self.api_key {
            Some(k) if !k.is_empty() => e.replace(k.as_str(), "***"),
            _ => e,
        };
        let reply: Value = self
            .http
            .get(&self.endpoint)
            .query(&query)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| scrub(e.without_url().to_string()))?
            .json()
            .await
            .map_err(|e| scrub(e.without_url().to_string()))?;
        let result = reply.get("result").and_then(Value::as_str).unwrap_or_default();
        if reply.get("status").and_then(Value::as_str) == Some("1") {
            return parse_abi(result).map(Some);
        }
        if result.contains("not verified") {
            return Ok(None);
        }
        Err(scrub(format!(
            "endpoint said {}",
            reply.get("result").unwrap_or(&reply)
        )))
    }
}
