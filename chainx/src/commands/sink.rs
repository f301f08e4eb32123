//! `chainx sink`: the fast layer's topics into the lake.

use anyhow::Context;
use chainx_fast::Topics;
use chainx_sinks::{LakeSink, SinkConfig};
use chainx_tables::TableKind;

use crate::cli::SinkArgs;
use crate::config::{kafka_config, lake, seconds, table_names, FileConfig};

pub async fn run(args: SinkArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let (kafka, network) = kafka_config(&args.kafka, &file.kafka)?;
    let mut lake = lake(&args.lake, &file.lake)?;
    if let Some(chain) = &args.chain {
        lake = lake.with_chain_id(crate::chains::find(chain)?.id);
    }
    let location = lake.to_string();
    let flush_interval = seconds("--flush-interval", args.flush_interval)?;
    if args.flush_rows == 0 || args.flush_bytes == 0 {
        anyhow::bail!("--flush-rows and --flush-bytes must be positive");
    }
    if !(args.max_ahead_mb > 0.0 && args.max_ahead_mb.is_finite()) {
        anyhow::bail!("--max-ahead-mb must be positive, not {}", args.max_ahead_mb);
    }
    let mut registry = super::metrics::registry();
    let metrics = chainx_sinks::SinkMetrics::new(&mut registry);
    let addr = args
        .kafka
        .metrics_addr
        .clone()
        .or_else(|| file.kafka.metrics_addr.clone());
    super::metrics::serve(addr, registry).await?;
    let tables = match &args.tables {
        None => TableKind::SINK_DEFAULT.to_vec(),
        Some(names) => table_names(names, &TableKind::ALL, "the sink")?,
    };
    let cfg = SinkConfig {
        tables,
        topics: Topics::new(&network),
        lake,
        flush_rows: args.flush_rows,
        flush_bytes: args.flush_bytes,
        flush_interval,
        max_ahead_bytes: (args.max_ahead_mb * (1 << 20) as f64) as usize,
        until_block: args.until_block,
        metrics: Some(metrics),
    };
    let sink = LakeSink::new(cfg, kafka);
    let summary = sink
        .run()
        .await
        .with_context(|| format!("sink of {network} into {location} failed"))?;
    println!(
        "landed {} blocks, {} transactions, {} decoded calls, {} logs, {} token transfers, {} decoded events, \
         {} traces, {} contracts and {} tokens in {} commits; {} blocks unwound; {} dead letters; {} partition pauses; at most {} rows waiting",
        summary.blocks_landed,
        summary.transactions_landed,
        summary.decoded_calls_landed,
        summary.logs_landed,
        summary.token_transfers_landed,
        summary.decoded_events_landed,
        summary.traces_landed,
        summary.contracts_landed,
        summary.tokens_landed,
        summary.commits,
        summary.blocks_unwound,
        summary.dead_letters,
        summary.partitions_paused,
        summary.peak_waiting_rows
    );
    Ok(())
}
