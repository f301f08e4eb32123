//! The batch layer: jobs that land block ranges straight from the RPC into the lake.
//!
//! - [`backfill`]: `chainx backfill --from A --to B`, the blocks and transactions tables.
//! - [`day`]: `chainx blocks-for-date`, a UTC day's block range (the daily DAG's input).

pub mod backfill;
pub mod day;

pub use backfill::{backfill, BackfillConfig, Finality, Summary};
pub use day::{blocks_for_date, DayBlocks};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Rpc(#[from] chainx_evm::Error),
    #[error(transparent)]
    Lake(#[from] chainx_tables::Error),
    #[error("{0}")]
    Config(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
