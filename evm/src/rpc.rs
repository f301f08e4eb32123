//! A JSON-RPC client over HTTP, built for backfills against metered providers.
//!
//! - Batches: one HTTP request carries many calls; providers bill per call, so [`RpcStats`]
//!   counts both calls and HTTP requests.
//! - Bounds: at most `max_concurrent_requests` HTTP requests in flight, and at most `rps` calls
//!   per second on average.
//! - Retries: 429, 5xx, timeouts, connection resets, unparseable bodies and JSON-RPC rate-limit
//!   errors are retried with exponential backoff and jitter (honouring `Retry-After`); anything
//!   else fails at once with an error that names the call.
//! - Secrets: only the redacted URL is ever printed, and reqwest errors are stripped of theirs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::time::Instant as TokioInstant;

use rand::Rng;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::{Mutex, Semaphore};

use crate::error::{Error, Result};
use chainx_keys::{KeyPool, Outcome};

use crate::redact::{redact_url, scrub, secret_parts};
use crate::request_log::{RequestLog, RequestRecord};
use chainx_telemetry::provider::NO_KEY;
use chainx_telemetry::ProviderMetrics;

/// JSON-RPC "method not found".
pub const METHOD_NOT_FOUND: i64 = -32601;

#[derive(Debug, Clone)]
pub struct RpcConfig {
    pub url: String,
    /// HTTP requests in flight at once.
    pub max_concurrent_requests: usize,
    /// Calls per second, averaged; `None` is unlimited.
    pub rps: Option<f64>,
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubles per retry up to `max_backoff`.
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub request_timeout: Duration,
    /// The largest reply body read; a larger one (a broken proxy, a node answering without
    /// end) fails the request instead of the process's memory.
    pub max_reply_bytes: u64,
}

impl RpcConfig {
    pub fn new(url: impl Into<String>) -> Self {
        RpcConfig {
            url: url.into(),
            max_concurrent_requests: 16,
            rps: None,
            max_retries: 6,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            // A batch of a mainnet chunk's receipts is tens of MiB.
            max_reply_bytes: 256 << 20,
        }
    }
}

/// Counters a run reports in its summary.
#[derive(Debug, Default)]
pub struct RpcStats {
    /// JSON-RPC calls sent, retried ones included: what a provider bills.
    pub calls: AtomicU64,
    pub http_requests: AtomicU64,
    pub retries: AtomicU64,
}

impl RpcStats {
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
    pub fn http_requests(&self) -> u64 {
        self.http_requests.load(Ordering::Relaxed)
    }
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

/// One call of a batch.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: &'static str,
    pub params: Value,
}

impl Call {
    pub fn new(method: &'static str, params: Value) -> Self {
        Call { method, params }
    }

    fn describe(&self) -> String {
        let params = self.params.to_string();
        format!(
            "{}({})",
            self.method,
            params.trim_start_matches('[').trim_end_matches(']')
        )
    }
}

/// The node's error object for one call.
#[derive(Debug, Clone, Deserialize)]
pub struct CallError {
    pub code: i64,
    pub message: String,
}

impl CallError {
    /// A provider's "daily (or monthly) quota spent" error: no retry helps before its reset.
    fn is_quota_spent(&self) -> bool {
        quota_spent_text(&self.message)
    }

    fn is_rate_limit(&self) -> bool {
        let m = self.message.to_ascii_lowercase();
        // Not any "exceeded": "response size exceeded" or "gas limit exceeded" are no rate
        // limits, and retrying them only wastes the key's budget.
        let exceeded_rate = m.contains("exceeded")
            && ["rate", "capacity", "per second", "throughput"]
                .iter()
                .any(|w| m.contains(w));
        self.code == -32005
            || self.code == 429
            || m.contains("rate limit")
            || m.contains("too many requests")
            || exceeded_rate
    }
}

