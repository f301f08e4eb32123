//! The backfill's pipeline, in memory bounded by `max_memory` whatever the range and
//! `chunk_blocks`: the fetching side reads a chunk in slices sized to the blocks' weight (a
//! mainnet block is a megabyte of JSON, a dev chain's a few kilobytes), and the landing side
//! encodes each slice into Arrow at once, dropping the parsed replies, and commits when the chunk
//! ends or the encoded rows reach their share of the budget. Chunk k+1 is fetched while chunk k
//! is encoded and committed.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chainx_evm::{AbiRegistry, BlockFetcher, FetchedBlock};
use chainx_tables::arrow::array::RecordBatch;
use chainx_tables::{BlockRanges, LakeTable, TableKind};
use chainx_telemetry::LakeMetrics;
use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;

use crate::backfill::BackfillConfig;
use crate::chunk::ChunkRows;
use crate::{Result, Summary};

/// What the process takes besides the rows in flight: code, runtime, HTTP and Delta state, and
/// the allocator's caches of memory freed a moment ago (mimalloc returns it after 10 ms; doing so
/// at once cost 40% of the speed). Measured on mainnet-shaped blocks: 200 to 250 MiB whatever
/// the budget.
pub(crate) const BASELINE: u64 = 256 << 20;

/// Shares of what `max_memory` leaves above [`BASELINE`]: a fetched slice's estimated size
/// (three are alive at once: one arriving, one queued, one being encoded, each about twice its
/// estimate while parsed and turned into rows), and the rows held for one commit as the commit
/// weighs them ([`Landing::commit_weight`]).
const SLICE_SHARE: u64 = 16;
const COMMIT_SHARE: u64 = 4;

/// While a table is written, its rows exist three times: the Arrow batches, their copy split by
/// partition, and the Parquet pages encoded before the file goes out.
const WRITE_COPIES: u64 = 3;

/// The bar, plus the transactions seen so far for its message.
pub(crate) struct Progress {
    pub bar: ProgressBar,
    pub txs: AtomicU64,
}

/// Fetched blocks, and whether they end their chunk.
struct Slice {
    blocks: Vec<FetchedBlock>,
    ends_chunk: bool,
}

pub(crate) async fn run(
    fetcher: &BlockFetcher,
    cfg: &BackfillConfig,
    todo: &BlockRanges,
    watched: &mut [LakeTable],
    landing: &mut Landing,
    progress: &Progress,
    summary: &mut Summary,
) -> Result<()> {
    // The channel holds one slice. A fetch error travels it, so what was fetched before it
    // still lands; a commit error ends `try_join` at once, cancelling the fetch. Another writer
    // may land blocks of the range meanwhile: before each chunk the tables' coverage is read
    // again, and only what some table still lacks is fetched.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Slice>>(1);
    let skipped = AtomicU64::new(0);
    let skipped = &skipped;
    let data = cfg.max_memory.saturating_sub(BASELINE);
    let slice_budget = (data / SLICE_SHARE).max(1);
    let widest = (cfg.batch_blocks * cfg.parallel_batches) as u64;
    let produce = async move {
        // One request's worth first: until a slice has been weighed, a block may be a megabyte.
        let mut slice_blocks = cfg.batch_blocks as u64;
        for (from, to) in todo.chunks(cfg.chunk_blocks) {
            let missing = match still_missing(watched, from, to).await {
                Ok(missing) => missing,
                Err(e) => {
                    let _ = sender.send(Err(e)).await;
                    break;
                }
            };
            let late = (to - from + 1) - missing.len() as u64;
            skipped.fetch_add(late, Ordering::Relaxed);
            progress.bar.inc(late);
            let mut rest = missing.as_slice();
            while !rest.is_empty() {
                let (numbers, after) = rest.split_at((slice_blocks as usize).min(rest.len()));
                rest = after;
                let fetched = fetch(fetcher, cfg, numbers, progress).await;
                let failed = fetched.is_err();
                if let Ok(blocks) = &fetched {
                    // The next slice weighs what this one did per block.
                    let bytes: u64 = blocks.iter().map(FetchedBlock::approx_bytes).sum();
                    let per_block = (bytes / blocks.len().max(1) as u64).max(1);
                    slice_blocks = (slice_budget / per_block).clamp(1, widest);
                }
                let slice = fetched.map(|blocks| Slice {
                    blocks,
                    ends_chunk: rest.is_empty(),
                });
                if sender.send(slice).await.is_err() || failed {
                    return Ok(());
                }
            }
        }
        Ok::<(), crate::Error>(())
    };
    let commit_budget = data / COMMIT_SHARE;
    let consume = async {
        while let Some(slice) = receiver.recv().await {
            let slice = match slice {
                Ok(slice) => slice,
                Err(e) => {
                    // What was fetched before the error lands.
                    landing.commit(summary).await?;
                    return Err(e);
                }
            };
            landing.encode(&slice.blocks, summary).await?;
            drop(slice.blocks);
            if slice.ends_chunk || landing.commit_weight() >= commit_budget {
                landing.commit(summary).await?;
            }
        }
        landing.commit(summary).await
    };
    futures::future::try_join(produce, consume).await?;
    summary.skipped_blocks += skipped.load(Ordering::Relaxed);
    Ok(())
}

