//! The block clock: follows the chain head and publishes each block exactly once, in order.
//!
//! - **Heads.** `eth_subscribe("newHeads")` over WebSocket when `--ws-url` is given (the header
//!   in the notification saves a call), else `eth_getBlockByNumber("latest")` every
//!   `--poll-interval`. While the socket is down it polls, and reconnects with backoff.
//! - **Gaps.** Every block between the last published and the head (minus `--confirmations`)
//!   is fetched in batches and published in order.
//! - **Logs.** With `--receipts`, each block's logs and token transfers go out too, one message
//!   per block on `mined.logs` and `mined.token_transfers` (and a removed one on a reorg).
//! - **Traces.** With `--traces`, each block's traces and the contracts they created go out on
//!   `mined.traces` and `mined.contracts`; with `--tokens`, the tokens among those contracts
//!   on `mined.tokens` (the same envelope, and removed ones on a reorg).
//! - **Exactly once.** Each batch is one Kafka transaction: transactions, hash ids, logs and block
//!   messages commit together or not at all. The transactional id fences a second clock.
//! - **Resume.** State is the tail of the blocks topic itself (read committed), not a side
//!   file: after a crash, a broker restart or a redeploy the clock continues from the last
//!   block the topic holds.
//! - **Reorgs.** A block whose parent hash differs from the published block below it (or a
//!   head whose hash differs at a published height) starts an unwind: one batch call finds the
//!   fork point within `--max-reorg-depth`, the replaced blocks are published again with
//!   `"removed": true` (newest first), then the new canonical blocks follow.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chainx_evm::alloy_primitives::B256;
use chainx_evm::contracts::contracts_of;
use chainx_evm::{BlockFetcher, BlockRow, ContractRow, LogRow, TokenRow, TokenTransferRow, TraceRow, TransactionRow};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};

use crate::heads::HeadSource;
use crate::kafka::KafkaConfig;
use crate::messages::{to_json, BlockMessage, BlockRowsMessage, TxHashMessage};
use crate::metrics::FastMetrics;
use crate::{Error, Result, Topics};

/// How transactions reach the class topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrawlMode {
    /// The clock fetches each block with its transactions (one call) and publishes the classes.
    #[default]
    FullBlock,
    /// The original design: the clock publishes hash ids; `chainx tx-crawler` replicas fetch
    /// each transaction (n+1 calls per block).
    PerTx,
}

#[derive(Debug, Clone)]
pub struct ClockConfig {
    pub topics: Topics,
    pub mode: CrawlMode,
    /// Where a first start begins; `None`: the head (minus confirmations).
    pub start_block: Option<u64>,
    /// Stop once this block is published (for backfilling topics, tests and benchmarks).
    pub until_block: Option<u64>,
    pub confirmations: u64,
    pub max_reorg_depth: u64,
    pub poll_interval: Duration,
    /// A `ws://` or `wss://` URL for `newHeads`; may hold a key, so it is only logged redacted.
    pub ws_url: Option<String>,
    /// Blocks per Kafka transaction while catching up.
    pub max_blocks_per_commit: usize,
    /// Kafka transactional id; one live clock per id.
    pub transactional_id: String,
    /// The chain the node must serve (`--chain`), checked against its `eth_chainId` at start.
    pub chain_id: Option<u64>,
}

