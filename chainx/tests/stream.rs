//! The fast layer end to end: the `chainx` binary's streaming jobs against a real Apache Kafka
//! broker (KRaft, from Maven Central jars) and a real anvil node with the fixture chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::process::Command;
use std::time::Duration;

use chainx_testkit::anvil::{chain_dir, manifest, Anvil};
use chainx_testkit::free_port;
use chainx_testkit::kafka::{read_until, Kafka, Record};
use common::{create_topics, topic, Job};

mod common;
use serde_json::{json, Value};

const CLASSES: [&str; 3] = [
    "mined.tx.1.native_token_transfer",
    "mined.tx.2.contract_deployment",
    "mined.tx.3.contract_interaction",
];

/// Reads a topic until it holds `n` distinct keys.
fn read_keys(brokers: &str, topic: &str, n: usize, timeout: Duration) -> Vec<Record> {
    read_until(brokers, topic, timeout, |rs| {
        rs.iter().map(|r| r.key.as_str()).collect::<BTreeSet<_>>().len() >= n
    })
}

/// The class topics of `network`, read until every transaction of the chain is in one of them.
fn read_classes(brokers: &str, network: &str, timeout: Duration) -> BTreeMap<&'static str, Vec<Record>> {
    let m = manifest();
    let want = [
        m.tx_kind.native_token_transfer,
        m.tx_kind.contract_deployment,
        m.tx_kind.contract_interaction,
    ];
    CLASSES
        .iter()
        .zip(want)
        .map(|(c, n)| (*c, read_keys(brokers, &topic(network, c), n as usize, timeout)))
        .collect()
}

