//! `chainx lake verify`: what the block tables claim against what they hold.
//!
//! - every block the `blocks` table covers has exactly one row, and no row lies outside coverage;
//! - a block row means its transactions are there (the lake's one write order): the
//!   `transactions` table covers it, holds `transaction_count` rows for it, all of its hash.
//!
//! It goes one `block_date` partition at a time (a block and its transactions share the date),
//! so memory holds one day's blocks whatever the lake's size. Each day's blocks are handed to
//! the caller, which the command uses to compare their hashes with the node's (`--rpc-url`).

use std::collections::BTreeMap;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::Int64Type;
use deltalake::Path;

use crate::datasets::TableKind;
use crate::error::Result;
use crate::ranges::BlockRanges;
use crate::read::{file_bytes, parquet_batches};
use crate::store::Lake;
use crate::table::LakeTable;

/// One block as the `blocks` table holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredBlock {
    pub hash: String,
    pub transaction_count: u64,
    /// Rows of this block in the `blocks` table (1 unless something is wrong).
    pub rows: u64,
    /// Transaction rows of this block with its hash, and with another hash.
    pub transactions: u64,
    pub transactions_of_other_hash: u64,
}

/// What verify found.
#[derive(Debug, Default)]
pub struct Verification {
    pub covered: BlockRanges,
    pub block_rows: u64,
    pub transaction_rows: u64,
    /// Each problem: the blocks it concerns and what is wrong with them.
    pub problems: Vec<(BlockRanges, String)>,
}

impl Verification {
    /// Records `what` for `blocks`, merged with an earlier problem of the same kind.
    pub fn problem(&mut self, blocks: &BlockRanges, what: &str) {
        if blocks.is_empty() {
            return;
        }
        match self.problems.iter_mut().find(|(_, w)| w == what) {
            Some((ranges, _)) => *ranges = ranges.union(blocks),
            None => self.problems.push((blocks.clone(), what.to_string())),
        }
    }
}

/// Checks the lake's block tables day by day (see the module's comment).
#[derive(Debug)]
pub struct Verifier {
    blocks: LakeTable,
    txs: LakeTable,
    tx_covered: BlockRanges,
    /// Per day still to check: its `blocks` files and its `transactions` files.
    days: BTreeMap<String, (Vec<Path>, Vec<Path>)>,
    /// Block numbers seen in the `blocks` table so far.
    seen: BlockRanges,
    v: Verification,
}

fn block_columns(batch: &RecordBatch, kind: TableKind) -> Option<(&[i64], &dyn Array)> {
    let (number, hash) = kind.block_columns();
    Some((
        batch.column_by_name(number)?.as_primitive_opt::<Int64Type>()?.values(),
        batch.column_by_name(hash)?.as_ref(),
    ))
}

impl Verifier {
    pub async fn open(lake: &Lake) -> Result<Verifier> {
        let blocks = LakeTable::open(lake, TableKind::Blocks).await?;
        let txs = LakeTable::open(lake, TableKind::Transactions).await?;
        let mut days: BTreeMap<String, (Vec<Path>, Vec<Path>)> = BTreeMap::new();
        for (date, files) in blocks.files_by_partition()? {
            days.entry(date).or_default().0 = files.into_iter().map(|f| f.path).collect();
        }
        for (date, files) in txs.files_by_partition()? {
            days.entry(date).or_default().1 = files.into_iter().map(|f| f.path).collect();
        }
        Ok(Verifier {
            v: Verification {
                covered: blocks.covered()?,
                ..Verification::default()
            },
            tx_covered: txs.covered()?,
            blocks,
            txs,
            days,
            seen: BlockRanges::new(),
        })
    }