/// The body, or `None` once it passes `limit` bytes (read no further).
async fn read_limited(mut resp: reqwest::Response, limit: u64) -> reqwest::Result<Option<Vec<u8>>> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Ok(None);
    }
    let mut body = Vec::with_capacity(resp.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = resp.chunk().await? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// Whether a provider's message says a daily or monthly quota is spent ("daily request count
/// exceeded", Alchemy's "Monthly capacity limit exceeded", credits "daily credit limit
/// exceeded"), rather than a per-second rate.
fn quota_spent_text(text: &str) -> bool {
    let m = text.to_ascii_lowercase();
    (m.contains("daily") || m.contains("monthly")) && (m.contains("exceeded") || m.contains("spent"))
}

/// A call's outcome: its `result` (`None` for JSON `null`) or the node's error object.
pub type CallResult = std::result::Result<Option<Box<RawValue>>, CallError>;

#[derive(Debug, Deserialize)]
struct Response {
    id: Option<u64>,
    #[serde(default)]
    result: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<CallError>,
}

#[derive(Debug)]
pub struct RpcClient {
    http: reqwest::Client,
    url: String,
    endpoint: String,
    secrets: Vec<String>,
    config: RpcConfig,
    in_flight: Semaphore,
    pacing: Option<Pacing>,
    /// API keys to rotate through; `None` sends every request to `url`.
    keys: Option<Arc<KeyPool>>,
    request_log: Option<Arc<RequestLog>>,
    metrics: Option<ProviderMetrics>,
    stats: Arc<RpcStats>,
}

/// Spreads calls evenly: each batch reserves `n` slots of `1/rps` and waits for its first one.
#[derive(Debug)]
struct Pacing {
    per_call: Duration,
    // tokio's clock, so that tests can run it paused.
    next_slot: Mutex<TokioInstant>,
}

impl Pacing {
    async fn acquire(&self, calls: usize) {
        let start = {
            let mut next = self.next_slot.lock().await;
            let start = (*next).max(TokioInstant::now());
            *next = start + self.per_call * calls as u32;
            start
        };
        tokio::time::sleep_until(start).await;
    }
}

/// Why one attempt failed, and whether another may succeed.
enum Attempt {
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// The key was rate limited or refused: try again at once, with another key.
    SwitchKey {
        reason: String,
    },
    Fatal(Error),
}

/// Key switches allowed for one request before it fails: the pool fails sooner when no key
/// can serve, so this only bounds a provider that rate-limits every key forever.
const MAX_KEY_SWITCHES: u32 = 1000;

impl RpcClient {
    pub fn new(config: RpcConfig) -> Result<Self> {
        let endpoint = redact_url(&config.url);
        let parsed = url::Url::parse(&config.url).map_err(|e| Error::BadUrl {
            url: endpoint.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::BadUrl {
                url: endpoint,
                reason: format!("scheme `{}` is not http or https", parsed.scheme()),
            });
        }
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .pool_max_idle_per_host(config.max_concurrent_requests.max(1))
            .build()
            .map_err(|e| Error::BadUrl {
                url: endpoint.clone(),
                reason: e.without_url().to_string(),
            })?;
        let pacing = config.rps.filter(|r| *r > 0.0).map(|rps| Pacing {
            per_call: Duration::from_secs_f64(1.0 / rps),
            next_slot: Mutex::new(TokioInstant::now()),
        });
        Ok(RpcClient {
            http,
            url: config.url.clone(),
            secrets: secret_parts(&config.url),
            endpoint,
            in_flight: Semaphore::new(config.max_concurrent_requests.max(1)),
            pacing,
            keys: None,
            request_log: None,
            metrics: None,
            config,
            stats: Arc::new(RpcStats::default()),
        })
    }

    /// A client that sends each request with a key from `pool` (the URL in `config` is unused).
    pub fn with_keys(config: RpcConfig, pool: Arc<KeyPool>) -> Result<Self> {
        let first = pool.secret_urls().next().unwrap_or_default().to_string();
        let providers: Vec<&str> = pool.keys().iter().map(|k| k.provider.as_str()).collect();
        let mut client = RpcClient::new(RpcConfig { url: first, ..config })?;
        client.endpoint = format!("key pool [{}]", dedup(providers).join(", "));
        client.secrets = pool.secret_urls().flat_map(secret_parts).collect();
        client.keys = Some(pool);
        Ok(client)
    }

    /// Logs every HTTP request to `log`.
    pub fn with_request_log(mut self, log: Arc<RequestLog>) -> Self {
        self.request_log = Some(log);
        self
    }

    /// Counts every request, its calls, latency and status, and rate limits, in `metrics`.
    pub fn with_metrics(mut self, metrics: ProviderMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The most calls one HTTP request may carry (a key's rps, with a key pool).
    pub fn max_calls_per_request(&self) -> usize {
        self.keys
            .as_ref()
            .map_or(usize::MAX, |p| p.max_calls_per_request() as usize)
    }

    /// [`batch`](Self::batch) in as many requests as the keys need: each within every key's
    /// rps, in calls or in what its provider's table prices them (a single call always goes).
    pub async fn batch_all(&self, calls: &[Call]) -> Result<Vec<CallResult>> {
        let Some(pool) = &self.keys else {
            return self.batch(calls).await;
        };
        let methods: Vec<&str> = calls.iter().map(|c| c.method).collect();
        let mut out = Vec::with_capacity(calls.len());
        for part in pool.requests(&methods) {
            out.extend(self.batch(&calls[part]).await?);
        }
        Ok(out)
    }

    /// The URL as it may be shown: secrets redacted.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// `text` with any part of the URL's secrets replaced by `***`, for messages a node echoes.
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }

    pub fn stats(&self) -> &Arc<RpcStats> {
        &self.stats
    }

    /// One call, its `result` (None for JSON null), or the node's error as [`Error::Rpc`].
    pub async fn call(&self, method: &'static str, params: Value) -> Result<Option<Box<RawValue>>> {
        let mut out = self.batch(&[Call::new(method, params)]).await?;
        match out.pop() {
            Some(Ok(v)) => Ok(v),
            Some(Err(e)) => Err(Error::Rpc {
                endpoint: self.endpoint.clone(),
                method: method.to_string(),
                code: e.code,
                message: self.scrub(&e.message),
            }),
            None => Err(self.malformed(method, "empty reply".to_string())),
        }
    }

    /// Sends `calls` in one HTTP request and returns their outcomes in the same order.
    pub async fn batch(&self, calls: &[Call]) -> Result<Vec<CallResult>> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let what = match calls.len() {
            1 => calls[0].describe(),
            n => format!("batch of {n} calls from {}", calls[0].describe()),
        };
        let body = request_body(calls);
        let started = Instant::now();
        let mut attempt: u32 = 0;
        let mut switches: u32 = 0;
        loop {
            attempt += 1;
            let outcome = self.attempt(calls, &body, &what).await;
            let (reason, after) = match outcome {
                Ok(results) => return Ok(results),
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::SwitchKey { reason }) if switches < MAX_KEY_SWITCHES => {
                    switches += 1;
                    attempt -= 1;
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%what, %reason, "switching key");
                    continue;
                }
                Err(Attempt::SwitchKey { reason }) => (reason, None),
                Err(Attempt::Retry { reason, after }) => (reason, after),
            };
            if attempt > self.config.max_retries {
                return Err(Error::RetriesExhausted {
                    endpoint: self.endpoint.clone(),
                    what,
                    attempts: attempt,
                    elapsed: started.elapsed(),
                    reason,
                });
            }
            let delay = self.backoff(attempt).max(after.unwrap_or_default());
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(endpoint = %self.endpoint, %what, attempt, ?delay, %reason, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, calls: &[Call], body: &[u8], what: &str) -> std::result::Result<Vec<CallResult>, Attempt> {
        if let Some(p) = &self.pacing {
            p.acquire(calls.len()).await;
        }
        // The in-flight slot first, then the key's call slot: a call is counted in a key's
        // window only when it can leave at once. Taken the other way round, calls that waited
        // for slow replies would leave together, several windows' worth in one.
        let _permit = self
            .in_flight
            .acquire()
            .await
            .map_err(|_| Attempt::Fatal(self.malformed(what, "client shut down".to_string())))?;
        let route = match &self.keys {
            Some(pool) => {
                let methods: Vec<&str> = calls.iter().map(|c| c.method).collect();
                Some(
                    pool.acquire_methods(&methods)
                        .await
                        .map_err(|e| Attempt::Fatal(Error::Keys(e)))?,
                )
            }
            None => None,
        };
        let url = route.as_ref().map_or(self.url.as_str(), |r| r.url());
        self.stats.http_requests.fetch_add(1, Ordering::Relaxed);
        self.stats.calls.fetch_add(calls.len() as u64, Ordering::Relaxed);
        let sent_at = Instant::now();
        // Without the key scheduler, metrics name the plain node `node` / `none`.
        let (provider, key) = route
            .as_ref()
            .map_or(("node", NO_KEY), |r| (r.provider.as_str(), r.name.as_str()));
        let method = calls.first().map_or("", |c| c.method);
        let log = |status: u16, error: Option<&str>| {
            let latency = sent_at.elapsed();
            if let Some(m) = &self.metrics {
                m.request(provider, key, method, calls.len(), status, latency);
            }
            if let Some(log) = &self.request_log {
                log.record(&RequestRecord {
                    provider: route.as_ref().map(|r| r.provider.as_str()),
                    key: route.as_ref().map(|r| r.name.as_str()),
                    method,
                    calls: calls.len(),
                    status,
                    error,
                    latency,
                });
            }
        };
        let rate_limited = || {
            if let Some(m) = &self.metrics {
                m.rate_limited(provider, key);
            }
        };
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            // Timeouts, refused or reset connections: the node or the network may recover.
            Err(e) => {
                let reason = e.without_url().to_string();
                log(0, Some(&reason));
                return Err(Attempt::Retry { reason, after: None });
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(retry_after);
        let bytes = match read_limited(resp, self.config.max_reply_bytes).await {
            Ok(Some(b)) => b,
            Ok(None) => {
                log(status.as_u16(), Some("reply too large"));
                return Err(Attempt::Fatal(Error::ReplyTooLarge {
                    endpoint: self.endpoint.clone(),
                    what: what.to_string(),
                    limit_mib: self.config.max_reply_bytes >> 20,
                }));
            }
            Err(e) => {
                let reason = e.without_url().to_string();
                log(status.as_u16(), Some(&reason));
                return Err(Attempt::Retry { reason, after: None });
            }
        };
        log(status.as_u16(), None);
        if status.as_u16() == 429 {
            rate_limited();
        }
        if let (Some(pool), Some(route)) = (&self.keys, &route) {
            // 402: credit-metered plans' "spent for today"; some providers say it with a 429.
            let spent = status.as_u16() == 402
                || (status.as_u16() == 429 && quota_spent_text(&String::from_utf8_lossy(&bytes)));
            let outcome = match status.as_u16() {
                _ if spent => Some(Outcome::QuotaSpent),
                429 => Some(Outcome::RateLimited { retry_after }),
                401 | 403 => Some(Outcome::Refused),
                _ => None,
            };
            if let Some(outcome) = outcome {
                pool.report(route, outcome).await;
                return Err(Attempt::SwitchKey {
                    reason: format!("HTTP {status} for {}", route.label()),
                });
            }
        }
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(Attempt::Retry {
                reason: format!("HTTP {status}"),
                after: retry_after,
            });
        }
        if !status.is_success() {
            return Err(Attempt::Fatal(Error::HttpStatus {
                endpoint: self.endpoint.clone(),
                what: what.to_string(),
                status: status.as_u16(),
                body: scrub(&snippet(&bytes), &self.secrets),
            }));
        }
        let results = self
            .decode(calls, &bytes, what)
            .map_err(|reason| Attempt::Retry { reason, after: None })?;
        if let (Some(pool), Some(route)) = (&self.keys, &route) {
            if results.iter().any(|r| matches!(r, Err(e) if e.is_quota_spent())) {
                pool.report(route, Outcome::QuotaSpent).await;
                return Err(Attempt::SwitchKey {
                    reason: format!("quota spent for {}", route.label()),
                });
            }
        }
        if results.iter().any(|r| matches!(r, Err(e) if e.is_rate_limit())) {
            rate_limited();
            if let (Some(pool), Some(route)) = (&self.keys, &route) {
                pool.report(route, Outcome::RateLimited { retry_after }).await;
                return Err(Attempt::SwitchKey {
                    reason: format!("rate limit error for {}", route.label()),
                });
            }
            return Err(Attempt::Retry {
                reason: "the node reported a rate limit".to_string(),
                after: retry_after,
            });
        }
        Ok(results)
    }

    /// Matches replies to calls by id; an unparseable or incomplete body is retryable (proxies
    /// and overloaded nodes truncate bodies), and becomes an error once retries run out.
    fn decode(&self, calls: &[Call], bytes: &[u8], what: &str) -> std::result::Result<Vec<CallResult>, String> {
        let replies: Vec<Response> = if calls.len() == 1 {
            serde_json::from_slice::<Response>(bytes).map(|r| vec![r])
        } else {
            serde_json::from_slice::<Vec<Response>>(bytes).or_else(|e| {
                // A batch answered with one error object: the node refused the whole batch.
                serde_json::from_slice::<Response>(bytes)
                    .map(|r| vec![r])
                    .map_err(|_| e)
            })
        }
        .map_err(|e| {
            format!(
                "{what}: unparseable reply ({e}): {}",
                scrub(&snippet(bytes), &self.secrets)
            )
        })?;
        let mut out: Vec<Option<CallResult>> = vec![None; calls.len()];
        for r in replies {
            let slot = match r.id {
                Some(id) if (id as usize) < calls.len() => id as usize,
                // A reply without our id (a whole-batch error): it applies to every call.
                _ => {
                    let err = r.error.unwrap_or(CallError {
                        code: 0,
                        message: "reply without id".to_string(),
                    });
                    if err.is_rate_limit() {
                        return Err(format!("the node reported a rate limit: {}", err.message));
                    }
                    return Err(format!(
                        "the node refused the request: {} {}",
                        err.code,
                        scrub(&err.message, &self.secrets)
                    ));
                }
            };
            out[slot] = Some(match r.error {
                Some(e) => Err(e),
                None => Ok(r.result),
            });
        }
        out.into_iter()
            .enumerate()
            .map(|(i, r)| r.ok_or_else(|| format!("no reply for {}", calls[i].describe())))
            .collect()
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .config
            .initial_backoff
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.config.max_backoff);
        // "Equal jitter": at least half the backoff, so retries from many workers spread out
        // without collapsing to zero.
        let half = exp / 2;
        half + half.mul_f64(rand::rng().random::<f64>())
    }

    fn malformed(&self, what: &str, reason: String) -> Error {
        Error::MalformedReply {
            endpoint: self.endpoint.clone(),
            what: what.to_string(),
            reason,
        }
    }
}

