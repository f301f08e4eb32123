//! Sink throughput for `make bench`: a real Kafka broker filled with synthetic blocks (20
//! transactions each) in the fast layer's message format, then `chainx sink` pinned to one
//! core (taskset; the broker is moved to the other cores) lands them in a fresh local lake.
//!
//!     sink-throughput CHAINX_BINARY TRANSACTIONS
//!
//! Prints {"transactions", "blocks", "seconds", "rows_per_s", "peak_rss_mb", "partition_pauses",
//! "peak_waiting_rows"} (the last two from the sink's summary line).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chainx_testkit::kafka::Kafka;
use chainx_testkit::process_memory_mb;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use serde_json::json;

const PER_BLOCK: u64 = 20;

fn block(n: u64) -> serde_json::Value {
    json!({
        "number": n, "hash": format!("{:#066x}", n + 1), "parent_hash": format!("{:#066x}", n),
        "nonce": "0x0000000000000000", "sha3_uncles": format!("{:#066x}", 0), "logs_bloom": "0x00",
        "transactions_root": format!("{:#066x}", 7), "state_root": format!("{:#066x}", 8),
        "receipts_root": format!("{:#066x}", 9), "miner": "0x95222290dd7278aa3ddd389cc1e1d165cc4bafe5",
        "difficulty": "0", "total_difficulty": null, "size": 50000, "extra_data": "0x",
        "gas_limit": 30000000, "gas_used": 12000000, "timestamp": 1704067200 + n * 12,
        "transaction_count": PER_BLOCK, "base_fee_per_gas": "12345678901", "withdrawals_root": null,
        "withdrawals": null, "blob_gas_used": null, "excess_blob_gas": null,
        "parent_beacon_block_root": null, "removed": false
    })
}

fn transaction(n: u64, i: u64) -> serde_json::Value {
    json!({
        "hash": format!("{:#066x}", (n << 20) | i), "nonce": i, "block_hash": format!("{:#066x}", n + 1),
        "block_number": n, "transaction_index": i,
        "from_address": "0x95222290dd7278aa3ddd389cc1e1d165cc4bafe5",
        "to_address": "0xdac17f958d2ee523a2206206994597c13d831ec7", "value": "1234567890123456789",
        "gas": 65000, "gas_price": "23000000000",
        "input": "0xa9059cbb000000000000000000000000dac17f958d2ee523a2206206994597c13d831ec70000000000000000000000000000000000000000000000000000000005f5e100",
        "block_timestamp": 1704067200 + n * 12, "max_fee_per_gas": "30000000000",
        "max_priority_fee_per_gas": "1000000000", "transaction_type": 2,
        "receipt_cumulative_gas_used": null, "receipt_gas_used": null, "receipt_contract_address": null,
        "receipt_status": null, "receipt_effective_gas_price": null, "tx_kind": "contract_interaction"
    })
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let chainx = args.next().expect("usage: sink-throughput CHAINX_BINARY TRANSACTIONS");
    let txs: u64 = args.next().map_or(200_000, |s| s.parse().unwrap());
    let blocks = txs / PER_BLOCK;
    let kafka = Kafka::start().await;
    let ok = Command::new(&chainx)
        .args(["topics", "create", "--brokers", &kafka.brokers, "--network", "bench"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("linger.ms", "50")
        .set("compression.type", "lz4")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();
    for n in 0..blocks {
        for i in 0..PER_BLOCK {
            let v = transaction(n, i).to_string();
            let key = format!("{:#066x}", (n << 20) | i);
            producer
                .send_result(
                    FutureRecord::to("bench.mined.tx.3.contract_interaction")
                        .key(&key)
                        .payload(&v),
                )
                .map_err(|(e, _)| e)
                .unwrap();
        }
        let v = block(n).to_string();
        producer
            .send_result(
                FutureRecord::to("bench.mined.blocks.metadata")
                    .key(&n.to_string())
                    .payload(&v),
            )
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(120)).unwrap();

    // One core for the sink means one core of its own: the broker (a JVM) moves to the others,
    // so that its fetch handling does not compete with the sink being measured.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores > 1 {
        let pinned = Command::new("taskset")
            .args(["-a", "-p", "-c", &format!("1-{}", cores - 1)])
            .arg(kafka.pid().unwrap().to_string())
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(pinned.success(), "taskset could not pin the broker");
    }
    let lake = tempfile::tempdir().unwrap();
    let until = (blocks - 1).to_string();
    let start = Instant::now();
    let mut sink = Command::new("taskset")
        .args([
            "-c",
            "0",
            &chainx,
            "sink",
            "--brokers",
            &kafka.brokers,
            "--network",
            "bench",
            "--lake",
        ])
        .arg(lake.path())
        // At the default flush settings. Synthetic blocks and transactions only: the per-block
        // topics stay empty.
        .args(["--until-block", &until, "--tables", "blocks,transactions"])
        .env(
            "CHAINX_LOG",
            std::env::var("CHAINX_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut peak = 0.0f64;
    let status = loop {
        if let Some(s) = process_memory_mb(sink.id(), "VmHWM") {
            peak = peak.max(s);
        }
        if let Some(status) = sink.try_wait().unwrap() {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let seconds = start.elapsed().as_secs_f64();
    assert!(status.success(), "chainx sink failed");
    let mut summary = String::new();
    std::io::Read::read_to_string(&mut sink.stdout.take().unwrap(), &mut summary).unwrap();
    // "...; N partition pauses; at most M rows waiting"
    let number_before = |what: &str| -> Option<u64> {
        let head = summary.split(what).next()?;
        head.rsplit(' ').find(|w| !w.is_empty())?.parse().ok()
    };
    let waiting = summary
        .split("at most ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    println!(
        "{}",
        json!({
            "transactions": txs, "blocks": blocks, "seconds": (seconds * 1000.0).round() / 1000.0,
            "rows_per_s": ((txs + blocks) as f64 / seconds).round(), "peak_rss_mb": peak.round(),
            "partition_pauses": number_before(" partition pauses"), "peak_waiting_rows": waiting,
        })
    );
}
