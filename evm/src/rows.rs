//! Block and transaction rows in ethereum-etl / BigQuery `crypto_ethereum` terms: the one shape
//! both the streaming and the batch path land, so stream and batch give identical tables.
//!
//! Hashes and addresses are lowercase 0x hex; wei amounts stay `U256` (exact) until the lake
//! encodes them as Decimal(38,0).

use alloy_primitives::{Address, Bytes, B256, U256};
use serde::{Deserialize, Serialize};

pub(crate) use crate::decimal_text::{decimal, decimal_opt};
use crate::error::{Error, Result};
use crate::raw::{RpcBlock, RpcReceipt, RpcTransaction};

/// The original design's three transaction classes (its topics `mined.tx.{1,2,3}.*`). The
/// `Default` is only for rows built field by field in tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxKind {
    #[default]
    NativeTokenTransfer,
    ContractDeployment,
    ContractInteraction,
}

impl TxKind {
    /// `to` is checked first: a creation with empty init code still deploys an (empty) contract.
    /// Value sent to a contract with empty input is a native transfer, as the design defines it.
    pub fn classify(to: Option<&Address>, input: &[u8]) -> Self {
        match (to, input.is_empty()) {
            (None, _) => TxKind::ContractDeployment,
            (Some(_), true) => TxKind::NativeTokenTransfer,
            (Some(_), false) => TxKind::ContractInteraction,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TxKind::NativeTokenTransfer => "native_token_transfer",
            TxKind::ContractDeployment => "contract_deployment",
            TxKind::ContractInteraction => "contract_interaction",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Withdrawal {
    pub index: u64,
    pub validator_index: u64,
    pub address: String,
    #[serde(with = "decimal")]
    pub amount: U256,
}

/// Serialised (for Kafka messages) with the lake's column names; wei amounts as decimal
/// strings, because JSON numbers lose precision past 2^53 in most readers. `Default` (empty
/// strings and zeros) is for tests that build a block field by field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockRow {
    pub number: u64,
    pub hash: String,
    pub parent_hash: String,
    pub nonce: Option<String>,
    pub sha3_uncles: Option<String>,
    pub logs_bloom: Option<String>,
    pub transactions_root: Option<String>,
    pub state_root: Option<String>,
    pub receipts_root: Option<String>,
    pub miner: Option<String>,
    #[serde(default, with = "decimal_opt")]
    pub difficulty: Option<U256>,
    #[serde(default, with = "decimal_opt")]
    pub total_difficulty: Option<U256>,
    pub size: Option<u64>,
    pub extra_data: Option<String>,
    pub gas_limit: Option<u64>,
    pub gas_used: Option<u64>,
    /// Seconds since the Unix epoch, UTC.
    pub timestamp: u64,
    pub transaction_count: u64,
    #[serde(default, with = "decimal_opt")]
    pub base_fee_per_gas: Option<U256>,
    pub withdrawals_root: Option<String>,
    pub withdrawals: Option<Vec<Withdrawal>>,
    pub blob_gas_used: Option<u64>,
    pub excess_blob_gas: Option<u64>,
    pub parent_beacon_block_root: Option<String>,
    /// What the node sent that no column holds (a JSON object's text), `None` when nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<String>,
}

/// A `transactions` row. Generic over its text type so that a message can be read without
/// copying its strings (`TransactionRow<&str>` borrows them from the message; the sink reads
/// millions a minute); everywhere else it is `TransactionRow` with owned `String`s. `Default`
/// (empty strings and zeros) is for tests that build a row field by field.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransactionRow<S = String> {
    pub hash: S,
    pub nonce: u64,
    pub block_hash: S,
    pub block_number: u64,
    pub transaction_index: u64,
    pub from_address: S,
    pub to_address: Option<S>,
    #[serde(with = "decimal")]
    pub value: U256,
    pub gas: u64,
    #[serde(default, with = "decimal_opt")]
    pub gas_price: Option<U256>,
    pub input: S,
    pub block_timestamp: u64,
    #[serde(default, with = "decimal_opt")]
    pub max_fee_per_gas: Option<U256>,
    #[serde(default, with = "decimal_opt")]
    pub max_priority_fee_per_gas: Option<U256>,
    pub transaction_type: Option<u64>,
    pub receipt_cumulative_gas_used: Option<u64>,
    pub receipt_gas_used: Option<u64>,
    pub receipt_contract_address: Option<S>,
    pub receipt_status: Option<u64>,
    #[serde(default, with = "decimal_opt")]
    pub receipt_effective_gas_price: Option<U256>,
    pub tx_kind: TxKind,
    /// The columns below are null on most chains and most transactions, and are left out of a
    /// message when null: blobs (EIP-4844), authorizations (EIP-7702, the node's JSON),
    /// OP-stack deposits and L1 fees, Arbitrum's L1 gas, pre-Byzantium state roots.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "decimal_opt")]
    pub max_fee_per_blob_gas: Option<U256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob_versioned_hashes: Option<Vec<S>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_list: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_hash: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "decimal_opt")]
    pub mint: Option<U256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_system_tx: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_root: Option<S>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_blob_gas_used: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "decimal_opt")]
    pub receipt_blob_gas_price: Option<U256>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "decimal_opt")]
    pub receipt_l1_fee: Option<U256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_l1_gas_used: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "decimal_opt")]
    pub receipt_l1_gas_price: Option<U256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_l1_fee_scalar: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_l1_base_fee_scalar: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "decimal_opt")]
    pub receipt_l1_blob_base_fee: Option<U256>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_l1_blob_base_fee_scalar: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_gas_used_for_l1: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_l1_block_number: Option<u64>,
    /// What the node sent for the transaction and its receipt that no column holds (a JSON
    /// object's text; receipt fields prefixed `receipt_`), `None` when nothing. Owned even in
    /// a borrowed row: in a message it is an escaped string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra: Option<String>,
}

