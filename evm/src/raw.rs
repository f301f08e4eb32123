//! The node's JSON-RPC replies, typed with alloy primitives.
//!
//! Own structs rather than alloy's consensus-validated RPC types: chainx must read what real
//! nodes of every era and chain return (pre-Byzantium receipts without `status`, blocks without
//! `size` or `totalDifficulty`, L2 extras), and must name the offending field when a reply is
//! malformed. Unknown fields are ignored; absent optional fields become `None`.

use alloy_primitives::{Address, Bytes, B256, U256, U64};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, Result};

/// A block; `T` is [`RpcTransaction`] for `eth_getBlockByNumber(n, true)`, or a hash (`B256`)
/// for `eth_getBlockByNumber(n, false)`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcBlock<T = RpcTransaction> {
    pub number: U64,
    pub hash: B256,
    pub parent_hash: B256,
    #[serde(default)]
    pub nonce: Option<Bytes>,
    pub sha3_uncles: B256,
    pub logs_bloom: Bytes,
    pub transactions_root: B256,
    pub state_root: B256,
    pub receipts_root: B256,
    pub miner: Address,
    pub difficulty: U256,
    #[serde(default)]
    pub total_difficulty: Option<U256>,
    #[serde(default)]
    pub size: Option<U64>,
    pub extra_data: Bytes,
    pub gas_limit: U64,
    pub gas_used: U64,
    pub timestamp: U64,
    #[serde(default)]
    pub base_fee_per_gas: Option<U256>,
    #[serde(default)]
    pub withdrawals_root: Option<B256>,
    #[serde(default)]
    pub withdrawals: Option<Vec<RpcWithdrawal>>,
    #[serde(default)]
    pub blob_gas_used: Option<U64>,
    #[serde(default)]
    pub excess_blob_gas: Option<U64>,
    #[serde(default)]
    pub parent_beacon_block_root: Option<B256>,
    pub transactions: Vec<T>,
}

