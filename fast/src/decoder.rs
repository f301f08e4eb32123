//! The decoder (the original design's `txs_input_decoder`): consumes contract interactions and
//! publishes each, decoded or with the reason it is not, to
//! `{network}.mined.tx.3.contract_interaction.decoded`; and consumes each block's logs and
//! publishes the events its ABIs decode to `{network}.mined.logs.decoded`, one message per block
//! (removed blocks passed on). At-least-once, like the crawler: the sink lands a block once.

use std::sync::Arc;
use std::time::Duration;

use chainx_evm::{decode_events, AbiRegistry, LogRow, TransactionRow};
use rdkafka::consumer::Consumer;
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;

use crate::kafka::{await_deliveries, next_batch, KafkaConfig, OffsetTracker};
use crate::messages::{to_json, BlockRowsMessage, DecodedMessage, LogsMessage};
use crate::metrics::FastMetrics;
use crate::{Error, Result, Topics};

#[derive(Debug)]
pub struct TxDecoder {
    topics: Topics,
    group: String,
    kafka: KafkaConfig,
    abis: AbiRegistry,
    metrics: Option<FastMetrics>,
}

impl TxDecoder {
    pub fn new(network: &str, kafka: KafkaConfig, abis: AbiRegistry, metrics: Option<FastMetrics>) -> Self {
        TxDecoder {
            topics: Topics::new(network),
            group: format!("chainx-tx-decoder.{network}"),
            kafka,
            abis,
            metrics,
        }
    }

    /// Runs until the process is stopped.
    pub async fn run(&mut self) -> Result<()> {
        let t = self.topics.clone();
        self.kafka.require_topics(&[
            &t.contract_interaction,
            &t.contract_interaction_decoded,
            &t.logs,
            &t.logs_decoded,
        ])?;
        let brokers = self.kafka.brokers.clone();
        let consumer = Arc::new(self.kafka.consumer(&self.group)?);
        let _lag = crate::metrics::watch_consumer_lag(self.metrics.clone(), &self.group, consumer.clone());
        consumer
            .subscribe(&[&t.contract_interaction, &t.logs])
            .map_err(|e| Error::kafka(&brokers, format!("subscribing to {}", t.contract_interaction), e))?;
        let producer = self.kafka.producer(None)?;
        loop {
            let batch = next_batch(&consumer, &brokers, 500, Duration::from_millis(20)).await?;
            let mut offsets = OffsetTracker::default();
            let mut pending = Vec::with_capacity(batch.len());
            for m in &batch {
                offsets.done(m);
                if m.topic() == t.logs {
                    let Some((key, payload)) = self.decode_logs(m).await else {
                        continue;
                    };
                    let topic = &t.logs_decoded;
                    let f = producer
                        .send_result(FutureRecord::to(topic).key(&key).payload(&payload))
                        .map_err(|(e, _)| Error::kafka(&brokers, format!("queueing for {topic}"), e))?;
                    pending.push((topic.clone(), f));
                    continue;
                }
                let tx: TransactionRow = match serde_json::from_slice(m.payload().unwrap_or_default()) {
                    Ok(tx) => tx,
                    Err(e) => {
                        tracing::error!(
                            "skipping {} partition {} offset {}: not a transaction: {e}",
                            m.topic(),
                            m.partition(),
                            m.offset()
                        );
                        continue;
                    }
                };
                let call = self
                    .abis
                    .decode(tx.to_address.as_deref().unwrap_or_default(), &tx.input)
                    .await;
                let payload = to_json(&DecodedMessage::new(&tx, call));
                let topic = &t.contract_interaction_decoded;
                let f = producer
                    .send_result(FutureRecord::to(topic).key(&tx.hash).payload(&payload))
                    .map_err(|(e, _)| Error::kafka(&brokers, format!("queueing for {topic}"), e))?;
                pending.push((topic.clone(), f));
            }
            let counts = await_deliveries(&brokers, pending).await?;
            offsets.commit(&consumer, &brokers)?;
            if let Some(m) = &self.metrics {
                for (topic, n) in counts {
                    m.published(&topic, n);
                }
            }
        }
    }

    /// One block's logs message, decoded: the key and payload of its `logs.decoded` message, or
    /// `None` for a message that is not a block's logs (logged and skipped).
    async fn decode_logs(&mut self, m: &impl Message) -> Option<(String, Vec<u8>)> {
        let block: LogsMessage = match serde_json::from_slice(m.payload().unwrap_or_default()) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(
                    "skipping {} partition {} offset {}: not a block's logs: {e}",
                    m.topic(),
                    m.partition(),
                    m.offset()
                );
                return None;
            }
        };
        let logs: Vec<_> = block.rows.iter().filter_map(LogRow::to_block_log).collect();
        let (rows, mut undecodable) = decode_events(&mut self.abis, &logs).await;
        undecodable += (block.rows.len() - logs.len()) as u64;
        if undecodable > 0 {
            tracing::debug!(
                block = block.block_number,
                undecodable,
                "logs of known events that did not decode"
            );
        }
        let out = BlockRowsMessage {
            block_number: block.block_number,
            block_hash: block.block_hash,
            block_timestamp: block.block_timestamp,
            removed: block.removed,
            rows,
        };
        Some((out.block_number.to_string(), to_json(&out)))
    }
}