fn dedup(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v.dedup();
    v
}

fn request_body(calls: &[Call]) -> Vec<u8> {
    let items: Vec<Value> = calls
        .iter()
        .enumerate()
        .map(|(id, c)| serde_json::json!({"jsonrpc": "2.0", "id": id, "method": c.method, "params": c.params}))
        .collect();
    let v = if items.len() == 1 {
        items.into_iter().next().unwrap_or_default()
    } else {
        Value::Array(items)
    };
    serde_json::to_vec(&v).unwrap_or_default()
}

/// The longest `Retry-After` honoured: a provider's (or a proxy's) hour-long or absurd value
/// would otherwise park the job silently; past it, the retries run out and the run says why.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

fn retry_after(seconds: u64) -> Duration {
    Duration::from_secs(seconds).min(MAX_RETRY_AFTER)
}

fn snippet(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut out: String = s.chars().take(200).collect();
    if s.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacing_spreads_calls_at_the_configured_rate() {
        let p = Pacing {
            per_call: Duration::from_millis(100),
            next_slot: Mutex::new(TokioInstant::now()),
        };
        let start = TokioInstant::now();
        for _ in 0..10 {
            p.acquire(1).await;
        }
        // A batch of 5 reserves 5 slots: the next call waits for all of them.
        p.acquire(5).await;
        p.acquire(1).await;
        assert_eq!(start.elapsed(), Duration::from_millis(1500));
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let mut cfg = RpcConfig::new("http://127.0.0.1:1");
        cfg.initial_backoff = Duration::from_millis(100);
        cfg.max_backoff = Duration::from_millis(1000);
        let client = RpcClient::new(cfg).unwrap();
        for _ in 0..50 {
            let first = client.backoff(1);
            assert!(
                first >= Duration::from_millis(50) && first <= Duration::from_millis(100),
                "{first:?}"
            );
            let third = client.backoff(3);
            assert!(
                third >= Duration::from_millis(200) && third <= Duration::from_millis(400),
                "{third:?}"
            );
            assert!(client.backoff(30) <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn rate_limits_are_rate_limits_and_nothing_else() {
        let e = |code, message: &str| CallError {
            code,
            message: message.to_string(),
        };
        for limited in [
            e(-32005, "limit"),
            e(429, "x"),
            e(-32000, "project ID request rate exceeded"),
            e(-32000, "Your app has exceeded its compute units per second capacity"),
            e(-32000, "Too Many Requests"),
        ] {
            assert!(limited.is_rate_limit(), "{}", limited.message);
        }
        for other in [
            e(-32000, "response size exceeded"),
            e(-32000, "query returned more than 10000 results: limit exceeded"),
            e(3, "execution reverted: gas limit exceeded"),
        ] {
            assert!(!other.is_rate_limit(), "{}", other.message);
        }
    }

    #[test]
    fn retry_after_is_honoured_up_to_a_cap() {
        assert_eq!(retry_after(3), Duration::from_secs(3));
        assert_eq!(retry_after(86_400), MAX_RETRY_AFTER);
        assert_eq!(retry_after(u64::MAX), MAX_RETRY_AFTER);
    }

    #[test]
    fn batch_bodies_carry_ids_in_order() {
        let body = request_body(&[
            Call::new("a", serde_json::json!([1])),
            Call::new("b", serde_json::json!([])),
        ]);
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v[0]["id"], 0);
        assert_eq!(v[1]["method"], "b");
        let single: Value = serde_json::from_slice(&request_body(&[Call::new("a", serde_json::json!([]))])).unwrap();
        assert!(single.is_object());
    }

    #[test]
    fn non_http_urls_are_refused_without_echoing_them() {
        let err = RpcClient::new(RpcConfig::new("ftp://node/secretsecretsecret"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not http or https") && !err.contains("secretsecretsecret"),
            "{err}"
        );
    }
}
