//! Compaction: a streaming sink commits often, so partitions fill with small files. This merges
//! each partition's files into one (rows sorted by block, then position), commits the swap as
//! one Delta `OPTIMIZE` (no data change, coverage untouched), then vacuums the replaced files
//! at once so that the plain Hive view (every Parquet file in the folders) still equals Delta's.
//! Without datafusion (deltalake's own optimize needs it), hence written here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, Date32Array, RecordBatch};
use deltalake::arrow::compute::{concat_batches, lexsort_to_indices, take_record_batch, SortColumn};
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Remove};
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::Path;

use crate::error::{Error, Result};
use crate::read::{file_bytes, parquet_batches};
use crate::schema::{TableKind, PARTITION_COLUMN};
use crate::table::LakeTable;

/// What a compaction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactSummary {
    pub partitions: usize,
    pub files_before: usize,
    pub files_after: usize,
    pub files_deleted: usize,
}

/// Days since 1970-01-01 of `YYYY-MM-DD`.
fn epoch_days(date: &str) -> Option<i32> {
    let d = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((d - epoch).num_days()).ok()
}

/// The Delta action dropping `path` from the table.
pub(crate) fn remove(path: &Path, date: &str, size: i64, data_change: bool, now: i64) -> Action {
    Action::Remove(Remove {
        path: path.to_string(),
        data_change,
        deletion_timestamp: Some(now),
        extended_file_metadata: Some(true),
        partition_values: Some(HashMap::from([(PARTITION_COLUMN.to_string(), Some(date.to_string()))])),
        size: Some(size),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
    })
}

impl LakeTable {
    /// The live files, with their sizes, by `block_date` partition value.
    pub(crate) fn files_by_partition(&self) -> Result<BTreeMap<String, Vec<(Path, i64)>>> {
        let mut by_partition: BTreeMap<String, Vec<(Path, i64)>> = BTreeMap::new();
        let snapshot = self.delta().snapshot().map_err(|e| self.delta_error(e))?;
        for f in snapshot.log_data().iter() {
            let path = f.object_store_path();
            let partition = path
                .parts()
                .find_map(|p| {
                    p.as_ref()
                        .strip_prefix(&format!("{PARTITION_COLUMN}="))
                        .map(str::to_string)
                })
                .ok_or_else(|| Error::Table {
                    table: self.kind().name().to_string(),
                    reason: format!("file {path} is outside a {PARTITION_COLUMN}= folder"),
                })?;
            by_partition.entry(partition).or_default().push((path, f.size()));
        }
        Ok(by_partition)
    }

    /// A data file's rows in the table's schema (the partition column, which lives in the path,
    /// put back), ready to be written again.
    pub(crate) async fn read_file(&self, path: &Path, date: &str) -> Result<Vec<RecordBatch>> {
        let days = epoch_days(date).ok_or_else(|| Error::Table {
            table: self.kind().name().to_string(),
            reason: format!("partition {date:?} is not a date"),
        })?;
        let schema = self.kind().schema();
        let bytes = file_bytes(self.delta().object_store().as_ref(), path).await?;
        let mut out = Vec::new();
        for b in parquet_batches(bytes, path.as_ref())? {
            let mut columns: Vec<ArrayRef> = b.columns().to_vec();
            columns.push(Arc::new(Date32Array::from(vec![days; b.num_rows()])));
            out.push(RecordBatch::try_new(schema.clone(), columns)?);
        }
        Ok(out)
    }

    /// Merges every partition holding more than one file into one file, then deletes the
    /// replaced files. Safe next to a running writer: appends never conflict with it.
    pub async fn compact(&mut self) -> Result<CompactSummary> {
        self.refresh().await?;
        let by_partition = self.files_by_partition()?;
        let snapshot = self.delta().snapshot().map_err(|e| self.delta_error(e))?;
        let mut summary = CompactSummary {
            files_before: by_partition.values().map(Vec::len).sum(),
            ..Default::default()
        };
        let schema = self.kind().schema();
        let mut actions = Vec::new();
        let mut writer = RecordBatchWriter::for_table(self.delta()).map_err(|e| self.delta_error(e))?;
        let now = chrono::Utc::now().timestamp_millis();
        for (date, files) in &by_partition {
            if files.len() < 2 {
                summary.files_after += files.len();
                continue;
            }
            let mut batches = Vec::new();
            for (path, size) in files {
                batches.extend(self.read_file(path, date).await?);
                actions.push(remove(path, date, *size, false, now));
            }
            let merged = concat_batches(&schema, &batches)?;
            let sort_by: &[&str] = match self.kind() {
                TableKind::Blocks => &["number"],
                TableKind::Transactions | TableKind::DecodedCalls => &["block_number", "transaction_index"],
            };
            let keys: Vec<SortColumn> = sort_by
                .iter()
                .filter_map(|c| merged.column_by_name(c))
                .map(|values| SortColumn {
                    values: values.clone(),
                    options: None,
                })
                .collect();
            let order = lexsort_to_indices(&keys, None)?;
            writer
                .write(take_record_batch(&merged, &order)?)
                .await
                .map_err(|e| self.delta_error(e))?;
            summary.partitions += 1;
        }
        if summary.partitions == 0 {
            return Ok(summary);
        }
        let adds = writer.flush().await.map_err(|e| self.delta_error(e))?;
        summary.files_after += adds.len();
        actions.extend(adds.into_iter().map(|mut a| {
            a.data_change = false;
            Action::Add(a)
        }));
        let operation = DeltaOperation::Optimize {
            predicate: None,
            target_size: 0,
        };
        let committed = CommitBuilder::from(CommitProperties::default())
            .with_actions(actions)
            .build(Some(snapshot), self.delta().log_store(), operation)
            .await
            .map_err(|e| self.delta_error(e))?;
        tracing::info!(
            table = self.kind().name(),
            version = committed.version(),
            partitions = summary.partitions,
            "compacted"
        );
        self.refresh().await?;
        // Delete the replaced files now: the Hive view reads every file in the folders.
        let (table, metrics) = self
            .delta()
            .clone()
            .vacuum()
            .with_retention_period(chrono::Duration::zero())
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| self.delta_error(e))?;
        summary.files_deleted = metrics.files_deleted.len();
        self.replace(table);
        Ok(summary)
    }
}
