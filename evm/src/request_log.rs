//! The request log: one JSON line per HTTP request a job makes, for auditing provider use.
//! Fields: `ts` (Unix ms), `replica`, `provider`, `key` (pseudo-name, or null without keys),
//! `method` (the first call's), `calls` (batch size), `status` (HTTP status, or 0 when no
//! response came), `error` (why, if it failed), `latency_ms`. Never a secret or a URL.
//! Written to a local file, or handed over a channel (the streaming jobs publish them to the
//! `{network}.api_keys.request_log` topic).

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

/// One request, as logged.
#[derive(Debug, Clone)]
pub struct RequestRecord<'a> {
    pub provider: Option<&'a str>,
    pub key: Option<&'a str>,
    pub method: &'a str,
    pub calls: usize,
    pub status: u16,
    pub error: Option<&'a str>,
    pub latency: Duration,
}

#[derive(Debug)]
enum Sink {
    File(Mutex<std::io::BufWriter<std::fs::File>>),
    Channel(tokio::sync::mpsc::UnboundedSender<String>),
}

#[derive(Debug)]
pub struct RequestLog {
    replica: String,
    sink: Sink,
}

impl RequestLog {
    /// Appends to `path` (created if missing).
    pub fn to_file(path: &Path, replica: impl Into<String>) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(RequestLog {
            replica: replica.into(),
            sink: Sink::File(Mutex::new(std::io::BufWriter::new(file))),
        })
    }

    /// Hands each record, as its JSON line, to the returned receiver.
    pub fn to_channel(replica: impl Into<String>) -> (Self, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let log = RequestLog {
            replica: replica.into(),
            sink: Sink::Channel(tx),
        };
        (log, rx)
    }

    pub fn record(&self, r: &RequestRecord<'_>) {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let line = json!({
            "ts": ts,
            "replica": self.replica,
            "provider": r.provider,
            "key": r.key,
            "method": r.method,
            "calls": r.calls,
            "status": r.status,
            "error": r.error,
            "latency_ms": r.latency.as_secs_f64() * 1000.0,
        });
        match &self.sink {
            Sink::File(file) => {
                if let Ok(mut f) = file.lock() {
                    // A full disk must not stop the job: the log is an audit trail, not the data.
                    if writeln!(f, "{line}").is_err() {
                        tracing::warn!("could not write the request log");
                    }
                }
            }
            Sink::Channel(tx) => {
                if tx.send(line.to_string()).is_err() {
                    tracing::warn!("the request log's publisher has stopped");
                }
            }
        }
    }

    pub fn flush(&self) {
        if let Sink::File(file) = &self.sink {
            if let Ok(mut f) = file.lock() {
                let _ = f.flush();
            }
        }
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.flush();
    }
}
