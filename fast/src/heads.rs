//! When the block clock looks at the head: on a `newHeads` notification over WebSocket (whose
//! header saves a call), else on a poll timer; while the socket is down it polls, and
//! reconnects with backoff. Errors never quote the URL, which may hold a key.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chainx_evm::alloy_primitives::B256;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Heads from the subscription, and whether it is live.
type Subscription = (mpsc::Receiver<(u64, B256)>, Arc<AtomicBool>);

/// Tells the clock when to look at the head: a `newHeads` notification (with the head's number
/// and hash) or the poll timer.
#[derive(Debug)]
pub(crate) struct HeadSource {
    poll_interval: Duration,
    ws: Option<Subscription>,
}

impl HeadSource {
    pub(crate) fn new(ws_url: Option<&str>, poll_interval: Duration) -> Self {
        let ws = ws_url.map(|url| {
            let (tx, rx) = mpsc::channel(64);
            let connected = Arc::new(AtomicBool::new(false));
            tokio::spawn(subscribe_forever(url.to_string(), tx, connected.clone()));
            (rx, connected)
        });
        HeadSource { poll_interval, ws }
    }

    /// Waits for the next reason to look at the head; returns the head when a notification
    /// carried it (and `None` when the caller should ask the node).
    pub(crate) async fn wait(&mut self) -> Option<(u64, B256)> {
        let Some((rx, connected)) = &mut self.ws else {
            tokio::time::sleep(self.poll_interval).await;
            return None;
        };
        // Subscribed: the poll is only a safety net (a subscription can go quiet without
        // closing). Not yet or no longer subscribed: poll at the normal pace.
        let timeout = if connected.load(Ordering::Relaxed) {
            self.poll_interval * 30
        } else {
            self.poll_interval
        };
        match tokio::time::timeout(timeout, rx.recv()).await {
            Ok(Some(mut head)) => {
                // Coalesce a burst: only the newest head matters.
                while let Ok(h) = rx.try_recv() {
                    head = h;
                }
                Some(head)
            }
            _ => None,
        }
    }
}

/// Keeps a `newHeads` subscription open, reconnecting with backoff; `connected` tells the
/// clock whether to wait for notifications or to poll.
async fn subscribe_forever(url: String, tx: mpsc::Sender<(u64, B256)>, connected: Arc<AtomicBool>) {
    let shown = chainx_evm::redact_url(&url);
    let mut failures = 0u32;
    loop {
        match subscribe_once(&url, &tx, &connected).await {
            Ok(()) => return, // the clock is gone
            Err(e) => {
                connected.store(false, Ordering::Relaxed);
                failures += 1;
                let wait = Duration::from_millis(500 * 2u64.pow(failures.min(6)));
                tracing::warn!("newHeads subscription on {shown}: {e}; polling, reconnecting in {wait:?}");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

async fn subscribe_once(
    url: &str,
    tx: &mpsc::Sender<(u64, B256)>,
    connected: &AtomicBool,
) -> std::result::Result<(), String> {
    use tokio_tungstenite::tungstenite::Message as Ws;
    // Errors from the socket library may quote the URL: report only what went wrong.
    let (mut socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| format!("connect: {}", kind_of(&e)))?;
    let request = json!({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]});
    socket
        .send(Ws::text(request.to_string()))
        .await
        .map_err(|e| format!("subscribe: {}", kind_of(&e)))?;
    while let Some(frame) = socket.next().await {
        let frame = frame.map_err(|e| format!("read: {}", kind_of(&e)))?;
        let text = match frame {
            Ws::Text(t) => t.to_string(),
            Ws::Close(_) => return Err("closed by the node".to_string()),
            _ => continue,
        };
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
        if v.get("id").is_some() {
            if let Some(err) = v.get("error") {
                return Err(format!("the node refused eth_subscribe: {err}"));
            }
            connected.store(true, Ordering::Relaxed);
            tracing::info!("following newHeads over WebSocket");
            continue;
        }
        let head = &v["params"]["result"];
        let number = head["number"]
            .as_str()
            .and_then(|n| u64::from_str_radix(n.trim_start_matches("0x"), 16).ok());
        let hash = head["hash"].as_str().and_then(|h| h.parse::<B256>().ok());
        if let (Some(number), Some(hash)) = (number, hash) {
            if tx.send((number, hash)).await.is_err() {
                return Ok(());
            }
        }
    }
    Err("the stream ended".to_string())
}

/// The error's kind without its text, which may hold the URL (and so a key).
fn kind_of(e: &tokio_tungstenite::tungstenite::Error) -> String {
    use tokio_tungstenite::tungstenite::Error as E;
    match e {
        E::Io(io) => format!("I/O error ({:?})", io.kind()),
        E::Http(r) => format!("HTTP {}", r.status()),
        E::Url(_) => "bad WebSocket URL (expected ws:// or wss://)".to_string(),
        E::ConnectionClosed | E::AlreadyClosed => "connection closed".to_string(),
        E::Tls(_) => "TLS error".to_string(),
        E::Protocol(p) => format!("protocol error: {p}"),
        _ => "WebSocket error".to_string(),
    }
}
