//! The fast (streaming) layer: jobs that follow the chain head and publish Kafka topics.
//!
//! - [`clock`]: the block clock. Follows the head (WebSocket `newHeads` or polling), fills gaps,
//!   detects reorgs by parent hash, and publishes blocks (and, in full-block mode, classified
//!   transactions) in Kafka transactions, so each block lands exactly once.
//! - [`crawler`]: the per-transaction crawler of the original design (`--mode per-tx`).
//! - [`decoder`]: decodes contract interactions with ABIs.
//! - [`kafka`]: producer, consumer and admin settings shared by the jobs; [`topics`] the names;
//!   [`messages`] the JSON values.
//! - [`request_log`]: the key scheduler's request log as a topic; [`metrics`] Prometheus.

pub mod clock;
pub mod crawler;
pub mod decoder;
mod error;
mod heads;
pub mod kafka;
pub mod messages;
pub mod metrics;
pub mod request_log;
pub mod topics;

pub use error::{Error, Result};
pub use topics::Topics;
