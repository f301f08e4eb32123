use rdkafka::error::KafkaError;

/// Everything the streaming jobs can fail on; each names the topic, block or input involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kafka ({brokers}): {what}: {source}; check that the brokers are reachable and the topics exist (`chainx topics create`)")]
    Kafka {
        brokers: String,
        what: String,
        #[source]
        source: Box<KafkaError>,
    },

    #[error("topic {topic} does not exist on {brokers}; create it with `chainx topics create`")]
    MissingTopic { brokers: String, topic: String },

    #[error("{topic} partition {partition} offset {offset}: {reason}")]
    BadMessage {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },

    #[error(transparent)]
    Evm(Box<chainx_evm::Error>),

    #[error(
        "reorg deeper than --max-reorg-depth {max}: block {block}'s ancestry differs from what was published \
         back to block {oldest}; raise --max-reorg-depth or check that the node follows the same chain"
    )]
    ReorgTooDeep { block: u64, oldest: u64, max: u64 },

    #[error("{0}")]
    Config(String),
}

impl Error {
    pub(crate) fn kafka(brokers: &str, what: impl Into<String>, source: KafkaError) -> Self {
        Error::Kafka {
            brokers: brokers.to_string(),
            what: what.into(),
            source: Box::new(source),
        }
    }

    /// Errors the clock survives by reconnecting and resuming from the topic: a broker restart
    /// or a node outage must not end a job meant to run for months.
    pub fn is_transient(&self) -> bool {
        match self {
            // A setting librdkafka refuses will not fix itself.
            Error::Kafka { source, .. } => {
                !matches!(**source, KafkaError::ClientCreation(_) | KafkaError::ClientConfig(..))
            }
            Error::Evm(e) => !matches!(**e, chainx_evm::Error::BadUrl { .. }),
            _ => false,
        }
    }
}

impl From<chainx_evm::Error> for Error {
    fn from(e: chainx_evm::Error) -> Self {
        Error::Evm(Box::new(e))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
