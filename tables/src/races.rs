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

/// A streaming append whose files were written before another writer landed some of its blocks:
/// the commit rewrites them without those blocks, so each block lands once, and the files it
/// wrote first are deleted.
#[tokio::test]
async fn streaming_append_leaves_out_blocks_another_writer_landed_meanwhile() {
    let (dir, mut a, mut b) = two_writers().await;
    let mut appender = a.appender().unwrap();
    a.stream_into(&mut appender, &batch(0, 4), &BlockRanges::span(0, 4))
        .await
        .unwrap();
    a.stream_into(&mut appender, &batch(5, 9), &BlockRanges::span(5, 9))
        .await
        .unwrap();
    assert_eq!(b.append(batch(3, 6), 3, 6).await.unwrap(), 4);
    let landed = a.commit_appender(appender).await.unwrap();
    assert_eq!(landed.rows, 6, "blocks 0-2 and 7-9");
    assert_eq!(landed.blocks, 6);
    assert_eq!(row_counts(&dir).await, once_each(0..=9));
    a.refresh().await.unwrap();
    assert_eq!(a.covered().unwrap(), BlockRanges::span(0, 9));
    // Only live files are left in the partition: the first files were deleted, not orphaned.
    let on_disk = read::hive_files(&dir.path().join("blocks")).unwrap().len();
    assert_eq!(on_disk, a.live_files().unwrap().len());
}

/// An unwind reads and rewrites only the files whose `block_number` statistics span the block:
/// the day's other files stay as they are.
#[tokio::test]
async fn unwind_rewrites_only_the_files_holding_the_block() {
    let (dir, mut a, _) = two_writers().await;
    a.append(batch(0, 9), 0, 9).await.unwrap();
    a.append(batch(10, 19), 10, 19).await.unwrap();
    let by_day = a.files_by_partition().unwrap();
    let files = &by_day["2024-03-01"];
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f.blocks.is_some()), "no statistics: {files:?}");
    let holding_0 = files.iter().find(|f| f.blocks == Some((0, 9))).unwrap().path.clone();
    // The file of blocks 0-9 is taken away while the unwind runs: reading it would fail it.
    let on_disk = dir.path().join("blocks").join(holding_0.as_ref());
    let aside = dir.path().join("aside.parquet");
    std::fs::rename(&on_disk, &aside).unwrap();
    assert_eq!(a.unwind(&[removed(15)], &[]).await.unwrap(), 1);
    std::fs::rename(&aside, &on_disk).unwrap();
    let live = a.live_paths().unwrap();
    assert!(
        live.contains(holding_0.as_ref()),
        "the file of blocks 0-9 was rewritten"
    );
    assert_eq!(live.len(), 2);
    let mut expected = once_each(0..=19);
    expected.remove(&15);
    assert_eq!(row_counts(&dir).await, expected);
}

/// Compaction merges a day's small files into files of the target size, keeping each row once
/// and in block order, and leaves files of the target size alone.
#[tokio::test]
async fn compaction_writes_files_of_the_target_size() {
    let (dir, mut a, _) = two_writers().await;
    // Appends big enough that rows, not the Parquet footer, make a file's size.
    for k in 0..12 {
        a.append(batch(k * 2000, k * 2000 + 1999), k * 2000, k * 2000 + 1999)
            .await
            .unwrap();
    }
    let one_file = a.files_by_partition().unwrap()["2024-03-01"][0].size as u64;
    // Four appends' worth a file: three files out of twelve.
    a.set_layout(crate::FileLayout {
        target_file_bytes: 4 * one_file,
        row_group_bytes: 1 << 20,
    });
    let summary = a.compact().await.unwrap();
    assert_eq!(summary.files_before, 12);
    assert!((2..=4).contains(&summary.files_after), "{summary:?}");
    assert_eq!(row_counts(&dir).await, once_each(0..=23_999));
    for b in read::delta_rows(&a).await.unwrap() {
        let numbers = b
            .column_by_name("number")
            .unwrap()
            .as_primitive::<Int64Type>()
            .values()
            .to_vec();
        assert!(numbers.windows(2).all(|w| w[0] < w[1]), "rows out of block order");
    }
    let mut spans: Vec<(u64, u64)> = a.files_by_partition().unwrap()["2024-03-01"]
        .iter()
        .map(|f| f.blocks.unwrap())
        .collect();
    spans.sort();
    assert!(spans.windows(2).all(|w| w[0].1 < w[1].0), "files overlap: {spans:?}");
    // Its output files are of the target size already: a second compaction leaves them.
    let sizes: Vec<i64> = a.files_by_partition().unwrap()["2024-03-01"]
        .iter()
        .map(|f| f.size)
        .collect();
    let again = a.compact().await.unwrap();
    assert_eq!(
        again.partitions,
        0,
        "{again:?}, sizes {sizes:?} against {}",
        4 * one_file
    );
}
