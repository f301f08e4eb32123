//! A table made by an older chainx lacks the columns added since, all nullable (`extra`, the
//! columns of other chains): a writer adds them before it writes (Delta's ADD COLUMN, one
//! metadata commit; the files already there read them as null). Readers leave the table alone.

use std::collections::HashSet;

use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::StructType;
use deltalake::DeltaTable;

use crate::error::{Error, Result};
use crate::TableKind;

/// Writers racing to add the same columns: each attempt after a lost race re-reads the table.
const ATTEMPTS: usize = 5;

/// The table with every nullable column of `kind`'s schema it lacked. A table with columns
/// chainx does not write, or lacking a required one, is returned as it is, for the schema
/// check to name.
pub(crate) async fn add_missing_columns(mut table: DeltaTable, kind: TableKind) -> Result<DeltaTable> {
    let want: StructType = kind.schema().as_ref().try_into_kernel().map_err(|e| Error::Table {
        table: kind.name().to_string(),
        reason: format!("schema conversion: {e}"),
    })?;
    for _ in 0..ATTEMPTS {
        let have: HashSet<String> = match table.snapshot() {
            Ok(s) => s.schema().fields().map(|f| f.name().to_string()).collect(),
            Err(_) => return Ok(table),
        };
        let missing: Vec<_> = want.fields().filter(|f| !have.contains(f.name())).cloned().collect();
        let foreign = have.iter().any(|h| want.field(h).is_none());
        if missing.is_empty() || foreign || missing.iter().any(|f| !f.is_nullable()) {
            return Ok(table);
        }
        let names: Vec<String> = missing.iter().map(|f| f.name().to_string()).collect();
        let before = table.clone();
        match table.add_columns().with_fields(missing).await {
            Ok(evolved) => {
                tracing::info!(table = kind.name(), columns = ?names, "added the columns this chainx writes");
                return Ok(evolved);
            }
            Err(e) => {
                // Another writer changed the table first (most likely adding the same columns).
                tracing::debug!(table = kind.name(), "adding columns lost a race: {e}");
                table = before;
                table.load().await.map_err(|source| Error::Delta {
                    table: kind.name().to_string(),
                    source,
                })?;
            }
        }
    }
    Ok(table)
}

/// Whether a table of `kind` with the columns `have` holds what this chainx writes. Columns are
/// matched by name (Delta's and Parquet readers' rule): those an older chainx's table lacked
/// were added at its end by [`add_missing_columns`].
pub(crate) fn check_columns(kind: TableKind, have: &[String]) -> Result<()> {
    let want: Vec<String> = kind.schema().fields().iter().map(|f| f.name().to_string()).collect();
    let (mut have_sorted, mut want_sorted) = (have.to_vec(), want.clone());
    have_sorted.sort();
    want_sorted.sort();
    if have_sorted == want_sorted {
        return Ok(());
    }
    let lacking: Vec<&String> = want.iter().filter(|w| !have.contains(w)).collect();
    let reason = if have.iter().all(|h| want.contains(h)) {
        format!(
            "it lacks the columns {lacking:?}: an older chainx made it; a backfill or the sink adds \
             them when it opens the table"
        )
    } else {
        format!("its columns {have:?} are not chainx's {want:?}; point --lake at a new folder or migrate the table")
    };
    Err(Error::Table {
        table: kind.name().to_string(),
        reason,
    })
}
