//! The durable usage ledger in Cassandra / ScyllaDB, the original design's store.
//!
//! - `operations.api_keys_requests_per_minute (name, minute, calls counter)`: calls per key per
//!   wall-clock minute, counters so that every replica adds to them without coordination. The
//!   sliding 24 h usage is the sum of a key's last 1440 minutes.
//! - `operations.api_keys_node_providers (name, start, end, num_req_1d, last_req)`: the original
//!   design's table, one row per key with its calls over the window `[start, end)`, refreshed by
//!   [`CassandraUsage::publish_summary`].
//!
//! The pool reads the ledger when it starts, so daily budgets survive restarts; the live rps
//! accounting stays in the pool (or in Redis, across replicas).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::statement::prepared::PreparedStatement;
use scylla::value::{Counter, CqlTimestamp};

use crate::error::{Error, Result};

const DAY_MINUTES: i64 = 1440;

#[derive(Debug)]
pub struct CassandraUsage {
    session: Session,
    nodes: String,
    add: PreparedStatement,
    minutes: PreparedStatement,
    publish: PreparedStatement,
}

/// Minutes since the Unix epoch, now.
pub fn epoch_minute() -> i64 {
    (SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
        / 60) as i64
}

impl CassandraUsage {
    /// Connects to `nodes` (`host:port[,host:port...]`) and creates the keyspace and tables if
    /// missing (replication factor 1: set your own for a real cluster before first use).
    pub async fn connect(nodes: &str) -> Result<Self> {
        let err = |e: &dyn std::fmt::Display| Error::Coordinator {
            url: format!("cassandra {nodes}"),
            reason: e.to_string(),
        };
        let session = SessionBuilder::new()
            .known_nodes(nodes.split(',').map(str::trim))
            .build()
            .await
            .map_err(|e| err(&e))?;
        for ddl in [
            "CREATE KEYSPACE IF NOT EXISTS operations WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}",
            "CREATE TABLE IF NOT EXISTS operations.api_keys_requests_per_minute \
             (name text, minute bigint, calls counter, PRIMARY KEY (name, minute)) WITH CLUSTERING ORDER BY (minute DESC)",
            "CREATE TABLE IF NOT EXISTS operations.api_keys_node_providers \
             (name text PRIMARY KEY, start timestamp, end timestamp, num_req_1d bigint, last_req timestamp)",
        ] {
            session.query_unpaged(ddl, &[]).await.map_err(|e| err(&e))?;
        }
        let add = session
            .prepare(
                "UPDATE operations.api_keys_requests_per_minute SET calls = calls + ? WHERE name = ? AND minute = ?",
            )
            .await
            .map_err(|e| err(&e))?;
        let minutes = session
            .prepare("SELECT minute, calls FROM operations.api_keys_requests_per_minute WHERE name = ? AND minute > ?")
            .await
            .map_err(|e| err(&e))?;
        let publish = session
            .prepare(
                "INSERT INTO operations.api_keys_node_providers (name, start, end, num_req_1d, last_req) \
                 VALUES (?, ?, ?, ?, ?)",
            )
            .await
            .map_err(|e| err(&e))?;
        Ok(CassandraUsage {
            session,
            nodes: nodes.to_string(),
            add,
            minutes,
            publish,
        })
    }

    /// Adds `calls` to key `name`'s count for wall-clock minute `minute`.
    pub async fn record(&self, name: &str, minute: i64, calls: i64) -> Result<()> {
        self.session
            .execute_unpaged(&self.add, (Counter(calls), name, minute))
            .await
            .map_err(|e| self.err(&e))?;
        Ok(())
    }

    /// Key `name`'s calls per minute over the 24 h before `now_minute` (inclusive), newest first.
    pub async fn minutes(&self, name: &str, now_minute: i64) -> Result<Vec<(i64, u64)>> {
        let result = self
            .session
            .execute_unpaged(&self.minutes, (name, now_minute - DAY_MINUTES))
            .await
            .map_err(|e| self.err(&e))?
            .into_rows_result()
            .map_err(|e| self.err(&e))?;
        let rows = result.rows::<(i64, Counter)>().map_err(|e| self.err(&e))?;
        rows.map(|r| r.map(|(m, c)| (m, c.0.max(0) as u64)).map_err(|e| self.err(&e)))
            .collect()
    }

    /// Calls over the sliding 24 h window ending at `now_minute`.
    pub async fn used_24h(&self, name: &str, now_minute: i64) -> Result<u64> {
        Ok(self.minutes(name, now_minute).await?.iter().map(|(_, c)| c).sum())
    }

    /// Writes the original design's summary row for each key: calls in the last 24 h
    /// (`num_req_1d`), the window, and the minute of the last request. Returns the counts.
    pub async fn publish_summary(&self, names: &[String], now_minute: i64) -> Result<Vec<(String, u64)>> {
        let mut out = Vec::new();
        for name in names {
            let minutes = self.minutes(name, now_minute).await?;
            let total: u64 = minutes.iter().map(|(_, c)| c).sum();
            let last = minutes.iter().map(|(m, _)| *m).max();
            let ms = |minute: i64| CqlTimestamp(minute * 60_000);
            self.session
                .execute_unpaged(
                    &self.publish,
                    (
                        name.as_str(),
                        ms(now_minute - DAY_MINUTES + 1),
                        ms(now_minute + 1),
                        total as i64,
                        last.map(ms),
                    ),
                )
                .await
                .map_err(|e| self.err(&e))?;
            out.push((name.clone(), total));
        }
        Ok(out)
    }

    /// The summary table's `(name, num_req_1d)` for `name`, if published.
    pub async fn summary(&self, name: &str) -> Result<Option<u64>> {
        let result = self
            .session
            .query_unpaged(
                "SELECT num_req_1d FROM operations.api_keys_node_providers WHERE name = ?",
                (name,),
            )
            .await
            .map_err(|e| self.err(&e))?
            .into_rows_result()
            .map_err(|e| self.err(&e))?;
        let row = result.maybe_first_row::<(Option<i64>,)>().map_err(|e| self.err(&e))?;
        Ok(row.and_then(|(n,)| n).map(|n| n.max(0) as u64))
    }

    fn err(&self, e: &dyn std::fmt::Display) -> Error {
        Error::Coordinator {
            url: format!("cassandra {}", self.nodes),
            reason: e.to_string(),
        }
    }
}
