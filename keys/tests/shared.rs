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
