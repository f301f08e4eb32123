//! `chainx backfill`: blocks `from..=to` into the tables asked for (`blocks`, `transactions`,
//! `decoded_calls`, `logs`, `token_transfers`, `decoded_events`), fetching only what those need.
//!
//! The work is cut into chunks aligned to `chunk_blocks`; before each chunk the tables'
//! coverage is read again, and only blocks some table lacks are fetched, in HTTP batches of
//! `batch_blocks` blocks (bounded by the client's concurrency and rps limits). Rows stream into
//! each table's files as they are fetched; a table commits when its files reach
//! `target_file_bytes`, every table at least every `commit_interval`, and when the run ends
//! (`blocks` last) ([`crate::pipeline`]). What each
//! table already covers is skipped, so a rerun, an overlapping range or a resume after
//! `kill -9` lands every block exactly once.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use chainx_evm::{AbiRegistry, BlockFetcher, EtherscanAbis};
use chainx_tables::{BlockRanges, Fetch, Lake, LakeTable, TableKind};
use chainx_telemetry::LakeMetrics;
use indicatif::ProgressBar;

use crate::pipeline::{self, Landing, Progress};
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

/// Where ABIs come from besides the built-in ones and the folder; its `Debug` hides the key.
#[derive(Clone)]
pub struct EtherscanSource {
    /// e.g. `https://api.etherscan.io/api`
    pub url: String,
    pub key: Option<String>,
    /// Answers are cached here across runs (shared with the decoder's).
    pub cache_dir: PathBuf,
}