pub(crate) fn hex_b256(v: &B256) -> String {
    format!("{v:#x}")
}

pub(crate) fn hex_address(v: &Address) -> String {
    // LowerHex, not Display: Display is the EIP-55 mixed-case checksum form.
    format!("{v:#x}")
}

pub(crate) fn hex_bytes(v: &Bytes) -> String {
    format!("{v:#x}")
}

impl BlockRow {
    pub fn from_rpc<T>(b: &RpcBlock<T>) -> Self {
        BlockRow {
            number: b.number.to(),
            hash: hex_b256(&b.hash),
            parent_hash: hex_b256(&b.parent_hash),
            nonce: b.nonce.as_ref().map(hex_bytes),
            sha3_uncles: b.sha3_uncles.as_ref().map(hex_b256),
            logs_bloom: b.logs_bloom.as_ref().map(hex_bytes),
            transactions_root: b.transactions_root.as_ref().map(hex_b256),
            state_root: b.state_root.as_ref().map(hex_b256),
            receipts_root: b.receipts_root.as_ref().map(hex_b256),
            miner: b.miner.as_ref().map(hex_address),
            difficulty: b.difficulty,
            total_difficulty: b.total_difficulty,
            size: b.size.map(|v| v.to()),
            extra_data: b.extra_data.as_ref().map(hex_bytes),
            gas_limit: b.gas_limit.map(|v| v.to()),
            gas_used: b.gas_used.map(|v| v.to()),
            timestamp: b.timestamp.to(),
            transaction_count: b.transactions.len() as u64,
            base_fee_per_gas: b.base_fee_per_gas,
            withdrawals_root: b.withdrawals_root.as_ref().map(hex_b256),
            withdrawals: b.withdrawals.as_ref().map(|ws| {
                ws.iter()
                    .map(|w| Withdrawal {
                        index: w.index.to(),
                        validator_index: w.validator_index.to(),
                        address: hex_address(&w.address),
                        amount: w.amount,
                    })
                    .collect()
            }),
            blob_gas_used: b.blob_gas_used.map(|v| v.to()),
            excess_blob_gas: b.excess_blob_gas.map(|v| v.to()),
            parent_beacon_block_root: b.parent_beacon_block_root.as_ref().map(hex_b256),
            extra: b.extra.clone(),
        }
    }
}

