//! The streaming jobs: `block-clock`, `tx-crawler`, `tx-decoder`, and `topics create`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chainx_evm::{AbiRegistry, BlockFetcher, EtherscanAbis};
use chainx_fast::clock::{BlockClock, ClockConfig, CrawlMode};
use chainx_fast::crawler::{CrawlerConfig, TxCrawler};
use chainx_fast::decoder::TxDecoder;
use chainx_fast::kafka::{KafkaConfig, TopicSpec};
use chainx_fast::metrics::FastMetrics;
use chainx_fast::Topics;
use chainx_telemetry::ProviderMetrics;

use super::rpc_client;
use crate::cli::{BlockClockArgs, KafkaArgs, TopicsCreateArgs, TxCrawlerArgs, TxDecoderArgs};
use crate::config::{http_for_ws, kafka_config, replica_id, seconds, FileConfig};

/// The fast layer's metrics (and, for jobs calling a node, the provider's), served when
/// `--metrics-addr` is set.
async fn metrics(
    args: &KafkaArgs,
    file: &FileConfig,
    rpc: bool,
) -> anyhow::Result<(FastMetrics, Option<ProviderMetrics>)> {
    let mut registry = super::metrics::registry();
    let fast = FastMetrics::new(&mut registry);
    let provider = rpc.then(|| ProviderMetrics::new(&mut registry));
    let addr = args.metrics_addr.clone().or_else(|| file.kafka.metrics_addr.clone());
    super::metrics::serve(addr, registry).await?;
    Ok((fast, provider))
}

/// Resolves on Ctrl-C or SIGTERM (what orchestrators send before killing a container).
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Waits (bounded) for the request log's last records to reach Kafka.
async fn drain_request_log(task: tokio::task::JoinHandle<()>) {
    if tokio::time::timeout(Duration::from_secs(30), task).await.is_err() {
        tracing::warn!("the request log did not drain within 30 s; some records may be missing");
    }
}

/// What every streaming job that calls the node shares: Kafka, metrics, and an RPC client
/// (with the key scheduler) whose requests go to the request-log topic.
struct RpcJob {
    kafka: KafkaConfig,
    network: String,
    metrics: FastMetrics,
    client: Arc<chainx_evm::RpcClient>,
    pool: Option<Arc<chainx_keys::KeyPool>>,
    log_task: tokio::task::JoinHandle<()>,
    _budgets: super::metrics::BudgetWatch,
    /// The `--chain` preset, if one was named.
    chain: Option<crate::chains::ChainPreset>,
}

impl RpcJob {
    async fn start(kafka: &KafkaArgs, rpc: &crate::cli::RpcArgs, file: &FileConfig) -> anyhow::Result<RpcJob> {
        let chain = rpc.chain.as_deref().map(crate::chains::find).transpose()?;
        // The topics' prefix: --network, else the config file's, else the preset's.
        let mut kafka = kafka.clone();
        if kafka.network.is_none() && file.kafka.network.is_none() {
            kafka.network = chain.filter(|c| !c.network.is_empty()).map(|c| c.network.to_string());
        }
        let kafka = &kafka;
        let (kafka_cfg, network) = kafka_config(kafka, &file.kafka)?;
        let (metrics, provider) = metrics(kafka, file, true).await?;
        let replica = replica_id(rpc, &file.rpc);
        let topic = Topics::new(&network).request_log;
        let (log, log_task) = chainx_fast::request_log::to_kafka(&kafka_cfg, &topic, &replica, Some(metrics.clone()))?;
        let (client, pool) = rpc_client(rpc, file, &replica, Some(log), provider.as_ref()).await?;
        let budgets = super::metrics::watch_budgets(pool.clone(), provider.as_ref());
        Ok(RpcJob {
            kafka: kafka_cfg,
            network,
            metrics,
            client,
            pool,
            log_task,
            _budgets: budgets,
            chain,
        })
    }

    /// Hands an exclusive key back and drains the request log; call once the job (and so
    /// every copy of the client) is dropped.
    async fn finish(pool: Option<Arc<chainx_keys::KeyPool>>, log_task: tokio::task::JoinHandle<()>) {
        if let Some(pool) = &pool {
            pool.release().await;
        }
        drain_request_log(log_task).await;
    }
}

