//! The usage ledger against a real Apache Cassandra node (testkit::cassandra).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chainx_keys::cassandra_usage::epoch_minute;
use chainx_keys::{CassandraUsage, KeyPool};
use chainx_testkit::cassandra::Cassandra;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_add_up_in_a_sliding_day_and_the_summary_table_is_the_original_designs() {
    let cassandra = Cassandra::start().await;
    // The deployment's schema first (docker/fast_layer/scylla/operations.cql, replication 1
    // as its init script sets on one node): the ledger must work on it as it stands.
    apply_operations_cql(&cassandra.node).await;
    // Two replicas, each with its own session, adding to the same counters.
    let a = CassandraUsage::connect(&cassandra.node).await.unwrap();
    let b = CassandraUsage::connect(&cassandra.node).await.unwrap();
    let now = epoch_minute();
    a.record("api_key_1", now, 7).await.unwrap();
    b.record("api_key_1", now, 5).await.unwrap();
    b.record("api_key_1", now - 60, 30).await.unwrap();
    // Older than 24 h: out of the window.
    a.record("api_key_1", now - 1440, 1000).await.unwrap();
    a.record("api_key_2", now - 3, 2).await.unwrap();
    assert_eq!(a.used_24h("api_key_1", now).await.unwrap(), 42);
    assert_eq!(b.used_24h("api_key_2", now).await.unwrap(), 2);
    assert_eq!(b.used_24h("never_used", now).await.unwrap(), 0);
    // An hour later, the minute that was 60 minutes old is still in; a day later, nothing is.
    assert_eq!(a.used_24h("api_key_1", now + 60).await.unwrap(), 42);
    assert_eq!(a.used_24h("api_key_1", now + 1440).await.unwrap(), 0);

    let names = vec!["api_key_1".to_string(), "api_key_2".to_string()];
    let published = b.publish_summary(&names, now).await.unwrap();
    assert_eq!(
        published,
        vec![("api_key_1".to_string(), 42), ("api_key_2".to_string(), 2)]
    );
    assert_eq!(a.summary("api_key_1").await.unwrap(), Some(42));
    assert_eq!(a.summary("nobody").await.unwrap(), None);

    // The pool records into the ledger, and a restarted pool starts from what it holds: a
    // daily budget survives the restart.
    let ledger = std::sync::Arc::new(a);
    let keys = || vec![key("small", 100, 30), key("large", 100, 1_000_000)];
    let first = KeyPool::new(keys()).unwrap().with_ledger(ledger.clone()).await.unwrap();
    let mut small = 0;
    for _ in 0..40 {
        small += usize::from(first.acquire(1).await.unwrap().name == "small");
    }
    assert_eq!(small, 20, "least-used choice alternates between the two keys");
    first.flush_ledger().await.unwrap();
    assert_eq!(ledger.summary("small").await.unwrap(), Some(20));
    drop(first);
    let restarted = KeyPool::new(keys()).unwrap().with_ledger(ledger.clone()).await.unwrap();
    assert_eq!(restarted.usage().await.unwrap()[0], ("small".to_string(), 20));
    let mut small = 0;
    for _ in 0..40 {
        small += usize::from(restarted.acquire(1).await.unwrap().name == "small");
    }
    assert_eq!(
        small, 10,
        "the restarted pool gave the small key more than its remaining 10"
    );
    restarted.flush_ledger().await.unwrap();
    assert_eq!(ledger.summary("small").await.unwrap(), Some(30));
}

/// Runs the shipped CQL file, statement by statement, then checks its keyspace is in place.
async fn apply_operations_cql(node: &str) {
    let path = chainx_testkit::workspace_root().join("docker/fast_layer/scylla/operations.cql");
    let cql = std::fs::read_to_string(&path)
        .unwrap()
        .replace("'replication_factor': 3", "'replication_factor': 1");
    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(node)
        .build()
        .await
        .unwrap();
    let without_comments: String = cql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let statements: Vec<&str> = without_comments
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(statements.len(), 3, "{statements:?}");
    for statement in statements {
        session.query_unpaged(statement, &[]).await.unwrap();
    }
    let rows = session
        .query_unpaged(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = 'operations'",
            &[],
        )
        .await
        .unwrap()
        .into_rows_result()
        .unwrap();
    let (replication,): (std::collections::HashMap<String, String>,) = rows.first_row().unwrap();
    assert!(
        replication["class"].ends_with("NetworkTopologyStrategy"),
        "{replication:?}"
    );
}

fn key(name: &str, rps: u32, daily: u64) -> chainx_keys::Key {
    chainx_keys::Key::new("test", name, format!("http://node/{name}"), rps, daily)
}

#[tokio::test]
async fn an_unreachable_cluster_is_a_clear_error() {
    let port = chainx_testkit::free_port();
    let err = CassandraUsage::connect(&format!("127.0.0.1:{port}"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cassandra 127.0.0.1") && err.contains("check that"),
        "{err}"
    );
}
