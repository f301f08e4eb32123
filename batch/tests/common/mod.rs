//! Helpers shared by the batch integration tests: run a backfill, read the lake back as rows.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod etl;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chainx_batch::{backfill, BackfillConfig, Finality, Summary};
use chainx_evm::{RpcClient, RpcConfig};
use chainx_tables::arrow::array::{Array, AsArray, RecordBatch};
use chainx_tables::arrow::datatypes::{DataType, Decimal128Type, Int64Type, TimestampMicrosecondType};
use chainx_tables::{read, Lake, LakeTable, TableKind};
use indicatif::ProgressBar;

/// A row as column -> value text (None for null); timestamps as epoch seconds, decimals as
/// integers: the forms ethereum-etl's expected files use.
pub type Row = BTreeMap<String, Option<String>>;

pub fn rpc(url: &str) -> RpcConfig {
    let mut c = RpcConfig::new(url);
    c.initial_backoff = Duration::from_millis(5);
    c.max_backoff = Duration::from_millis(50);
    c
}

/// A backfill of `from..=to` that may run to the head: the fixture chain and the recorded replies
/// are never reorganised (the default stops at the node's `finalized` block).
pub fn to_head(from: u64, to: u64, lake: &str) -> BackfillConfig {
    let mut cfg = BackfillConfig::new(from, to, lake);
    cfg.finality = Finality::Head;
    cfg
}

pub async fn run(rpc: RpcConfig, cfg: &BackfillConfig) -> chainx_batch::Result<Summary> {
    let client = Arc::new(RpcClient::new(rpc)?);
    let fetcher = cfg.block_fetcher(client);
    backfill(&fetcher, cfg, &ProgressBar::hidden()).await
}

pub fn rows(batches: &[RecordBatch]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let schema = b.schema();
        for i in 0..b.num_rows() {
            let mut row = Row::new();
            for (field, col) in schema.fields().iter().zip(b.columns()) {
                let v = if col.is_null(i) {
                    None
                } else {
                    Some(match col.data_type() {
                        DataType::Utf8 => col.as_string::<i32>().value(i).to_string(),
                        DataType::Int64 => col.as_primitive::<Int64Type>().value(i).to_string(),
                        DataType::Boolean => col.as_boolean().value(i).to_string(),
                        DataType::Decimal128(_, 0) => col.as_primitive::<Decimal128Type>().value(i).to_string(),
                        DataType::Timestamp(_, _) => {
                            (col.as_primitive::<TimestampMicrosecondType>().value(i) / 1_000_000).to_string()
                        }
                        // A list of strings (topics) as a JSON array, as ethereum-etl's JSON has it.
                        DataType::List(item) if item.data_type() == &DataType::Utf8 => {
                            let list = col.as_list::<i32>().value(i);
                            let items: Vec<&str> =
                                list.as_string::<i32>().iter().map(Option::unwrap_or_default).collect();
                            serde_json::to_string(&items).unwrap()
                        }
                        DataType::List(_) => format!("{} withdrawals", col.as_list::<i32>().value(i).len()),
                        other => format!("<{other}>"),
                    })
                };
                row.insert(field.name().clone(), v);
            }
            out.push(row);
        }
    }
    out
}

pub async fn delta_rows(lake: &Path, kind: TableKind) -> Vec<Row> {
    let table = LakeTable::open(&Lake::parse(lake.to_str().unwrap()).unwrap(), kind)
        .await
        .unwrap();
    rows(&read::delta_rows(&table).await.unwrap())
}

pub fn hive_rows(lake: &Path, kind: TableKind) -> Vec<Row> {
    rows(&read::hive_rows(&lake.join(kind.name())).unwrap())
}

pub async fn coverage(lake: &Path, kind: TableKind) -> String {
    let table = LakeTable::open(&Lake::parse(lake.to_str().unwrap()).unwrap(), kind)
        .await
        .unwrap();
    table.covered().unwrap().to_string()
}

/// Sorted values of one column.
pub fn column(rows: &[Row], name: &str) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(|r| r[name].clone().unwrap_or_default()).collect();
    v.sort();
    v
}

/// The lake holds blocks `from..=to` exactly once each, and a plain Hive reader sees the same.
pub async fn assert_exactly(lake: &Path, from: u64, to: u64) -> (Vec<Row>, Vec<Row>) {
    let blocks = delta_rows(lake, TableKind::Blocks).await;
    let mut numbers: Vec<u64> = blocks
        .iter()
        .map(|r| r["number"].clone().unwrap().parse().unwrap())
        .collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (from..=to).collect::<Vec<_>>(),
        "blocks table is not exactly {from}..={to}"
    );
    let txs = delta_rows(lake, TableKind::Transactions).await;
    let hashes = column(&txs, "hash");
    let mut unique = hashes.clone();
    unique.dedup();
    assert_eq!(hashes.len(), unique.len(), "duplicate transactions landed");
    for kind in TableKind::BLOCK_TABLES {
        let delta = delta_rows(lake, kind).await;
        let hive = hive_rows(lake, kind);
        assert_eq!(
            hive.len(),
            delta.len(),
            "{}: a Hive reader sees other rows than Delta",
            kind.name()
        );
        assert_eq!(
            column(&hive, "hash"),
            column(&delta, "hash"),
            "{}: Hive and Delta rows differ",
            kind.name()
        );
    }
    (blocks, txs)
}
