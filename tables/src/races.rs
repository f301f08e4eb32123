//! The races of the commit protocol ([`crate::commit`]), each forced deterministically: one
//! writer plans on a snapshot, another commits, then the first commits its old plan. Every
//! writer is its own `LakeTable` handle on one local lake, as separate processes would be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use chainx_evm::BlockRow;
use deltalake::arrow::array::{AsArray, RecordBatch};
use deltalake::arrow::datatypes::Int64Type;
use deltalake::protocol::DeltaOperation;

use crate::commit::{Outcome, Plan};
use crate::unwind::Planned;
use crate::{blocks_batch, read, BlockRanges, Lake, LakeTable, RemovedBlock, TableKind};

fn block(number: u64) -> BlockRow {
    BlockRow {
        number,
        hash: format!("{:#066x}", number + 1),
        parent_hash: format!("{:#066x}", number),
        // All in one day: one partition, so compaction and unwinds meet in the same files.
        timestamp: 1_709_251_200 + number,
        ..BlockRow::default()
    }
}

fn batch(from: u64, to: u64) -> RecordBatch {
    blocks_batch(&(from..=to).map(block).collect::<Vec<_>>()).unwrap()
}

fn removed(n: u64) -> RemovedBlock {
    RemovedBlock {
        number: n,
        hash: block(n).hash,
        date: "2024-03-01".into(),
    }
}

/// Two handles on one new lake.
async fn two_writers() -> (tempfile::TempDir, LakeTable, LakeTable) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();
    let a = LakeTable::open_or_create(&lake, TableKind::Blocks).await.unwrap();
    let b = LakeTable::open_or_create(&lake, TableKind::Blocks).await.unwrap();
    (dir, a, b)
}

/// How often each block number appears among the live rows (a fresh handle's view).
async fn row_counts(dir: &tempfile::TempDir) -> BTreeMap<i64, usize> {
    let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();
    let table = LakeTable::open(&lake, TableKind::Blocks).await.unwrap();
    let mut counts = BTreeMap::new();
    for b in read::delta_rows(&table).await.unwrap() {
        for n in b.column_by_name("number").unwrap().as_primitive::<Int64Type>().values() {
            *counts.entry(*n).or_insert(0) += 1;
        }
    }
    counts
}

fn once_each(range: impl Iterator<Item = u64>) -> BTreeMap<i64, usize> {
    range.map(|n| (n as i64, 1)).collect()
}

fn append_op() -> DeltaOperation {
    DeltaOperation::Write {
        mode: deltalake::protocol::SaveMode::Append,
        partition_by: None,
        predicate: None,
    }
}

/// `a`'s plan to append blocks `from..=to`, written and not committed.
async fn planned_append(a: &LakeTable, from: u64, to: u64) -> Plan {
    a.plan_append(&[batch(from, to)], &BlockRanges::span(from, to))
        .await
        .unwrap()
        .unwrap()
        .0
}

/// Blocks 0-9 in three files of one partition, with `b` refreshed to see them.
async fn three_files(a: &mut LakeTable, b: &mut LakeTable) {
    for (from, to) in [(0, 3), (4, 6), (7, 9)] {
        a.append(batch(from, to), from, to).await.unwrap();
    }
    b.refresh().await.unwrap();
}

async fn commit(table: &mut LakeTable, plan: &Plan) -> Outcome {
    table
        .commit_plan(plan, &[], append_op(), ("chainx.test", String::new()))
        .await
        .unwrap()
}

#[tokio::test]
async fn appends_of_disjoint_blocks_both_commit_although_both_rewrite_coverage() {
    let (dir, mut a, mut b) = two_writers().await;
    let plan = planned_append(&a, 0, 9).await;
    b.append(batch(10, 19), 10, 19).await.unwrap();
    assert!(matches!(commit(&mut a, &plan).await, Outcome::Committed(_)));
    assert_eq!(a.conflicts_retried(), 1, "the first attempt lost to b's commit");
    assert_eq!(a.covered().unwrap().to_string(), "0-19");
    assert_eq!(row_counts(&dir).await, once_each(0..=19));
}

#[tokio::test]
async fn an_append_that_lost_to_an_append_of_the_same_blocks_is_stale_and_lands_only_the_rest() {
    let (dir, mut a, mut b) = two_writers().await;
    let plan = planned_append(&a, 0, 9).await;
    let written: Vec<String> = plan.written_paths().map(str::to_string).collect();
    b.append(batch(5, 14), 5, 14).await.unwrap();
    assert_eq!(commit(&mut a, &plan).await, Outcome::Stale);
    for f in &written {
        assert!(
            !dir.path().join("blocks").join(f).exists(),
            "a stale plan's file {f} was left behind"
        );
    }
    assert_eq!(
        a.append(batch(0, 9), 0, 9).await.unwrap(),
        5,
        "only 0-4 were still missing"
    );
    assert_eq!(row_counts(&dir).await, once_each(0..=14));
    assert_eq!(a.covered().unwrap().to_string(), "0-14");
}

