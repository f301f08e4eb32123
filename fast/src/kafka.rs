//! Kafka settings shared by the jobs: a durable producer (idempotent, `acks=all`), consumers that
//! commit only what their output made durable, topic creation, and reading a topic's tail.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use rdkafka::{Offset, TopicPartitionList};

use crate::{Error, Result};

/// The largest message a job produces or a topic accepts: a block's logs are one message, and
/// the heaviest mainnet blocks hold a few megabytes of them (Kafka's default is 1 MB).
pub const MAX_MESSAGE_BYTES: &str = "33554432";

/// How long metadata and admin calls may take before we report the brokers unreachable.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the brokers are, plus free-form librdkafka settings (`--kafka-option key=value`) for
/// what a deployment needs (SASL, TLS, client.rack).
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    pub options: Vec<(String, String)>,
}

impl KafkaConfig {
    pub fn new(brokers: impl Into<String>) -> Self {
        KafkaConfig {
            brokers: brokers.into(),
            options: Vec::new(),
        }
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            // librdkafka logs through our log callback at warn; connection churn is expected
            // when a broker restarts, and the jobs report what matters themselves.
            .set("log_level", "4");
        c
    }

    /// The user's `--kafka-option`s, set last so that they override the job's own settings.
    fn with_options(&self, mut c: ClientConfig) -> ClientConfig {
        for (k, v) in &self.options {
            c.set(k, v);
        }
        c
    }

