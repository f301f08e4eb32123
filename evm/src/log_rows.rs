//! Rows derived from a block's logs, in ethereum-etl / BigQuery `crypto_ethereum` terms:
//! `logs`, `token_transfers` (ERC-20, ERC-721 and ERC-1155, told apart by the log's shape) and
//! `decoded_events`. All of them come from the receipts the block was fetched with: no provider
//! request of their own.

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::abi::events::DecodedEvent;
use crate::abi::AbiSource;
use crate::error::{Error, Result};
use crate::raw::{RpcBlock, RpcLog, RpcReceipt};
use crate::rows::{decimal, hex_address, hex_b256, hex_bytes};

/// `Transfer(address,address,uint256)`: ERC-20 and ERC-721.
pub const TRANSFER_TOPIC: B256 =
    alloy_primitives::b256!("ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");
/// `TransferSingle(address,address,address,uint256,uint256)`: ERC-1155.
pub const TRANSFER_SINGLE_TOPIC: B256 =
    alloy_primitives::b256!("c3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62");
/// `TransferBatch(address,address,address,uint256[],uint256[])`: ERC-1155.
pub const TRANSFER_BATCH_TOPIC: B256 =
    alloy_primitives::b256!("4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb");

/// A `logs` row. `log_index` is the log's position in the block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRow {
    pub log_index: u64,
    pub transaction_hash: String,
    pub transaction_index: u64,
    pub address: String,
    pub data: String,
    pub topics: Vec<String>,
    pub block_timestamp: u64,
    pub block_number: u64,
    pub block_hash: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStandard {
    Erc20,
    Erc721,
    Erc1155,
}

impl TokenStandard {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStandard::Erc20 => "erc20",
            TokenStandard::Erc721 => "erc721",
            TokenStandard::Erc1155 => "erc1155",
        }
    }
}

/// A `token_transfers` row. `value` keeps BigQuery's meaning (the amount; for ERC-721 the token
/// id, as ethereum-etl lands it); `token_id` is the id for ERC-721 and ERC-1155. An ERC-1155
/// `TransferBatch` is one row per id, `batch_index` its position in the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenTransferRow {
    pub token_address: String,
    pub from_address: String,
    pub to_address: String,
    #[serde(with = "decimal")]
    pub value: U256,
    pub transaction_hash: String,
    pub transaction_index: u64,
    pub log_index: u64,
    pub block_timestamp: u64,
    pub block_number: u64,
    pub block_hash: String,
    pub token_standard: TokenStandard,
    #[serde(default, with = "crate::rows::decimal_opt")]
    pub token_id: Option<U256>,
    pub batch_index: Option<u64>,
    pub operator: Option<String>,
}

/// A `decoded_events` row: the log's identity and its decoded event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodedEventRow {
    pub block_number: u64,
    pub block_timestamp: u64,
    pub block_hash: String,
    pub transaction_hash: String,
    pub transaction_index: u64,
    pub log_index: u64,
    pub contract_address: String,
    pub event_name: String,
    pub event_signature: String,
    /// The arguments as a JSON object by name; integers as decimal strings (exact).
    pub args: String,
    pub abi_source: AbiSource,
}

impl DecodedEventRow {
    pub fn new(log: &LogRow, event: DecodedEvent, source: AbiSource) -> Self {
        DecodedEventRow {
            block_number: log.block_number,
            block_timestamp: log.block_timestamp,
            block_hash: log.block_hash.clone(),
            transaction_hash: log.transaction_hash.clone(),
            transaction_index: log.transaction_index,
            log_index: log.log_index,
            contract_address: log.address.clone(),
            event_name: event.event_name,
            event_signature: event.event_signature,
            args: serde_json::Value::Object(event.args).to_string(),
            abi_source: source,
        }
    }
}

impl LogRow {
    /// The log parsed back from its hex columns, as a reader of the logs topic has it; `None`
    /// if a column is not hex of the right size.
    pub fn to_block_log(&self) -> Option<BlockLog> {
        Some(BlockLog {
            address: self.address.parse().ok()?,
            topics: self.topics.iter().map(|t| t.parse().ok()).collect::<Option<_>>()?,
            data: self.data.parse().ok()?,
            row: self.clone(),
        })
    }
}

/// The events `abis` decodes among `logs`, and how many logs of a known event did not decode
/// (those are left out, never an error).
pub async fn decode_events<'a>(
    abis: &mut crate::AbiRegistry,
    logs: impl IntoIterator<Item = &'a BlockLog>,
) -> (Vec<DecodedEventRow>, u64) {
    let mut rows = Vec::new();
    let mut undecodable = 0;
    for log in logs {
        match abis.decode_log(log.address, &log.topics, &log.data).await {
            (crate::abi::events::EventOutcome::Decoded(event), Some(source)) => {
                rows.push(DecodedEventRow::new(&log.row, event, source));
            }
            (crate::abi::events::EventOutcome::Undecodable(_), _) => undecodable += 1,
            _ => {}
        }
    }
    (rows, undecodable)
}

