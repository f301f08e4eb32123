//! A node-as-a-service gateway for tests: a real HTTP server in front of the test chain that
//! behaves like Infura towards API keys. It takes the key from the URL path (`/v3/<key>`),
//! enforces per-key rps over any one-second window and a daily budget, answering 429 with a
//! JSON-RPC rate-limit error as providers do, and 401 for unknown keys. It counts calls per key
//! (a batch counts each of its calls), or credits per method as Infura does
//! ([`Behaviour::credits`]), and reports the most seen in any one-second window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::rpc_server::{forward, path_handler, Reply, RpcServer};

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub rps: usize,
    pub daily: usize,
}

#[derive(Debug, Default)]
struct KeyLog {
    /// Arrival time of every call served.
    served: Vec<Instant>,
    rejected: usize,
}

#[derive(Debug)]
pub struct Gateway {
    pub server: RpcServer,
    log: Arc<Mutex<HashMap<String, KeyLog>>>,
}

/// How a gateway differs from the default (an Infura-like 429 for every spent budget, no added
/// latency).
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Added before each reply, taken in turn (a slow provider, unevenly slow); none if empty.
    pub latencies: Vec<Duration>,
    /// Answer a key whose daily budget is spent with HTTP 402, as credit-metered plans do
    /// (Infura's credits, Alchemy's compute units), instead of 429.
    pub daily_spent_is_402: bool,
    /// Meter credits, not calls: what each method costs (`default` for the rest), as Infura
    /// does; the limits and every count are then in credits.
    pub credits: Option<HashMap<String, usize>>,
}

impl Behaviour {
    /// What a request costs: its calls, or their credits.
    fn cost(&self, request: &Value) -> usize {
        let calls: Vec<&Value> = match request.as_array() {
            Some(batch) => batch.iter().collect(),
            None => vec![request],
        };
        match &self.credits {
            None => calls.len(),
            Some(table) => calls
                .iter()
                .map(|c| {
                    let method = c["method"].as_str().unwrap_or_default();
                    table.get(method).or_else(|| table.get("default")).copied().unwrap_or(1)
                })
                .sum(),
        }
    }
}

impl Gateway {
    /// `keys`: secret value -> limits.
    pub async fn start(upstream: &str, keys: HashMap<String, Limits>) -> Gateway {
        Gateway::start_with(upstream, keys, Behaviour::default()).await
    }

    pub async fn start_with(upstream: &str, keys: HashMap<String, Limits>, behaviour: Behaviour) -> Gateway {
        let log: Arc<Mutex<HashMap<String, KeyLog>>> = Arc::new(Mutex::new(HashMap::new()));
        let (upstream, keys, shared) = (upstream.to_string(), Arc::new(keys), log.clone());
        let client = reqwest::Client::new();
        let behaviour = Arc::new(behaviour);
        let replies = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let server = RpcServer::start(path_handler(move |path: String, req: Value| {
            let (upstream, keys, log, client) = (upstream.clone(), keys.clone(), shared.clone(), client.clone());
            let (behaviour, replies) = (behaviour.clone(), replies.clone());
            async move {
                if path == "/stats" {
                    return Reply::Json(stats(&log.lock().unwrap(), &keys));
                }
                let key = path.rsplit('/').next().unwrap_or_default().to_string();
                let Some(limits) = keys.get(&key).copied() else {
                    return Reply::Status(401, r#"{"error":"invalid project id"}"#.into());
                };
                let calls = behaviour.cost(&req);
                let verdict = {
                    let mut log = log.lock().unwrap();
                    let entry = log.entry(key).or_default();
                    let now = Instant::now();
                    let in_window = entry
                        .served
                        .iter()
                        .rev()
                        .take_while(|t| now.duration_since(**t) < Duration::from_secs(1))
                        .count();
                    if in_window + calls > limits.rps {
                        entry.rejected += 1;
                        Some((429, "project ID request rate exceeded"))
                    } else if entry.served.len() + calls > limits.daily {
                        entry.rejected += 1;
                        Some(if behaviour.daily_spent_is_402 {
                            (402, "daily credit limit exceeded")
                        } else {
                            (429, "daily request count exceeded, request rate limited")
                        })
                    } else {
                        entry.served.extend(std::iter::repeat_n(now, calls));
                        None
                    }
                };
                // The latency is the reply's: a request counts in the key's window on arrival.
                if !behaviour.latencies.is_empty() {
                    let turn = replies.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(behaviour.latencies[turn % behaviour.latencies.len()]).await;
                }
                match verdict {
                    Some((status, message)) => Reply::Status(
                        status,
                        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32005, "message": message}})
                            .to_string(),
                    ),
                    None => forward(&client, &upstream, &req).await,
                }
            }
        }))
        .await;
        Gateway { server, log }
    }

    /// A gateway where every one of `secrets` has the same `limits`.
    pub async fn uniform(upstream: &str, secrets: &[&str], limits: Limits) -> Gateway {
        Gateway::start(upstream, secrets.iter().map(|s| (s.to_string(), limits)).collect()).await
    }

    /// The URL a client uses for `key`.
    pub fn url_for(&self, key: &str) -> String {
        format!("{}/v3/{key}", self.server.url)
    }

    /// The URL template (`{key}` placeholder) for chainx's key pool.
    pub fn template(&self) -> String {
        format!("{}/v3/{{key}}", self.server.url)
    }

    pub fn served(&self, key: &str) -> usize {
        self.log.lock().unwrap().get(key).map_or(0, |l| l.served.len())
    }

    pub fn rejected(&self, key: &str) -> usize {
        self.log.lock().unwrap().get(key).map_or(0, |l| l.rejected)
    }

    /// The most calls served for `key` within any one-second window.
    pub fn max_calls_per_second(&self, key: &str) -> usize {
        self.log.lock().unwrap().get(key).map_or(0, |l| peak(&l.served))
    }
}

fn peak(served: &[Instant]) -> usize {
    let mut best = 0;
    let mut start = 0;
    for end in 0..served.len() {
        while served[end].duration_since(served[start]) >= Duration::from_secs(1) {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

/// Per key (by position, never by value): calls served, 429s, peak calls in one second.
fn stats(log: &HashMap<String, KeyLog>, keys: &HashMap<String, Limits>) -> Value {
    let mut names: Vec<&String> = keys.keys().collect();
    names.sort();
    Value::Array(
        names
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let l = log.get(*k);
                json!({
                    "key": i,
                    "served": l.map_or(0, |l| l.served.len()),
                    "rejected": l.map_or(0, |l| l.rejected),
                    "peak_per_second": l.map_or(0, |l| peak(&l.served)),
                })
            })
            .collect(),
    )
}
