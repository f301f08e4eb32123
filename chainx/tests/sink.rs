//! The lake sink end to end on a real Kafka broker: the fixture chain's topics land exactly
//! once in the same tables the backfill writes, through repeated SIGKILLs, next to rows the
//! backfill landed first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use chainx_tables::arrow::array::{Array, AsArray, RecordBatch};
use chainx_tables::arrow::datatypes::Int64Type;
use chainx_tables::{lake_url, read, LakeTable, TableKind};
use chainx_testkit::anvil::{manifest, Anvil};
use chainx_testkit::kafka::{produce, read_until, Kafka};
use common::{create_topics, Job};
use serde_json::json;

mod common;

/// Delta commits of a table so far.
fn commits(lake: &Path, table: &str) -> usize {
    std::fs::read_dir(lake.join(table).join("_delta_log"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(column).unwrap();
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    out
}

fn numbers(batches: &[RecordBatch], column: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(column).unwrap().as_primitive::<Int64Type>();
        out.extend(c.values().iter().map(|v| *v as u64));
    }
    out
}

/// Rows of a table by Delta, checked equal in number to the plain Hive folders.
async fn rows(lake: &Path, kind: TableKind) -> Vec<RecordBatch> {
    let table = LakeTable::open(&lake_url(lake.to_str().unwrap()).unwrap(), kind)
        .await
        .unwrap();
    let delta = read::delta_rows(&table).await.unwrap();
    let hive = read::hive_rows(&lake.join(kind.name())).unwrap();
    let count = |bs: &[RecordBatch]| bs.iter().map(|b| b.num_rows()).sum::<usize>();
    assert_eq!(count(&delta), count(&hive), "{}: Delta and Hive disagree", kind.name());
    delta
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_lands_every_row_once_through_ten_kills_next_to_a_backfill() {
    let m = manifest();
    let kafka = Kafka::start().await;
    let anvil = Anvil::fixture().await;
    let b = kafka.brokers.as_str();
    let last = m.last_block.to_string();
    create_topics(b, "sink");
    Job::start(&[
        "block-clock",
        "--brokers",
        b,
        "--network",
        "sink",
        "--rpc-url",
        &anvil.url,
        "--start-block",
        "0",
        "--until-block",
        &last,
    ])
    .finish(Duration::from_secs(120));

    // Not a transaction: it must reach the dead-letter topic, not stop the sink.
    produce(b, "sink.mined.tx.1.native_token_transfer", "0xbad", b"{\"hash\": 7}").await;

    // The batch layer lands the first 200 blocks; the stream brings them again.
    let lake = tempfile::tempdir().unwrap();
    let lake_path = lake.path().to_str().unwrap();
    Job::start(&[
        "backfill",
        "--rpc-url",
        &anvil.url,
        "--from",
        "0",
        "--to",
        "199",
        "--lake",
        lake_path,
        "--no-receipts",
    ])
    .finish(Duration::from_secs(120));

    let args = [
        "sink",
        "--brokers",
        b,
        "--network",
        "sink",
        "--lake",
        lake_path,
        "--flush-rows",
        "20",
        "--flush-interval",
        "0.5",
        "--until-block",
        &last,
    ];
    // Ten SIGKILLs, each once the transactions table has grown by a commit (or two, at random);
    // small flushes make many commit points, so all ten land mid-stream.
    let mut seed = 20261127u64;
    for kill in 0..10 {
        let before = commits(lake.path(), "transactions");
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let wait_for = before + 1 + (seed >> 63) as usize;
        let mut sink = Job::start(&args);
        let deadline = Instant::now() + Duration::from_secs(120);
        while commits(lake.path(), "transactions") < wait_for {
            assert!(
                sink.running(),
                "kill {kill}: the sink ended before it was killed:\n{}",
                sink.stderr()
            );
            assert!(
                Instant::now() < deadline,
                "kill {kill}: no progress:\n{}",
                sink.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        sink.kill();
    }
    let summary = Job::start(&args).finish(Duration::from_secs(180));
    assert!(summary.starts_with("landed"), "{summary}");
    let dead = read_until(b, "sink.sink.dead_letter", Duration::from_secs(30), |rs| !rs.is_empty());
    assert_eq!(dead[0].key, "0xbad");
    assert_eq!(dead[0].value["topic"], json!("sink.mined.tx.1.native_token_transfer"));
    assert!(
        dead[0].value["reason"].as_str().unwrap().contains("not a transaction"),
        "{:?}",
        dead[0].value
    );

    let blocks = rows(lake.path(), TableKind::Blocks).await;
    let mut numbers = numbers(&blocks, "number");
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..=m.last_block).collect::<Vec<_>>(),
        "every block exactly once"
    );
    let txs = rows(lake.path(), TableKind::Transactions).await;
    let hashes = strings(&txs, "hash");
    let distinct: BTreeSet<String> = hashes.iter().cloned().collect();
    assert_eq!(hashes.len(), distinct.len(), "no transaction twice");
    let chain: BTreeSet<String> = anvil.tx_hashes(0, m.last_block).await.into_iter().collect();
    assert_eq!(distinct, chain, "exactly the chain's transactions");
    let table = LakeTable::open(&lake_url(lake_path).unwrap(), TableKind::Transactions)
        .await
        .unwrap();
    assert_eq!(table.covered().unwrap().to_string(), format!("0-{}", m.last_block));
}
