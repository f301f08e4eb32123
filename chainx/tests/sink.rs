//! The lake sink end to end on a real Kafka broker: the fixture chain's topics land exactly
//! once in the same tables the backfill writes, through repeated SIGKILLs, next to rows the
//! backfill landed first; on a local folder, HDFS and S3; and the live pipeline (clock, decoder,
//! sink) through a reorg of landed blocks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chainx_tables::arrow::array::RecordBatch;
use chainx_tables::{read, BlockRanges, Lake, LakeTable, TableKind};
use chainx_testkit::anvil::{manifest, Anvil};
use chainx_testkit::hdfs::Hdfs;
use chainx_testkit::kafka::{produce, read_until, Kafka};
use chainx_testkit::s3::S3;
use common::target::{rows, Target};
use common::{create_topics, numbers, strings, Job};
use serde_json::json;

mod common;

/// The fixture chain through the block clock into Kafka, then into `target` by a backfill of
/// blocks 0-199 and a sink SIGKILLed ten times; every block and transaction lands exactly once.
async fn sink_through_ten_kills(target: Target) {
    let m = manifest();
    let (kafka, anvil) = common::chain_in_kafka("sink").await;
    let b = kafka.brokers.as_str();
    let last = m.last_block.to_string();

    // Not a transaction: it must reach the dead-letter topic, not stop the sink.
    produce(b, "sink.mined.tx.1.native_token_transfer", "0xbad", b"{\"hash\": 7}").await;

    // The batch layer lands the first 200 blocks; the stream brings them again.
    let backfill = Job::start(&target.args(&["backfill", "--rpc-url", &anvil.url, "--from", "0", "--to", "199"]));
    let (out, log) = backfill.finish_with_log(Duration::from_secs(120));
    target.check_secret("backfill", &format!("{out}{log}"));

    let args = target.args(&[
        "sink",
        "--brokers",
        b,
        "--network",
        "sink",
        "--flush-rows",
        "200",
        "--flush-interval",
        "0.5",
        "--until-block",
        &last,
        // No decoder runs here: decoded_events and decoded_calls would never arrive.
        "--tables",
        "blocks,transactions,logs,token_transfers",
    ]);
    // Ten SIGKILLs, each once the sink has committed to some table once (or twice, at random);
    // small flushes (200 rows, about 15 blocks of logs) make many commit points, so all ten
    // land mid-stream.
    let mut seed = 20261127u64;
    for kill in 0..10 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let wait_for = 1 + (seed >> 63) as usize;
        let mut sink = Job::start(&args);
        let deadline = Instant::now() + Duration::from_secs(120);
        while sink.stderr().matches(" landed").count() < wait_for {
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
        target.check_secret("sink", &sink.stderr());
    }
    // The last run lands the rest in bigger commits (each is a few round trips on HDFS or S3).
    let mut last_run = args.clone();
    let flush = last_run.iter().position(|a| *a == "--flush-rows").unwrap();
    last_run[flush + 1] = "500";
    let (summary, log) = Job::start(&last_run).finish_with_log(Duration::from_secs(180));
    target.check_secret("sink", &log);
    assert!(summary.starts_with("landed"), "{summary}");
    let dead = read_until(b, "sink.sink.dead_letter", Duration::from_secs(30), |rs| !rs.is_empty());
    assert_eq!(dead[0].key, "0xbad");
    assert_eq!(dead[0].value["topic"], json!("sink.mined.tx.1.native_token_transfer"));
    assert!(
        dead[0].value["reason"].as_str().unwrap().contains("not a transaction"),
        "{:?}",
        dead[0].value
    );

    // A sink killed between writing a file and committing it leaves the file behind, and no
    // writer may delete it at start-up (it looks like another writer's in-flight file). The
    // nightly vacuum's job, run here with no retention since every writer has stopped; a
    // vacuum within its retention deletes none of them.
    let out = Job::start(&target.args(&["lake", "vacuum"])).finish(Duration::from_secs(120));
    assert!(out.contains("transactions: deleted 0 files"), "{out}");
    let out = Job::start(&target.args(&["lake", "vacuum", "--retention-hours", "0"])).finish(Duration::from_secs(120));
    assert!(out.contains("transactions: deleted"), "{out}");

    let chain: BTreeSet<String> = anvil.tx_hashes(0, m.last_block).await.into_iter().collect();
    let check = |blocks: Vec<RecordBatch>, txs: Vec<RecordBatch>| {
        common::assert_exactly_the_chain(&blocks, &txs, m.last_block, &chain)
    };
    let (blocks, txs) = (
        rows(&target, TableKind::Blocks).await,
        rows(&target, TableKind::Transactions).await,
    );
    target.check_third_party(&blocks, &txs);
    check(blocks, txs);
    let table = LakeTable::open(&target.lake(), TableKind::Transactions).await.unwrap();
    assert_eq!(table.covered().unwrap().to_string(), format!("0-{}", m.last_block));
    // Logs and token transfers: the node's, once each, through the same kills.
    common::assert_logs_are_the_chain(&target.lake(), &anvil, m.last_block).await;
    let transfers = rows(&target, TableKind::TokenTransfers).await;
    assert_eq!(common::count_by(&transfers, "token_standard"), m.token_transfers);

    // Compaction on the same store: one file per day, still exactly the same rows. The files it
    // replaced stay for readers of older snapshots until a vacuum past its retention; after
    // one, the Hive listing equals Delta again.
    let out = Job::start(&target.args(&["lake", "compact"])).finish(Duration::from_secs(120));
    assert!(out.contains("transactions:"), "{out}");
    let out = Job::start(&target.args(&["lake", "vacuum", "--retention-hours", "0"])).finish(Duration::from_secs(120));
    assert!(out.contains("transactions: deleted"), "{out}");
    let (blocks, txs) = (
        rows(&target, TableKind::Blocks).await,
        rows(&target, TableKind::Transactions).await,
    );
    target.check_third_party(&blocks, &txs);
    check(blocks, txs);
    let table = LakeTable::open(&target.lake(), TableKind::Transactions).await.unwrap();
    let days: BTreeSet<String> = table
        .live_files()
        .unwrap()
        .iter()
        .map(|f| f.as_ref().split('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        table.live_files().unwrap().len(),
        days.len(),
        "one file per day after compaction"
    );
}

/// `--flush-bytes` cuts commits in a steady input, where neither the row threshold, the
/// interval nor a pause would: the whole chain is in the topics before the sink starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_bytes_cuts_commits_in_a_steady_input() {
    let m = manifest();
    let (kafka, _anvil) = common::chain_in_kafka("bytes").await;
    let b = kafka.brokers.as_str();
    let last = m.last_block.to_string();
    let lake = tempfile::tempdir().unwrap();
    let sink = |flush_bytes: &str| {
        let dir = lake.path().join(flush_bytes);
        let (_, log) = Job::start(&[
            "sink",
            "--brokers",
            b,
            "--network",
            "bytes",
            "--lake",
            dir.to_str().unwrap(),
            "--flush-rows",
            "1000000",
            "--flush-interval",
            "3600",
            "--flush-bytes",
            flush_bytes,
            "--until-block",
            &last,
            "--tables",
            "blocks,transactions",
        ])
        .finish_with_log(Duration::from_secs(120));
        log.matches("landed transactions").count()
    };
    // About 3 MB of messages: a flush every 100 kB lands transactions at least five times (a
    // flush lands only blocks whose block message and transactions have all arrived).
    let small = sink("100000");
    let large = sink("1000000000");
    assert!(small >= 5, "{small} commits with --flush-bytes 100000");
    assert!(large < small, "{large} commits without a byte limit, {small} with");
}

