//! The per-transaction crawler (`--mode per-tx`, the original design's `mined_txs_crawler`):
//! consumes hash ids, fetches each transaction (`eth_getTransactionByHash`, plus its receipt
//! with `--receipts`), classifies it and publishes it to its class topic.
//!
//! Replicas share one consumer group, so Kafka spreads partitions over them. Offsets are
//! committed only after the batch's output is acknowledged: a replica killed mid-batch leaves
//! its messages to another replica (at-least-once; consumers dedupe by tx hash).

use std::sync::Arc;
use std::time::Duration;

use chainx_evm::alloy_primitives::B256;
use chainx_evm::raw::{parse, RpcReceipt, RpcTransaction};
use chainx_evm::rpc::Call;
use chainx_evm::{RpcClient, TransactionRow};
use rdkafka::consumer::Consumer;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureRecord;
use serde_json::json;

use crate::kafka::{await_deliveries, next_batch, KafkaConfig, OffsetTracker};
use crate::messages::{to_json, TxHashMessage};
use crate::metrics::FastMetrics;
use crate::{Error, Result, Topics};

#[derive(Debug, Clone)]
pub struct CrawlerConfig {
    pub topics: Topics,
    pub group: String,
    pub receipts: bool,
    /// Hash ids per batch (one HTTP request to the node).
    pub batch: usize,
    /// A transaction the node does not know yet (a load-balanced provider lagging behind) is
    /// asked again this many times before it is skipped as reorged out.
    pub not_found_retries: u32,
}

impl CrawlerConfig {
    pub fn new(network: &str) -> Self {
        CrawlerConfig {
            topics: Topics::new(network),
            group: format!("chainx-tx-crawler.{network}"),
            receipts: false,
            batch: 200,
            not_found_retries: 5,
        }
    }
}

#[derive(Debug)]
pub struct TxCrawler {
    cfg: CrawlerConfig,
    kafka: KafkaConfig,
    client: Arc<RpcClient>,
    metrics: Option<FastMetrics>,
}

impl TxCrawler {
    pub fn new(cfg: CrawlerConfig, kafka: KafkaConfig, client: Arc<RpcClient>, metrics: Option<FastMetrics>) -> Self {
        TxCrawler {
            cfg,
            kafka,
            client,
            metrics,
        }
    }

    /// Runs until the process is stopped.
    pub async fn run(&self) -> Result<()> {
        let t = &self.cfg.topics;
        self.kafka.require_topics(&[
            &t.tx_hash_ids,
            &t.native_token_transfer,
            &t.contract_deployment,
            &t.contract_interaction,
        ])?;
        let brokers = &self.kafka.brokers;
        let consumer = Arc::new(self.kafka.consumer(&self.cfg.group)?);
        let _lag = crate::metrics::watch_consumer_lag(self.metrics.clone(), &self.cfg.group, consumer.clone());
        consumer
            .subscribe(&[&t.tx_hash_ids])
            .map_err(|e| Error::kafka(brokers, format!("subscribing to {}", t.tx_hash_ids), e))?;
        let producer = self.kafka.producer(None)?;
        loop {
            let batch = next_batch(&consumer, brokers, self.cfg.batch, Duration::from_millis(20)).await?;
            let mut offsets = OffsetTracker::default();
            let rows = self.crawl(&batch, &mut offsets).await?;
            let mut pending = Vec::with_capacity(rows.len());
            for row in &rows {
                let topic = t.for_kind(row.tx_kind);
                let payload = to_json(row);
                let f = producer
                    .send_result(FutureRecord::to(topic).key(&row.hash).payload(&payload))
                    .map_err(|(e, _)| Error::kafka(brokers, format!("queueing for {topic}"), e))?;
                pending.push((topic.to_string(), f));
            }
            let counts = await_deliveries(brokers, pending).await?;
            offsets.commit(&consumer, brokers)?;
            if let Some(m) = &self.metrics {
                for (topic, n) in counts {
                    m.published(&topic, n);
                }
            }
        }
    }

