//! The `--config` TOML file and the resolution flags > environment > file > defaults.
//! (clap already puts flags above environment; this module slots the file in below both.)
//!
//! ```toml
//! [rpc]
//! url = "https://mainnet.infura.io/v3/KEY"
//! max_concurrent_requests = 16
//! rps = 10
//! [lake]
//! path = "./lake"          # or "hdfs://namenode:9000/chainx", "s3://bucket/chainx"
//! # [lake.storage]         # s3:// settings (object_store keys; AWS_* env fills the rest)
//! # aws_endpoint = "http://127.0.0.1:8333"
//! # aws_region = "us-east-1"
//! # or API keys shared by the key pool (secrets from CHAINX_KEY_<NAME> or secrets_file):
//! # provider_url = "https://mainnet.infura.io/v3/{key}"
//! # keys = ["api_key_1", "api_key_2"]
//! # key_rps = 10
//! # key_daily = 100000
//! # coordinator = "redis://127.0.0.1:6379"   # share the keys' limits across replicas
//! [backfill]
//! from = 18000000
//! to = 18100000
//! no_receipts = false
//! tables = ["blocks", "transactions", "logs", "token_transfers", "decoded_events"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use chainx_batch::{BackfillConfig, Finality};
use chainx_evm::RpcConfig;
use chainx_keys::{CallCosts, ProviderKeys};
use chainx_tables::{Lake, TableKind};
use serde::Deserialize;

use crate::cli::{BackfillArgs, RpcArgs};

