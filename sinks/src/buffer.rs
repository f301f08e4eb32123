//! What the sink holds between commits: rows not yet landed, and per topic-partition the
//! offsets they came from, hence where each table resumes after a crash.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chainx_evm::{BlockRow, DecodedCallRow, TransactionRow};
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
    pub(crate) txs: BTreeMap<u64, HashMap<String, (TransactionRow, Tp, i64)>>,
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
                let have = self
                    .txs
                    .get(n)
                    .map_or(0, |m| m.values().filter(|(t, _, _)| &t.block_hash == hash).count());
                have as u64 == *count
            })
            .map(|(n, _)| *n)
            .collect()
    }
}

/// Buffered decoded calls, by transaction hash (a redelivered call is kept once).
#[derive(Debug, Default)]
pub(crate) struct DecodedBuffer {
    pub(crate) rows: HashMap<String, (DecodedCallRow, Tp, i64)>,
    /// Blocks a reorg removed: their calls are dropped when buffered and deleted when landed.
    pub(crate) removed: Vec<RemovedBlock>,
    pub(crate) offsets: Offsets,
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
        let row = |hash: &str, block_hash: &str| -> TransactionRow {
            serde_json::from_value(json!({
                "hash": hash, "nonce": 0, "block_hash": block_hash, "block_number": 1, "transaction_index": 0,
                "from_address": "0xaa", "to_address": null, "value": "0", "gas": 1, "gas_price": null,
                "input": "0x", "block_timestamp": 1, "max_fee_per_gas": null, "max_priority_fee_per_gas": null,
                "transaction_type": null, "receipt_cumulative_gas_used": null, "receipt_gas_used": null,
                "receipt_contract_address": null, "receipt_status": null, "receipt_effective_gas_price": null,
                "tx_kind": "contract_deployment"
            }))
            .unwrap()
        };
        let mut b = TxBuffer::default();
        b.blocks.insert(1, ("0xb".to_string(), 2, tp(0), 0));
        b.blocks.insert(2, ("0xc".to_string(), 0, tp(0), 1));
        let txs = b.txs.entry(1).or_default();
        txs.insert("0x1".into(), (row("0x1", "0xb"), tp(1), 0));
        // A copy from a replaced branch does not count.
        txs.insert("0x2".into(), (row("0x2", "0xold"), tp(1), 1));
        assert_eq!(b.complete(), vec![2], "an empty block is complete at once");
        b.txs
            .entry(1)
            .or_default()
            .insert("0x3".into(), (row("0x3", "0xb"), tp(1), 2));
        assert_eq!(b.complete(), vec![1, 2]);
    }
}