/// Flow control: the blocks topic's small messages are read far faster, in blocks, than the
/// transactions they wait for. With a small `--max-ahead-mb` the sink pauses the partitions
/// that run ahead, leaves fewer rows waiting after each flush than with flow control off, and
/// still lands every block, transaction and log exactly once (a pause never waits for a
/// message that is not coming: some partitions of the fixture chain are empty).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flow_control_pauses_partitions_that_run_ahead_and_lands_everything() {
    let m = manifest();
    let (kafka, anvil) = common::chain_in_kafka("flow").await;
    let b = kafka.brokers.as_str();
    let last = m.last_block.to_string();
    let chain: BTreeSet<String> = anvil.tx_hashes(0, m.last_block).await.into_iter().collect();
    let lakes = tempfile::tempdir().unwrap();
    let sink = |max_ahead_mb: &str| {
        let dir = lakes.path().join(max_ahead_mb);
        let summary = Job::start(&[
            "sink",
            "--brokers",
            b,
            "--network",
            "flow",
            "--lake",
            dir.to_str().unwrap(),
            "--flush-rows",
            "200",
            "--max-ahead-mb",
            max_ahead_mb,
            "--until-block",
            &last,
            // Not the decoded tables: no decoder runs here.
            "--tables",
            "blocks,transactions,logs,token_transfers",
        ])
        .finish(Duration::from_secs(180));
        let number_before = |what: &str| -> u64 {
            let head = summary.split(what).next().unwrap();
            head.rsplit(' ').find(|w| !w.is_empty()).unwrap().parse().unwrap()
        };
        (dir, number_before(" partition pauses"), number_before(" rows waiting"))
    };
    let (paced, paced_pauses, paced_waiting) = sink("0.01");
    let (unpaced, unpaced_pauses, unpaced_waiting) = sink("1000");
    eprintln!(
        "--max-ahead-mb 0.01: {paced_pauses} pauses, at most {paced_waiting} rows waiting; \
         1000: {unpaced_pauses} pauses, {unpaced_waiting} rows"
    );
    assert!(paced_pauses > 0, "no partition was paused at --max-ahead-mb 0.01");
    assert_eq!(unpaced_pauses, 0, "a partition was paused at --max-ahead-mb 1000");
    assert!(
        paced_waiting < unpaced_waiting,
        "flow control left {paced_waiting} rows waiting, {unpaced_waiting} without it"
    );
    for dir in [&paced, &unpaced] {
        let lake = Lake::parse(dir.to_str().unwrap()).unwrap();
        let blocks = read::delta_rows(&LakeTable::open(&lake, TableKind::Blocks).await.unwrap())
            .await
            .unwrap();
        let txs = read::delta_rows(&LakeTable::open(&lake, TableKind::Transactions).await.unwrap())
            .await
            .unwrap();
        common::assert_exactly_the_chain(&blocks, &txs, m.last_block, &chain);
        common::assert_logs_are_the_chain(&lake, &anvil, m.last_block).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_lands_every_row_once_through_ten_kills_next_to_a_backfill() {
    let lake = tempfile::tempdir().unwrap();
    sink_through_ten_kills(Target::new(lake.path().to_str().unwrap().to_string(), vec![], None)).await;
    // A local lake is also read back as plain folders by path, as duckdb or Hive would.
    let listed = read::hive_files(&lake.path().join("transactions")).unwrap();
    assert!(!listed.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_lands_every_row_once_on_hdfs() {
    let hdfs = Hdfs::start().await;
    sink_through_ten_kills(Target::new(format!("{}/chainx", hdfs.url), vec![], None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_lands_every_row_once_on_s3() {
    let s3 = S3::start().await;
    let secret = s3.secret_key.clone();
    sink_through_ten_kills(Target::new(
        format!("s3://{}/chainx", s3.bucket),
        s3.options(),
        Some(secret),
    ))
    .await;
}

/// Polls the lake until `ready` holds for the named table, at most `timeout`.
async fn wait_for_table(lake: &Lake, kind: TableKind, timeout: Duration, ready: impl Fn(&LakeTable) -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(table)) = LakeTable::open_if_exists(lake, kind).await {
            if ready(&table) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "{} never got ready", kind.name());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn rows_in(table: &LakeTable) -> usize {
    table
        .delta()
        .snapshot()
        .map(|s| s.log_data().iter().map(|f| f.num_records().unwrap_or(0)).sum::<usize>())
        .unwrap_or(0)
}

/// The live pipeline: clock (with receipts, traces and tokens), decoder and sink. The sink first lands the chain's
/// transactions with no decoder running and is killed; restarted with the decoder, it lands
/// every decoded call once, whole blocks at a time, for transactions it never saw (it counts a
/// block's contract interactions in the transactions table). A reorg of three *landed* blocks
/// with logs is then unwound (their rows and logs deleted, the replacements' landed); the
/// sink's metrics say so; and every table equals, row for row, what a backfill of the same
/// chain lands, decoded calls, traces, contracts and tokens included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sink_lands_decoded_calls_and_unwinds_a_reorg_of_landed_blocks() {
    let m = manifest();
    let kafka = Kafka::start().await;
    let anvil = Anvil::fixture().await;
    let b = kafka.brokers.as_str();
    create_topics(b, "live");
    // A reorg needs blocks mined since the dump was loaded: five WETH deposits (a Deposit log
    // and no transfer each).
    let dev = anvil.rpc("eth_accounts", json!([])).await;
    let weth = m.contracts["weth"].clone();
    let deposit = |value: &str| json!({"from": dev[0], "to": weth, "value": value});
    for value in ["0x11", "0x12", "0x13", "0x14", "0x15"] {
        anvil.rpc("eth_sendTransaction", json!([deposit(value)])).await;
    }
    let tip = m.last_block + 5;
    let _clock = Job::start(&[
        "block-clock",
        "--brokers",
        b,
        "--network",
        "live",
        "--rpc-url",
        &anvil.url,
        "--start-block",
        "0",
        "--poll-interval",
        "0.1",
        "--receipts",
        "--tokens",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let lake_path = dir.path().to_str().unwrap();
    let every_table = TableKind::ALL.map(TableKind::name).join(",");
    let sink_args = [
        "sink",
        "--brokers",
        b,
        "--network",
        "live",
        "--lake",
        lake_path,
        "--flush-interval",
        "0.2",
        "--tables",
        &every_table,
    ];
    let mut first_sink = Job::start(&sink_args);
    let lake = Lake::parse(lake_path).unwrap();
    let covers = |n: u64| {
        move |t: &LakeTable| {
            t.covered()
                .is_ok_and(|c| c.intersect(&BlockRanges::span(0, n)).count() == n + 1)
        }
    };
    wait_for_table(&lake, TableKind::Blocks, Duration::from_secs(120), covers(tip)).await;
    wait_for_table(&lake, TableKind::Transactions, Duration::from_secs(60), covers(tip)).await;
    first_sink.kill();
    let without_calls = LakeTable::open(&lake, TableKind::DecodedCalls).await.unwrap();
    assert_eq!(rows_in(&without_calls), 0, "no decoder ran, yet calls landed");
    // Blocks without a contract interaction need no decoder: exactly those are covered.
    let landed_txs = read::delta_rows(&LakeTable::open(&lake, TableKind::Transactions).await.unwrap())
        .await
        .unwrap();
    let with_calls: BTreeSet<u64> = numbers(&landed_txs, "block_number")
        .into_iter()
        .zip(strings(&landed_txs, "tx_kind"))
        .filter(|(_, kind)| kind == "contract_interaction")
        .map(|(n, _)| n)
        .collect();
    let without: Vec<u64> = (0..=tip).filter(|n| !with_calls.contains(n)).collect();
    let early = without_calls.covered().unwrap();
    assert_eq!(early.count(), without.len() as u64, "{early}");
    assert!(without.iter().all(|n| early.contains(*n)), "{early}");

    let abi_dir = tempfile::tempdir().unwrap();
    chainx_testkit::anvil::write_abi_folder(abi_dir.path());
    let _decoder = Job::start(&[
        "tx-decoder",
        "--brokers",
        b,
        "--network",
        "live",
        "--abi-dir",
        abi_dir.path().to_str().unwrap(),
    ]);
    let metrics_addr = format!("127.0.0.1:{}", chainx_testkit::free_port());
    let sink = Job::start(&[&sink_args[..], &["--metrics-addr", &metrics_addr]].concat());
    wait_for_table(&lake, TableKind::DecodedCalls, Duration::from_secs(120), covers(tip)).await;

    for kind in [
        TableKind::Logs,
        TableKind::TokenTransfers,
        TableKind::DecodedEvents,
        TableKind::Traces,
        TableKind::Contracts,
        TableKind::Tokens,
    ] {
        wait_for_table(&lake, kind, Duration::from_secs(120), covers(tip)).await;
    }
    let old_branch: BTreeSet<String> = anvil.tx_hashes(tip - 2, tip).await.into_iter().collect();

    // Replace the last 3 landed blocks with blocks holding deposits of their own (one in the
    // first replacement, two in the second), then mine one more on the new branch. The new
    // blocks' transactions may reach the sink before the removed events of the blocks they
    // replace: a covered height drops only the transactions of the hash that landed there.
    let replacements = json!([[deposit("0x2"), 0], [deposit("0x3"), 1], [deposit("0x4"), 1]]);
    anvil.rpc("anvil_reorg", json!([3, replacements])).await;
    anvil.rpc("evm_mine", json!([])).await;
    let new_tip = tip + 1;
    let mut node_hashes = Vec::new();
    for n in 0..=new_tip {
        let block = anvil
            .rpc("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))
            .await;
        node_hashes.push(block["hash"].as_str().unwrap().to_string());
    }
    let calls = m.tx_kind.contract_interaction as usize;
    wait_for_table(&lake, TableKind::Blocks, Duration::from_secs(60), covers(new_tip)).await;
    wait_for_table(&lake, TableKind::Transactions, Duration::from_secs(60), covers(new_tip)).await;
    for kind in TableKind::ALL {
        wait_for_table(&lake, kind, Duration::from_secs(120), covers(new_tip)).await;
    }

    // Blocks: every height once, each with the node's canonical hash (the old branch is gone).
    let table = LakeTable::open(&lake, TableKind::Blocks).await.unwrap();
    let blocks = read::delta_rows(&table).await.unwrap();
    let mut landed: Vec<(u64, String)> = numbers(&blocks, "number")
        .into_iter()
        .zip(strings(&blocks, "hash"))
        .collect();
    landed.sort();
    let canonical: Vec<(u64, String)> = (0..=new_tip).zip(node_hashes.iter().cloned()).collect();
    assert_eq!(landed, canonical, "the lake's blocks are the node's canonical chain");
    // Transactions: exactly the canonical chain's (the reorged-out transfers left with their blocks).
    let table = LakeTable::open(&lake, TableKind::Transactions).await.unwrap();
    let txs = read::delta_rows(&table).await.unwrap();
    let hashes = strings(&txs, "hash");
    let distinct: BTreeSet<String> = hashes.iter().cloned().collect();
    assert_eq!(hashes.len(), distinct.len(), "no transaction twice");
    let chain: BTreeSet<String> = anvil.tx_hashes(0, new_tip).await.into_iter().collect();
    assert_eq!(distinct, chain, "exactly the canonical chain's transactions");
    // 5 deposits mined, the last 3 replaced by 3 new ones in 2 blocks (and one empty block).
    assert_eq!(
        chain.len(),
        m.transaction_count as usize + 5,
        "the replacement blocks' transactions landed"
    );
    let replaced: BTreeSet<String> = anvil.tx_hashes(tip - 2, new_tip).await.into_iter().collect();
    assert_eq!(replaced.len(), 3);
    assert!(replaced.is_subset(&distinct));

    // Logs: the canonical chain's (the old branch's deposits retracted, the new ones landed).
    common::assert_logs_are_the_chain(&lake, &anvil, new_tip).await;
    let logs = read::delta_rows(&LakeTable::open(&lake, TableKind::Logs).await.unwrap())
        .await
        .unwrap();
    let log_txs: BTreeSet<String> = strings(&logs, "transaction_hash").into_iter().collect();
    assert!(replaced.is_subset(&log_txs), "a replacement block's logs are missing");
    assert!(old_branch.is_disjoint(&log_txs), "a reorged-out block's logs remain");
    // The stream's log tables equal a backfill's of the same chain, row for row.
    let batch = tempfile::tempdir().unwrap();
    let batch_path = batch.path().to_str().unwrap();
    let new_tip_text = new_tip.to_string();
    Job::start(&[
        "backfill",
        "--rpc-url",
        &anvil.url,
        "--from",
        "0",
        "--to",
        &new_tip_text,
        "--to-head",
        "--lake",
        batch_path,
        "--tables",
        &every_table,
        "--abi-dir",
        abi_dir.path().to_str().unwrap(),
    ])
    .finish(Duration::from_secs(180));
    let batch_lake = Lake::parse(batch_path).unwrap();
    // A token's total supply is read at the newest block (anvil on a loaded state keeps no
    // older one), which moved between the stream's read and the backfill's: the reorg replaced
    // WETH deposits.
    for kind in TableKind::ALL {
        let skip: &[&str] = if kind == TableKind::Tokens {
            &["total_supply"]
        } else {
            &[]
        };
        let stream = sorted_rows(&lake, kind, skip).await;
        let backfill = sorted_rows(&batch_lake, kind, skip).await;
        assert_eq!(stream.len(), backfill.len(), "{}: row counts differ", kind.name());
        assert!(!stream.is_empty(), "{}: nothing landed", kind.name());
        assert!(
            stream == backfill,
            "{}: the stream's rows differ from the backfill's",
            kind.name()
        );
    }

    // Decoded calls: each of the generator's calls once, with its function.
    let table = LakeTable::open(&lake, TableKind::DecodedCalls).await.unwrap();
    let decoded = read::delta_rows(&table).await.unwrap();
    let decoded_hashes = strings(&decoded, "hash");
    let functions = strings(&decoded, "function_name");
    assert_eq!(decoded_hashes.len(), calls, "every contract interaction once");
    let sent: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(chainx_testkit::anvil::chain_dir().join("calls.json")).unwrap())
            .unwrap();
    let by_hash: std::collections::HashMap<&str, &str> = decoded_hashes
        .iter()
        .map(String::as_str)
        .zip(functions.iter().map(String::as_str))
        .collect();
    assert_eq!(by_hash.len(), calls, "no call twice");
    for c in &sent {
        assert_eq!(
            by_hash.get(c["hash"].as_str().unwrap()).copied(),
            c["function"].as_str(),
            "{c}"
        );
    }

    // Metrics: rows landed equal the table, three blocks unwound, files counted.
    let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| common::metric(&text, name);
    assert_eq!(value("chainx_sink_reorged_blocks_unwound_total"), 3.0);
    assert_eq!(
        value("chainx_lake_rows_landed_total{table=\"decoded_calls\"}"),
        calls as f64
    );
    // The first sink landed the old branch; this one the three blocks that replaced it and one more.
    assert_eq!(
        value("chainx_lake_rows_landed_total{table=\"blocks\"}"),
        (new_tip - tip + 3) as f64
    );
    let live = LakeTable::open(&lake, TableKind::Blocks)
        .await
        .unwrap()
        .live_files()
        .unwrap()
        .len();
    assert_eq!(value("chainx_lake_live_files{table=\"blocks\"}"), live as f64);
    assert!(
        text.contains("chainx_lake_commit_seconds_count{table=\"transactions\"}"),
        "{text}"
    );
    // Lag is measured every 10 s, off the hot path: wait for the first measurement.
    let lag_line = "chainx_sink_consumer_lag_messages{topic=\"live.mined.blocks.metadata\"}";
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = reqwest::get(format!("http://{metrics_addr}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if page.contains(lag_line) {
            break;
        }
        assert!(Instant::now() < deadline, "no consumer lag measured in 30 s:\n{page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let log = sink.stderr();
    assert!(log.contains("unwound reorganised blocks"), "{log}");
    assert!(
        log.contains("counted the contract interactions of blocks whose transactions landed before"),
        "the restarted sink never read a block's calls count back from the lake:\n{log}"
    );
}

/// Every row of a table as text (all columns but `skip`), sorted: two lakes compare row for row.
async fn sorted_rows(lake: &Lake, kind: TableKind, skip: &[&str]) -> Vec<String> {
    use chainx_tables::arrow::util::display::{ArrayFormatter, FormatOptions};
    let table = LakeTable::open(lake, kind).await.unwrap();
    let mut out = Vec::new();
    for b in read::delta_rows(&table).await.unwrap() {
        let columns: Vec<ArrayFormatter> = b
            .schema()
            .fields()
            .iter()
            .zip(b.columns())
            .filter(|(f, _)| !skip.contains(&f.name().as_str()))
            .map(|(_, c)| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).unwrap())
            .collect();
        for i in 0..b.num_rows() {
            out.push(
                columns
                    .iter()
                    .map(|c| c.value(i).to_string())
                    .collect::<Vec<_>>()
                    .join("|"),
            );
        }
    }
    out.sort();
    out
}
