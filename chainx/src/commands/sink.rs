//! `chainx sink`: the fast layer's topics into the lake.

use std::time::Duration;

use anyhow::Context;
use chainx_fast::Topics;
use chainx_sinks::{LakeSink, SinkConfig};

use crate::cli::SinkArgs;
use crate::config::{kafka_config, lake_location, FileConfig};

pub async fn run(args: SinkArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let (kafka, network) = kafka_config(&args.kafka, &file.kafka)?;
    let location = lake_location(&args.lake, &file.lake);
    let lake = chainx_tables::lake_url(&location)?;
    if !(args.flush_interval > 0.0 && args.flush_interval.is_finite()) || args.flush_rows == 0 {
        anyhow::bail!("--flush-rows and --flush-interval must be positive");
    }
    let cfg = SinkConfig {
        topics: Topics::new(&network),
        lake,
        flush_rows: args.flush_rows,
        flush_interval: Duration::from_secs_f64(args.flush_interval),
        until_block: args.until_block,
    };
    let sink = LakeSink::new(cfg, kafka);
    let summary = sink
        .run()
        .await
        .with_context(|| format!("sink of {network} into {location} failed"))?;
    println!(
        "landed {} blocks and {} transactions in {} commits; {} dead letters",
        summary.blocks_landed, summary.transactions_landed, summary.commits, summary.dead_letters
    );
    Ok(())
}
