//! Flow control: the partitions a block's rows come from are read at about the same pace.
//!
//! A block lands once its block message and all of its transactions are here, and those come
//! from a dozen partitions that librdkafka fetches each at its own pace. Left alone, a partition
//! read faster than another runs ahead, and whatever it delivered past the slowest one waits in
//! memory: measured with testkit's `sink_throughput` at a 10,000-row flush, 55,000 transactions
//! of 4,500 incomplete blocks, and more the longer the backlog. So a partition that holds more
//! than `max_ahead` bytes of messages above the slowest partition's last block is paused until
//! the others catch up.
//!
//! "The slowest" counts only partitions still delivering: when nothing at all arrives for
//! [`IDLE`] from the partitions that are not paused, those are at their end (or their topic is
//! sparse, like deployments) and hold no one back until they deliver again, so a pause never
//! waits for a message that is not coming. Bytes, not blocks, are what is bounded: a sparse
//! partition may run far ahead in blocks at little cost.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rdkafka::message::Message;

use crate::buffer::Tp;

/// The default of `--max-ahead-mb`: memory a partition's messages may hold above the slowest
/// partition's last block before it is paused; it resumes at half of that. Partitions of one
/// topic are fetched in turn, a few hundred KiB each, and rarely drift this far apart: pausing
/// one drops what librdkafka prefetched for it, and at 1 MiB the sink spent a third of its time
/// fetching again.
pub const DEFAULT_MAX_AHEAD_BYTES: usize = 4 << 20;

/// How long a silence of every unpaused partition means they are all at their end.
pub(crate) const IDLE: Duration = Duration::from_millis(50);

/// How many messages pass between two decisions (each one looks at every partition).
pub(crate) const DECIDE_EVERY: usize = 256;

#[derive(Debug, Default)]
struct Partition {
    /// The highest block number this partition has delivered.
    frontier: u64,
    /// Whether it delivered since the last silence (else it is at its end).
    delivering: bool,
    paused: bool,
    /// (block, bytes) of its messages above the floor, oldest first.
    ahead: VecDeque<(u64, usize)>,
    ahead_bytes: usize,
}

/// What a message was: the block it belongs to, and the memory the sink now holds for it
/// (0 if it was skipped as already landed).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Delivery {
    pub block: u64,
    pub held: usize,
}

impl Delivery {
    /// A message kept as its own text (transactions are).
    pub(crate) fn kept(block: u64, m: &impl Message) -> Self {
        Delivery {
            block,
            held: payload_len(m),
        }
    }

    /// A message parsed into owned rows: a string of its own per field, about three times the
    /// JSON in memory. Weighed so, block messages (small, so many blocks to a byte) pause their
    /// partitions before thousands of blocks wait for their transactions.
    pub(crate) fn parsed(block: u64, m: &impl Message) -> Self {
        Delivery {
            block,
            held: 3 * payload_len(m),
        }
    }

    pub(crate) fn skipped(block: u64) -> Self {
        Delivery { block, held: 0 }
    }
}

fn payload_len(m: &impl Message) -> usize {
    m.payload().map_or(0, <[u8]>::len)
}

/// The partitions to pause and to resume, as decided by [`Flow::decide`].
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Decision {
    pub pause: Vec<Tp>,
    pub resume: Vec<Tp>,
}

#[derive(Debug)]
pub(crate) struct Flow {
    partitions: HashMap<Tp, Partition>,
    max_ahead: usize,
    since_decision: usize,
    /// How many partitions are paused (asked every message, so counted, not searched).
    paused: usize,
}

impl Flow {
    /// Flow control over `partitions`. Each counts as the slowest until it first delivers or
    /// falls silent: librdkafka hands over one partition's prefetched messages at a time, and
    /// the transactions of thousands of blocks came before the first block message.
    pub(crate) fn new(partitions: impl IntoIterator<Item = Tp>, max_ahead: usize) -> Self {
        let partitions = partitions
            .into_iter()
            .map(|tp| {
                let p = Partition {
                    delivering: true,
                    ..Partition::default()
                };
                (tp, p)
            })
            .collect();
        Flow {
            partitions,
            max_ahead,
            since_decision: 0,
            paused: 0,
        }
    }