/// A log as the decoders read it: typed, with its row.
#[derive(Debug, Clone)]
pub struct BlockLog {
    pub address: Address,
    pub topics: Vec<B256>,
    pub data: alloy_primitives::Bytes,
    pub row: LogRow,
}

/// Whether `receipts` are the block's: one per transaction, in order, and then perhaps receipts
/// of transactions the block does not list. Polygon PoS nodes answer `eth_getBlockReceipts`
/// with the block's state-sync receipt after the others while leaving its transaction out of
/// the block; its logs (bridged deposits) are real and land, at the position after the last
/// transaction.
pub fn receipts_fit(block: &RpcBlock, receipts: &[RpcReceipt]) -> bool {
    let txs = &block.transactions;
    receipts.len() >= txs.len()
        && receipts.iter().zip(txs).all(|(r, t)| r.transaction_hash == t.hash)
        && receipts[txs.len()..]
            .iter()
            .all(|r| txs.iter().all(|t| t.hash != r.transaction_hash))
}

/// The logs of a block, from its receipts (in transaction order). `log_index` is the node's;
/// one without it is numbered by position in the block.
pub fn block_logs(block: &RpcBlock, receipts: &[RpcReceipt]) -> Result<Vec<BlockLog>> {
    let number: u64 = block.number.to();
    if !receipts_fit(block, receipts) {
        return Err(Error::Inconsistent {
            block: number,
            reason: format!(
                "{} receipts for {} transactions",
                receipts.len(),
                block.transactions.len()
            ),
        });
    }
    let block_hash = hex_b256(&block.hash);
    let mut out = Vec::with_capacity(receipts.iter().map(|r| r.logs.len()).sum());
    for (position, receipt) in receipts.iter().enumerate() {
        let transaction_hash = hex_b256(&receipt.transaction_hash);
        for log in &receipt.logs {
            let log_index = log.log_index.map_or(out.len() as u64, |i| i.to());
            out.push(BlockLog::new(
                log,
                log_index,
                &transaction_hash,
                position,
                block,
                &block_hash,
            ));
        }
    }
    Ok(out)
}

impl BlockLog {
    fn new(log: &RpcLog, log_index: u64, tx_hash: &str, position: usize, block: &RpcBlock, block_hash: &str) -> Self {
        BlockLog {
            address: log.address,
            topics: log.topics.clone(),
            data: log.data.clone(),
            row: LogRow {
                log_index,
                transaction_hash: tx_hash.to_string(),
                transaction_index: position as u64,
                address: hex_address(&log.address),
                data: hex_bytes(&log.data),
                topics: log.topics.iter().map(hex_b256).collect(),
                block_timestamp: block.timestamp.to(),
                block_number: block.number.to(),
                block_hash: block_hash.to_string(),
            },
        }
    }

    /// The token transfers this log records: none, one, or one per id of an ERC-1155 batch.
    /// A log of a transfer event that does not have a transfer's shape records none.
    pub fn token_transfers(&self) -> Vec<TokenTransferRow> {
        let Some(selector) = self.topics.first() else {
            return Vec::new();
        };
        let words: Vec<B256> = if self.data.len().is_multiple_of(32) {
            self.data.chunks(32).map(B256::from_slice).collect()
        } else {
            return Vec::new();
        };
        let row = |standard, from: &B256, to: &B256, value, token_id, batch_index, operator: Option<&B256>| {
            TokenTransferRow {
                token_address: self.row.address.clone(),
                from_address: word_address(from),
                to_address: word_address(to),
                value,
                transaction_hash: self.row.transaction_hash.clone(),
                transaction_index: self.row.transaction_index,
                log_index: self.row.log_index,
                block_timestamp: self.row.block_timestamp,
                block_number: self.row.block_number,
                block_hash: self.row.block_hash.clone(),
                token_standard: standard,
                token_id,
                batch_index,
                operator: operator.map(word_address),
            }
        };
        if *selector == TRANSFER_TOPIC {
            // As ethereum-etl reads it: the indexed and data words together are from, to, value,
            // however many of them are indexed. Four topics is ERC-721's form (the id indexed).
            let all: Vec<&B256> = self.topics[1..].iter().chain(&words).collect();
            let [from, to, value] = all[..] else {
                return Vec::new();
            };
            let value = U256::from_be_bytes(value.0);
            return if self.topics.len() == 4 {
                vec![row(TokenStandard::Erc721, from, to, value, Some(value), None, None)]
            } else {
                vec![row(TokenStandard::Erc20, from, to, value, None, None, None)]
            };
        }
        let [_, operator, from, to] = &self.topics[..] else {
            return Vec::new();
        };
        if *selector == TRANSFER_SINGLE_TOPIC {
            let [id, value] = &words[..] else {
                return Vec::new();
            };
            let (id, value) = (U256::from_be_bytes(id.0), U256::from_be_bytes(value.0));
            return vec![row(
                TokenStandard::Erc1155,
                from,
                to,
                value,
                Some(id),
                None,
                Some(operator),
            )];
        }
        if *selector == TRANSFER_BATCH_TOPIC {
            let (Some(ids), Some(values)) = (uint_array(&words, 0), uint_array(&words, 1)) else {
                return Vec::new();
            };
            if ids.len() != values.len() {
                return Vec::new();
            }
            return ids
                .into_iter()
                .zip(values)
                .enumerate()
                .map(|(i, (id, value))| {
                    row(
                        TokenStandard::Erc1155,
                        from,
                        to,
                        value,
                        Some(id),
                        Some(i as u64),
                        Some(operator),
                    )
                })
                .collect();
        }
        Vec::new()
    }
}

