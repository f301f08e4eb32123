//! The ops layer against running jobs: Debian's Prometheus, configured from the shipped
//! services/ops_layer/prometheus/prometheus.yml, scrapes a block clock (through a key pool in
//! front of a node-as-a-service gateway), a decoder and a sink on a real Kafka; every target
//! must be up and the sink's landed blocks must read the chain's block count. Then every
//! PromQL expression of the shipped Grafana dashboards must parse in that Prometheus and name
//! only metrics the jobs expose.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chainx_testkit::anvil::{manifest, Anvil};
use chainx_testkit::free_port;
use chainx_testkit::gateway::{Gateway, Limits};
use chainx_testkit::kafka::Kafka;
use common::{create_topics, Job};
use serde_json::{json, Value};

fn root() -> PathBuf {
    chainx_testkit::workspace_root()
}

/// Debian's `prometheus` on `config`, killed on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(config: &Value) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        // JSON is YAML: Prometheus reads it as is.
        let file = dir.path().join("prometheus.yml");
        std::fs::write(&file, serde_json::to_string_pretty(config).unwrap()).unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", file.display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("prometheus.log")).unwrap())
            .spawn()
            .expect(
                "`prometheus` (Debian package prometheus) must be on PATH; scripts/setup.sh (make setup) installs it",
            );
        Prometheus {
            child,
            url: format!("http://{addr}"),
            _dir: dir,
        }
    }

    async fn api(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .query(query)
            .send()
            .await
            .ok()?;
        resp.json().await.ok()
    }

    /// The instant value of `query`, summed over its series (`None` while it has none).
    async fn value(&self, query: &str) -> Option<f64> {
        let v = self.api("/api/v1/query", &[("query", query)]).await?;
        let result = v["data"]["result"].as_array()?;
        if result.is_empty() {
            return None;
        }
        Some(
            result
                .iter()
                .map(|r| r["value"][1].as_str().unwrap().parse::<f64>().unwrap())
                .sum(),
        )
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `check` until it returns `Some`, failing after `timeout` with `what`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The shipped Prometheus config, with each job in `targets` pointed at local addresses (the
/// DNS names only resolve inside the compose/swarm network) and the others dropped.
fn local_config(targets: &BTreeMap<&str, String>) -> Value {
    let text = std::fs::read_to_string(root().join("services/ops_layer/prometheus/prometheus.yml")).unwrap();
    let mut config: Value = serde_yaml::from_str(&text).unwrap();
    let jobs = config["scrape_configs"].as_array_mut().unwrap();
    let shipped: BTreeSet<String> = jobs
        .iter()
        .map(|j| j["job_name"].as_str().unwrap().to_string())
        .collect();
    for job in [
        "block-clock",
        "tx-crawler",
        "tx-decoder",
        "sink",
        "backfill",
        "node-exporter",
        "cadvisor",
    ] {
        assert!(shipped.contains(job), "prometheus.yml does not scrape {job}");
    }
    jobs.retain(|j| targets.contains_key(j["job_name"].as_str().unwrap()));
    for job in jobs.iter_mut() {
        let name = job["job_name"].as_str().unwrap().to_string();
        let obj = job.as_object_mut().unwrap();
        obj.remove("dns_sd_configs");
        obj.insert(
            "static_configs".into(),
            json!([{ "targets": [targets[name.as_str()]] }]),
        );
    }
    config["global"]["scrape_interval"] = json!("1s");
    config
}

/// Sample names (`x_total`, `x_bucket`, ...) a job's `/metrics` page holds.
async fn exposed(addr: &str) -> BTreeSet<String> {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_string())
        .collect()
}

/// Every identifier of a PromQL expression directly followed by a selector (`{`, `[`) or
/// starting with `chainx_`: the metric names it reads.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut in_string = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' {
            in_string = !in_string;
            i += 1;
            continue;
        }
        if !in_string && (c.is_ascii_alphabetic() || c == '_') {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            if word.starts_with("chainx_") || matches!(next, Some('{') | Some('[')) {
                out.insert(word);
            }
            continue;
        }
        i += 1;
    }
    out
}

