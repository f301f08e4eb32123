//! Reading the lake back: through Delta (the live files of the current version) and as a plain
//! Hive-partitioned Parquet folder (every `*.parquet` under the partition folders). The two must
//! agree; tests and `chainx lake show` use these.

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};

use bytes::Bytes;
use deltalake::arrow::array::{AsArray, RecordBatch};
use deltalake::logstore::object_store::ObjectStoreExt;
use deltalake::parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use deltalake::parquet::arrow::ProjectionMask;

use crate::error::{Error, Result};
use crate::ranges::BlockRanges;
use crate::table::LakeTable;

/// All rows of the table's current version, partition column excluded (it lives in the paths).
pub async fn delta_rows(table: &LakeTable) -> Result<Vec<RecordBatch>> {
    let store = table.delta().object_store();
    let mut out = Vec::new();
    for path in table.live_files()? {
        let bytes = file_bytes(store.as_ref(), &path).await?;
        out.extend(parquet_batches(bytes, path.as_ref())?);
    }
    Ok(out)
}

impl LakeTable {
    /// Rows in the current version, from the Delta log's per-file statistics (`numRecords`):
    /// no data file is read, whatever the table's size. A file whose add action carries no
    /// statistics (another writer's) is counted from its Parquet footer.
    pub async fn row_count(&self) -> Result<u64> {
        let snapshot = self.delta().snapshot().map_err(|e| self.delta_error(e))?;
        let mut rows = 0u64;
        let mut unknown = Vec::new();
        for f in snapshot.log_data().iter() {
            match f.num_records() {
                Some(n) => rows += n as u64,
                None => unknown.push(f.object_store_path()),
            }
        }
        let store = self.delta().object_store();
        for path in unknown {
            let bytes = file_bytes(store.as_ref(), &path).await?;
            let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| Error::Parquet {
                file: path.to_string(),
                reason: e.to_string(),
            })?;
            rows += builder.metadata().file_metadata().num_rows().max(0) as u64;
        }
        Ok(rows)
    }

    /// Rows per value of the string column `column`, reading that column alone, a file at a time.
    pub async fn counts_by(&self, column: &str) -> Result<BTreeMap<String, u64>> {
        let store = self.delta().object_store();
        let mut counts = BTreeMap::new();
        for path in self.live_files()? {
            let bytes = file_bytes(store.as_ref(), &path).await?;
            for batch in parquet_reader(bytes, path.as_ref(), Some(&[column]))? {
                let batch = batch.map_err(|e| parquet_error(path.as_ref(), &e))?;
                let values = batch
                    .column_by_name(column)
                    .and_then(|c| c.as_string_opt::<i32>())
                    .ok_or_else(|| self.table_error(format!("{column} is not a string column of {path}")))?;
                for v in values.iter() {
                    *counts.entry(v.unwrap_or("null").to_string()).or_default() += 1;
                }
            }
        }
        Ok(counts)
    }

    /// The first `limit` rows in file order (partition order: the earliest days first),
    /// reading only as many files as they take.
    pub async fn first_rows(&self, limit: usize) -> Result<Vec<RecordBatch>> {
        let store = self.delta().object_store();
        let mut out = Vec::new();
        let mut have = 0;
        for path in self.live_files()? {
            if have >= limit {
                break;
            }
            let bytes = file_bytes(store.as_ref(), &path).await?;
            for b in parquet_batches(bytes, path.as_ref())? {
                let take = b.num_rows().min(limit - have);
                have += take;
                out.push(b.slice(0, take));
                if have >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The current version's rows of `blocks`, each given as (number, `block_date` partition).
    /// Only the files of those partitions whose statistics span one of them are read: meant for a few recent blocks (the sink looks
    /// up the transactions of blocks landed before it restarted), not for a scan.
    pub async fn landed_rows_of_blocks(&mut self, blocks: &[(u64, String)]) -> Result<Vec<RecordBatch>> {
        'again: loop {
            let mut out = Vec::new();
            for (date, files) in self.files_by_partition()? {
                let mut wanted = BlockRanges::new();
                for (n, _) in blocks.iter().filter(|(_, d)| *d == date) {
                    wanted.insert(*n, *n);
                }
                if wanted.is_empty() {
                    continue;
                }
                let numbers = || blocks.iter().filter(|(_, d)| *d == date).map(|(n, _)| *n);
                for file in files.iter().filter(|f| f.may_hold(numbers())) {
                    // A file another writer replaced since this snapshot: read the new one.
                    let Some(batches) = self.read_live_file(&file.path, &date).await? else {
                        continue 'again;
                    };
                    for b in batches {
                        let kept = self.rows_of_blocks(&b, &wanted)?;
                        if kept.num_rows() > 0 {
                            out.push(kept);
                        }
                    }
                }
            }
            return Ok(out);
        }
    }
}

/// What a plain Hive reader listing the table's folder sees, on any store (local, HDFS, S3):
/// every `*.parquet` under it outside `_`/`.`-prefixed names, whether Delta reads it or not.
pub async fn listed_rows(table: &LakeTable) -> Result<Vec<RecordBatch>> {
    use futures::TryStreamExt;
    let store = table.delta().object_store();
    let listed: Vec<_> = store.list(None).try_collect().await.map_err(|e| Error::Parquet {
        file: table.delta().table_url().to_string(),
        reason: format!("listing: {e}"),
    })?;
    let mut paths: Vec<deltalake::Path> = listed
        .into_iter()
        .map(|meta| meta.location)
        .filter(|path| {
            let hidden = path
                .parts()
                .any(|p| p.as_ref().starts_with('_') || p.as_ref().starts_with('.'));
            !hidden && path.as_ref().ends_with(".parquet")
        })
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let bytes = file_bytes(store.as_ref(), &path).await?;
        out.extend(parquet_batches(bytes, path.as_ref())?);
    }
    Ok(out)
}

