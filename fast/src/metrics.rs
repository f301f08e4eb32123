//! Prometheus metrics of the streaming jobs, served as text on `--metrics-addr` (`/metrics`).

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::Offset;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupTopicLabel {
    pub group: String,
    pub topic: String,
}

/// How often the crawler and decoder measure their consumer lag.
const LAG_EVERY: Duration = Duration::from_secs(10);

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
    /// Messages behind the end of the partitions this replica holds, per group and topic.
    pub consumer_lag: Family<GroupTopicLabel, Gauge>,
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
            consumer_lag: Family::default(),
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
            "chainx_consumer_lag_messages",
            "Messages not yet consumed by this replica of the consumer group, per topic",
            m.consumer_lag.clone(),
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

    /// Sets the consumer lag of `group`: each held partition's high watermark (asked of the
    /// broker; blocking) minus the consumer's position, which steps over transaction markers, so
    /// a caught-up consumer reads 0.
    fn measure_lag(&self, group: &str, consumer: &StreamConsumer) {
        let Ok(positions) = consumer.position() else { return };
        // A partition with nothing consumed yet has no position: not counted until it has.
        let at: Vec<(String, i32, i64)> = positions
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.topic().to_string(), e.partition(), o)),
                _ => None,
            })
            .collect();
        for (topic, behind) in crate::kafka::lag_per_topic(consumer, at.iter().map(|(t, p, o)| (t.as_str(), *p, *o))) {
            self.consumer_lag
                .get_or_create(&GroupTopicLabel {
                    group: group.to_string(),
                    topic,
                })
                .set(behind);
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

/// A lag measurement run every few seconds on a blocking thread (it asks the broker), off the
/// consuming loop, which may be waiting on an idle topic; stops when dropped.
#[derive(Debug)]
pub struct LagWatch(tokio::task::JoinHandle<()>);

impl LagWatch {
    pub fn spawn(every: Duration, measure: impl Fn() + Send + Sync + 'static) -> LagWatch {
        let measure = Arc::new(measure);
        LagWatch(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let measure = measure.clone();
                if tokio::task::spawn_blocking(move || measure()).await.is_err() {
                    return;
                }
            }
        }))
    }
}

impl Drop for LagWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every 10 s, sets `group`'s consumer lag per topic.
pub fn watch_consumer_lag(
    metrics: Option<FastMetrics>,
    group: &str,
    consumer: Arc<StreamConsumer>,
) -> Option<LagWatch> {
    let metrics = metrics?;
    let group = group.to_string();
    Some(LagWatch::spawn(LAG_EVERY, move || {
        metrics.measure_lag(&group, &consumer)
    }))
}