    /// Checks the next day and returns its date and blocks; `None` once every day is checked.
    pub async fn next_day(&mut self) -> Result<Option<(String, BTreeMap<u64, StoredBlock>)>> {
        let Some((date, (block_files, tx_files))) = self.days.pop_first() else {
            return Ok(None);
        };
        let mut day: BTreeMap<u64, StoredBlock> = BTreeMap::new();
        let mut unreadable = BlockRanges::new();
        for batch in read_files(&self.blocks, &block_files).await? {
            let (Some((numbers, hashes)), Some(counts)) = (
                block_columns(&batch, TableKind::Blocks),
                batch
                    .column_by_name("transaction_count")
                    .and_then(|c| c.as_primitive_opt::<Int64Type>()),
            ) else {
                unreadable = self.v.covered.clone();
                continue;
            };
            let hashes = hashes.as_string::<i32>();
            for (i, n) in numbers.iter().enumerate() {
                let block = day.entry(*n as u64).or_default();
                block.rows += 1;
                block.hash = hashes.value(i).to_string();
                block.transaction_count = counts.value(i) as u64;
            }
        }
        let mut stray = BlockRanges::new();
        for batch in read_files(&self.txs, &tx_files).await? {
            let Some((numbers, hashes)) = block_columns(&batch, TableKind::Transactions) else {
                unreadable = self.v.covered.clone();
                continue;
            };
            let hashes = hashes.as_string::<i32>();
            for (i, n) in numbers.iter().enumerate() {
                let n = *n as u64;
                match day.get_mut(&n) {
                    Some(block) if block.hash == hashes.value(i) => block.transactions += 1,
                    Some(block) => block.transactions_of_other_hash += 1,
                    None if !self.tx_covered.contains(n) => stray.insert(n, n),
                    // Transactions landed, their block row not yet (a writer between commits).
                    None => {}
                }
                self.v.transaction_rows += 1;
            }
        }
        self.v.problem(&unreadable, "a data file lacks the block columns");
        self.v
            .problem(&stray, "transaction rows of a block that `transactions` does not cover");
        let mut bad: [(BlockRanges, &str); 4] = [
            (BlockRanges::new(), "more than one block row"),
            (BlockRanges::new(), "block rows outside the table's coverage"),
            (
                BlockRanges::new(),
                "transaction rows differ from the block's transaction_count",
            ),
            (BlockRanges::new(), "transaction rows of another block hash"),
        ];
        for (n, block) in &day {
            let n = *n;
            self.seen.insert(n, n);
            self.v.block_rows += block.rows;
            let checks = [
                block.rows > 1,
                !self.v.covered.contains(n),
                // A block whose transactions are not covered is reported as such, not twice.
                block.transactions != block.transaction_count && self.tx_covered.contains(n),
                block.transactions_of_other_hash > 0,
            ];
            for (failed, (ranges, _)) in checks.into_iter().zip(bad.iter_mut()) {
                if failed {
                    ranges.insert(n, n);
                }
            }
        }
        for (ranges, what) in &bad {
            self.v.problem(ranges, what);
        }
        Ok(Some((date, day)))
    }

    /// Records a problem the caller found (a hash the node does not have, say).
    pub fn problem(&mut self, blocks: &BlockRanges, what: &str) {
        self.v.problem(blocks, what);
    }

    /// Checks what is left (every day must have been taken) and returns the findings.
    pub fn finish(mut self) -> Verification {
        let missing = self.v.covered.subtract(&self.seen);
        let untransacted = self.v.covered.subtract(&self.tx_covered);
        self.v.problem(&missing, "covered by `blocks` but without a block row");
        self.v
            .problem(&untransacted, "block rows whose transactions are not covered");
        self.v
    }
}

/// The rows of one day's `files`.
async fn read_files(table: &LakeTable, files: &[Path]) -> Result<Vec<RecordBatch>> {
    let store = table.delta().object_store();
    let mut out = Vec::new();
    for path in files {
        out.extend(parquet_batches(file_bytes(store.as_ref(), path).await?, path.as_ref())?);
    }
    Ok(out)
}