/// Every `expr` in the shipped dashboards, with its dashboard's file name.
fn dashboard_exprs() -> Vec<(String, String)> {
    fn walk(v: &Value, file: &str, out: &mut Vec<(String, String)>) {
        match v {
            Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v) {
                        ("expr", Value::String(e)) => out.push((file.to_string(), e.clone())),
                        _ => walk(v, file, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, file, out)),
            _ => {}
        }
    }
    let dir = root().join("services/ops_layer/grafana/dashboards");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        walk(&dashboard, &path.file_name().unwrap().to_string_lossy(), &mut out);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_the_jobs_and_the_dashboards_read_only_exposed_metrics() {
    let m = manifest();
    let kafka = Kafka::start().await;
    let anvil = Anvil::fixture().await;
    let b = kafka.brokers.as_str();
    create_topics(b, "ops");
    let secret = "ops-secret-5f1e";
    let limits = Limits {
        rps: 10_000,
        daily: 10_000_000,
    };
    let gateway = Gateway::start(&anvil.url, HashMap::from([(secret.to_string(), limits)])).await;
    let lake = tempfile::tempdir().unwrap();
    let addr = || format!("127.0.0.1:{}", free_port());
    let (clock_at, decoder_at, sink_at) = (addr(), addr(), addr());
    let template = gateway.template();
    let clock = Job::start_with_env(
        &[
            "block-clock",
            "--brokers",
            b,
            "--network",
            "ops",
            "--start-block",
            "0",
            "--provider-url",
            &template,
            "--keys",
            "ops_key",
            "--key-rps",
            "1000",
            "--key-daily",
            "1000000",
            "--metrics-addr",
            &clock_at,
        ],
        &[("CHAINX_KEY_OPS_KEY", secret)],
    );
    let decoder = Job::start(&[
        "tx-decoder",
        "--brokers",
        b,
        "--network",
        "ops",
        "--metrics-addr",
        &decoder_at,
    ]);
    let sink = Job::start(&[
        "sink",
        "--brokers",
        b,
        "--network",
        "ops",
        "--lake",
        lake.path().to_str().unwrap(),
        "--flush-interval",
        "1",
        "--metrics-addr",
        &sink_at,
    ]);

    let targets = BTreeMap::from([
        ("block-clock", clock_at.clone()),
        ("tx-decoder", decoder_at.clone()),
        ("sink", sink_at.clone()),
    ]);
    let prometheus = Prometheus::start(&local_config(&targets));
    let (p, want) = (&prometheus, targets.len());

    // Every target up.
    let up = eventually("every target up", Duration::from_secs(60), || async move {
        let v = p.api("/api/v1/targets", &[]).await?;
        let active = v["data"]["activeTargets"].as_array()?.clone();
        let jobs: BTreeSet<String> = active
            .iter()
            .filter(|t| t["health"] == "up")
            .map(|t| t["labels"]["job"].as_str().unwrap_or_default().to_string())
            .collect();
        (active.len() == want && jobs.len() == want).then_some(jobs)
    })
    .await;
    assert_eq!(up, targets.keys().map(|j| j.to_string()).collect());

    // The sink's landed blocks, read through Prometheus, reach the chain's block count.
    let block_count = m.block_count as f64;
    let blocks = eventually(
        "the sink to land every block",
        Duration::from_secs(120),
        || async move {
            let v = p
                .value(r#"chainx_lake_rows_landed_total{job="sink",table="blocks"}"#)
                .await?;
            (v >= block_count).then_some(v)
        },
    )
    .await;
    assert_eq!(blocks, m.block_count as f64, "blocks landed once each");
    assert_eq!(
        prometheus
            .value(r#"chainx_last_published_block{job="block-clock"}"#)
            .await,
        Some(m.last_block as f64)
    );
    // Measured every 10 s: the sink has consumed everything, so the lag settles at 0.
    let lag = eventually("the sink's lag to read 0", Duration::from_secs(60), || async move {
        let v = p.value(r#"chainx_sink_consumer_lag_messages{job="sink"}"#).await?;
        (v == 0.0).then_some(v)
    })
    .await;
    assert_eq!(lag, 0.0);
    let decoder_lag = eventually("the decoder's lag to read 0", Duration::from_secs(60), || async move {
        let v = p.value(r#"chainx_consumer_lag_messages{job="tx-decoder"}"#).await?;
        (v == 0.0).then_some(v)
    })
    .await;
    assert_eq!(decoder_lag, 0.0);
    let budget = prometheus
        .value(r#"chainx_key_budget_left_calls{job="block-clock",key="ops_key"}"#)
        .await
        .unwrap();
    assert!(budget < 1_000_000.0 && budget > 0.0, "budget left {budget}");
    let rss = prometheus
        .value(r#"chainx_process_resident_memory_bytes{job="sink"}"#)
        .await
        .unwrap();
    assert!(rss > 1e6, "sink RSS {rss}");

    // The dashboards: valid PromQL for this Prometheus, reading only exposed metrics.
    let mut names = BTreeSet::from(["up".to_string()]);
    for at in targets.values() {
        names.extend(exposed(at).await);
    }
    let exprs = dashboard_exprs();
    assert!(exprs.len() >= 20, "only {} dashboard expressions", exprs.len());
    for (file, expr) in &exprs {
        for name in metric_names(expr) {
            assert!(
                names.contains(&name),
                "{file}: `{expr}` reads {name}, which no job exposes; exposed: {names:?}"
            );
        }
        let v = prometheus.api("/api/v1/query", &[("query", expr)]).await.unwrap();
        assert_eq!(v["status"], "success", "{file}: `{expr}`: {v}");
    }
    for job in [&clock, &decoder, &sink] {
        assert!(!job.stderr().contains(secret), "the key's secret reached a log");
    }
    let clock_page = reqwest::get(format!("http://{clock_at}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!clock_page.contains(secret), "the key's secret reached /metrics");
}

#[test]
fn metric_names_are_read_from_promql() {
    let names = metric_names(
        r#"histogram_quantile(0.95, sum by (le, key) (rate(chainx_provider_request_seconds_bucket{job=~"a|b"}[5m]))) / up"#,
    );
    assert_eq!(
        names,
        BTreeSet::from(["chainx_provider_request_seconds_bucket".to_string()])
    );
    assert!(metric_names("rate(node_cpu_seconds_total[5m])").contains("node_cpu_seconds_total"));
}
