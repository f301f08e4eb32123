//! Backfill through a node-as-a-service gateway (testkit::gateway, a real HTTP server enforcing
//! per-key limits like Infura) in front of real anvil, with the in-process key pool.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chainx_batch::BackfillConfig;
use chainx_evm::rpc::Call;
use chainx_evm::RpcClient;
use chainx_keys::{CallCosts, Key, KeyPool};
use chainx_tables::TableKind;
use chainx_testkit::anvil::Anvil;
use chainx_testkit::gateway::{Behaviour, Gateway, Limits};
use common::{assert_exactly, coverage, delta_rows, rpc};
use indicatif::ProgressBar;
use serde_json::json;

/// Keys as (secret, gateway limits, pool limits): the pool may believe other limits than the
/// provider enforces, to provoke 429s.
async fn setup(keys: &[(&str, Limits, Limits)]) -> (Anvil, Gateway, Arc<KeyPool>) {
    setup_with(keys, Behaviour::default()).await
}

async fn setup_with(keys: &[(&str, Limits, Limits)], behaviour: Behaviour) -> (Anvil, Gateway, Arc<KeyPool>) {
    let anvil = Anvil::fixture().await;
    let gateway = Gateway::start_with(
        &anvil.url,
        keys.iter()
            .map(|(k, g, _)| (k.to_string(), *g))
            .collect::<HashMap<_, _>>(),
        behaviour,
    )
    .await;
    let pool = keys
        .iter()
        .enumerate()
        .map(|(i, (secret, _, p))| {
            Key::new(
                "gateway",
                format!("key_{i}"),
                gateway.url_for(secret),
                p.rps as u32,
                p.daily as u64,
            )
        })
        .collect();
    (anvil, gateway, Arc::new(KeyPool::new(pool).unwrap()))
}

async fn backfill(
    gateway: &Gateway,
    pool: &Arc<KeyPool>,
    cfg: &BackfillConfig,
) -> chainx_batch::Result<chainx_batch::Summary> {
    let client = Arc::new(RpcClient::with_keys(rpc(&gateway.server.url), pool.clone()).unwrap());
    chainx_batch::backfill(&cfg.block_fetcher(client), cfg, &ProgressBar::hidden()).await
}

