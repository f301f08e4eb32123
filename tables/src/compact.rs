//! Compaction: a streaming sink commits often, so partitions fill with small files. This merges
//! each partition's small files into files of the target size (rows sorted by block, then
//! position), in bounded memory, and commits the swap as one Delta `OPTIMIZE` (no data change,
//! coverage untouched). The files it replaced stay until
//! `lake vacuum` deletes them past its retention: a reader (Spark, Trino, delta-rs) that planned
//! its query on the snapshot before the swap still reads them (deleting them at once failed such
//! queries with "file does not exist", seen through the Spark Thrift server), and a plain listing
//! of the folders holds their rows twice until then.
//! It runs beside other writers under the lake's commit protocol ([`crate::commit`]): if an
//! unwind or another compaction replaced one of its files first, it plans again, so it never
//! brings back a row that was deleted. Without datafusion (deltalake's own optimize needs it),
//! hence written here.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;

use deltalake::arrow::array::RecordBatch;
use deltalake::kernel::{Action, Remove};
use deltalake::protocol::DeltaOperation;
use deltalake::writer::DeltaWriter;
use deltalake::Path;

use crate::commit::{Outcome, Plan};
use crate::datasets::PARTITION_COLUMN;
use crate::error::{Error, Result};
use crate::merge::{with_partition_column, SortedRows};
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

/// A live data file.
#[derive(Debug, Clone)]
pub(crate) struct LiveFile {
    pub path: Path,
    pub size: i64,
    /// The least and greatest block number of its rows, if its add action has statistics.
    pub blocks: Option<(u64, u64)>,
}

impl LiveFile {
    /// Whether the file may hold rows of some of `numbers` (a file without statistics may).
    pub fn may_hold(&self, mut numbers: impl Iterator<Item = u64>) -> bool {
        match self.blocks {
            None => true,
            Some((least, greatest)) => numbers.any(|n| (least..=greatest).contains(&n)),
        }
    }
}

