//! The `chainx` binary end to end, against a real anvil node: crash safety under `kill -9`,
//! secrets in errors, configuration errors, and the summary a user sees.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use chainx_tables::{read, Lake, LakeTable, TableKind};
use chainx_testkit::anvil::{manifest, Anvil};
use chainx_testkit::free_port;
use chainx_testkit::gateway::{Gateway, Limits};

fn chainx(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_chainx"));
    // The fixture chain is never reorganised: a backfill may run to its head.
    c.args(args).env_remove("CHAINX_RPC_URL").env("CHAINX_TO_HEAD", "true");
    c
}

fn output(args: &[&str]) -> Output {
    chainx(args).output().unwrap()
}

/// Rows per table seen by Delta and by a plain Hive reader, which must agree.
async fn landed(lake: &Path) -> (usize, usize) {
    let url = Lake::parse(lake.to_str().unwrap()).unwrap();
    let mut counts = Vec::new();
    for kind in TableKind::BLOCK_TABLES {
        let table = LakeTable::open(&url, kind).await.unwrap();
        let delta: usize = read::delta_rows(&table)
            .await
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        let hive: usize = read::hive_rows(&lake.join(kind.name()))
            .unwrap()
            .iter()
            .map(|b| b.num_rows())
            .sum();
        assert_eq!(delta, hive, "{}: Delta and Hive disagree", kind.name());
        counts.push(delta);
    }
    (counts[0], counts[1])
}

