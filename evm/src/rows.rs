//! Block and transaction rows in ethereum-etl / BigQuery `crypto_ethereum` terms: the one shape
//! both the streaming and the batch path land, so stream and batch give identical tables.
//!
//! Hashes and addresses are lowercase 0x hex; wei amounts stay `U256` (exact) until the lake
//! encodes them as Decimal(38,0).

use alloy_primitives::{Address, Bytes, B256, U256};

use crate::error::{Error, Result};
use crate::raw::{RpcBlock, RpcReceipt, RpcTransaction};

/// The original design's three transaction classes (its topics `mined.tx.{1,2,3}.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxKind {
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

#[derive(Debug, Clone, PartialEq)]
pub struct Withdrawal {
    pub index: u64,
    pub validator_index: u64,
    pub address: String,
    pub amount: U256,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlockRow {
    pub number: u64,
    pub hash: String,
    pub parent_hash: String,
    pub nonce: Option<String>,
    pub sha3_uncles: String,
    pub logs_bloom: String,
    pub transactions_root: String,
    pub state_root: String,
    pub receipts_root: String,
    pub miner: String,
    pub difficulty: U256,
    pub total_difficulty: Option<U256>,
    pub size: Option<u64>,
    pub extra_data: String,
    pub gas_limit: u64,
    pub gas_used: u64,
    /// Seconds since the Unix epoch, UTC.
    pub timestamp: u64,
    pub transaction_count: u64,
    pub base_fee_per_gas: Option<U256>,
    pub withdrawals_root: Option<String>,
    pub withdrawals: Option<Vec<Withdrawal>>,
    pub blob_gas_used: Option<u64>,
    pub excess_blob_gas: Option<u64>,
    pub parent_beacon_block_root: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TransactionRow {
    pub hash: String,
    pub nonce: u64,
    pub block_hash: String,
    pub block_number: u64,
    pub transaction_index: u64,
    pub from_address: String,
    pub to_address: Option<String>,
    pub value: U256,
    pub gas: u64,
    pub gas_price: Option<U256>,
    pub input: String,
    pub block_timestamp: u64,
    pub max_fee_per_gas: Option<U256>,
    pub max_priority_fee_per_gas: Option<U256>,
    pub transaction_type: Option<u64>,
    pub receipt_cumulative_gas_used: Option<u64>,
    pub receipt_gas_used: Option<u64>,
    pub receipt_contract_address: Option<String>,
    pub receipt_status: Option<u64>,
    pub receipt_effective_gas_price: Option<U256>,
    pub tx_kind: TxKind,
}

pub(crate) fn hex_b256(v: &B256) -> String {
    format!("{v:#x}")
}

pub(crate) fn hex_address(v: &Address) -> String {
    // LowerHex, not Display: Display is the EIP-55 mixed-case checksum form.
    format!("{v:#x}")
}

fn hex_bytes(v: &Bytes) -> String {
    format!("{v:#x}")
}

impl BlockRow {
    pub fn from_rpc(b: &RpcBlock) -> Self {
        BlockRow {
            number: b.number.to(),
            hash: hex_b256(&b.hash),
            parent_hash: hex_b256(&b.parent_hash),
            nonce: b.nonce.as_ref().map(hex_bytes),
            sha3_uncles: hex_b256(&b.sha3_uncles),
            logs_bloom: hex_bytes(&b.logs_bloom),
            transactions_root: hex_b256(&b.transactions_root),
            state_root: hex_b256(&b.state_root),
            receipts_root: hex_b256(&b.receipts_root),
            miner: hex_address(&b.miner),
            difficulty: b.difficulty,
            total_difficulty: b.total_difficulty,
            size: b.size.map(|v| v.to()),
            extra_data: hex_bytes(&b.extra_data),
            gas_limit: b.gas_limit.to(),
            gas_used: b.gas_used.to(),
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
        Ok(TransactionRow {
            hash: hex_b256(&tx.hash),
            nonce: tx.nonce.to(),
            block_hash: hex_b256(&block.hash),
            block_number: number,
            // The position in the block is authoritative; the node's index must agree with it.
            transaction_index: position as u64,
            from_address: hex_address(&tx.from),
            to_address: tx.to.as_ref().map(hex_address),
            value: tx.value,
            gas: tx.gas.to(),
            gas_price: tx.gas_price,
            input: hex_bytes(&tx.input),
            block_timestamp: block.timestamp.to(),
            max_fee_per_gas: tx.max_fee_per_gas,
            max_priority_fee_per_gas: tx.max_priority_fee_per_gas,
            transaction_type: tx.transaction_type.map(|v| v.to()),
            receipt_cumulative_gas_used: receipt.map(|r| r.cumulative_gas_used.to()),
            receipt_gas_used: receipt.map(|r| r.gas_used.to()),
            receipt_contract_address: receipt.and_then(|r| r.contract_address.as_ref().map(hex_address)),
            receipt_status: receipt.and_then(|r| r.status.map(|s| s.to())),
            receipt_effective_gas_price: receipt.and_then(|r| r.effective_gas_price),
            tx_kind: TxKind::classify(tx.to.as_ref(), &tx.input),
        })
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
    fn addresses_are_lowercase_not_checksummed() {
        let a: Address = "0x5FbDB2315678afecb367f032d93F642f64180aa3".parse().unwrap();
        assert_eq!(hex_address(&a), "0x5fbdb2315678afecb367f032d93f642f64180aa3");
    }
}
