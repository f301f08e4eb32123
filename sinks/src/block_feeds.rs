//! The per-block topics (`mined.logs`, `mined.token_transfers`, `mined.logs.decoded`,
//! `mined.traces`, `mined.contracts`, `mined.tokens`): each
//! message holds all of one block's rows, so a feed lands a block the moment its message is here,
//! and its table's coverage is exact. One [`BlockFeed`] per table, on its own offsets: it
//! records in each commit where its topic's partitions resume, as the block tables do.
//!
//! A removed message takes its block out: from the buffer if it has not landed, else from the
//! table at the next flush (rows deleted, coverage dropped, one commit with the offsets). The
//! decoder is at-least-once, so a replay may bring a removed block's rows again after its
//! removal: the hashes of recently removed blocks are remembered and such rows dropped.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use chainx_evm::{ContractRow, DecodedEventRow, LogRow, TokenRow, TokenTransferRow, TraceRow};
use chainx_fast::messages::BlockRowsMessage;
use chainx_fast::Topics;
use chainx_tables::arrow::array::RecordBatch;
use chainx_tables::{
    contracts_batch, decoded_events_batch, logs_batch, token_transfers_batch, tokens_batch, traces_batch, BlockRanges,
    Lake, LakeTable, RemovedBlock, TableKind,
};
use rdkafka::message::Message;
use serde::de::DeserializeOwned;

use crate::buffer::{app_id, Offsets, Tp, Unwind, RECENTLY_REMOVED};
use crate::flow::Delivery;
use crate::messages::parse;
use crate::{block_date, Result, SinkMetrics};

/// One buffered block: its hash, rows, and where its message is.
type Buffered<T> = (String, Vec<T>, Tp, i64);

#[derive(Debug)]
pub(crate) struct BlockFeed<T> {
    pub(crate) table: LakeTable,
    covered: BlockRanges,
    rows: BTreeMap<u64, Buffered<T>>,
    /// Rows buffered (a count: summing per message would be quadratic).
    buffered: usize,
    unwinds: Vec<Unwind>,
    pub(crate) offsets: Offsets,
    /// Per partition, the offset the table's last commit resumes from.
    starts: HashMap<Tp, i64>,
    /// The hash landed at each recent height: a removed message of another hash leaves it.
    landed: BTreeMap<u64, String>,
    recently_removed: VecDeque<String>,
    encode: fn(&[T]) -> chainx_tables::Result<RecordBatch>,
    what: &'static str,
}

/// What one flush of a feed did.
#[derive(Debug, Default)]
pub(crate) struct Flushed {
    pub(crate) rows: u64,
    pub(crate) commits: u64,
}

impl<T: DeserializeOwned> BlockFeed<T> {
    pub(crate) fn new(
        table: LakeTable,
        encode: fn(&[T]) -> chainx_tables::Result<RecordBatch>,
        what: &'static str,
    ) -> Result<Self> {
        let covered = table.covered()?;
        Ok(BlockFeed {
            table,
            covered,
            rows: BTreeMap::new(),
            buffered: 0,
            unwinds: Vec::new(),
            offsets: Offsets::default(),
            starts: HashMap::new(),
            landed: BTreeMap::new(),
            recently_removed: VecDeque::new(),
            encode,
            what,
        })
    }

    pub(crate) fn covered(&self) -> &BlockRanges {
        &self.covered
    }

    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// Where the table resumes reading `tp` (`None`: from the beginning).
    pub(crate) async fn resume(&mut self, tp: &Tp) -> Result<Option<i64>> {
        let at = self.table.app_version(&app_id(tp)).await?;
        if let Some(at) = at {
            self.starts.insert(tp.clone(), at);
        }
        Ok(at)
    }

    fn forget_removed(&mut self, hash: &str) {
        if self.recently_removed.len() == RECENTLY_REMOVED {
            self.recently_removed.pop_front();
        }
        self.recently_removed.push_back(hash.to_string());
    }