impl ClockConfig {
    pub fn new(network: &str) -> Self {
        ClockConfig {
            topics: Topics::new(network),
            mode: CrawlMode::FullBlock,
            start_block: None,
            until_block: None,
            confirmations: 0,
            max_reorg_depth: 64,
            poll_interval: Duration::from_secs(1),
            ws_url: None,
            max_blocks_per_commit: 100,
            transactional_id: format!("chainx-block-clock.{network}"),
            chain_id: None,
        }
    }
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct ClockSummary {
    pub blocks_published: u64,
    pub blocks_removed: u64,
    pub transactions_published: u64,
    /// Sessions restarted after a transient failure (broker or node outage).
    pub restarts: u64,
}

#[derive(Debug)]
pub struct BlockClock {
    cfg: ClockConfig,
    kafka: KafkaConfig,
    fetcher: Arc<BlockFetcher>,
    metrics: Option<FastMetrics>,
    blocks_published: AtomicU64,
    blocks_removed: AtomicU64,
    transactions_published: AtomicU64,
}

/// A block ready to publish: its row, and its transactions (full-block mode) or hashes.
struct PendingBlock {
    row: BlockRow,
    txs: Vec<TransactionRow>,
    hashes: Vec<String>,
    /// The block's logs and token transfers, when it was fetched with its receipts.
    logs: Option<(Vec<LogRow>, Vec<TokenTransferRow>)>,
    /// The block's traces and the contracts they created, when it was fetched with traces.
    traces: Option<(Vec<TraceRow>, Vec<ContractRow>)>,
    /// The tokens among those contracts, when the fetcher reads tokens.
    tokens: Option<Vec<TokenRow>>,
}

/// The published canonical chain's newest blocks, enough to detect and unwind a reorg.
#[derive(Debug, Default)]
struct Canon(BTreeMap<u64, BlockRow>);

impl Canon {
    /// Rebuilds the state from the blocks topic's tail. Messages of one block share a key, hence
    /// a partition, so the last one per block number is its current state.
    fn from_tail(messages: &[rdkafka::message::OwnedMessage]) -> Result<Canon> {
        let mut latest: BTreeMap<u64, BlockMessage> = BTreeMap::new();
        for m in messages {
            let payload = m.payload().unwrap_or_default();
            let msg: BlockMessage = serde_json::from_slice(payload).map_err(|e| Error::BadMessage {
                topic: m.topic().to_string(),
                partition: m.partition(),
                offset: m.offset(),
                reason: format!("not a block message: {e}"),
            })?;
            latest.insert(msg.block.number, msg);
        }
        // The contiguous, linked run of canonical blocks below the newest one.
        let mut canon = BTreeMap::new();
        let mut below: Option<&BlockRow> = None;
        for (n, msg) in latest.iter().rev() {
            if msg.removed {
                if canon.is_empty() {
                    continue;
                }
                break;
            }
            if let Some(above) = below {
                if above.number != n + 1 || above.parent_hash != msg.block.hash {
                    break;
                }
            }
            canon.insert(*n, msg.block.clone());
            below = Some(&msg.block);
        }
        Ok(Canon(canon))
    }

    fn last(&self) -> Option<u64> {
        self.0.keys().next_back().copied()
    }

    fn push(&mut self, row: BlockRow, keep: u64) {
        let n = row.number;
        self.0.insert(n, row);
        while self.0.len() as u64 > keep {
            self.0.pop_first();
        }
    }
}

impl BlockClock {
    pub fn new(cfg: ClockConfig, kafka: KafkaConfig, fetcher: Arc<BlockFetcher>, metrics: Option<FastMetrics>) -> Self {
        BlockClock {
            cfg,
            kafka,
            fetcher,
            metrics,
            blocks_published: AtomicU64::new(0),
            blocks_removed: AtomicU64::new(0),
            transactions_published: AtomicU64::new(0),
        }
    }

