//! Compaction: a streaming sink commits often, so partitions fill with small files. This merges
//! each partition's files into one (rows sorted by block, then position), commits the swap as
//! one Delta `OPTIMIZE` (no data change, coverage untouched). The files it replaced stay until
//! `lake vacuum` deletes them past its retention: a reader (Spark, Trino, delta-rs) that planned
//! its query on the snapshot before the swap still reads them (deleting them at once failed such
//! queries with "file does not exist", seen through the Spark Thrift server), and a plain listing
//! of the folders holds their rows twice until then.
//! It runs beside other writers under the lake's commit protocol ([`crate::commit`]): if an
//! unwind or another compaction replaced one of its files first, it plans again, so it never
//! brings back a row that was deleted. Without datafusion (deltalake's own optimize needs it),
//! hence written here.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, Date32Array, RecordBatch};
use deltalake::arrow::compute::{concat_batches, lexsort_to_indices, take_record_batch, SortColumn};
use deltalake::kernel::{Action, Remove};
use deltalake::protocol::DeltaOperation;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::Path;

use crate::commit::{Outcome, Plan};
use crate::datasets::PARTITION_COLUMN;
use crate::error::{Error, Result};
use crate::read::{file_bytes, parquet_batches};
use crate::table::LakeTable;

/// What a compaction did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CompactSummary {
    pub partitions: usize,
    pub files_before: usize,
    pub files_after: usize,
    /// Files taken out of the table (deleted by a vacuum past its retention).
    pub files_replaced: usize,
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

    /// The rows of a live file, or `None` if it is gone and no longer live (another writer
    /// replaced and deleted it since this snapshot): the caller plans again.
    pub(crate) async fn read_live_file(&mut self, path: &Path, date: &str) -> Result<Option<Vec<RecordBatch>>> {
        match self.read_file(path, date).await {
            Ok(batches) => Ok(Some(batches)),
            Err(e) => {
                self.refresh().await?;
                if self.live_paths()?.contains(path.as_ref()) {
                    Err(e)
                } else {
                    Ok(None)
                }
            }
        }
    }

    /// Merges every partition holding more than one file into one file. Safe next to any other
    /// writer and reader (see the module's comment).
    pub async fn compact(&mut self) -> Result<CompactSummary> {
        loop {
            self.refresh().await?;
            let Some((plan, summary)) = self.plan_compaction().await? else {
                continue;
            };
            if summary.partitions == 0 {
                return Ok(summary);
            }
            let operation = DeltaOperation::Optimize {
                predicate: None,
                target_size: 0,
            };
            let info = ("chainx.compacted", format!("{} partitions", summary.partitions));
            match self.commit_plan(&plan, &[], operation, info).await? {
                Outcome::Stale => continue,
                Outcome::Committed(version) => {
                    tracing::info!(
                        table = self.kind().name(),
                        version,
                        partitions = summary.partitions,
                        "compacted"
                    );
                    return Ok(CompactSummary {
                        files_replaced: plan.removed_paths().count(),
                        ..summary
                    });
                }
            }
        }
    }

    /// The merge of every partition's files on the current snapshot; `None` if a file vanished
    /// while it was read.
    pub(crate) async fn plan_compaction(&mut self) -> Result<Option<(Plan, CompactSummary)>> {
        let by_partition = self.files_by_partition()?;
        let mut summary = CompactSummary {
            files_before: by_partition.values().map(Vec::len).sum(),
            ..Default::default()
        };
        let schema = self.kind().schema();
        let mut plan = Plan::default();
        let mut writer = RecordBatchWriter::for_table(self.delta()).map_err(|e| self.delta_error(e))?;
        let now = chrono::Utc::now().timestamp_millis();
        for (date, files) in &by_partition {
            if files.len() < 2 {
                summary.files_after += files.len();
                continue;
            }
            let mut batches = Vec::new();
            for (path, size) in files {
                let Some(read) = self.read_live_file(path, date).await? else {
                    return Ok(None);
                };
                batches.extend(read);
                plan.actions.push(remove(path, date, *size, false, now));
            }
            let merged = concat_batches(&schema, &batches)?;
            let sort_by = self.kind().dataset().sort_keys;
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
        if summary.partitions > 0 {
            let adds = writer.flush().await.map_err(|e| self.delta_error(e))?;
            summary.files_after += adds.len();
            plan.actions.extend(adds.into_iter().map(|mut a| {
                a.data_change = false;
                Action::Add(a)
            }));
        }
        Ok(Some((plan, summary)))
    }
}
