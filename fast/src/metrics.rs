//! Prometheus metrics of the streaming jobs, served as text on `--metrics-addr` (`/metrics`).

use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

/// The fast layer's metrics; names follow Prometheus rules (`chainx_` prefix, base units).
#[derive(Debug, Clone)]
pub struct FastMetrics {
    /// Chain head minus the last block published.
    pub head_lag_blocks: Gauge,
    /// Now minus the last published block's timestamp, updated at each head seen and publish.
    pub head_lag_seconds: Gauge<f64, AtomicU64>,
    /// The last block published.
    pub last_published_block: Gauge,
    /// Its timestamp (Unix seconds).
    pub last_published_timestamp: Gauge,
    /// From the block's timestamp to its publication acknowledged by Kafka.
    pub publish_latency_seconds: Histogram,
    /// Messages published, per topic.
    pub messages: Family<TopicLabel, Counter>,
    /// Reorg events published (blocks removed).
    pub reorged_blocks: Counter,
}

impl FastMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = FastMetrics {
            head_lag_blocks: Gauge::default(),
            head_lag_seconds: Gauge::default(),
            last_published_block: Gauge::default(),
            last_published_timestamp: Gauge::default(),
            publish_latency_seconds: Histogram::new([0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0]),
            messages: Family::default(),
            reorged_blocks: Counter::default(),
        };
        registry.register(
            "chainx_head_lag_blocks",
            "Chain head minus the last block published",
            m.head_lag_blocks.clone(),
        );
        registry.register(
            "chainx_head_lag_seconds",
            "Seconds since the timestamp of the last block published (grows while the clock stalls)",
            m.head_lag_seconds.clone(),
        );
        registry.register(
            "chainx_last_published_block",
            "Number of the last block published",
            m.last_published_block.clone(),
        );
        registry.register(
            "chainx_last_published_block_timestamp_seconds",
            "Timestamp of the last block published, Unix seconds",
            m.last_published_timestamp.clone(),
        );
        registry.register(
            "chainx_block_publish_latency_seconds",
            "Seconds from a block's timestamp to its publication being acknowledged",
            m.publish_latency_seconds.clone(),
        );
        // prometheus-client appends `_total` to counters.
        registry.register(
            "chainx_topic_messages",
            "Messages published per topic",
            m.messages.clone(),
        );
        registry.register(
            "chainx_reorged_blocks",
            "Blocks published as removed by a reorg",
            m.reorged_blocks.clone(),
        );
        m
    }

    /// Sets both head lags: the chain head is `head`, the last block published `published`.
    pub fn head_lag(&self, head: u64, published: u64) {
        self.head_lag_blocks.set(head.saturating_sub(published) as i64);
        let last = self.last_published_timestamp.get();
        if last > 0 {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs_f64();
            self.head_lag_seconds.set((now - last as f64).max(0.0));
        }
    }

    pub fn published(&self, topic: &str, n: u64) {
        self.messages
            .get_or_create(&TopicLabel {
                topic: topic.to_string(),
            })
            .inc_by(n);
    }
}
