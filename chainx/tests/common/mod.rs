//! Helpers shared by the integration tests that run the `chainx` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub mod target;

use std::process::{Child, Command, Stdio};

use chainx_tables::arrow::array::{Array, AsArray, RecordBatch};
use chainx_tables::arrow::datatypes::Int64Type;
use std::time::{Duration, Instant};

/// A `chainx` process, killed (SIGKILL) on drop; its stderr goes to a file shown on failure.
pub struct Job {
    child: Child,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Job {
    pub fn start(args: &[&str]) -> Job {
        Job::start_with_env(args, &[])
    }

    /// [`Job::start`] with extra environment variables (secrets, which never go in arguments).
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Job {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("stderr.log");
        let child = Command::new(env!("CARGO_BIN_EXE_chainx"))
            .args(args)
            // The fixture chain is never reorganised: a backfill may run to its head (a test
            // of the finality cap sets CHAINX_TO_HEAD=false in `env`).
            .env("CHAINX_TO_HEAD", "true")
            .envs(env.iter().copied())
            .env_remove("CHAINX_RPC_URL")
            // CHAINX_TEST_LOG overrides the jobs' log filter when a test needs debugging.
            .env(
                "CHAINX_LOG",
                std::env::var("CHAINX_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Job { child, log, _dir: dir }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the job to exit on its own and returns its stdout; fails with its log.
    pub fn finish(self, timeout: Duration) -> String {
        self.finish_with_log(timeout).0
    }

    /// [`Job::finish`], returning stdout and stderr.
    pub fn finish_with_log(mut self, timeout: Duration) -> (String, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut out = String::new();
                std::io::Read::read_to_string(self.child.stdout.as_mut().unwrap(), &mut out).unwrap();
                assert!(status.success(), "chainx failed ({status}):\n{}", self.stderr());
                return (out, self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "chainx did not finish within {timeout:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the job's log holds `needle` (a readiness line), at most `timeout`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.stderr().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in the log:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn create_topics(brokers: &str, network: &str) {
    let out = Command::new(env!("CARGO_BIN_EXE_chainx"))
        .args([
            "topics",
            "create",
            "--brokers",
            brokers,
            "--network",
            network,
            "--partitions",
            "3",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout.lines().filter(|l| l.ends_with("\tcreated")).count(),
        chainx_fast::Topics::new(network).all().len(),
        "{stdout}"
    );
}

pub fn topic(network: &str, name: &str) -> String {
    format!("{network}.{name}")
}

/// The Python of the third-party readers' virtualenv (delta-rs, DuckDB, pyarrow), installed
/// once by `tests/readers/setup.sh`.
pub fn readers_python() -> std::path::PathBuf {
    let root = chainx_testkit::workspace_root();
    let out = Command::new(root.join("tests/readers/setup.sh"))
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tests/readers/setup.sh failed (needs python3-venv and PyPI)"
    );
    std::path::PathBuf::from(String::from_utf8(out.stdout).unwrap().trim()).join("bin/python")
}

/// What delta-rs and a plain Hive-partitioned Parquet reader (DuckDB, pyarrow) see in a lake:
/// per table, the sorted `hash` column by each (see tests/readers/lake_view.py).
pub fn third_party_view(lake: &str, options: &[(String, String)]) -> serde_json::Value {
    let root = chainx_testkit::workspace_root();
    let options: serde_json::Map<String, serde_json::Value> = options
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::from(v.as_str())))
        .collect();
    let out = Command::new(readers_python())
        .arg(root.join("tests/readers/lake_view.py"))
        .arg(lake)
        .arg(serde_json::Value::Object(options).to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lake_view.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The value of the sample `name` (with its labels, e.g. `x_total{table="blocks"}`) in a
/// Prometheus text page; fails with the page if it is missing.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
        .parse()
        .unwrap()
}

/// Publishes blocks 0..=`last` of the node at `rpc_url` to `network`'s topics with the block
/// clock (full-block mode) and returns its summary line.
pub fn publish_chain(brokers: &str, network: &str, rpc_url: &str, last: u64) -> String {
    publish_chain_with(brokers, network, rpc_url, last, &[])
}

/// [`publish_chain`] with more of the clock's flags (`--receipts`).
pub fn publish_chain_with(brokers: &str, network: &str, rpc_url: &str, last: u64, more: &[&str]) -> String {
    let last = last.to_string();
    let args = [
        "block-clock",
        "--brokers",
        brokers,
        "--network",
        network,
        "--rpc-url",
        rpc_url,
        "--start-block",
        "0",
        "--until-block",
        &last,
    ];
    Job::start(&[&args[..], more].concat()).finish(Duration::from_secs(120))
}

/// A real broker and the fixture chain's anvil, with the chain published to `network`'s topics
/// (with receipts: the logs and token-transfer topics too).
pub async fn chain_in_kafka(network: &str) -> (chainx_testkit::kafka::Kafka, chainx_testkit::anvil::Anvil) {
    let m = chainx_testkit::anvil::manifest();
    let kafka = chainx_testkit::kafka::Kafka::start().await;
    let anvil = chainx_testkit::anvil::Anvil::fixture().await;
    create_topics(&kafka.brokers, network);
    publish_chain_with(&kafka.brokers, network, &anvil.url, m.last_block, &["--receipts"]);
    (kafka, anvil)
}

/// The block rows are blocks 0..=`last_block` once each; the transaction rows are `chain`'s
/// transactions once each.
pub fn assert_exactly_the_chain(
    blocks: &[RecordBatch],
    txs: &[RecordBatch],
    last_block: u64,
    chain: &std::collections::BTreeSet<String>,
) {
    let mut numbers = numbers(blocks, "number");
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (0..=last_block).collect::<Vec<_>>(),
        "every block exactly once"
    );
    let hashes = strings(txs, "hash");
    let distinct: std::collections::BTreeSet<String> = hashes.iter().cloned().collect();
    assert_eq!(hashes.len(), distinct.len(), "no transaction twice");
    assert_eq!(&distinct, chain, "exactly the chain's transactions");
}

/// A string column of a table's batches.
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(column).unwrap();
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    out
}

/// An Int64 column of a table's batches.
pub fn numbers(batches: &[RecordBatch], column: &str) -> Vec<u64> {
    let mut out = Vec::new();
    for b in batches {
        let c = b.column_by_name(column).unwrap().as_primitive::<Int64Type>();
        out.extend(c.values().iter().map(|v| *v as u64));
    }
    out
}

/// Each row of a `logs` table as `block_number/log_index/transaction_hash/address/data/topics`,
/// the form [`chainx_testkit::anvil::Anvil::logs`] gives the node's `eth_getLogs` in.
pub fn log_keys(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let col = |name: &str| b.column_by_name(name).unwrap().clone();
        let (number, index) = (col("block_number"), col("log_index"));
        let (number, index) = (number.as_primitive::<Int64Type>(), index.as_primitive::<Int64Type>());
        let (tx, address, data) = (col("transaction_hash"), col("address"), col("data"));
        let (tx, address, data) = (
            tx.as_string::<i32>(),
            address.as_string::<i32>(),
            data.as_string::<i32>(),
        );
        let topics = col("topics");
        let topics = topics.as_list::<i32>();
        for i in 0..b.num_rows() {
            let t = topics.value(i);
            let t: Vec<&str> = t.as_string::<i32>().iter().map(Option::unwrap_or_default).collect();
            out.push(format!(
                "{}/{}/{}/{}/{}/{}",
                number.value(i),
                index.value(i),
                tx.value(i),
                address.value(i),
                data.value(i),
                t.join(",")
            ));
        }
    }
    out.sort();
    out
}

/// The lake's logs are exactly the node's over blocks `0..=last`, once each.
pub async fn assert_logs_are_the_chain(lake: &chainx_tables::Lake, anvil: &chainx_testkit::anvil::Anvil, last: u64) {
    let table = chainx_tables::LakeTable::open(lake, chainx_tables::TableKind::Logs)
        .await
        .unwrap();
    let landed = log_keys(&chainx_tables::read::delta_rows(&table).await.unwrap());
    let mut node = anvil.logs(0, last).await;
    node.sort();
    assert!(!node.is_empty());
    assert_eq!(landed.len(), node.len(), "the lake holds other logs than the node");
    assert_eq!(landed, node, "the lake's logs are not the node's eth_getLogs");
}

/// Rows per value of a string column.
pub fn count_by(batches: &[RecordBatch], column: &str) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for v in strings(batches, column) {
        *out.entry(v).or_default() += 1;
    }
    out
}