    pub(crate) fn on_message(&mut self, m: &impl Message, tp: &Tp) -> std::result::Result<Option<Delivery>, String> {
        let offset = m.offset();
        if self.starts.get(tp).is_some_and(|start| offset < *start) {
            // An earlier commit of this table already accounted for this message.
            return Ok(None);
        }
        let msg: BlockRowsMessage<Vec<T>> = parse(m, self.what)?;
        let n = msg.block_number;
        let skipped = Ok(Some(Delivery::skipped(n)));
        if msg.removed {
            self.forget_removed(&msg.block_hash);
            let landed_here = self.landed.get(&n).is_none_or(|h| *h == msg.block_hash);
            if self.covered.contains(n) && landed_here {
                self.unwinds.push(Unwind {
                    block: RemovedBlock {
                        number: n,
                        hash: msg.block_hash,
                        date: block_date(msg.block_timestamp),
                    },
                    tp: tp.clone(),
                    offset,
                });
                self.offsets.hold(tp, offset);
                // The replacement must not be skipped as covered before the unwind commits.
                self.covered = self.covered.subtract(&BlockRanges::span(n, n));
                self.landed.remove(&n);
            } else {
                if self.rows.get(&n).is_some_and(|(hash, ..)| *hash == msg.block_hash) {
                    if let Some((_, rows, old_tp, old)) = self.rows.remove(&n) {
                        self.buffered -= rows.len();
                        self.offsets.release(&old_tp, old);
                    }
                }
                self.offsets.consume(tp, offset);
            }
            return skipped;
        }
        if self.covered.contains(n) || self.recently_removed.contains(&msg.block_hash) {
            // Landed already (by this sink or the backfill), or a replay of a removed block.
            self.offsets.consume(tp, offset);
            return skipped;
        }
        self.buffered += msg.rows.len();
        if let Some((_, rows, old_tp, old)) = self.rows.insert(n, (msg.block_hash, msg.rows, tp.clone(), offset)) {
            self.buffered -= rows.len();
            self.offsets.release(&old_tp, old);
        }
        self.offsets.hold(tp, offset);
        Ok(Some(Delivery::parsed(n, m)))
    }

    /// Unwinds what reorgs removed, then lands every buffered block: one commit each.
    pub(crate) async fn flush(&mut self) -> Result<Flushed> {
        let mut done = Flushed::default();
        if !self.unwinds.is_empty() {
            let unwinds = std::mem::take(&mut self.unwinds);
            for u in &unwinds {
                self.offsets.release(&u.tp, u.offset);
            }
            let removed: Vec<RemovedBlock> = unwinds.into_iter().map(|u| u.block).collect();
            self.table.unwind(&removed, &self.offsets.resume_points()).await?;
            done.commits += 1;
        }
        if !self.rows.is_empty() {
            let started = Instant::now();
            let mut adding = BlockRanges::new();
            let mut rows = Vec::with_capacity(self.buffered);
            for (n, (hash, block_rows, tp, offset)) in std::mem::take(&mut self.rows) {
                adding.insert(n, n);
                self.offsets.release(&tp, offset);
                self.landed.insert(n, hash);
                rows.extend(block_rows);
            }
            while self.landed.len() > RECENTLY_REMOVED {
                self.landed.pop_first();
            }
            self.buffered = 0;
            let batch = (self.encode)(&rows)?;
            done.rows = self
                .table
                .append_blocks(batch, &adding, &self.offsets.resume_points())
                .await?;
            done.commits += 1;
            tracing::info!(
                table = self.table.kind().name(),
                blocks = %adding,
                rows = done.rows,
                ms = started.elapsed().as_millis() as u64,
                "landed"
            );
        }
        if done.commits > 0 {
            self.covered = self.table.covered()?;
        }
        Ok(done)
    }
}

/// The sink's per-block feeds, each present when its table is asked for.
#[derive(Debug, Default)]
pub(crate) struct Feeds {
    pub(crate) logs: Option<(String, BlockFeed<LogRow>)>,
    pub(crate) token_transfers: Option<(String, BlockFeed<TokenTransferRow>)>,
    pub(crate) decoded_events: Option<(String, BlockFeed<DecodedEventRow>)>,
    pub(crate) traces: Option<(String, BlockFeed<TraceRow>)>,
    pub(crate) contracts: Option<(String, BlockFeed<ContractRow>)>,
    pub(crate) tokens: Option<(String, BlockFeed<TokenRow>)>,
}

/// Rows landed per table by one flush of the feeds.
#[derive(Debug, Default)]
pub(crate) struct FeedsFlushed {
    pub(crate) logs: u64,
    pub(crate) token_transfers: u64,
    pub(crate) decoded_events: u64,
    pub(crate) traces: u64,
    pub(crate) contracts: u64,
    pub(crate) tokens: u64,
    pub(crate) commits: u64,
}

/// Calls `$body` with each present feed as `$feed` (the feeds differ in row type).
macro_rules! each_feed {
    ($feeds:expr, |$topic:ident, $feed:ident| $body:expr) => {{
        if let Some(($topic, $feed)) = &mut $feeds.logs {
            $body;
        }
        if let Some(($topic, $feed)) = &mut $feeds.token_transfers {
            $body;
        }
        if let Some(($topic, $feed)) = &mut $feeds.decoded_events {
            $body;
        }
        if let Some(($topic, $feed)) = &mut $feeds.traces {
            $body;
        }
        if let Some(($topic, $feed)) = &mut $feeds.contracts {
            $body;
        }
        if let Some(($topic, $feed)) = &mut $feeds.tokens {
            $body;
        }
    }};
}