/// A whole file of the table's store.
pub(crate) async fn file_bytes(store: &dyn deltalake::ObjectStore, path: &deltalake::Path) -> Result<Bytes> {
    let err = |e: deltalake::ObjectStoreError| Error::Parquet {
        file: path.to_string(),
        reason: e.to_string(),
    };
    store.get(path).await.map_err(err)?.bytes().await.map_err(err)
}

/// What a plain Hive reader sees in a local table folder: every Parquet file below it, skipping
/// `_`- and `.`-prefixed names (the Hive and Spark convention for hidden files, `_delta_log`).
pub fn hive_files(table_dir: &FsPath) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![table_dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::Parquet {
            file: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if name.starts_with('_') || name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if name.ends_with(".parquet") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

pub fn hive_rows(table_dir: &FsPath) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for file in hive_files(table_dir)? {
        let bytes = std::fs::read(&file).map_err(|e| Error::Parquet {
            file: file.display().to_string(),
            reason: e.to_string(),
        })?;
        out.extend(parquet_batches(Bytes::from(bytes), &file.display().to_string())?);
    }
    Ok(out)
}

pub(crate) fn parquet_batches(bytes: Bytes, name: &str) -> Result<Vec<RecordBatch>> {
    parquet_reader(bytes, name, None)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| parquet_error(name, &e))
}

/// Rows per batch read from a data file: what compaction hands its writer at a time.
pub(crate) const BATCH_ROWS: usize = 8192;

/// A reader of the file `name`'s rows, [`BATCH_ROWS`] at a time, of only the `columns` named if
/// given.
pub(crate) fn parquet_reader(bytes: Bytes, name: &str, columns: Option<&[&str]>) -> Result<ParquetRecordBatchReader> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| parquet_error(name, &e))?;
    let builder = match columns {
        Some(columns) => {
            let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
            builder.with_projection(mask)
        }
        None => builder,
    };
    builder
        .with_batch_size(BATCH_ROWS)
        .build()
        .map_err(|e| parquet_error(name, &e))
}

pub(crate) fn parquet_error(name: &str, e: &dyn std::fmt::Display) -> Error {
    Error::Parquet {
        file: name.to_string(),
        reason: e.to_string(),
    }
}
