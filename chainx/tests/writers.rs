//! Many writers, one lake, at once: four `chainx backfill`s on overlapping ranges (one of them
//! SIGKILLed mid-run and run again), the sink landing the block clock's topics, two `lake compact`
//! and a `lake vacuum`, all real processes on one lake: a local folder, HDFS or S3. Afterwards
//! every block, transaction, log, transfer, decoded event and decoded call of the chain is there
//! exactly once, and, once a vacuum past the writers has run, a plain listing of the folders
//! (what a Hive external table reads) holds the same rows.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chainx_tables::{read, Lake, LakeTable, TableKind};
use chainx_testkit::anvil::manifest;
use chainx_testkit::hdfs::Hdfs;
use chainx_testkit::s3::S3;
use common::target::{rows, Target};
use common::{numbers, strings, Job};

mod common;

/// A backfill of `from..=to` in chunks of 20 blocks (many commits, so writers meet).
fn backfill_args<'a>(rpc: &'a str, from: &'a str, to: &'a str) -> Vec<&'a str> {
    vec![
        "backfill",
        "--rpc-url",
        rpc,
        "--from",
        from,
        "--to",
        to,
        "--chunk-blocks",
        "20",
        // A dev chain's files never reach the target: commits come this often instead, so the
        // backfills' commits interleave with the other writers'.
        "--commit-interval",
        "0.2",
        "--tables",
        "blocks,transactions,decoded_calls,logs,token_transfers,decoded_events",
    ]
}

