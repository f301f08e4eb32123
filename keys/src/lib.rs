//! The key-sharing scheduler: node-as-a-service API keys known by pseudo-names, their secret
//! values resolved from the environment or a 0600 secrets file, and a pool that hands a key to
//! each request within that key's limits.
//!
//! - [`secrets`]: pseudo-name -> secret value (`CHAINX_KEY_<NAME>`, or a secrets file).
//! - [`costs`]: what a call costs against a key's budgets (calls, Infura credits, Alchemy
//!   compute units), per method.
//! - [`pool`]: the in-process coordinator (the embedded default, one replica): per-key rps over
//!   any one-second window, a daily budget over a sliding 24 h window of minute buckets, the
//!   least-used choice, cool-down after a rate limit, and bad keys.
//!
//! Shared coordination across replicas (Redis), exclusive leases and the Cassandra usage store
//! build on the same [`pool::KeyPool`] interface.

pub mod cassandra_usage;
pub mod costs;
mod error;
pub mod pool;
mod redis_backend;
pub mod secrets;

pub use cassandra_usage::CassandraUsage;
pub use costs::CallCosts;
pub use error::{Error, Result};
pub use pool::{Key, KeyPool, Outcome, Route};
pub use secrets::{resolve_keys, ProviderKeys};