impl Feeds {
    /// The feeds of `tables`, reading `topics`.
    pub(crate) async fn open(lake: &Lake, tables: &[TableKind], topics: &Topics) -> Result<Self> {
        let mut feeds = Feeds::default();
        for kind in tables {
            let table = || LakeTable::open_or_create(lake, *kind);
            match kind {
                TableKind::Logs => {
                    let feed = BlockFeed::new(table().await?, logs_batch, "a block's logs")?;
                    feeds.logs = Some((topics.logs.clone(), feed));
                }
                TableKind::TokenTransfers => {
                    let feed = BlockFeed::new(table().await?, token_transfers_batch, "a block's token transfers")?;
                    feeds.token_transfers = Some((topics.token_transfers.clone(), feed));
                }
                TableKind::DecodedEvents => {
                    let feed = BlockFeed::new(table().await?, decoded_events_batch, "a block's decoded events")?;
                    feeds.decoded_events = Some((topics.logs_decoded.clone(), feed));
                }
                TableKind::Traces => {
                    let feed = BlockFeed::new(table().await?, traces_batch, "a block's traces")?;
                    feeds.traces = Some((topics.traces.clone(), feed));
                }
                TableKind::Contracts => {
                    let feed = BlockFeed::new(table().await?, contracts_batch, "a block's contracts")?;
                    feeds.contracts = Some((topics.contracts.clone(), feed));
                }
                TableKind::Tokens => {
                    let feed = BlockFeed::new(table().await?, tokens_batch, "a block's tokens")?;
                    feeds.tokens = Some((topics.tokens.clone(), feed));
                }
                TableKind::Blocks | TableKind::Transactions | TableKind::DecodedCalls => {}
            }
        }
        Ok(feeds)
    }

    /// The topics the feeds read.
    pub(crate) fn topics(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        each_feed!(self, |topic, _feed| out.push(topic.clone()));
        out
    }

    /// Where the feed of `tp`'s topic resumes (`Some(None)`: from the beginning; `None`: no
    /// feed reads it).
    pub(crate) async fn resume(&mut self, tp: &Tp) -> Result<Option<Option<i64>>> {
        each_feed!(self, |topic, feed| if **topic == *tp.0 {
            return Ok(Some(feed.resume(tp).await?));
        });
        Ok(None)
    }

    /// Hands a message to the feed of its topic; `None` if no feed reads it.
    pub(crate) fn on_message(
        &mut self,
        m: &impl Message,
        tp: &Tp,
    ) -> Option<std::result::Result<Option<Delivery>, String>> {
        each_feed!(self, |topic, feed| if **topic == *tp.0 {
            return Some(feed.on_message(m, tp));
        });
        None
    }

    /// A message that could not be read is still consumed.
    pub(crate) fn consume(&mut self, tp: &Tp, offset: i64) {
        each_feed!(self, |_topic, feed| feed.offsets.consume(tp, offset));
    }

    pub(crate) fn buffered(&mut self) -> usize {
        let mut n = 0;
        each_feed!(self, |_topic, feed| n += feed.buffered());
        n
    }

    /// Whether every feed's table covers `want`.
    pub(crate) fn cover(&mut self, want: &BlockRanges) -> bool {
        let mut all = true;
        each_feed!(self, |_topic, feed| all &=
            feed.covered().intersect(want).count() == want.count());
        all
    }

    /// The last offset consumed per partition, for the lag watcher.
    pub(crate) fn consumed(&mut self) -> Vec<(Tp, i64)> {
        let mut out = Vec::new();
        each_feed!(self, |_topic, feed| out
            .extend(feed.offsets.consumed().map(|(tp, o)| (tp.clone(), o))));
        out
    }

    pub(crate) async fn flush(&mut self, metrics: Option<&SinkMetrics>) -> Result<FeedsFlushed> {
        let mut out = FeedsFlushed::default();
        if let Some((_, f)) = &mut self.logs {
            out.logs = flush_feed(f, metrics, &mut out.commits).await?;
        }
        if let Some((_, f)) = &mut self.token_transfers {
            out.token_transfers = flush_feed(f, metrics, &mut out.commits).await?;
        }
        if let Some((_, f)) = &mut self.decoded_events {
            out.decoded_events = flush_feed(f, metrics, &mut out.commits).await?;
        }
        if let Some((_, f)) = &mut self.traces {
            out.traces = flush_feed(f, metrics, &mut out.commits).await?;
        }
        if let Some((_, f)) = &mut self.contracts {
            out.contracts = flush_feed(f, metrics, &mut out.commits).await?;
        }
        if let Some((_, f)) = &mut self.tokens {
            out.tokens = flush_feed(f, metrics, &mut out.commits).await?;
        }
        Ok(out)
    }
}

