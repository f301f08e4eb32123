//! The EVM model and its JSON-RPC client, shared by every chainx job.
//!
//! - [`rpc`]: a batching JSON-RPC client with bounded concurrency, an rps limit, retries with
//!   backoff, request counters and URL redaction.
//! - [`raw`]: the node's replies as typed structs (alloy primitives), tolerant of old nodes.
//! - [`rows`]: block and transaction rows in ethereum-etl / BigQuery `crypto_ethereum` terms,
//!   plus [`TxKind`], the original design's three classes.
//! - [`abi`]: contract-call and event decoding with ABIs from a folder, Etherscan or built-in
//!   signatures.
//! - [`log_rows`]: `logs`, `token_transfers` and `decoded_events` rows from a block's receipts.
//! - [`traces`] and [`contracts`]: `traces` rows from `trace_block` or geth's call tracer, and
//!   the contracts their creates made; [`tokens`], what the token contracts among them say of
//!   themselves.
//! - [`fetch`]: a block with its transactions, receipts and traces, fetched in as few calls as
//!   the node allows.

pub mod abi;
pub mod contracts;
mod decimal_text;
mod error;
pub mod fetch;
mod fetched;
pub mod log_rows;
mod missing_code;
pub mod raw;
pub mod redact;
pub mod request_log;
pub mod rows;
pub mod rpc;
pub mod tokens;
pub mod traces;

pub use abi::{AbiRegistry, DecodedCall, EtherscanAbis};
pub use alloy_primitives;
pub use contracts::ContractRow;
pub use error::{Error, Result};
pub use fetch::{BlockFetcher, FetchedBlock};
pub use log_rows::{decode_events, BlockLog, DecodedEventRow, LogRow, TokenStandard, TokenTransferRow};
pub use raw::object::merge_extra;
pub use redact::redact_url;
pub use request_log::RequestLog;
pub use rows::{BlockRow, DecodedCallRow, TransactionRow, TxKind, Withdrawal};
pub use rpc::{RpcClient, RpcConfig, RpcStats};
pub use tokens::TokenRow;
pub use traces::TraceRow;
