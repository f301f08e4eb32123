//! Pools of several replicas sharing their accounting through a real Redis server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use chainx_keys::{Key, KeyPool, Outcome};
use chainx_testkit::redis::Redis;
use tokio::time::Instant;

fn key(name: &str, rps: u32, daily: u64) -> Key {
    Key::new("test", name, format!("http://node/{name}-secret"), rps, daily)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_rps_window_per_key() {
    let redis = Redis::start().await;
    let a = KeyPool::shared(vec![key("k", 10, 1_000_000)], &redis.url, "t1")
        .await
        .unwrap();
    let b = KeyPool::shared(vec![key("k", 10, 1_000_000)], &redis.url, "t1")
        .await
        .unwrap();
    let started = Instant::now();
    let take = |pool: KeyPool| async move {
        let mut at = Vec::new();
        for _ in 0..15 {
            pool.acquire(1).await.unwrap();
            at.push(Instant::now());
        }
        at
    };
    let (x, y) = tokio::join!(take(a), take(b));
    let mut all: Vec<Instant> = x.into_iter().chain(y).collect();
    all.sort();
    for (i, t) in all.iter().enumerate() {
        let n = all[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
            .count();
        assert!(n <= 10, "{n} calls in one second across two replicas");
    }
    // 30 calls at 10 per second across both replicas take two windows at least.
    assert!(started.elapsed() >= Duration::from_secs(2), "{:?}", started.elapsed());
}

#[tokio::test]
async fn replicas_share_the_daily_budget_and_cool_downs() {
    let redis = Redis::start().await;
    let keys = || vec![key("small", 100, 30), key("big", 100, 1_000_000)];
    let a = KeyPool::shared(keys(), &redis.url, "t2").await.unwrap();
    let b = KeyPool::shared(keys(), &redis.url, "t2").await.unwrap();
    let mut small = 0;
    for i in 0..80 {
        let pool = if i % 2 == 0 { &a } else { &b };
        if pool.acquire(1).await.unwrap().name == "small" {
            small += 1;
        }
    }
    assert_eq!(small, 30, "the two replicas together stop at the small key's 30");
    let usage = b.usage().await.unwrap();
    assert_eq!(usage[0], ("small".to_string(), 30));
    assert_eq!(usage[1], ("big".to_string(), 50));
    // The budget gauges read both replicas' use back from Redis.
    let (registry, metrics) = metrics();
    let b = b.with_metrics(metrics);
    b.report_budgets().await.unwrap();
    let page = text(&registry);
    assert_eq!(sample(&page, "chainx_key_budget_left_calls", "small"), 0.0);
    assert_eq!(sample(&page, "chainx_key_budget_left_calls", "big"), 1_000_000.0 - 50.0);

    // A rate limit seen by one replica cools the key down for the other.
    let c = KeyPool::shared(vec![key("x", 100, 1000), key("y", 100, 1000)], &redis.url, "t3")
        .await
        .unwrap();
    let d = KeyPool::shared(vec![key("x", 100, 1000), key("y", 100, 1000)], &redis.url, "t3")
        .await
        .unwrap();
    let r = c.acquire(1).await.unwrap();
    c.report(
        &r,
        Outcome::RateLimited {
            retry_after: Some(Duration::from_secs(60)),
        },
    )
    .await;
    for _ in 0..5 {
        assert_ne!(d.acquire(1).await.unwrap().name, r.name);
    }
}

#[tokio::test]
async fn an_unreachable_coordinator_is_a_clear_error() {
    let port = chainx_testkit::free_port();
    let err = KeyPool::shared(
        vec![key("k", 1, 1)],
        &format!("redis://:hunter2@127.0.0.1:{port}/"),
        "t",
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("check that Redis is running") && !err.contains("hunter2"),
        "{err}"
    );
}

fn metrics() -> (prometheus_client::registry::Registry, chainx_telemetry::ProviderMetrics) {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = chainx_telemetry::ProviderMetrics::new(&mut registry);
    (registry, metrics)
}

fn text(registry: &prometheus_client::registry::Registry) -> String {
    let mut page = String::new();
    prometheus_client::encoding::text::encode(&mut page, registry).unwrap();
    page
}

fn sample(page: &str, name: &str, key: &str) -> f64 {
    chainx_telemetry::sample(page, name, &[("key", key)]).unwrap_or_else(|| panic!("no {name} for {key}:\n{page}"))
}

async fn exclusive(redis: &Redis, ns: &str, replica: &str, keys: Vec<Key>, ttl: Duration) -> KeyPool {
    KeyPool::exclusive(keys, &redis.url, ns, replica, ttl).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exclusive_replicas_each_hold_a_different_key() {
    let redis = Redis::start().await;
    let keys = || {
        (0..4)
            .map(|i| key(&format!("k{i}"), 1000, 1_000_000))
            .collect::<Vec<_>>()
    };
    let ttl = Duration::from_secs(10);
    let pools = [
        exclusive(&redis, "x1", "r0", keys(), ttl).await,
        exclusive(&redis, "x1", "r1", keys(), ttl).await,
        exclusive(&redis, "x1", "r2", keys(), ttl).await,
    ];
    async fn used(pool: &KeyPool) -> std::collections::BTreeSet<String> {
        let mut names = std::collections::BTreeSet::new();
        for _ in 0..20 {
            names.insert(pool.acquire(1).await.unwrap().name);
        }
        names
    }
    let (a, b, c) = tokio::join!(used(&pools[0]), used(&pools[1]), used(&pools[2]));
    for set in [&a, &b, &c] {
        assert_eq!(set.len(), 1, "a replica used several keys: {set:?}");
    }
    let all: std::collections::BTreeSet<_> = a.iter().chain(&b).chain(&c).collect();
    assert_eq!(all.len(), 3, "two replicas shared a key: {a:?} {b:?} {c:?}");
    let holders = pools[0].holders().await.unwrap();
    assert_eq!(holders.iter().filter(|(_, h)| h.is_some()).count(), 3);
    for p in &pools {
        p.release().await;
    }
    assert!(
        pools[0].holders().await.unwrap().iter().all(|(_, h)| h.is_none()),
        "release left leases"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_key_is_free_again_within_the_ttl() {
    let redis = Redis::start().await;
    let ttl = Duration::from_secs(1);
    let a = exclusive(&redis, "x2", "dead", vec![key("only", 1000, 1000)], ttl).await;
    a.acquire(1).await.unwrap();
    drop(a); // a crash: no release
    let b = exclusive(&redis, "x2", "alive", vec![key("only", 1000, 1000)], ttl).await;
    let started = Instant::now();
    b.acquire(1).await.unwrap();
    let waited = started.elapsed();
    assert!(
        waited <= ttl + Duration::from_millis(500),
        "took {waited:?} with a {ttl:?} TTL"
    );
    assert_eq!(b.holders().await.unwrap()[0].1.as_deref(), Some("alive"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_without_a_free_key_waits_rather_than_sharing() {
    let redis = Redis::start().await;
    let ttl = Duration::from_secs(30);
    let a = exclusive(&redis, "x3", "a", vec![key("only", 1000, 1000)], ttl).await;
    let b = std::sync::Arc::new(exclusive(&redis, "x3", "b", vec![key("only", 1000, 1000)], ttl).await);
    a.acquire(1).await.unwrap();
    let waiting = tokio::spawn({
        let b = b.clone();
        async move { b.acquire(1).await.unwrap().name }
    });
    for _ in 0..50 {
        a.acquire(1).await.unwrap();
    }
    assert!(!waiting.is_finished(), "b got a key that a holds");
    a.release().await;
    assert_eq!(waiting.await.unwrap(), "only");
    assert_eq!(b.holders().await.unwrap()[0].1.as_deref(), Some("b"));
}

#[tokio::test]
async fn exclusive_replicas_rotate_to_the_least_used_key() {
    let redis = Redis::start().await;
    let keys = vec![key("p", 1000, 1_000_000), key("q", 1000, 1_000_000)];
    // Rotation at every request: the replica moves to whichever key is used least.
    let (registry, metrics) = metrics();
    let pool = KeyPool::exclusive(keys, &redis.url, "x4", "r", Duration::from_secs(30))
        .await
        .unwrap()
        .with_rotation(Duration::ZERO)
        .with_metrics(metrics);
    let mut used = std::collections::BTreeMap::new();
    for _ in 0..20 {
        *used.entry(pool.acquire(1).await.unwrap().name).or_insert(0) += 1;
    }
    assert_eq!(used.values().copied().collect::<Vec<_>>(), vec![10, 10], "{used:?}");
    // Every request after the first rotated: 20 leases, 19 hand-backs; then the job's release.
    let page = text(&registry);
    let changes = |change: &str| {
        chainx_telemetry::sample(&page, "chainx_key_lease_changes_total", &[("change", change)]).unwrap()
    };
    assert_eq!(
        (changes("leased"), changes("released"), changes("lost")),
        (20.0, 19.0, 0.0),
        "{page}"
    );
    pool.release().await;
    assert_eq!(
        chainx_telemetry::sample(
            &text(&registry),
            "chainx_key_lease_changes_total",
            &[("change", "released")]
        ),
        Some(20.0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_providers_keys_of_one_pseudo_name_keep_their_own_budgets() {
    let redis = Redis::start().await;
    let of = |provider: &str| Key::new(provider, "api_key_1", format!("http://{provider}/secret"), 2, 1_000);
    let pool = KeyPool::shared(vec![of("infura"), of("alchemy")], &redis.url, "names")
        .await
        .unwrap();
    for _ in 0..4 {
        pool.acquire(1).await.unwrap();
    }
    // Each served two: one shared budget would count four for both.
    let used: Vec<u64> = pool.usage().await.unwrap().into_iter().map(|(_, n)| n).collect();
    assert_eq!(used, vec![2, 2]);
}
