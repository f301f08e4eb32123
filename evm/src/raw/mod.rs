//! The node's JSON-RPC replies, typed with alloy primitives.
//!
//! Own structs rather than alloy's consensus-validated RPC types: chainx must read what real
//! nodes of every era and chain return (pre-Byzantium receipts without `status`, blocks without
//! `size` or `totalDifficulty`, L2 extras), and must name the offending field when a reply is
//! malformed. Fields no column holds are kept in each object's `extra` ([`object`]); absent
//! optional fields become `None`.

use alloy_primitives::{Address, Bytes, B256, U256, U64};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{Error, Result};

pub mod object;

use object::rpc_object;

rpc_object! {
    /// A block; `T` is [`RpcTransaction`] for `eth_getBlockByNumber(n, true)`, or a hash (`B256`)
    /// for `eth_getBlockByNumber(n, false)`. Only what every chain sends is required: Celo sends
    /// no `difficulty` or `gasLimit`, and chains differ in the rest of the header.
    pub struct RpcBlock<T = RpcTransaction> {
        req number: U64 = "number",
        req hash: B256 = "hash",
        req parent_hash: B256 = "parentHash",
        opt nonce: Option<Bytes> = "nonce",
        opt sha3_uncles: Option<B256> = "sha3Uncles",
        opt logs_bloom: Option<Bytes> = "logsBloom",
        opt transactions_root: Option<B256> = "transactionsRoot",
        opt state_root: Option<B256> = "stateRoot",
        opt receipts_root: Option<B256> = "receiptsRoot",
        opt miner: Option<Address> = "miner",
        opt difficulty: Option<U256> = "difficulty",
        opt total_difficulty: Option<U256> = "totalDifficulty",
        opt size: Option<U64> = "size",
        opt extra_data: Option<Bytes> = "extraData",
        opt gas_limit: Option<U64> = "gasLimit",
        opt gas_used: Option<U64> = "gasUsed",
        req timestamp: U64 = "timestamp",
        opt base_fee_per_gas: Option<U256> = "baseFeePerGas",
        opt withdrawals_root: Option<B256> = "withdrawalsRoot",
        opt withdrawals: Option<Vec<RpcWithdrawal>> = "withdrawals",
        opt blob_gas_used: Option<U64> = "blobGasUsed",
        opt excess_blob_gas: Option<U64> = "excessBlobGas",
        opt parent_beacon_block_root: Option<B256> = "parentBeaconBlockRoot",
        req transactions: Vec<T> = "transactions",
    }
    repeats: [],
    prefix: "",
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
            extra: self.extra,
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

rpc_object! {
    /// A transaction, with the fields of every type chainx knows: EIP-1559 fees, blobs
    /// (EIP-4844), authorizations (EIP-7702) and OP-stack deposits (`0x7e`).
    pub struct RpcTransaction {
        req hash: B256 = "hash",
        req nonce: U64 = "nonce",
        opt block_hash: Option<B256> = "blockHash",
        opt block_number: Option<U64> = "blockNumber",
        opt transaction_index: Option<U64> = "transactionIndex",
        req from: Address = "from",
        opt to: Option<Address> = "to",
        req value: U256 = "value",
        req gas: U64 = "gas",
        opt gas_price: Option<U256> = "gasPrice",
        req input: Bytes = "input",
        opt max_fee_per_gas: Option<U256> = "maxFeePerGas",
        opt max_priority_fee_per_gas: Option<U256> = "maxPriorityFeePerGas",
        opt transaction_type: Option<U64> = "type",
        opt max_fee_per_blob_gas: Option<U256> = "maxFeePerBlobGas",
        opt blob_versioned_hashes: Option<Vec<B256>> = "blobVersionedHashes",
        /// Kept as the node sent it: a list of signed (chain id, address, nonce) tuples.
        opt authorization_list: Option<Box<RawValue>> = "authorizationList",
        opt source_hash: Option<B256> = "sourceHash",
        opt mint: Option<U256> = "mint",
        opt is_system_tx: Option<bool> = "isSystemTx",
    }
    // erigon adds the block's timestamp to each transaction; the block row has it.
    repeats: ["blockTimestamp"],
    prefix: "",
}

rpc_object! {
    /// A receipt; `L` is [`RpcLog`], or [`SkippedLog`] for a reader that needs no logs. Its
    /// unknown fields are kept with a `receipt_` prefix, as its columns are named.
    pub struct RpcReceipt<L = RpcLog> {
        req transaction_hash: B256 = "transactionHash",
        req cumulative_gas_used: U64 = "cumulativeGasUsed",
        req gas_used: U64 = "gasUsed",
        opt contract_address: Option<Address> = "contractAddress",
        /// Absent before Byzantium (those receipts carry a state `root` instead).
        opt status: Option<U64> = "status",
        opt root: Option<B256> = "root",
        opt effective_gas_price: Option<U256> = "effectiveGasPrice",
        opt blob_gas_used: Option<U64> = "blobGasUsed",
        opt blob_gas_price: Option<U256> = "blobGasPrice",
        /// OP stack: the L1 data fee and what it was computed from.
        opt l1_fee: Option<U256> = "l1Fee",
        opt l1_gas_used: Option<U64> = "l1GasUsed",
        opt l1_gas_price: Option<U256> = "l1GasPrice",
        /// Before Ecotone a decimal fraction as text (`"0.684"`), so kept as text.
        opt l1_fee_scalar: Option<String> = "l1FeeScalar",
        opt l1_base_fee_scalar: Option<U64> = "l1BaseFeeScalar",
        opt l1_blob_base_fee: Option<U256> = "l1BlobBaseFee",
        opt l1_blob_base_fee_scalar: Option<U64> = "l1BlobBaseFeeScalar",
        /// Arbitrum: the gas that paid for L1 data, and the L1 block the L2 block follows.
        opt gas_used_for_l1: Option<U64> = "gasUsedForL1",
        opt l1_block_number: Option<U64> = "l1BlockNumber",
        /// Empty for a reverted transaction: its logs were rolled back with it.
        vec logs: Vec<L> = "logs",
    }
    // What the transaction and block already say; the bloom is derived from the logs.
    repeats: ["blockHash", "blockNumber", "transactionIndex", "from", "to", "type", "logsBloom"],
    prefix: "receipt_",
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
            root: r.root,
            effective_gas_price: r.effective_gas_price,
            blob_gas_used: r.blob_gas_used,
            blob_gas_price: r.blob_gas_price,
            l1_fee: r.l1_fee,
            l1_gas_used: r.l1_gas_used,
            l1_gas_price: r.l1_gas_price,
            l1_fee_scalar: r.l1_fee_scalar,
            l1_base_fee_scalar: r.l1_base_fee_scalar,
            l1_blob_base_fee: r.l1_blob_base_fee,
            l1_blob_base_fee_scalar: r.l1_blob_base_fee_scalar,
            gas_used_for_l1: r.gas_used_for_l1,
            l1_block_number: r.l1_block_number,
            logs: Vec::new(),
            extra: r.extra,
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
    fn what_no_field_holds_is_kept_and_what_repeats_is_not() {
        let tx = TX.replace(
            r#""input":"0x""#,
            r#""input":"0x","v":"0x1","accessList":[{"address":"0x00000000000000000000000000000000000000aa","storageKeys":[]}],"blockTimestamp":"0x5""#,
        );
        let tx: RpcTransaction = parse(&raw(&tx), 7, "transaction").unwrap();
        let extra: serde_json::Value = serde_json::from_str(tx.extra.as_deref().unwrap()).unwrap();
        assert_eq!(
            extra,
            serde_json::json!({"v": "0x1", "access_list": [{"address": "0x00000000000000000000000000000000000000aa", "storageKeys": []}]})
        );
        let plain: RpcTransaction = parse(&raw(TX), 7, "transaction").unwrap();
        assert_eq!(plain.extra, None);

        let receipt = r#"{"transactionHash":"0x0000000000000000000000000000000000000000000000000000000000000002",
            "cumulativeGasUsed":"0x0","gasUsed":"0x0","status":"0x1","blockNumber":"0x7","from":
            "0x00000000000000000000000000000000000000aa","logsBloom":"0x00","gasUsedForL1":"0x9",
            "timeboosted":null,"logs":[]}"#;
        let receipt: RpcReceipt = parse(&raw(receipt), 7, "receipt").unwrap();
        assert_eq!(receipt.gas_used_for_l1, Some(U64::from(9)));
        assert_eq!(receipt.extra.as_deref(), Some(r#"{"receipt_timeboosted":null}"#));
    }

    #[test]
    fn a_header_needs_only_what_every_chain_sends() {
        let header = r#"{"number":"0x1","hash":"0x0000000000000000000000000000000000000000000000000000000000000003",
            "parentHash":"0x0000000000000000000000000000000000000000000000000000000000000002",
            "timestamp":"0x5","transactions":[],"mixHash":"0x00","l1BlockNumber":"0x897f00"}"#;
        let block: RpcBlock<B256> = parse(&raw(header), 1, "block").unwrap();
        assert!(block.difficulty.is_none() && block.gas_limit.is_none() && block.miner.is_none());
        assert_eq!(
            block.extra.as_deref(),
            Some(r#"{"mix_hash":"0x00","l1_block_number":"0x897f00"}"#)
        );
        // What is required is still named when missing.
        let bad = header.replace(r#""timestamp":"0x5","#, "");
        let msg = parse::<RpcBlock<B256>>(&raw(&bad), 1, "block").unwrap_err().to_string();
        assert!(msg.contains("timestamp"), "{msg}");
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