    /// Runs until `until_block` is published, or forever. Transient failures (Kafka, the node)
    /// restart the session from the topic's tail, with backoff.
    pub async fn run(&self) -> Result<ClockSummary> {
        if self.cfg.chain_id.is_some() {
            self.fetcher.chain_id_of(self.cfg.chain_id).await?;
        }
        self.kafka.require_topics(&[
            &self.cfg.topics.blocks,
            &self.cfg.topics.tx_hash_ids,
            &self.cfg.topics.native_token_transfer,
            &self.cfg.topics.contract_deployment,
            &self.cfg.topics.contract_interaction,
        ])?;
        if self.fetcher.receipts() {
            self.kafka
                .require_topics(&[&self.cfg.topics.logs, &self.cfg.topics.token_transfers])?;
        }
        if self.fetcher.traces() {
            if self.cfg.mode == CrawlMode::PerTx {
                return Err(Error::Config(
                    "--traces and --tokens need --mode full-block: per-tx mode fetches headers only".into(),
                ));
            }
            self.kafka
                .require_topics(&[&self.cfg.topics.traces, &self.cfg.topics.contracts])?;
        }
        if self.fetcher.tokens() {
            self.kafka.require_topics(&[&self.cfg.topics.tokens])?;
        }
        let mut heads = HeadSource::new(self.cfg.ws_url.as_deref(), self.cfg.poll_interval);
        let mut restarts = 0;
        let mut failures = 0u32;
        loop {
            let before = self.blocks_published.load(Ordering::Relaxed);
            match self.session(&mut heads).await {
                Ok(()) => {
                    return Ok(ClockSummary {
                        blocks_published: self.blocks_published.load(Ordering::Relaxed),
                        blocks_removed: self.blocks_removed.load(Ordering::Relaxed),
                        transactions_published: self.transactions_published.load(Ordering::Relaxed),
                        restarts,
                    })
                }
                Err(e) if e.is_transient() => {
                    if self.blocks_published.load(Ordering::Relaxed) > before {
                        failures = 0;
                    }
                    failures += 1;
                    restarts += 1;
                    let wait = Duration::from_millis(250 * 2u64.pow(failures.min(7)));
                    tracing::warn!("{e}; resuming from the topic in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn session(&self, heads: &mut HeadSource) -> Result<()> {
        let brokers = &self.kafka.brokers;
        let producer = self.kafka.producer(Some(&self.cfg.transactional_id))?;
        // Also aborts a transaction a crashed predecessor left open, so the tail below is final.
        tokio::task::block_in_place(|| producer.init_transactions(Duration::from_secs(60)))
            .map_err(|e| Error::kafka(brokers, "initialising transactions", e))?;
        let keep = self.cfg.max_reorg_depth + 1;
        let tail = self.kafka.read_tail(&self.cfg.topics.blocks, (keep as i64 + 2) * 3)?;
        let mut canon = Canon::from_tail(&tail)?;
        let mut next = match canon.last() {
            Some(last) => {
                tracing::info!(block = last, "resuming after the last published block");
                last + 1
            }
            None => match self.cfg.start_block {
                Some(n) => n,
                None => {
                    let head: u64 = self.fetcher.latest().await?.number.to();
                    head.saturating_sub(self.cfg.confirmations)
                }
            },
        };
        let mut seen: Option<(u64, B256)> = None;
        loop {
            if self.cfg.until_block.is_some_and(|u| next > u) {
                return Ok(());
            }
            let (head, head_hash) = match seen.take() {
                Some(h) => h,
                None => {
                    let b = self.fetcher.latest().await?;
                    (b.number.to(), b.hash)
                }
            };
            if let Some(m) = &self.metrics {
                m.head_lag(head, next.saturating_sub(1));
            }
            // A reorg at a published height, seen before any higher block arrives.
            if let Some(row) = canon.0.get(&head) {
                if row.hash != format!("{head_hash:#x}") {
                    next = self.unwind(&producer, &mut canon, head).await?;
                }
            }
            let mut target = head.saturating_sub(self.cfg.confirmations);
            if let Some(u) = self.cfg.until_block {
                target = target.min(u);
            }
            while next <= target {
                let end = target.min(next + self.cfg.max_blocks_per_commit as u64 - 1);
                let numbers: Vec<u64> = (next..=end).collect();
                let fetched = self.fetch(&numbers).await?;
                let mut ready = Vec::with_capacity(fetched.len());
                let mut fork_below = None;
                for b in fetched {
                    let parent = b.row.number.checked_sub(1).and_then(|p| canon.0.get(&p));
                    if parent.is_some_and(|p| p.hash != b.row.parent_hash) {
                        fork_below = Some(b.row.number - 1);
                        break;
                    }
                    canon.push(b.row.clone(), keep);
                    ready.push(b);
                }
                if let Some(last) = ready.last() {
                    next = last.row.number + 1;
                    self.publish(&producer, &ready, &[]).await?;
                    if let Some(m) = &self.metrics {
                        m.head_lag(head, next - 1);
                    }
                }
                if let Some(h) = fork_below {
                    next = self.unwind(&producer, &mut canon, h).await?;
                }
            }
            if self.cfg.until_block.is_some_and(|u| next > u) {
                return Ok(());
            }
            seen = heads.wait().await;
        }
    }

    async fn fetch(&self, numbers: &[u64]) -> Result<Vec<PendingBlock>> {
        match self.cfg.mode {
            CrawlMode::FullBlock => self
                .fetcher
                .fetch(numbers)
                .await?
                .into_iter()
                .map(|mut b| {
                    let (row, txs) = b.to_rows()?;
                    let hashes = txs.iter().map(|t| t.hash.clone()).collect();
                    let logs = b.logs()?.map(|logs| {
                        let transfers = logs.iter().flat_map(|l| l.token_transfers()).collect();
                        (logs.into_iter().map(|l| l.row).collect(), transfers)
                    });
                    let traces = b.traces.take().map(|traces| {
                        let contracts = contracts_of(&traces);
                        (traces, contracts)
                    });
                    Ok(PendingBlock {
                        row,
                        txs,
                        hashes,
                        logs,
                        traces,
                        tokens: b.tokens.take(),
                    })
                })
                .collect(),
            CrawlMode::PerTx => Ok(self
                .fetcher
                .fetch_headers(numbers)
                .await?
                .iter()
                .map(|b| PendingBlock {
                    row: BlockRow::from_rpc(b),
                    txs: Vec::new(),
                    hashes: b.transactions.iter().map(|h| format!("{h:#x}")).collect(),
                    logs: None,
                    traces: None,
                    tokens: None,
                })
                .collect()),
        }
    }

    /// The node's chain differs from the published one at height `h`: finds the fork point,
    /// publishes the replaced blocks as removed, and returns the next block to publish.
    async fn unwind(&self, producer: &FutureProducer, canon: &mut Canon, h: u64) -> Result<u64> {
        let oldest = canon
            .0
            .keys()
            .next()
            .copied()
            .unwrap_or(h)
            .max(h.saturating_sub(self.cfg.max_reorg_depth));
        let numbers: Vec<u64> = (oldest..=h).collect();
        let node = self.fetcher.fetch_headers(&numbers).await?;
        let fork = node
            .iter()
            .rev()
            .find(|b| {
                canon
                    .0
                    .get(&b.number.to())
                    .is_some_and(|row| row.hash == format!("{:#x}", b.hash))
            })
            .map(|b| b.number.to::<u64>())
            .ok_or(Error::ReorgTooDeep {
                block: h,
                oldest,
                max: self.cfg.max_reorg_depth,
            })?;
        let removed: Vec<BlockRow> = canon.0.split_off(&(fork + 1)).into_values().rev().collect();
        tracing::warn!(
            fork,
            depth = removed.len(),
            "reorg: publishing {} replaced block(s) as removed",
            removed.len()
        );
        self.publish(producer, &[], &removed).await?;
        Ok(fork + 1)
    }

    /// One Kafka transaction: `removed` blocks as reorg events, then `blocks` with their
    /// transactions and hash ids (the block message last, after its transactions).
    async fn publish(&self, producer: &FutureProducer, blocks: &[PendingBlock], removed: &[BlockRow]) -> Result<()> {
        let brokers = &self.kafka.brokers;
        let t = &self.cfg.topics;
        producer
            .begin_transaction()
            .map_err(|e| Error::kafka(brokers, "beginning a transaction", e))?;
        let mut pending: Vec<(String, DeliveryFuture)> = Vec::new();
        let mut send = |topic: &str, key: &str, payload: Vec<u8>| -> Result<()> {
            let record = FutureRecord::to(topic).key(key).payload(&payload);
            let f = producer
                .send_result(record)
                .map_err(|(e, _)| Error::kafka(brokers, format!("queueing a message for {topic}"), e))?;
            pending.push((topic.to_string(), f));
            Ok(())
        };
        for row in removed {
            let key = row.number.to_string();
            if self.fetcher.receipts() {
                send(&t.logs, &key, to_json(&BlockRowsMessage::<&[LogRow]>::removed(row)))?;
                let removed = BlockRowsMessage::<&[TokenTransferRow]>::removed(row);
                send(&t.token_transfers, &key, to_json(&removed))?;
            }
            if self.fetcher.traces() {
                send(&t.traces, &key, to_json(&BlockRowsMessage::<&[TraceRow]>::removed(row)))?;
                let removed = BlockRowsMessage::<&[ContractRow]>::removed(row);
                send(&t.contracts, &key, to_json(&removed))?;
            }
            if self.fetcher.tokens() {
                send(&t.tokens, &key, to_json(&BlockRowsMessage::<&[TokenRow]>::removed(row)))?;
            }
            let msg = BlockMessage {
                block: row.clone(),
                removed: true,
            };
            send(&t.blocks, &key, to_json(&msg))?;
        }
        let mut tx_count = 0u64;
        for b in blocks {
            for tx in &b.txs {
                send(t.for_kind(tx.tx_kind), &tx.hash, to_json(tx))?;
            }
            for (i, hash) in b.hashes.iter().enumerate() {
                let msg = TxHashMessage {
                    hash: hash.clone(),
                    block_number: b.row.number,
                    block_hash: b.row.hash.clone(),
                    block_timestamp: b.row.timestamp,
                    transaction_index: i as u64,
                };
                send(&t.tx_hash_ids, hash, to_json(&msg))?;
            }
            tx_count += b.txs.len() as u64;
            if let Some((logs, transfers)) = &b.logs {
                let key = b.row.number.to_string();
                send(&t.logs, &key, to_json(&BlockRowsMessage::new(&b.row, logs.as_slice())))?;
                let transfers = BlockRowsMessage::new(&b.row, transfers.as_slice());
                send(&t.token_transfers, &key, to_json(&transfers))?;
            }
            if let Some((traces, contracts)) = &b.traces {
                let key = b.row.number.to_string();
                send(
                    &t.traces,
                    &key,
                    to_json(&BlockRowsMessage::new(&b.row, traces.as_slice())),
                )?;
                send(
                    &t.contracts,
                    &key,
                    to_json(&BlockRowsMessage::new(&b.row, contracts.as_slice())),
                )?;
            }
            if let Some(tokens) = &b.tokens {
                let key = b.row.number.to_string();
                send(
                    &t.tokens,
                    &key,
                    to_json(&BlockRowsMessage::new(&b.row, tokens.as_slice())),
                )?;
            }
            let msg = BlockMessage {
                block: b.row.clone(),
                removed: false,
            };
            send(&t.blocks, &b.row.number.to_string(), to_json(&msg))?;
        }
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut failed = None;
        for (topic, f) in pending {
            match f.await {
                Ok(Ok(_)) => *counts.entry(topic).or_default() += 1,
                Ok(Err((e, _))) => failed = Some(Error::kafka(brokers, format!("delivering to {topic}"), e)),
                Err(_) => {
                    failed = Some(Error::Config(format!("the producer dropped a message for {topic}")));
                }
            }
        }
        let outcome = match failed {
            Some(e) => Err(e),
            None => tokio::task::block_in_place(|| producer.commit_transaction(Duration::from_secs(60)))
                .map_err(|e| Error::kafka(brokers, "committing a transaction", e)),
        };
        if let Err(e) = outcome {
            // Best effort: the next session's init_transactions aborts it anyway.
            let _ = tokio::task::block_in_place(|| producer.abort_transaction(Duration::from_secs(10)));
            return Err(e);
        }
        self.blocks_published.fetch_add(blocks.len() as u64, Ordering::Relaxed);
        self.blocks_removed.fetch_add(removed.len() as u64, Ordering::Relaxed);
        self.transactions_published.fetch_add(tx_count, Ordering::Relaxed);
        if let Some(m) = &self.metrics {
            for (topic, n) in counts {
                m.published(&topic, n);
            }
            m.reorged_blocks.inc_by(removed.len() as u64);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            for b in blocks {
                m.publish_latency_seconds
                    .observe((now - b.row.timestamp as f64).max(0.0));
            }
            if let Some(b) = blocks.last() {
                m.last_published_block.set(b.row.number as i64);
                m.last_published_timestamp.set(b.row.timestamp as i64);
            }
        }
        if let Some(b) = blocks.last() {
            tracing::debug!(block = b.row.number, blocks = blocks.len(), "published");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::message::{OwnedMessage, Timestamp};
    use serde_json::json;

    fn row(n: u64, hash: &str, parent: &str) -> BlockRow {
        let mut r: BlockRow = serde_json::from_value(json!({
            "number": n, "hash": hash, "parent_hash": parent, "nonce": null, "sha3_uncles": "0x",
            "logs_bloom": "0x", "transactions_root": "0x", "state_root": "0x", "receipts_root": "0x",
            "miner": "0x", "difficulty": "0", "total_difficulty": null, "size": null, "extra_data": "0x",
            "gas_limit": 1, "gas_used": 0, "timestamp": n, "transaction_count": 0, "base_fee_per_gas": null,
            "withdrawals_root": null, "withdrawals": null, "blob_gas_used": null, "excess_blob_gas": null,
            "parent_beacon_block_root": null
        }))
        .unwrap();
        r.number = n;
        r
    }

    fn msg(offset: i64, block: BlockRow, removed: bool) -> OwnedMessage {
        let payload = to_json(&BlockMessage { block, removed });
        OwnedMessage::new(
            Some(payload),
            None,
            "t".into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    #[test]
    fn resume_state_is_the_linked_canonical_tail() {
        let tail = vec![
            msg(0, row(10, "0xa", "0x9"), false),
            msg(1, row(11, "0xb", "0xa"), false),
            msg(2, row(12, "0xc", "0xb"), false),
        ];
        assert_eq!(Canon::from_tail(&tail).unwrap().last(), Some(12));
        // A reorg whose replacements were not published yet: resume below the removed blocks.
        let mut reorged = tail.clone();
        reorged.push(msg(3, row(12, "0xc", "0xb"), true));
        reorged.push(msg(4, row(11, "0xb", "0xa"), true));
        assert_eq!(Canon::from_tail(&reorged).unwrap().last(), Some(10));
        // ... and once they are, the new branch is the state.
        reorged.push(msg(5, row(11, "0xb2", "0xa"), false));
        let canon = Canon::from_tail(&reorged).unwrap();
        assert_eq!(canon.last(), Some(11));
        assert_eq!(canon.0[&11].hash, "0xb2");
        assert!(Canon::from_tail(&[]).unwrap().last().is_none());
    }

    #[test]
    fn a_foreign_message_in_the_blocks_topic_is_named() {
        let bad = OwnedMessage::new(
            Some(b"{}".to_vec()),
            None,
            "t".into(),
            Timestamp::NotAvailable,
            2,
            9,
            None,
        );
        let e = Canon::from_tail(&[bad]).unwrap_err().to_string();
        assert!(e.contains("t partition 2 offset 9"), "{e}");
    }
}
