//! Unwinding reorganised blocks that have already landed: a reorg event names a block (number
//! and hash) that left the canonical chain. Its rows are deleted by rewriting the files that
//! hold them (those of its partition whose `block_number` statistics span it) without them, and the block leaves the table's coverage, in one Delta commit (with
//! the sink's offsets), so the replacement block can land and no reader ever sees both. The
//! rewritten files stay for readers of older snapshots until `lake vacuum` (as compaction's do).

use std::collections::BTreeSet;

use deltalake::arrow::array::{AsArray, BooleanArray, RecordBatch};
use deltalake::arrow::compute::filter_record_batch;
use deltalake::arrow::datatypes::Int64Type;
use deltalake::kernel::Action;
use deltalake::protocol::DeltaOperation;
use deltalake::writer::DeltaWriter;

use crate::commit::{Outcome, Plan};
use crate::compact::remove;
use crate::error::{Error, Result};
use crate::table::LakeTable;

/// A landed block to take out: its number, its hash (rows of another hash at that height stay)
/// and its `block_date` partition (`YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedBlock {
    pub number: u64,
    pub hash: String,
    pub date: String,
}

/// A plan for the rows of removed blocks, or why there is none.
pub(crate) enum Planned {
    Plan {
        plan: Plan,
        deleted: usize,
    },
    Nothing,
    /// A file vanished while it was read (another writer replaced it): plan again.
    Again,
}

impl LakeTable {
    /// Deletes the rows of `removed` blocks and drops them from coverage, recording `offsets`
    /// in the same commit. Returns the rows deleted; commits nothing if nothing changes.
    ///
    /// A height that holds rows of *another* hash (the backfill landed the other branch) keeps
    /// its coverage: those rows are the canonical block, and dropping coverage would let the
    /// stream land them twice.
    pub async fn unwind(&mut self, removed: &[RemovedBlock], offsets: &[(String, i64)]) -> Result<usize> {
        let (number_col, hash_col) = self.kind().block_columns();
        loop {
            let (plan, deleted) = match self.plan_unwind(removed).await? {
                Planned::Plan { plan, deleted } => (plan, deleted),
                Planned::Nothing => return Ok(0),
                Planned::Again => continue,
            };
            let leaving = plan.drops.clone();
            let operation = DeltaOperation::Delete {
                predicate: Some(format!("{number_col} IN ({leaving}) AND {hash_col} = <removed hash>")),
            };
            let info = ("chainx.unwound", leaving.to_string());
            if self.commit_plan(&plan, offsets, operation, info).await? == Outcome::Stale {
                continue;
            }
            tracing::info!(table = self.kind().name(), blocks = %leaving, rows = deleted, "unwound reorganised blocks");
            return Ok(deleted);
        }
    }

    /// Rewrites, on the current snapshot, the files of the removed blocks' partitions that hold
    /// their rows, without those rows.
    pub(crate) async fn plan_unwind(&mut self, removed: &[RemovedBlock]) -> Result<Planned> {
        let (number_col, hash_col) = self.kind().block_columns();
        let gone = |number: i64, hash: &str| {
            removed
                .iter()
                .any(|r| i64::try_from(r.number).is_ok_and(|n| n == number) && r.hash == hash)
        };
        let by_partition = self.files_by_partition()?;
        let now = chrono::Utc::now().timestamp_millis();
        let mut plan = Plan::default();
        let mut writer = self.file_writer()?;
        let mut deleted = 0;
        let mut rewrite = false;
        let mut other_branch: BTreeSet<u64> = BTreeSet::new();
        for (date, files) in &by_partition {
            if !removed.iter().any(|r| &r.date == date) {
                continue;
            }
            let numbers = || removed.iter().filter(|r| &r.date == date).map(|r| r.number);
            // Only the files whose block_number statistics span a removed block are read.
            for file in files.iter().filter(|f| f.may_hold(numbers())) {
                let (path, size) = (&file.path, &file.size);
                let Some(batches) = self.read_live_file(path, date).await? else {
                    return Ok(Planned::Again);
                };
                let mut kept: Vec<RecordBatch> = Vec::new();
                let mut dropped = 0;
                for b in &batches {
                    let (Some(numbers), Some(hashes)) = (b.column_by_name(number_col), b.column_by_name(hash_col))
                    else {
                        return Err(Error::Table {
                            table: self.kind().name().to_string(),
                            reason: format!("file {path} lacks {number_col}/{hash_col}"),
                        });
                    };
                    let numbers = numbers.as_primitive::<Int64Type>();
                    let hashes = hashes.as_string::<i32>();
                    let keep: BooleanArray = (0..b.num_rows())
                        .map(|i| {
                            let (n, h) = (numbers.value(i), hashes.value(i));
                            if let Some(r) = removed.iter().find(|r| i64::try_from(r.number).is_ok_and(|x| x == n)) {
                                if r.hash != h {
                                    other_branch.insert(r.number);
                                }
                            }
                            Some(!gone(n, h))
                        })
                        .collect();
                    let k = filter_record_batch(b, &keep)?;
                    dropped += b.num_rows() - k.num_rows();
                    kept.push(k);
                }
                if dropped == 0 {
                    continue;
                }
                deleted += dropped;
                plan.actions.push(remove(path, date, *size, true, now));
                for k in kept.into_iter().filter(|k| k.num_rows() > 0) {
                    writer.write(k).await.map_err(|e| self.delta_error(e))?;
                    rewrite = true;
                }
            }
        }
        if rewrite {
            let adds = writer.flush().await.map_err(|e| self.delta_error(e))?;
            plan.actions.extend(adds.into_iter().map(Action::Add));
        }
        let covered = self.covered()?;
        for r in removed {
            if covered.contains(r.number) && !other_branch.contains(&r.number) {
                plan.drops.insert(r.number, r.number);
            }
        }
        if deleted == 0 && plan.drops.is_empty() {
            return Ok(Planned::Nothing);
        }
        Ok(Planned::Plan { plan, deleted })
    }
}