    /// A message came from `tp`. Whether it is time to decide.
    pub(crate) fn delivered(&mut self, tp: &Tp, d: Delivery) -> bool {
        let (block, bytes) = (d.block, d.held);
        // Every partition is known from the start: no key clone per message.
        let p = match self.partitions.get_mut(tp) {
            Some(p) => p,
            None => self.partitions.entry(tp.clone()).or_default(),
        };
        p.frontier = p.frontier.max(block);
        p.delivering = true;
        if bytes > 0 {
            p.ahead.push_back((block, bytes));
            p.ahead_bytes += bytes;
        }
        self.since_decision += 1;
        self.since_decision >= DECIDE_EVERY
    }

    /// Nothing arrived for [`IDLE`]: every partition that is not paused is at its end.
    pub(crate) fn silence(&mut self) {
        for p in self.partitions.values_mut().filter(|p| !p.paused) {
            p.delivering = false;
        }
    }

    pub(crate) fn any_paused(&self) -> bool {
        self.paused > 0
    }

    /// Pauses the partitions too far ahead of the slowest delivering one, resumes those that
    /// are no longer.
    pub(crate) fn decide(&mut self) -> Decision {
        self.since_decision = 0;
        let floor = self
            .partitions
            .values()
            .filter(|p| p.delivering)
            .map(|p| p.frontier)
            .min();
        let mut decision = Decision::default();
        let max_ahead = self.max_ahead;
        for (tp, p) in &mut self.partitions {
            // Messages up to the floor wait for nobody: the slowest partition has passed them.
            while let Some(&(block, bytes)) = p.ahead.front() {
                if floor.is_some_and(|f| block > f) {
                    break;
                }
                p.ahead.pop_front();
                p.ahead_bytes -= bytes;
            }
            if !p.paused && p.ahead_bytes > max_ahead {
                p.paused = true;
                self.paused += 1;
                decision.pause.push(tp.clone());
            } else if p.paused && p.ahead_bytes <= max_ahead / 2 {
                p.paused = false;
                self.paused -= 1;
                decision.resume.push(tp.clone());
            }
        }
        decision
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn tp(p: i32) -> Tp {
        (Arc::from("t"), p)
    }

    /// Delivers blocks `from..to` on `p`, one message of `bytes` each, then decides.
    fn deliver(flow: &mut Flow, p: i32, blocks: std::ops::Range<u64>, bytes: usize) -> Decision {
        for block in blocks {
            flow.delivered(&tp(p), Delivery { block, held: bytes });
        }
        flow.decide()
    }

    #[test]
    fn a_partition_far_ahead_pauses_until_the_slowest_catches_up() {
        let mut flow = Flow::new([], 4 << 20);
        let mb = 1 << 20;
        assert_eq!(deliver(&mut flow, 0, 0..1, 100), Decision::default());
        let d = deliver(&mut flow, 1, 0..10, mb);
        assert_eq!(d.pause, vec![tp(1)]);
        // The slow one moves up to block 6: partition 1 holds blocks 7..10 above it, 3 MiB.
        let d = deliver(&mut flow, 0, 1..7, 100);
        assert_eq!(d, Decision::default(), "3 MiB ahead is above the resume mark");
        let d = deliver(&mut flow, 0, 7..8, 100);
        assert_eq!(d.resume, vec![tp(1)]);
    }

    #[test]
    fn a_partition_at_its_end_holds_no_one_back() {
        let mut flow = Flow::new([], 4 << 20);
        deliver(&mut flow, 0, 0..1, 100);
        let d = deliver(&mut flow, 1, 0..10, 1 << 20);
        assert_eq!(d.pause, vec![tp(1)]);
        // Nothing comes from partition 0: it is at its end, and the paused one is the slowest.
        flow.silence();
        assert!(flow.any_paused());
        assert_eq!(flow.decide().resume, vec![tp(1)]);
        assert!(!flow.any_paused());
        // Once it delivers again it counts again.
        let d = deliver(&mut flow, 0, 1..2, 100);
        assert_eq!(
            d,
            Decision::default(),
            "what partition 1 held was released when partition 0 fell silent"
        );
    }

    #[test]
    fn a_sparse_partition_may_run_ahead_in_blocks() {
        let mut flow = Flow::new([], 4 << 20);
        deliver(&mut flow, 0, 0..1, 100);
        for block in (0..100_000).step_by(1000) {
            flow.delivered(&tp(1), Delivery { block, held: 200 });
        }
        assert_eq!(
            flow.decide(),
            Decision::default(),
            "100 messages of 200 bytes are far below the bound"
        );
    }
}
