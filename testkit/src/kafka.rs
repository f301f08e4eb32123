//! A real Apache Kafka 4 broker in KRaft mode (one combined broker+controller node), run from
//! Maven Central's jars on Java 17, on free ports, for one test; killed on drop.
//! `scripts/services/maven-jars.sh kafka` fetches the jars; `CHAINX_KAFKA_LIB` overrides where they are.
//!
//! [`Kafka::kill`] and [`Kafka::start_again`] restart it on the same ports and data, for tests
//! of what jobs do while the broker is away.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::free_port;

#[derive(Debug)]
pub struct Kafka {
    child: Option<Child>,
    dir: tempfile::TempDir,
    lib: PathBuf,
    /// `127.0.0.1:PORT` of the broker.
    pub brokers: String,
}

fn jars() -> PathBuf {
    crate::maven_jars("CHAINX_KAFKA_LIB", "kafka")
}

fn java(lib: &Path) -> Command {
    let mut c = Command::new("java");
    c.args(["-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1"])
        .arg("-cp")
        .arg(format!("{}/*", lib.display()));
    c
}

impl Kafka {
    pub async fn start() -> Kafka {
        let lib = jars();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let (port, controller) = (free_port(), free_port());
        let props = format!(
            "process.roles=broker,controller\nnode.id=1\n\
             controller.quorum.voters=1@127.0.0.1:{controller}\n\
             listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
             inter.broker.listener.name=PLAINTEXT\nlog.dirs={d}/data\nnum.partitions=1\n\
             offsets.topic.replication.factor=1\noffsets.topic.num.partitions=3\n\
             transaction.state.log.replication.factor=1\ntransaction.state.log.min.isr=1\n\
             transaction.state.log.num.partitions=3\ngroup.initial.rebalance.delay.ms=0\n\
             auto.create.topics.enable=false\n"
        );
        std::fs::write(dir.path().join("server.properties"), props).unwrap();
        std::fs::write(
            dir.path().join("log4j2.yaml"),
            format!(
                "Configuration:\n  Appenders:\n    File:\n      name: F\n      fileName: {d}/kafka.log\n      \
                 PatternLayout: {{pattern: \"[%d] %p %m (%c)%n\"}}\n  Loggers:\n    \
                 Root: {{level: INFO, AppenderRef: [{{ref: F}}]}}\n"
            ),
        )
        .unwrap();
        let format = java(&lib)
            .args([
                "kafka.tools.StorageTool",
                "format",
                "-t",
                "chainx-test-cluster-0A",
                "-c",
            ])
            .arg(dir.path().join("server.properties"))
            .output()
            .expect("run java (Kafka needs Java 17)");
        assert!(
            format.status.success(),
            "formatting Kafka storage failed: {}",
            String::from_utf8_lossy(&format.stderr)
        );
        let mut k = Kafka {
            child: None,
            dir,
            lib,
            brokers: format!("127.0.0.1:{port}"),
        };
        k.start_again().await;
        k
    }

    fn started_count(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("kafka.log"))
            .map(|s| s.matches("Kafka Server started").count())
            .unwrap_or(0)
    }

    /// Starts the broker (again) on the same ports and data; returns once it serves.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the broker is running");
        let before = self.started_count();
        let d = self.dir.path();
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(d.join("stdout.log"))
            .unwrap();
        let child = java(&self.lib)
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                d.join("log4j2.yaml").display()
            ))
            .arg("kafka.Kafka")
            .arg(d.join("server.properties"))
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start java (Kafka needs Java 17)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.started_count() <= before {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("Kafka exited ({status}); see {}/kafka.log", d.display());
            }
            assert!(
                Instant::now() < deadline,
                "Kafka did not start within 120 s; see {}/kafka.log",
                d.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The broker's process id, while it runs (benchmarks pin it to other cores).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: the broker vanishes mid-request, as in a crash.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Creates a topic with `partitions` partitions through the CLI-independent admin API.
    pub async fn create_topic(&self, topic: &str, partitions: i32) {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        let admin: AdminClient<_> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .unwrap();
        let r = admin
            .create_topics(
                &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
                &AdminOptions::new(),
            )
            .await
            .unwrap();
        r[0].as_ref().unwrap();
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether `consumer` has read `topic` up to each partition's high watermark.
fn caught_up(consumer: &BaseConsumer, topic: &str, partitions: &[i32]) -> bool {
    let Ok(position) = consumer.position() else {
        return false;
    };
    partitions.iter().all(|p| {
        let Ok((_, high)) = consumer.fetch_watermarks(topic, *p, Duration::from_secs(10)) else {
            return false;
        };
        match position.find_partition(topic, *p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o >= high,
            // Nothing consumed from an empty partition.
            _ => high == 0,
        }
    })
}

/// One consumed message.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: String,
    pub value: serde_json::Value,
    /// Producer's create time, ms since the epoch.
    pub timestamp_ms: Option<i64>,
}

/// Reads `topic` from the beginning (committed transactions only) until `done` holds for what
/// was read, at the end of every partition; fails after `timeout` with what it has.
pub fn read_until(brokers: &str, topic: &str, timeout: Duration, done: impl Fn(&[Record]) -> bool) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "chainx-test-reader")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "10")
        .create()
        .unwrap();
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).unwrap();
    let partitions: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    assert!(!partitions.is_empty(), "topic {topic} has no partitions");
    let mut tpl = TopicPartitionList::new();
    for p in &partitions {
        tpl.add_partition_offset(topic, *p, Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::new();
    let mut at_end = std::collections::HashSet::new();
    let deadline = Instant::now() + timeout;
    loop {
        // An end-of-partition event can be stale (a transaction committed since), so the
        // condition is only trusted once the position has reached every high watermark.
        if at_end.len() == partitions.len() && done(&out) && caught_up(&consumer, topic, &partitions) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}: condition not met within {timeout:?} ({} messages read)",
            out.len()
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(m)) => {
                at_end.remove(&m.partition());
                let value = serde_json::from_slice(m.payload().unwrap_or_default())
                    .unwrap_or_else(|e| panic!("{topic} offset {}: not JSON: {e}", m.offset()));
                out.push(Record {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                    value,
                    timestamp_ms: m.timestamp().to_millis(),
                });
            }
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => eprintln!("{topic}: {e} (retrying)"),
        }
    }
}

/// Produces one message (for tests that feed a job bad input).
pub async fn produce(brokers: &str, topic: &str, key: &str, payload: &[u8]) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = ClientConfig::new().set("bootstrap.servers", brokers).create().unwrap();
    producer
        .send(
            FutureRecord::to(topic).key(key).payload(payload),
            Duration::from_secs(30),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
}