impl TransactionRow {
    /// One row per transaction; `receipt` is `None` when receipts were not fetched.
    pub fn from_rpc(
        block: &RpcBlock,
        position: usize,
        tx: &RpcTransaction,
        receipt: Option<&RpcReceipt>,
    ) -> Result<Self> {
        let number: u64 = block.number.to();
        if let Some(r) = receipt {
            if r.transaction_hash != tx.hash {
                return Err(Error::Inconsistent {
                    block: number,
                    reason: format!(
                        "receipt {position} is for transaction {:#x}, not {:#x}",
                        r.transaction_hash, tx.hash
                    ),
                });
            }
        }
        Ok(Self::from_tx(
            &block.hash,
            number,
            block.timestamp.to(),
            position,
            tx,
            receipt,
        ))
    }

    /// One row from a transaction fetched on its own (`eth_getTransactionByHash`), with the
    /// block it was mined in: the same row as [`TransactionRow::from_rpc`] gives.
    pub fn from_tx(
        block_hash: &B256,
        block_number: u64,
        block_timestamp: u64,
        position: usize,
        tx: &RpcTransaction,
        receipt: Option<&RpcReceipt>,
    ) -> Self {
        TransactionRow {
            hash: hex_b256(&tx.hash),
            nonce: tx.nonce.to(),
            block_hash: hex_b256(block_hash),
            block_number,
            // The position in the block is authoritative; the node's index must agree with it.
            transaction_index: position as u64,
            from_address: hex_address(&tx.from),
            to_address: tx.to.as_ref().map(hex_address),
            value: tx.value,
            gas: tx.gas.to(),
            gas_price: tx.gas_price,
            input: hex_bytes(&tx.input),
            block_timestamp,
            max_fee_per_gas: tx.max_fee_per_gas,
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
            transaction_type: tx.transaction_type.map(|v| v.to()),
            receipt_cumulative_gas_used: receipt.map(|r| r.cumulative_gas_used.to()),
            receipt_gas_used: receipt.map(|r| r.gas_used.to()),
            receipt_contract_address: receipt.and_then(|r| r.contract_address.as_ref().map(hex_address)),
            receipt_status: receipt.and_then(|r| r.status.map(|s| s.to())),
            receipt_effective_gas_price: receipt.and_then(|r| r.effective_gas_price),
            tx_kind: TxKind::classify(tx.to.as_ref(), &tx.input),
            max_fee_per_blob_gas: tx.max_fee_per_blob_gas,
            blob_versioned_hashes: tx
                .blob_versioned_hashes
                .as_ref()
                .map(|hs| hs.iter().map(hex_b256).collect()),
            authorization_list: tx.authorization_list.as_ref().map(|a| a.get().to_string()),
            source_hash: tx.source_hash.as_ref().map(hex_b256),
            mint: tx.mint,
            is_system_tx: tx.is_system_tx,
            receipt_root: receipt.and_then(|r| r.root.as_ref().map(hex_b256)),
            receipt_blob_gas_used: receipt.and_then(|r| r.blob_gas_used.map(|v| v.to())),
            receipt_blob_gas_price: receipt.and_then(|r| r.blob_gas_price),
            receipt_l1_fee: receipt.and_then(|r| r.l1_fee),
            receipt_l1_gas_used: receipt.and_then(|r| r.l1_gas_used.map(|v| v.to())),
            receipt_l1_gas_price: receipt.and_then(|r| r.l1_gas_price),
            receipt_l1_fee_scalar: receipt.and_then(|r| r.l1_fee_scalar.clone()),
            receipt_l1_base_fee_scalar: receipt.and_then(|r| r.l1_base_fee_scalar.map(|v| v.to())),
            receipt_l1_blob_base_fee: receipt.and_then(|r| r.l1_blob_base_fee),
            receipt_l1_blob_base_fee_scalar: receipt.and_then(|r| r.l1_blob_base_fee_scalar.map(|v| v.to())),
            receipt_gas_used_for_l1: receipt.and_then(|r| r.gas_used_for_l1.map(|v| v.to())),
            receipt_l1_block_number: receipt.and_then(|r| r.l1_block_number.map(|v| v.to())),
            extra: crate::raw::object::merge_extra(tx.extra.as_deref(), receipt.and_then(|r| r.extra.as_deref())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_design() {
        let a = Address::repeat_byte(0xab);
        assert_eq!(TxKind::classify(Some(&a), &[]), TxKind::NativeTokenTransfer);
        assert_eq!(TxKind::classify(None, &[0x60]), TxKind::ContractDeployment);
        assert_eq!(TxKind::classify(None, &[]), TxKind::ContractDeployment);
        assert_eq!(TxKind::classify(Some(&a), &[0xa9, 0x05]), TxKind::ContractInteraction);
    }

    #[test]
    fn json_keeps_wei_exact_and_lake_names() {
        let big = U256::from(10u64).pow(U256::from(30u64)) + U256::from(1u64);
        let row = TransactionRow {
            hash: "0x01".into(),
            nonce: 1,
            block_hash: "0x02".into(),
            block_number: 7,
            transaction_index: 0,
            from_address: "0xaa".into(),
            to_address: None,
            value: big,
            gas: 21000,
            gas_price: Some(U256::from(3u64)),
            input: "0x".into(),
            block_timestamp: 1,
            max_fee_per_gas: None,
            max_priority_fee_per_gas: None,
            transaction_type: Some(2),
            receipt_cumulative_gas_used: None,
            receipt_gas_used: None,
            receipt_contract_address: None,
            receipt_status: None,
            receipt_effective_gas_price: None,
            tx_kind: TxKind::ContractDeployment,
            ..Default::default()
        };
        let v = serde_json::to_value(&row).unwrap();
        assert_eq!(v["value"], serde_json::json!("1000000000000000000000000000001"));
        assert_eq!(v["gas_price"], serde_json::json!("3"));
        assert_eq!(v["max_fee_per_gas"], serde_json::Value::Null);
        assert_eq!(v["tx_kind"], serde_json::json!("contract_deployment"));
        let back: TransactionRow = serde_json::from_value(v).unwrap();
        assert_eq!(back, row);
        // A float where a wei amount belongs is refused, not rounded.
        let mut bad = serde_json::to_value(&row).unwrap();
        bad["value"] = serde_json::json!(1.5);
        let e = serde_json::from_value::<TransactionRow>(bad).unwrap_err().to_string();
        assert!(e.contains("whole wei amount"), "{e}");
        // Beyond 128 bits, whole numbers, and what is not a wei amount.
        let wei = |v: serde_json::Value| {
            let mut t = serde_json::to_value(&row).unwrap();
            t["value"] = v;
            serde_json::from_value::<TransactionRow>(t).map(|r| r.value)
        };
        let big: U256 = U256::from(1u8) << 200usize;
        assert_eq!(wei(serde_json::json!(big.to_string())).unwrap(), big);
        assert_eq!(wei(serde_json::json!(7)).unwrap(), U256::from(7u8));
        for bad in [
            serde_json::json!(-1),
            serde_json::json!("+5"),
            serde_json::json!("0x10"),
            serde_json::json!(""),
        ] {
            assert!(wei(bad.clone()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn addresses_are_lowercase_not_checksummed() {
        let a: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap();
        assert_eq!(hex_address(&a), "0x5fbdb2315678afecb367f032d93f642f64180aa3");
    }
}

/// One decoded contract call: the transaction's identity, then the decoded function (or
/// `decode_status` and `decode_error` saying why not). The decoded topic's message and a row of
/// the lake's `decoded_calls` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodedCallRow {
    pub hash: String,
    pub block_number: u64,
    pub block_hash: String,
    pub block_timestamp: u64,
    pub transaction_index: u64,
    pub from_address: String,
    pub to_address: Option<String>,
    #[serde(flatten)]
    pub call: crate::abi::DecodedCall,
}

impl DecodedCallRow {
    pub fn new(tx: &TransactionRow, call: crate::abi::DecodedCall) -> Self {
        DecodedCallRow {
            hash: tx.hash.clone(),
            block_number: tx.block_number,
            block_hash: tx.block_hash.clone(),
            block_timestamp: tx.block_timestamp,
            transaction_index: tx.transaction_index,
            from_address: tx.from_address.clone(),
            to_address: tx.to_address.clone(),
            call,
        }
    }
}