/// Flushes one feed and records its commit's metrics; returns the rows landed.
async fn flush_feed<T: DeserializeOwned>(
    feed: &mut BlockFeed<T>,
    metrics: Option<&SinkMetrics>,
    commits: &mut u64,
) -> Result<u64> {
    let started = Instant::now();
    let done = feed.flush().await?;
    *commits += done.commits;
    if let (Some(m), true) = (metrics, done.commits > 0) {
        let name = feed.table.kind().name();
        m.lake.committed(name, done.rows, started.elapsed());
        m.lake.live_files(name, feed.table.live_files()?.len());
    }
    Ok(done.rows)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use rdkafka::message::{OwnedMessage, Timestamp};

    use super::*;

    const TOPIC: &str = "t.mined.logs";

    fn message(offset: i64, number: u64, hash: &str, removed: bool, logs: usize) -> OwnedMessage {
        let rows: Vec<LogRow> = (0..logs as u64)
            .map(|i| LogRow {
                log_index: i,
                transaction_hash: format!("0x{i:064x}"),
                transaction_index: 0,
                address: "0x11".into(),
                data: "0x".into(),
                topics: vec![format!("0x{number:064x}")],
                block_timestamp: 1_709_251_200,
                block_number: number,
                block_hash: hash.into(),
            })
            .collect();
        let msg = BlockRowsMessage {
            block_number: number,
            block_hash: hash.to_string(),
            block_timestamp: 1_709_251_200,
            removed,
            rows,
        };
        let payload = serde_json::to_vec(&msg).unwrap();
        OwnedMessage::new(
            Some(payload),
            None,
            TOPIC.into(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    async fn rows_of(feed: &BlockFeed<LogRow>) -> Vec<String> {
        let mut hashes = Vec::new();
        for b in chainx_tables::read::delta_rows(&feed.table).await.unwrap() {
            let col = b.column_by_name("block_hash").unwrap();
            let col = col
                .as_any()
                .downcast_ref::<chainx_tables::arrow::array::StringArray>()
                .unwrap();
            hashes.extend(col.iter().map(|h| h.unwrap().to_string()));
        }
        hashes
    }

    /// A block's rows come and go with its messages: a removal before landing drops them, a
    /// replay of the removed block is ignored, the replacement lands, and a removal after
    /// landing deletes it from the table with its coverage.
    #[tokio::test]
    async fn a_reorged_block_leaves_the_buffer_or_the_table_and_its_replay_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();
        let table = LakeTable::open_or_create(&lake, TableKind::Logs).await.unwrap();
        let mut feed = BlockFeed::new(table, logs_batch, "a block's logs").unwrap();
        let tp: Tp = (Arc::from(TOPIC), 0);
        feed.on_message(&message(0, 5, "0xaa", false, 3), &tp).unwrap();
        assert_eq!(feed.buffered(), 3);
        feed.on_message(&message(1, 5, "0xaa", true, 0), &tp).unwrap();
        assert_eq!(feed.buffered(), 0, "a removal drops the buffered block");
        // An at-least-once decoder may send the removed block again: it stays out.
        feed.on_message(&message(2, 5, "0xaa", false, 3), &tp).unwrap();
        assert_eq!(feed.buffered(), 0, "a replay of a removed block was buffered");
        feed.on_message(&message(3, 5, "0xbb", false, 2), &tp).unwrap();
        feed.on_message(&message(4, 6, "0xcc", false, 0), &tp).unwrap();
        let done = feed.flush().await.unwrap();
        assert_eq!((done.rows, done.commits), (2, 1));
        assert_eq!(feed.covered().to_string(), "5-6", "an empty block is covered too");
        assert_eq!(rows_of(&feed).await, ["0xbb", "0xbb"]);
        // Landed, then removed: the next flush deletes its rows and coverage.
        feed.on_message(&message(5, 5, "0xbb", true, 0), &tp).unwrap();
        assert_eq!(feed.covered().to_string(), "6-6");
        let done = feed.flush().await.unwrap();
        assert_eq!(done.commits, 1);
        assert!(rows_of(&feed).await.is_empty());
        assert_eq!(feed.table.covered().unwrap().to_string(), "6-6");
        // Every message is accounted for: the table resumes after the last one.
        let resume = feed.offsets.resume_points();
        assert_eq!(resume, vec![(app_id(&tp), 6)]);
    }
}