/// Asserts each transaction of the chain is in exactly one class topic, once per copy kept
/// (`copies` says which duplicates were found), and returns hash -> (class, value).
fn check_classes(
    classes: &BTreeMap<&'static str, Vec<Record>>,
    all_hashes: &BTreeSet<String>,
) -> (HashMap<String, (&'static str, Value)>, usize) {
    let m = manifest();
    let mut by_hash: HashMap<String, (&'static str, Value)> = HashMap::new();
    let mut duplicates = 0;
    for (class, records) in classes {
        for r in records {
            assert_eq!(
                r.key,
                r.value["hash"].as_str().unwrap(),
                "messages are keyed by tx hash"
            );
            assert!(
                class.ends_with(r.value["tx_kind"].as_str().unwrap()),
                "{} in {class}",
                r.key
            );
            if let Some((c, v)) = by_hash.get(&r.key) {
                // A redelivery must be the same transaction in the same class, not other data.
                assert_eq!((c, v), (class, &r.value), "{} differs between copies", r.key);
                duplicates += 1;
            } else {
                by_hash.insert(r.key.clone(), (class, r.value.clone()));
            }
        }
    }
    let seen: BTreeSet<String> = by_hash.keys().cloned().collect();
    assert_eq!(
        &seen, all_hashes,
        "the class topics hold exactly the chain's transactions"
    );
    let count = |c: &str| by_hash.values().filter(|(k, _)| *k == c).count() as u64;
    assert_eq!(count(CLASSES[0]), m.tx_kind.native_token_transfer);
    assert_eq!(count(CLASSES[1]), m.tx_kind.contract_deployment);
    assert_eq!(count(CLASSES[2]), m.tx_kind.contract_interaction);
    (by_hash, duplicates)
}

/// Blocks 0..=last, each published once as canonical, in block order within each partition.
fn check_blocks_once(records: &[Record], last: u64) {
    let mut numbers: Vec<u64> = records.iter().map(|r| r.value["number"].as_u64().unwrap()).collect();
    assert!(records.iter().all(|r| r.value["removed"] == json!(false)));
    for r in records {
        assert_eq!(r.key, r.value["number"].to_string(), "blocks are keyed by number");
    }
    let mut by_partition: BTreeMap<i32, Vec<u64>> = BTreeMap::new();
    for r in records {
        by_partition
            .entry(r.partition)
            .or_default()
            .push(r.value["number"].as_u64().unwrap());
    }
    for (p, ns) in by_partition {
        assert!(
            ns.windows(2).all(|w| w[0] < w[1]),
            "partition {p} is out of block order"
        );
    }
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..=last).collect::<Vec<_>>(),
        "every block exactly once, no gap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_crawl_modes_publish_identical_class_topics_and_calls_decode() {
    let m = manifest();
    let kafka = Kafka::start().await;
    let anvil = Anvil::fixture().await;
    let b = kafka.brokers.as_str();
    let all: BTreeSet<String> = anvil.tx_hashes(0, m.last_block).await.into_iter().collect();
    let last = m.last_block.to_string();

    // A clear error before the topics exist.
    let out = Command::new(env!("CARGO_BIN_EXE_chainx"))
        .args([
            "block-clock",
            "--brokers",
            b,
            "--network",
            "full",
            "--rpc-url",
            &anvil.url,
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("chainx topics create"), "{err}");

    // Full-block mode: the clock publishes everything itself.
    create_topics(b, "full");
    let summary = common::publish_chain(b, "full", &anvil.url, m.last_block);
    assert!(
        summary.contains(&format!(
            "published {} blocks, {} transactions",
            m.block_count, m.transaction_count
        )),
        "{summary}"
    );
    let blocks = read_keys(
        b,
        &topic("full", "mined.blocks.metadata"),
        m.block_count as usize,
        Duration::from_secs(60),
    );
    check_blocks_once(&blocks, m.last_block);
    let hash_ids = read_keys(
        b,
        &topic("full", "mined.txs.hash.ids"),
        all.len(),
        Duration::from_secs(60),
    );
    assert_eq!(hash_ids.len(), all.len(), "hash ids published once each");
    let full = read_classes(b, "full", Duration::from_secs(60));
    let (full_rows, dups) = check_classes(&full, &all);
    assert_eq!(
        dups, 0,
        "full-block mode publishes in Kafka transactions: no duplicates"
    );
    // Wei stays exact: decimal strings, never floats.
    let (_, any) = full_rows.values().find(|(c, _)| *c == CLASSES[0]).unwrap();
    assert!(any["value"].is_string() && any["value"].as_str().unwrap().chars().all(|c| c.is_ascii_digit()));

    // The request log topic: one record per provider request, without secrets or URLs.
    let log = read_until(
        b,
        &topic("full", "api_keys.request_log"),
        Duration::from_secs(30),
        |rs| !rs.is_empty(),
    );
    assert!(log
        .iter()
        .all(|r| r.value["status"] == json!(200) && r.value["method"].is_string()));
    assert!(log.iter().any(|r| r.value["method"] == json!("eth_getBlockByNumber")));
    assert!(log.iter().all(|r| !r.value.to_string().contains("127.0.0.1")));

    // Per-tx mode: hash ids from the clock, transactions from three crawler replicas, one of
    // them killed mid-stream.
    create_topics(b, "pertx");
    let crawler = |name: &str| {
        Job::start(&[
            "tx-crawler",
            "--brokers",
            b,
            "--network",
            "pertx",
            "--rpc-url",
            &anvil.url,
            "--batch",
            "20",
            "--rps",
            "150",
            "--replica-id",
            name,
        ])
    };
    let mut crawlers = vec![crawler("c1"), crawler("c2"), crawler("c3")];
    let clock = Job::start(&[
        "block-clock",
        "--brokers",
        b,
        "--network",
        "pertx",
        "--mode",
        "per-tx",
        "--rpc-url",
        &anvil.url,
        "--start-block",
        "0",
        "--until-block",
        &last,
    ]);
    // Mid-stream: a third of the interactions are out.
    read_until(b, &topic("pertx", CLASSES[2]), Duration::from_secs(120), |rs| {
        rs.len() as u64 >= m.tx_kind.contract_interaction / 3
    });
    crawlers[0].kill();
    let summary = clock.finish(Duration::from_secs(120));
    assert!(
        summary.contains(&format!("published {} blocks, 0 transactions", m.block_count)),
        "{summary}"
    );
    let per_tx = read_classes(b, "pertx", Duration::from_secs(180));
    let (per_tx_rows, dups) = check_classes(&per_tx, &all);
    // Redeliveries come only from batches in flight when the replica died or partitions moved:
    // at most one batch (20) per replica.
    eprintln!("per-tx mode: {dups} duplicate deliveries after killing a replica");
    assert!(dups <= 3 * 20, "{dups} duplicates is more than the in-flight batches");
    assert_eq!(per_tx_rows, full_rows, "both modes give identical class topics");
    let request_log = read_until(
        b,
        &topic("pertx", "api_keys.request_log"),
        Duration::from_secs(30),
        |rs| {
            rs.iter()
                .any(|r| r.value["method"] == json!("eth_getTransactionByHash"))
        },
    );
    let replicas: BTreeSet<&str> = request_log.iter().filter_map(|r| r.value["replica"].as_str()).collect();
    assert!(replicas.contains("c2") && replicas.contains("c3"), "{replicas:?}");
    drop(crawlers);

    // The decoder: the router, pairs, NFTs and beacon by their ABI files, ERC-20, WETH and the
    // lending pool by built-in signatures.
    let abi_dir = tempfile::tempdir().unwrap();
    let folder_abis = chainx_testkit::anvil::write_abi_folder(abi_dir.path());
    let _decoder = Job::start(&[
        "tx-decoder",
        "--brokers",
        b,
        "--network",
        "full",
        "--abi-dir",
        abi_dir.path().to_str().unwrap(),
    ]);
    check_decoded(b, &folder_abis);
}

/// Every call the chain generator sent decodes to the function and arguments it sent.
fn check_decoded(brokers: &str, folder_abis: &[String]) {
    let calls: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(chain_dir().join("calls.json")).unwrap()).unwrap();
    let m = manifest();
    let decoded = read_keys(
        brokers,
        &topic("full", "mined.tx.3.contract_interaction.decoded"),
        m.tx_kind.contract_interaction as usize,
        Duration::from_secs(120),
    );
    let by_hash: HashMap<&str, &Value> = decoded.iter().map(|r| (r.key.as_str(), &r.value)).collect();
    assert!(!calls.is_empty());
    for c in &calls {
        let hash = c["hash"].as_str().unwrap();
        let d = by_hash.get(hash).unwrap_or_else(|| panic!("{hash} not decoded"));
        assert_eq!(d["decode_status"], json!("ok"), "{hash}: {d}");
        assert_eq!(d["function_name"], c["function"], "{hash}");
        let args: Vec<&Value> = d["args"].as_array().unwrap().iter().map(|a| &a["value"]).collect();
        let sent: Vec<&Value> = c["args"].as_array().unwrap().iter().collect();
        assert_eq!(args, sent, "{hash}: arguments differ from what the generator sent");
        let to = c["to"].as_str().unwrap().to_string();
        let source = if folder_abis.contains(&to) { "folder" } else { "builtin" };
        assert_eq!(d["abi_source"], json!(source), "{hash}");
    }
    // Contract calls the generator did not make through `call` (none today) would show here.
    let failed = decoded
        .iter()
        .filter(|r| r.value["decode_status"] != json!("ok"))
        .count();
    assert_eq!(failed, 0, "every interaction of the chain decodes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_survives_its_own_kill_and_a_broker_restart_without_gap_or_duplicate() {
    let m = manifest();
    let mut kafka = Kafka::start().await;
    let anvil = Anvil::fixture().await;
    let b = kafka.brokers.clone();
    create_topics(&b, "restart");
    let last = m.last_block.to_string();
    // Paced so the restarts land mid-stream: about 40 blocks a second.
    let args = [
        "block-clock",
        "--brokers",
        &b,
        "--network",
        "restart",
        "--rpc-url",
        &anvil.url,
        "--start-block",
        "0",
        "--until-block",
        &last,
        "--max-blocks-per-commit",
        "5",
        "--rps",
        "40",
    ];
    let blocks_topic = topic("restart", "mined.blocks.metadata");
    let mut clock = Job::start(&args);
    read_until(&b, &blocks_topic, Duration::from_secs(60), |rs| rs.len() >= 100);
    clock.kill();
    let clock = Job::start(&args);
    clock.wait_for_log("resuming after the last published block", Duration::from_secs(60));
    read_until(&b, &blocks_topic, Duration::from_secs(60), |rs| rs.len() >= 250);
    kafka.kill();
    kafka.start_again().await;
    let summary = clock.finish(Duration::from_secs(240));
    // The second process resumed where the first stopped, rather than starting over.
    let published: u64 = summary.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(published > 0 && published <= m.block_count - 100, "{summary}");

    let blocks = read_keys(&b, &blocks_topic, m.block_count as usize, Duration::from_secs(60));
    check_blocks_once(&blocks, m.last_block);
    let all: BTreeSet<String> = anvil.tx_hashes(0, m.last_block).await.into_iter().collect();
    let classes = read_classes(&b, "restart", Duration::from_secs(60));
    let (_, dups) = check_classes(&classes, &all);
    assert_eq!(dups, 0, "transactions too are published exactly once across restarts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_publishes_removed_blocks_then_the_new_canonical_ones() {
    let m = manifest();
    let kafka = Kafka::start().await;
    let anvil = Anvil::fixture().await;
    let b = kafka.brokers.as_str();
    create_topics(b, "reorg");
    // A reorg needs blocks mined since the dump was loaded.
    anvil.mine_transfers(5).await;
    let tip = m.last_block + 5;
    let from = (tip - 10).to_string();
    let _clock = Job::start(&[
        "block-clock",
        "--brokers",
        b,
        "--network",
        "reorg",
        "--rpc-url",
        &anvil.url,
        "--start-block",
        &from,
        "--poll-interval",
        "0.1",
    ]);
    let blocks_topic = topic("reorg", "mined.blocks.metadata");
    read_until(b, &blocks_topic, Duration::from_secs(60), |rs| {
        rs.iter().any(|r| r.value["number"] == json!(tip))
    });
    let old: HashMap<u64, String> = read_until(b, &blocks_topic, Duration::from_secs(5), |_| true)
        .iter()
        .map(|r| {
            (
                r.value["number"].as_u64().unwrap(),
                r.value["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    // Replace the last 3 blocks, then mine one more on the new branch.
    anvil.rpc("anvil_reorg", json!([3, []])).await;
    anvil.rpc("evm_mine", json!([])).await;
    let new_tip = tip + 1;
    let records = read_until(b, &blocks_topic, Duration::from_secs(60), |rs| {
        rs.iter().any(|r| r.value["number"] == json!(new_tip))
    });
    let mut per_block: BTreeMap<u64, Vec<&Record>> = BTreeMap::new();
    for r in &records {
        per_block
            .entry(r.value["number"].as_u64().unwrap())
            .or_default()
            .push(r);
    }
    for n in tip - 2..=tip {
        let node = anvil
            .rpc("eth_getBlockByNumber", json!([format!("{n:#x}"), false]))
            .await;
        let seq: Vec<(bool, &str)> = per_block[&n]
            .iter()
            .map(|r| (r.value["removed"].as_bool().unwrap(), r.value["hash"].as_str().unwrap()))
            .collect();
        assert_eq!(
            seq,
            vec![
                (false, old[&n].as_str()),
                (true, old[&n].as_str()),
                (false, node["hash"].as_str().unwrap())
            ],
            "block {n}: published, removed by the reorg, then its replacement"
        );
        assert_ne!(old[&n], node["hash"].as_str().unwrap());
    }
    assert_eq!(per_block[&(tip - 3)].len(), 1, "the fork point stays");
    let newest = per_block[&new_tip][0];
    let node_tip = anvil
        .rpc("eth_getBlockByNumber", json!([format!("{tip:#x}"), false]))
        .await;
    assert_eq!(newest.value["parent_hash"], node_tip["hash"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_heads_drive_the_clock_and_metrics_report_it() {
    let m = manifest();
    let kafka = Kafka::start().await;
    let anvil = Anvil::fixture().await;
    let b = kafka.brokers.as_str();
    create_topics(b, "ws");
    let metrics_port = free_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let ws = anvil.url.replace("http://", "ws://");
    // A ws:// RPC URL: heads over the socket, calls over HTTP on the same port. A 60 s poll
    // interval: blocks arriving within seconds can only come from newHeads.
    let clock = Job::start(&[
        "block-clock",
        "--brokers",
        b,
        "--network",
        "ws",
        "--rpc-url",
        &ws,
        "--poll-interval",
        "60",
        "--metrics-addr",
        &metrics_addr,
    ]);
    clock.wait_for_log("following newHeads over WebSocket", Duration::from_secs(60));
    let blocks_topic = topic("ws", "mined.blocks.metadata");
    read_until(b, &blocks_topic, Duration::from_secs(30), |rs| !rs.is_empty());
    for _ in 0..3 {
        anvil.rpc("evm_mine", json!([])).await;
    }
    let tip = m.last_block + 3;
    let records = read_until(b, &blocks_topic, Duration::from_secs(20), |rs| {
        rs.iter().any(|r| r.value["number"] == json!(tip))
    });
    let numbers: BTreeSet<u64> = records.iter().map(|r| r.value["number"].as_u64().unwrap()).collect();
    assert_eq!(
        numbers,
        (m.last_block..=tip).collect(),
        "the head at start, then every new block"
    );

    let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| common::metric(&text, name);
    assert_eq!(value("chainx_last_published_block"), tip as f64);
    assert_eq!(value("chainx_head_lag_blocks"), 0.0);
    assert_eq!(
        value(&format!("chainx_topic_messages_total{{topic=\"{blocks_topic}\"}}")),
        4.0
    );
    assert!(text.contains("chainx_block_publish_latency_seconds_count 4"), "{text}");
    assert!(
        !clock.stderr().contains(&ws),
        "the WebSocket URL is only logged redacted"
    );

    // --confirmations: a block is published once this many blocks are on top of it.
    create_topics(b, "conf");
    let start = (tip - 10).to_string();
    let _confirmed = Job::start(&[
        "block-clock",
        "--brokers",
        b,
        "--network",
        "conf",
        "--rpc-url",
        &anvil.url,
        "--start-block",
        &start,
        "--confirmations",
        "5",
        "--poll-interval",
        "0.2",
    ]);
    let conf_topic = topic("conf", "mined.blocks.metadata");
    let has = |n: u64| move |rs: &[Record]| rs.iter().any(|r| r.value["number"] == json!(n));
    read_until(b, &conf_topic, Duration::from_secs(30), has(tip - 5));
    anvil.rpc("evm_mine", json!([])).await;
    let records = read_until(b, &conf_topic, Duration::from_secs(30), has(tip - 4));
    let numbers: Vec<u64> = records.iter().map(|r| r.value["number"].as_u64().unwrap()).collect();
    assert_eq!(
        numbers.iter().max(),
        Some(&(tip - 4)),
        "head {} minus 5 confirmations",
        tip + 1
    );
    assert_eq!(numbers.len(), 7, "blocks {}..={} once each", tip - 10, tip - 4);
}
