//! A lake written by an older chainx, whose tables lack the columns added since: a writer adds
//! them (one metadata commit), the old files read them as null, and compaction merges old and
//! new files; two writers opening the same old table at once both go on.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chainx_evm::BlockRow;
use chainx_tables::arrow::array::{Array, AsArray, RecordBatch};
use chainx_tables::arrow::datatypes::Int64Type;
use chainx_tables::{blocks_batch, read, Lake, LakeTable, TableKind};
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::StructType;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};

/// The columns an older chainx's `blocks` table had: today's without `extra`.
const ADDED: &str = "extra";

fn block(number: u64) -> BlockRow {
    BlockRow {
        number,
        hash: format!("{:#066x}", number + 1),
        parent_hash: format!("{:#066x}", number),
        timestamp: 1_709_251_200 + number,
        extra: Some(format!(r#"{{"mix_hash":"0x{number:02x}"}}"#)),
        ..BlockRow::default()
    }
}

/// `batch` without the columns an older chainx did not write.
fn older(batch: &RecordBatch) -> RecordBatch {
    let keep: Vec<usize> = (0..batch.num_columns())
        .filter(|i| batch.schema().field(*i).name() != ADDED)
        .collect();
    batch.project(&keep).unwrap()
}

/// `<dir>/blocks` as an older chainx left it: its schema, and blocks 0-4 in one file.
async fn older_lake(dir: &std::path::Path) {
    let old = older(&blocks_batch(&(0..5).map(block).collect::<Vec<_>>()).unwrap());
    let schema: StructType = old.schema().as_ref().try_into_kernel().unwrap();
    let mut table = deltalake::operations::create::CreateBuilder::new()
        .with_location(dir.join("blocks").to_str().unwrap())
        .with_table_name("blocks")
        .with_columns(schema.fields().cloned())
        .with_partition_columns(["block_date"])
        .await
        .unwrap();
    let mut writer = RecordBatchWriter::for_table(&table).unwrap();
    writer.write(old).await.unwrap();
    writer.flush_and_commit(&mut table).await.unwrap();
}

fn numbers_and_extras(batches: &[RecordBatch]) -> Vec<(i64, Option<String>)> {
    let mut out = Vec::new();
    for b in batches {
        let numbers = b.column_by_name("number").unwrap().as_primitive::<Int64Type>();
        let extra = b.column_by_name(ADDED).map(|c| c.as_string::<i32>().clone());
        for i in 0..b.num_rows() {
            let e = extra.as_ref().filter(|e| !e.is_null(i)).map(|e| e.value(i).to_string());
            out.push((numbers.value(i), e));
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_adds_the_new_columns_and_old_rows_read_them_as_null() {
    let dir = tempfile::tempdir().unwrap();
    older_lake(dir.path()).await;
    let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();

    // A reader leaves the table alone, and says what adds the columns.
    let e = LakeTable::open(&lake, TableKind::Blocks).await.unwrap_err().to_string();
    assert!(e.contains("older chainx") && e.contains(ADDED), "{e}");

    let mut table = LakeTable::open_or_create(&lake, TableKind::Blocks).await.unwrap();
    table
        .append(blocks_batch(&(5..10).map(block).collect::<Vec<_>>()).unwrap(), 5, 9)
        .await
        .unwrap();
    let rows = numbers_and_extras(&read::delta_rows(&table).await.unwrap());
    assert_eq!(rows.len(), 10);
    for (n, extra) in &rows {
        // Blocks 0-4 were written without the column; 5-9 with it.
        assert_eq!(extra.is_some(), *n >= 5, "block {n}: {extra:?}");
    }
    // Old and new files merged into one of today's schema.
    let summary = table.compact().await.unwrap();
    assert_eq!(summary.files_after, 1, "{summary:?}");
    let again = LakeTable::open(&lake, TableKind::Blocks).await.unwrap();
    assert_eq!(numbers_and_extras(&read::delta_rows(&again).await.unwrap()), rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_opening_one_old_table_at_once_both_go_on() {
    let dir = tempfile::tempdir().unwrap();
    older_lake(dir.path()).await;
    let lake = Lake::parse(dir.path().to_str().unwrap()).unwrap();
    let (a, b) = tokio::join!(
        LakeTable::open_or_create(&lake, TableKind::Blocks),
        LakeTable::open_or_create(&lake, TableKind::Blocks)
    );
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    let (ra, rb) = tokio::join!(
        a.append(blocks_batch(&(5..8).map(block).collect::<Vec<_>>()).unwrap(), 5, 7),
        b.append(blocks_batch(&(8..10).map(block).collect::<Vec<_>>()).unwrap(), 8, 9)
    );
    ra.unwrap();
    rb.unwrap();
    let table = LakeTable::open(&lake, TableKind::Blocks).await.unwrap();
    let columns: Vec<String> = table
        .delta()
        .snapshot()
        .unwrap()
        .schema()
        .fields()
        .map(|f| f.name().to_string())
        .collect();
    assert_eq!(columns.iter().filter(|c| *c == ADDED).count(), 1, "{columns:?}");
    assert_eq!(numbers_and_extras(&read::delta_rows(&table).await.unwrap()).len(), 10);
}