    /// An idempotent producer with `acks=all`; with `transactional_id`, a transactional one
    /// (a second instance with the same id fences the first).
    pub fn producer(&self, transactional_id: Option<&str>) -> Result<FutureProducer> {
        let mut c = self.base();
        c.set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "5")
            .set("compression.type", "lz4")
            .set("message.max.bytes", MAX_MESSAGE_BYTES)
            // Retry delivery for as long as a broker restart may take; past that the job fails
            // loudly instead of dropping messages.
            .set("message.timeout.ms", "300000");
        if let Some(id) = transactional_id {
            // A transaction (and so each message in it) must finish within the broker's
            // transaction timeout; a failed one is retried whole by the clock.
            c.set("transactional.id", id)
                .set("transaction.timeout.ms", "60000")
                .set("message.timeout.ms", "60000");
        }
        self.with_options(c)
            .create()
            .map_err(|e| Error::kafka(&self.brokers, "creating a producer", e))
    }

    /// A consumer in `group` that never commits on its own: jobs commit after their output is
    /// acknowledged. Reads only committed transactions.
    pub fn consumer(&self, group: &str) -> Result<StreamConsumer> {
        let mut c = self.base();
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("session.timeout.ms", "10000")
            .set("partition.assignment.strategy", "cooperative-sticky")
            // Once its prefetch queue is full, librdkafka waits `fetch.queue.backoff.ms`
            // (1 s by default) before fetching again: a consumer that drains the queue sooner
            // (the sink does, in a third of that) sits idle for the rest. Measured: the sink
            // waited 2.4 s of 12 on it.
            .set("fetch.queue.backoff.ms", "20")
            // A fetch of only empty partitions (the first one often is) is held this long by the
            // broker; 500 ms by default, which is also latency added to a quiet topic.
            .set("fetch.wait.max.ms", "100")
            // librdkafka prefetches up to 100,000 messages a partition or 64 MiB by default:
            // with a dozen partitions most of a sink's memory. A sixteenth of that keeps one
            // core busy (measured with testkit's sink_throughput).
            .set("queued.min.messages", "5000")
            .set("queued.max.messages.kbytes", "16384")
            // Each fetch takes up to this much of every partition (1 MiB by default), and the
            // consumer hands over one partition's share at a time: a block's transactions come
            // from several partitions, and with 1 MiB shares the sink held 300-370 MB where it
            // holds 210-240 MB with these (1M transactions, testkit's sink_throughput), as fast.
            .set("max.partition.fetch.bytes", "262144");
        self.with_options(c)
            .create()
            .map_err(|e| Error::kafka(&self.brokers, format!("creating consumer group {group}"), e))
    }

    fn admin(&self) -> Result<AdminClient<DefaultClientContext>> {
        self.with_options(self.base())
            .create()
            .map_err(|e| Error::kafka(&self.brokers, "creating an admin client", e))
    }

    /// Creates `topics` (existing ones are left as they are) and returns the names created.
    pub async fn create_topics(&self, topics: &[&str], spec: &TopicSpec) -> Result<Vec<String>> {
        let admin = self.admin()?;
        let retention = spec.retention_ms.to_string();
        let new: Vec<NewTopic> = topics
            .iter()
            .map(|t| {
                NewTopic::new(t, spec.partitions, TopicReplication::Fixed(spec.replication))
                    .set("retention.ms", &retention)
                    .set("max.message.bytes", MAX_MESSAGE_BYTES)
                    // acks=all is only durable if a write needs more than the leader.
                    .set("min.insync.replicas", if spec.replication > 1 { "2" } else { "1" })
            })
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
        let results = admin
            .create_topics(&new, &opts)
            .await
            .map_err(|e| Error::kafka(&self.brokers, "creating topics", e))?;
        let mut created = Vec::new();
        for r in results {
            match r {
                Ok(t) => created.push(t),
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, code)) => {
                    return Err(Error::kafka(
                        &self.brokers,
                        format!("creating topic {t}"),
                        KafkaError::AdminOp(code),
                    ));
                }
            }
        }
        Ok(created)
    }

    /// The last `per_partition` committed messages of every partition of `topic`, in offset
    /// order within each partition. Used to resume from what was published, not from a
    /// side file that could disagree with the topic.
    pub fn read_tail(&self, topic: &str, per_partition: i64) -> Result<Vec<OwnedMessage>> {
        let mut c = self.base();
        c.set("group.id", format!("chainx-tail-reader.{topic}"))
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "true")
            .set("isolation.level", "read_committed");
        let consumer: BaseConsumer = self
            .with_options(c)
            .create()
            .map_err(|e| Error::kafka(&self.brokers, "creating a reader", e))?;
        let partitions = self.partitions(&consumer, topic)?;
        let mut tpl = TopicPartitionList::new();
        let mut open = 0;
        for p in partitions {
            let (lo, hi) = consumer
                .fetch_watermarks(topic, p, ADMIN_TIMEOUT)
                .map_err(|e| Error::kafka(&self.brokers, format!("reading {topic} offsets"), e))?;
            if hi > lo {
                tpl.add_partition_offset(topic, p, Offset::Offset((hi - per_partition).max(lo)))
                    .map_err(|e| Error::kafka(&self.brokers, "assigning partitions", e))?;
                open += 1;
            }
        }
        if open == 0 {
            return Ok(Vec::new());
        }
        consumer
            .assign(&tpl)
            .map_err(|e| Error::kafka(&self.brokers, format!("reading {topic}"), e))?;
        let mut out = Vec::new();
        let deadline = std::time::Instant::now() + ADMIN_TIMEOUT;
        while open > 0 {
            if std::time::Instant::now() > deadline {
                return Err(Error::kafka(
                    &self.brokers,
                    format!("reading the tail of {topic}"),
                    KafkaError::MessageConsumption(RDKafkaErrorCode::OperationTimedOut),
                ));
            }
            match consumer.poll(Duration::from_millis(200)) {
                None => {}
                Some(Ok(m)) => out.push(m.detach()),
                Some(Err(KafkaError::PartitionEOF(_))) => open -= 1,
                Some(Err(e)) => return Err(Error::kafka(&self.brokers, format!("reading {topic}"), e)),
            }
        }
        Ok(out)
    }

    fn partitions<C: Consumer>(&self, consumer: &C, topic: &str) -> Result<Vec<i32>> {
        let md = consumer
            .fetch_metadata(Some(topic), ADMIN_TIMEOUT)
            .map_err(|e| Error::kafka(&self.brokers, format!("reading metadata of {topic}"), e))?;
        let t = md.topics().iter().find(|t| t.name() == topic);
        match t {
            Some(t) if t.error().is_none() && !t.partitions().is_empty() => {
                Ok(t.partitions().iter().map(|p| p.id()).collect())
            }
            _ => Err(Error::MissingTopic {
                brokers: self.brokers.clone(),
                topic: topic.to_string(),
            }),
        }
    }

    /// Fails with a clear error when a topic the job needs is missing.
    pub fn require_topics(&self, topics: &[&str]) -> Result<()> {
        let consumer: BaseConsumer = self
            .with_options(self.base())
            .create()
            .map_err(|e| Error::kafka(&self.brokers, "creating a client", e))?;
        for t in topics {
            self.partitions(&consumer, t)?;
        }
        Ok(())
    }
}

