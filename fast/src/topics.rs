//! Kafka topic names, as the original design named them, prefixed by the network
//! (`mainnet.mined.blocks.metadata`), so several chains share one cluster.

use chainx_evm::TxKind;

/// Metadata of each newly mined block (and reorg events: `"removed": true`).
pub const MINED_BLOCKS_METADATA: &str = "mined.blocks.metadata";
/// The transaction hashes of each new block.
pub const MINED_TXS_HASH_IDS: &str = "mined.txs.hash.ids";
/// Input empty: a plain transfer of the native token.
pub const NATIVE_TOKEN_TRANSFER: &str = "mined.tx.1.native_token_transfer";
/// `to` empty: a contract deployment.
pub const CONTRACT_DEPLOYMENT: &str = "mined.tx.2.contract_deployment";
/// `to` and `input` set: a call into a contract.
pub const CONTRACT_INTERACTION: &str = "mined.tx.3.contract_interaction";
/// Contract calls with `input` decoded by the contract's ABI.
pub const CONTRACT_INTERACTION_DECODED: &str = "mined.tx.3.contract_interaction.decoded";
/// One message per block: its logs (from the receipts), keyed by block number.
pub const MINED_LOGS: &str = "mined.logs";
/// One message per block: its ERC-20, ERC-721 and ERC-1155 transfers.
pub const MINED_TOKEN_TRANSFERS: &str = "mined.token_transfers";
/// One message per block: its logs decoded by event ABIs (what the decoder knows).
pub const MINED_LOGS_DECODED: &str = "mined.logs.decoded";
/// One message per block: its traces (with `--traces`), keyed by block number.
pub const MINED_TRACES: &str = "mined.traces";
/// One message per block: the contracts its traces created.
pub const MINED_CONTRACTS: &str = "mined.contracts";
/// One message per block: what the tokens it created say of themselves (with `--tokens`).
pub const MINED_TOKENS: &str = "mined.tokens";
/// One record per provider request of the key scheduler.
pub const REQUEST_LOG: &str = "api_keys.request_log";
/// Messages the lake sink could not land (not JSON, not the schema), with the reason.
pub const SINK_DEAD_LETTER: &str = "sink.dead_letter";

/// The topics of one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    pub blocks: String,
    pub tx_hash_ids: String,
    pub native_token_transfer: String,
    pub contract_deployment: String,
    pub contract_interaction: String,
    pub contract_interaction_decoded: String,
    pub logs: String,
    pub token_transfers: String,
    pub logs_decoded: String,
    pub traces: String,
    pub contracts: String,
    pub tokens: String,
    pub request_log: String,
    pub sink_dead_letter: String,
}

impl Topics {
    pub fn new(network: &str) -> Self {
        let t = |name: &str| format!("{network}.{name}");
        Topics {
            blocks: t(MINED_BLOCKS_METADATA),
            tx_hash_ids: t(MINED_TXS_HASH_IDS),
            native_token_transfer: t(NATIVE_TOKEN_TRANSFER),
            contract_deployment: t(CONTRACT_DEPLOYMENT),
            contract_interaction: t(CONTRACT_INTERACTION),
            contract_interaction_decoded: t(CONTRACT_INTERACTION_DECODED),
            logs: t(MINED_LOGS),
            token_transfers: t(MINED_TOKEN_TRANSFERS),
            logs_decoded: t(MINED_LOGS_DECODED),
            traces: t(MINED_TRACES),
            contracts: t(MINED_CONTRACTS),
            tokens: t(MINED_TOKENS),
            request_log: t(REQUEST_LOG),
            sink_dead_letter: t(SINK_DEAD_LETTER),
        }
    }

    /// The class topic of a transaction kind.
    pub fn for_kind(&self, kind: TxKind) -> &str {
        match kind {
            TxKind::NativeTokenTransfer => &self.native_token_transfer,
            TxKind::ContractDeployment => &self.contract_deployment,
            TxKind::ContractInteraction => &self.contract_interaction,
        }
    }

    pub fn all(&self) -> [&str; 14] {
        [
            &self.blocks,
            &self.tx_hash_ids,
            &self.native_token_transfer,
            &self.contract_deployment,
            &self.contract_interaction,
            &self.contract_interaction_decoded,
            &self.logs,
            &self.token_transfers,
            &self.logs_decoded,
            &self.traces,
            &self.contracts,
            &self.tokens,
            &self.request_log,
            &self.sink_dead_letter,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_network() {
        let t = Topics::new("sepolia");
        assert_eq!(t.blocks, "sepolia.mined.blocks.metadata");
        assert_eq!(
            t.for_kind(TxKind::ContractDeployment),
            "sepolia.mined.tx.2.contract_deployment"
        );
        assert_eq!(t.request_log, "sepolia.api_keys.request_log");
    }
}
