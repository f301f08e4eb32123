//! What the sink holds between commits: rows not yet landed, and per topic-partition the
//! offsets they came from, hence where each table resumes after a crash.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use chainx_evm::{BlockRow, TransactionRow};
use chainx_tables::RemovedBlock;

/// A topic-partition. The name is shared, so that the per-message bookkeeping never allocates.
pub(crate) type Tp = (Arc<str>, i32);

/// The application id of a topic-partition's offset in a table's Delta log.
pub(crate) fn app_id(tp: &Tp) -> String {
    format!("chainx-sink:{}:{}", tp.0, tp.1)
}

/// Per topic-partition: the last offset consumed and the offsets still buffered, hence the
/// offset to resume from after a crash (the lowest still buffered, else the next one).
#[derive(Debug, Default)]
pub(crate) struct Offsets {
    consumed: BTreeMap<Tp, i64>,
    pending: BTreeMap<Tp, BTreeSet<i64>>,
}

impl Offsets {
    pub(crate) fn consume(&mut self, tp: &Tp, offset: i64) {
        let c = self.consumed.entry(tp.clone()).or_insert(offset);
        *c = (*c).max(offset);
    }

    pub(crate) fn hold(&mut self, tp: &Tp, offset: i64) {
        self.consume(tp, offset);
        self.pending.entry(tp.clone()).or_default().insert(offset);
    }

    pub(crate) fn release(&mut self, tp: &Tp, offset: i64) {
        if let Some(p) = self.pending.get_mut(tp) {
            p.remove(&offset);
        }
    }

    /// The last offset consumed, per topic-partition.
    pub(crate) fn consumed(&self) -> impl Iterator<Item = (&Tp, i64)> {
        self.consumed.iter().map(|(tp, last)| (tp, *last))
    }

    pub(crate) fn resume_points(&self) -> Vec<(String, i64)> {
        self.consumed
            .iter()
            .map(|(tp, last)| {
                let next = self
                    .pending
                    .get(tp)
                    .and_then(|p| p.first().copied())
                    .unwrap_or(last + 1);
                (app_id(tp), next)
            })
            .collect()
    }
}

/// How many removed block hashes the buffers remember, to drop rows of theirs that arrive late
/// (a few hours of reorgs).
pub(crate) const RECENTLY_REMOVED: usize = 1024;

/// A landed block a reorg took out, and the message that said so.
#[derive(Debug, Clone)]
pub(crate) struct Unwind {
    pub(crate) block: RemovedBlock,
    pub(crate) tp: Tp,
    pub(crate) offset: i64,
}

/// Buffered blocks, not yet in the blocks table.
#[derive(Debug, Default)]
pub(crate) struct BlocksBuffer {
    pub(crate) rows: BTreeMap<u64, (BlockRow, Tp, i64)>,
    pub(crate) unwinds: Vec<Unwind>,
    pub(crate) offsets: Offsets,
}

/// Buffered transactions, by block; a block lands once all its transactions are here.
#[derive(Debug, Default)]
pub(crate) struct TxBuffer {
    /// Per block: its hash, transaction count, and where its message is.
    pub(crate) blocks: BTreeMap<u64, (String, u64, Tp, i64)>,
    pub(crate) txs: BTreeMap<u64, BlockTxs>,
    /// Transactions buffered (kept as a count: summing per message would be quadratic).
    pub(crate) rows: usize,
    pub(crate) unwinds: Vec<Unwind>,
    pub(crate) offsets: Offsets,
}

impl TxBuffer {
    /// Blocks whose transactions (of the block's current hash) are all here.
    pub(crate) fn complete(&self) -> Vec<u64> {
        self.blocks
            .iter()
            .filter(|(n, (hash, count, _, _))| {
                let have = self.txs.get(n).map_or(0, |b| b.count(hash));
                have as u64 == *count
            })
            .map(|(n, _)| *n)
            .collect()
    }
}

/// A buffered transaction: its message as received, one copy, read again (borrowed, without
/// copying its strings) when its block lands. Holding parsed rows instead cost a dozen small
/// allocations per row and a third of the sink's time.
#[derive(Debug)]
pub(crate) struct BufferedTx {
    pub(crate) message: Box<str>,
    pub(crate) tp: Tp,
    pub(crate) offset: i64,
}

impl BufferedTx {
    /// The row, borrowed from the message. It parsed when it arrived, so it parses again.
    pub(crate) fn row(&self) -> Result<TransactionRow<&str>, serde_json::Error> {
        serde_json::from_str(&self.message)
    }
}

/// One block number's buffered transactions, by branch (block hash: a reorg brings a second
/// one), each transaction hash once per branch.
#[derive(Debug, Default)]
pub(crate) struct BlockTxs {
    pub(crate) branches: Vec<Branch>,
}