impl<T> RpcBlock<T> {
    /// The block without its transactions: a header standing in for a full block where only
    /// the header's fields are read.
    pub fn without_transactions<U>(self) -> RpcBlock<U> {
        RpcBlock {
            number: self.number,
            hash: self.hash,
            parent_hash: self.parent_hash,
            nonce: self.nonce,
            sha3_uncles: self.sha3_uncles,
            logs_bloom: self.logs_bloom,
            transactions_root: self.transactions_root,
            state_root: self.state_root,
            receipts_root: self.receipts_root,
            miner: self.miner,
            difficulty: self.difficulty,
            total_difficulty: self.total_difficulty,
            size: self.size,
            extra_data: self.extra_data,
            gas_limit: self.gas_limit,
            gas_used: self.gas_used,
            timestamp: self.timestamp,
            base_fee_per_gas: self.base_fee_per_gas,
            withdrawals_root: self.withdrawals_root,
            withdrawals: self.withdrawals,
            blob_gas_used: self.blob_gas_used,
            excess_blob_gas: self.excess_blob_gas,
            parent_beacon_block_root: self.parent_beacon_block_root,
            transactions: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcWithdrawal {
    pub index: U64,
    pub validator_index: U64,
    pub address: Address,
    /// In gwei, as the consensus layer counts.
    pub amount: U256,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcTransaction {
    pub hash: B256,
    pub nonce: U64,
    #[serde(default)]
    pub block_hash: Option<B256>,
    #[serde(default)]
    pub block_number: Option<U64>,
    #[serde(default)]
    pub transaction_index: Option<U64>,
    pub from: Address,
    #[serde(default)]
    pub to: Option<Address>,
    pub value: U256,
    pub gas: U64,
    #[serde(default)]
    pub gas_price: Option<U256>,
    pub input: Bytes,
    #[serde(default)]
    pub max_fee_per_gas: Option<U256>,
    #[serde(default)]
    pub max_priority_fee_per_gas: Option<U256>,
    #[serde(default, rename = "type")]
    pub transaction_type: Option<U64>,
}

/// A receipt; `L` is [`RpcLog`], or [`SkippedLog`] for a reader that needs no logs.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "L: Deserialize<'de>"))]
pub struct RpcReceipt<L = RpcLog> {
    pub transaction_hash: B256,
    pub cumulative_gas_used: U64,
    pub gas_used: U64,
    #[serde(default)]
    pub contract_address: Option<Address>,
    /// Absent before Byzantium (those receipts carry a state `root` instead).
    #[serde(default)]
    pub status: Option<U64>,
    #[serde(default)]
    pub effective_gas_price: Option<U256>,
    /// Empty for a reverted transaction: its logs were rolled back with it.
    #[serde(default)]
    pub logs: Vec<L>,
}

/// A log read past without decoding its hex: a backfill of `blocks` and `transactions` needs
/// the receipts' gas and status, not their logs, which are most of
/// a mainnet block's receipts.
#[derive(Debug, Clone, Copy)]
pub struct SkippedLog;

impl<'de> Deserialize<'de> for SkippedLog {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d).map(|_| SkippedLog)
    }
}

impl From<RpcReceipt<SkippedLog>> for RpcReceipt {
    /// The receipt with no logs (they were not read).
    fn from(r: RpcReceipt<SkippedLog>) -> Self {
        RpcReceipt {
            transaction_hash: r.transaction_hash,
            cumulative_gas_used: r.cumulative_gas_used,
            gas_used: r.gas_used,
            contract_address: r.contract_address,
            status: r.status,
            effective_gas_price: r.effective_gas_price,
            logs: Vec::new(),
        }
    }
}

/// One log of a receipt (or of `eth_getLogs`). The block and transaction fields repeat what the
/// receipt and block say; chainx takes those from the block, and `log_index` from here.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcLog {
    pub address: Address,
    pub topics: Vec<B256>,
    pub data: Bytes,
    /// The log's position in the block. Absent only from nodes that predate it in receipts.
    #[serde(default)]
    pub log_index: Option<U64>,
}

/// Parses one reply, naming the block, the object and the JSON path of a bad field.
pub fn parse<'de, T: Deserialize<'de>>(raw: &'de RawValue, block: u64, object: &'static str) -> Result<T> {
    // Tracking the path of every field costs on every reply; only a reply that fails needs it,
    // so that one is parsed a second time, with the tracking, to name the field.
    if let Ok(parsed) = serde_json::from_str(raw.get()) {
        return Ok(parsed);
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        Error::MalformedField {
            block,
            object,
            field: if field == "." {
                "<whole reply>".to_string()
            } else {
                field
            },
            reason: e.into_inner().to_string(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    const TX: &str = r#"{"hash":"0x0000000000000000000000000000000000000000000000000000000000000001",
        "nonce":"0x1","from":"0x00000000000000000000000000000000000000aa","to":null,
        "value":"0xde0b6b3a7640000","gas":"0x5208","input":"0x"}"#;

    #[test]
    fn absent_optionals_are_none() {
        let tx: RpcTransaction = parse(&raw(TX), 7, "transaction").unwrap();
        assert!(tx.to.is_none() && tx.gas_price.is_none() && tx.transaction_type.is_none());
        assert_eq!(tx.value, U256::from(10u64.pow(18)));
    }

    #[test]
    fn a_receipt_read_past_its_logs_keeps_everything_else() {
        let receipt = r#"{"transactionHash":"0x0000000000000000000000000000000000000000000000000000000000000002",
            "cumulativeGasUsed":"0xa410","gasUsed":"0x5208","contractAddress":null,"status":"0x1",
            "effectiveGasPrice":"0x3b9aca00","logsBloom":"0x00","logs":[{"address":
            "0x00000000000000000000000000000000000000bb","topics":[],"data":"0x01","logIndex":"0x0"}]}"#;
        let full: RpcReceipt = parse(&raw(receipt), 3, "receipt").unwrap();
        let skipped: RpcReceipt = parse::<RpcReceipt<SkippedLog>>(&raw(receipt), 3, "receipt")
            .unwrap()
            .into();
        assert_eq!(full.logs.len(), 1);
        assert!(skipped.logs.is_empty());
        assert_eq!(
            (
                skipped.transaction_hash,
                skipped.cumulative_gas_used,
                skipped.gas_used,
                skipped.status
            ),
            (
                full.transaction_hash,
                full.cumulative_gas_used,
                full.gas_used,
                full.status
            )
        );
        assert_eq!(skipped.effective_gas_price, full.effective_gas_price);
        // The fields it keeps are still checked.
        let bad = receipt.replace(r#""gasUsed":"0x5208""#, r#""gasUsed":"0xq""#);
        let msg = parse::<RpcReceipt<SkippedLog>>(&raw(&bad), 3, "receipt")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("block 3") && msg.contains("gasUsed"), "{msg}");
    }

    #[test]
    fn wrong_hex_names_block_and_field() {
        let bad = TX.replace("\"0xde0b6b3a7640000\"", "\"0xzz\"");
        let err = parse::<RpcTransaction>(&raw(&bad), 7, "transaction").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("block 7") && msg.contains("`value`"), "{msg}");
    }

    #[test]
    fn missing_field_is_named() {
        let bad = TX.replace(r#""gas":"0x5208","#, "");
        let msg = parse::<RpcTransaction>(&raw(&bad), 9, "transaction")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("block 9") && msg.contains("gas"), "{msg}");
    }
}