pub const DEFAULT_RPC_URL: &str = "http://127.0.0.1:8545";
pub const DEFAULT_LAKE: &str = "./lake";
/// Infura's free tier, per key.
pub const DEFAULT_KEY_RPS: u32 = 10;
pub const DEFAULT_KEY_DAILY: u64 = 100_000;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub rpc: RpcSection,
    /// Several providers, each with its own URL, keys and limits (`[[providers]]`).
    #[serde(default)]
    pub providers: Vec<ProviderSection>,
    #[serde(default)]
    pub lake: LakeSection,
    #[serde(default)]
    pub backfill: BackfillSection,
    #[serde(default)]
    pub kafka: KafkaSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSection {
    pub brokers: Option<String>,
    pub network: Option<String>,
    /// librdkafka settings, e.g. `{ "security.protocol" = "SASL_SSL" }`.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
    pub metrics_addr: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcSection {
    pub url: Option<String>,
    pub max_concurrent_requests: Option<usize>,
    pub rps: Option<f64>,
    pub max_retries: Option<u32>,
    pub retry_initial_ms: Option<u64>,
    pub request_timeout_secs: Option<u64>,
    pub max_reply_mb: Option<u64>,
    pub provider_url: Option<String>,
    pub keys: Option<Vec<String>>,
    pub key_rps: Option<u32>,
    pub key_daily: Option<u64>,
    pub key_costs: Option<String>,
    pub secrets_file: Option<std::path::PathBuf>,
    pub coordinator: Option<String>,
    pub request_log: Option<std::path::PathBuf>,
    pub replica_id: Option<String>,
    pub key_mode: Option<String>,
    pub lease_ttl_secs: Option<u64>,
    pub key_rotate_secs: Option<u64>,
    pub usage_store: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSection {
    pub name: String,
    /// A URL template with `{key}`; without `keys`, a plain node URL.
    pub url: String,
    #[serde(default)]
    pub keys: Vec<String>,
    /// In calls, or in the unit of `costs`.
    pub rps: Option<u32>,
    pub daily: Option<u64>,
    /// `calls`, `infura` (credits) or `alchemy` (compute units) [default: calls].
    pub costs: Option<String>,
    /// Per-method costs over `costs`' table (`default` for unlisted methods).
    #[serde(default)]
    pub method_costs: BTreeMap<String, u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeSection {
    pub path: Option<String>,
    /// Object-store options for `s3://` lakes (object_store's `aws_*` keys: `aws_endpoint`,
    /// `aws_region`, `aws_access_key_id`, ...); the `AWS_*` environment fills in the rest.
    #[serde(default)]
    pub storage: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackfillSection {
    pub from: Option<u64>,
    pub to: Option<u64>,
    pub no_receipts: Option<bool>,
    pub tables: Option<Vec<String>>,
    pub abi_dir: Option<PathBuf>,
    pub chunk_blocks: Option<u64>,
    pub max_memory_mb: Option<u64>,
    pub target_file_mb: Option<u64>,
    pub commit_interval_secs: Option<f64>,
    pub batch_blocks: Option<usize>,
    pub confirmations: Option<u64>,
    pub to_head: Option<bool>,
}

impl FileConfig {
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text =
            std::fs::read_to_string(path).with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("config file {} is not valid chainx TOML", path.display()))
    }
}

pub fn rpc_config(args: &RpcArgs, file: &RpcSection) -> anyhow::Result<RpcConfig> {
    let url = args
        .rpc_url
        .clone()
        .or_else(|| file.url.clone())
        .unwrap_or_else(|| DEFAULT_RPC_URL.to_string());
    let mut cfg = RpcConfig::new(url);
    if let Some(n) = args.max_concurrent_requests.or(file.max_concurrent_requests) {
        if n == 0 {
            bail!("--max-concurrent-requests must be at least 1");
        }
        cfg.max_concurrent_requests = n;
    }
    if let Some(rps) = args.rps.or(file.rps) {
        // Below one call in 11 days the pacing interval is no Duration (and no useful job).
        if !(rps >= 1e-6 && rps.is_finite()) {
            bail!("--rps must be a number of calls per second of at least 0.000001, got {rps}");
        }
        cfg.rps = Some(rps);
    }
    if let Some(n) = args.max_retries.or(file.max_retries) {
        cfg.max_retries = n;
    }
    if let Some(ms) = args.retry_initial_ms.or(file.retry_initial_ms) {
        cfg.initial_backoff = Duration::from_millis(ms);
    }
    if let Some(s) = args.request_timeout_secs.or(file.request_timeout_secs) {
        cfg.request_timeout = Duration::from_secs(s.max(1));
    }
    if let Some(mb) = args.max_reply_mb.or(file.max_reply_mb) {
        if mb == 0 || mb > 1 << 20 {
            bail!("--max-reply-mb must be between 1 and 1048576 MiB, got {mb}");
        }
        cfg.max_reply_bytes = mb << 20;
    }
    Ok(cfg)
}

/// Every provider's keys: the flags' provider (`--provider-url`, `--keys`) and the file's
/// `[[providers]]`. Empty when neither names any: then the plain `--rpc-url` is used.
pub fn provider_keys(args: &RpcArgs, file: &FileConfig) -> anyhow::Result<(Vec<ProviderKeys>, Option<PathBuf>)> {
    let rpc = &file.rpc;
    let mut out = Vec::new();
    if let Some(keys) = args.keys.clone().or_else(|| rpc.keys.clone()).filter(|k| !k.is_empty()) {
        let template = args
            .provider_url
            .clone()
            .or_else(|| rpc.provider_url.clone())
            .context("--keys needs --provider-url, a URL template with {key} where the key goes")?;
        let provider = url::Url::parse(&template.replace("{key}", "key"))
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "provider".to_string());
        out.push(ProviderKeys {
            provider,
            url_template: template,
            keys,
            rps: args.key_rps.or(rpc.key_rps).unwrap_or(DEFAULT_KEY_RPS),
            daily: args.key_daily.or(rpc.key_daily).unwrap_or(DEFAULT_KEY_DAILY),
            costs: call_costs(args.key_costs.as_deref().or(rpc.key_costs.as_deref()), &BTreeMap::new())?,
        });
    }
    for p in &file.providers {
        out.push(ProviderKeys {
            provider: p.name.clone(),
            url_template: p.url.clone(),
            keys: p.keys.clone(),
            rps: p.rps.unwrap_or(DEFAULT_KEY_RPS),
            daily: p.daily.unwrap_or(DEFAULT_KEY_DAILY),
            costs: call_costs(p.costs.as_deref(), &p.method_costs)
                .with_context(|| format!("[[providers]] {}", p.name))?,
        });
    }
    Ok((out, args.secrets_file.clone().or_else(|| rpc.secrets_file.clone())))
}

/// A provider's cost table: a preset (default `calls`) with the config's overrides.
fn call_costs(preset: Option<&str>, overrides: &BTreeMap<String, u32>) -> anyhow::Result<Arc<CallCosts>> {
    let mut costs = CallCosts::preset(preset.unwrap_or("calls"))?;
    for (method, cost) in overrides {
        costs = costs.with(method, *cost);
    }
    Ok(Arc::new(costs))
}

/// The Redis URL replicas share key accounting through, if any.
pub fn coordinator(args: &RpcArgs, file: &RpcSection) -> Option<String> {
    args.coordinator.clone().or_else(|| file.coordinator.clone())
}

/// This replica's name in the request log and on key leases [default: HOSTNAME-pid].
pub fn replica_id(args: &RpcArgs, file: &RpcSection) -> String {
    args.replica_id
        .clone()
        .or_else(|| file.replica_id.clone())
        .unwrap_or_else(|| {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "chainx".to_string());
            format!("{host}-{}", std::process::id())
        })
}

