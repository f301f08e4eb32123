//! The rows of a group of data files in the table's sort order, a chunk at a time: what
//! compaction writes. Rows whose files are already in order (the usual case: a sink or backfill
//! writes blocks in order) are decoded one chunk at a time from the compressed files; only a
//! group that needs sorting is decoded whole, and then it is taken in order a chunk at a time,
//! never copied whole again (a concat, then a take, held three copies of the group).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;
use deltalake::arrow::array::{new_null_array, ArrayRef, Date32Array, RecordBatch};
use deltalake::arrow::compute::{concat, interleave_record_batch, lexsort_to_indices, SortColumn};
use deltalake::arrow::datatypes::SchemaRef;
use deltalake::parquet::arrow::arrow_reader::ParquetRecordBatchReader;

use crate::datasets::PARTITION_COLUMN;
use crate::error::{Error, Result};
use crate::read::{parquet_error, parquet_reader, BATCH_ROWS};

/// A data file's name (for errors) and its compressed bytes.
pub(crate) type FileBytes = (String, Bytes);

/// The group's rows, in order, in chunks of [`BATCH_ROWS`], in the table's schema: the
/// partition column, which lives in the path, put back as `days` since 1970-01-01.
pub(crate) struct SortedRows {
    schema: SchemaRef,
    days: i32,
    source: Source,
}

enum Source {
    /// Already in order: each file decoded a chunk at a time, in turn.
    InOrder {
        files: VecDeque<FileBytes>,
        reading: Option<(String, ParquetRecordBatchReader)>,
    },
    /// Decoded whole; `order` holds (batch, row) of each output row.
    Reordered {
        batches: Vec<RecordBatch>,
        order: Vec<(usize, usize)>,
        next: usize,
    },
}

impl SortedRows {
    /// The rows of `files` (in the order given) sorted by `sort_keys`.
    pub(crate) fn new(files: Vec<FileBytes>, sort_keys: &[&str], schema: SchemaRef, days: i32) -> Result<Self> {
        let source = match sort_order(&files, sort_keys)? {
            None => Source::InOrder {
                files: files.into(),
                reading: None,
            },
            Some(sorted) => {
                let mut batches = Vec::new();
                let mut located = Vec::with_capacity(sorted.len());
                for (name, bytes) in files {
                    for batch in parquet_reader(bytes, &name, None)? {
                        let batch = batch.map_err(|e| parquet_error(&name, &e))?;
                        located.extend((0..batch.num_rows()).map(|row| (batches.len(), row)));
                        // Files of an older chainx lack columns: one schema, to interleave.
                        batches.push(with_partition_column(&batch, &schema, days)?);
                    }
                }
                let order = sorted.into_iter().map(|i| located[i as usize]).collect();
                Source::Reordered {
                    batches,
                    order,
                    next: 0,
                }
            }
        };
        Ok(SortedRows { schema, days, source })
    }

    /// The next chunk, or `None` when every row was given.
    pub(crate) fn next_chunk(&mut self) -> Result<Option<RecordBatch>> {
        let chunk = match &mut self.source {
            Source::InOrder { files, reading } => loop {
                if let Some((name, rows)) = reading {
                    match rows.next() {
                        Some(batch) => break batch.map_err(|e| parquet_error(name, &e))?,
                        None => *reading = None,
                    }
                }
                let Some((name, bytes)) = files.pop_front() else {
                    return Ok(None);
                };
                *reading = Some((name.clone(), parquet_reader(bytes, &name, None)?));
            },
            Source::Reordered { batches, order, next } => {
                if *next >= order.len() {
                    return Ok(None);
                }
                let end = (*next + BATCH_ROWS).min(order.len());
                let refs: Vec<&RecordBatch> = batches.iter().collect();
                let chunk = interleave_record_batch(&refs, &order[*next..end])?;
                *next = end;
                return Ok(Some(chunk));
            }
        };
        with_partition_column(&chunk, &self.schema, self.days).map(Some)
    }
}

