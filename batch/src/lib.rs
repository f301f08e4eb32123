//! The batch layer: jobs that land block ranges straight from the RPC into the lake.
//!
//! - [`backfill`]: `chainx backfill --from A --to B`: blocks, transactions, decoded calls, logs,
//!   token transfers and decoded events, in memory bounded by a setting.
//! - [`day`]: `chainx blocks-for-date`, a UTC day's block range (the daily DAG's input).

pub mod backfill;
mod chunk;
pub mod day;
mod pipeline;
mod summary;

pub use backfill::{backfill, BackfillConfig, EtherscanSource, Finality, Summary};
pub use day::{blocks_for_date, DayBlocks};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Rpc(#[from] chainx_evm::Error),
    /// Boxed: the lake's errors carry Delta's, which are large.
    #[error(transparent)]
    Lake(Box<chainx_tables::Error>),
    #[error("{0}")]
    Config(String),
}

impl From<chainx_tables::Error> for Error {
    fn from(e: chainx_tables::Error) -> Self {
        Error::Lake(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
