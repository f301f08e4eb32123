//! The decoder's topic (one message per contract call) landed in `decoded_calls` a whole block
//! at a time, so that the table keeps block coverage like every other: a block's calls land
//! once all its contract interactions are decoded. How many it has is counted when its
//! transactions land here, or, for a block whose transactions landed before a restart (or by
//! the backfill), read back from the transactions table. Coverage is what lets a backfill of
//! `decoded_calls` and the sink write the same blocks with no call landing twice; calls are
//! keyed by (transaction hash, block hash), so a transaction a reorg moves to another block
//! lands with that block.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use chainx_evm::{DecodedCallRow, TransactionRow, TxKind};
use chainx_tables::arrow::array::{Array, AsArray};
use chainx_tables::{BlockRanges, LakeTable, RemovedBlock};

use crate::buffer::{Offsets, Tp, RECENTLY_REMOVED};
use crate::Result;

/// One block's buffered calls, by transaction hash (a redelivery is kept once).
type BranchCalls = HashMap<String, (DecodedCallRow, Tp, i64)>;

#[derive(Debug, Default)]
pub(crate) struct DecodedCalls {
    /// Per block number, per block hash: the calls buffered.
    calls: BTreeMap<u64, HashMap<String, BranchCalls>>,
    /// Calls buffered, all blocks.
    pub(crate) rows: usize,
    /// Blocks whose transactions have landed: their hash and how many contract interactions
    /// (hence calls) they hold.
    expected: BTreeMap<u64, (String, u64)>,
    /// Blocks looked up in the transactions table and not found there by that hash: their
    /// count comes when this sink lands their transactions.
    not_landed: HashSet<(u64, String)>,
    /// Blocks a reorg removed since the last flush: their landed calls are deleted then.
    pub(crate) removed: Vec<RemovedBlock>,
    /// Hashes of the last [`RECENTLY_REMOVED`] removed blocks: calls of theirs that arrive late
    /// (the decoder lags the clock) are dropped.
    recently_removed: VecDeque<String>,
    pub(crate) offsets: Offsets,
}

impl DecodedCalls {
    /// A decoded call message. `landed` says whether its block has landed in the table already.
    pub(crate) fn on_call(&mut self, row: DecodedCallRow, tp: &Tp, offset: i64, landed: bool) -> bool {
        if landed || self.recently_removed.contains(&row.block_hash) {
            self.offsets.consume(tp, offset);
            return false;
        }
        let branch = self
            .calls
            .entry(row.block_number)
            .or_default()
            .entry(row.block_hash.clone())
            .or_default();
        if branch.contains_key(&row.hash) {
            self.offsets.consume(tp, offset);
            return false;
        }
        self.offsets.hold(tp, offset);
        branch.insert(row.hash.clone(), (row, tp.clone(), offset));
        self.rows += 1;
        true
    }

    /// A reorg removed `block`: drop its buffered calls, delete its landed ones at the next
    /// flush, and drop those still to come.
    pub(crate) fn remove_block(&mut self, block: &RemovedBlock) {
        if let Some(branches) = self.calls.get_mut(&block.number) {
            if let Some(gone) = branches.remove(&block.hash) {
                self.rows -= gone.len();
                for (_, tp, offset) in gone.values() {
                    self.offsets.release(tp, *offset);
                }
            }
        }
        if self.expected.get(&block.number).is_some_and(|(h, _)| *h == block.hash) {
            self.expected.remove(&block.number);
        }
        self.removed.push(block.clone());
        if self.recently_removed.len() == RECENTLY_REMOVED {
            self.recently_removed.pop_front();
        }
        self.recently_removed.push_back(block.hash.clone());
    }

    /// The transactions of block `number` (`hash`) are landing: its calls are due.
    pub(crate) fn expect(&mut self, number: u64, hash: &str, txs: &[TransactionRow<&str>]) {
        let calls = txs.iter().filter(|t| t.tx_kind == TxKind::ContractInteraction).count();
        self.expected.insert(number, (hash.to_string(), calls as u64));
    }

