//! The fast (streaming) layer: block clock, transaction crawler, classifier and input decoder
//! publishing Kafka topics. Built in the fast-layer issue; what exists now is the contract the
//! other layers rely on: the topic names, kept from the original design.

/// Kafka topic names, as the original design named them.
pub mod topics {
    /// Metadata of each newly mined block.
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
}