/// Exclusive mode's rotation period, if set.
pub fn key_rotation(args: &RpcArgs, file: &RpcSection) -> Option<std::time::Duration> {
    args.key_rotate_secs
        .or(file.key_rotate_secs)
        .map(std::time::Duration::from_secs)
}

/// Cassandra nodes of the usage ledger, if any.
pub fn usage_store(args: &RpcArgs, file: &RpcSection) -> Option<String> {
    args.usage_store.clone().or_else(|| file.usage_store.clone())
}

/// Where to log requests.
pub fn request_log(args: &RpcArgs, file: &RpcSection) -> Option<PathBuf> {
    args.request_log.clone().or_else(|| file.request_log.clone())
}

/// The key mode: `None` for shared, `Some(lease TTL)` for exclusive.
pub fn exclusive_ttl(args: &RpcArgs, file: &RpcSection) -> anyhow::Result<Option<std::time::Duration>> {
    match args.key_mode.clone().or_else(|| file.key_mode.clone()).as_deref() {
        None | Some("shared") => Ok(None),
        Some("exclusive") => {
            let secs = args.lease_ttl_secs.or(file.lease_ttl_secs).unwrap_or(30);
            Ok(Some(std::time::Duration::from_secs(secs.max(1))))
        }
        Some(other) => anyhow::bail!("key mode `{other}` is neither shared nor exclusive"),
    }
}

pub fn lake_location(flag: &Option<String>, file: &LakeSection) -> String {
    flag.clone()
        .or_else(|| file.path.clone())
        .unwrap_or_else(|| DEFAULT_LAKE.to_string())
}

/// The lake to open: `--lake` > `[lake] path` > ./lake, with `[lake.storage]` options.
pub fn lake(flag: &Option<String>, file: &LakeSection) -> anyhow::Result<Lake> {
    let location = lake_location(flag, file);
    Ok(Lake::parse(&location)?.with_options(file.storage.clone()))
}

/// The tables `names` (a `--tables` list), each one of `allowed`, which `job` lands.
pub fn table_names(names: &[String], allowed: &[TableKind], job: &str) -> anyhow::Result<Vec<TableKind>> {
    names
        .iter()
        .map(|n| {
            TableKind::from_name(n.trim())
                .filter(|k| allowed.contains(k))
                .with_context(|| {
                    let names: Vec<&str> = allowed.iter().map(|k| k.name()).collect();
                    format!("--tables: no table `{n}`; {job} lands {}", names.join(", "))
                })
        })
        .collect()
}