pub async fn block_clock(mut args: BlockClockArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    // A WebSocket RPC URL: heads over the socket, calls over the same endpoint's HTTP.
    let rpc_url = args.rpc.rpc_url.clone().or_else(|| file.rpc.url.clone());
    if let Some((ws, http)) = rpc_url.and_then(|u| http_for_ws(&u).map(|h| (u, h))) {
        if args.ws_url.is_none() {
            args.ws_url = Some(ws);
        }
        args.rpc.rpc_url = Some(http);
    }
    let job = RpcJob::start(&args.kafka, &args.rpc, &file).await?;
    if let Some(ws) = &args.ws_url {
        if !(ws.starts_with("ws://") || ws.starts_with("wss://")) {
            anyhow::bail!(
                "--ws-url {} must start with ws:// or wss://",
                chainx_evm::redact_url(ws)
            );
        }
    }
    let poll_interval = seconds("--poll-interval", args.poll_interval)?;
    let mut cfg = ClockConfig::new(&job.network);
    cfg.mode = if args.mode == "per-tx" {
        CrawlMode::PerTx
    } else {
        CrawlMode::FullBlock
    };
    cfg.start_block = args.start_block;
    cfg.until_block = args.until_block;
    cfg.confirmations = args.confirmations;
    cfg.max_reorg_depth = args
        .max_reorg_depth
        .or(job.chain.map(|c| c.max_reorg_depth))
        .unwrap_or(64)
        .max(1);
    cfg.chain_id = job.chain.map(|c| c.id);
    cfg.poll_interval = poll_interval;
    cfg.ws_url = args.ws_url.clone();
    cfg.max_blocks_per_commit = args.max_blocks_per_commit.max(1);
    let endpoint = job.client.endpoint().to_string();
    let mut fetcher = BlockFetcher::new(job.client, args.receipts);
    if args.tokens {
        fetcher = fetcher.with_tokens();
    } else if args.traces {
        fetcher = fetcher.with_traces();
    }
    let fetcher = Arc::new(fetcher);
    let clock = BlockClock::new(cfg, job.kafka, fetcher, Some(job.metrics));
    let outcome = tokio::select! {
        r = clock.run() => Some(r),
        _ = shutdown_signal() => None,
    };
    drop(clock);
    RpcJob::finish(job.pool, job.log_task).await;
    match outcome {
        Some(r) => {
            let s = r.with_context(|| format!("block clock on {endpoint} failed"))?;
            println!(
                "published {} blocks, {} transactions; {} removed by reorgs; {} restarts",
                s.blocks_published, s.transactions_published, s.blocks_removed, s.restarts
            );
        }
        None => tracing::info!("stopped"),
    }
    Ok(())
}

pub async fn tx_crawler(args: TxCrawlerArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let job = RpcJob::start(&args.kafka, &args.rpc, &file).await?;
    // As the clock does: a crawler of another chain's node would publish its transactions.
    if let Some(chain) = job.chain {
        BlockFetcher::new(job.client.clone(), false)
            .chain_id_of(Some(chain.id))
            .await?;
    }
    let mut cfg = CrawlerConfig::new(&job.network);
    cfg.receipts = args.receipts;
    cfg.batch = args.batch.max(1);
    if let Some(g) = args.group {
        cfg.group = g;
    }
    let crawler = TxCrawler::new(cfg, job.kafka, job.client, Some(job.metrics));
    let outcome = tokio::select! {
        r = crawler.run() => Some(r),
        _ = shutdown_signal() => None,
    };
    drop(crawler);
    RpcJob::finish(job.pool, job.log_task).await;
    if let Some(r) = outcome {
        r.context("tx crawler failed")?;
    }
    Ok(())
}

pub async fn tx_decoder(mut args: TxDecoderArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let chain = args.chain.as_deref().map(crate::chains::find).transpose()?;
    if args.kafka.network.is_none() && file.kafka.network.is_none() {
        args.kafka.network = chain.filter(|c| !c.network.is_empty()).map(|c| c.network.to_string());
    }
    let (kafka, network) = kafka_config(&args.kafka, &file.kafka)?;
    let (metrics, _) = metrics(&args.kafka, &file, false).await?;
    let mut abis = AbiRegistry::builtin();
    if let Some(dir) = &args.abi_dir {
        abis = abis.with_folder(dir)?;
    }
    if let Some(url) = &args.etherscan_url {
        let cache = crate::config::abi_cache_dir(args.abi_cache.as_deref());
        let mut source = EtherscanAbis::new(url, crate::config::etherscan_key(), &cache)?;
        if let Some(chain) = chain {
            source = source.for_chain(chain.id)?;
        }
        abis = abis.with_etherscan(source);
    }
    tracing::info!(addresses = abis.known_addresses(), "ABIs loaded");
    let mut decoder = TxDecoder::new(&network, kafka, abis, Some(metrics));
    tokio::select! {
        r = decoder.run() => r.context("tx decoder failed")?,
        _ = shutdown_signal() => {}
    }
    Ok(())
}

pub async fn topics_create(args: TopicsCreateArgs) -> anyhow::Result<()> {
    let file = FileConfig::load(args.config.config.as_deref())?;
    let (kafka, network): (KafkaConfig, String) = kafka_config(&args.kafka, &file.kafka)?;
    if args.partitions < 1 || args.replication < 1 || args.retention_hours < 1 {
        anyhow::bail!("--partitions, --replication and --retention-hours must be at least 1");
    }
    let topics = Topics::new(&network);
    let spec = TopicSpec {
        partitions: args.partitions,
        replication: args.replication,
        retention_ms: args.retention_hours * 3_600_000,
    };
    let created = kafka.create_topics(&topics.all(), &spec).await?;
    for t in topics.all() {
        let state = if created.iter().any(|c| c == t) {
            "created"
        } else {
            "exists"
        };
        println!("{t}\t{state}");
    }
    Ok(())
}
