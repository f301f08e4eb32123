//! Many writers, one lake, at once: four `chainx backfill`s on overlapping ranges (one of them
//! SIGKILLed mid-run and run again), the sink landing the block clock's topics, two `lake compact`
//! and a `lake vacuum`, all real processes on one local lake. Afterwards every block and every
//! transaction of the chain is there exactly once, and, once a vacuum past the writers has run,
//! a plain listing of the folders (what a Hive external table reads) holds the same rows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chainx_tables::{read, Lake, LakeTable, TableKind};
use chainx_testkit::anvil::manifest;
use common::{numbers, strings, third_party_view, Job};

mod common;

/// A backfill of `from..=to` in chunks of 20 blocks (many commits, so writers meet).
fn backfill_args<'a>(rpc: &'a str, lake: &'a str, from: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![
        "backfill",
        "--rpc-url",
        rpc,
        "--lake",
        lake,
        "--from",
        from,
        "--to",
        to,
        "--chunk-blocks",
        "20",
    ]
}

/// Commits in a table's log so far.
fn commits(lake: &std::path::Path, table: &str) -> usize {
    std::fs::read_dir(lake.join(table).join("_delta_log"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}

/// The "N commits retried after another writer's" of a backfill's summary line.
fn retried(summary: &str) -> u64 {
    summary
        .split(", ")
        .find_map(|part| part.strip_suffix(" commits retried after another writer's"))
        .unwrap_or_else(|| panic!("no retry count in {summary:?}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_backfills_a_sink_two_compactions_and_a_vacuum_at_once_land_everything_once() {
    let m = manifest();
    let (kafka, anvil) = common::chain_in_kafka("writers").await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().to_str().unwrap();
    let last = m.last_block.to_string();
    let backfill = |from: &str, to: &str| Job::start(&backfill_args(&anvil.url, lake, from, to));

    let mut doomed = backfill("0", &last);
    let mut backfills = vec![backfill("0", "300"), backfill("150", "450"), backfill("301", &last)];
    let sink = Job::start(&[
        "sink",
        "--brokers",
        &kafka.brokers,
        "--network",
        "writers",
        "--lake",
        lake,
        "--flush-rows",
        "300",
        "--flush-interval",
        "0.5",
        "--until-block",
        &last,
    ]);
    // The doomed backfill dies mid-run, once the lake has taken a few commits (its last chunk's
    // files may be written and never committed), and is run again.
    let deadline = Instant::now() + Duration::from_secs(120);
    while commits(dir.path(), "transactions") < 6 {
        assert!(
            doomed.running(),
            "the doomed backfill ended first:\n{}",
            doomed.stderr()
        );
        assert!(Instant::now() < deadline, "no commits:\n{}", doomed.stderr());
        std::thread::sleep(Duration::from_millis(10));
    }
    doomed.kill();
    backfills.push(backfill("0", &last));
    let maintenance = [
        Job::start(&["lake", "compact", "--lake", lake]),
        Job::start(&["lake", "vacuum", "--lake", lake]),
        Job::start(&["lake", "compact", "--lake", lake]),
    ];
    let still_writing = backfills
        .iter_mut()
        .map(Job::running)
        .filter(|running| *running)
        .count();

    for job in maintenance {
        let out = job.finish(Duration::from_secs(180));
        assert!(out.contains("transactions:"), "{out}");
    }
    let summaries: Vec<String> = backfills
        .into_iter()
        .map(|b| b.finish(Duration::from_secs(300)))
        .collect();
    let (sunk, _) = sink.finish_with_log(Duration::from_secs(300));
    assert!(sunk.starts_with("landed"), "{sunk}");
    let conflicts: u64 = summaries.iter().map(|s| retried(s)).sum();
    eprintln!("{still_writing} backfills running when maintenance began; {conflicts} commits retried\n{summaries:#?}");
    assert!(still_writing > 0, "the maintenance jobs did not overlap the backfills");
    assert!(conflicts > 0, "the writers never raced for a commit: {summaries:#?}");

    let chain: BTreeSet<String> = anvil.tx_hashes(0, m.last_block).await.into_iter().collect();
    let lake_root = Lake::parse(lake).unwrap();
    let blocks = LakeTable::open(&lake_root, TableKind::Blocks).await.unwrap();
    let txs = LakeTable::open(&lake_root, TableKind::Transactions).await.unwrap();
    let block_rows = read::delta_rows(&blocks).await.unwrap();
    let tx_rows = read::delta_rows(&txs).await.unwrap();
    common::assert_exactly_the_chain(&block_rows, &tx_rows, m.last_block, &chain);
    for table in [&blocks, &txs] {
        assert_eq!(table.covered().unwrap().to_string(), format!("0-{last}"));
    }

    // The killed backfill's uncommitted files are the only difference a plain listing can show;
    // a vacuum past the writers (retention 0: all have stopped) removes them.
    let out = Job::start(&["lake", "vacuum", "--lake", lake, "--retention-hours", "0"]).finish(Duration::from_secs(60));
    assert!(out.contains("blocks: deleted"), "{out}");
    let view = third_party_view(lake, &[]);
    for (table, batches) in [("blocks", &block_rows), ("transactions", &tx_rows)] {
        let mut ours = strings(batches, "hash");
        ours.sort();
        let hive: Vec<String> = serde_json::from_value(view[table]["hive"].clone()).unwrap();
        let delta: Vec<String> = serde_json::from_value(view[table]["delta"].clone()).unwrap();
        assert_eq!(delta, ours, "{table}: delta-rs reads other rows");
        assert_eq!(hive, ours, "{table}: the plain listing differs from Delta");
    }
}

/// The UTC date (`YYYY-MM-DD`) of the `timestamp` of row `at` across `batches`.
fn utc_date_of_row(batches: &[chainx_tables::arrow::array::RecordBatch], mut at: usize) -> String {
    use chainx_tables::arrow::util::display::{ArrayFormatter, FormatOptions};
    for b in batches {
        if at < b.num_rows() {
            let column = b.column_by_name("timestamp").unwrap();
            let text = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
                .unwrap()
                .value(at)
                .to_string();
            return text[..10].to_string();
        }
        at -= b.num_rows();
    }
    panic!("no row {at}");
}

/// `chainx lake verify` on the landed fixture chain: clean; then with one block's transactions
/// unwound behind the blocks table (a block row without its transactions), and against a node
/// whose last blocks were reorganised after they landed: both named, as block ranges, exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lake_verify_names_the_ranges_whose_rows_or_hashes_disagree() {
    let anvil = chainx_testkit::anvil::Anvil::fixture().await;
    // Blocks past the dump, so anvil can reorganise them (it keeps no state for the dump's).
    anvil.mine_transfers(4).await;
    let head = anvil.rpc("eth_blockNumber", serde_json::json!([])).await;
    let head = u64::from_str_radix(head.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().to_str().unwrap();
    let head_text = head.to_string();
    Job::start(&backfill_args(&anvil.url, lake, "0", &head_text)).finish(Duration::from_secs(120));
    let verify = |rpc: bool| {
        let mut args = vec!["lake", "verify", "--lake", lake];
        if rpc {
            args.extend(["--rpc-url", anvil.url.as_str()]);
        }
        std::process::Command::new(env!("CARGO_BIN_EXE_chainx"))
            .args(&args)
            .output()
            .unwrap()
    };
    let clean = verify(true);
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    assert!(String::from_utf8_lossy(&clean.stdout).ends_with("ok\n"));

    // Block 100's transactions taken out of the transactions table only.
    let lake_root = Lake::parse(lake).unwrap();
    let blocks = LakeTable::open(&lake_root, TableKind::Blocks).await.unwrap();
    let rows = read::delta_rows(&blocks).await.unwrap();
    let at = numbers(&rows, "number").iter().position(|n| *n == 100).unwrap();
    let hash = strings(&rows, "hash")[at].clone();
    let mut txs = LakeTable::open(&lake_root, TableKind::Transactions).await.unwrap();
    let block_date = utc_date_of_row(&rows, at);
    let removed = chainx_tables::RemovedBlock {
        number: 100,
        hash,
        date: block_date,
    };
    assert!(
        txs.unwind(&[removed], &[]).await.unwrap() > 0,
        "block 100 has transactions"
    );
    anvil.rpc("anvil_reorg", serde_json::json!([3, []])).await;

    let bad = verify(true);
    let out = String::from_utf8_lossy(&bad.stdout);
    assert_eq!(bad.status.code(), Some(1), "{out}");
    assert!(
        out.contains("BAD 100-100: block rows whose transactions are not covered"),
        "{out}"
    );
    assert!(
        out.contains(&format!("BAD {}-{head}: block hash differs", head - 2)),
        "{out}"
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("lake verify found 2 kinds of problem"),
        "{out}\n{stderr}"
    );
    // Without the node, only what the lake itself shows.
    let offline = String::from_utf8_lossy(&verify(false).stdout).to_string();
    assert!(
        offline.contains("BAD 100-100") && !offline.contains("hash differs"),
        "{offline}"
    );
}
