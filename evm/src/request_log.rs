//! The request log: one JSON line per HTTP request a job makes, for auditing provider use.
//! Fields: `ts` (Unix ms), `replica`, `provider`, `key` (pseudo-name, or null without keys),
//! `method` (the first call's), `calls` (batch size), `status` (HTTP status, or 0 when no
//! response came), `error` (why, if it failed), `latency_ms`. Never a secret or a URL.
//! Written to a local file now; the fast-layer issue sends the same records to Kafka.

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
pub struct RequestLog {
    replica: String,
    file: Mutex<std::io::BufWriter<std::fs::File>>,
}

impl RequestLog {
    /// Appends to `path` (created if missing).
    pub fn to_file(path: &Path, replica: impl Into<String>) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        Ok(RequestLog {
            replica: replica.into(),
            file: Mutex::new(std::io::BufWriter::new(file)),
        })
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
        if let Ok(mut f) = self.file.lock() {
            // A full disk must not stop the job: the log is an audit trail, not the data.
            if writeln!(f, "{line}").is_err() {
                tracing::warn!("could not write the request log");
            }
        }
    }

    pub fn flush(&self) {
        if let Ok(mut f) = self.file.lock() {
            let _ = f.flush();
        }
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.flush();
    }
}
