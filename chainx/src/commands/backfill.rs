use std::sync::Arc;

use anyhow::Context;
use chainx_evm::{BlockFetcher, RequestLog, RpcClient};
use chainx_keys::{resolve_keys, KeyPool};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

use crate::cli::BackfillArgs;
use crate::config::{backfill_config, coordinator, provider_keys, request_log, rpc_config, FileConfig};

/// Redis key prefix of the key accounting: every chainx job shares it, so limits hold across
/// backfills and streamers alike.
const KEYS_NAMESPACE: &str = "chainx:keys";

pub async fn run(args: BackfillArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let rpc = rpc_config(&args.rpc, &file.rpc)?;
    let cfg = backfill_config(&args, &file)?;
    let mut client = match provider_keys(&args.rpc, &file.rpc)? {
        Some((provider, secrets_file)) => {
            let keys = resolve_keys(&[provider], secrets_file.as_deref())?;
            let pool = match coordinator(&args.rpc, &file.rpc) {
                Some(url) => KeyPool::shared(keys, &url, KEYS_NAMESPACE).await?,
                None => KeyPool::new(keys)?,
            };
            RpcClient::with_keys(rpc, Arc::new(pool))?
        }
        None => RpcClient::new(rpc)?,
    };
    if let Some((path, replica)) = request_log(&args.rpc, &file.rpc) {
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

    let summary = chainx_batch::backfill(&fetcher, &cfg, &bar)
        .await
        .with_context(|| format!("backfill {}..={} from {} failed", cfg.from, cfg.to, client.endpoint()))?;
    bar.finish_and_clear();
    println!("{summary}");
    Ok(())
}
