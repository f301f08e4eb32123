//! The JSON values of the topics. Field names are the lake's column names (ethereum-etl /
//! BigQuery `crypto_ethereum`); wei amounts are decimal strings; hashes and addresses are
//! lowercase 0x hex. Keys: the block number (decimal) for blocks, the tx hash for transactions.

use chainx_evm::{BlockRow, ContractRow, DecodedEventRow, LogRow, TokenRow, TokenTransferRow, TraceRow};
use serde::{Deserialize, Serialize};

/// `{network}.mined.blocks.metadata`: a block row, plus `removed`: `false` when the block joins
/// the canonical chain, `true` when a reorg took it out (its transactions left with it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMessage {
    #[serde(flatten)]
    pub block: BlockRow,
    #[serde(default)]
    pub removed: bool,
}

/// `{network}.mined.txs.hash.ids`: one message per transaction, enough for a crawler to fetch
/// it and to place it in its block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxHashMessage {
    pub hash: String,
    pub block_number: u64,
    pub block_hash: String,
    pub block_timestamp: u64,
    pub transaction_index: u64,
}

/// `{network}.mined.tx.3.contract_interaction.decoded`: the call's identity, then the decoded
/// function (or `decode_status` and `decode_error` saying why not). The same row lands in the
/// lake's `decoded_calls` table.
pub use chainx_evm::DecodedCallRow as DecodedMessage;

/// `{network}.mined.logs`, `.mined.token_transfers`, `.mined.logs.decoded`, `.mined.traces`,
/// `.mined.contracts` and `.mined.tokens`: all of one
/// block's rows in one message, keyed by block number, so that a block's rows land whole. A
/// reorg publishes the replaced block again with `"removed": true` and no rows. `R` is the rows'
/// container: a `Vec` when read, a slice when written (no copy of the rows).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockRowsMessage<R> {
    pub block_number: u64,
    pub block_hash: String,
    pub block_timestamp: u64,
    #[serde(default)]
    pub removed: bool,
    pub rows: R,
}

pub type LogsMessage = BlockRowsMessage<Vec<LogRow>>;
pub type TokenTransfersMessage = BlockRowsMessage<Vec<TokenTransferRow>>;
pub type DecodedEventsMessage = BlockRowsMessage<Vec<DecodedEventRow>>;
pub type TracesMessage = BlockRowsMessage<Vec<TraceRow>>;
pub type ContractsMessage = BlockRowsMessage<Vec<ContractRow>>;
pub type TokensMessage = BlockRowsMessage<Vec<TokenRow>>;

impl<R: Default> BlockRowsMessage<R> {
    pub fn new(block: &BlockRow, rows: R) -> Self {
        BlockRowsMessage {
            block_number: block.number,
            block_hash: block.hash.clone(),
            block_timestamp: block.timestamp,
            removed: false,
            rows,
        }
    }

    /// The message that takes `block` out after a reorg.
    pub fn removed(block: &BlockRow) -> Self {
        BlockRowsMessage {
            removed: true,
            ..Self::new(block, R::default())
        }
    }
}

pub fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    // Our own types: serialisation cannot fail (no maps with non-string keys, no NaN floats).
    serde_json::to_vec(v).unwrap_or_default()
}
