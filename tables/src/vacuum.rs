//! `chainx lake vacuum`: deletes the data files no live version reads, once they are older than
//! a retention window: files of commits since replaced (tombstones), and files a writer wrote
//! but never committed (it died, or lost a race and could not clean up).
//!
//! An uncommitted file looks the same whether its writer died or is about to commit, so only
//! age tells them apart: the retention must exceed the longest time a writer takes from writing
//! a file to committing it (seconds, or a few minutes under heavy contention). Hence a default
//! of an hour, and no cleanup at start-up.
//!
//! delta-rs plans it (`VacuumMode::Full`: untracked files by age, tombstones by deletion time).
//! Its own execution also commits VACUUM START/END entries, which other writers' coverage
//! commits would make fail, so chainx takes the dry run's plan and deletes the files itself.

use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::Path;
use std::time::Duration;

use crate::error::Result;
use crate::table::LakeTable;

/// What a vacuum did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct VacuumSummary {
    /// Files deleted (or, on a dry run, that would be).
    pub files: Vec<String>,
}

impl LakeTable {
    /// Deletes unreferenced data files older than `retention`; with `dry_run`, only lists them.
    pub async fn vacuum(&mut self, retention: Duration, dry_run: bool) -> Result<VacuumSummary> {
        self.refresh().await?;
        let (_, metrics) = self
            .delta()
            .clone()
            .vacuum()
            .with_mode(VacuumMode::Full)
            .with_retention_period(chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX))
            .with_enforce_retention_duration(false)
            .with_dry_run(true)
            .await
            .map_err(|e| self.delta_error(e))?;
        if !dry_run {
            let store = self.delta().object_store();
            for file in &metrics.files_deleted {
                match store.delete(&Path::from(file.as_str())).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(self.delta_error(e.into())),
                }
                tracing::info!(table = self.kind().name(), file, "vacuumed");
            }
        }
        Ok(VacuumSummary {
            files: metrics.files_deleted,
        })
    }
}
