//! `logs`: every log of every successful transaction, as BigQuery's `crypto_ethereum.logs`
//! (`topics` an array of strings). From the receipts: no request of its own.

use std::sync::Arc;

use chainx_evm::LogRow;
use deltalake::arrow::array::{ArrayRef, ListArray, RecordBatch};
use deltalake::arrow::buffer::OffsetBuffer;
use deltalake::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};

use super::columns::{dates, field, int, ints, strings, timestamp, timestamps};
use super::{Dataset, Fetch, PARTITION_COLUMN};
use crate::error::{Error, Result};

pub(crate) const DATASET: Dataset = Dataset {
    name: "logs",
    block_columns: ("block_number", "block_hash"),
    sort_keys: &["block_number", "log_index"],
    schema,
    fetch: Fetch::Receipts,
};

/// Named `element`, as Delta's Arrow conversion names list items, so batches and the table's
/// schema compare equal.
fn topic_item() -> FieldRef {
    Arc::new(Field::new("element", DataType::Utf8, true))
}

pub fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        field("log_index", DataType::Int64, false),
        field("transaction_hash", DataType::Utf8, false),
        field("transaction_index", DataType::Int64, false),
        field("address", DataType::Utf8, false),
        field("data", DataType::Utf8, true),
        field("topics", DataType::List(topic_item()), true),
        field("block_timestamp", timestamp(), false),
        field("block_number", DataType::Int64, false),
        field("block_hash", DataType::Utf8, false),
        field(PARTITION_COLUMN, DataType::Date32, false),
    ]))
}

fn topics(rows: &[LogRow]) -> Result<ArrayRef> {
    let mut offsets = Vec::with_capacity(rows.len() + 1);
    offsets.push(0i32);
    let mut total = 0usize;
    for r in rows {
        total += r.topics.len();
        offsets.push(i32::try_from(total).map_err(|_| Error::Overflow {
            block: r.block_number,
            field: "topics",
            value: total.to_string(),
            target: "one batch",
        })?);
    }
    let values = strings(rows.iter().flat_map(|r| r.topics.iter().map(|t| Some(t.as_str()))));
    Ok(Arc::new(ListArray::try_new(
        topic_item(),
        OffsetBuffer::new(offsets.into()),
        values,
        None,
    )?))
}

pub fn batch(rows: &[LogRow]) -> Result<RecordBatch> {
    let int_col = |f: &'static str, get: fn(&LogRow) -> u64| -> Result<ArrayRef> {
        Ok(ints(
            rows.iter()
                .map(|r| int(r.block_number, f, get(r)).map(Some))
                .collect::<Result<_>>()?,
        ))
    };
    let columns: Vec<ArrayRef> = vec![
        int_col("log_index", |r| r.log_index)?,
        strings(rows.iter().map(|r| Some(r.transaction_hash.as_str()))),
        int_col("transaction_index", |r| r.transaction_index)?,
        strings(rows.iter().map(|r| Some(r.address.as_str()))),
        strings(rows.iter().map(|r| Some(r.data.as_str()))),
        topics(rows)?,
        timestamps(rows.iter().map(|r| r.block_timestamp))?,
        int_col("block_number", |r| r.block_number)?,
        strings(rows.iter().map(|r| Some(r.block_hash.as_str()))),
        dates(rows.iter().map(|r| r.block_timestamp)),
    ];
    Ok(RecordBatch::try_new(schema(), columns)?)
}