/// The table's version so far (its commits, less one), 0 while it does not exist.
async fn commits(lake: &Lake, kind: TableKind) -> u64 {
    match LakeTable::open_if_exists(lake, kind).await {
        Ok(Some(table)) => table.version().unwrap_or(0),
        _ => 0,
    }
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
    let lake = tempfile::tempdir().unwrap();
    many_writers_at_once(Target::new(lake.path().to_str().unwrap().to_string(), vec![], None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_at_once_on_hdfs() {
    let hdfs = Hdfs::start().await;
    many_writers_at_once(Target::new(format!("{}/chainx", hdfs.url), vec![], None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_at_once_on_s3() {
    let s3 = S3::start().await;
    let secret = s3.secret_key.clone();
    many_writers_at_once(Target::new(
        format!("s3://{}/chainx", s3.bucket),
        s3.options(),
        Some(secret),
    ))
    .await;
}

/// What the commit protocol needs of S3: of writers racing to create one object (a log
/// version), exactly one wins, and its content stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_put_if_absent_lets_exactly_one_racing_writer_win() {
    use object_store::{path::Path, ObjectStore, ObjectStoreExt, PutMode, PutOptions};
    let s3 = S3::start().await;
    let mut builder = object_store::aws::AmazonS3Builder::new()
        .with_url(format!("s3://{}/", s3.bucket))
        .with_conditional_put(object_store::aws::S3ConditionalPut::ETagMatch)
        .with_allow_http(true);
    for (key, value) in s3.options() {
        builder = builder.with_config(key.parse().unwrap(), value);
    }
    let store = std::sync::Arc::new(builder.build().unwrap());
    let create = || PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    for i in 0..50 {
        let path = Path::from(format!("race/{i:05}.json"));
        let racers = ["a", "b"].map(|body| {
            let (store, path) = (store.clone(), path.clone());
            tokio::spawn(async move { store.put_opts(&path, body.into(), create()).await.map(|_| body) })
        });
        let mut winners = Vec::new();
        for racer in racers {
            match racer.await.unwrap() {
                Ok(body) => winners.push(body),
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => panic!("put {path}: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "{path}: {winners:?} both won");
        let kept = store.get(&path).await.unwrap().bytes().await.unwrap();
        assert_eq!(
            kept.as_ref(),
            winners[0].as_bytes(),
            "{path}: the loser overwrote the winner"
        );
    }
}

async fn many_writers_at_once(target: Target) {
    let m = manifest();
    let (kafka, anvil) = common::chain_in_kafka("writers").await;
    let last = m.last_block.to_string();
    let backfill = |from: &str, to: &str| Job::start(&target.args(&backfill_args(&anvil.url, from, to)));

    let mut doomed = backfill("0", &last);
    let mut backfills = vec![backfill("0", "300"), backfill("150", "450"), backfill("301", &last)];
    // The decoder feeds the sink's decoded calls and events: the backfills land the same ones.
    let _decoder = Job::start(&["tx-decoder", "--brokers", &kafka.brokers, "--network", "writers"]);
    let sink = Job::start(&target.args(&[
        "sink",
        "--brokers",
        &kafka.brokers,
        "--network",
        "writers",
        "--flush-rows",
        "300",
        "--flush-interval",
        "0.5",
        "--until-block",
        &last,
    ]));
    // The doomed backfill dies mid-run, once the lake has taken a few commits (its last chunk's
    // files may be written and never committed), and is run again.
    let lake = target.lake();
    let deadline = Instant::now() + Duration::from_secs(120);
    while commits(&lake, TableKind::Transactions).await < 6 {
        assert!(
            doomed.running(),
            "the doomed backfill ended first:\n{}",
            doomed.stderr()
        );
        assert!(Instant::now() < deadline, "no commits:\n{}", doomed.stderr());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    doomed.kill();
    target.check_secret("backfill", &doomed.stderr());
    backfills.push(backfill("0", &last));
    let maintenance = [
        Job::start(&target.args(&["lake", "compact"])),
        Job::start(&target.args(&["lake", "vacuum"])),
        Job::start(&target.args(&["lake", "compact"])),
    ];
    let still_writing = backfills
        .iter_mut()
        .map(Job::running)
        .filter(|running| *running)
        .count();

    for job in maintenance {
        let (out, log) = job.finish_with_log(Duration::from_secs(300));
        assert!(out.contains("transactions:"), "{out}");
        target.check_secret("lake", &format!("{out}{log}"));
    }
    let mut summaries = Vec::new();
    for b in backfills {
        let (out, log) = b.finish_with_log(Duration::from_secs(600));
        target.check_secret("backfill", &format!("{out}{log}"));
        summaries.push(out);
    }
    let (sunk, log) = sink.finish_with_log(Duration::from_secs(600));
    target.check_secret("sink", &log);
    assert!(sunk.starts_with("landed"), "{sunk}");
    let conflicts: u64 = summaries.iter().map(|s| retried(s)).sum();
    eprintln!("{still_writing} backfills running when maintenance began; {conflicts} commits retried\n{summaries:#?}");
    assert!(still_writing > 0, "the maintenance jobs did not overlap the backfills");
    assert!(conflicts > 0, "the writers never raced for a commit: {summaries:#?}");

    let chain: BTreeSet<String> = anvil.tx_hashes(0, m.last_block).await.into_iter().collect();
    let blocks = LakeTable::open(&lake, TableKind::Blocks).await.unwrap();
    let txs = LakeTable::open(&lake, TableKind::Transactions).await.unwrap();
    let block_rows = read::delta_rows(&blocks).await.unwrap();
    let tx_rows = read::delta_rows(&txs).await.unwrap();
    common::assert_exactly_the_chain(&block_rows, &tx_rows, m.last_block, &chain);
    for table in [&blocks, &txs] {
        assert_eq!(table.covered().unwrap().to_string(), format!("0-{last}"));
    }
    // The log tables under the same writers: the node's logs once each, the generator's
    // transfers per standard and events per signature.
    common::assert_logs_are_the_chain(&lake, &anvil, m.last_block).await;
    let transfers = LakeTable::open(&lake, TableKind::TokenTransfers).await.unwrap();
    let transfers = read::delta_rows(&transfers).await.unwrap();
    assert_eq!(common::count_by(&transfers, "token_standard"), m.token_transfers);
    let events = LakeTable::open(&lake, TableKind::DecodedEvents).await.unwrap();
    let events = read::delta_rows(&events).await.unwrap();
    assert_eq!(common::count_by(&events, "event_signature"), m.events);
    // Decoded calls: each contract interaction once, from whichever writer landed its block.
    let calls = LakeTable::open(&lake, TableKind::DecodedCalls).await.unwrap();
    assert_eq!(calls.covered().unwrap().to_string(), format!("0-{last}"));
    let calls = read::delta_rows(&calls).await.unwrap();
    let keys: BTreeSet<(String, String)> = strings(&calls, "hash")
        .into_iter()
        .zip(strings(&calls, "block_hash"))
        .collect();
    assert_eq!(
        keys.len(),
        calls.iter().map(|b| b.num_rows()).sum::<usize>(),
        "a call landed twice"
    );
    assert_eq!(
        keys.len() as u64,
        m.tx_kind.contract_interaction,
        "every contract interaction once"
    );

    // The killed backfill's uncommitted files are the only difference a plain listing can show;
    // a vacuum past the writers (retention 0: all have stopped) removes them. Then the listing
    // (chainx's own on every store, and DuckDB or pyarrow where they reach it) equals Delta.
    let out = Job::start(&target.args(&["lake", "vacuum", "--retention-hours", "0"])).finish(Duration::from_secs(120));
    assert!(out.contains("blocks: deleted"), "{out}");
    let (blocks, txs) = (
        rows(&target, TableKind::Blocks).await,
        rows(&target, TableKind::Transactions).await,
    );
    target.check_third_party(&blocks, &txs);
    common::assert_exactly_the_chain(&blocks, &txs, m.last_block, &chain);

    // And chainx's own check agrees: coverage, rows, transaction counts and the node's hashes.
    let verified =
        Job::start(&target.args(&["lake", "verify", "--rpc-url", &anvil.url])).finish(Duration::from_secs(120));
    assert!(verified.ends_with("ok\n"), "{verified}");
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
    // The tip once all 4 are mined (each transaction mines its own block, as it arrives).
    let head = chainx_testkit::anvil::manifest().last_block + 4;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = anvil.rpc("eth_blockNumber", serde_json::json!([])).await;
        if u64::from_str_radix(n.as_str().unwrap().trim_start_matches("0x"), 16).unwrap() >= head {
            break;
        }
        assert!(Instant::now() < deadline, "anvil did not mine the 4 transfers");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().to_str().unwrap();
    let head_text = head.to_string();
    Job::start(&[backfill_args(&anvil.url, "0", &head_text), vec!["--lake", lake]].concat())
        .finish(Duration::from_secs(120));
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