impl std::fmt::Debug for EtherscanSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtherscanSource")
            .field("url", &chainx_evm::redact_url(&self.url))
            .field("key", &self.key.as_ref().map(|_| "***"))
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
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
    /// An Etherscan-compatible endpoint for the ABIs of the other contracts, as the stream's
    /// decoder asks it (so both paths decode alike).
    pub etherscan: Option<EtherscanSource>,
    /// Blocks between two reads of the tables' coverage (what other writers landed meanwhile
    /// is not fetched again).
    pub chunk_blocks: u64,
    /// The memory the run may use, in bytes, whatever the range and `chunk_blocks`: the fetched
    /// slices and the open files' row groups are sized from it.
    pub max_memory: u64,
    /// A table's files are closed, and the table commits, once they hold this much Parquet.
    pub target_file_bytes: u64,
    /// Every table commits at least this often, whatever its files hold: what a kill loses.
    pub commit_interval: std::time::Duration,
    /// Blocks per HTTP request.
    pub batch_blocks: usize,
    /// Batches in flight at once; the RPC client bounds HTTP concurrency on top.
    pub parallel_batches: usize,
    /// Rows landed, commit latency and live files per table, if the job serves metrics.
    pub metrics: Option<LakeMetrics>,
    /// The last block it may land: `to` is capped there.
    pub finality: Finality,
    /// The chain the node must serve (`--chain`), checked against its `eth_chainId`.
    pub chain_id: Option<u64>,
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

    /// Whether the run reads the receipts' logs: some table is made of them.
    pub fn fetches_logs(&self) -> bool {
        self.fetches_receipts() && self.tables.iter().any(|k| k.dataset().fetch == Fetch::Receipts)
    }

    /// Whether the run fetches each block's traces: some table is made of them.
    pub fn fetches_traces(&self) -> bool {
        self.tables
            .iter()
            .any(|k| matches!(k.dataset().fetch, Fetch::Traces | Fetch::Tokens))
    }

    /// Whether the run reads the tokens the traces created: the `tokens` table is asked for.
    pub fn fetches_tokens(&self) -> bool {
        self.tables.iter().any(|k| k.dataset().fetch == Fetch::Tokens)
    }

    /// Whether every table is made of traces, so the blocks are fetched as headers only (the
    /// block's hash, timestamp and transaction hashes, not its transactions).
    pub fn fetches_headers_only(&self) -> bool {
        !self.tables.is_empty()
            && self
                .tables
                .iter()
                .all(|k| matches!(k.dataset().fetch, Fetch::Traces | Fetch::Tokens))
    }

    /// The fetcher this run needs: with receipts if a table uses them, with their logs only if
    /// a table is made of them (a mainnet block's logs are most of its receipts' JSON), with
    /// traces if a table is made of them, and headers instead of full blocks if only those are.
    pub fn block_fetcher(&self, client: Arc<chainx_evm::RpcClient>) -> BlockFetcher {
        let mut fetcher = BlockFetcher::new(client, self.fetches_receipts());
        if !self.fetches_logs() {
            fetcher = fetcher.without_logs();
        }
        if self.fetches_tokens() {
            fetcher = fetcher.with_tokens();
        }
        if self.fetches_headers_only() {
            fetcher.headers_only()
        } else if self.fetches_traces() {
            fetcher.with_traces()
        } else {
            fetcher
        }
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
            etherscan: None,
            chunk_blocks: 1000,
            max_memory: 512 << 20,
            target_file_bytes: 128 << 20,
            commit_interval: std::time::Duration::from_secs(300),
            batch_blocks: 10,
            parallel_batches: 16,
            metrics: None,
            finality: Finality::Finalized,
            chain_id: None,
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
    if (cfg.fetches_receipts() && !fetcher.receipts())
        || (cfg.fetches_logs() && !fetcher.logs())
        || (cfg.fetches_traces() && !fetcher.traces())
        || (cfg.fetches_tokens() && !fetcher.tokens())
        || (fetcher.fetches_headers_only() && !cfg.fetches_headers_only())
    {
        return Err(Error::Config(
            "the block fetcher was built without the receipts, logs, traces, tokens or full blocks the \
             tables asked for need; build it with BackfillConfig::block_fetcher(client)"
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
    let chain_id = fetcher.chain_id_of(cfg.chain_id).await?;
    let lake = lake.with_chain_id(chain_id);
    if let Some(e) = &cfg.etherscan {
        let source = EtherscanAbis::new(&e.url, e.key.clone(), &e.cache_dir)
            .and_then(|s| s.for_chain(chain_id))
            .map_err(|e| Error::Config(e.to_string()))?;
        abis = abis.with_etherscan(source);
    }
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
    let layout = pipeline::file_layout(cfg.max_memory, kinds.len(), cfg.target_file_bytes);
    let mut tables = BTreeMap::new();
    for kind in &kinds {
        let mut table = LakeTable::open_or_create(&lake, *kind).await?;
        table.set_layout(layout);
        tables.insert(*kind, table);
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
    let kept_before = chainx_tables::out_of_range_values();
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

    let progress = Arc::new(Progress {
        bar: progress.clone(),
        txs: AtomicU64::new(0),
    });
    if cfg.max_memory < pipeline::BASELINE + (128 << 20) {
        return Err(Error::Config(format!(
            "--max-memory {} MiB is below what the process itself takes (about {} MiB) plus room \
             for rows; give at least {} MiB",
            cfg.max_memory >> 20,
            pipeline::BASELINE >> 20,
            (pipeline::BASELINE >> 20) + 128
        )));
    }
    // A failed run leaves at most the files it had not committed yet: `chainx lake vacuum`
    // removes them once past its retention (they cannot be told from another writer's yet).
    let mut landing = Landing::new(tables, abis, cfg.metrics.clone(), cfg.commit_interval);
    // Handles of their own for the fetching side, which re-reads coverage before each chunk.
    let mut watched = Vec::new();
    for kind in &kinds {
        watched.push(LakeTable::open_or_create(&lake, *kind).await?);
    }
    pipeline::run(fetcher, cfg, &todo, watched, &mut landing, &progress, &mut summary).await?;
    summary.conflicts_retried = landing.tables.values().map(LakeTable::conflicts_retried).sum();
    progress.bar.finish_and_clear();
    summary.calls = stats.calls() - calls0;
    summary.http_requests = stats.http_requests() - http0;
    summary.retries = stats.retries() - retries0;
    summary.elapsed = started.elapsed();
    summary.kept_in_extra = chainx_tables::out_of_range_values() - kept_before;
    summary.peak_memory = chainx_telemetry::ProcessMetrics::peak_rss_bytes();
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
