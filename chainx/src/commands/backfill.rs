use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use chainx_evm::{BlockFetcher, RequestLog, RpcClient};
use chainx_keys::{resolve_keys, CassandraUsage, KeyPool, ProviderKeys};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::cli::BackfillArgs;
use crate::config::{
    backfill_config, coordinator, exclusive_ttl, key_rotation, provider_keys, replica_id, request_log, rpc_config,
    usage_store, FileConfig,
};

/// Redis key prefix of the key accounting: every chainx job shares it, so limits hold across
/// backfills and streamers alike.
const KEYS_NAMESPACE: &str = "chainx:keys";

pub async fn run(args: BackfillArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let rpc = rpc_config(&args.rpc, &file.rpc)?;
    let cfg = backfill_config(&args, &file)?;
    let replica = replica_id(&args.rpc, &file.rpc);
    let (providers, secrets_file) = provider_keys(&args.rpc, &file)?;
    let pool = match providers.is_empty() {
        true => None,
        false => Some(Arc::new(
            key_pool(&args, &file, &providers, secrets_file, &replica).await?,
        )),
    };
    let mut client = match &pool {
        Some(pool) => RpcClient::with_keys(rpc, pool.clone())?,
        None => RpcClient::new(rpc)?,
    };
    if let Some(path) = request_log(&args.rpc, &file.rpc) {
        let log = RequestLog::to_file(&path, replica)
            .with_context(|| format!("cannot open the request log {}", path.display()))?;
        client = client.with_request_log(Arc::new(log));
    }
    let client = Arc::new(client);
    let fetcher = BlockFetcher::new(client.clone(), cfg.receipts);

    // Drawn only when stderr is a terminal, from the first fetched batch on.
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} blocks, {msg}, {blocks_per_sec} blocks/s, ETA {eta}")
            .context("progress bar template")?
            .with_key("blocks_per_sec", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1}", s.per_sec());
            }),
    );

    let result = chainx_batch::backfill(&fetcher, &cfg, &bar).await;
    if let Some(pool) = &pool {
        // Exclusive mode: hand the key back now rather than after the lease TTL.
        pool.release().await;
        if let Err(e) = pool.flush_ledger().await {
            tracing::warn!("could not write the usage ledger: {e}");
        }
    }
    let summary =
        result.with_context(|| format!("backfill {}..={} from {} failed", cfg.from, cfg.to, client.endpoint()))?;
    bar.finish_and_clear();
    println!("{summary}");
    if let Some(pool) = &pool {
        // Per key, by pseudo-name: calls over the last 24 h (across replicas with a coordinator).
        let usage = pool.usage().await?;
        let shown: Vec<String> = usage.iter().map(|(name, calls)| format!("{name}={calls}")).collect();
        println!("key calls (24 h): {}", shown.join(", "));
    }
    Ok(())
}

/// The key pool the flags and file describe: in-process, shared through Redis, or exclusive
/// leases through Redis; with the Cassandra usage ledger if one is named.
async fn key_pool(
    args: &BackfillArgs,
    file: &FileConfig,
    providers: &[ProviderKeys],
    secrets_file: Option<PathBuf>,
    replica: &str,
) -> anyhow::Result<KeyPool> {
    let keys = resolve_keys(providers, secrets_file.as_deref())?;
    let pool = match (coordinator(&args.rpc, &file.rpc), exclusive_ttl(&args.rpc, &file.rpc)?) {
        (Some(url), Some(ttl)) => {
            let pool = KeyPool::exclusive(keys, &url, KEYS_NAMESPACE, replica, ttl).await?;
            match key_rotation(&args.rpc, &file.rpc) {
                Some(every) => pool.with_rotation(every),
                None => pool,
            }
        }
        (Some(url), None) => KeyPool::shared(keys, &url, KEYS_NAMESPACE).await?,
        (None, Some(_)) => anyhow::bail!("--key-mode exclusive needs --coordinator (a Redis URL)"),
        (None, None) => KeyPool::new(keys)?,
    };
    Ok(match usage_store(&args.rpc, &file.rpc) {
        Some(nodes) => {
            pool.with_ledger(Arc::new(CassandraUsage::connect(&nodes).await?))
                .await?
        }
        None => pool,
    })
}