    /// Fetches the batch's transactions; retries node errors forever (with backoff, the RPC
    /// client's own retries first) because skipping would lose transactions.
    async fn crawl(&self, batch: &[OwnedMessage], offsets: &mut OffsetTracker) -> Result<Vec<TransactionRow>> {
        let mut wanted: Vec<(TxHashMessage, B256)> = Vec::new();
        for m in batch {
            match parse_hash_id(m) {
                Ok(w) => wanted.push(w),
                // Never stops the crawler; the message is committed past, loudly.
                Err(e) => tracing::error!("skipping a bad hash id: {e}"),
            }
            offsets.done(m);
        }
        let mut rows = Vec::with_capacity(wanted.len());
        let mut attempt = 0u32;
        while !wanted.is_empty() {
            let mut calls = Vec::with_capacity(wanted.len() * 2);
            for (_, h) in &wanted {
                calls.push(Call::new("eth_getTransactionByHash", json!([format!("{h:#x}")])));
                if self.cfg.receipts {
                    calls.push(Call::new("eth_getTransactionReceipt", json!([format!("{h:#x}")])));
                }
            }
            let results = match self.client.batch_all(&calls).await {
                Ok(r) => r,
                Err(e) => {
                    attempt += 1;
                    tracing::warn!("{e}; retrying the batch");
                    tokio::time::sleep(Duration::from_millis(500 * 2u64.pow(attempt.min(6)))).await;
                    continue;
                }
            };
            let per = if self.cfg.receipts { 2 } else { 1 };
            let mut missing = Vec::new();
            for ((msg, hash), r) in wanted.drain(..).zip(results.chunks(per)) {
                let tx: Option<RpcTransaction> = match &r[0] {
                    Ok(Some(raw)) => Some(parse(raw, msg.block_number, "transaction")?),
                    Ok(None) => None,
                    Err(e) => {
                        tracing::warn!("eth_getTransactionByHash {hash:#x}: {}", e.message);
                        None
                    }
                };
                let receipt: Option<RpcReceipt> = match r.get(1) {
                    Some(Ok(Some(raw))) => Some(parse(raw, msg.block_number, "receipt")?),
                    _ => None,
                };
                match tx {
                    Some(tx) if tx.block_hash.is_some_and(|b| format!("{b:#x}") == msg.block_hash) => {
                        if self.cfg.receipts && receipt.is_none() {
                            missing.push((msg, hash));
                            continue;
                        }
                        let block_hash = tx.block_hash.unwrap_or_default();
                        rows.push(TransactionRow::from_tx(
                            &block_hash,
                            msg.block_number,
                            msg.block_timestamp,
                            msg.transaction_index as usize,
                            &tx,
                            receipt.as_ref(),
                        ));
                    }
                    Some(tx) if tx.block_hash.is_some() => {
                        // Mined in another block now: a reorg moved it, and the clock publishes
                        // that block's hash ids too.
                        tracing::info!(tx = %msg.hash, "transaction moved to another block; skipping this copy");
                    }
                    _ => missing.push((msg, hash)),
                }
            }
            if !missing.is_empty() {
                attempt += 1;
                if attempt > self.cfg.not_found_retries {
                    for (msg, _) in &missing {
                        tracing::warn!(tx = %msg.hash, block = msg.block_number, "the node does not know this transaction (reorged out?); skipping");
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt.min(6)))).await;
            }
            wanted = missing;
        }
        Ok(rows)
    }
}

fn parse_hash_id(m: &OwnedMessage) -> Result<(TxHashMessage, B256)> {
    let bad = |reason: String| Error::BadMessage {
        topic: m.topic().to_string(),
        partition: m.partition(),
        offset: m.offset(),
        reason,
    };
    let msg: TxHashMessage =
        serde_json::from_slice(m.payload().unwrap_or_default()).map_err(|e| bad(format!("not a hash id: {e}")))?;
    let hash: B256 = msg.hash.parse().map_err(|e| bad(format!("hash {:?}: {e}", msg.hash)))?;
    Ok((msg, hash))
}