/// The address in the low 20 bytes of a word (as ethereum-etl reads it: the high bytes unchecked).
fn word_address(w: &B256) -> String {
    hex_address(&Address::from_slice(&w[12..]))
}

/// The `uint256[]` whose head is word `head` of ABI-encoded data; `None` if out of bounds.
fn uint_array(words: &[B256], head: usize) -> Option<Vec<U256>> {
    let offset = usize::try_from(U256::from_be_bytes(words.get(head)?.0)).ok()?;
    if !offset.is_multiple_of(32) {
        return None;
    }
    let start = offset / 32;
    let len = usize::try_from(U256::from_be_bytes(words.get(start)?.0)).ok()?;
    let items = words.get(start + 1..start.checked_add(1)?.checked_add(len)?)?;
    Some(items.iter().map(|w| U256::from_be_bytes(w.0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(v: u64) -> B256 {
        B256::from(U256::from(v).to_be_bytes::<32>())
    }

    fn log(topics: Vec<B256>, words: &[B256]) -> BlockLog {
        BlockLog {
            address: Address::repeat_byte(0x11),
            topics,
            data: words.concat().into(),
            row: LogRow {
                log_index: 4,
                transaction_hash: "0xab".into(),
                transaction_index: 1,
                address: format!("{:#x}", Address::repeat_byte(0x11)),
                data: String::new(),
                topics: Vec::new(),
                block_timestamp: 1,
                block_number: 2,
                block_hash: "0xcd".into(),
            },
        }
    }

    #[test]
    fn transfer_standards_follow_the_shape() {
        let t = log(vec![TRANSFER_TOPIC, word(0xa), word(0xb)], &[word(5)]);
        let [r] = &t.token_transfers()[..] else { panic!() };
        assert_eq!(
            (r.token_standard, r.value, r.token_id),
            (TokenStandard::Erc20, U256::from(5), None)
        );
        assert_eq!(r.from_address, format!("0x{:040x}", 0xa));
        let t = log(vec![TRANSFER_TOPIC, word(0xa), word(0xb), word(9)], &[]);
        let [r] = &t.token_transfers()[..] else { panic!() };
        assert_eq!(
            (r.token_standard, r.value, r.token_id),
            (TokenStandard::Erc721, U256::from(9), Some(U256::from(9)))
        );
        // Nothing indexed: ERC-20 all the same.
        let t = log(vec![TRANSFER_TOPIC], &[word(0xa), word(0xb), word(7)]);
        assert_eq!(t.token_transfers()[0].value, U256::from(7));
        // Not a transfer's shape.
        assert!(log(vec![TRANSFER_TOPIC, word(0xa)], &[word(1)])
            .token_transfers()
            .is_empty());
        assert!(log(vec![TRANSFER_TOPIC, word(0xa), word(0xb)], &[])
            .token_transfers()
            .is_empty());
        assert!(log(vec![], &[]).token_transfers().is_empty());
    }

    #[test]
    fn an_erc1155_batch_is_one_row_per_id() {
        let single = log(
            vec![TRANSFER_SINGLE_TOPIC, word(0xc), word(0xa), word(0xb)],
            &[word(3), word(40)],
        );
        let [r] = &single.token_transfers()[..] else { panic!() };
        assert_eq!(
            (r.value, r.token_id, r.batch_index),
            (U256::from(40), Some(U256::from(3)), None)
        );
        assert_eq!(r.operator.as_deref(), Some(&*format!("0x{:040x}", 0xc)));
        // ids [1, 2], values [10, 20]: heads, then each array's length and items.
        let data = [64, 160, 2, 1, 2, 2, 10, 20].map(word);
        let batch = log(vec![TRANSFER_BATCH_TOPIC, word(0xc), word(0xa), word(0xb)], &data);
        let rows = batch.token_transfers();
        let got: Vec<_> = rows.iter().map(|r| (r.token_id, r.value, r.batch_index)).collect();
        assert_eq!(
            got,
            [
                (Some(U256::from(1)), U256::from(10), Some(0)),
                (Some(U256::from(2)), U256::from(20), Some(1))
            ]
        );
        // A length past the data is no transfer, not a panic.
        let bad = [64, 160, 9, 1, 2, 2, 10, 20].map(word);
        assert!(log(vec![TRANSFER_BATCH_TOPIC, word(0xc), word(0xa), word(0xb)], &bad)
            .token_transfers()
            .is_empty());
    }
}