#[derive(Debug)]
pub(crate) struct Branch {
    pub(crate) block_hash: String,
    pub(crate) txs: Vec<BufferedTx>,
    /// 64-bit digests of the transaction hashes buffered, to spot a redelivery without keeping
    /// (or re-reading) every hash.
    digests: HashSet<u64>,
}

impl BlockTxs {
    /// Buffers a transaction (`row`, read from `message`); false, and nothing buffered, if its
    /// branch already holds one of that hash.
    pub(crate) fn insert(&mut self, row: &TransactionRow<&str>, message: &str, tp: &Tp, offset: i64) -> bool {
        let i = match self.branches.iter().position(|b| b.block_hash == row.block_hash) {
            Some(i) => i,
            None => {
                self.branches.push(Branch {
                    block_hash: row.block_hash.to_string(),
                    txs: Vec::new(),
                    digests: HashSet::new(),
                });
                self.branches.len() - 1
            }
        };
        let branch = &mut self.branches[i];
        let mut h = std::hash::DefaultHasher::new();
        row.hash.hash(&mut h);
        // A digest seen before is a redelivery, unless two hashes collide: then compare.
        if !branch.digests.insert(h.finish()) && branch.txs.iter().any(|t| t.row().is_ok_and(|r| r.hash == row.hash)) {
            return false;
        }
        branch.txs.push(BufferedTx {
            message: message.into(),
            tp: tp.clone(),
            offset,
        });
        true
    }

    /// Transactions buffered, all branches.
    pub(crate) fn len(&self) -> usize {
        self.branches.iter().map(|b| b.txs.len()).sum()
    }

    /// The transactions of the branch `block_hash`.
    pub(crate) fn count(&self, block_hash: &str) -> usize {
        self.branches
            .iter()
            .find(|b| b.block_hash == block_hash)
            .map_or(0, |b| b.txs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tp(p: i32) -> Tp {
        (Arc::from("t"), p)
    }

    #[test]
    fn resume_from_the_lowest_buffered_offset_else_the_next() {
        let mut o = Offsets::default();
        o.hold(&tp(0), 5);
        o.hold(&tp(0), 6);
        o.consume(&tp(0), 7);
        o.consume(&tp(1), 3);
        assert_eq!(
            o.resume_points(),
            vec![("chainx-sink:t:0".to_string(), 5), ("chainx-sink:t:1".to_string(), 4)]
        );
        o.release(&tp(0), 5);
        o.release(&tp(0), 6);
        assert_eq!(o.resume_points()[0].1, 8);
    }

    #[test]
    fn a_block_is_complete_only_with_all_its_transactions_of_its_hash() {
        let row = |hash: &str, block_hash: &str| -> String {
            json!({
                "hash": hash, "nonce": 0, "block_hash": block_hash, "block_number": 1, "transaction_index": 0,
                "from_address": "0xaa", "to_address": null, "value": "0", "gas": 1, "gas_price": null,
                "input": "0x", "block_timestamp": 1, "max_fee_per_gas": null, "max_priority_fee_per_gas": null,
                "transaction_type": null, "receipt_cumulative_gas_used": null, "receipt_gas_used": null,
                "receipt_contract_address": null, "receipt_status": null, "receipt_effective_gas_price": null,
                "tx_kind": "contract_deployment"
            })
            .to_string()
        };
        let mut b = TxBuffer::default();
        b.blocks.insert(1, ("0xb".to_string(), 2, tp(0), 0));
        b.blocks.insert(2, ("0xc".to_string(), 0, tp(0), 1));
        let mut insert = |hash: &str, block_hash: &str, offset: i64| {
            let message = row(hash, block_hash);
            let parsed: TransactionRow<&str> = serde_json::from_str(&message).unwrap();
            b.txs.entry(1).or_default().insert(&parsed, &message, &tp(1), offset)
        };
        assert!(insert("0x1", "0xb", 0));
        assert!(!insert("0x1", "0xb", 5), "a redelivery is buffered once");
        // A copy from a replaced branch does not count, but is kept (that branch may return).
        assert!(insert("0x2", "0xold", 1));
        assert!(insert("0x1", "0xold", 3));
        assert_eq!(b.txs[&1].len(), 3);
        assert_eq!(b.complete(), vec![2], "an empty block is complete at once");
        let message = row("0x3", "0xb");
        let parsed: TransactionRow<&str> = serde_json::from_str(&message).unwrap();
        assert!(b.txs.entry(1).or_default().insert(&parsed, &message, &tp(1), 2));
        assert_eq!(b.complete(), vec![1, 2]);
        let landed: Vec<String> = b.txs[&1].branches[0]
            .txs
            .iter()
            .map(|t| t.row().unwrap().hash.to_string())
            .collect();
        assert_eq!(landed, ["0x1", "0x3"], "a branch's rows read back from their messages");
    }
}
