//! The backfill's pipeline, in memory bounded by `max_memory` whatever the range and
//! `chunk_blocks`: the fetching side reads a chunk in slices sized to the blocks' weight (a
//! mainnet block is a megabyte of JSON, a dev chain's a few kilobytes), and the landing side
//! encodes each slice into Arrow and streams it into each table's open Parquet files at once,
//! dropping the parsed replies and the Arrow rows. A table commits when its files reach the
//! target size (`--target-file-mb`), and every table commits when the run ends, so files are
//! of the target size whatever `chunk_blocks` is. Chunk k+1 is fetched while chunk k lands.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use chainx_evm::{AbiRegistry, BlockFetcher, FetchedBlock};
use chainx_tables::arrow::array::RecordBatch;
use chainx_tables::{Appender, BlockRanges, FileLayout, LakeTable, Landed, TableKind};
use chainx_telemetry::LakeMetrics;
use futures::StreamExt;
use indicatif::ProgressBar;

use crate::backfill::BackfillConfig;
use crate::chunk::{is_plain, ChunkRows};
use crate::{Result, Summary};

/// What the process takes besides the rows in flight: code, runtime, HTTP and Delta state, and
/// the allocator's caches of memory freed a moment ago (mimalloc returns it after 10 ms; doing so
/// at once cost 40% of the speed). Measured on mainnet-shaped blocks: 200 to 250 MiB whatever
/// the budget.
pub(crate) const BASELINE: u64 = 256 << 20;

/// Shares of what `max_memory` leaves above [`BASELINE`]: a fetched slice's estimated size
/// (three are alive at once: one filling, one queued, one being encoded, each about twice its
/// estimate while parsed and turned into rows), the requests in flight, and the row groups of the open files (one per
/// table, two at a day's boundary, each held about twice: its pages and their upload).
const SLICE_SHARE: u64 = 16;
const FETCH_SHARE: u64 = 4;

/// A request in flight holds its reply several times over: the body, each result's raw JSON,
/// the parsed blocks and their encoded rows, more of them the more tables there are (set so
/// that runs on mainnet-shaped blocks stay within `max_memory`: three per two tables).
const REQUEST_COPIES: u64 = 3;
const ROW_GROUP_SHARE: u64 = 8;

/// The row groups' size for `tables` open at once under `max_memory`.
pub(crate) fn file_layout(max_memory: u64, tables: usize, target_file_bytes: u64) -> FileLayout {
    let data = max_memory.saturating_sub(BASELINE);
    let per_table = data / ROW_GROUP_SHARE / (2 * tables.max(1) as u64);
    FileLayout {
        target_file_bytes,
        row_group_bytes: per_table.clamp(1 << 20, 128 << 20) as usize,
    }
}

/// The bar, plus the transactions seen so far for its message.
pub(crate) struct Progress {
    pub bar: ProgressBar,
    pub txs: AtomicU64,
}

/// Requests' replies on their way to the lake, and whether they start their chunk.
struct Slice {
    groups: Vec<Encoded>,
    starts_chunk: bool,
}

/// One request's blocks, with the plain tables' rows encoded where they were fetched.
struct Encoded {
    numbers: BlockRanges,
    batches: Vec<(TableKind, RecordBatch)>,
    /// The blocks themselves, kept only for the decoded tables.
    blocks: Vec<FetchedBlock>,
}

impl Encoded {
    fn weight(&self) -> u64 {
        let rows: usize = self.batches.iter().map(|(_, b)| b.get_array_memory_size()).sum();
        rows as u64 + self.blocks.iter().map(FetchedBlock::approx_bytes).sum::<u64>()
    }
}

pub(crate) async fn run(
    fetcher: &BlockFetcher,
    cfg: &BackfillConfig,
    todo: &BlockRanges,
    watched: Vec<LakeTable>,
    landing: &mut Landing,
    progress: &Arc<Progress>,
    summary: &mut Summary,
) -> Result<()> {
    // The fetching side is a task of its own, so its HTTP and JSON work runs on other cores
    // than the landing's encoding. The channel holds one slice. A fetch error travels it, so
    // what was fetched before it still lands; a commit error drops the task's handle, which
    // aborts it.
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Result<Slice>>(1);
    let mut producer = AbortOnDrop(tokio::spawn(produce(
        fetcher.clone(),
        cfg.clone(),
        todo.clone(),
        landing.tables.keys().copied().collect(),
        watched,
        progress.clone(),
        sender,
    )));
    while let Some(slice) = receiver.recv().await {
        let slice = match slice {
            Ok(slice) => slice,
            Err(e) => {
                // What was fetched before the error lands.
                landing.commit_all(summary).await?;
                return Err(e);
            }
        };
        if slice.starts_chunk {
            // Rows go in filtered by coverage: see what other writers landed meanwhile.
            landing.refresh().await?;
        }
        landing.land(slice, summary).await?;
    }
    landing.commit_all(summary).await?;
    let skipped = (&mut producer.0)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    summary.skipped_blocks += skipped;
    Ok(())
}

