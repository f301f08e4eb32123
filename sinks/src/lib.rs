//! The lake sink: the fast layer's topics landed as the same Delta tables `chainx backfill`
//! writes (same schemas, same `block_date=` partitions), exactly once.
//!
//! **Exactly once.** Each Delta commit carries, as Delta `txn` actions, the Kafka offset every
//! topic-partition the table depends on resumes from. After a crash the sink seeks to those
//! offsets, not to a consumer group's: a commit and the offsets it accounts for land together
//! or not at all. A table skips messages below its own recorded offsets (the blocks topic feeds
//! two tables that may have committed different amounts), and blocks it already covers.
//!
//! **Whole blocks.** A block's transactions are landed only once all of them are here (the
//! block message says how many), so a table's coverage (`chainx.coveredBlocks`) is exact, and
//! stream and batch share it: blocks the backfill landed are skipped, and the backfill skips
//! blocks the stream landed.
//!
//! **Bounded latency.** A commit is cut every `flush_rows` buffered rows, every `flush_bytes`
//! of messages consumed and every `flush_interval` (the latency to a queryable row); in a
//! one-off load (`until_block`) also whenever the input pauses.
//!
//! **Reorgs.** A `removed` block event takes a block out: from the buffers if it has not landed,
//! else from the tables (its rows deleted and its coverage dropped, in one commit per table with
//! the offsets), so the replacement block lands in its place.
//!
//! **Logs, token transfers, decoded events, traces, contracts and tokens** come one message per
//! block (`block_feeds`), so each lands whole, with the same offset records and unwinds as the
//! block tables.
//!
//! **Decoded calls** (the decoder's topic, one message per call) land a whole block at a time,
//! once its transactions have and every contract interaction among them is decoded
//! (`decoded_calls`), so that table's coverage is exact too.
//!
//! **Bad messages** go to `{network}.sink.dead_letter` with the reason; they never stop the sink.

mod block_feeds;
mod buffer;
mod decoded_calls;
mod flow;
mod messages;
pub mod metrics;
#[cfg(test)]
mod reorgs;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chainx_evm::TransactionRow;
use chainx_fast::kafka::KafkaConfig;
use chainx_fast::Topics;
use chainx_tables::{
    blocks_batch, decoded_calls_batch, transactions_batch, BlockRanges, LakeTable, RemovedBlock, TableKind,
};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

