//! `chainx backfill`: blocks `from..=to` into the tables asked for (`blocks`, `transactions`,
//! `decoded_calls`, `logs`, `token_transfers`, `decoded_events`), fetching only what those need.
//!
//! The work is cut into chunks aligned to `chunk_blocks`; each chunk is fetched in HTTP batches
//! of `batch_blocks` blocks (bounded by the client's concurrency and rps limits) and committed
//! as one Delta append per table, `blocks` last: a block row means its other rows are there. What each table already covers is skipped, so a rerun, an
//! overlapping range or a resume after `kill -9` lands every block exactly once. While chunk k
//! is committed, chunk k+1 is being fetched.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chainx_evm::{AbiRegistry, BlockFetcher, FetchedBlock};
use chainx_tables::{BlockRanges, Fetch, Lake, LakeTable, TableKind};
use chainx_telemetry::LakeMetrics;
use futures::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;

use crate::chunk::ChunkRows;
pub use crate::summary::Summary;
use crate::{Error, Result};

/// Where a backfill stops. What may still reorg belongs to the stream, which unwinds it; a block
/// the batch landed is never corrected (its height is covered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finality {
    /// The node's `finalized` block (the default).
    Finalized,
    /// This many blocks below the head, for nodes without the `finalized` tag.
    Confirmations(u64),
    /// The head itself: a chain nothing reorganises (a dev chain), or `--to-head`.
    Head,
}

#[derive(Debug, Clone)]
pub struct BackfillConfig {
    /// First block, inclusive.
    pub from: u64,
    /// Last block, inclusive.
    pub to: u64,
    /// Lake root: a local folder, `hdfs://` or `s3://` URL.
    pub lake: String,
    /// Storage options of the lake's object store (e.g. `aws_endpoint`); see `chainx_tables::Lake`.
    pub lake_options: BTreeMap<String, String>,
    /// Fetch receipts (one more call per block): for the `receipt_*` columns of `transactions`,
    /// and the logs every log-derived table is made of.
    pub receipts: bool,
    /// The tables to land.
    pub tables: Vec<TableKind>,
    /// A folder of `<address>.json` ABIs for `decoded_calls` and `decoded_events`, besides the
    /// built-in signatures and events.
    pub abi_dir: Option<PathBuf>,
    /// Blocks per Delta commit.
    pub chunk_blocks: u64,
    /// Blocks per HTTP request.
    pub batch_blocks: usize,
    /// Batches in flight at once; the RPC client bounds HTTP concurrency on top.
    pub parallel_batches: usize,
    /// Rows landed, commit latency and live files per table, if the job serves metrics.
    pub metrics: Option<LakeMetrics>,
    /// The last block it may land: `to` is capped there.
    pub finality: Finality,
}

impl BackfillConfig {
    /// Whether the run needs receipts: asked for, and some table uses them.
    pub fn fetches_receipts(&self) -> bool {
        self.receipts
            && self
                .tables
                .iter()
                .any(|k| *k == TableKind::Transactions || k.dataset().fetch == Fetch::Receipts)
    }

    /// The tables, checked: known to the backfill, and given what they are made of.
    fn checked_tables(&self) -> Result<Vec<TableKind>> {
        if self.tables.is_empty() {
            return Err(Error::Config("--tables names no table".into()));
        }
        let from_receipts: Vec<&str> = self
            .tables
            .iter()
            .filter(|k| k.dataset().fetch == Fetch::Receipts)
            .map(|k| k.name())
            .collect();
        if !self.receipts && !from_receipts.is_empty() {
            return Err(Error::Config(format!(
                "--no-receipts leaves {} without data (they are made of the receipts' logs); \
                 pass --tables blocks,transactions with --no-receipts",
                from_receipts.join(", ")
            )));
        }
        let mut tables = self.tables.clone();
        tables.sort();
        tables.dedup();
        Ok(tables)
    }

    pub fn new(from: u64, to: u64, lake: impl Into<String>) -> Self {
        BackfillConfig {
            from,
            to,
            lake: lake.into(),
            lake_options: BTreeMap::new(),
            receipts: true,
            tables: TableKind::BACKFILL_DEFAULT.to_vec(),
            abi_dir: None,
            chunk_blocks: 1000,
            batch_blocks: 10,
            parallel_batches: 16,
            metrics: None,
            finality: Finality::Finalized,
        }
    }
}

