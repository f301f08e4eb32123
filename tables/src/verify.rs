//! `chainx lake verify`: what the block tables claim against what they hold.
//!
//! - every block the `blocks` table covers has exactly one row, and no row lies outside coverage;
//! - a block row means its transactions are there (the lake's one write order): the
//!   `transactions` table covers it, holds `transaction_count` rows for it, all of its hash.
//!
//! Files are read one at a time, keeping per block only its hash and counts, so memory grows
//! with the blocks covered, not with the rows. The command adds the node's hashes (`--rpc-url`).

use std::collections::BTreeMap;

use deltalake::arrow::array::{Array, AsArray, RecordBatch};
use deltalake::arrow::datatypes::Int64Type;

use crate::error::Result;
use crate::ranges::BlockRanges;
use crate::read::{file_bytes, parquet_batches};
use crate::schema::TableKind;
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
    pub blocks: BTreeMap<u64, StoredBlock>,
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

/// Each file's batches in turn, so at most one file is in memory.
async fn for_each_batch(table: &LakeTable, mut f: impl FnMut(&RecordBatch)) -> Result<()> {
    let store = table.delta().object_store();
    for path in table.live_files()? {
        let bytes = file_bytes(store.as_ref(), &path).await?;
        for batch in parquet_batches(bytes, path.as_ref())? {
            f(&batch);
        }
    }
    Ok(())
}

fn block_columns(batch: &RecordBatch, kind: TableKind) -> Option<(&[i64], &dyn Array)> {
    let (number, hash) = kind.block_columns();
    Some((
        batch.column_by_name(number)?.as_primitive_opt::<Int64Type>()?.values(),
        batch.column_by_name(hash)?.as_ref(),
    ))
}

/// Checks the lake's block tables against each other (see the module's comment).
pub async fn verify(lake: &Lake) -> Result<Verification> {
    let blocks = LakeTable::open(lake, TableKind::Blocks).await?;
    let txs = LakeTable::open(lake, TableKind::Transactions).await?;
    let mut v = Verification {
        covered: blocks.covered()?,
        ..Verification::default()
    };
    let mut unreadable = false;
    for_each_batch(&blocks, |b| {
        let (Some((numbers, hashes)), Some(counts)) = (
            block_columns(b, TableKind::Blocks),
            b.column_by_name("transaction_count")
                .and_then(|c| c.as_primitive_opt::<Int64Type>()),
        ) else {
            unreadable = true;
            return;
        };
        let hashes = hashes.as_string::<i32>();
        for (i, n) in numbers.iter().enumerate() {
            let entry = v.blocks.entry(*n as u64).or_default();
            entry.rows += 1;
            entry.hash = hashes.value(i).to_string();
            entry.transaction_count = counts.value(i) as u64;
        }
    })
    .await?;
    let mut stray_txs = BlockRanges::new();
    for_each_batch(&txs, |b| {
        let Some((numbers, hashes)) = block_columns(b, TableKind::Transactions) else {
            unreadable = true;
            return;
        };
        let hashes = hashes.as_string::<i32>();
        for (i, n) in numbers.iter().enumerate() {
            let n = *n as u64;
            match v.blocks.get_mut(&n) {
                Some(block) if block.hash == hashes.value(i) => block.transactions += 1,
                Some(block) => block.transactions_of_other_hash += 1,
                None => stray_txs.insert(n, n),
            }
        }
    })
    .await?;
    if unreadable {
        v.problem(&v.covered.clone(), "a data file lacks the block columns");
    }
    let tx_covered = txs.covered()?;
    let mut seen = BlockRanges::new();
    let (mut doubled, mut outside, mut short_txs, mut other_branch) = (
        BlockRanges::new(),
        BlockRanges::new(),
        BlockRanges::new(),
        BlockRanges::new(),
    );
    for (n, block) in &v.blocks {
        let n = *n;
        seen.insert(n, n);
        if block.rows > 1 {
            doubled.insert(n, n);
        }
        if !v.covered.contains(n) {
            outside.insert(n, n);
        }
        // A block whose transactions are not covered is reported as such, not twice.
        if block.transactions != block.transaction_count && tx_covered.contains(n) {
            short_txs.insert(n, n);
        }
        if block.transactions_of_other_hash > 0 {
            other_branch.insert(n, n);
        }
    }
    let missing = v.covered.subtract(&seen);
    let untransacted = v.covered.subtract(&tx_covered);
    let stray_txs = stray_txs.subtract(&tx_covered);
    v.problem(&missing, "covered by `blocks` but without a block row");
    v.problem(&doubled, "more than one block row");
    v.problem(&outside, "block rows outside the table's coverage");
    v.problem(&untransacted, "block rows whose transactions are not covered");
    v.problem(&short_txs, "transaction rows differ from the block's transaction_count");
    v.problem(&other_branch, "transaction rows of another block hash");
    v.problem(
        &stray_txs,
        "transaction rows of a block that `transactions` does not cover",
    );
    Ok(v)
}
