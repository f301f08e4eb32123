//! One Delta table of the lake, with exactly-once appends.
//!
//! Each append is one Delta commit holding the data files *and* a metadata action that records
//! the block ranges the table now covers ([`COVERAGE_KEY`]). The commit is atomic, so after a
//! crash at any moment the table's coverage is exactly the blocks whose rows are visible, and a
//! writer that resumes fetches only the rest. A block range with no rows (blocks without
//! transactions) is covered all the same.
//!
//! Files written by a writer that died before its commit are not part of the table, but a plain
//! Hive reader would see them; [`LakeTable::remove_orphans`] deletes them. It assumes one writer
//! per table at a time, which `chainx backfill` is.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, MetadataExt, StructType};
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableBuilder, ObjectStore, Path};
use futures::TryStreamExt;
use serde_json::json;

use crate::error::{Error, Result};
use crate::ranges::BlockRanges;
use crate::schema::{TableKind, PARTITION_COLUMN};
use crate::store::Lake;

/// Table property listing the block ranges the table covers, e.g. `0-999,2000-2999`.
pub const COVERAGE_KEY: &str = "chainx.coveredBlocks";

#[derive(Debug)]
pub struct LakeTable {
    kind: TableKind,
    table: DeltaTable,
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
            let schema: StructType = kind.schema().as_ref().try_into_kernel().map_err(|e| Error::Table {
                table: kind.name().to_string(),
                reason: format!("schema conversion: {e}"),
            })?;
            table = deltalake::operations::create::CreateBuilder::new()
                .with_location(url.as_str())
                .with_storage_options(options)
                .with_table_name(kind.name())
                .with_columns(schema.fields().cloned())
                .with_partition_columns([PARTITION_COLUMN])
                .with_configuration_property(deltalake::TableProperty::CheckpointInterval, Some("50"))
                .await
                .map_err(delta)?;
            tracing::info!(table = kind.name(), location = %url, "created Delta table");
        }
        let this = LakeTable { kind, table };
        this.check_schema()?;
        Ok(Some(this))
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

    /// Appends the rows of blocks `from..=to` in one atomic commit. Refuses blocks the table
    /// already covers, so no row ever lands twice.
    pub async fn append(&mut self, batch: RecordBatch, from: u64, to: u64) -> Result<()> {
        self.append_blocks(batch, &BlockRanges::span(from, to), &[]).await
    }

    /// Appends the rows of the blocks in `adding` and, in the same atomic commit, records
    /// `offsets`: (application id, version) pairs, Delta `txn` actions. The stream sink stores
    /// there the Kafka offset each topic-partition resumes from, so a commit and the offsets it
    /// accounts for land together or not at all.
    pub async fn append_blocks(
        &mut self,
        batch: RecordBatch,
        adding: &BlockRanges,
        offsets: &[(String, i64)],
    ) -> Result<()> {
        let covered = self.covered()?;
        let overlap = covered.intersect(adding);
        if !overlap.is_empty() {
            return Err(Error::Table {
                table: self.kind.name().to_string(),
                reason: format!("blocks {overlap} have already landed; refusing to append them again"),
            });
        }
        let mut actions = Vec::new();
        if batch.num_rows() > 0 {
            let mut writer = RecordBatchWriter::for_table(&self.table).map_err(|e| self.delta_err(e))?;
            writer.write(batch).await.map_err(|e| self.delta_err(e))?;
            actions.extend(
                writer
                    .flush()
                    .await
                    .map_err(|e| self.delta_err(e))?
                    .into_iter()
                    .map(Action::Add),
            );
        }
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(vec![PARTITION_COLUMN.to_string()]),
            predicate: None,
        };
        let app = ("chainx.blocks", adding.to_string());
        let version = self
            .commit_with_coverage(actions, &covered.union(adding), offsets, operation, app)
            .await?;
        tracing::debug!(
            table = self.kind.name(),
            blocks = %adding,
            version,
            "committed"
        );
        Ok(())
    }

    /// Commits `actions` atomically with the table's new coverage, the Kafka `offsets` as Delta
    /// `txn` actions, and one line of commit info; returns the new version.
    pub(crate) async fn commit_with_coverage(
        &mut self,
        mut actions: Vec<Action>,
        coverage: &BlockRanges,
        offsets: &[(String, i64)],
        operation: DeltaOperation,
        info: (&str, String),
    ) -> Result<u64> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta_err(e))?;
        let metadata = snapshot
            .metadata()
            .clone()
            .add_config_key(COVERAGE_KEY.to_string(), coverage.to_string())
            .map_err(|e| Error::Table {
                table: self.kind.name().to_string(),
                reason: e.to_string(),
            })?;
        actions.push(Action::Metadata(metadata));
        let txns = offsets
            .iter()
            .map(|(app_id, version)| deltalake::kernel::Transaction::new(app_id, *version))
            .collect();
        // From CommitProperties, not CommitBuilder::default(): only that path installs the
        // post-commit hook that writes checkpoints (every `delta.checkpointInterval` commits).
        let properties = CommitProperties::default()
            .with_metadata([(info.0.to_string(), json!(info.1))])
            .with_application_transactions(txns);
        let committed = CommitBuilder::from(properties)
            .with_actions(actions)
            .build(Some(snapshot), self.table.log_store(), operation)
            .await
            .map_err(|e| self.delta_err(e))?;
        let version = committed.version();
        self.table.state = Some(committed.snapshot());
        Ok(version)
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
        self.table.update_state().await.map_err(|e| self.delta_err(e))
    }

    /// Paths (relative to the table root) of the Parquet files the current version reads.
    pub fn live_files(&self) -> Result<Vec<Path>> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta_err(e))?;
        let mut files: Vec<Path> = snapshot.log_data().iter().map(|f| f.object_store_path()).collect();
        // Partition order (block_date=...), so readers list the earliest blocks first.
        files.sort();
        Ok(files)
    }

    /// Deletes data files under the table that no Delta version references, left by a writer
    /// that died between writing and committing. Returns how many it deleted.
    pub async fn remove_orphans(&mut self) -> Result<usize> {
        self.table.update_state().await.map_err(|e| self.delta_err(e))?;
        let live: HashSet<Path> = self.live_files()?.into_iter().collect();
        let store: Arc<dyn ObjectStore> = self.table.object_store();
        let files: Vec<_> = store
            .list(None)
            .try_collect()
            .await
            .map_err(|e| self.delta_err(e.into()))?;
        let mut removed = 0;
        for meta in files {
            let hidden = meta
                .location
                .parts()
                .any(|p| p.as_ref().starts_with('_') || p.as_ref().starts_with('.'));
            if hidden || live.contains(&meta.location) {
                continue;
            }
            store
                .delete(&meta.location)
                .await
                .map_err(|e| self.delta_err(e.into()))?;
            tracing::info!(table = self.kind.name(), file = %meta.location, "removed uncommitted file");
            removed += 1;
        }
        Ok(removed)
    }

    /// A table created by another version of chainx with other columns would mix schemas.
    fn check_schema(&self) -> Result<()> {
        let snapshot = self.table.snapshot().map_err(|e| self.delta_err(e))?;
        let have: Vec<String> = snapshot.schema().fields().map(|f| f.name().to_string()).collect();
        let want: Vec<String> = self
            .kind
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().to_string())
            .collect();
        if have != want {
            return Err(Error::Table {
                table: self.kind.name().to_string(),
                reason: format!(
                    "its columns {have:?} are not chainx's {want:?}; point --lake at a new folder or migrate the table"
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn delta_error(&self, source: deltalake::DeltaTableError) -> Error {
        self.delta_err(source)
    }

    pub(crate) fn replace(&mut self, table: DeltaTable) {
        self.table = table;
    }

    fn delta_err(&self, source: deltalake::DeltaTableError) -> Error {
        Error::Delta {
            table: self.kind.name().to_string(),
            source,
        }
    }
}