#[tokio::test]
async fn a_compaction_planned_before_an_unwind_plans_again_and_does_not_bring_the_rows_back() {
    let (dir, mut a, mut b) = two_writers().await;
    three_files(&mut a, &mut b).await;
    let (plan, summary) = a.plan_compaction().await.unwrap().unwrap();
    assert_eq!(summary.files_before, 3);
    assert_eq!(b.unwind(&[removed(5)], &[]).await.unwrap(), 1);
    assert_eq!(
        a.commit_plan(
            &plan,
            &[],
            DeltaOperation::Optimize {
                predicate: None,
                target_size: 0
            },
            ("t", String::new())
        )
        .await
        .unwrap(),
        Outcome::Stale,
        "the compaction merged a file the unwind replaced"
    );
    a.compact().await.unwrap();
    let mut want = once_each(0..=9);
    want.remove(&5);
    assert_eq!(row_counts(&dir).await, want);
    assert_eq!(a.covered().unwrap().to_string(), "0-4,6-9");
    assert_eq!(a.live_files().unwrap().len(), 1);
}

#[tokio::test]
async fn an_unwind_planned_before_a_compaction_plans_again_on_the_merged_file() {
    let (dir, mut a, mut b) = two_writers().await;
    three_files(&mut a, &mut b).await;
    let Planned::Plan { plan, .. } = a.plan_unwind(&[removed(5)]).await.unwrap() else {
        panic!("block 5 has rows to unwind");
    };
    b.compact().await.unwrap();
    assert_eq!(commit(&mut a, &plan).await, Outcome::Stale);
    assert_eq!(a.unwind(&[removed(5)], &[]).await.unwrap(), 1);
    let mut want = once_each(0..=9);
    want.remove(&5);
    assert_eq!(
        row_counts(&dir).await,
        want,
        "no row lost or doubled by the replaced files"
    );
}

#[tokio::test]
async fn two_compactions_at_once_keep_every_row_once() {
    let (dir, mut a, mut b) = two_writers().await;
    three_files(&mut a, &mut b).await;
    let (plan, _) = a.plan_compaction().await.unwrap().unwrap();
    b.compact().await.unwrap();
    assert_eq!(commit(&mut a, &plan).await, Outcome::Stale);
    assert_eq!(a.compact().await.unwrap().partitions, 0, "b's merge left nothing to do");
    assert_eq!(row_counts(&dir).await, once_each(0..=9));
}

#[tokio::test]
async fn vacuum_within_its_retention_keeps_an_in_flight_writers_files() {
    let (dir, mut a, mut b) = two_writers().await;
    a.append(batch(0, 9), 0, 9).await.unwrap();
    // a has written its files and not committed yet: a cleanup at b's start used to delete them.
    let plan = planned_append(&a, 10, 19).await;
    let kept = b.vacuum(Duration::from_secs(3600), false).await.unwrap();
    assert!(kept.files.is_empty(), "vacuumed {:?}", kept.files);
    assert!(matches!(commit(&mut a, &plan).await, Outcome::Committed(_)));
    assert_eq!(row_counts(&dir).await, once_each(0..=19));

    // Past its retention, only what no version reads goes: a file no one committed.
    let stray = dir
        .path()
        .join("blocks/block_date=2024-03-01/part-stray.snappy.parquet");
    std::fs::write(&stray, b"never committed").unwrap();
    let gone = b.vacuum(Duration::ZERO, false).await.unwrap();
    assert_eq!(gone.files.len(), 1, "{:?}", gone.files);
    assert!(!stray.exists());
    assert_eq!(row_counts(&dir).await, once_each(0..=19));
}

/// Race: writers find no table and all create it. Each loser must open the winner's table, not
/// commit its create at the next version (delta-rs's own retry would): that commit's metadata
/// would reset the coverage of every commit before it. Eight creators really overlap, for 20
/// new tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_racing_to_create_a_table_commit_it_once() {
    for round in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
        let creators: Vec<_> = (0..8)
            .map(|_| {
                let (lake, start) = (lake.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    LakeTable::open_or_create(&lake, TableKind::Blocks).await.map(|_| ())
                })
            })
            .collect();
        for creator in creators {
            creator.await.unwrap().unwrap();
        }
        let table = LakeTable::open(&lake, TableKind::Blocks).await.unwrap();
        assert_eq!(
            table.version(),
            Some(0),
            "round {round}: the create committed more than once"
        );
    }
}
