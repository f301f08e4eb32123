//! The lake's commit protocol, for any number of chainx writers on one table: backfill chunks,
//! the sink, compaction and unwinds, on a local, HDFS or S3 lake.
//!
//! A commit is planned on one snapshot (version v) and written at exactly v + 1. The log entry
//! is put-if-absent, so when two writers race for a version, exactly one wins. delta-rs's own
//! conflict resolution is off (`max_retries` 0) because it gets chainx's tables wrong both ways:
//! - two appends of the same blocks are blind appends to it, so both would commit;
//! - every commit after one that rewrote the coverage property is a conflict to it.
//!
//! The loser refreshes and checks its [`Plan`] against the new snapshot:
//! - **stale**: a file it removes is no longer live (an unwind or a compaction replaced it), or
//!   a block it adds is now covered (another writer landed it). Its data files were never
//!   committed and are its own, so they are deleted. The caller plans again on the new snapshot.
//! - **still valid**: it commits the same files at the next version, with coverage recomputed
//!   from the new snapshot (covered + adds - drops).
//!
//! Every coverage change rewrites one table property, so such commits are serialised through
//! the log. That is what keeps coverage exact: no two commits can both add one block.
//! Retries back off exponentially with full jitter.

use std::time::Duration;

use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, MetadataExt};
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaTableError, Path};
use serde_json::json;

use crate::error::Result;
use crate::ranges::BlockRanges;
use crate::table::{LakeTable, COVERAGE_KEY};

/// Lost races before a commit gives up: at the backoff's cap, several minutes of contention.
const MAX_LOST_RACES: u32 = 200;
const BACKOFF_BASE: Duration = Duration::from_millis(20);
const BACKOFF_CAP: Duration = Duration::from_secs(2);

/// What one commit changes, planned on one snapshot.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Data files added and removed.
    pub actions: Vec<Action>,
    /// Blocks entering coverage: none may be covered when it commits.
    pub adds: BlockRanges,
    /// Blocks leaving coverage.
    pub drops: BlockRanges,
    /// When the plan goes stale, keep its files for the caller to rewrite (a streaming
    /// append's, which hold rows no longer in memory) instead of deleting them.
    pub keep_written_if_stale: bool,
}

impl Plan {
    pub(crate) fn removed_paths(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().filter_map(|a| match a {
            Action::Remove(r) => Some(r.path.as_str()),
            _ => None,
        })
    }

    pub(crate) fn written_paths(&self) -> impl Iterator<Item = &str> {
        self.actions.iter().filter_map(|a| match a {
            Action::Add(a) => Some(a.path.as_str()),
            _ => None,
        })
    }
}

/// How a commit attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Committed(u64),
    /// Another writer's commit invalidated the plan; its files are gone, plan again.
    Stale,
}

/// The delay before retry `attempt` (1-based): uniform in [0, min(cap, base * 2^attempt)].
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
        .min(BACKOFF_CAP);
    ceiling.mul_f64(rand::random::<f64>())
}

fn lost_race(e: &DeltaTableError) -> bool {
    matches!(
        e,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::MaxCommitAttempts(_) | TransactionError::VersionAlreadyExists(_)
            }
    )
}

impl LakeTable {
    /// Commits `plan`, made on the current snapshot, at the version after it, with `offsets` as
    /// Delta `txn` actions and `info` in the commit info. On a lost race it refreshes and retries
    /// while the plan still holds; returns [`Outcome::Stale`] once it does not.
    pub(crate) async fn commit_plan(
        &mut self,
        plan: &Plan,
        offsets: &[(String, i64)],
        operation: DeltaOperation,
        info: (&str, String),
    ) -> Result<Outcome> {
        let mut lost = 0;
        let mut covered = self.covered()?;
        loop {
            let snapshot = self.delta().snapshot().map_err(|e| self.delta_error(e))?;
            let mut actions = plan.actions.clone();
            if !plan.adds.is_empty() || !plan.drops.is_empty() {
                let coverage = covered.union(&plan.adds).subtract(&plan.drops);
                let metadata = snapshot
                    .metadata()
                    .clone()
                    .add_config_key(COVERAGE_KEY.to_string(), coverage.to_string())
                    .map_err(|e| self.table_error(e.to_string()))?;
                actions.push(Action::Metadata(metadata));
            }
            let txns = offsets
                .iter()
                .map(|(app_id, version)| deltalake::kernel::Transaction::new(app_id, *version))
                .collect();
            // From CommitProperties, not CommitBuilder::default(): only that path installs the
            // post-commit hook that writes checkpoints (every `delta.checkpointInterval` commits).
            let properties = CommitProperties::default()
                .with_max_retries(0)
                .with_metadata([(info.0.to_string(), json!(info.1))])
                .with_application_transactions(txns);
            let committed = CommitBuilder::from(properties)
                .with_actions(actions)
                .build(Some(snapshot), self.delta().log_store(), operation.clone())
                .await;
            match committed {
                Ok(c) => {
                    let version = c.version();
                    self.set_state(c.snapshot());
                    self.consolidate().await?;
                    return Ok(Outcome::Committed(version));
                }
                Err(e) if lost_race(&e) => {
                    lost += 1;
                    self.conflicts_retried += 1;
                    if lost >= MAX_LOST_RACES {
                        self.delete_written(plan).await;
                        return Err(self.table_error(format!(
                            "lost the commit race {lost} times in a row; is another writer committing in a tight loop?"
                        )));
                    }
                    tracing::debug!(
                        table = self.kind().name(),
                        lost,
                        "another writer committed first; checking the plan"
                    );
                    tokio::time::sleep(backoff(lost)).await;
                    self.refresh().await?;
                    covered = self.covered()?;
                    if !self.plan_holds(plan, &covered)? {
                        if !plan.keep_written_if_stale {
                            self.delete_written(plan).await;
                        }
                        return Ok(Outcome::Stale);
                    }
                }
                Err(e) => {
                    self.delete_written(plan).await;
                    return Err(self.delta_error(e));
                }
            }
        }
    }

    /// Whether `plan`, made on an older snapshot, still applies to the current one (which covers
    /// `covered`).
    fn plan_holds(&self, plan: &Plan, covered: &BlockRanges) -> Result<bool> {
        if !plan.adds.intersect(covered).is_empty() {
            return Ok(false);
        }
        let mut removed = plan.removed_paths().peekable();
        if removed.peek().is_none() {
            return Ok(true);
        }
        let live = self.live_paths()?;
        Ok(removed.all(|p| live.contains(p)))
    }

    /// Deletes the files a plan wrote and never committed. Best effort: whatever stays behind is
    /// an uncommitted file, which `chainx lake vacuum` removes once past its retention.
    async fn delete_written(&self, plan: &Plan) {
        let store = self.delta().object_store();
        for path in plan.written_paths() {
            if let Err(e) = store.delete(&Path::from(path)).await {
                tracing::warn!(
                    table = self.kind().name(),
                    file = path,
                    "could not delete an uncommitted file: {e}"
                );
            }
        }
    }
}
