//! A block as fetched for a run: its transactions, and its receipts and traces when asked for.

use crate::error::{Error, Result};
use crate::raw::{RpcBlock, RpcReceipt};
use crate::rows::{BlockRow, TransactionRow};
use crate::tokens::TokenRow;
use crate::traces::TraceRow;

#[derive(Debug, Clone)]
pub struct FetchedBlock {
    pub block: RpcBlock,
    /// `None` when receipts were not asked for.
    pub receipts: Option<Vec<RpcReceipt>>,
    /// `None` when traces were not asked for.
    pub traces: Option<Vec<TraceRow>>,
    /// The tokens its traces created, read by `eth_call`; `None` when tokens were not asked for.
    pub tokens: Option<Vec<TokenRow>>,
    /// The block came as a header ([`BlockFetcher::headers_only`]): `block.transactions` is
    /// empty, and only its traces make rows.
    pub header_only: bool,
}

impl FetchedBlock {
    pub fn number(&self) -> u64 {
        self.block.number.to()
    }

    /// The block's logs, from its receipts; `None` when receipts were not fetched.
    pub fn logs(&self) -> Result<Option<Vec<crate::log_rows::BlockLog>>> {
        self.receipts
            .as_ref()
            .map(|r| crate::log_rows::block_logs(&self.block, r))
            .transpose()
    }

    /// About how many bytes the block takes in memory, parsed: what sizes a backfill's slices.
    pub fn approx_bytes(&self) -> u64 {
        let txs: usize = self
            .block
            .transactions
            .iter()
            .map(|t| 400 + t.input.len() + t.extra.as_ref().map_or(0, String::len))
            .sum();
        let receipts: usize = self
            .receipts
            .iter()
            .flatten()
            .map(|r| {
                300 + r
                    .logs
                    .iter()
                    .map(|l| 150 + l.data.len() + 32 * l.topics.len())
                    .sum::<usize>()
            })
            .sum();
        let traces: usize = self
            .traces
            .iter()
            .flatten()
            .map(|t| 300 + t.input.as_ref().map_or(0, String::len) + t.output.as_ref().map_or(0, String::len))
            .sum();
        (2_000 + txs + receipts + traces) as u64
    }

    pub fn to_rows(&self) -> Result<(BlockRow, Vec<TransactionRow>)> {
        if self.header_only {
            return Err(Error::Inconsistent {
                block: self.number(),
                reason: "fetched as a header only, without the transactions a block row counts".to_string(),
            });
        }
        let block = BlockRow::from_rpc(&self.block);
        let txs = self
            .block
            .transactions
            .iter()
            .enumerate()
            .map(|(i, tx)| {
                let receipt = self.receipts.as_ref().and_then(|r| r.get(i));
                TransactionRow::from_rpc(&self.block, i, tx, receipt)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((block, txs))
    }
}