fn commits(lake: &Path, table: &str) -> usize {
    std::fs::read_dir(lake.join(table).join("_delta_log"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or(0)
}

fn parquet_files(lake: &Path) -> usize {
    read::hive_files(&lake.join("transactions"))
        .map(|f| f.len())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_at_any_moment_then_rerun_lands_everything_once() {
    let m = manifest();
    let anvil = Anvil::fixture().await;
    let lake = tempfile::tempdir().unwrap();
    let to = m.last_block.to_string();
    let args = [
        "backfill",
        "--rpc-url",
        &anvil.url,
        "--from",
        "0",
        "--to",
        &to,
        "--lake",
        lake.path().to_str().unwrap(),
        "--chunk-blocks",
        "25",
        "--batch-blocks",
        "5",
        "--max-concurrent-requests",
        "2",
        // A dev chain's files never reach the target size: commit often, so kills land between
        // commits as well as within them.
        "--commit-interval",
        "0.05",
    ];
    // Kill points: as soon as the first data file exists (likely mid-commit), then after a few
    // more commits. Each is a condition observed on disk, polled, never a fixed sleep.
    let kill_points: [&dyn Fn() -> bool; 2] = [&|| parquet_files(lake.path()) >= 1, &|| {
        commits(lake.path(), "blocks") >= 8
    }];
    for (i, reached) in kill_points.iter().enumerate() {
        let mut child = chainx(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !reached() {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("kill point {i}: chainx ended ({status}) before it was reached");
            }
            assert!(Instant::now() < deadline, "kill point {i} not reached in 120 s");
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let out = output(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A kill between writing a chunk's files and committing them leaves them behind: no run
    // deletes them at start-up (another writer's look the same), the nightly vacuum does. Every
    // writer has stopped, so here with no retention.
    let lake_arg = lake.path().to_str().unwrap();
    let vacuum = output(&["lake", "vacuum", "--lake", lake_arg, "--retention-hours", "0"]);
    assert!(vacuum.status.success(), "{}", String::from_utf8_lossy(&vacuum.stderr));
    let (blocks, txs) = landed(lake.path()).await;
    assert_eq!(blocks as u64, m.block_count);
    assert_eq!(txs as u64, m.transaction_count);
}

#[test]
fn api_keys_never_appear_in_errors_or_logs() {
    let secret = "9aa3d95b3bc440fa88ea12eaa4456161";
    // Nobody listens on this port: the run exhausts its retries and fails.
    let url = format!("http://127.0.0.1:{}/v3/{secret}", free_port());
    let lake = tempfile::tempdir().unwrap();
    let out = output(&[
        "backfill",
        "--rpc-url",
        &url,
        "--from",
        "0",
        "--to",
        "5",
        "--lake",
        lake.path().to_str().unwrap(),
        "--max-retries",
        "1",
        "--retry-initial-ms",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(
        stderr.contains("/v3/***"),
        "the error should name the redacted endpoint: {stderr}"
    );
    assert!(stderr.contains("failed after 2 attempts"), "{stderr}");
    assert!(
        !stderr.contains(secret) && !stdout.contains(secret),
        "secret leaked: {stderr}"
    );
}

#[test]
fn bad_configuration_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("chainx.toml");
    std::fs::write(&file, "[rpc]\nurll = 'http://x'\n").unwrap();
    let out = output(&[
        "backfill",
        "--config",
        file.to_str().unwrap(),
        "--from",
        "0",
        "--to",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("chainx.toml") && stderr.contains("urll"), "{stderr}");

    let out = output(&["backfill", "--from", "9", "--to", "1", "--rpc-url", "ftp://node"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not http or https"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_line_then_lake_show_from_a_config_file() {
    let anvil = Anvil::fixture().await;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let file = dir.path().join("chainx.toml");
    std::fs::write(
        &file,
        format!(
            "[rpc]\nurl = \"{}\"\n[lake]\npath = \"{}\"\n[backfill]\nfrom = 10\nto = 59\n",
            anvil.url,
            lake.display()
        ),
    )
    .unwrap();
    let out = chainx(&["backfill"]).env("CHAINX_CONFIG", &file).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // One line: blocks, transactions, provider requests, elapsed, blocks/s.
    assert!(stdout.starts_with("backfill 10..=59: 50 blocks, "), "{stdout}");
    assert!(
        stdout.contains("102 provider requests (2.04/block") && stdout.contains("blocks/s"),
        "{stdout}"
    );

    let out = output(&["lake", "show", "--config", file.to_str().unwrap(), "--rows", "2"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        shown.contains("blocks: 50 rows") && shown.contains("blocks 10-59"),
        "{shown}"
    );
    assert!(
        shown.contains("by tx_kind: ") && shown.contains("contract_interaction="),
        "{shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_values_never_reach_logs_outputs_or_files() {
    let secrets = ["9aa3d95b3bc440fa88ea12eaa4456161", "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"];
    let anvil = Anvil::fixture().await;
    let gateway = Gateway::uniform(
        &anvil.url,
        &secrets,
        Limits {
            rps: 30,
            daily: 1_000_000,
        },
    )
    .await;
    let lake = tempfile::tempdir().unwrap();
    let out = chainx(&[
        "backfill",
        "--provider-url",
        &gateway.template(),
        "--keys",
        "api_key_1,api_key_2",
        "--key-rps",
        "30",
        "--from",
        "0",
        "--to",
        "59",
        "--lake",
        lake.path().to_str().unwrap(),
    ])
    .env("CHAINX_KEY_API_KEY_1", secrets[0])
    .env("CHAINX_KEY_API_KEY_2", secrets[1])
    .env("CHAINX_LOG", "debug")
    .output()
    .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("60 blocks"), "{stdout}");
    let per_key = format!(
        "key calls (24 h): api_key_1={}, api_key_2={}",
        gateway.served(secrets[0]),
        gateway.served(secrets[1])
    );
    assert!(stdout.contains(&per_key), "{stdout}");
    assert!(
        gateway.served(secrets[0]) > 0 && gateway.served(secrets[1]) > 0,
        "both keys should serve"
    );
    for secret in secrets {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "secret in the output"
        );
        for file in walk(lake.path()) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret in {}",
                file.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Runs two backfill processes at once on disjoint ranges, sharing keys `one,two,three` through
/// Redis with `extra` flags, and checks the limits held and every block landed. Returns the
/// gateway and the folder holding `lake0`, `lake1`, `requests0.jsonl` and `requests1.jsonl`,
/// plus the services, which must outlive the caller's checks.
async fn two_replicas(extra: &[&str]) -> (Gateway, tempfile::TempDir, Anvil, chainx_testkit::redis::Redis) {
    let redis = chainx_testkit::redis::Redis::start().await;
    let anvil = Anvil::fixture().await;
    let gateway = Gateway::uniform(
        &anvil.url,
        &SECRETS,
        Limits {
            rps: 10,
            daily: 1_000_000,
        },
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let template = gateway.template();
    let mut children = Vec::new();
    for (i, (from, to)) in [("0", "29"), ("30", "59")].into_iter().enumerate() {
        let lake = dir.path().join(format!("lake{i}"));
        let log = dir.path().join(format!("requests{i}.jsonl"));
        let mut args = vec![
            "backfill",
            "--provider-url",
            &template,
            "--keys",
            "one,two,three",
            "--key-rps",
            "10",
            "--coordinator",
            &redis.url,
            "--from",
            from,
            "--to",
            to,
        ];
        let (lake, log, replica) = (
            lake.to_str().unwrap().to_string(),
            log.to_str().unwrap().to_string(),
            format!("replica-{i}"),
        );
        args.extend(["--lake", &lake, "--request-log", &log, "--replica-id", &replica]);
        args.extend_from_slice(extra);
        let mut cmd = chainx(&args);
        for (name, secret) in ["ONE", "TWO", "THREE"].iter().zip(SECRETS) {
            cmd.env(format!("CHAINX_KEY_{name}"), secret);
        }
        children.push(cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());
    }
    for p in children {
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    for s in SECRETS {
        assert_eq!(gateway.rejected(s), 0);
        assert!(
            gateway.max_calls_per_second(s) <= 10,
            "{} calls/s on one key",
            gateway.max_calls_per_second(s)
        );
    }
    let blocks = landed(&dir.path().join("lake0")).await.0 + landed(&dir.path().join("lake1")).await.0;
    assert_eq!(blocks, 60);
    (gateway, dir, anvil, redis)
}

const SECRETS: [&str; 3] = ["proc-shared-key-one", "proc-shared-key-two", "proc-shared-key-three"];

fn keys_used(log: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["key"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_key_limits_through_the_coordinator() {
    let (_gateway, dir, _anvil, _redis) = two_replicas(&[]).await;
    // Shared mode: both replicas may use every key.
    assert!(keys_used(&dir.path().join("requests0.jsonl")).len() > 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_mode_gives_each_process_its_own_key() {
    let (_gateway, dir, _anvil, _redis) = two_replicas(&["--key-mode", "exclusive", "--lease-ttl-secs", "10"]).await;
    let (a, b) = (
        keys_used(&dir.path().join("requests0.jsonl")),
        keys_used(&dir.path().join("requests1.jsonl")),
    );
    assert_eq!((a.len(), b.len()), (1, 1), "a replica used several keys: {a:?} {b:?}");
    assert!(a.is_disjoint(&b), "two replicas used one key: {a:?} {b:?}");
}

/// Reads `/metrics` at `addr`, or `None` while nothing answers.
fn scrape(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut page = String::new();
    s.read_to_string(&mut page).ok()?;
    Some(page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_serves_metrics_while_it_runs_and_a_taken_port_only_warns() {
    let anvil = Anvil::fixture().await;
    let lake = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    // Paced to 40 calls/s, one block per request: about 10 s for these 200 blocks.
    let args = |to: &str| {
        vec![
            "backfill".to_string(),
            "--from".into(),
            "0".into(),
            "--to".into(),
            to.into(),
            "--rpc-url".into(),
            anvil.url.clone(),
            "--lake".into(),
            lake.path().to_str().unwrap().into(),
            "--rps".into(),
            "40".into(),
            "--batch-blocks".into(),
            "1".into(),
            "--chunk-blocks".into(),
            "20".into(),
            // Commits while it runs (a dev chain's files never reach the target size).
            "--commit-interval".into(),
            "0.5".into(),
            "--metrics-addr".into(),
            addr.clone(),
        ]
    };
    let a = args("199");
    let mut first = chainx(&a.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Poll the page until a commit shows in it, while the job is still running.
    let deadline = Instant::now() + Duration::from_secs(60);
    let page = loop {
        if let Some(page) = scrape(&addr).filter(|p| p.contains("chainx_lake_rows_landed_total{table=\"blocks\"}")) {
            break page;
        }
        assert!(
            first.try_wait().unwrap().is_none(),
            "the backfill ended before serving a commit's metrics"
        );
        assert!(Instant::now() < deadline, "no metrics page at {addr}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        first.try_wait().unwrap().is_none(),
        "scraped after the run, not while it ran"
    );
    let value = |name: &str| chainx_telemetry::sample(&page, name, &[]).unwrap_or(0.0);
    assert!(value("chainx_lake_rows_landed_total") >= 20.0, "{page}");
    assert!(value("chainx_provider_calls_total") >= 20.0, "{page}");
    assert!(value("chainx_process_resident_memory_bytes") > 1e6, "{page}");
    assert!(
        page.contains(r#"key="none""#) && page.contains(r#"status="200""#),
        "{page}"
    );

    // A second backfill while the first holds the port: it warns and lands its blocks anyway.
    let b = args("9");
    let second = chainx(&b.iter().map(String::as_str).collect::<Vec<_>>())
        .output()
        .unwrap();
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("running without metrics") && stderr.contains(&addr),
        "{stderr}"
    );
    assert!(first.wait().unwrap().success());
}

/// `--chain` names the chain a job must follow: `chainx chains` lists the presets, and a node
/// of another chain stops the backfill and the clock at start, naming both ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_another_chain_than_chain_says_stops_the_job() {
    let out = output(&["chains"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    for preset in ["mainnet\t1\t", "base\t8453\t", "arbitrum\t42161\t", "polygon\t137\t"] {
        assert!(table.contains(preset), "{preset} missing from:\n{table}");
    }
    let anvil = Anvil::fixture().await;
    let anvil_chain = anvil.rpc("eth_chainId", serde_json::json!([])).await;
    let anvil_chain = u64::from_str_radix(anvil_chain.as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let lake = lake.path().to_str().unwrap();
    let backfill = |chain: &str| {
        output(&[
            "backfill",
            "--chain",
            chain,
            "--rpc-url",
            &anvil.url,
            "--from",
            "0",
            "--to",
            "3",
            "--lake",
            lake,
        ])
    };
    let out = backfill("base");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("serves chain {anvil_chain}, not chain 8453 (--chain)")),
        "{stderr}"
    );
    assert!(
        !Path::new(lake).join("blocks").exists(),
        "a table was made for the wrong chain"
    );
    let out = backfill("basee");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`chainx chains` lists them"));
    // By id: the node's own chain lands.
    let out = backfill(&anvil_chain.to_string());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 blocks"));

    // The clock checks before it publishes anything (its topics do not even exist), the
    // crawler before it consumes a hash id.
    let kafka = chainx_testkit::kafka::Kafka::start().await;
    let refused = |job: &str, chain: &str, id: u64| {
        let out = output(&[
            job,
            "--chain",
            chain,
            "--rpc-url",
            &anvil.url,
            "--brokers",
            &kafka.brokers,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{job}");
        assert!(
            stderr.contains(&format!("serves chain {anvil_chain}, not chain {id} (--chain)")),
            "{job}: {stderr}"
        );
    };
    refused("block-clock", "optimism", 10);

    // The sink knows the chain from --chain alone: the lake's tables say they hold another.
    assert!(output(&["topics", "create", "--brokers", &kafka.brokers])
        .status
        .success());
    refused("tx-crawler", "base", 8453);
    let out = output(&[
        "sink",
        "--chain",
        "base",
        "--brokers",
        &kafka.brokers,
        "--lake",
        lake,
        "--tables",
        "blocks,transactions",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!(
            "holds chain {anvil_chain} (table property chainx.chainId), not chain 8453"
        )),
        "{stderr}"
    );
}

/// Numbers no `Duration` holds are named with their flag, never a panic (exit code 101).
#[test]
fn absurd_intervals_and_rates_are_named_not_panics() {
    let lake = tempfile::tempdir().unwrap();
    let lake = lake.path().to_str().unwrap();
    let cases: [(&[&str], &str); 5] = [
        (
            &[
                "backfill", "--from", "0", "--to", "1", "--rps", "1e-300", "--lake", lake,
            ],
            "--rps",
        ),
        (
            &["sink", "--flush-interval", "1e300", "--lake", lake],
            "--flush-interval",
        ),
        (&["sink", "--flush-interval=-1", "--lake", lake], "--flush-interval"),
        (&["block-clock", "--poll-interval", "1e300"], "--poll-interval"),
        (
            &[
                "backfill",
                "--from",
                "0",
                "--to",
                "1",
                "--max-reply-mb",
                "0",
                "--lake",
                lake,
            ],
            "--max-reply-mb",
        ),
    ];
    for (args, flag) in cases {
        let out = output(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains(flag) && !stderr.contains("panicked"),
            "{args:?}: {stderr}"
        );
    }
}
