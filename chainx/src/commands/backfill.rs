use std::sync::Arc;

use anyhow::Context;
use chainx_evm::{BlockFetcher, RequestLog};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use chainx_telemetry::{LakeMetrics, ProviderMetrics};

use super::{hand_back, metrics, rpc_client};
use crate::cli::{BackfillArgs, BlocksForDateArgs};
use crate::config::{backfill_config, replica_id, request_log, FileConfig};

pub async fn run(args: BackfillArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let mut cfg = backfill_config(&args, &file)?;
    let mut registry = metrics::registry();
    let provider = ProviderMetrics::new(&mut registry);
    cfg.metrics = Some(LakeMetrics::new(&mut registry));
    metrics::serve_or_warn(args.metrics_addr.clone(), registry).await;
    let replica = replica_id(&args.rpc, &file.rpc);
    let log = match request_log(&args.rpc, &file.rpc) {
        Some(path) => Some(Arc::new(
            RequestLog::to_file(&path, replica.clone())
                .with_context(|| format!("cannot open the request log {}", path.display()))?,
        )),
        None => None,
    };
    let (client, pool) = rpc_client(&args.rpc, &file, &replica, log, Some(&provider)).await?;
    let _budgets = metrics::watch_budgets(pool.clone(), Some(&provider));
    let fetcher = cfg.block_fetcher(client.clone());

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
    hand_back(pool.as_deref()).await;
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

/// `chainx blocks-for-date`: prints `{"date": ..., "from_block": ..., "to_block": ...}`.
pub async fn blocks_for_date(args: BlocksForDateArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let replica = replica_id(&args.rpc, &file.rpc);
    let (client, pool) = rpc_client(&args.rpc, &file, &replica, None, None).await?;
    let fetcher = BlockFetcher::new(client.clone(), false);
    let result = chainx_batch::blocks_for_date(&fetcher, &args.date, args.partial).await;
    hand_back(pool.as_deref()).await;
    let day = result.with_context(|| format!("blocks of {} from {}", args.date, client.endpoint()))?;
    // The date parsed as YYYY-MM-DD, so it needs no JSON escaping.
    println!(
        r#"{{"date": "{}", "from_block": {}, "to_block": {}}}"#,
        args.date, day.from_block, day.to_block
    );
    Ok(())
}