pub async fn backfill(fetcher: &BlockFetcher, cfg: &BackfillConfig, progress: &ProgressBar) -> Result<Summary> {
    let started = Instant::now();
    if cfg.from > cfg.to {
        return Err(Error::Config(format!(
            "--from {} is after --to {}; both are inclusive",
            cfg.from, cfg.to
        )));
    }
    if cfg.chunk_blocks == 0 || cfg.batch_blocks == 0 || cfg.parallel_batches == 0 {
        return Err(Error::Config(
            "--chunk-blocks, --batch-blocks and --parallel-batches must be at least 1".into(),
        ));
    }
    let kinds = cfg.checked_tables()?;
    if cfg.fetches_receipts() && !fetcher.receipts() {
        return Err(Error::Config(
            "the block fetcher was built without receipts, which the tables asked for need; \
             build it with BlockFetcher::new(client, cfg.fetches_receipts())"
                .into(),
        ));
    }
    let mut abis = AbiRegistry::builtin();
    if let Some(dir) = &cfg.abi_dir {
        abis = abis.with_folder(dir).map_err(|e| Error::Config(e.to_string()))?;
    }
    let lake = Lake::parse(&cfg.lake)?.with_options(cfg.lake_options.clone());
    // Baseline first: the summary counts every request this run makes, the head check included.
    let stats = fetcher.client().stats().clone();
    let (calls0, http0, retries0) = (stats.calls(), stats.http_requests(), stats.retries());
    let head = fetcher.head().await?;
    if cfg.to > head {
        return Err(Error::Config(format!(
            "--to {} is past the chain head {head} of {}; lower --to or wait for the chain",
            cfg.to,
            fetcher.client().endpoint()
        )));
    }
    let (last, why) = last_final(fetcher, cfg.finality, head).await?;
    let capped = (cfg.to > last).then(|| (last, why.clone()));
    if capped.is_some() {
        tracing::info!(to = cfg.to, last, source = %why, "capping the range: later blocks may still reorg");
    }
    let mut tables = BTreeMap::new();
    for kind in &kinds {
        tables.insert(*kind, LakeTable::open_or_create(&lake, *kind).await?);
    }

    let want = if cfg.from <= last {
        BlockRanges::span(cfg.from, cfg.to.min(last))
    } else {
        BlockRanges::new()
    };
    // A block is done when every table asked for covers it.
    let mut landed = want.clone();
    for table in tables.values() {
        landed = landed.intersect(&table.covered()?);
    }
    let todo = want.subtract(&landed);
    let mut summary = Summary {
        from: cfg.from,
        to: cfg.to,
        skipped_blocks: want.count() - todo.count(),
        capped,
        ..Summary::default()
    };
    tracing::info!(
        endpoint = fetcher.client().endpoint(),
        lake = %lake,
        todo = %todo,
        skipped = summary.skipped_blocks,
        "backfill starting"
    );
    progress.set_length(todo.count());
    progress.set_message("0 txs");

    let progress = Progress {
        bar: progress.clone(),
        txs: AtomicU64::new(0),
    };
    // A failed run leaves at most the files of its last, uncommitted chunk: `chainx lake vacuum`
    // removes them once past its retention (they cannot be told from another writer's yet).
    let mut landing = Landing {
        tables,
        abis,
        metrics: cfg.metrics.clone(),
    };
    // Handles of their own for the fetching side, which re-reads coverage before each chunk.
    let mut watched = Vec::new();
    for kind in &kinds {
        watched.push(LakeTable::open_or_create(&lake, *kind).await?);
    }
    run(fetcher, cfg, &todo, &mut watched, &mut landing, &progress, &mut summary).await?;
    summary.conflicts_retried = landing.tables.values().map(LakeTable::conflicts_retried).sum();
    progress.bar.finish_and_clear();
    summary.calls = stats.calls() - calls0;
    summary.http_requests = stats.http_requests() - http0;
    summary.retries = stats.retries() - retries0;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The last block the backfill may land under `finality`, and where that bound comes from.
async fn last_final(fetcher: &BlockFetcher, finality: Finality, head: u64) -> Result<(u64, String)> {
    Ok(match finality {
        Finality::Head => (head, "the head".to_string()),
        Finality::Confirmations(n) => (head.saturating_sub(n), format!("{n} confirmations below head {head}")),
        Finality::Finalized => {
            let block = fetcher.tagged("finalized").await.map_err(|e| {
                Error::Config(format!(
                    "{} reports no finalized block ({e}); pass --confirmations N (e.g. 64) or --to-head",
                    fetcher.client().endpoint()
                ))
            })?;
            (block.number.to(), "the node's finalized block".to_string())
        }
    })
}

async fn run(
    fetcher: &BlockFetcher,
    cfg: &BackfillConfig,
    todo: &BlockRanges,
    watched: &mut [LakeTable],
    landing: &mut Landing,
    progress: &Progress,
    summary: &mut Summary,
) -> Result<()> {
    // Producer and consumer run concurrently in this task: chunk k+1 is fetched while chunk k
    // is encoded and committed. The channel holds one fetched chunk, which bounds memory to
    // about three chunks. A fetch error travels the channel, so the commit before it still
    // lands; a commit error ends `try_join` at once, cancelling the fetch.
    //
    // Another writer may land blocks of the range while this one runs: before each chunk, the
    // tables' coverage is read again, and only what some table still lacks is fetched.
    let (sender, mut receiver) = tokio::sync::mpsc::channel(1);
    let skipped = AtomicU64::new(0);
    let skipped = &skipped;
    let produce = async move {
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
            if missing.is_empty() {
                continue;
            }
            let fetched = fetch_chunk(fetcher, cfg, from, to, &missing, progress).await;
            let failed = fetched.is_err();
            if sender.send(fetched).await.is_err() || failed {
                break;
            }
        }
        Ok::<(), Error>(())
    };
    let consume = async {
        while let Some(chunk) = receiver.recv().await {
            landing.commit_chunk(chunk?, summary).await?;
        }
        Ok::<(), Error>(())
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

/// The tables a run lands, and what it decodes events with.
struct Landing {
    tables: BTreeMap<TableKind, LakeTable>,
    abis: AbiRegistry,
    metrics: Option<LakeMetrics>,
}

impl Landing {
    /// Lands one fetched chunk, one Delta commit per table: the log-derived tables first, then
    /// transactions, then blocks (the reverse of [`TableKind`]'s order).
    async fn commit_chunk(
        &mut self,
        (from, to, fetched): (u64, u64, Vec<FetchedBlock>),
        summary: &mut Summary,
    ) -> Result<()> {
        let kinds: Vec<TableKind> = self.tables.keys().copied().collect();
        let rows = ChunkRows::build(&fetched, &kinds, &mut self.abis).await?;
        // The blocks fetched: the chunk less those other writers had landed before its fetch.
        let mut adding = BlockRanges::new();
        for f in &fetched {
            adding.insert(f.number(), f.number());
        }
        if !self.tables.contains_key(&TableKind::Blocks) {
            // Blocks landed means blocks done, whichever tables they landed in.
            summary.blocks += fetched.len() as u64;
        }
        drop(fetched);
        summary.events_undecodable += rows.events_undecodable;
        for (kind, table) in self.tables.iter_mut().rev() {
            let started = Instant::now();
            // Each append lands only the blocks its table does not cover yet: after a crash
            // between two commits one table may hold part of the chunk, and another writer may
            // land some of it.
            let landed = table.append_blocks(rows.batch(*kind)?, &adding, &[]).await?;
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
        tracing::debug!(from, to, "chunk landed");
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

async fn fetch_chunk(
    fetcher: &BlockFetcher,
    cfg: &BackfillConfig,
    from: u64,
    to: u64,
    numbers: &[u64],
    progress: &Progress,
) -> Result<(u64, u64, Vec<FetchedBlock>)> {
    let batches: Vec<Vec<FetchedBlock>> = futures::stream::iter(numbers.chunks(cfg.batch_blocks).map(<[u64]>::to_vec))
        .map(|group| async move {
            let fetched = fetcher.fetch(&group).await?;
            let txs: usize = fetched.iter().map(|b| b.block.transactions.len()).sum();
            let seen = progress.txs.fetch_add(txs as u64, Ordering::Relaxed) + txs as u64;
            progress.bar.inc(group.len() as u64);
            progress.bar.set_message(format!("{seen} txs"));
            Ok::<_, Error>(fetched)
        })
        .buffer_unordered(cfg.parallel_batches)
        .try_collect()
        .await?;
    let mut fetched: Vec<FetchedBlock> = batches.into_iter().flatten().collect();
    fetched.sort_by_key(FetchedBlock::number);
    Ok((from, to, fetched))
}

/// The bar, plus the transactions seen so far for its message.
struct Progress {
    bar: ProgressBar,
    txs: AtomicU64,
}
