//! One Delta table of the lake, with exactly-once appends.
//!
//! Each append is one Delta commit holding the data files *and* a metadata action that records
//! the block ranges the table now covers ([`COVERAGE_KEY`]). The commit is atomic, so after a
//! crash at any moment the table's coverage is exactly the blocks whose rows are visible, and a
//! writer that resumes fetches only the rest. A block range with no rows (blocks without
//! transactions) is covered all the same. Any number of writers may append at once: see
//! [`crate::commit`] for how they agree.
//!
//! Files written by a writer that died before its commit are not part of the table, but a plain
//! Hive reader would see them until `chainx lake vacuum` removes them ([`crate::vacuum`]). Nothing
//! deletes them at start-up: another writer's files look the same until it commits.

use std::collections::{HashMap, HashSet};

use deltalake::arrow::array::{AsArray, BooleanArray, RecordBatch};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::datatypes::Int64Type;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{Action, StructType};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::table::state::DeltaTableState;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};

use crate::append::FileLayout;
use deltalake::{DeltaTable, DeltaTableBuilder, Path};
use url::Url;

use crate::commit::{Outcome, Plan};
use crate::datasets::{TableKind, PARTITION_COLUMN};
use crate::error::{Error, Result};
use crate::ranges::BlockRanges;
use crate::store::Lake;

/// Table property listing the block ranges the table covers, e.g. `0-999,2000-2999`.
pub const COVERAGE_KEY: &str = "chainx.coveredBlocks";

/// The table property holding the chain id (`eth_chainId`, decimal) of the node whose blocks
/// the table holds, set when the table is created: one wrong RPC URL would otherwise mix two
/// chains in one lake, and coverage by block number would make the mix permanent.
pub const CHAIN_ID_KEY: &str = "chainx.chainId";

#[derive(Debug)]
pub struct LakeTable {
    kind: TableKind,
    table: DeltaTable,
    /// Commits this handle retried after another writer committed first.
    pub(crate) conflicts_retried: u64,
    layout: FileLayout,
    /// The version this handle last read from the log afresh (see [`LakeTable::consolidate`]).
    loaded_version: u64,
}

/// Versions after which a handle reads its snapshot afresh: the table's checkpoint interval.
const CONSOLIDATE_EVERY: u64 = 50;

/// Commits version 0 of a new table at `url`, or fails if any writer has. delta-rs would
/// otherwise resolve a lost race for version 0 by committing the create again at the next free
/// version, and that commit's metadata would reset the coverage of everything before it.
pub(crate) async fn create_table(
    url: &Url,
    options: HashMap<String, String>,
    kind: TableKind,
    chain_id: Option<u64>,
) -> Result<DeltaTable> {
    let schema: StructType = kind.schema().as_ref().try_into_kernel().map_err(|e| Error::Table {
        table: kind.name().to_string(),
        reason: format!("schema conversion: {e}"),
    })?;
    deltalake::operations::create::CreateBuilder::new()
        .with_location(url.as_str())
        .with_storage_options(options)
        .with_table_name(kind.name())
        .with_columns(schema.fields().cloned())
        .with_partition_columns([PARTITION_COLUMN])
        .with_configuration_property(deltalake::TableProperty::CheckpointInterval, Some("50"))
        .with_configuration_property(
            deltalake::TableProperty::DataSkippingStatsColumns,
            Some(kind.stats_columns()),
        )
        // Not a Delta property: without this, delta-rs refuses any key it does not know.
        .with_raise_if_key_not_exists(false)
        .with_configuration(chain_id.map(|id| (CHAIN_ID_KEY, Some(id.to_string()))))
        .with_commit_properties(CommitProperties::default().with_max_retries(0))
        .await
        .map_err(|source| Error::Delta {
            table: kind.name().to_string(),
            source,
        })
}

impl LakeTable {
    /// Opens `<lake>/<table>/`, creating the Delta table (partitioned by `block_date`) if the
    /// folder holds none.
    pub async fn open_or_create(lake: &Lake, kind: TableKind) -> Result<Self> {
        Self::load(lake, kind, true).await?.ok_or_else(|| Error::Table {
            table: kind.name().to_string(),
            reason: "was not created".to_string(),
        })
    }

