//! Prometheus metrics of the streaming jobs, served as text on `--metrics-addr` (`/metrics`).

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::{Error, Result};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopicLabel {
    pub topic: String,
}

/// The fast layer's metrics; names follow Prometheus rules (`chainx_` prefix, base units).
#[derive(Debug, Clone)]
pub struct FastMetrics {
    /// Chain head minus the last block published.
    pub head_lag_blocks: Gauge,
    /// The last block published.
    pub last_published_block: Gauge,
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
            last_published_block: Gauge::default(),
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
            "chainx_last_published_block",
            "Number of the last block published",
            m.last_published_block.clone(),
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

    pub fn published(&self, topic: &str, n: u64) {
        self.messages
            .get_or_create(&TopicLabel {
                topic: topic.to_string(),
            })
            .inc_by(n);
    }
}

/// Serves `registry` on `addr` until the process ends. Binding failures are reported at once.
pub async fn serve(addr: &str, registry: Arc<Registry>) -> Result<std::net::SocketAddr> {
    let listener = TcpListener::bind(addr).await.map_err(|source| Error::Metrics {
        addr: addr.to_string(),
        source,
    })?;
    let local = listener.local_addr().map_err(|source| Error::Metrics {
        addr: addr.to_string(),
        source,
    })?;
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                continue;
            };
            let registry = registry.clone();
            tokio::spawn(async move {
                // One request per connection: read its head, answer, close.
                let mut buf = vec![0u8; 4096];
                let mut got = 0;
                while got < buf.len() {
                    match socket.read(&mut buf[got..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got += n,
                    }
                    if buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let mut body = String::new();
                let status = match prometheus_client::encoding::text::encode(&mut body, &registry) {
                    Ok(()) => "200 OK",
                    Err(_) => "500 Internal Server Error",
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok(local)
}