use block_feeds::Feeds;
use buffer::{app_id, BlockTxs, BlocksBuffer, Tp, TxBuffer};
use decoded_calls::DecodedCalls;
use flow::Flow;
pub use flow::DEFAULT_MAX_AHEAD_BYTES;
use messages::{on_block, on_decoded, on_transaction};
pub use metrics::SinkMetrics;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fast(#[from] Box<chainx_fast::Error>),
    #[error(transparent)]
    Lake(#[from] Box<chainx_tables::Error>),
    /// A buffered message that parsed when it arrived no longer does: a bug, not bad input.
    #[error("{topic} partition {partition} offset {offset}: buffered transaction no longer parses: {source}")]
    Reread {
        topic: String,
        partition: i32,
        offset: i64,
        #[source]
        source: serde_json::Error,
    },
    #[error("Kafka ({brokers}): {what}: {source}")]
    Kafka {
        brokers: String,
        what: String,
        #[source]
        source: Box<rdkafka::error::KafkaError>,
    },
}

impl From<chainx_fast::Error> for Error {
    fn from(e: chainx_fast::Error) -> Self {
        Error::Fast(Box::new(e))
    }
}

impl From<chainx_tables::Error> for Error {
    fn from(e: chainx_tables::Error) -> Self {
        Error::Lake(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// In a one-off load (`until_block`), a pause in the input this long flushes what is buffered.
const IDLE_FLUSH: Duration = Duration::from_millis(100);

/// Landed block hashes kept for reorgs: deeper than any reorg the clock follows.
const LANDED_HASHES_KEPT: usize = 4096;

/// How often consumer lag is measured (it asks the broker for every partition's high watermark).
const LAG_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub topics: Topics,
    pub lake: chainx_tables::Lake,
    /// Cut a commit once this many rows are buffered.
    pub flush_rows: usize,
    /// ... or once this many message bytes have been consumed since the last commit.
    pub flush_bytes: usize,
    /// ... or once this long has passed since the last commit.
    pub flush_interval: Duration,
    /// Memory a partition's messages may hold above the slowest partition's last block before
    /// the partition is paused (flow control).
    pub max_ahead_bytes: usize,
    /// The tables to land (those the per-block topics feed need the clock's `--receipts`, and
    /// `decoded_events` the decoder).
    pub tables: Vec<TableKind>,
    /// Stop once every table asked for covers blocks `0..=until_block` (tests, benchmarks,
    /// one-off loads).
    pub until_block: Option<u64>,
    pub metrics: Option<SinkMetrics>,
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct SinkSummary {
    pub blocks_landed: u64,
    pub transactions_landed: u64,
    pub decoded_calls_landed: u64,
    pub logs_landed: u64,
    pub token_transfers_landed: u64,
    pub decoded_events_landed: u64,
    pub traces_landed: u64,
    pub contracts_landed: u64,
    pub tokens_landed: u64,
    pub blocks_unwound: u64,
    pub commits: u64,
    pub dead_letters: u64,
    /// Times a partition was paused for running ahead (flow control).
    pub partitions_paused: u64,
    /// The most rows a flush left in memory, waiting for the rest of their blocks.
    pub peak_waiting_rows: usize,
}

/// The three tables, what each has covered, and from which offset each one reads a partition.
#[derive(Debug)]
struct Tables {
    blocks: LakeTable,
    txs: LakeTable,
    decoded: LakeTable,
    covered_blocks: BlockRanges,
    covered_txs: BlockRanges,
    covered_decoded: BlockRanges,
    /// Per table and topic-partition, the offset its last commit resumes from: messages below
    /// it are already accounted for in that table.
    starts: HashMap<(TableKind, Tp), i64>,
    /// The hashes of the last [`LANDED_HASHES_KEPT`] blocks whose transactions this sink landed:
    /// a transaction of a covered height is dropped only if its block is the one landed there.
    /// One of a replacement block, arriving before the `removed` event of the old one, waits.
    landed_hashes: BTreeMap<u64, String>,
}

impl Tables {
    fn seen(&self, kind: TableKind, tp: &Tp, offset: i64) -> bool {
        self.starts
            .get(&(kind, tp.clone()))
            .is_some_and(|start| offset < *start)
    }

    /// Whether the rows of block `number` with `hash` have landed in a table covering
    /// `covered`: its height is covered, by that hash as far as this sink knows. Heights the
    /// backfill landed are final (it stops at the finalized block), so their hash is not needed.
    fn block_landed(&self, covered: &BlockRanges, number: u64, hash: &str) -> bool {
        covered.contains(number) && self.landed_hashes.get(&number).is_none_or(|h| h == hash)
    }

    fn landed(&mut self, number: u64, hash: String) {
        self.landed_hashes.insert(number, hash);
        while self.landed_hashes.len() > LANDED_HASHES_KEPT {
            self.landed_hashes.pop_first();
        }
    }

    /// The sink's table of `kind` (it does not land the log-derived tables yet).
    fn table(&self, kind: TableKind) -> Option<&LakeTable> {
        match kind {
            TableKind::Blocks => Some(&self.blocks),
            TableKind::Transactions => Some(&self.txs),
            TableKind::DecodedCalls => Some(&self.decoded),
            TableKind::Logs
            | TableKind::TokenTransfers
            | TableKind::DecodedEvents
            | TableKind::Traces
            | TableKind::Contracts
            | TableKind::Tokens => None,
        }
    }

    fn refresh_coverage(&mut self) -> Result<()> {
        self.covered_blocks = self.blocks.covered()?;
        self.covered_txs = self.txs.covered()?;
        self.covered_decoded = self.decoded.covered()?;
        Ok(())
    }
}

#[derive(Debug)]
pub struct LakeSink {
    cfg: SinkConfig,
    kafka: KafkaConfig,
}

impl LakeSink {
    pub fn new(cfg: SinkConfig, kafka: KafkaConfig) -> Self {
        LakeSink { cfg, kafka }
    }

    fn kafka_err(&self, what: &str, e: rdkafka::error::KafkaError) -> Error {
        Error::Kafka {
            brokers: self.kafka.brokers.clone(),
            what: what.to_string(),
            source: Box::new(e),
        }
    }

    pub async fn run(&self) -> Result<SinkSummary> {
        let t = &self.cfg.topics;
        let class_topics = [
            t.native_token_transfer.as_str(),
            t.contract_deployment.as_str(),
            t.contract_interaction.as_str(),
        ];
        let wants = |k| self.cfg.tables.contains(&k);
        self.kafka.require_topics(&[&t.blocks, &t.sink_dead_letter])?;
        self.kafka.require_topics(&class_topics)?;
        if wants(TableKind::DecodedCalls) {
            self.kafka.require_topics(&[&t.contract_interaction_decoded])?;
        }
        let lake = &self.cfg.lake;
        let mut tables = Tables {
            blocks: LakeTable::open_or_create(lake, TableKind::Blocks).await?,
            txs: LakeTable::open_or_create(lake, TableKind::Transactions).await?,
            decoded: LakeTable::open_or_create(lake, TableKind::DecodedCalls).await?,
            covered_blocks: BlockRanges::new(),
            covered_txs: BlockRanges::new(),
            covered_decoded: BlockRanges::new(),
            starts: HashMap::new(),
            landed_hashes: BTreeMap::new(),
        };
        // Files a killed sink wrote and never committed stay until `chainx lake vacuum`: at
        // start-up they cannot be told from files another writer is about to commit.
        tables.refresh_coverage()?;
        let mut feeds = Feeds::open(lake, &self.cfg.tables, t).await?;
        let feed_topics = feeds.topics();
        let feed_refs: Vec<&str> = feed_topics.iter().map(String::as_str).collect();
        self.kafka.require_topics(&feed_refs)?;

        let consumer = self.kafka.consumer(&format!("chainx-sink.{}", t.blocks))?;
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(|e| self.kafka_err("reading topic metadata", e))?;
        // Which tables read which topic: the blocks topic feeds both block tables.
        let mut readers: Vec<(&str, Vec<TableKind>)> = vec![(t.blocks.as_str(), TableKind::BLOCK_TABLES.to_vec())];
        readers.extend(class_topics.iter().map(|c| (*c, vec![TableKind::Transactions])));
        if wants(TableKind::DecodedCalls) {
            readers.push((t.contract_interaction_decoded.as_str(), vec![TableKind::DecodedCalls]));
        }
        // The per-block topics: each read by its feed alone.
        for topic in &feed_topics {
            readers.push((topic.as_str(), Vec::new()));
        }
        let mut tpl = TopicPartitionList::new();
        for (topic, kinds) in &readers {
            let Some(md) = metadata.topics().iter().find(|m| m.name() == *topic) else {
                continue;
            };
            for p in md.partitions() {
                let tp: Tp = (Arc::from(*topic), p.id());
                // Start at the earliest offset any reading table still needs; a table that never
                // recorded this partition needs it from the beginning.
                let mut start = match feeds.resume(&tp).await? {
                    Some(at) => at,
                    None => Some(i64::MAX),
                };
                for kind in kinds {
                    let Some(table) = tables.table(*kind) else {
                        continue;
                    };
                    let at = table.app_version(&app_id(&tp)).await?;
                    if let Some(at) = at {
                        tables.starts.insert((*kind, tp.clone()), at);
                    }
                    start = match (start, at) {
                        (Some(s), Some(a)) => Some(s.min(a)),
                        _ => None,
                    };
                }
                let offset = start.map_or(Offset::Beginning, Offset::Offset);
                tpl.add_partition_offset(topic, p.id(), offset)
                    .map_err(|e| self.kafka_err("assigning partitions", e))?;
            }
        }
        let topic_names: Vec<Arc<str>> = readers.iter().map(|(topic, _)| Arc::from(*topic)).collect();
        let assigned: Vec<Tp> = tpl
            .elements()
            .iter()
            .filter_map(|e| {
                let topic = topic_names.iter().find(|n| n.as_ref() == e.topic())?;
                Some((topic.clone(), e.partition()))
            })
            .collect();
        consumer
            .assign(&tpl)
            .map_err(|e| self.kafka_err("assigning partitions", e))?;
        let producer = self.kafka.producer(None)?;

        let mut blocks = BlocksBuffer::default();
        let mut txs = TxBuffer::default();
        let mut decoded = DecodedCalls::default();
        let mut summary = SinkSummary::default();
        let mut last_flush = Instant::now();
        // Consumer lag is measured off the hot path, from the offsets consumed by the last flush.
        let positions: metrics::Positions = Default::default();
        let _lag_watch = match &self.cfg.metrics {
            Some(m) => Some(metrics::watch_lag(
                self.kafka.consumer(&format!("chainx-sink-lag.{}", t.blocks))?,
                positions.clone(),
                m.clone(),
                LAG_EVERY,
            )),
            None => None,
        };
        // Rows buffered that trigger the next flush. Raised past what a flush could not land
        // (transactions whose block message has not arrived): retrying at every message would
        // make the sink quadratic.
        let mut flush_at = self.cfg.flush_rows;
        let mut bytes_since_flush = 0usize;
        let mut flow = Flow::new(assigned, self.cfg.max_ahead_bytes);
        let done = |tables: &Tables, feeds: &mut Feeds| {
            self.cfg.until_block.is_some_and(|until| {
                let want = BlockRanges::span(0, until);
                (!wants(TableKind::Blocks) || tables.covered_blocks.intersect(&want).count() == until + 1)
                    && (!wants(TableKind::Transactions) || tables.covered_txs.intersect(&want).count() == until + 1)
                    && (!wants(TableKind::DecodedCalls) || tables.covered_decoded.intersect(&want).count() == until + 1)
                    && feeds.cover(&want)
            })
        };
        // Coverage changes only at a flush, so "done" is decided there, not per message.
        let mut finished = done(&tables, &mut feeds);
        loop {
            if finished {
                return Ok(summary);
            }
            let deadline = last_flush + self.cfg.flush_interval;
            // A one-off load lands what it holds as soon as the input pauses, so that it finishes.
            // A sink following the head does not: at the chain's pace every block is a pause,
            // and a commit per block made 7,200 files per table a day. It commits by rows, bytes
            // and `flush_interval`, the latency the user chose.
            let buffered = held_rows(&blocks, &txs, &decoded, &mut feeds);
            let wait_until = if buffered > 0 && self.cfg.until_block.is_some() {
                deadline.min(Instant::now() + IDLE_FLUSH)
            } else {
                deadline
            };
            let mut idle = false;
            // While a partition is paused, a short silence of the others means they are at their end.
            let woken = if flow.any_paused() {
                wait_until.min(Instant::now() + flow::IDLE)
            } else {
                wait_until
            };
            // The message is borrowed from the consumer's buffer (no copy); it is parsed into owned
            // rows before the next receive.
            let message = match tokio::time::timeout_at(woken.into(), consumer.recv()).await {
                Ok(Ok(m)) => Some(m),
                Ok(Err(e)) => {
                    tracing::warn!("Kafka ({}): consuming: {e}", self.kafka.brokers);
                    None
                }
                Err(_) => {
                    if flow.any_paused() {
                        flow.silence();
                        self.apply(&consumer, flow.decide(), &mut summary);
                    }
                    idle = Instant::now() >= wait_until;
                    None
                }
            };
            if let Some(m) = message {
                bytes_since_flush += m.payload_len();
                // The name is decoded from C on each call: once per message is enough.
                let name = m.topic();
                let Some(topic) = topic_names.iter().find(|n| n.as_ref() == name) else {
                    continue;
                };
                let tp: Tp = (topic.clone(), m.partition());
                let outcome = if let Some(outcome) = feeds.on_message(&m, &tp) {
                    outcome
                } else if name == t.blocks {
                    on_block(&m, &tp, &mut tables, &mut blocks, &mut txs, &mut decoded)
                } else if name == t.contract_interaction_decoded {
                    on_decoded(&m, &tp, &tables, &mut decoded)
                } else {
                    on_transaction(&m, &tp, &tables, &mut txs)
                };
                match outcome {
                    Ok(Some(d)) => {
                        if flow.delivered(&tp, d) {
                            self.apply(&consumer, flow.decide(), &mut summary);
                        }
                    }
                    Ok(None) => {}
                    Err(reason) => {
                        self.dead_letter(&producer, &m, &reason).await?;
                        summary.dead_letters += 1;
                        if let Some(metrics) = &self.cfg.metrics {
                            metrics.dead_letters.inc();
                        }
                        for offsets in [&mut blocks.offsets, &mut txs.offsets, &mut decoded.offsets] {
                            offsets.consume(&tp, m.offset());
                        }
                        feeds.consume(&tp, m.offset());
                    }
                }
            }
            let buffered = held_rows(&blocks, &txs, &decoded, &mut feeds);
            if buffered >= flush_at || bytes_since_flush >= self.cfg.flush_bytes || idle || Instant::now() >= deadline {
                bytes_since_flush = 0;
                // The per-block tables first: like the backfill, a block row lands last.
                let landed = feeds.flush(self.cfg.metrics.as_ref()).await?;
                summary.logs_landed += landed.logs;
                summary.token_transfers_landed += landed.token_transfers;
                summary.decoded_events_landed += landed.decoded_events;
                summary.traces_landed += landed.traces;
                summary.contracts_landed += landed.contracts;
                summary.tokens_landed += landed.tokens;
                summary.commits += landed.commits;
                self.flush(&mut tables, &mut blocks, &mut txs, &mut decoded, &mut summary)
                    .await?;
                tables.refresh_coverage()?;
                finished = done(&tables, &mut feeds);
                last_flush = Instant::now();
                // The lag watcher reads positions as of the last flush (at least every
                // flush interval), which keeps the lock off the per-message path.
                if let Ok(mut p) = positions.lock() {
                    let mut consumed = feeds.consumed();
                    for offsets in [&blocks.offsets, &txs.offsets, &decoded.offsets] {
                        consumed.extend(offsets.consumed().map(|(tp, last)| (tp.clone(), last)));
                    }
                    for (tp, last) in consumed {
                        let next = p.entry(tp).or_insert(last + 1);
                        *next = (*next).max(last + 1);
                    }
                    // The consumer's own position also steps over transaction markers, which
                    // hold offsets but are never delivered: without it a caught-up sink would
                    // read one message of lag per transaction at the end of each partition.
                    if let Ok(tpl) = consumer.position() {
                        for e in tpl.elements() {
                            let known = p
                                .iter_mut()
                                .find(|((t, n), _)| &**t == e.topic() && *n == e.partition());
                            if let (Offset::Offset(o), Some((_, next))) = (e.offset(), known) {
                                *next = (*next).max(o);
                            }
                        }
                    }
                }
                // What a flush could not land waits for the rest of its block, from other
                // partitions: flow control bounds it.
                let waiting = held_rows(&blocks, &txs, &decoded, &mut feeds);
                summary.peak_waiting_rows = summary.peak_waiting_rows.max(waiting);
                if let Some(m) = &self.cfg.metrics {
                    m.waiting_rows.set(waiting as i64);
                }
                flush_at = waiting + self.cfg.flush_rows;
            }
        }
    }

    /// Pauses and resumes partitions as flow control decided. A failure costs memory, not
    /// correctness, so it is only reported.
    fn apply(&self, consumer: &impl Consumer, decision: flow::Decision, summary: &mut SinkSummary) {
        summary.partitions_paused += decision.pause.len() as u64;
        if let Some(m) = &self.cfg.metrics {
            m.partitions_paused.inc_by(decision.pause.len() as u64);
        }
        for (tps, pause) in [(decision.pause, true), (decision.resume, false)] {
            if tps.is_empty() {
                continue;
            }
            tracing::debug!(?tps, pause, "flow control");
            let mut list = TopicPartitionList::new();
            for (topic, partition) in &tps {
                list.add_partition(topic, *partition);
            }
            let done = if pause {
                consumer.pause(&list)
            } else {
                consumer.resume(&list)
            };
            if let Err(e) = done {
                tracing::warn!("Kafka ({}): pausing or resuming partitions: {e}", self.kafka.brokers);
            }
        }
    }

    async fn dead_letter(
        &self,
        producer: &rdkafka::producer::FutureProducer,
        m: &impl Message,
        reason: &str,
    ) -> Result<()> {
        tracing::error!(
            "{} partition {} offset {}: {reason}; sent to {}",
            m.topic(),
            m.partition(),
            m.offset(),
            self.cfg.topics.sink_dead_letter
        );
        let value = json!({
            "topic": m.topic(),
            "partition": m.partition(),
            "offset": m.offset(),
            "reason": reason,
            "payload": String::from_utf8_lossy(m.payload().unwrap_or_default()),
        })
        .to_string();
        let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
        let topic = &self.cfg.topics.sink_dead_letter;
        producer
            .send(
                FutureRecord::to(topic).key(&key).payload(&value),
                Duration::from_secs(60),
            )
            .await
            .map_err(|(e, _)| self.kafka_err(&format!("sending to {topic}"), e))?;
        Ok(())
    }

    /// Records a commit's metrics.
    fn committed(&self, table: &LakeTable, rows: usize, started: Instant) -> Result<()> {
        if let Some(m) = &self.cfg.metrics {
            let name = table.kind().name();
            m.lake.committed(name, rows as u64, started.elapsed());
            m.lake.live_files(name, table.live_files()?.len());
        }
        Ok(())
    }

    /// Unwinds reorganised blocks (decoded calls first, then transactions, then blocks: the
    /// removed event is read again until both block tables have recorded it), then appends
    /// what is complete, one commit per table: transactions before blocks, like the backfill.
    async fn flush(
        &self,
        tables: &mut Tables,
        blocks: &mut BlocksBuffer,
        txs: &mut TxBuffer,
        decoded: &mut DecodedCalls,
        summary: &mut SinkSummary,
    ) -> Result<()> {
        if !decoded.removed.is_empty() {
            let removed = std::mem::take(&mut decoded.removed);
            let started = Instant::now();
            if tables
                .decoded
                .unwind(&removed, &decoded.offsets.resume_points())
                .await?
                > 0
            {
                summary.commits += 1;
                self.committed(&tables.decoded, 0, started)?;
            }
        }
        for (table, unwinds, offsets) in [
            (&mut tables.txs, &mut txs.unwinds, &mut txs.offsets),
            (&mut tables.blocks, &mut blocks.unwinds, &mut blocks.offsets),
        ] {
            if unwinds.is_empty() {
                continue;
            }
            let unwinds = std::mem::take(unwinds);
            for u in &unwinds {
                offsets.release(&u.tp, u.offset);
            }
            let removed: Vec<RemovedBlock> = unwinds.into_iter().map(|u| u.block).collect();
            let started = Instant::now();
            table.unwind(&removed, &offsets.resume_points()).await?;
            summary.commits += 1;
            if table.kind() == TableKind::Blocks {
                summary.blocks_unwound += removed.len() as u64;
                if let Some(m) = &self.cfg.metrics {
                    m.reorged_blocks_unwound.inc_by(removed.len() as u64);
                }
            }
            self.committed(table, 0, started)?;
        }

        let complete = txs.complete();
        let started = Instant::now();
        let mut adding = BlockRanges::new();
        // The landing blocks (number, hash, messages); their rows borrow from the messages.
        let mut landing = Vec::with_capacity(complete.len());
        for n in complete {
            adding.insert(n, n);
            if let Some((hash, _, tp, offset)) = txs.blocks.remove(&n) {
                txs.offsets.release(&tp, offset);
                tables.landed(n, hash.clone());
                let mut block = Vec::new();
                for branch in txs.txs.remove(&n).unwrap_or_default().branches {
                    for t in &branch.txs {
                        txs.offsets.release(&t.tp, t.offset);
                    }
                    // Copies from a replaced branch are dropped with the block.
                    if branch.block_hash == hash {
                        block = branch.txs;
                    }
                }
                landing.push((n, hash, block));
            }
        }
        let mut rows: Vec<TransactionRow<&str>> = Vec::with_capacity(landing.iter().map(|b| b.2.len()).sum());
        for (n, hash, block) in &landing {
            let first = rows.len();
            for t in block {
                rows.push(t.row().map_err(|e| Error::Reread {
                    topic: t.tp.0.to_string(),
                    partition: t.tp.1,
                    offset: t.offset,
                    source: e,
                })?);
            }
            rows[first..].sort_by_key(|r| r.transaction_index);
            if self.cfg.tables.contains(&TableKind::DecodedCalls) {
                decoded.expect(*n, hash, &rows[first..]);
            }
        }
        txs.rows = txs.txs.values().map(BlockTxs::len).sum();
        // Decoded calls before the transactions they decode, like every derived table.
        if self.cfg.tables.contains(&TableKind::DecodedCalls) {
            self.land_decoded_calls(tables, decoded, summary).await?;
        }
        if !adding.is_empty() {
            let batch = transactions_batch(&rows)?;
            let landed = tables
                .txs
                .append_blocks(batch, &adding, &txs.offsets.resume_points())
                .await?;
            summary.transactions_landed += landed;
            summary.commits += 1;
            self.committed(&tables.txs, landed as usize, started)?;
            tracing::info!(
                blocks = %adding,
                transactions = rows.len(),
                ms = started.elapsed().as_millis(),
                "landed transactions"
            );
        }
        // A block row lands once its transactions have (here or by another writer): the lake's
        // one write order, so a block row always means its transactions are there.
        let txs_covered = tables.txs.covered()?;
        let ready: Vec<u64> = blocks
            .rows
            .keys()
            .copied()
            .filter(|n| txs_covered.contains(*n))
            .collect();
        if !ready.is_empty() {
            let started = Instant::now();
            let mut adding = BlockRanges::new();
            let mut rows = Vec::with_capacity(ready.len());
            for n in ready {
                if let Some((row, tp, offset)) = blocks.rows.remove(&n) {
                    adding.insert(n, n);
                    blocks.offsets.release(&tp, offset);
                    rows.push(row);
                }
            }
            let batch = blocks_batch(&rows)?;
            let landed = tables
                .blocks
                .append_blocks(batch, &adding, &blocks.offsets.resume_points())
                .await?;
            summary.blocks_landed += landed;
            summary.commits += 1;
            self.committed(&tables.blocks, landed as usize, started)?;
            tracing::info!(blocks = %adding, ms = started.elapsed().as_millis(), "landed blocks");
        }
        Ok(())
    }

    /// Lands the decoded calls of every block whose calls are all here, with its coverage.
    async fn land_decoded_calls(
        &self,
        tables: &mut Tables,
        decoded: &mut DecodedCalls,
        summary: &mut SinkSummary,
    ) -> Result<()> {
        decoded.look_up(&mut tables.txs, &tables.covered_txs).await?;
        let (rows, adding) = decoded.take_ready();
        if adding.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let batch = decoded_calls_batch(&rows)?;
        let landed = tables
            .decoded
            .append_blocks(batch, &adding, &decoded.offsets.resume_points())
            .await?;
        summary.decoded_calls_landed += landed;
        summary.commits += 1;
        self.committed(&tables.decoded, landed as usize, started)?;
        tracing::info!(blocks = %adding, calls = landed, "landed decoded calls");
        Ok(())
    }
}

/// Rows the sink holds in memory, over every buffer.
fn held_rows(blocks: &BlocksBuffer, txs: &TxBuffer, decoded: &DecodedCalls, feeds: &mut Feeds) -> usize {
    blocks.rows.len() + txs.rows + decoded.rows + feeds.buffered()
}

/// `block_date` (`YYYY-MM-DD`, UTC) of a block timestamp.
pub(crate) fn block_date(timestamp: u64) -> String {
    i64::try_from(timestamp)
        .ok()
        .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_dates_are_utc_days() {
        assert_eq!(block_date(0), "1970-01-01");
        assert_eq!(block_date(1_709_251_199), "2024-02-29");
        assert_eq!(block_date(1_709_251_200), "2024-03-01");
    }
}
