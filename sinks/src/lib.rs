//! The lake sink: the fast layer's topics landed as the same Delta tables `chainx backfill`
//! writes (same schemas, same `block_date=` partitions), exactly once.
//!
//! **Exactly once.** Each Delta commit carries, as Delta `txn` actions, the Kafka offset every
//! topic-partition the table depends on resumes from. After a crash the sink seeks to those
//! offsets, not to a consumer group's: a commit and the offsets it accounts for land together
//! or not at all. Replayed messages of blocks a table already covers are skipped.
//!
//! **Whole blocks.** A block's transactions are landed only once all of them are here (the
//! block message says how many), so a table's coverage (`chainx.coveredBlocks`) is exact, and
//! stream and batch share it: blocks the backfill landed are skipped, and the backfill skips
//! blocks the stream landed.
//!
//! **Bounded latency.** A commit is cut every `flush_rows` buffered rows or `flush_interval`.
//!
//! **Bad messages** go to `{network}.sink.dead_letter` with the reason; they never stop the sink.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use chainx_evm::{BlockRow, TransactionRow};
use chainx_fast::kafka::KafkaConfig;
use chainx_fast::messages::BlockMessage;
use chainx_fast::Topics;
use chainx_tables::{blocks_batch, transactions_batch, BlockRanges, LakeTable, TableKind};
use rdkafka::consumer::Consumer;
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureRecord;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Fast(#[from] Box<chainx_fast::Error>),
    #[error(transparent)]
    Lake(#[from] Box<chainx_tables::Error>),
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

#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub topics: Topics,
    pub lake: url::Url,
    /// Cut a commit once this many rows are buffered.
    pub flush_rows: usize,
    /// ... or once this long has passed since the last commit.
    pub flush_interval: Duration,
    /// Stop once both tables cover these blocks (tests, benchmarks, one-off loads).
    pub until_block: Option<u64>,
}

/// A topic-partition.
type Tp = (String, i32);

/// The application id of a topic-partition's offset in a table's Delta log.
fn app_id(tp: &Tp) -> String {
    format!("chainx-sink:{}:{}", tp.0, tp.1)
}

/// Per topic-partition: the last offset consumed and the offsets still buffered, hence the
/// offset to resume from after a crash (the lowest still buffered, else the next one).
#[derive(Debug, Default)]
struct Offsets {
    consumed: BTreeMap<Tp, i64>,
    pending: BTreeMap<Tp, BTreeSet<i64>>,
}

impl Offsets {
    fn consume(&mut self, tp: &Tp, offset: i64) {
        let c = self.consumed.entry(tp.clone()).or_insert(offset);
        *c = (*c).max(offset);
    }

    fn hold(&mut self, tp: &Tp, offset: i64) {
        self.consume(tp, offset);
        self.pending.entry(tp.clone()).or_default().insert(offset);
    }

    fn release(&mut self, tp: &Tp, offset: i64) {
        if let Some(p) = self.pending.get_mut(tp) {
            p.remove(&offset);
        }
    }

    fn resume_points(&self) -> Vec<(String, i64)> {
        self.consumed
            .iter()
            .map(|(tp, last)| {
                let next = self
                    .pending
                    .get(tp)
                    .and_then(|p| p.first().copied())
                    .unwrap_or(last + 1);
                (app_id(tp), next)
            })
            .collect()
    }
}

/// Buffered blocks, not yet in the blocks table.
#[derive(Debug, Default)]
struct BlocksBuffer {
    rows: BTreeMap<u64, (BlockRow, Tp, i64)>,
    offsets: Offsets,
}

/// Buffered transactions, by block; a block lands once all its transactions are here.
#[derive(Debug, Default)]
struct TxBuffer {
    /// Per block: its hash, transaction count, and where its message is.
    blocks: BTreeMap<u64, (String, u64, Tp, i64)>,
    txs: BTreeMap<u64, HashMap<String, (TransactionRow, Tp, i64)>>,
    /// Transactions buffered (kept as a count: summing per message would be quadratic).
    rows: usize,
    offsets: Offsets,
}

impl TxBuffer {
    fn rows(&self) -> usize {
        self.rows
    }

    /// Blocks whose transactions (of the block's current hash) are all here.
    fn complete(&self) -> Vec<u64> {
        self.blocks
            .iter()
            .filter(|(n, (hash, count, _, _))| {
                let have = self
                    .txs
                    .get(n)
                    .map_or(0, |m| m.values().filter(|(t, _, _)| &t.block_hash == hash).count());
                have as u64 == *count
            })
            .map(|(n, _)| *n)
            .collect()
    }
}

/// What a run did.
#[derive(Debug, Default, Clone)]
pub struct SinkSummary {
    pub blocks_landed: u64,
    pub transactions_landed: u64,
    pub commits: u64,
    pub dead_letters: u64,
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

    pub async fn run(&self) -> Result<SinkSummary> {
        let t = &self.cfg.topics;
        let class_topics = [
            t.native_token_transfer.as_str(),
            t.contract_deployment.as_str(),
            t.contract_interaction.as_str(),
        ];
        self.kafka.require_topics(&[&t.blocks, &t.sink_dead_letter])?;
        self.kafka.require_topics(&class_topics)?;
        let mut blocks_table = LakeTable::open_or_create(&self.cfg.lake, TableKind::Blocks).await?;
        let mut tx_table = LakeTable::open_or_create(&self.cfg.lake, TableKind::Transactions).await?;
        // A sink killed between writing files and committing leaves files no version reads.
        blocks_table.remove_orphans().await?;
        tx_table.remove_orphans().await?;

        let brokers = self.kafka.brokers.clone();
        let kerr = |what: &str, e| Error::Kafka {
            brokers: brokers.clone(),
            what: what.to_string(),
            source: Box::new(e),
        };
        let consumer = self.kafka.consumer(&format!("chainx-sink.{}", t.blocks))?;
        let metadata = consumer
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(|e| kerr("reading topic metadata", e))?;
        let mut tpl = TopicPartitionList::new();
        for topic in std::iter::once(t.blocks.as_str()).chain(class_topics) {
            let Some(md) = metadata.topics().iter().find(|m| m.name() == topic) else {
                continue;
            };
            for p in md.partitions() {
                let tp: Tp = (topic.to_string(), p.id());
                // The blocks topic feeds both tables: resume from the earlier of the two.
                let mut start = tx_table.app_version(&app_id(&tp)).await?;
                if topic == t.blocks {
                    let b = blocks_table.app_version(&app_id(&tp)).await?;
                    // A table that never recorded this partition has consumed none of it.
                    start = match (start, b) {
                        (Some(x), Some(y)) => Some(x.min(y)),
                        _ => None,
                    };
                }
                let offset = start.map_or(Offset::Beginning, Offset::Offset);
                tpl.add_partition_offset(topic, p.id(), offset)
                    .map_err(|e| kerr("assigning partitions", e))?;
            }
        }
        consumer.assign(&tpl).map_err(|e| kerr("assigning partitions", e))?;
        let producer = self.kafka.producer(None)?;

        let mut blocks = BlocksBuffer::default();
        let mut txs = TxBuffer::default();
        let mut summary = SinkSummary::default();
        let mut last_flush = Instant::now();
        // Rows buffered that trigger the next flush. Raised past what a flush could not land
        // (transactions whose block message has not arrived): retrying at every message would
        // make the sink quadratic.
        let mut flush_at = self.cfg.flush_rows;
        // Coverage is read once per commit, not per message: it is on the hot path.
        let mut covered = (blocks_table.covered()?, tx_table.covered()?);
        let done = |c: &(BlockRanges, BlockRanges)| {
            self.cfg.until_block.is_some_and(|until| {
                let want = BlockRanges::span(0, until);
                c.0.intersect(&want).count() == until + 1 && c.1.intersect(&want).count() == until + 1
            })
        };
        loop {
            if done(&covered) {
                return Ok(summary);
            }
            let deadline = last_flush + self.cfg.flush_interval;
            let message = match tokio::time::timeout_at(deadline.into(), consumer.recv()).await {
                Ok(Ok(m)) => Some(m.detach()),
                Ok(Err(e)) => {
                    tracing::warn!("Kafka ({brokers}): consuming: {e}");
                    None
                }
                Err(_) => None,
            };
            if let Some(m) = message {
                let tp: Tp = (m.topic().to_string(), m.partition());
                let outcome = if m.topic() == t.blocks {
                    self.on_block(&m, &tp, &covered, &mut blocks, &mut txs)
                } else {
                    self.on_transaction(&m, &tp, &covered.1, &mut txs)
                };
                if let Err(reason) = outcome {
                    self.dead_letter(&producer, &m, &reason).await?;
                    summary.dead_letters += 1;
                    blocks.offsets.consume(&tp, m.offset());
                    txs.offsets.consume(&tp, m.offset());
                }
            }
            let buffered = blocks.rows.len() + txs.rows();
            if buffered >= flush_at || Instant::now() >= deadline {
                self.flush(&mut blocks_table, &mut blocks, &mut tx_table, &mut txs, &mut summary)
                    .await?;
                covered = (blocks_table.covered()?, tx_table.covered()?);
                last_flush = Instant::now();
                flush_at = blocks.rows.len() + txs.rows() + self.cfg.flush_rows;
            }
        }
    }

    fn on_block(
        &self,
        m: &OwnedMessage,
        tp: &Tp,
        covered: &(BlockRanges, BlockRanges),
        blocks: &mut BlocksBuffer,
        txs: &mut TxBuffer,
    ) -> std::result::Result<(), String> {
        let msg: BlockMessage =
            serde_json::from_slice(m.payload().unwrap_or_default()).map_err(|e| format!("not a block message: {e}"))?;
        let n = msg.block.number;
        let offset = m.offset();
        // The blocks table.
        if covered.0.contains(n) {
            if msg.removed {
                tracing::warn!(
                    block = n,
                    "a landed block was reorganised out; its rows stay (unwinding is not built yet)"
                );
            }
            blocks.offsets.consume(tp, offset);
        } else if msg.removed {
            if let Some((row, old_tp, old)) = blocks.rows.remove(&n) {
                if row.hash != msg.block.hash {
                    blocks.rows.insert(n, (row, old_tp, old));
                } else {
                    blocks.offsets.release(&old_tp, old);
                }
            }
            blocks.offsets.consume(tp, offset);
        } else {
            if let Some((_, old_tp, old)) = blocks.rows.remove(&n) {
                blocks.offsets.release(&old_tp, old);
            }
            blocks.rows.insert(n, (msg.block.clone(), tp.clone(), offset));
            blocks.offsets.hold(tp, offset);
        }
        // The transactions table needs the block's transaction count.
        if covered.1.contains(n) {
            txs.offsets.consume(tp, offset);
        } else if msg.removed {
            if let Some(entry) = txs.blocks.remove(&n) {
                if entry.0 != msg.block.hash {
                    txs.blocks.insert(n, entry);
                } else {
                    txs.offsets.release(&entry.2, entry.3);
                }
            }
            txs.offsets.consume(tp, offset);
        } else {
            if let Some((_, _, old_tp, old)) = txs.blocks.remove(&n) {
                txs.offsets.release(&old_tp, old);
            }
            txs.blocks.insert(
                n,
                (msg.block.hash.clone(), msg.block.transaction_count, tp.clone(), offset),
            );
            txs.offsets.hold(tp, offset);
        }
        Ok(())
    }

    fn on_transaction(
        &self,
        m: &OwnedMessage,
        tp: &Tp,
        covered: &BlockRanges,
        txs: &mut TxBuffer,
    ) -> std::result::Result<(), String> {
        let row: TransactionRow =
            serde_json::from_slice(m.payload().unwrap_or_default()).map_err(|e| format!("not a transaction: {e}"))?;
        let offset = m.offset();
        if covered.contains(row.block_number) {
            txs.offsets.consume(tp, offset);
            return Ok(());
        }
        let block = txs.txs.entry(row.block_number).or_default();
        if block.contains_key(&row.hash) {
            // A redelivery (at-least-once upstream): the copy buffered already counts.
            txs.offsets.consume(tp, offset);
        } else {
            block.insert(row.hash.clone(), (row, tp.clone(), offset));
            txs.rows += 1;
            txs.offsets.hold(tp, offset);
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        producer: &rdkafka::producer::FutureProducer,
        m: &OwnedMessage,
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
            .map_err(|(e, _)| Error::Kafka {
                brokers: self.kafka.brokers.clone(),
                what: format!("sending to {topic}"),
                source: Box::new(e),
            })?;
        Ok(())
    }

    async fn flush(
        &self,
        blocks_table: &mut LakeTable,
        blocks: &mut BlocksBuffer,
        tx_table: &mut LakeTable,
        txs: &mut TxBuffer,
        summary: &mut SinkSummary,
    ) -> Result<()> {
        if !blocks.rows.is_empty() {
            let mut adding = BlockRanges::new();
            let mut rows = Vec::with_capacity(blocks.rows.len());
            for (n, (row, tp, offset)) in std::mem::take(&mut blocks.rows) {
                adding.insert(n, n);
                blocks.offsets.release(&tp, offset);
                rows.push(row);
            }
            let batch = blocks_batch(&rows)?;
            blocks_table
                .append_blocks(batch, &adding, &blocks.offsets.resume_points())
                .await?;
            summary.blocks_landed += rows.len() as u64;
            summary.commits += 1;
            tracing::info!(blocks = %adding, "landed blocks");
        }
        let complete = txs.complete();
        if !complete.is_empty() {
            let mut adding = BlockRanges::new();
            let mut rows = Vec::new();
            for n in complete {
                adding.insert(n, n);
                if let Some((hash, _, tp, offset)) = txs.blocks.remove(&n) {
                    txs.offsets.release(&tp, offset);
                    let mut block_rows: Vec<TransactionRow> = Vec::new();
                    for (_, (row, tp, offset)) in txs.txs.remove(&n).unwrap_or_default() {
                        txs.offsets.release(&tp, offset);
                        // Copies from a replaced branch are dropped with the block.
                        if row.block_hash == hash {
                            block_rows.push(row);
                        }
                    }
                    block_rows.sort_by_key(|r| r.transaction_index);
                    rows.extend(block_rows);
                }
            }
            txs.rows = txs.txs.values().map(HashMap::len).sum();
            let batch = transactions_batch(&rows)?;
            tx_table
                .append_blocks(batch, &adding, &txs.offsets.resume_points())
                .await?;
            summary.transactions_landed += rows.len() as u64;
            summary.commits += 1;
            tracing::info!(blocks = %adding, transactions = rows.len(), "landed transactions");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> Tp {
        ("t".to_string(), p)
    }

    #[test]
    fn resume_from_the_lowest_buffered_offset_else_the_next() {
        let mut o = Offsets::default();
        o.hold(&tp(0), 5);
        o.hold(&tp(0), 6);
        o.consume(&tp(0), 7);
        o.consume(&tp(1), 3);
        assert_eq!(
            o.resume_points(),
            vec![("chainx-sink:t:0".to_string(), 5), ("chainx-sink:t:1".to_string(), 4)]
        );
        o.release(&tp(0), 5);
        o.release(&tp(0), 6);
        assert_eq!(o.resume_points()[0].1, 8);
    }

    #[test]
    fn a_block_is_complete_only_with_all_its_transactions_of_its_hash() {
        let row = |hash: &str, block_hash: &str| -> TransactionRow {
            serde_json::from_value(json!({
                "hash": hash, "nonce": 0, "block_hash": block_hash, "block_number": 1, "transaction_index": 0,
                "from_address": "0xaa", "to_address": null, "value": "0", "gas": 1, "gas_price": null,
                "input": "0x", "block_timestamp": 1, "max_fee_per_gas": null, "max_priority_fee_per_gas": null,
                "transaction_type": null, "receipt_cumulative_gas_used": null, "receipt_gas_used": null,
                "receipt_contract_address": null, "receipt_status": null, "receipt_effective_gas_price": null,
                "tx_kind": "contract_deployment"
            }))
            .unwrap()
        };
        let mut b = TxBuffer::default();
        b.blocks.insert(1, ("0xb".to_string(), 2, tp(0), 0));
        b.blocks.insert(2, ("0xc".to_string(), 0, tp(0), 1));
        let txs = b.txs.entry(1).or_default();
        txs.insert("0x1".into(), (row("0x1", "0xb"), tp(1), 0));
        // A copy from a replaced branch does not count.
        txs.insert("0x2".into(), (row("0x2", "0xold"), tp(1), 1));
        assert_eq!(b.complete(), vec![2], "an empty block is complete at once");
        b.txs
            .entry(1)
            .or_default()
            .insert("0x3".into(), (row("0x3", "0xb"), tp(1), 2));
        assert_eq!(b.complete(), vec![1, 2]);
    }
}
