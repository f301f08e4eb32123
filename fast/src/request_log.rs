//! Publishes the key scheduler's request log (see `chainx_evm::request_log`) to the
//! `{network}.api_keys.request_log` topic, keyed by the replica, so per-replica order holds.

use std::sync::Arc;
use std::time::Duration;

use chainx_evm::RequestLog;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::task::JoinHandle;

use crate::kafka::KafkaConfig;
use crate::metrics::FastMetrics;
use crate::Result;

/// A request log whose records go to `topic`; the returned task ends when every copy of the
/// log is dropped, after flushing what was queued.
pub fn to_kafka(
    kafka: &KafkaConfig,
    topic: &str,
    replica: &str,
    metrics: Option<FastMetrics>,
) -> Result<(Arc<RequestLog>, JoinHandle<()>)> {
    let producer = kafka.producer(None)?;
    let (log, rx) = RequestLog::to_channel(replica);
    let task = tokio::spawn(publish(producer, topic.to_string(), replica.to_string(), rx, metrics));
    Ok((Arc::new(log), task))
}

async fn publish(
    producer: FutureProducer,
    topic: String,
    replica: String,
    mut rx: UnboundedReceiver<String>,
    metrics: Option<FastMetrics>,
) {
    while let Some(line) = rx.recv().await {
        let record = FutureRecord::to(&topic).key(&replica).payload(&line);
        match producer.send_result(record) {
            Ok(delivery) => {
                let topic = topic.clone();
                let metrics = metrics.clone();
                tokio::spawn(async move {
                    match delivery.await {
                        Ok(Ok(_)) => {
                            if let Some(m) = metrics {
                                m.published(&topic, 1);
                            }
                        }
                        Ok(Err((e, _))) => tracing::warn!("request log record not delivered to {topic}: {e}"),
                        Err(_) => {}
                    }
                });
            }
            Err((e, _)) => tracing::warn!("request log record not queued for {topic}: {e}"),
        }
    }
    let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(30))).await;
}
