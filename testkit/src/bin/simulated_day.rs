//! A simulated day at the head, for `make bench`: the mainnet-shaped node grows one block every
//! PACE_MS (mainnet's 12 s, compressed 12000/PACE_MS times), `chainx block-clock --receipts`
//! follows it into a real Kafka broker and `chainx sink` lands blocks, transactions, logs and
//! token transfers in a fresh local lake. Every setting that is a duration is compressed by the
//! same factor (the clock's 1 s poll, the sink's 30 s flush interval), so the lake gains the
//! files and commits a real day would give it; the rest stays at the defaults. Then
//! `chainx lake compact` runs over the day.
//!
//!     simulated-day CHAINX_BINARY [BLOCKS [PACE_MS]]      (defaults: 7200 blocks, 50 ms)
//!
//! Prints one JSON line: per table its rows, live files and commits (and the files a full day
//! would have, scaled to 7,200 blocks), the files after compaction; the resident memory of the
//! sink and of the clock at the end of every simulated hour, their peaks; how far the sink
//! trailed the head when the day ended, and what compaction took.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chainx_testkit::kafka::Kafka;
use chainx_testkit::mainnet_node::MainnetNode;
use chainx_testkit::process_memory_mb;
use serde_json::{json, Value};

const BLOCK_TIME_MS: f64 = 12_000.0;
const BLOCKS_PER_HOUR: u64 = 300;
const BLOCKS_PER_DAY: u64 = 7_200;
const TABLES: &str = "blocks,transactions,logs,token_transfers";

fn chainx(binary: &str) -> Command {
    let mut c = Command::new(binary);
    c.env(
        "CHAINX_LOG",
        std::env::var("CHAINX_LOG").unwrap_or_else(|_| "warn".into()),
    );
    c
}

/// A job under watch: its resident memory at the end of each simulated hour and its peak.
struct Watched {
    name: &'static str,
    child: Child,
    by_hour: Vec<f64>,
    now: f64,
    peak: f64,
    exited: Option<std::process::ExitStatus>,
}

impl Watched {
    fn new(name: &'static str, child: Child) -> Watched {
        Watched {
            name,
            child,
            by_hour: Vec::new(),
            now: 0.0,
            peak: 0.0,
            exited: None,
        }
    }

    fn sample(&mut self) {
        if self.exited.is_some() {
            return;
        }
        let pid = self.child.id();
        if let Some(rss) = process_memory_mb(pid, "VmRSS") {
            self.now = rss;
        }
        if let Some(hwm) = process_memory_mb(pid, "VmHWM") {
            self.peak = self.peak.max(hwm);
        }
        if let Some(status) = self.child.try_wait().unwrap() {
            assert!(status.success(), "chainx {} failed: {status}", self.name);
            self.exited = Some(status);
        }
    }

    fn report(&self) -> Value {
        let round = |mb: f64| mb.round();
        json!({
            "first_hour": self.by_hour.first().copied().map(round),
            "day": self.by_hour.last().copied().map(round),
            "peak": round(self.peak),
            "by_hour": self.by_hour.iter().copied().map(round).collect::<Vec<_>>(),
        })
    }
}