    /// Opens an existing table; an error says so if there is none.
    pub async fn open(lake: &Lake, kind: TableKind) -> Result<Self> {
        Self::open_if_exists(lake, kind).await?.ok_or_else(|| Error::Table {
            table: kind.name().to_string(),
            reason: format!(
                "no Delta table at {lake}{}/; run `chainx backfill` or `chainx sink` first",
                kind.name()
            ),
        })
    }

    /// Opens the table if the lake has it.
    pub async fn open_if_exists(lake: &Lake, kind: TableKind) -> Result<Option<Self>> {
        Self::load(lake, kind, false).await
    }

    async fn load(lake: &Lake, kind: TableKind, create: bool) -> Result<Option<Self>> {
        let url = lake
            .url()
            .join(&format!("{}/", kind.name()))
            .map_err(|e| Error::BadLocation {
                location: lake.to_string(),
                reason: e.to_string(),
            })?;
        if create && url.scheme() == "file" {
            if let Ok(path) = url.to_file_path() {
                std::fs::create_dir_all(&path).map_err(|e| Error::BadLocation {
                    location: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
        }
        let delta = |source| Error::Delta {
            table: kind.name().to_string(),
            source,
        };
        let options: HashMap<String, String> = lake.options().clone().into_iter().collect();
        let mut table = DeltaTableBuilder::from_url(url.clone())
            .map_err(delta)?
            .with_storage_options(options.clone())
            .build()
            .map_err(delta)?;
        // Ask first: loading a missing table makes the Delta kernel log an error of its own.
        let exists = table.verify_deltatable_existence().await.map_err(delta)?;
        if exists {
            table.load().await.map_err(delta)?;
        } else if !create {
            return Ok(None);
        } else {
            let created = create_table(&url, options, kind, lake.chain_id()).await;
            match created {
                Ok(new) => {
                    table = new;
                    tracing::info!(table = kind.name(), location = %url, "created Delta table");
                }
                // Another writer created it between the check and the create (version 0 is
                // put-if-absent too): open theirs; its schema is checked below like any other.
                Err(e) if table.verify_deltatable_existence().await.unwrap_or(false) => {
                    tracing::debug!(table = kind.name(), "another writer created the table first: {e}");
                    table.load().await.map_err(delta)?;
                }
                Err(e) => return Err(e),
            }
        }
        if exists && create {
            table = crate::migrate::add_missing_columns(table, kind).await?;
        }
        let loaded_version = table.version().unwrap_or(0);
        let this = LakeTable {
            kind,
            table,
            conflicts_retried: 0,
            layout: FileLayout::default(),
            loaded_version,
        };
        this.check_schema()?;
        this.check_chain(lake)?;
        Ok(Some(this))
    }

    /// How the files this handle writes are laid out.
    pub fn layout(&self) -> FileLayout {
        self.layout
    }

    pub fn set_layout(&mut self, layout: FileLayout) {
        self.layout = layout;
    }

    /// The chain id the table was created for; `None` for a table from before chainx recorded it.
    pub fn chain_id(&self) -> Result<Option<u64>> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta_error(e))?;
        match snapshot.metadata().configuration().get(CHAIN_ID_KEY) {
            None => Ok(None),
            Some(text) => text.parse().map(Some).map_err(|_| Error::Table {
                table: self.kind.name().to_string(),
                reason: format!("table property {CHAIN_ID_KEY} is corrupt: it was `{text}`"),
            }),
        }
    }

    /// Refuses a table of another chain than the lake's writer serves.
    fn check_chain(&self, lake: &Lake) -> Result<()> {
        if let (Some(want), Some(recorded)) = (lake.chain_id(), self.chain_id()?) {
            if want != recorded {
                return Err(Error::Table {
                    table: self.kind.name().to_string(),
                    reason: format!(
                        "holds chain {recorded} (table property {CHAIN_ID_KEY}), not chain {want}: \
                         point --rpc-url (or --chain) at chain {recorded}, or --lake at another lake"
                    ),
                });
            }
        }
        Ok(())
    }

    pub fn kind(&self) -> TableKind {
        self.kind
    }

    pub fn delta(&self) -> &DeltaTable {
        &self.table
    }

    pub fn version(&self) -> Option<u64> {
        self.table.version()
    }

    /// The block ranges whose rows have landed.
    pub fn covered(&self) -> Result<BlockRanges> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta_err(e))?;
        match snapshot.metadata().configuration().get(COVERAGE_KEY) {
            None => Ok(BlockRanges::new()),
            Some(text) => text.parse().map_err(|reason| Error::Table {
                table: self.kind.name().to_string(),
                reason: format!("table property {COVERAGE_KEY} is corrupt ({reason}); it was `{text}`"),
            }),
        }
    }

    /// Appends the rows of blocks `from..=to` the table does not cover yet, in one atomic
    /// commit; returns the rows appended.
    pub async fn append(&mut self, batch: RecordBatch, from: u64, to: u64) -> Result<u64> {
        self.append_blocks(batch, &BlockRanges::span(from, to), &[]).await
    }

    /// Appends the rows of the blocks in `adding` and, in the same atomic commit, records
    /// `offsets`: (application id, version) pairs, Delta `txn` actions. The stream sink stores
    /// there the Kafka offset each topic-partition resumes from, so a commit and the offsets it
    /// accounts for land together or not at all.
    ///
    /// Blocks the table covers already, or that another writer lands while this one writes, are
    /// left out, so no row ever lands twice. With `adding` empty (`decoded_calls`, which keeps
    /// no coverage) the whole batch lands. Returns the rows appended.
    pub async fn append_blocks(
        &mut self,
        batch: RecordBatch,
        adding: &BlockRanges,
        offsets: &[(String, i64)],
    ) -> Result<u64> {
        self.append_batches(std::slice::from_ref(&batch), adding, offsets).await
    }

    /// [`LakeTable::append_blocks`] of rows given as several batches (a backfill's slices,
    /// encoded as they were fetched), written to the same files without being concatenated.
    pub async fn append_batches(
        &mut self,
        batches: &[RecordBatch],
        adding: &BlockRanges,
        offsets: &[(String, i64)],
    ) -> Result<u64> {
        loop {
            let Some((plan, rows)) = self.plan_append(batches, adding).await? else {
                return Ok(0);
            };
            let operation = DeltaOperation::Write {
                mode: SaveMode::Append,
                partition_by: Some(vec![PARTITION_COLUMN.to_string()]),
                predicate: None,
            };
            let info = ("chainx.blocks", plan.adds.to_string());
            match self.commit_plan(&plan, offsets, operation, info).await? {
                Outcome::Committed(version) => {
                    tracing::debug!(table = self.kind.name(), blocks = %plan.adds, version, "committed");
                    return Ok(rows);
                }
                Outcome::Stale => {
                    tracing::debug!(table = self.kind.name(), blocks = %plan.adds, "another writer landed some of these blocks first; planning again");
                }
            }
        }
    }

    /// Writes the files of the rows of `adding`'s blocks not covered yet; the plan and its row
    /// count, or `None` if every block is covered already.
    pub(crate) async fn plan_append(
        &self,
        batches: &[RecordBatch],
        adding: &BlockRanges,
    ) -> Result<Option<(Plan, u64)>> {
        let missing = adding.subtract(&self.covered()?);
        if !adding.is_empty() && missing.is_empty() {
            return Ok(None);
        }
        let mut count = 0;
        let mut writer: Option<RecordBatchWriter> = None;
        for batch in batches {
            let rows = if missing == *adding {
                batch.clone()
            } else {
                self.rows_of_blocks(batch, &missing)?
            };
            if rows.num_rows() == 0 {
                continue;
            }
            count += rows.num_rows() as u64;
            let w = match &mut writer {
                Some(w) => w,
                None => writer.insert(self.file_writer()?),
            };
            w.write(rows).await.map_err(|e| self.delta_err(e))?;
        }
        let mut plan = Plan {
            adds: missing,
            ..Plan::default()
        };
        if let Some(mut w) = writer {
            let adds = w.flush().await.map_err(|e| self.delta_err(e))?;
            plan.actions.extend(adds.into_iter().map(Action::Add));
        }
        Ok(Some((plan, count)))
    }

    /// The rows of `batch` whose block is in `blocks`.
    pub(crate) fn rows_of_blocks(&self, batch: &RecordBatch, blocks: &BlockRanges) -> Result<RecordBatch> {
        let column = self.kind.block_number_column();
        let numbers = batch
            .column_by_name(column)
            .ok_or_else(|| self.table_error(format!("rows lack {column}")))?
            .as_primitive::<Int64Type>();
        let keep: BooleanArray = numbers
            .iter()
            .map(|n| {
                Some(
                    n.and_then(|n| u64::try_from(n).ok())
                        .is_some_and(|n| blocks.contains(n)),
                )
            })
            .collect();
        Ok(filter_record_batch(batch, &keep)?)
    }

    /// Commits this handle retried because another writer committed first.
    pub fn conflicts_retried(&self) -> u64 {
        self.conflicts_retried
    }

    /// The version last recorded for `app_id` by [`LakeTable::append_blocks`], if any.
    pub async fn app_version(&self, app_id: &str) -> Result<Option<i64>> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta_err(e))?;
        snapshot
            .transaction_version(self.table.log_store().as_ref(), app_id)
            .await
            .map_err(|e| self.delta_err(e))
    }

    /// Re-reads the table's latest version (another writer may have committed).
    pub async fn refresh(&mut self) -> Result<()> {
        self.table.update_state().await.map_err(|e| self.delta_err(e))?;
        self.consolidate().await
    }

    /// Reads the snapshot afresh from the latest checkpoint once it has been brought forward
    /// [`CONSOLIDATE_EVERY`] versions. delta-rs keeps each version it applies as record batches
    /// of its own, and every later commit walks them all: a sink's commit took 5 ms at the
    /// first version and 100 ms at the 300th (testkit's sink_throughput, 3M transactions).
    pub(crate) async fn consolidate(&mut self) -> Result<()> {
        let version = self.table.version().unwrap_or(0);
        if version.saturating_sub(self.loaded_version) < CONSOLIDATE_EVERY {
            return Ok(());
        }
        let mut fresh = DeltaTable::new(self.table.log_store());
        fresh.load().await.map_err(|e| self.delta_err(e))?;
        self.loaded_version = fresh.version().unwrap_or(version);
        self.table = fresh;
        Ok(())
    }

    /// Paths (relative to the table root) of the Parquet files the current version reads.
    pub fn live_files(&self) -> Result<Vec<Path>> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta_err(e))?;
        let mut files: Vec<Path> = snapshot.log_data().iter().map(|f| f.object_store_path()).collect();
        // Partition order (block_date=...), so readers list the earliest blocks first.
        files.sort();
        Ok(files)
    }

    /// The live files' paths, as their `Remove` actions name them.
    pub(crate) fn live_paths(&self) -> Result<HashSet<String>> {
        Ok(self.live_files()?.into_iter().map(|p| p.to_string()).collect())
    }

    /// A table with other columns than this chainx writes would mix schemas.
    fn check_schema(&self) -> Result<()> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta_err(e))?;
        let have: Vec<String> = snapshot.schema().fields().map(|f| f.name().to_string()).collect();
        crate::migrate::check_columns(self.kind, &have)
    }

    pub(crate) fn delta_error(&self, source: deltalake::DeltaTableError) -> Error {
        self.delta_err(source)
    }

    pub(crate) fn set_state(&mut self, state: DeltaTableState) {
        self.table.state = Some(state);
    }

    pub(crate) fn table_error(&self, reason: String) -> Error {
        Error::Table {
            table: self.kind.name().to_string(),
            reason,
        }
    }

    fn delta_err(&self, source: deltalake::DeltaTableError) -> Error {
        Error::Delta {
            table: self.kind.name().to_string(),
            source,
        }
    }
}
