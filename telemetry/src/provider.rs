//! Provider requests and the key scheduler: what every job that calls a node reports.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// One HTTP request to a provider. `key` is the pseudo-name (`none` without the key
/// scheduler); `status` the HTTP status, or `error` when no response came.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabel {
    pub provider: String,
    pub key: String,
    pub method: String,
    pub status: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabel {
    pub provider: String,
    pub key: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LeaseLabel {
    provider: String,
    key: String,
    /// `leased`, `released` (handed back: rotation, spent key, job end) or `lost` (expired).
    change: String,
}

/// The provider and key-scheduler families. Cheap to clone; clones share the values.
#[derive(Debug, Clone)]
pub struct ProviderMetrics {
    requests: Family<RequestLabel, Counter>,
    calls: Family<KeyLabel, Counter>,
    request_seconds: Family<KeyLabel, Histogram>,
    rate_limited: Family<KeyLabel, Counter>,
    cool_downs: Family<KeyLabel, Counter>,
    refused: Family<KeyLabel, Gauge>,
    lease_changes: Family<LeaseLabel, Counter>,
    budget_left: Family<KeyLabel, Gauge>,
    daily_budget: Family<KeyLabel, Gauge>,
    /// The length of the last cool-down, per key.
    cool_down_seconds: Family<KeyLabel, Gauge<f64, AtomicU64>>,
}

/// The provider label when no key scheduler is configured: the plain `--rpc-url` node.
pub const NO_KEY: &str = "none";

fn key(provider: &str, key: &str) -> KeyLabel {
    KeyLabel {
        provider: provider.to_string(),
        key: key.to_string(),
    }
}

impl ProviderMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = ProviderMetrics {
            requests: Family::default(),
            calls: Family::default(),
            request_seconds: Family::new_with_constructor(|| {
                Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0])
            }),
            rate_limited: Family::default(),
            cool_downs: Family::default(),
            refused: Family::default(),
            lease_changes: Family::default(),
            budget_left: Family::default(),
            daily_budget: Family::default(),
            cool_down_seconds: Family::default(),
        };
        registry.register(
            "chainx_provider_requests",
            "HTTP requests to RPC providers, by key pseudo-name, first JSON-RPC method and HTTP status",
            m.requests.clone(),
        );
        registry.register(
            "chainx_provider_calls",
            "JSON-RPC calls sent (a batch request carries several), by key pseudo-name",
            m.calls.clone(),
        );
        registry.register(
            "chainx_provider_request_seconds",
            "Seconds from sending a request to its whole reply, by key pseudo-name",
            m.request_seconds.clone(),
        );
        registry.register(
            "chainx_provider_rate_limited",
            "Replies that were rate limits (HTTP 429 or a JSON-RPC rate-limit error), by key",
            m.rate_limited.clone(),
        );
        registry.register(
            "chainx_key_cool_downs",
            "Times the key scheduler cooled a key down after a rate limit",
            m.cool_downs.clone(),
        );
        registry.register(
            "chainx_key_cool_down_seconds",
            "Length of the last cool-down imposed on the key",
            m.cool_down_seconds.clone(),
        );
        registry.register(
            "chainx_key_refused",
            "1 once the provider refused the key (HTTP 401/403) and the scheduler stopped using it",
            m.refused.clone(),
        );
        registry.register(
            "chainx_key_lease_changes",
            "Exclusive-mode leases this replica took (leased), handed back (released) or lost",
            m.lease_changes.clone(),
        );
        registry.register(
            "chainx_key_budget_left_calls",
            "Calls the key may still make within its rolling 24 h budget (all replicas)",
            m.budget_left.clone(),
        );
        registry.register(
            "chainx_key_daily_budget_calls",
            "The key's daily budget, in calls",
            m.daily_budget.clone(),
        );
        m
    }

    /// Creates every per-key series at zero (budget left: the whole budget until the pool
    /// reports), so dashboards and `rate()` see a key before its first event.
    pub fn add_key(&self, provider: &str, key_name: &str, daily: u64) {
        let k = key(provider, key_name);
        let _ = self.calls.get_or_create(&k);
        let _ = self.rate_limited.get_or_create(&k);
        let _ = self.cool_downs.get_or_create(&k);
        let _ = self.cool_down_seconds.get_or_create(&k);
        let _ = self.refused.get_or_create(&k);
        self.budget(provider, key_name, daily, 0);
        for change in ["leased", "released", "lost"] {
            let _ = self.lease_changes.get_or_create(&LeaseLabel {
                provider: provider.to_string(),
                key: key_name.to_string(),
                change: change.to_string(),
            });
        }
    }

    /// One request's outcome: `status` 0 means no HTTP response came.
    pub fn request(&self, provider: &str, key_name: &str, method: &str, calls: usize, status: u16, took: Duration) {
        let status = match status {
            0 => "error".to_string(),
            s => s.to_string(),
        };
        self.requests
            .get_or_create(&RequestLabel {
                provider: provider.to_string(),
                key: key_name.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        let k = key(provider, key_name);
        self.calls.get_or_create(&k).inc_by(calls as u64);
        self.request_seconds.get_or_create(&k).observe(took.as_secs_f64());
    }

    pub fn rate_limited(&self, provider: &str, key_name: &str) {
        self.rate_limited.get_or_create(&key(provider, key_name)).inc();
    }

    pub fn cooled_down(&self, provider: &str, key_name: &str, for_: Duration) {
        let k = key(provider, key_name);
        self.cool_downs.get_or_create(&k).inc();
        self.cool_down_seconds.get_or_create(&k).set(for_.as_secs_f64());
    }

    pub fn refused(&self, provider: &str, key_name: &str) {
        self.refused.get_or_create(&key(provider, key_name)).set(1);
    }

    pub fn lease_changed(&self, provider: &str, key_name: &str, change: &str) {
        self.lease_changes
            .get_or_create(&LeaseLabel {
                provider: provider.to_string(),
                key: key_name.to_string(),
                change: change.to_string(),
            })
            .inc();
    }

    pub fn budget(&self, provider: &str, key_name: &str, daily: u64, used_24h: u64) {
        let k = key(provider, key_name);
        self.daily_budget.get_or_create(&k).set(daily as i64);
        self.budget_left
            .get_or_create(&k)
            .set(daily.saturating_sub(used_24h) as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_carry_pseudo_names_and_base_units() {
        let mut r = Registry::default();
        let m = ProviderMetrics::new(&mut r);
        m.request(
            "infura",
            "infura-1",
            "eth_getBlockByNumber",
            10,
            200,
            Duration::from_millis(30),
        );
        m.request(
            "infura",
            "infura-1",
            "eth_getBlockByNumber",
            10,
            0,
            Duration::from_millis(30),
        );
        m.rate_limited("infura", "infura-1");
        m.cooled_down("infura", "infura-1", Duration::from_secs(30));
        m.lease_changed("infura", "infura-1", "leased");
        m.budget("infura", "infura-1", 100_000, 20);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
        for want in [
            r#"chainx_provider_requests_total{provider="infura",key="infura-1",method="eth_getBlockByNumber",status="200"} 1"#,
            r#"status="error"} 1"#,
            r#"chainx_provider_calls_total{provider="infura",key="infura-1"} 20"#,
            r#"chainx_key_cool_downs_total{provider="infura",key="infura-1"} 1"#,
            r#"chainx_key_cool_down_seconds{provider="infura",key="infura-1"} 30"#,
            r#"chainx_key_lease_changes_total{provider="infura",key="infura-1",change="leased"} 1"#,
            r#"chainx_key_budget_left_calls{provider="infura",key="infura-1"} 99980"#,
            "chainx_provider_request_seconds_bucket",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
    }
}
