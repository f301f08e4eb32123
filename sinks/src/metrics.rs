//! The sink's Prometheus metrics (served by the `chainx sink` command on `--metrics-addr`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chainx_fast::kafka::lag_per_topic;
use chainx_fast::metrics::LagWatch;
use chainx_telemetry::LakeMetrics;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rdkafka::consumer::StreamConsumer;

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
    /// Rows the last flush left in memory, waiting for the rest of their blocks.
    pub waiting_rows: Gauge,
    pub partitions_paused: Counter,
}

impl SinkMetrics {
    pub fn new(registry: &mut Registry) -> Self {
        let m = SinkMetrics {
            lake: LakeMetrics::new(registry),
            consumer_lag: Family::default(),
            dead_letters: Counter::default(),
            reorged_blocks_unwound: Counter::default(),
            waiting_rows: Gauge::default(),
            partitions_paused: Counter::default(),
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
        registry.register(
            "chainx_sink_waiting_rows",
            "Rows the last flush left in memory, waiting for the rest of their blocks",
            m.waiting_rows.clone(),
        );
        registry.register(
            "chainx_sink_partitions_paused",
            "Times a partition was paused for running ahead of the slowest one (flow control)",
            m.partitions_paused.clone(),
        );
        m
    }
}

/// The next offset the sink will read, per topic-partition, as of its last flush: past what it
/// consumed, and past transaction markers (which hold offsets but are never delivered).
pub(crate) type Positions = Arc<Mutex<BTreeMap<Tp, i64>>>;

/// Every `every`, sets consumer lag per topic: each partition's high watermark minus the
/// sink's position (see [`Positions`]).
pub(crate) fn watch_lag(
    consumer: StreamConsumer,
    positions: Positions,
    metrics: SinkMetrics,
    every: Duration,
) -> LagWatch {
    LagWatch::spawn(every, move || {
        let now: Vec<(Tp, i64)> = match positions.lock() {
            Ok(p) => p.iter().map(|(tp, o)| (tp.clone(), *o)).collect(),
            Err(_) => return,
        };
        let at = now.iter().map(|((topic, partition), o)| (&**topic, *partition, *o));
        for (topic, behind) in lag_per_topic(&consumer, at) {
            metrics.consumer_lag.get_or_create(&TopicLabel { topic }).set(behind);
        }
    })
}