pub fn backfill_config(args: &BackfillArgs, file: &FileConfig) -> anyhow::Result<BackfillConfig> {
    let from = args
        .from
        .or(file.backfill.from)
        .context("--from is required (or CHAINX_FROM, or [backfill] from)")?;
    let to = args
        .to
        .or(file.backfill.to)
        .context("--to is required (or CHAINX_TO, or [backfill] to)")?;
    let mut cfg = BackfillConfig::new(from, to, lake_location(&args.lake, &file.lake));
    cfg.lake_options = file.lake.storage.clone();
    cfg.receipts = !args.no_receipts.or(file.backfill.no_receipts).unwrap_or(false);
    cfg.tables = match args.tables.as_ref().or(file.backfill.tables.as_ref()) {
        Some(names) => table_names(names, &TableKind::ALL, "the backfill")?,
        // What --no-receipts always landed: the tables that need no receipts.
        None if !cfg.receipts => vec![TableKind::Blocks, TableKind::Transactions],
        None => TableKind::BACKFILL_DEFAULT.to_vec(),
    };
    cfg.abi_dir = args.abi_dir.clone().or_else(|| file.backfill.abi_dir.clone());
    cfg.etherscan = args.etherscan_url.as_ref().map(|url| chainx_batch::EtherscanSource {
        url: url.clone(),
        key: etherscan_key(),
        cache_dir: abi_cache_dir(args.abi_cache.as_deref()),
    });
    if let Some(n) = args.chunk_blocks.or(file.backfill.chunk_blocks) {
        cfg.chunk_blocks = n;
    }
    if let Some(mb) = args.max_memory.or(file.backfill.max_memory_mb) {
        cfg.max_memory = mb.saturating_mul(1 << 20);
    }
    if let Some(mb) = args.target_file_mb.or(file.backfill.target_file_mb) {
        if mb == 0 {
            bail!("--target-file-mb must be at least 1");
        }
        cfg.target_file_bytes = mb.saturating_mul(1 << 20);
    }
    if let Some(secs) = args.commit_interval.or(file.backfill.commit_interval_secs) {
        if !(secs.is_finite() && secs > 0.0 && secs < 1e7) {
            bail!("--commit-interval {secs} is not a number of seconds above 0 (300 is the default)");
        }
        cfg.commit_interval = std::time::Duration::from_secs_f64(secs);
    }
    if let Some(n) = args.batch_blocks.or(file.backfill.batch_blocks) {
        cfg.batch_blocks = n;
    }
    cfg.chain_id = args
        .rpc
        .chain
        .as_deref()
        .map(crate::chains::find)
        .transpose()?
        .map(|p| p.id);
    cfg.finality = if args.to_head.or(file.backfill.to_head).unwrap_or(false) {
        Finality::Head
    } else if let Some(n) = args.confirmations.or(file.backfill.confirmations) {
        Finality::Confirmations(n)
    } else {
        Finality::Finalized
    };
    Ok(cfg)
}