    /// Counts, from the transactions table, the contract interactions of buffered blocks whose
    /// transactions landed before this sink started (or by another writer).
    pub(crate) async fn look_up(&mut self, txs: &mut LakeTable, covered_txs: &BlockRanges) -> Result<()> {
        let mut wanted: Vec<(u64, String, String)> = Vec::new();
        for (n, branches) in &self.calls {
            if self.expected.contains_key(n) || !covered_txs.contains(*n) {
                continue;
            }
            for (hash, calls) in branches {
                let Some((row, _, _)) = calls.values().next() else {
                    continue;
                };
                if !self.not_landed.contains(&(*n, hash.clone())) {
                    wanted.push((*n, hash.clone(), crate::block_date(row.block_timestamp)));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let blocks: Vec<(u64, String)> = wanted.iter().map(|(n, _, d)| (*n, d.clone())).collect();
        let mut found: HashMap<(u64, String), u64> = HashMap::new();
        for b in txs.landed_rows_of_blocks(&blocks).await? {
            let column = |name: &str| b.column_by_name(name).cloned();
            let (Some(numbers), Some(hashes), Some(kinds)) =
                (column("block_number"), column("block_hash"), column("tx_kind"))
            else {
                continue;
            };
            let numbers = numbers.as_primitive::<chainx_tables::arrow::datatypes::Int64Type>();
            let (hashes, kinds) = (hashes.as_string::<i32>(), kinds.as_string::<i32>());
            for i in 0..b.num_rows() {
                let Ok(n) = u64::try_from(numbers.value(i)) else {
                    continue;
                };
                let calls = found.entry((n, hashes.value(i).to_string())).or_default();
                if !kinds.is_null(i) && kinds.value(i) == TxKind::ContractInteraction.as_str() {
                    *calls += 1;
                }
            }
        }
        tracing::info!(
            blocks = wanted.len(),
            found = found.len(),
            "counted the contract interactions of blocks whose transactions landed before, in the transactions table"
        );
        for (n, hash, _) in wanted {
            match found.get(&(n, hash.clone())) {
                Some(calls) => {
                    self.expected.insert(n, (hash, *calls));
                }
                None => {
                    self.not_landed.insert((n, hash));
                }
            }
        }
        Ok(())
    }

    /// Takes out the blocks whose calls are all here: their rows (ordered as the chain) and
    /// the blocks they cover, empty ones included. Calls of other branches at those heights
    /// are dropped with them.
    pub(crate) fn take_ready(&mut self) -> (Vec<DecodedCallRow>, BlockRanges) {
        let ready: Vec<u64> = self
            .expected
            .iter()
            .filter(|(n, (hash, calls))| {
                let have = self.calls.get(n).and_then(|b| b.get(hash)).map_or(0, HashMap::len);
                have as u64 >= *calls
            })
            .map(|(n, _)| *n)
            .collect();
        let mut rows = Vec::new();
        let mut blocks = BlockRanges::new();
        for n in ready {
            let Some((hash, _)) = self.expected.remove(&n) else {
                continue;
            };
            blocks.insert(n, n);
            for (branch, calls) in self.calls.remove(&n).unwrap_or_default() {
                self.rows -= calls.len();
                for (row, tp, offset) in calls.into_values() {
                    self.offsets.release(&tp, offset);
                    if branch == hash {
                        rows.push(row);
                    }
                }
            }
        }
        let calls = &self.calls;
        self.not_landed.retain(|(n, _)| calls.contains_key(n));
        rows.sort_by_key(|r| (r.block_number, r.transaction_index));
        (rows, blocks)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chainx_evm::{DecodedCall, TransactionRow};

    use super::*;

    fn call(tx: &str, block: u64, block_hash: &str, index: u64) -> DecodedCallRow {
        let call: DecodedCall = serde_json::from_value(serde_json::json!({
            "decode_status": "unknown_selector", "decode_error": null, "selector": "0x12345678",
            "function_name": null, "signature": null, "args": [], "abi_source": null
        }))
        .unwrap();
        DecodedCallRow {
            hash: tx.to_string(),
            block_number: block,
            block_hash: block_hash.to_string(),
            block_timestamp: 1,
            transaction_index: index,
            from_address: "0xaa".to_string(),
            to_address: Some("0xbb".to_string()),
            call,
        }
    }

    const TX: &str = r#"{
        "hash": "0x", "nonce": 0, "block_hash": "0x", "block_number": 1, "transaction_index": 0,
        "from_address": "0xaa", "to_address": null, "value": "0", "gas": 1, "gas_price": null,
        "input": "0x", "block_timestamp": 1, "max_fee_per_gas": null, "max_priority_fee_per_gas": null,
        "transaction_type": null, "receipt_cumulative_gas_used": null, "receipt_gas_used": null,
        "receipt_contract_address": null, "receipt_status": null, "receipt_effective_gas_price": null,
        "tx_kind": "contract_deployment"
    }"#;

    fn tx<'a>(hash: &'a str, block_hash: &'a str, kind: TxKind) -> TransactionRow<&'a str> {
        let mut row: TransactionRow<&str> = serde_json::from_str(TX).unwrap();
        row.hash = hash;
        row.block_hash = block_hash;
        row.tx_kind = kind;
        row
    }

    #[test]
    fn a_block_lands_once_all_its_calls_are_here_and_an_empty_one_at_once() {
        let tp: Tp = (Arc::from("d"), 0);
        let mut d = DecodedCalls::default();
        d.on_call(call("0x1", 1, "0xb", 0), &tp, 0, false);
        d.on_call(call("0x1", 1, "0xb", 0), &tp, 1, false);
        d.on_call(call("0x1", 1, "0xold", 0), &tp, 2, false);
        assert_eq!(d.rows, 2, "a redelivery is kept once; another branch's copy apart");
        let (rows, blocks) = d.take_ready();
        assert!(
            rows.is_empty() && blocks.is_empty(),
            "nothing is due before its transactions land"
        );
        let interactions = [
            tx("0x1", "0xb", TxKind::ContractInteraction),
            tx("0x2", "0xb", TxKind::ContractInteraction),
            tx("0x3", "0xb", TxKind::NativeTokenTransfer),
        ];
        d.expect(1, "0xb", &interactions);
        d.expect(2, "0xc", &[tx("0x4", "0xc", TxKind::NativeTokenTransfer)]);
        let (rows, blocks) = d.take_ready();
        assert!(rows.is_empty());
        assert_eq!(blocks.to_string(), "2-2", "a block without calls is covered at once");
        d.on_call(call("0x2", 1, "0xb", 1), &tp, 3, false);
        let (rows, blocks) = d.take_ready();
        let hashes: Vec<(&str, &str)> = rows.iter().map(|r| (r.hash.as_str(), r.block_hash.as_str())).collect();
        assert_eq!(hashes, [("0x1", "0xb"), ("0x2", "0xb")]);
        assert_eq!(blocks.to_string(), "1-1");
        assert_eq!(d.rows, 0, "the other branch's copy left with the block");
        assert_eq!(d.offsets.resume_points(), vec![("chainx-sink:d:0".to_string(), 4)]);
    }

    #[test]
    fn calls_of_a_removed_block_are_dropped_now_and_when_they_come_late() {
        let tp: Tp = (Arc::from("d"), 0);
        let mut d = DecodedCalls::default();
        let block = |i: usize| RemovedBlock {
            number: i as u64,
            hash: format!("0x{i:x}"),
            date: "2024-01-01".to_string(),
        };
        d.on_call(call("0xa", 1, "0x1", 0), &tp, 0, false);
        d.remove_block(&block(1));
        assert_eq!(d.rows, 0);
        assert_eq!(
            d.offsets.resume_points()[0].1,
            1,
            "a dropped call does not pin the resume offset"
        );
        assert_eq!(std::mem::take(&mut d.removed).len(), 1);
        d.on_call(call("0xb", 1, "0x1", 1), &tp, 1, false);
        assert_eq!(d.rows, 0, "a late call of a removed block is dropped");
        // Memory stays bounded: the oldest hashes are forgotten first.
        for i in 2..RECENTLY_REMOVED + 2 {
            d.remove_block(&block(i));
        }
        assert_eq!(d.recently_removed.len(), RECENTLY_REMOVED);
        d.on_call(call("0xc", 1, "0x1", 1), &tp, 2, false);
        assert_eq!(d.rows, 1, "forgotten after {RECENTLY_REMOVED} reorgs");
    }
}