/// How `chainx topics create` makes topics.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub partitions: i32,
    pub replication: i32,
    pub retention_ms: i64,
}

/// Per partition, the next offset to commit, from messages whose output is acknowledged.
#[derive(Debug, Default)]
pub struct OffsetTracker(HashMap<(String, i32), i64>);

impl OffsetTracker {
    pub fn done(&mut self, m: &impl Message) {
        let e = self.0.entry((m.topic().to_string(), m.partition())).or_insert(0);
        *e = (*e).max(m.offset() + 1);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Commits synchronously and clears; a failed commit (e.g. after a rebalance) only means
    /// those messages may be delivered again, which consumers downstream dedupe by key.
    pub fn commit(&mut self, consumer: &StreamConsumer, brokers: &str) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in self.0.drain() {
            tpl.add_partition_offset(&t, p, Offset::Offset(o))
                .map_err(|e| Error::kafka(brokers, "committing offsets", e))?;
        }
        consumer
            .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
            .map_err(|e| Error::kafka(brokers, "committing offsets", e))
    }
}

/// Waits for at least one message, then takes what else arrives within `linger`, up to `max`:
/// batches amortise provider requests and commits without holding a lone message back.
pub async fn next_batch(
    consumer: &StreamConsumer,
    brokers: &str,
    max: usize,
    linger: Duration,
) -> Result<Vec<OwnedMessage>> {
    // librdkafka reconnects by itself; a consume error (a broker restarting) is reported and
    // waited out, not fatal.
    let first = loop {
        match consumer.recv().await {
            Ok(m) => break m.detach(),
            Err(e) => {
                tracing::warn!("Kafka ({brokers}): consuming: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let mut batch = vec![first];
    let deadline = tokio::time::Instant::now() + linger;
    while batch.len() < max {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => batch.push(m.detach()),
            Ok(Err(e)) => {
                tracing::warn!("Kafka ({brokers}): consuming: {e}");
                break;
            }
            Err(_) => break,
        }
    }
    Ok(batch)
}

/// Awaits deliveries; the first failure names its topic.
pub async fn await_deliveries(
    brokers: &str,
    pending: Vec<(String, rdkafka::producer::DeliveryFuture)>,
) -> Result<BTreeCounts> {
    let mut counts = BTreeCounts::new();
    for (topic, f) in pending {
        match f.await {
            Ok(Ok(_)) => *counts.entry(topic).or_default() += 1,
            Ok(Err((e, _))) => return Err(Error::kafka(brokers, format!("delivering to {topic}"), e)),
            Err(_) => {
                return Err(Error::kafka(
                    brokers,
                    format!("delivering to {topic}"),
                    KafkaError::Canceled,
                ))
            }
        }
    }
    Ok(counts)
}

/// Messages delivered per topic.
pub type BTreeCounts = std::collections::BTreeMap<String, u64>;

/// Messages behind the end of each topic: for every `(topic, partition, next offset to read)`,
/// the partition's high watermark (asked of the broker, so this blocks) minus that offset,
/// summed per topic. Partitions whose watermark cannot be read are left out.
pub fn lag_per_topic<'a>(
    consumer: &StreamConsumer,
    positions: impl IntoIterator<Item = (&'a str, i32, i64)>,
) -> std::collections::BTreeMap<String, i64> {
    let mut lag = std::collections::BTreeMap::new();
    for (topic, partition, at) in positions {
        if let Ok((_, high)) = consumer.fetch_watermarks(topic, partition, Duration::from_secs(5)) {
            *lag.entry(topic.to_string()).or_default() += (high - at).max(0);
        }
    }
    lag
}
