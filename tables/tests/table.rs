//! A lake table on a local folder: exactly-once appends, coverage across checkpoints, uncommitted
//! files left to a vacuum.

use chainx_evm::alloy_primitives::U256;
use chainx_evm::{BlockRow, TransactionRow};
use chainx_tables::{blocks_batch, read, transactions_batch, BlockRanges, Lake, LakeTable, RemovedBlock, TableKind};

fn block(number: u64) -> BlockRow {
    BlockRow {
        number,
        hash: format!("{:#066x}", number + 1),
        parent_hash: format!("{:#066x}", number),
        logs_bloom: Some("0x".into()),
        miner: Some(format!("{:#042x}", 0)),
        extra_data: Some("0x".into()),
        gas_limit: Some(30_000_000),
        // One UTC day per 100 blocks, so batches span partitions.
        timestamp: 1_709_251_200 + number * 864,
        base_fee_per_gas: Some(U256::from(7u64)),
        ..BlockRow::default()
    }
}

#[tokio::test]
async fn coverage_survives_checkpoints_and_landed_blocks_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();
    let mut table = LakeTable::open_or_create(&lake, TableKind::Blocks).await.unwrap();
    // 60 commits crosses the checkpoint interval (50).
    for i in 0..60u64 {
        let rows: Vec<BlockRow> = (i * 5..i * 5 + 5).map(block).collect();
        table
            .append(blocks_batch(&rows).unwrap(), i * 5, i * 5 + 4)
            .await
            .unwrap();
    }
    assert!(
        dir.path().join("blocks/_delta_log/_last_checkpoint").exists(),
        "no checkpoint written"
    );

    let reopened = LakeTable::open(&lake, TableKind::Blocks).await.unwrap();
    assert_eq!(reopened.covered().unwrap().to_string(), "0-299");
    let rows: usize = read::delta_rows(&reopened)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 300);
    assert_eq!(
        read::hive_files(&dir.path().join("blocks")).unwrap().len(),
        reopened.live_files().unwrap().len()
    );

    let mut table = reopened;
    let version = table.version();
    let appended = table
        .append(blocks_batch(&[block(299), block(300)]).unwrap(), 299, 300)
        .await
        .unwrap();
    assert_eq!(appended, 1, "299 had landed; only 300 is appended");
    assert_eq!(table.version(), version.map(|v| v + 1));
    assert_eq!(table.covered().unwrap().to_string(), "0-300");
    assert_eq!(
        table
            .append(blocks_batch(&[block(300)]).unwrap(), 300, 300)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        table.version(),
        version.map(|v| v + 1),
        "nothing left to land commits nothing"
    );
}

#[tokio::test]
async fn file_stats_hold_only_the_block_columns() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();
    let mut table = LakeTable::open_or_create(&lake, TableKind::Blocks).await.unwrap();
    let rows: Vec<BlockRow> = (0..10).map(block).collect();
    table.append(blocks_batch(&rows).unwrap(), 0, 9).await.unwrap();
    let log = dir.path().join("blocks/_delta_log/00000000000000000001.json");
    let mut adds = 0;
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let action: serde_json::Value = serde_json::from_str(line).unwrap();
        let Some(stats) = action["add"]["stats"].as_str() else {
            continue;
        };
        let stats: serde_json::Value = serde_json::from_str(stats).unwrap();
        let mut columns: Vec<&String> = stats["minValues"].as_object().unwrap().keys().collect();
        columns.sort();
        assert_eq!(columns, ["number", "timestamp"], "stats of {stats}");
        assert!(stats["numRecords"].as_u64().unwrap() > 0);
        adds += 1;
    }
    // 10 blocks at 100 a day: one partition, one file.
    assert_eq!(adds, 1, "one file added in {}", log.display());
}

#[tokio::test]
async fn a_range_without_rows_is_covered_and_uncommitted_files_wait_for_a_vacuum() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();
    let mut txs = LakeTable::open_or_create(&lake, TableKind::Transactions).await.unwrap();
    let empty: Vec<TransactionRow> = Vec::new();
    txs.append(transactions_batch(&empty).unwrap(), 0, 99).await.unwrap();
    assert_eq!(txs.covered().unwrap().to_string(), "0-99");
    assert!(txs.live_files().unwrap().is_empty());

    let stray = dir
        .path()
        .join("transactions/block_date=2024-03-01/part-orphan.snappy.parquet");
    std::fs::create_dir_all(stray.parent().unwrap()).unwrap();
    std::fs::write(&stray, b"not committed").unwrap();
    let young = txs.vacuum(std::time::Duration::from_secs(3600), false).await.unwrap();
    assert!(
        young.files.is_empty() && stray.exists(),
        "a file younger than the retention may be about to commit"
    );
    let listed = txs.vacuum(std::time::Duration::ZERO, true).await.unwrap();
    assert_eq!(listed.files.len(), 1);
    assert!(stray.exists(), "a dry run deletes nothing");
    assert_eq!(
        txs.vacuum(std::time::Duration::ZERO, false).await.unwrap().files.len(),
        1
    );
    assert!(!stray.exists());
    assert!(
        dir.path().join("transactions/_delta_log").is_dir(),
        "the log is not an orphan"
    );
}

#[tokio::test]
async fn opening_a_missing_table_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();
    let err = LakeTable::open(&lake, TableKind::Blocks).await.unwrap_err().to_string();
    assert!(
        err.contains("no Delta table") && err.contains("chainx backfill"),
        "{err}"
    );
}

#[test]
fn unsupported_lake_schemes_are_refused_with_what_to_use() {
    let err = Lake::parse("ftp://host/lake").unwrap_err().to_string();
    assert!(
        err.contains("ftp://host/lake") && err.contains("local folder") && err.contains("hdfs://"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::parse(dir.path().join("new/lake").to_str().unwrap()).unwrap();
    let url = lake.url().as_str();
    assert!(url.starts_with("file://") && url.ends_with("/new/lake/"), "{url}");
    assert!(lake.local_path().unwrap().is_dir());
}

#[tokio::test]
async fn unwinding_deletes_only_the_removed_hash_and_keeps_another_branch_covered() {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();
    let mut table = LakeTable::open_or_create(&lake, TableKind::Blocks).await.unwrap();
    let rows: Vec<BlockRow> = (0..10).map(block).collect();
    table
        .append_blocks(blocks_batch(&rows).unwrap(), &BlockRanges::span(0, 9), &[])
        .await
        .unwrap();
    let date = |b: &BlockRow| {
        chrono::DateTime::from_timestamp(b.timestamp as i64, 0)
            .unwrap()
            .format("%Y-%m-%d")
            .to_string()
    };
    let removed = |b: &BlockRow, hash: &str| RemovedBlock {
        number: b.number,
        hash: hash.to_string(),
        date: date(b),
    };
    // Block 8 as landed, and block 9 under a hash the table does not hold (another branch).
    let gone = [removed(&rows[8], &rows[8].hash), removed(&rows[9], "0xother")];
    let deleted = table
        .unwind(&gone, &[("chainx-sink:t:0".to_string(), 42)])
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(table.covered().unwrap().to_string(), "0-7,9-9");
    assert_eq!(table.app_version("chainx-sink:t:0").await.unwrap(), Some(42));
    let left: usize = read::delta_rows(&table)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(left, 9);
    // The Hive view agrees: the rewritten file replaced the old one in the same commit, and
    // nothing else changes when the same event is replayed.
    assert_eq!(table.unwind(&gone, &[]).await.unwrap(), 0);
    let version = table.version();
    table.refresh().await.unwrap();
    assert_eq!(table.version(), version, "a replay commits nothing");
}
