mod backfill;
mod hive;
mod lake;
mod metrics;
mod sink;
mod stream;

use std::path::PathBuf;
use std::sync::Arc;

use chainx_evm::{RequestLog, RpcClient};
use chainx_keys::{resolve_keys, CassandraUsage, KeyPool, ProviderKeys};
use chainx_telemetry::ProviderMetrics;

use crate::cli::{Cli, Command, HiveCommand, LakeCommand, RpcArgs, TopicsCommand};
use crate::config::{coordinator, exclusive_ttl, key_rotation, provider_keys, rpc_config, usage_store, FileConfig};

/// Redis key prefix of the key accounting: every chainx job shares it, so limits hold across
/// backfills and streamers alike.
const KEYS_NAMESPACE: &str = "chainx:keys";

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Backfill(args) => backfill::run(*args).await,
        Command::BlocksForDate(args) => backfill::blocks_for_date(*args).await,
        Command::Lake(LakeCommand::Show(args)) => lake::show(args).await,
        Command::Lake(LakeCommand::Compact(args)) => lake::compact(args).await,
        Command::Lake(LakeCommand::Vacuum(args)) => lake::vacuum(args).await,
        Command::Lake(LakeCommand::Verify(args)) => lake::verify(*args).await,
        Command::Hive(HiveCommand::Ddl(args)) => hive::ddl(args).await,
        Command::Hive(HiveCommand::Sync(args)) => hive::sync(args).await,
        Command::BlockClock(args) => stream::block_clock(*args).await,
        Command::TxCrawler(args) => stream::tx_crawler(*args).await,
        Command::TxDecoder(args) => stream::tx_decoder(*args).await,
        Command::Topics(TopicsCommand::Create(args)) => stream::topics_create(args).await,
        Command::Sink(args) => sink::run(*args).await,
        Command::Chains => {
            print!("{}", crate::chains::table());
            Ok(())
        }
    }
}

/// A one-off job's end: hands its key back now (exclusive mode) rather than after the lease
/// TTL, and writes the calls it made to the usage ledger.
async fn hand_back(pool: Option<&KeyPool>) {
    if let Some(pool) = pool {
        pool.release().await;
        if let Err(e) = pool.flush_ledger().await {
            tracing::warn!("could not write the usage ledger: {e}");
        }
    }
}

/// The RPC client every job uses: the node URL, or the key scheduler's providers and keys,
/// with the request log if one is given. Returns the key pool too, to release and report it.
async fn rpc_client(
    args: &RpcArgs,
    file: &FileConfig,
    replica: &str,
    log: Option<Arc<RequestLog>>,
    metrics: Option<&ProviderMetrics>,
) -> anyhow::Result<(Arc<RpcClient>, Option<Arc<KeyPool>>)> {
    let rpc = rpc_config(args, &file.rpc)?;
    let (providers, secrets_file) = provider_keys(args, file)?;
    let pool = match providers.is_empty() {
        true => None,
        false => {
            let pool = key_pool(args, file, &providers, secrets_file, replica).await?;
            Some(Arc::new(match metrics {
                Some(m) => pool.with_metrics(m.clone()),
                None => pool,
            }))
        }
    };
    let mut client = match &pool {
        Some(pool) => RpcClient::with_keys(rpc, pool.clone())?,
        None => RpcClient::new(rpc)?,
    };
    if let Some(log) = log {
        client = client.with_request_log(log);
    }
    if let Some(m) = metrics {
        client = client.with_metrics(m.clone());
    }
    Ok((Arc::new(client), pool))
}

/// The key pool the flags and file describe: in-process, shared through Redis, or exclusive
/// leases through Redis; with the Cassandra usage ledger if one is named.
async fn key_pool(
    args: &RpcArgs,
    file: &FileConfig,
    providers: &[ProviderKeys],
    secrets_file: Option<PathBuf>,
    replica: &str,
) -> anyhow::Result<KeyPool> {
    let keys = resolve_keys(providers, secrets_file.as_deref())?;
    let pool = match (coordinator(args, &file.rpc), exclusive_ttl(args, &file.rpc)?) {
        (Some(url), Some(ttl)) => {
            let pool = KeyPool::exclusive(keys, &url, KEYS_NAMESPACE, replica, ttl).await?;
            match key_rotation(args, &file.rpc) {
                Some(every) => pool.with_rotation(every),
                None => pool,
            }
        }
        (Some(url), None) => KeyPool::shared(keys, &url, KEYS_NAMESPACE).await?,
        (None, Some(_)) => anyhow::bail!("--key-mode exclusive needs --coordinator (a Redis URL)"),
        (None, None) => KeyPool::new(keys)?,
    };
    Ok(match usage_store(args, &file.rpc) {
        Some(nodes) => {
            pool.with_ledger(Arc::new(CassandraUsage::connect(&nodes).await?))
                .await?
        }
        None => pool,
    })
}
