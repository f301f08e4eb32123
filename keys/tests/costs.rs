//! Keys priced per method (credits, compute units): a request takes what its calls cost of a
//! key's second and day, in the in-process pool and in Redis alike.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use chainx_keys::{CallCosts, Key, KeyPool};
use chainx_testkit::redis::Redis;
use tokio::time::Instant;

/// 100 credits a second and 10,000 a day; `light` costs 20, `heavy` 300 (more than a second).
fn priced() -> Key {
    let costs = CallCosts::calls().with("light", 20).with("heavy", 300);
    Key::new("test", "k", "http://node/k-secret".to_string(), 100, 10_000).with_costs(Arc::new(costs))
}

#[test]
fn batches_are_cut_to_what_every_key_takes_in_a_second() {
    let pool = KeyPool::new(vec![priced()]).unwrap();
    assert_eq!(pool.requests(&["light"; 7]), vec![0..5, 5..7]);
    // A call costing more than a second goes alone.
    assert_eq!(pool.requests(&["light", "heavy", "light"]), vec![0..1, 1..2, 2..3]);
    // Unpriced keys cut by calls, as before.
    let plain = KeyPool::new(vec![Key::new("test", "p", "http://node/p".into(), 3, 100)]).unwrap();
    assert_eq!(plain.requests(&["a"; 7]), vec![0..3, 3..6, 6..7]);
}

/// A heavy call, then lights: the first light waits out the heavy's second; the day counts
/// credits; a batch over a second is refused.
async fn heavy_then_light(pool: KeyPool) {
    let started = Instant::now();
    pool.acquire_methods(&["heavy"]).await.unwrap();
    pool.acquire_methods(&["light"]).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1), "{:?}", started.elapsed());
    for _ in 0..4 {
        pool.acquire_methods(&["light"]).await.unwrap();
    }
    assert_eq!(pool.usage().await.unwrap()[0].1, 300 + 5 * 20);
    let e = pool.acquire_methods(&["heavy", "light"]).await.unwrap_err().to_string();
    assert!(e.contains("2 calls"), "{e}");
}

#[tokio::test(start_paused = true)]
async fn a_heavy_call_takes_its_whole_second_and_the_day_counts_credits() {
    heavy_then_light(KeyPool::new(vec![priced()]).unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_prices_requests_as_the_in_process_pool_does() {
    let redis = Redis::start().await;
    heavy_then_light(KeyPool::shared(vec![priced()], &redis.url, "costs").await.unwrap()).await;
}