/// `batch` (a data file's rows) in the table's `schema`: the partition column, which lives in
/// the file's path, put back as `days` since 1970-01-01, and columns matched by name, those a
/// file of an older chainx lacks as nulls.
pub(crate) fn with_partition_column(batch: &RecordBatch, schema: &SchemaRef, days: i32) -> Result<RecordBatch> {
    let rows = batch.num_rows();
    let columns: Vec<ArrayRef> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.name() == PARTITION_COLUMN {
                Arc::new(Date32Array::from(vec![days; rows])) as ArrayRef
            } else {
                batch
                    .column_by_name(f.name())
                    .cloned()
                    .unwrap_or_else(|| new_null_array(f.data_type(), rows))
            }
        })
        .collect();
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The order sorting the rows of `files` (taken one after another) by `sort_keys`, from those
/// columns alone; `None` if the rows are in that order already.
fn sort_order(files: &[FileBytes], sort_keys: &[&str]) -> Result<Option<Vec<u32>>> {
    let mut keys: Vec<Vec<ArrayRef>> = vec![Vec::new(); sort_keys.len()];
    for (name, bytes) in files {
        for batch in parquet_reader(bytes.clone(), name, Some(sort_keys))? {
            let batch = batch.map_err(|e| parquet_error(name, &e))?;
            for (key, column) in sort_keys.iter().zip(keys.iter_mut()) {
                let values = batch.column_by_name(key).ok_or_else(|| Error::Parquet {
                    file: name.clone(),
                    reason: format!("no column {key}, which the table is sorted by"),
                })?;
                column.push(values.clone());
            }
        }
    }
    let mut columns = Vec::with_capacity(keys.len());
    for parts in &keys {
        let parts: Vec<&dyn deltalake::arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
        if parts.is_empty() {
            return Ok(None);
        }
        columns.push(SortColumn {
            values: concat(&parts)?,
            options: None,
        });
    }
    let order = lexsort_to_indices(&columns, None)?;
    let in_order = order.values().iter().enumerate().all(|(i, &row)| row as usize == i);
    Ok((!in_order).then(|| order.values().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::arrow::array::{Array, Int64Array, StringArray};
    use deltalake::arrow::datatypes::{DataType, Field, Schema};
    use deltalake::parquet::arrow::ArrowWriter;

    fn table_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("block_number", DataType::Int64, false),
            Field::new("transaction_index", DataType::Int64, false),
            Field::new("hash", DataType::Utf8, false),
            Field::new("block_date", DataType::Date32, false),
        ]))
    }

    /// A Parquet file of (block, index) rows, in the order given, each with a distinct hash.
    fn file(name: &str, rows: &[(i64, i64)]) -> FileBytes {
        let schema = Arc::new(Schema::new(table_schema().fields()[..3].to_vec()));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|r| format!("{}-{}", r.0, r.1)),
                )),
            ],
        )
        .unwrap();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        (name.to_string(), Bytes::from(out))
    }

    fn drain(mut rows: SortedRows) -> Vec<(i64, i64, String, i32)> {
        let mut out = Vec::new();
        while let Some(chunk) = rows.next_chunk().unwrap() {
            assert!(chunk.num_rows() <= BATCH_ROWS);
            let col = |i: usize| chunk.column(i).clone();
            let (block, index, hash, date) = (col(0), col(1), col(2), col(3));
            let block = block.as_any().downcast_ref::<Int64Array>().unwrap();
            let index = index.as_any().downcast_ref::<Int64Array>().unwrap();
            let hash = hash.as_any().downcast_ref::<StringArray>().unwrap();
            let date = date.as_any().downcast_ref::<Date32Array>().unwrap();
            assert_eq!(date.null_count(), 0);
            for row in 0..chunk.num_rows() {
                out.push((
                    block.value(row),
                    index.value(row),
                    hash.value(row).to_string(),
                    date.value(row),
                ));
            }
        }
        out
    }

    #[test]
    fn interleaved_files_come_out_sorted_with_every_row() {
        // Two writers' files whose blocks interleave, more rows than one chunk.
        let a: Vec<(i64, i64)> = (0..6000).map(|i| (2 * (i / 3), i % 3)).collect();
        let b: Vec<(i64, i64)> = (0..6000).map(|i| (2 * (i / 3) + 1, i % 3)).collect();
        let rows = SortedRows::new(
            vec![file("a", &a), file("b", &b)],
            &["block_number", "transaction_index"],
            table_schema(),
            19_600,
        )
        .unwrap();
        assert!(matches!(rows.source, Source::Reordered { .. }));
        let out = drain(rows);
        let mut expected: Vec<(i64, i64)> = a.iter().chain(&b).copied().collect();
        expected.sort();
        let got: Vec<(i64, i64)> = out.iter().map(|r| (r.0, r.1)).collect();
        assert_eq!(got, expected);
        assert!(out.iter().all(|r| r.2 == format!("{}-{}", r.0, r.1) && r.3 == 19_600));
    }

    #[test]
    fn files_in_order_are_streamed_unchanged() {
        let a: Vec<(i64, i64)> = (0..10_000).map(|i| (i / 150, i % 150)).collect();
        let b: Vec<(i64, i64)> = (10_000..12_000).map(|i| (i / 150 + 100, i % 150)).collect();
        let rows = SortedRows::new(
            vec![file("a", &a), file("b", &b)],
            &["block_number", "transaction_index"],
            table_schema(),
            7,
        )
        .unwrap();
        assert!(matches!(rows.source, Source::InOrder { .. }));
        let out = drain(rows);
        let expected: Vec<(i64, i64)> = a.iter().chain(&b).copied().collect();
        assert_eq!(out.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>(), expected);
    }

    #[test]
    fn a_file_without_a_sort_column_is_named() {
        let schema = Arc::new(Schema::new(vec![Field::new("other", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(Int64Array::from(vec![1]))]).unwrap();
        let mut out = Vec::new();
        let mut writer = ArrowWriter::try_new(&mut out, schema, None).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let err = SortedRows::new(
            vec![("part-7.parquet".into(), Bytes::from(out))],
            &["block_number"],
            table_schema(),
            0,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("part-7.parquet"), "{err}");
    }
}
