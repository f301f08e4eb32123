//! What one backfill did: its closing summary line.

use std::fmt;
use std::time::Duration;

/// What one run did; its Display is the closing summary line.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub from: u64,
    pub to: u64,
    /// Blocks landed by this run (already-landed ones are skipped, not counted).
    pub blocks: u64,
    pub transactions: u64,
    pub logs: u64,
    pub token_transfers: u64,
    pub decoded_events: u64,
    pub decoded_calls: u64,
    pub traces: u64,
    pub contracts: u64,
    pub tokens: u64,
    /// Logs of an event some ABI knows whose topics or data do not decode as it (left out).
    pub events_undecodable: u64,
    pub skipped_blocks: u64,
    /// Values their column could not hold, kept exactly in the row's `extra` (counted for the
    /// whole process, so runs side by side in one process count each other's).
    pub kept_in_extra: u64,
    pub calls: u64,
    pub http_requests: u64,
    pub retries: u64,
    /// Commits retried because another writer of the lake committed first.
    pub conflicts_retried: u64,
    /// Where `to` was capped, and why (the finalized block, or N confirmations).
    pub capped: Option<(u64, String)>,
    pub elapsed: Duration,
    /// The process's peak resident memory (`VmHWM`), where the OS tells it.
    pub peak_memory: Option<u64>,
}

impl Summary {
    pub fn blocks_per_second(&self) -> f64 {
        self.blocks as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn calls_per_block(&self) -> f64 {
        if self.blocks == 0 {
            0.0
        } else {
            self.calls as f64 / self.blocks as f64
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "backfill {}..={}: {} blocks, {} transactions, {} logs, {} token transfers, {} decoded events \
             ({} undecodable), {} decoded calls, {} traces, {} contracts, {} tokens, {} provider requests ({:.2}/block, {} HTTP, {} retries), \
             {} already landed, {} commits retried after another writer's, {:.1}s, {:.1} blocks/s",
            self.from,
            self.to,
            self.blocks,
            self.transactions,
            self.logs,
            self.token_transfers,
            self.decoded_events,
            self.events_undecodable,
            self.decoded_calls,
            self.traces,
            self.contracts,
            self.tokens,
            self.calls,
            self.calls_per_block(),
            self.http_requests,
            self.retries,
            self.skipped_blocks,
            self.conflicts_retried,
            self.elapsed.as_secs_f64(),
            self.blocks_per_second()
        )?;
        if self.kept_in_extra > 0 {
            write!(
                f,
                ", {} values beyond their column's range kept in `extra`",
                self.kept_in_extra
            )?;
        }
        if let Some(bytes) = self.peak_memory {
            write!(f, ", peak memory {} MiB", bytes >> 20)?;
        }
        if let Some((at, why)) = &self.capped {
            write!(
                f,
                "; stopped at {at} ({why}): the stream lands what follows, --to-head lifts the cap"
            )?;
        }
        Ok(())
    }
}