const PLENTY: usize = 1_000_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_share_the_load_and_never_exceed_their_rps() {
    let limits = Limits { rps: 20, daily: PLENTY };
    let secrets = ["secret-aaaa-1111", "secret-bbbb-2222", "secret-cccc-3333"];
    let (_anvil, gateway, pool) = setup(&secrets.map(|s| (s, limits, limits))).await;
    let lake = tempfile::tempdir().unwrap();
    let s = backfill(&gateway, &pool, &common::to_head(0, 119, lake.path().to_str().unwrap()))
        .await
        .unwrap();
    assert_exactly(lake.path(), 0, 119).await;
    // A block and its receipts per block, the chain id and the head.
    assert_eq!(s.calls, 2 * 120 + 2, "{s}");
    let served: Vec<usize> = secrets.iter().map(|k| gateway.served(k)).collect();
    for k in secrets {
        assert_eq!(gateway.rejected(k), 0, "the provider had to refuse calls of {k}");
        let peak = gateway.max_calls_per_second(k);
        assert!(peak <= 20, "{peak} calls in one second with a 20 rps key");
    }
    assert_eq!(served.iter().sum::<usize>() as u64, s.calls);
    let (lo, hi) = (served.iter().min().unwrap(), served.iter().max().unwrap());
    assert!(hi - lo <= 40, "keys wear unevenly: {served:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_budget_switches_keys_and_the_run_completes() {
    let small = Limits { rps: 50, daily: 60 };
    let big = Limits { rps: 50, daily: PLENTY };
    let (_anvil, gateway, pool) = setup(&[("small-budget-key", small, small), ("big-budget-key", big, big)]).await;
    let lake = tempfile::tempdir().unwrap();
    backfill(&gateway, &pool, &common::to_head(0, 99, lake.path().to_str().unwrap()))
        .await
        .unwrap();
    assert_exactly(lake.path(), 0, 99).await;
    let used = gateway.served("small-budget-key");
    assert!((40..=60).contains(&used), "the small key served {used} of its 60");
    assert_eq!(
        gateway.rejected("small-budget-key") + gateway.rejected("big-budget-key"),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_answering_402_is_retired_and_the_run_completes_on_the_others() {
    // The pool believes the first key has plenty: only the provider's 402 says its credits
    // are spent for the day.
    let spent = Limits { rps: 50, daily: 30 };
    let plenty = Limits { rps: 50, daily: PLENTY };
    let behaviour = Behaviour {
        daily_spent_is_402: true,
        ..Behaviour::default()
    };
    let keys = [("spent-credits-key", spent, plenty), ("good-key", plenty, plenty)];
    let (_anvil, gateway, pool) = setup_with(&keys, behaviour).await;
    let lake = tempfile::tempdir().unwrap();
    let mut config = rpc(&gateway.server.url);
    config.max_concurrent_requests = 4;
    let client = Arc::new(RpcClient::with_keys(config, pool.clone()).unwrap());
    let cfg = common::to_head(0, 99, lake.path().to_str().unwrap());
    let s = chainx_batch::backfill(&cfg.block_fetcher(client), &cfg, &ProgressBar::hidden())
        .await
        .unwrap();
    assert_exactly(lake.path(), 0, 99).await;
    let refused = gateway.rejected("spent-credits-key");
    // Each request in flight when the first 402 came may have met one; none after.
    assert!((1..=4).contains(&refused), "{refused} requests met the spent key's 402");
    assert!(gateway.served("spent-credits-key") <= 30);
    assert_eq!(gateway.rejected("good-key"), 0);
    // What the spent key could not serve was sent again, with the other key.
    let served = gateway.served("spent-credits-key") + gateway.served("good-key");
    assert!(s.calls as usize >= served, "{s}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_replies_never_bunch_a_keys_calls_into_one_second() {
    // An unevenly slow provider (3 s, then 1.9 s, in turn): replies that end together would
    // release together every request queued behind them.
    let limits = Limits { rps: 10, daily: PLENTY };
    let behaviour = Behaviour {
        latencies: vec![Duration::from_millis(3_000), Duration::from_millis(1_900)],
        ..Behaviour::default()
    };
    let (_anvil, gateway, pool) = setup_with(&[("slow-key", limits, limits)], behaviour).await;
    let mut config = rpc(&gateway.server.url);
    config.max_concurrent_requests = 2;
    let client = Arc::new(RpcClient::with_keys(config, pool).unwrap());
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let calls: Vec<Call> = (0..10u64)
                    .map(|j| {
                        Call::new(
                            "eth_getBlockByNumber",
                            json!([format!("{:#x}", (i * 10 + j) % 50), false]),
                        )
                    })
                    .collect();
                client.batch(&calls).await
            })
        })
        .collect();
    for t in tasks {
        let results = t.await.unwrap().unwrap();
        assert_eq!(results.len(), 10);
    }
    assert_eq!(gateway.served("slow-key"), 80);
    assert_eq!(
        gateway.rejected("slow-key"),
        0,
        "the provider saw more than 10 calls in a second"
    );
    assert!(gateway.max_calls_per_second("slow-key") <= 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_and_refused_keys_are_switched_away_from() {
    // The provider allows key a less than the pool believes (429s follow); key b is unknown to
    // the provider (401).
    let believed = Limits { rps: 20, daily: PLENTY };
    let strict = Limits { rps: 4, daily: PLENTY };
    let anvil = Anvil::fixture().await;
    let gateway = Gateway::start(
        &anvil.url,
        [("key-a".to_string(), strict), ("key-c".to_string(), believed)].into(),
    )
    .await;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = chainx_telemetry::ProviderMetrics::new(&mut registry);
    let pool = Arc::new(
        KeyPool::new(vec![
            Key::new("gateway", "a", gateway.url_for("key-a"), 20, PLENTY as u64),
            Key::new("gateway", "b", gateway.url_for("revoked-key-b"), 20, PLENTY as u64),
            Key::new("gateway", "c", gateway.url_for("key-c"), 20, PLENTY as u64),
        ])
        .unwrap()
        .with_metrics(metrics.clone()),
    );
    let lake = tempfile::tempdir().unwrap();
    let client = RpcClient::with_keys(rpc(&gateway.server.url), pool.clone())
        .unwrap()
        .with_metrics(metrics);
    let cfg = common::to_head(0, 79, lake.path().to_str().unwrap());
    chainx_batch::backfill(&cfg.block_fetcher(Arc::new(client)), &cfg, &ProgressBar::hidden())
        .await
        .unwrap();
    assert_exactly(lake.path(), 0, 79).await;
    assert!(gateway.rejected("key-a") > 0, "the strict provider never refused key a");
    assert!(gateway.served("key-c") > gateway.served("key-a"));

    // The metrics agree with what the provider saw, and name keys by pseudo-name only.
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| chainx_telemetry::sample(&text, name, labels).unwrap_or(0.0);
    assert_eq!(
        value("chainx_provider_rate_limited_total", &[("key", "a")]) as usize,
        gateway.rejected("key-a"),
        "{text}"
    );
    assert_eq!(
        value("chainx_key_cool_downs_total", &[("key", "a")]) as usize,
        gateway.rejected("key-a")
    );
    assert_eq!(
        value("chainx_provider_calls_total", &[("key", "c")]) as usize,
        gateway.served("key-c")
    );
    assert!(value("chainx_provider_requests_total", &[("key", "b"), ("status", "401")]) >= 1.0);
    assert_eq!(value("chainx_key_refused", &[("key", "b")]), 1.0);
    assert_eq!(
        value("chainx_provider_requests_total", &[("key", "c"), ("status", "200")]),
        value("chainx_provider_requests_total", &[("key", "c")]),
    );
    assert!(
        !text.contains("key-a") && !text.contains("revoked-key-b"),
        "a secret leaked:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_budgets_spent_fails_fast_keeping_what_landed() {
    let tiny = Limits { rps: 50, daily: 45 };
    let (_anvil, gateway, pool) = setup(&[("tiny-1", tiny, tiny), ("tiny-2", tiny, tiny)]).await;
    let lake = tempfile::tempdir().unwrap();
    let mut cfg = common::to_head(0, 99, lake.path().to_str().unwrap());
    cfg.chunk_blocks = 10;
    let err = backfill(&gateway, &pool, &cfg).await.unwrap_err().to_string();
    assert!(err.contains("daily budget") && err.contains("frees in"), "{err}");
    assert!(
        !err.contains("tiny-1") && !err.contains("tiny-2"),
        "a secret leaked: {err}"
    );
    let covered: chainx_tables::BlockRanges = coverage(lake.path(), TableKind::Blocks).await.parse().unwrap();
    assert!(covered.count() > 0);
    assert_eq!(
        covered.count() as usize,
        delta_rows(lake.path(), TableKind::Blocks).await.len()
    );
}

/// One replica: its own pool of `secrets` (as the pool believes them: rps, daily, costs)
/// shared through Redis in `namespace`, backfilling `from..=to` into a lake of its own.
async fn replica(
    gateway: &Gateway,
    redis_url: &str,
    namespace: &str,
    secrets: &[&str],
    (rps, daily, costs): (u32, u64, Arc<CallCosts>),
    from: u64,
    to: u64,
) {
    let keys = secrets
        .iter()
        .enumerate()
        .map(|(i, s)| Key::new("gateway", format!("key_{i}"), gateway.url_for(s), rps, daily).with_costs(costs.clone()))
        .collect();
    let pool = Arc::new(KeyPool::shared(keys, redis_url, namespace).await.unwrap());
    let lake = tempfile::tempdir().unwrap();
    backfill(
        gateway,
        &pool,
        &common::to_head(from, to, lake.path().to_str().unwrap()),
    )
    .await
    .unwrap();
    assert_exactly(lake.path(), from, to).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_four_keys_through_redis_within_every_limit() {
    let redis = chainx_testkit::redis::Redis::start().await;
    let limits = Limits { rps: 10, daily: PLENTY };
    let secrets = [
        "shared-key-1-aaaa",
        "shared-key-2-bbbb",
        "shared-key-3-cccc",
        "shared-key-4-dddd",
    ];
    let anvil = Anvil::fixture().await;
    let gateway = Gateway::uniform(&anvil.url, &secrets, limits).await;
    let limits = (10, PLENTY as u64, Arc::new(CallCosts::calls()));
    let replica = |from, to| replica(&gateway, &redis.url, "replicas", &secrets, limits.clone(), from, to);
    tokio::join!(replica(0, 59), replica(60, 119), replica(120, 179));
    for s in secrets {
        assert_eq!(gateway.rejected(s), 0, "the provider refused calls of a key");
        let peak = gateway.max_calls_per_second(s);
        assert!(
            peak <= 10,
            "{peak} calls in one second on a 10 rps key shared by 3 replicas"
        );
    }
    // Each replica: a block and its receipts per block, the chain id and the head.
    assert_eq!(
        secrets.iter().map(|s| gateway.served(s)).sum::<usize>(),
        3 * (2 * 60 + 2)
    );
}

/// Credits per method, the same on both sides: the provider meters them, the pool budgets them.
const CREDITS: [(&str, u32); 5] = [
    ("eth_getBlockByNumber", 80),
    ("eth_getBlockReceipts", 200),
    ("eth_chainId", 5),
    ("eth_blockNumber", 80),
    ("default", 80),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_four_keys_priced_in_credits_and_a_402_retires_one() {
    let redis = chainx_testkit::redis::Redis::start().await;
    // Credits per second and per day. The pool believes every key has DAILY; the provider
    // gives the first only SHORT, and says so with a 402.
    const RPS: usize = 1_000;
    const DAILY: usize = 16_000;
    const SHORT: usize = 6_000;
    let secrets = [
        "credit-key-1-aaaa",
        "credit-key-2-bbbb",
        "credit-key-3-cccc",
        "credit-key-4-dddd",
    ];
    let anvil = Anvil::fixture().await;
    let behaviour = Behaviour {
        daily_spent_is_402: true,
        credits: Some(CREDITS.iter().map(|(m, c)| (m.to_string(), *c as usize)).collect()),
        ..Behaviour::default()
    };
    let limits = |s: &str| Limits {
        rps: RPS,
        daily: if s == secrets[0] { SHORT } else { DAILY },
    };
    let gateway = Gateway::start_with(
        &anvil.url,
        secrets.iter().map(|s| (s.to_string(), limits(s))).collect(),
        behaviour,
    )
    .await;
    let costs = Arc::new(
        CREDITS
            .iter()
            .fold(CallCosts::calls(), |c, (method, cost)| c.with(method, *cost)),
    );
    let believed = (RPS as u32, DAILY as u64, costs);
    let replica = |from, to| replica(&gateway, &redis.url, "credits", &secrets, believed.clone(), from, to);
    tokio::join!(replica(0, 59), replica(60, 119), replica(120, 179));

    let served: Vec<usize> = secrets.iter().map(|s| gateway.served(s)).collect();
    for (s, used) in secrets.iter().zip(&served) {
        let peak = gateway.max_calls_per_second(s);
        assert!(peak <= RPS, "{s}: {peak} credits in one second on a {RPS}/s key");
        assert!(*used <= limits(s).daily, "{s}: {used} credits of {}", limits(s).daily);
    }
    // The spent key met its 402 once per request in flight at the time, then was left alone.
    let refused = gateway.rejected(secrets[0]);
    assert!((1..=12).contains(&refused), "{refused} requests met the 402");
    for s in &secrets[1..] {
        assert_eq!(gateway.rejected(s), 0, "{s}: the provider refused its calls");
    }
    // Every credit the run needed (3 × 60 blocks of a block and its receipts, each replica's
    // chain id and head) was served, and it is most of what the provider allows.
    let needed = 3 * (60 * (80 + 200) + 5 + 80);
    assert_eq!(served.iter().sum::<usize>(), needed, "{served:?}");
    let allowed = SHORT + 3 * DAILY;
    assert!(needed * 10 >= allowed * 9, "the run used {needed} of {allowed} credits");
}