/// `chainx lake show`: each table's rows, live files and version, from its summary line
/// "NAME: R rows in F files, blocks ..., version V".
fn show(binary: &str, lake: &std::path::Path) -> BTreeMap<String, (u64, u64, u64)> {
    let out = chainx(binary)
        .args(["lake", "show", "--rows", "0", "--lake"])
        .arg(lake)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "chainx lake show failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tables = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let Some((name, rest)) = line.split_once(": ") else {
            continue;
        };
        let words: Vec<&str> = rest.split([' ', ',']).filter(|w| !w.is_empty()).collect();
        let after = |w: &str| {
            words
                .iter()
                .position(|x| *x == w)
                .and_then(|i| words.get(i + 1)?.parse().ok())
        };
        let before = |w: &str| {
            words
                .iter()
                .position(|x| *x == w)
                .and_then(|i| words.get(i.checked_sub(1)?)?.parse().ok())
        };
        if let (Some(rows), Some(files), Some(version)) = (before("rows"), before("files"), after("version")) {
            tables.insert(name.to_string(), (rows, files, version));
        }
    }
    tables
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let binary = args
        .next()
        .expect("usage: simulated-day CHAINX_BINARY [BLOCKS [PACE_MS]]");
    let blocks: u64 = args.next().map_or(BLOCKS_PER_DAY, |s| s.parse().unwrap());
    let pace_ms: u64 = args.next().map_or(50, |s| s.parse().unwrap());
    let compression = BLOCK_TIME_MS / pace_ms as f64;
    let last = blocks - 1;

    let kafka = Kafka::start().await;
    let ok = chainx(&binary)
        .args(["topics", "create", "--brokers", &kafka.brokers, "--network", "day"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    let node = MainnetNode::start(0, Some(Duration::from_millis(pace_ms))).await;
    let lake = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let clock = chainx(&binary)
        .args(["block-clock", "--brokers", &kafka.brokers, "--network", "day"])
        .args(["--rpc-url", &node.url, "--receipts", "--start-block", "0"])
        .args(["--until-block", &last.to_string()])
        .args(["--poll-interval", &(1.0 / compression).to_string()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let sink = chainx(&binary)
        .args(["sink", "--brokers", &kafka.brokers, "--network", "day", "--lake"])
        .arg(lake.path())
        .args(["--until-block", &last.to_string(), "--tables", TABLES])
        .args(["--flush-interval", &(30.0 / compression).to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut jobs = [Watched::new("sink", sink), Watched::new("block-clock", clock)];

    // Sampled, not synchronised on: the jobs run on their own; this only reads /proc.
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut next_hour = BLOCKS_PER_HOUR;
    let mut day_ended = None;
    let patience = Duration::from_millis(blocks * pace_ms * 3) + Duration::from_secs(300);
    while jobs[0].exited.is_none() {
        tick.tick().await;
        jobs.iter_mut().for_each(Watched::sample);
        let head = node.head();
        while head >= next_hour && next_hour <= blocks {
            jobs.iter_mut().for_each(|j| j.by_hour.push(j.now));
            next_hour += BLOCKS_PER_HOUR;
        }
        if head >= last && day_ended.is_none() {
            day_ended = Some(Instant::now());
        }
        assert!(
            start.elapsed() < patience,
            "the sink has not landed block {last} after {:?} (the head is at {head})",
            start.elapsed()
        );
    }
    let seconds = start.elapsed().as_secs_f64();
    let lag = day_ended.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let mut summary = String::new();
    std::io::Read::read_to_string(&mut jobs[0].child.stdout.take().unwrap(), &mut summary).unwrap();

    let landed = show(&binary, lake.path());
    let compact_start = Instant::now();
    let mut compact = Watched::new(
        "lake compact",
        chainx(&binary)
            .args(["lake", "compact", "--lake"])
            .arg(lake.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    while compact.exited.is_none() {
        tick.tick().await;
        compact.sample();
    }
    let compact_seconds = compact_start.elapsed().as_secs_f64();
    let compacted = show(&binary, lake.path());

    let tables: BTreeMap<&String, Value> = landed
        .iter()
        .map(|(name, (rows, files, version))| {
            let after = compacted.get(name).map(|t| t.1);
            let per_day = (*files as f64 * BLOCKS_PER_DAY as f64 / blocks as f64).round();
            let t = json!({"rows": rows, "files": files, "files_per_day": per_day,
                "commits": version + 1, "files_after_compact": after});
            (name, t)
        })
        .collect();
    println!(
        "{}",
        json!({
            "blocks": blocks, "pace_ms": pace_ms, "compression": compression,
            "seconds": seconds.round(), "sink_lag_s": (lag * 10.0).round() / 10.0,
            "tables": tables, "sink_rss_mb": jobs[0].report(), "clock_rss_mb": jobs[1].report(),
            "compact": {"seconds": compact_seconds.round(), "peak_rss_mb": compact.peak.round()},
            "sink_summary": summary.trim(),
        })
    );
}
