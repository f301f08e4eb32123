//! The sink's Prometheus metrics (served by the `chainx sink` command on `--metrics-addr`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainx_telemetry::LakeMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rdkafka::consumer::{Consumer, StreamConsumer};

use crate::buffer::Tp;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

/// Consumer lag per topic, dead letters and unwound blocks; rows landed, commit latency and
/// live files per table are the lake families backfill shares.
#[derive(Debug, Clone)]
pub struct SinkMetrics {
    pub lake: LakeMetrics,
    /// Messages behind the partitions' high watermarks, summed per topic.
    pub consumer_lag: Family<TopicLabel, Gauge>,
    pub dead_letters: Counter,
    pub reorged_blocks_unwound: Counter,
}

impl SinkMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = SinkMetrics {
            lake: LakeMetrics::new(registry),
            consumer_lag: Family::default(),
            dead_letters: Counter::default(),
            reorged_blocks_unwound: Counter::default(),
        };
        // prometheus-client appends `_total` to counters.
        registry.register(
            "chainx_sink_consumer_lag_messages",
            "Messages not yet consumed by the sink, per topic",
            m.consumer_lag.clone(),
        );
        registry.register(
            "chainx_sink_dead_letters",
            "Messages sent to the dead-letter topic",
            m.dead_letters.clone(),
        );
        registry.register(
            "chainx_sink_reorged_blocks_unwound",
            "Landed blocks removed from the lake because a reorg replaced them",
            m.reorged_blocks_unwound.clone(),
        );
        m
    }
}

/// The next offset the sink will read, per topic-partition.
pub(crate) type Positions = Arc<Mutex<BTreeMap<Tp, i64>>>;

/// Stops the lag measurement when dropped.
#[derive(Debug)]
pub(crate) struct LagWatch(tokio::task::JoinHandle<()>);

impl Drop for LagWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Every `every`, sets consumer lag per topic: each partition's high watermark (asked of the
/// broker on a blocking thread, so the sink never waits for it) minus the sink's position.
pub(crate) fn watch_lag(
    consumer: StreamConsumer,
    positions: Positions,
    metrics: SinkMetrics,
    every: Duration,
) -> LagWatch {
    let consumer = Arc::new(consumer);
    LagWatch(tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let now: Vec<(Tp, i64)> = match positions.lock() {
                Ok(p) => p.iter().map(|(tp, o)| (tp.clone(), *o)).collect(),
                Err(_) => return,
            };
            let consumer = consumer.clone();
            let Ok(lag) = tokio::task::spawn_blocking(move || {
                let mut lag: BTreeMap<String, i64> = BTreeMap::new();
                for ((topic, partition), at) in now {
                    if let Ok((_, high)) = consumer.fetch_watermarks(&topic, partition, Duration::from_secs(5)) {
                        *lag.entry(topic.to_string()).or_default() += (high - at).max(0);
                    }
                }
                lag
            })
            .await
            else {
                return;
            };
            for (topic, behind) in lag {
                metrics.consumer_lag.get_or_create(&TopicLabel { topic }).set(behind);
            }
        }
    }))
}
