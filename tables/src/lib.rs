//! The lake's tables: Arrow schemas of every table, rows encoded as Arrow batches, and Delta tables with
//! exactly-once appends.
//!
//! Every table is a Delta table partitioned Hive-style by `block_date=YYYY-MM-DD`. Each append
//! commits its data files together with the block ranges they cover (the table property
//! [`COVERAGE_KEY`]), so a writer knows exactly what has landed and never lands it twice, however
//! many writers share the lake (the protocol: `commit.rs`).

mod append;
mod commit;
mod compact;
pub mod datasets;
mod error;
mod hdfs_store;
pub mod hive;
mod merge;
mod migrate;
#[cfg(test)]
mod races;
mod ranges;
pub mod read;
mod store;
mod table;
mod unwind;
mod vacuum;
mod verify;

pub use append::{Appender, FileLayout, Landed};
pub use compact::CompactSummary;
pub use datasets::{
    blocks_batch, contracts_batch, decoded_calls_batch, decoded_events_batch, logs_batch, out_of_range_values,
    token_transfers_batch, tokens_batch, traces_batch, transactions_batch, Dataset, Fetch, TableKind,
};
pub use error::{Error, Result};
pub use ranges::BlockRanges;
pub use store::{register_stores, Lake};
pub use table::{LakeTable, CHAIN_ID_KEY, COVERAGE_KEY};
pub use unwind::RemovedBlock;
pub use vacuum::VacuumSummary;
pub use verify::{StoredBlock, Verification, Verifier};

/// Re-exported so callers use the same Arrow as the lake.
pub use deltalake::arrow;