/// A flag's seconds as a `Duration`, or an error naming the flag for what no `Duration` holds
/// (zero or negative, NaN, infinite, or beyond 10,000,000 s), where `Duration::from_secs_f64`
/// would panic.
pub fn seconds(flag: &str, secs: f64) -> anyhow::Result<std::time::Duration> {
    if !(secs.is_finite() && secs > 0.0 && secs <= 1e7) {
        bail!("{flag} {secs} is not a number of seconds above 0 and at most 10000000");
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// The Etherscan API key, from `CHAINX_ETHERSCAN_KEY` only (never a flag: it would show in `ps`).
pub fn etherscan_key() -> Option<String> {
    std::env::var("CHAINX_ETHERSCAN_KEY").ok().filter(|k| !k.is_empty())
}

/// Where fetched ABIs are cached: `--abi-cache`, else `~/.cache/chainx/abi`.
pub fn abi_cache_dir(arg: Option<&Path>) -> PathBuf {
    match arg {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(std::env::var("HOME").unwrap_or_else(|_| ".".to_string())).join(".cache/chainx/abi"),
    }
}

/// For a `ws://`/`wss://` RPC URL: the same endpoint over HTTP(S), where calls go (newHeads stays
/// on the socket). Right for anvil, reth, Alchemy and QuickNode, which serve both on one URL;
/// geth (port 8546) and Infura (`/ws/v3/`) need `--ws-url` next to an HTTP `--rpc-url`.
pub fn http_for_ws(url: &str) -> Option<String> {
    if let Some(rest) = url.strip_prefix("wss://") {
        Some(format!("https://{rest}"))
    } else {
        url.strip_prefix("ws://").map(|rest| format!("http://{rest}"))
    }
}

pub const DEFAULT_BROKERS: &str = "127.0.0.1:9092";
pub const DEFAULT_NETWORK: &str = "mainnet";

/// Brokers, network and librdkafka options: flags > env > file > defaults.
pub fn kafka_config(
    args: &crate::cli::KafkaArgs,
    file: &KafkaSection,
) -> anyhow::Result<(chainx_fast::kafka::KafkaConfig, String)> {
    let brokers = args
        .brokers
        .clone()
        .or_else(|| file.brokers.clone())
        .unwrap_or_else(|| DEFAULT_BROKERS.to_string());
    let network = args
        .network
        .clone()
        .or_else(|| file.network.clone())
        .unwrap_or_else(|| DEFAULT_NETWORK.to_string());
    if network.is_empty()
        || !network
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        anyhow::bail!("--network `{network}` must be letters, digits, `-` or `_` (it prefixes topic names)");
    }
    let mut kafka = chainx_fast::kafka::KafkaConfig::new(brokers);
    kafka.options = file.options.clone().into_iter().collect();
    // An empty entry (`CHAINX_KAFKA_OPTIONS=`, or a trailing comma) sets nothing.
    for opt in args.kafka_options.iter().filter(|o| !o.trim().is_empty()) {
        let (k, v) = opt.split_once('=').with_context(|| {
            format!(
                "--kafka-option `{}` is not KEY=VALUE",
                opt.split('=').next().unwrap_or_default()
            )
        })?;
        kafka.options.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok((kafka, network))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_deployments_config_file_loads_and_names_its_services() {
        // services/app_layer/chainx.toml, as the app and batch layers mount it.
        let crate_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
        let path = std::path::Path::new(&crate_dir).join("../services/app_layer/chainx.toml");
        let file = super::FileConfig::load(Some(&path)).unwrap();
        assert_eq!(file.rpc.coordinator.as_deref(), Some("redis://redis:6379"));
        assert_eq!(file.rpc.usage_store.as_deref(), Some("scylla:9042"));
        assert_eq!(file.kafka.metrics_addr.as_deref(), Some("0.0.0.0:9300"));
        assert!(file.lake.path.as_deref().unwrap().starts_with("hdfs://namenode:8020/"));
        let (providers, _) = super::provider_keys(&crate::cli::RpcArgs::default(), &file).unwrap();
        assert_eq!(providers[0].keys.len(), 4);
    }

    #[test]
    fn websocket_rpc_urls_map_to_http() {
        use super::http_for_ws;
        assert_eq!(
            http_for_ws("ws://127.0.0.1:8545").as_deref(),
            Some("http://127.0.0.1:8545")
        );
        assert_eq!(
            http_for_ws("wss://eth-mainnet.g.alchemy.com/v2/k").as_deref(),
            Some("https://eth-mainnet.g.alchemy.com/v2/k")
        );
        assert_eq!(http_for_ws("https://x"), None);
    }

    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn backfill_args(argv: &[&str]) -> BackfillArgs {
        let mut full = vec!["chainx", "backfill"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Backfill(a) => *a,
            other => panic!("parsed {other:?}"),
        }
    }

    const FILE: &str = r#"
        [rpc]
        url = "http://file.example:8545"
        max_concurrent_requests = 4
        [lake]
        path = "/tmp/file-lake"
        [backfill]
        from = 10
        to = 20
        no_receipts = true
    "#;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let file: FileConfig = toml::from_str(FILE).unwrap();
        let args = backfill_args(&["--to", "30", "--rpc-url", "http://flag.example:8545"]);
        let cfg = backfill_config(&args, &file).unwrap();
        assert_eq!((cfg.from, cfg.to), (10, 30));
        assert_eq!(cfg.lake, "/tmp/file-lake");
        assert!(!cfg.receipts);
        let rpc = rpc_config(&args.rpc, &file.rpc).unwrap();
        assert_eq!(rpc.url, "http://flag.example:8545");
        assert_eq!(rpc.max_concurrent_requests, 4);
        assert_eq!(rpc.max_retries, 6);
    }

    #[test]
    fn defaults_apply_without_file_or_flags() {
        let args = backfill_args(&["--from", "1", "--to", "2"]);
        let cfg = backfill_config(&args, &FileConfig::default()).unwrap();
        assert_eq!(cfg.lake, DEFAULT_LAKE);
        assert!(cfg.receipts);
        assert_eq!(
            rpc_config(&args.rpc, &RpcSection::default()).unwrap().url,
            DEFAULT_RPC_URL
        );
    }

    #[test]
    fn unknown_keys_and_missing_range_are_clear_errors() {
        let err = toml::from_str::<FileConfig>("[rpc]\nurll = 'x'")
            .unwrap_err()
            .to_string();
        assert!(err.contains("urll"), "{err}");
        let args = backfill_args(&["--to", "2"]);
        let err = backfill_config(&args, &FileConfig::default()).unwrap_err().to_string();
        assert!(err.contains("--from is required"), "{err}");
        let args = backfill_args(&["--from", "1", "--to", "2", "--rps", "0"]);
        assert!(rpc_config(&args.rpc, &RpcSection::default()).is_err());
    }

    #[test]
    fn keys_come_with_a_template_and_infura_defaults() {
        let args = backfill_args(&[
            "--keys",
            "api_key_1,api_key_2",
            "--provider-url",
            "https://mainnet.infura.io/v3/{key}",
        ]);
        let (providers, secrets) = provider_keys(&args.rpc, &FileConfig::default()).unwrap();
        let p = &providers[0];
        assert_eq!(p.keys, vec!["api_key_1", "api_key_2"]);
        assert_eq!(
            (p.rps, p.daily, p.provider.as_str()),
            (10, 100_000, "mainnet.infura.io")
        );
        assert!(secrets.is_none());
        let args = backfill_args(&["--keys", "api_key_1"]);
        let err = provider_keys(&args.rpc, &FileConfig::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("--provider-url"), "{err}");
        assert!(provider_keys(&backfill_args(&[]).rpc, &FileConfig::default())
            .unwrap()
            .0
            .is_empty());
    }

    #[test]
    fn several_providers_come_from_the_file() {
        let file: FileConfig = toml::from_str(
            r#"
            [[providers]]
            name = "infura"
            url = "https://mainnet.infura.io/v3/{key}"
            keys = ["api_key_1", "api_key_2"]
            [[providers]]
            name = "alchemy"
            url = "https://eth-mainnet.g.alchemy.com/v2/{key}"
            keys = ["alchemy_1"]
            rps = 25
            daily = 1000000
            [[providers]]
            name = "own-node"
            url = "http://10.0.0.5:8545"
            rps = 200
            "#,
        )
        .unwrap();
        let (providers, _) = provider_keys(&backfill_args(&[]).rpc, &file).unwrap();
        assert_eq!(providers.len(), 3);
        assert_eq!((providers[0].rps, providers[1].rps, providers[2].rps), (10, 25, 200));
        assert!(providers[2].keys.is_empty());
        assert!(providers.iter().all(|p| p.costs.counts_calls()));
    }

    #[test]
    fn providers_price_calls_by_a_table_with_overrides() {
        let file: FileConfig = toml::from_str(
            r#"
            [[providers]]
            name = "infura"
            url = "https://mainnet.infura.io/v3/{key}"
            keys = ["api_key_1"]
            rps = 500
            daily = 3000000
            costs = "infura"
            method_costs = { eth_getBlockReceipts = 400 }
            "#,
        )
        .unwrap();
        let (providers, _) = provider_keys(&backfill_args(&[]).rpc, &file).unwrap();
        let costs = &providers[0].costs;
        assert_eq!(costs.total(["eth_getBlockByNumber", "eth_getBlockReceipts"]), 80 + 400);
        let bad: FileConfig =
            toml::from_str("[[providers]]\nname = 'x'\nurl = 'http://n/{key}'\nkeys = ['k']\ncosts = 'quiknode'")
                .unwrap();
        let e = format!("{:#}", provider_keys(&backfill_args(&[]).rpc, &bad).unwrap_err());
        assert!(e.contains("[[providers]] x") && e.contains("quiknode"), "{e}");
        let args = backfill_args(&[
            "--keys",
            "k",
            "--provider-url",
            "http://n/{key}",
            "--key-costs",
            "alchemy",
        ]);
        let (providers, _) = provider_keys(&args.rpc, &FileConfig::default()).unwrap();
        assert_eq!(providers[0].costs.name(), "alchemy");
    }

    #[test]
    fn no_receipts_flag_alone_means_true() {
        let args = backfill_args(&["--from", "1", "--to", "2", "--no-receipts"]);
        assert_eq!(args.no_receipts, Some(true));
    }

    #[test]
    fn tables_come_from_the_flag_the_file_or_what_receipts_allow() {
        let file = FileConfig::default();
        let cfg = backfill_config(&backfill_args(&["--from", "1", "--to", "2"]), &file).unwrap();
        assert_eq!(cfg.tables, TableKind::BACKFILL_DEFAULT.to_vec());
        // --no-receipts alone keeps what it always landed.
        let cfg = backfill_config(&backfill_args(&["--from", "1", "--to", "2", "--no-receipts"]), &file).unwrap();
        assert_eq!(cfg.tables, vec![TableKind::Blocks, TableKind::Transactions]);
        let args = backfill_args(&["--from", "1", "--to", "2", "--tables", "logs, token_transfers"]);
        let cfg = backfill_config(&args, &file).unwrap();
        assert_eq!(cfg.tables, vec![TableKind::Logs, TableKind::TokenTransfers]);
        let file: FileConfig = toml::from_str("[backfill]\ntables = [\"blocks\"]").unwrap();
        let cfg = backfill_config(&backfill_args(&["--from", "1", "--to", "2"]), &file).unwrap();
        assert_eq!(cfg.tables, vec![TableKind::Blocks]);
        let args = backfill_args(&[
            "--from",
            "1",
            "--to",
            "2",
            "--etherscan-url",
            "https://api.example/api",
            "--abi-cache",
            "/tmp/abis",
            "--max-memory",
            "1024",
        ]);
        let cfg = backfill_config(&args, &FileConfig::default()).unwrap();
        let etherscan = cfg.etherscan.as_ref().unwrap();
        assert_eq!(etherscan.url, "https://api.example/api");
        assert_eq!(etherscan.cache_dir, PathBuf::from("/tmp/abis"));
        assert_eq!(cfg.max_memory, 1024 << 20);
        let args = backfill_args(&["--from", "1", "--to", "2", "--tables", "transactions,decoded_calls"]);
        let cfg = backfill_config(&args, &FileConfig::default()).unwrap();
        assert_eq!(cfg.tables, vec![TableKind::Transactions, TableKind::DecodedCalls]);
        let args = backfill_args(&["--from", "1", "--to", "2", "--tables", "nope"]);
        let e = backfill_config(&args, &FileConfig::default()).unwrap_err().to_string();
        assert!(
            e.contains("no table `nope`") && e.contains("token_transfers") && e.contains("decoded_calls"),
            "{e}"
        );
    }
}