/// The blocks of `from..=to` some table does not cover yet, as of now.
async fn still_missing(watched: &mut [LakeTable], from: u64, to: u64) -> Result<Vec<u64>> {
    let chunk = BlockRanges::span(from, to);
    let mut landed = chunk.clone();
    for table in watched.iter_mut() {
        table.refresh().await?;
        landed = landed.intersect(&table.covered()?);
    }
    Ok((from..=to).filter(|n| !landed.contains(*n)).collect())
}

/// The tables a run lands, what it decodes with, and the rows encoded for the next commit.
pub(crate) struct Landing {
    pub tables: BTreeMap<TableKind, LakeTable>,
    pub abis: AbiRegistry,
    pub metrics: Option<LakeMetrics>,
    pending: BTreeMap<TableKind, Vec<RecordBatch>>,
    pending_blocks: BlockRanges,
    /// Arrow bytes pending, per table.
    pending_bytes: BTreeMap<TableKind, u64>,
}

impl Landing {
    pub(crate) fn new(tables: BTreeMap<TableKind, LakeTable>, abis: AbiRegistry, metrics: Option<LakeMetrics>) -> Self {
        Landing {
            tables,
            abis,
            metrics,
            pending: BTreeMap::new(),
            pending_blocks: BlockRanges::new(),
            pending_bytes: BTreeMap::new(),
        }
    }

    /// Encodes fetched blocks into each table's Arrow rows, held for the next commit.
    async fn encode(&mut self, fetched: &[FetchedBlock], summary: &mut Summary) -> Result<()> {
        let kinds: Vec<TableKind> = self.tables.keys().copied().collect();
        let rows = ChunkRows::build(fetched, &kinds, &mut self.abis).await?;
        summary.events_undecodable += rows.events_undecodable;
        for kind in kinds {
            let batch = rows.batch(kind)?;
            *self.pending_bytes.entry(kind).or_default() += batch.get_array_memory_size() as u64;
            self.pending.entry(kind).or_default().push(batch);
        }
        for f in fetched {
            self.pending_blocks.insert(f.number(), f.number());
        }
        Ok(())
    }

    /// The memory the next commit peaks at: every table's pending rows, and the copies of the
    /// largest one while it is written (tables are written one after another).
    fn commit_weight(&self) -> u64 {
        let all: u64 = self.pending_bytes.values().sum();
        let largest = self.pending_bytes.values().copied().max().unwrap_or(0);
        all + (WRITE_COPIES - 1) * largest
    }

    /// Lands the pending rows, one Delta commit per table: the derived tables first, then
    /// transactions, then blocks (the reverse of [`TableKind`]'s order), so a block row means
    /// its other rows are there. Each append lands only blocks its table does not cover yet:
    /// after a crash between two commits one table may hold some of them, and another writer
    /// may land some meanwhile.
    async fn commit(&mut self, summary: &mut Summary) -> Result<()> {
        if self.pending_blocks.is_empty() {
            return Ok(());
        }
        let adding = std::mem::take(&mut self.pending_blocks);
        let mut pending = std::mem::take(&mut self.pending);
        self.pending_bytes.clear();
        if !self.tables.contains_key(&TableKind::Blocks) {
            // Blocks landed means blocks done, whichever tables they landed in.
            summary.blocks += adding.count();
        }
        for (kind, table) in self.tables.iter_mut().rev() {
            let started = Instant::now();
            let batches = pending.remove(kind).unwrap_or_default();
            let landed = table.append_batches(&batches, &adding, &[]).await?;
            report(self.metrics.as_ref(), table, landed, started);
            match kind {
                TableKind::Blocks => summary.blocks += landed,
                TableKind::Transactions => summary.transactions += landed,
                TableKind::Logs => summary.logs += landed,
                TableKind::TokenTransfers => summary.token_transfers += landed,
                TableKind::DecodedEvents => summary.decoded_events += landed,
                TableKind::DecodedCalls => summary.decoded_calls += landed,
            }
        }
        tracing::debug!(blocks = %adding, "landed");
        Ok(())
    }
}

/// A commit's metrics. The live-file count is skipped if the snapshot cannot list it: metrics
/// never fail a backfill.
fn report(metrics: Option<&LakeMetrics>, table: &LakeTable, rows: u64, started: Instant) {
    if let Some(m) = metrics {
        let name = table.kind().name();
        m.committed(name, rows, started.elapsed());
        if let Ok(files) = table.live_files() {
            m.live_files(name, files.len());
        }
    }
}

/// Blocks `numbers`, in HTTP batches of `batch_blocks`, `parallel_batches` at once; in order.
async fn fetch(
    fetcher: &BlockFetcher,
    cfg: &BackfillConfig,
    numbers: &[u64],
    progress: &Progress,
) -> Result<Vec<FetchedBlock>> {
    let batches: Vec<Vec<FetchedBlock>> = futures::stream::iter(numbers.chunks(cfg.batch_blocks).map(<[u64]>::to_vec))
        .map(|group| async move {
            let fetched = fetcher.fetch(&group).await?;
            let txs: usize = fetched.iter().map(|b| b.block.transactions.len()).sum();
            let seen = progress.txs.fetch_add(txs as u64, Ordering::Relaxed) + txs as u64;
            progress.bar.inc(group.len() as u64);
            progress.bar.set_message(format!("{seen} txs"));
            Ok::<_, crate::Error>(fetched)
        })
        .buffer_unordered(cfg.parallel_batches)
        .try_collect()
        .await?;
    let mut fetched: Vec<FetchedBlock> = batches.into_iter().flatten().collect();
    fetched.sort_by_key(FetchedBlock::number);
    Ok(fetched)
}