/// Aborts a task when its handle goes (the landing side failed).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Fetches `todo` chunk by chunk into slices for the landing side; returns the blocks skipped
/// because every table covered them by the time their chunk came. Another writer may land
/// blocks of the range meanwhile: before each chunk the tables' coverage is read again, and
/// only what some table still lacks is fetched.
async fn produce(
    fetcher: BlockFetcher,
    cfg: BackfillConfig,
    todo: BlockRanges,
    tables: Vec<TableKind>,
    mut watched: Vec<LakeTable>,
    progress: Arc<Progress>,
    sender: tokio::sync::mpsc::Sender<Result<Slice>>,
) -> u64 {
    let data = cfg.max_memory.saturating_sub(BASELINE);
    let slice_budget = (data / SLICE_SHARE).max(1);
    let request_tables = (tables.len() as u64).div_ceil(2);
    let mut skipped = 0;
    // Unknown until a request has been weighed: a block may be a megabyte.
    let mut per_block: Option<u64> = None;
    for (from, to) in todo.chunks(cfg.chunk_blocks) {
        let missing = match still_missing(&mut watched, from, to).await {
            Ok(missing) => missing,
            Err(e) => {
                let _ = sender.send(Err(e)).await;
                break;
            }
        };
        let late = (to - from + 1) - missing.len() as u64;
        skipped += late;
        progress.bar.inc(late);
        let mut groups: Vec<Vec<u64>> = missing.chunks(cfg.batch_blocks).map(<[u64]>::to_vec).collect();
        let mut slice = Slice {
            groups: Vec::new(),
            starts_chunk: true,
        };
        let mut weight = 0;
        // Requests stay in flight while the slice fills and while it is sent: as many as the
        // fetch share of the budget holds.
        while !groups.is_empty() {
            let in_flight = match per_block {
                None => 1,
                Some(b) => ((data / FETCH_SHARE)
                    / (REQUEST_COPIES * b * request_tables * cfg.batch_blocks as u64).max(1))
                .clamp(1, cfg.parallel_batches as u64) as usize,
            };
            // The first request of a run goes alone, to be weighed; then the rest of the chunk.
            let take = if per_block.is_none() { 1 } else { groups.len() };
            let wave: Vec<Vec<u64>> = groups.drain(..take).collect();
            let mut replies = futures::stream::iter(wave)
                .map(|group| fetch(&fetcher, &tables, group, &progress))
                .buffered(in_flight);
            while let Some(reply) = replies.next().await {
                let (encoded, fetched_bytes) = match reply {
                    Ok(reply) => reply,
                    Err(e) => {
                        // What was fetched before the error lands.
                        if !slice.groups.is_empty() {
                            let _ = sender.send(Ok(slice)).await;
                        }
                        let _ = sender.send(Err(e)).await;
                        return skipped;
                    }
                };
                per_block = Some((fetched_bytes / encoded.numbers.count().max(1)).max(1));
                weight += encoded.weight();
                slice.groups.push(encoded);
                if weight >= slice_budget {
                    let full = std::mem::replace(
                        &mut slice,
                        Slice {
                            groups: Vec::new(),
                            starts_chunk: false,
                        },
                    );
                    weight = 0;
                    if sender.send(Ok(full)).await.is_err() {
                        return skipped;
                    }
                }
            }
        }
        if !slice.groups.is_empty() && sender.send(Ok(slice)).await.is_err() {
            return skipped;
        }
    }
    skipped
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

/// The tables a run lands, what it decodes with, and the files each is streaming into.
pub(crate) struct Landing {
    pub tables: BTreeMap<TableKind, LakeTable>,
    pub abis: AbiRegistry,
    pub metrics: Option<LakeMetrics>,
    open: BTreeMap<TableKind, Appender>,
    /// Per table, the committed files' bytes over the writer's estimate of them, from the last
    /// commit: the writer weighs pages before compression, so a commit at its estimate of the
    /// target would make files a fraction of it.
    written_per_estimated: BTreeMap<TableKind, f64>,
    /// Every table commits at least this often, bounding what a kill loses.
    commit_interval: std::time::Duration,
    last_commit: Instant,
}

impl Landing {
    pub(crate) fn new(
        tables: BTreeMap<TableKind, LakeTable>,
        abis: AbiRegistry,
        metrics: Option<LakeMetrics>,
        commit_interval: std::time::Duration,
    ) -> Self {
        Landing {
            tables,
            abis,
            metrics,
            open: BTreeMap::new(),
            written_per_estimated: BTreeMap::new(),
            commit_interval,
            last_commit: Instant::now(),
        }
    }

    async fn refresh(&mut self) -> Result<()> {
        for table in self.tables.values_mut() {
            table.refresh().await?;
        }
        Ok(())
    }

    /// Streams a slice's rows into each table's files (encoding the decoded tables' here,
    /// where the ABIs are); commits the tables whose files reached the target size, or every
    /// table once the commit interval has passed.
    async fn land(&mut self, slice: Slice, summary: &mut Summary) -> Result<()> {
        let decoded: Vec<TableKind> = self.tables.keys().copied().filter(|k| !is_plain(*k)).collect();
        for group in slice.groups {
            let mut batches = group.batches;
            if !decoded.is_empty() {
                let rows = ChunkRows::decoded(&group.blocks, &decoded, &mut self.abis).await?;
                summary.events_undecodable += rows.events_undecodable;
                for kind in &decoded {
                    batches.push((*kind, rows.batch(*kind)?));
                }
            }
            drop(group.blocks);
            for (kind, batch) in batches {
                let Some(table) = self.tables.get(&kind) else {
                    continue;
                };
                let appender = match self.open.get_mut(&kind) {
                    Some(a) => a,
                    None => self.open.entry(kind).or_insert(table.appender()?),
                };
                table.stream_into(appender, &batch, &group.numbers).await?;
            }
        }
        let full: Vec<TableKind> = self
            .open
            .iter()
            .filter(|(kind, a)| {
                let ratio = self.written_per_estimated.get(*kind).copied().unwrap_or(1.0);
                a.buffered_bytes() as f64 * ratio >= self.tables[*kind].layout().target_file_bytes as f64
            })
            .map(|(kind, _)| *kind)
            .collect();
        if self.last_commit.elapsed() >= self.commit_interval {
            return self.commit_all(summary).await;
        }
        for kind in full {
            self.commit(kind, summary).await?;
        }
        Ok(())
    }

    /// Commits what `kind`'s files hold. Each table commits on its own: its coverage says
    /// which blocks it holds, whatever the other tables hold.
    async fn commit(&mut self, kind: TableKind, summary: &mut Summary) -> Result<()> {
        let (Some(appender), Some(table)) = (self.open.remove(&kind), self.tables.get_mut(&kind)) else {
            return Ok(());
        };
        if appender.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let estimated = appender.buffered_bytes();
        let landed = table.commit_appender(appender).await?;
        if estimated > 0 && landed.bytes > 0 {
            self.written_per_estimated
                .insert(kind, landed.bytes as f64 / estimated as f64);
        }
        report(self.metrics.as_ref(), table, landed.rows, started);
        count(summary, kind, landed, self.tables.keys().next() == Some(&kind));
        Ok(())
    }

    /// Commits every table: the derived ones first, then transactions, then blocks (the
    /// reverse of [`TableKind`]'s order), so that when a run ends a block row means its other
    /// rows are there.
    async fn commit_all(&mut self, summary: &mut Summary) -> Result<()> {
        let kinds: Vec<TableKind> = self.tables.keys().rev().copied().collect();
        for kind in kinds {
            self.commit(kind, summary).await?;
        }
        self.last_commit = Instant::now();
        Ok(())
    }
}

/// Adds a commit to the summary; blocks count once, from the run's first table.
fn count(summary: &mut Summary, kind: TableKind, landed: Landed, first_table: bool) {
    if first_table {
        summary.blocks += landed.blocks;
    }
    match kind {
        TableKind::Blocks => {}
        TableKind::Transactions => summary.transactions += landed.rows,
        TableKind::Logs => summary.logs += landed.rows,
        TableKind::TokenTransfers => summary.token_transfers += landed.rows,
        TableKind::DecodedEvents => summary.decoded_events += landed.rows,
        TableKind::DecodedCalls => summary.decoded_calls += landed.rows,
        TableKind::Traces => summary.traces += landed.rows,
        TableKind::Contracts => summary.contracts += landed.rows,
        TableKind::Tokens => summary.tokens += landed.rows,
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

/// Blocks `group`, in one HTTP request, with the rows of the plain tables among `tables`
/// encoded on the blocking pool (in parallel with other requests' and with the landing); and
/// the fetched blocks' weight.
async fn fetch(
    fetcher: &BlockFetcher,
    tables: &[TableKind],
    group: Vec<u64>,
    progress: &Progress,
) -> Result<(Encoded, u64)> {
    let mut fetched = fetcher.fetch(&group).await?;
    fetched.sort_by_key(FetchedBlock::number);
    let txs: usize = fetched.iter().map(|b| b.block.transactions.len()).sum();
    let seen = progress.txs.fetch_add(txs as u64, Ordering::Relaxed) + txs as u64;
    progress.bar.inc(group.len() as u64);
    progress.bar.set_message(format!("{seen} txs"));
    let bytes = fetched.iter().map(FetchedBlock::approx_bytes).sum();
    let tables = tables.to_vec();
    let encoded = tokio::task::spawn_blocking(move || {
        let plain: Vec<TableKind> = tables.iter().copied().filter(|k| is_plain(*k)).collect();
        let rows = ChunkRows::plain(&mut fetched, &plain)?;
        let mut batches = Vec::new();
        for kind in plain {
            batches.push((kind, rows.batch(kind)?));
        }
        let mut numbers = BlockRanges::new();
        for f in &fetched {
            numbers.insert(f.number(), f.number());
        }
        let keep = tables.iter().any(|k| !is_plain(*k));
        Ok::<_, crate::Error>(Encoded {
            numbers,
            batches,
            blocks: if keep { fetched } else { Vec::new() },
        })
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))?;
    Ok((encoded, bytes))
}