/// The `minValues`/`maxValues` of `column` in an add action's statistics.
fn block_span(stats: &str, column: &str) -> Option<(u64, u64)> {
    let stats: serde_json::Value = serde_json::from_str(stats).ok()?;
    let bound = |key: &str| stats.get(key)?.get(column)?.as_u64();
    Some((bound("minValues")?, bound("maxValues")?))
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
    /// The live files by `block_date` partition value, with their sizes and, from the Delta
    /// log's statistics, the blocks they hold.
    pub(crate) fn files_by_partition(&self) -> Result<BTreeMap<String, Vec<LiveFile>>> {
        let mut by_partition: BTreeMap<String, Vec<LiveFile>> = BTreeMap::new();
        let snapshot = self.delta().snapshot().map_err(|e| self.delta_error(e))?;
        let column = self.kind().block_number_column();
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
            let blocks = f.stats().and_then(|stats| block_span(&stats, column));
            by_partition.entry(partition).or_default().push(LiveFile {
                path,
                size: f.size(),
                blocks,
            });
        }
        Ok(by_partition)
    }

    /// A data file's rows in the table's schema (the partition column, which lives in the path,
    /// put back), ready to be written again.
    pub(crate) async fn read_file(&self, path: &Path, date: &str) -> Result<Vec<RecordBatch>> {
        let bytes = file_bytes(self.delta().object_store().as_ref(), path).await?;
        self.file_rows(bytes, path, date)
    }

    fn file_rows(&self, bytes: Bytes, path: &Path, date: &str) -> Result<Vec<RecordBatch>> {
        let days = self.partition_days(date)?;
        let schema = self.kind().schema();
        parquet_batches(bytes, path.as_ref())?
            .iter()
            .map(|b| with_partition_column(b, &schema, days))
            .collect()
    }

    /// The partition value `date` as days since 1970-01-01, the partition column's value.
    fn partition_days(&self, date: &str) -> Result<i32> {
        epoch_days(date).ok_or_else(|| Error::Table {
            table: self.kind().name().to_string(),
            reason: format!("partition {date:?} is not a date"),
        })
    }

    /// The rows of a live file, or `None` if it is gone and no longer live (another writer
    /// replaced and deleted it since this snapshot): the caller plans again.
    pub(crate) async fn read_live_file(&mut self, path: &Path, date: &str) -> Result<Option<Vec<RecordBatch>>> {
        match self.live_file_bytes(path).await? {
            Some(bytes) => Ok(Some(self.file_rows(bytes, path, date)?)),
            None => Ok(None),
        }
    }

    /// The compressed bytes of a live file, or `None` as [`Self::read_live_file`].
    async fn live_file_bytes(&mut self, path: &Path) -> Result<Option<Bytes>> {
        match file_bytes(self.delta().object_store().as_ref(), path).await {
            Ok(bytes) => Ok(Some(bytes)),
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

    /// The merge of every partition's small files on the current snapshot; `None` if a file
    /// vanished while it was read.
    ///
    /// Memory holds one group of files at a time, not a partition: files are taken in order of
    /// their first block, and files whose block spans overlap (writers that interleaved) are
    /// merged and sorted together ([`SortedRows`]: a group already in order is decoded a chunk
    /// at a time); the rows stream into files of the target size, and each partition's files
    /// are closed before the next partition is read.
    pub(crate) async fn plan_compaction(&mut self) -> Result<Option<(Plan, CompactSummary)>> {
        let by_partition = self.files_by_partition()?;
        let mut summary = CompactSummary {
            files_before: by_partition.values().map(Vec::len).sum(),
            ..Default::default()
        };
        let mut plan = Plan::default();
        let now = chrono::Utc::now().timestamp_millis();
        // A file of half the target is done: merging it would only move its rows.
        let small = self.layout().target_file_bytes / 2;
        for (date, files) in by_partition {
            let (mut merging, done): (Vec<LiveFile>, Vec<LiveFile>) =
                files.into_iter().partition(|f| (f.size.max(0) as u64) < small);
            summary.files_after += done.len();
            if merging.len() < 2 {
                summary.files_after += merging.len();
                continue;
            }
            merging.sort_by_key(|f| f.blocks.map_or(0, |(least, _)| least));
            // Output files are cut by the bytes of the files merged into them: the same rows
            // in the same encoding come out about as large.
            let target = self.layout().target_file_bytes;
            let days = self.partition_days(&date)?;
            let mut writer = self.file_writer()?.with_target_file_size(0);
            let mut merged_bytes = 0u64;
            let mut adds = Vec::new();
            for group in overlapping_groups(merging) {
                let group_bytes: u64 = group.iter().map(|f| f.size.max(0) as u64).sum();
                if merged_bytes > 0 && merged_bytes + group_bytes > target {
                    adds.extend(writer.flush().await.map_err(|e| self.delta_error(e))?);
                    merged_bytes = 0;
                }
                merged_bytes += group_bytes;
                let mut group_files = Vec::with_capacity(group.len());
                for file in &group {
                    let Some(bytes) = self.live_file_bytes(&file.path).await? else {
                        return Ok(None);
                    };
                    group_files.push((file.path.to_string(), bytes));
                    plan.actions.push(remove(&file.path, &date, file.size, false, now));
                }
                let sort_keys = self.kind().dataset().sort_keys;
                let mut rows = SortedRows::new(group_files, sort_keys, self.kind().schema(), days)?;
                while let Some(chunk) = rows.next_chunk()? {
                    writer.write(chunk).await.map_err(|e| self.delta_error(e))?;
                }
            }
            adds.extend(writer.flush().await.map_err(|e| self.delta_error(e))?);
            summary.files_after += adds.len();
            summary.partitions += 1;
            plan.actions.extend(adds.into_iter().map(|mut a| {
                a.data_change = false;
                Action::Add(a)
            }));
        }
        Ok(Some((plan, summary)))
    }
}

/// Files in order of their first block, grouped so that files whose block spans overlap share a
/// group (a file without statistics overlaps everything after it).
fn overlapping_groups(files: Vec<LiveFile>) -> Vec<Vec<LiveFile>> {
    let mut groups: Vec<Vec<LiveFile>> = Vec::new();
    let mut reach: Option<u64> = None;
    for file in files {
        let overlaps = match (reach, file.blocks) {
            (Some(r), Some((least, _))) => least <= r,
            (Some(_), None) => true,
            (None, _) => false,
        };
        let end = file.blocks.map_or(u64::MAX, |(_, greatest)| greatest);
        match groups.last_mut() {
            Some(group) if overlaps => {
                group.push(file);
                reach = reach.max(Some(end));
            }
            _ => {
                groups.push(vec![file]);
                reach = Some(end);
            }
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, blocks: Option<(u64, u64)>) -> LiveFile {
        LiveFile {
            path: Path::from(name),
            size: 1,
            blocks,
        }
    }

    #[test]
    fn files_whose_blocks_interleave_share_a_group() {
        let files = vec![
            file("a", Some((0, 9))),
            file("b", Some((10, 30))),
            file("c", Some((20, 25))),
            file("d", Some((31, 40))),
            file("e", None),
        ];
        let groups: Vec<Vec<String>> = overlapping_groups(files)
            .into_iter()
            .map(|g| g.into_iter().map(|f| f.path.to_string()).collect())
            .collect();
        assert_eq!(groups, vec![vec!["a"], vec!["b", "c"], vec!["d", "e"]]);
    }
}
