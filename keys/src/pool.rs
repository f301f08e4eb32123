//! The in-process key pool: every request asks it for a key, and it answers with one that has
//! room in both its rps and its daily budget, preferring the least used, or waits until one
//! has. One replica; the Redis coordinator shares the same accounting across replicas.
//!
//! - **rps**: a sliding log of the calls sent with each key over the last second (plus a small
//!   margin for network jitter), so that no one-second window a provider measures ever holds
//!   more than `rps` calls. Batches count one call per item, as providers bill them.
//! - **daily budget**: calls per key in minute buckets over a sliding 24 h window.
//! - **choice**: among keys with room, the one used least over 24 h, so keys wear evenly and
//!   the pool rotates by itself.
//! - **faults**: a rate-limited key cools down, a refused (401/403) key is dropped and reported
//!   once, a key whose quota is spent (402) is retired until the daily reset; when no key can
//!   serve soon, [`Error::Exhausted`] says when the next budget frees.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use std::sync::Arc;

use chainx_telemetry::ProviderMetrics;

use crate::cassandra_usage::{epoch_minute, CassandraUsage};
use crate::costs::CallCosts;
use crate::error::{Error, Result};
use crate::redis_backend::{Pick, RedisBackend};

/// Slack added to the one-second window: calls sent 1 s apart may arrive closer together.
const WINDOW_MARGIN: Duration = Duration::from_millis(50);
const WINDOW: Duration = Duration::from_secs(1);
const DAY: Duration = Duration::from_secs(86_400);
const MINUTE: Duration = Duration::from_secs(60);
/// Waits longer than this fail with [`Error::Exhausted`] instead of blocking the job.
const MAX_WAIT: Duration = Duration::from_secs(60);
/// Cool-down after a rate limit when the provider gives no Retry-After.
const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(5);
/// The local pool numbers minutes from a day before it started, so that minutes read from the
/// usage ledger (the past 24 h) fit the same sliding window.
const MINUTE_ORIGIN: u64 = 1440;
/// How often acquisitions are written to the usage ledger.
const LEDGER_FLUSH: Duration = Duration::from_secs(10);
/// Exclusive mode: how long a replica keeps one key before rotating.
const DEFAULT_ROTATION: Duration = Duration::from_secs(600);

/// One API key: a pseudo-name, its provider, the URL with the secret in it, and its limits in
/// its provider's unit ([`CallCosts`]: calls by default, credits or compute units if priced).
#[derive(Clone)]
pub struct Key {
    pub provider: String,
    pub name: String,
    url: String,
    pub rps: u32,
    pub daily: u64,
    pub costs: Arc<CallCosts>,
}

impl Key {
    pub fn new(provider: impl Into<String>, name: impl Into<String>, url: String, rps: u32, daily: u64) -> Self {
        Key {
            provider: provider.into(),
            name: name.into(),
            url,
            rps,
            daily,
            costs: Arc::new(CallCosts::calls()),
        }
    }

    /// The key's name among every replica's keys in Redis: its provider's and its own, since
    /// two providers' keys may share a pseudo-name and must not share a budget.
    pub fn shared_id(&self) -> String {
        format!("{}/{}", self.provider, self.name)
    }

    /// The key with its provider's costs per method: `rps` and `daily` are then in that unit.
    pub fn with_costs(mut self, costs: Arc<CallCosts>) -> Self {
        self.costs = costs;
        self
    }
}

/// What one request costs: its calls, and the units it takes of each key's budgets (by key
/// index; keys of different providers price the same calls differently).
struct Cost {
    calls: u32,
    units: Vec<u32>,
}

impl Cost {
    /// The part of the request a key's one-second window holds: a single call costing more
    /// than the key's second takes that whole second, alone.
    fn in_window(&self, i: usize, rps: u32) -> u32 {
        self.units[i].min(rps)
    }

    /// Whether key `i` can take the request at all: a batch must fit in one second.
    fn fits(&self, i: usize, rps: u32) -> bool {
        self.units[i] <= rps || self.calls == 1
    }
}

impl fmt::Debug for Key {
    // Never the URL: it holds the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("provider", &self.provider)
            .field("name", &self.name)
            .field("rps", &self.rps)
            .field("daily", &self.daily)
            .field("costs", &self.costs.name())
            .finish_non_exhaustive()
    }
}

/// The key a request was given.
#[derive(Clone)]
pub struct Route {
    index: usize,
    pub provider: String,
    pub name: String,
    url: String,
}

impl Route {
    /// The URL to send to. Holds the secret: never print it.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How the route may be shown: provider and pseudo-name.
    pub fn label(&self) -> String {
        format!("{} key {}", self.provider, self.name)
    }
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// What the provider answered, as far as the pool cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// HTTP 429 or a JSON-RPC rate-limit error: cool the key down, for `retry_after` if given.
    RateLimited { retry_after: Option<Duration> },
    /// HTTP 401/403: the key is refused; stop using it.
    Refused,
    /// HTTP 402 or a provider's daily/monthly quota error: the key's credits are spent. It is
    /// retired until the next 00:00 UTC, when Infura and most providers reset daily quotas.
    QuotaSpent,
}

/// How long until the next 00:00 UTC.
fn until_daily_reset() -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(DAY.as_secs() - now.as_secs() % DAY.as_secs())
}

#[derive(Debug, Default)]
struct KeyState {
    /// (sent at, calls) within the last window.
    sent: VecDeque<(Instant, u32)>,
    /// (minute index since the pool started, calls) within the last 24 h.
    minutes: VecDeque<(u64, u64)>,
    used_24h: u64,
    cool_until: Option<Instant>,
    refused: bool,
}

impl KeyState {
    fn forget_old(&mut self, now: Instant, minute: u64) {
        while self
            .sent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) >= WINDOW + WINDOW_MARGIN)
        {
            self.sent.pop_front();
        }
        let day_minutes = DAY.as_secs() / 60;
        while self
            .minutes
            .front()
            .is_some_and(|(m, _)| minute.saturating_sub(*m) >= day_minutes)
        {
            if let Some((_, n)) = self.minutes.pop_front() {
                self.used_24h -= n;
            }
        }
    }

    /// When `calls` more fit in the rps window.
    fn window_free_at(&self, now: Instant, calls: u32, rps: u32) -> Instant {
        let mut in_window: u32 = self.sent.iter().map(|(_, n)| n).sum();
        let mut at = now;
        for (t, n) in &self.sent {
            if in_window + calls <= rps {
                break;
            }
            in_window -= n;
            at = *t + WINDOW + WINDOW_MARGIN;
        }
        at
    }

    /// Records a request taking `window` units of the one-second window and `units` of the
    /// daily budget.
    fn record(&mut self, now: Instant, minute: u64, window: u32, units: u32) {
        self.sent.push_back((now, window));
        match self.minutes.back_mut() {
            Some((m, n)) if *m == minute => *n += u64::from(units),
            _ => self.minutes.push_back((minute, u64::from(units))),
        }
        self.used_24h += u64::from(units);
    }
}

/// Where the accounting lives.
#[derive(Debug)]
enum Backend {
    /// In this process: one replica.
    Local(Mutex<Vec<KeyState>>),
    /// In Redis: every replica that shares the namespace.
    Redis(RedisBackend),
}

#[derive(Debug)]
pub struct KeyPool {
    keys: Vec<Key>,
    backend: Backend,
    started: Instant,
    /// Exclusive mode: this replica holds one key at a time through a lease.
    exclusive: Option<Exclusive>,
    /// The durable usage ledger (Cassandra), if any.
    ledger: Option<Ledger>,
    metrics: Option<ProviderMetrics>,
}

/// Calls not yet written to the ledger, by (key index, wall-clock minute), and when they were
/// last written.
type Pending = (std::collections::HashMap<(usize, i64), i64>, Instant);

#[derive(Debug)]
struct Ledger {
    store: Arc<CassandraUsage>,
    pending: std::sync::Mutex<Pending>,
}

/// The original design's mode: at any instant a key serves one replica only, which then has
/// the key's whole rps. n replicas need more than n keys; a replica with no free key waits.
#[derive(Debug)]
struct Exclusive {
    replica: String,
    ttl: Duration,
    /// A lease older than this is handed back and the least-used free key leased anew, so
    /// keys wear evenly across replicas.
    rotate_every: Duration,
    lease: Mutex<Option<Lease>>,
}

#[derive(Debug)]
struct Lease {
    index: usize,
    /// `<replica>:<fencing token>`: renewals and the release only act on our own lease.
    value: String,
    renewed: Instant,
    leased: Instant,
}

impl KeyPool {
    pub fn new(keys: Vec<Key>) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::Config("the key pool needs at least one key".into()));
        }
        if let Some(k) = keys.iter().find(|k| k.rps == 0 || k.daily == 0) {
            return Err(Error::Config(format!(
                "key `{}` needs rps and a daily budget above 0",
                k.name
            )));
        }
        let state = keys.iter().map(|_| KeyState::default()).collect();
        Ok(KeyPool {
            keys,
            backend: Backend::Local(Mutex::new(state)),
            started: Instant::now(),
            exclusive: None,
            ledger: None,
            metrics: None,
        })
    }

    /// A pool whose accounting is shared through Redis at `redis_url` with every replica using
    /// the same `namespace`: limits hold across all of them.
    pub async fn shared(keys: Vec<Key>, redis_url: &str, namespace: &str) -> Result<Self> {
        let mut pool = KeyPool::new(keys)?;
        pool.backend = Backend::Redis(RedisBackend::connect(redis_url, namespace).await?);
        Ok(pool)
    }

    /// Exclusive mode through Redis: this replica (`replica`, unique among replicas) leases one
    /// key at a time for `ttl`, renews it while in use, and releases it in [`release`](Self::release).
    /// A replica that dies loses its lease within `ttl`.
    pub async fn exclusive(
        keys: Vec<Key>,
        redis_url: &str,
        namespace: &str,
        replica: &str,
        ttl: Duration,
    ) -> Result<Self> {
        let mut pool = KeyPool::shared(keys, redis_url, namespace).await?;
        pool.exclusive = Some(Exclusive {
            replica: replica.to_string(),
            ttl,
            rotate_every: DEFAULT_ROTATION,
            lease: Mutex::new(None),
        });
        Ok(pool)
    }

    /// Exclusive mode: re-lease the least-used free key every `every` (default 10 minutes).
    pub fn with_rotation(mut self, every: Duration) -> Self {
        if let Some(ex) = self.exclusive.as_mut() {
            ex.rotate_every = every;
        }
        self
    }

    /// Reports cool-downs, refusals, lease changes and (through
    /// [`report_budgets`](Self::report_budgets)) budgets left to `metrics`.
    pub fn with_metrics(mut self, metrics: ProviderMetrics) -> Self {
        for k in &self.keys {
            metrics.add_key(&k.provider, &k.name, k.daily);
        }
        self.metrics = Some(metrics);
        self
    }

    /// Sets the budget-left gauges from the 24 h usage (all replicas' with Redis). The
    /// in-process pool does this on every acquisition; shared pools need it called now and then.
    pub async fn report_budgets(&self) -> Result<()> {
        let Some(m) = &self.metrics else { return Ok(()) };
        for (k, (_, used)) in self.keys.iter().zip(self.usage().await?) {
            m.budget(&k.provider, &k.name, k.daily, used);
        }
        Ok(())
    }

    fn lease_changed(&self, i: usize, change: &str) {
        if let Some(m) = &self.metrics {
            m.lease_changed(&self.keys[i].provider, &self.keys[i].name, change);
        }
    }

    /// Records every acquisition in the Cassandra `ledger`, and (in-process pool) starts from the
    /// usage it holds for the past 24 h, so daily budgets survive restarts. With Redis, Redis
    /// stays the live store and the ledger only records.
    pub async fn with_ledger(mut self, ledger: Arc<CassandraUsage>) -> Result<Self> {
        if let Backend::Local(state) = &self.backend {
            let now = epoch_minute();
            let mut state = state.lock().await;
            for (k, s) in self.keys.iter().zip(state.iter_mut()) {
                let mut minutes = ledger.minutes(&k.name, now).await?;
                minutes.sort_unstable();
                for (m, calls) in minutes {
                    let at = MINUTE_ORIGIN as i64 + m - now;
                    if at >= 0 {
                        s.minutes.push_back((at as u64, calls));
                        s.used_24h += calls;
                    }
                }
            }
        }
        self.ledger = Some(Ledger {
            store: ledger,
            pending: std::sync::Mutex::new((Default::default(), Instant::now())),
        });
        Ok(self)
    }

    /// Writes pending acquisitions to the ledger and refreshes its per-key summary (the original
    /// design's `api_keys_node_providers`). Call before exit.
    pub async fn flush_ledger(&self) -> Result<()> {
        let Some(ledger) = &self.ledger else { return Ok(()) };
        let pending = match ledger.pending.lock() {
            Ok(mut p) => std::mem::take(&mut p.0),
            Err(_) => return Ok(()),
        };
        for ((i, minute), calls) in pending {
            ledger.store.record(&self.keys[i].name, minute, calls).await?;
        }
        let names: Vec<String> = self.keys.iter().map(|k| k.name.clone()).collect();
        ledger.store.publish_summary(&names, epoch_minute()).await?;
        Ok(())
    }

    /// Notes an acquisition for the ledger; every few seconds, writes what is pending.
    fn note(&self, i: usize, calls: u32) {
        let Some(ledger) = &self.ledger else { return };
        let Ok(mut pending) = ledger.pending.lock() else { return };
        *pending.0.entry((i, epoch_minute())).or_default() += i64::from(calls);
        if pending.1.elapsed() < LEDGER_FLUSH {
            return;
        }
        pending.1 = Instant::now();
        let batch = std::mem::take(&mut pending.0);
        let (store, names) = (
            ledger.store.clone(),
            self.keys.iter().map(|k| k.name.clone()).collect::<Vec<_>>(),
        );
        tokio::spawn(async move {
            for ((i, minute), calls) in batch {
                if let Err(e) = store.record(&names[i], minute, calls).await {
                    tracing::warn!(key = %names[i], "could not record usage in the ledger: {e}");
                }
            }
        });
    }

    /// Gives up this replica's lease (exclusive mode), so another replica may take the key now
    /// rather than after the TTL.
    pub async fn release(&self) {
        let (Backend::Redis(redis), Some(ex)) = (&self.backend, &self.exclusive) else {
            return;
        };
        if let Some(lease) = ex.lease.lock().await.take() {
            let name = &self.keys[lease.index].name;
            if let Err(e) = redis.release(&self.keys[lease.index].shared_id(), &lease.value).await {
                tracing::warn!(key = %name, "could not release the lease (it expires by itself): {e}");
            }
            self.lease_changed(lease.index, "released");
        }
    }

    /// The replica holding each key's lease, by pseudo-name (exclusive mode).
    pub async fn holders(&self) -> Result<Vec<(String, Option<String>)>> {
        let Backend::Redis(redis) = &self.backend else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for k in &self.keys {
            out.push((k.name.clone(), redis.holder(&k.shared_id()).await?));
        }
        Ok(out)
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The secret-bearing URLs, for scrubbing text a server echoes back.
    pub fn secret_urls(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.url.as_str())
    }

    /// The largest request every key can take: batches must not exceed it.
    pub fn max_calls_per_request(&self) -> u32 {
        self.keys.iter().map(|k| k.rps).min().unwrap_or(1)
    }

    /// Calls per key over the last 24 h, by pseudo-name.
    pub async fn usage(&self) -> Result<Vec<(String, u64)>> {
        match &self.backend {
            Backend::Local(state) => {
                let state = state.lock().await;
                Ok(self
                    .keys
                    .iter()
                    .zip(state.iter())
                    .map(|(k, s)| (k.name.clone(), s.used_24h))
                    .collect())
            }
            Backend::Redis(redis) => {
                let mut out = Vec::new();
                for k in &self.keys {
                    out.push((k.name.clone(), redis.used_24h(&k.shared_id()).await?));
                }
                Ok(out)
            }
        }
    }

    /// The route for key `i`, which was just given a request costing `units`.
    fn route(&self, i: usize, units: u32) -> Route {
        let k = &self.keys[i];
        self.note(i, units);
        Route {
            index: i,
            provider: k.provider.clone(),
            name: k.name.clone(),
            url: k.url.clone(),
        }
    }

    /// A key with room for `calls` calls of methods no cost table lists, waiting (up to a
    /// minute) for one to free up.
    pub async fn acquire(&self, calls: u32) -> Result<Route> {
        let units = self
            .keys
            .iter()
            .map(|k| calls.saturating_mul(k.costs.unlisted()))
            .collect();
        self.acquire_cost(Cost { calls, units }).await
    }

    /// A key with room for a request of these methods (one per call), each key pricing them
    /// by its provider's costs.
    pub async fn acquire_methods(&self, methods: &[&str]) -> Result<Route> {
        let calls = u32::try_from(methods.len()).unwrap_or(u32::MAX);
        let units = self
            .keys
            .iter()
            .map(|k| k.costs.total(methods.iter().copied()))
            .collect();
        self.acquire_cost(Cost { calls, units }).await
    }

    /// `methods` cut into requests every key can take: each part's cost within every key's
    /// rps (a single call always goes, alone if it must).
    pub fn requests(&self, methods: &[&str]) -> Vec<std::ops::Range<usize>> {
        let mut parts = Vec::new();
        let mut start = 0;
        let mut sums = vec![0u32; self.keys.len()];
        for (i, m) in methods.iter().enumerate() {
            let over = self
                .keys
                .iter()
                .zip(&sums)
                .any(|(k, sum)| sum.saturating_add(k.costs.of(m)) > k.rps);
            if over && i > start {
                parts.push(start..i);
                start = i;
                sums.iter_mut().for_each(|s| *s = 0);
            }
            for (k, sum) in self.keys.iter().zip(sums.iter_mut()) {
                *sum = sum.saturating_add(k.costs.of(m));
            }
        }
        if start < methods.len() {
            parts.push(start..methods.len());
        }
        parts
    }

    async fn acquire_cost(&self, cost: Cost) -> Result<Route> {
        let state = match (&self.backend, &self.exclusive) {
            (Backend::Local(state), _) => state,
            (Backend::Redis(redis), Some(ex)) => return self.acquire_exclusive(redis, ex, &cost).await,
            (Backend::Redis(redis), None) => return self.acquire_shared(redis, &cost).await,
        };
        let calls = cost.calls;
        loop {
            let wake = {
                let mut state = state.lock().await;
                let now = Instant::now();
                let minute = MINUTE_ORIGIN + now.duration_since(self.started).as_secs() / 60;
                let mut best: Option<(usize, u64)> = None;
                let mut soonest: Option<(Instant, usize)> = None;
                let mut usable = 0;
                for (i, (key, s)) in self.keys.iter().zip(state.iter_mut()).enumerate() {
                    s.forget_old(now, minute);
                    if s.refused || !cost.fits(i, key.rps) {
                        continue;
                    }
                    let units = cost.units[i];
                    usable += 1;
                    let free_at = if s.cool_until.is_some_and(|t| t > now) {
                        s.cool_until.unwrap_or(now)
                    } else if s.used_24h + u64::from(units) > key.daily {
                        // The oldest minute leaves the 24 h window first.
                        let oldest = s.minutes.front().map_or(minute, |(m, _)| *m);
                        // Minute m began at started + (m - origin) min and leaves the window a day
                        // (origin minutes) after it ends: at started + (m + 1) min.
                        self.started + MINUTE * (oldest as u32 + 1)
                    } else {
                        s.window_free_at(now, cost.in_window(i, key.rps), key.rps)
                    };
                    if free_at <= now {
                        if best.is_none_or(|(_, used)| s.used_24h < used) {
                            best = Some((i, s.used_24h));
                        }
                    } else if soonest.is_none_or(|(t, _)| free_at < t) {
                        soonest = Some((free_at, i));
                    }
                }
                if let Some((i, _)) = best {
                    let k = &self.keys[i];
                    state[i].record(now, minute, cost.in_window(i, k.rps), cost.units[i]);
                    if let Some(m) = &self.metrics {
                        m.budget(&k.provider, &k.name, k.daily, state[i].used_24h);
                    }
                    return Ok(self.route(i, cost.units[i]));
                }
                if usable == 0 {
                    return Err(self.no_key(calls, state.iter().all(|s| s.refused)));
                }
                let (at, i) = soonest.unwrap_or((now, 0));
                if at.duration_since(now) > MAX_WAIT {
                    return Err(Error::Exhausted {
                        key: self.keys[i].name.clone(),
                        wait: at.duration_since(now),
                    });
                }
                at
            };
            tokio::time::sleep_until(wake).await;
        }
    }

    async fn acquire_shared(&self, redis: &RedisBackend, cost: &Cost) -> Result<Route> {
        let calls = cost.calls;
        let limits: Vec<(String, u32, u64, u32)> = self
            .keys
            .iter()
            .zip(&cost.units)
            .map(|(k, units)| (k.shared_id(), k.rps, k.daily, *units))
            .collect();
        loop {
            match redis.pick(&limits, calls, WINDOW + WINDOW_MARGIN).await? {
                Pick::Key(i) => return Ok(self.route(i, cost.units[i])),
                Pick::Wait(i, wait) if wait > MAX_WAIT => {
                    return Err(Error::Exhausted {
                        key: self.keys[i].name.clone(),
                        wait,
                    });
                }
                Pick::Wait(_, wait) => tokio::time::sleep(wait).await,
                Pick::None => {
                    // The script skips only refused keys and keys too small for the batch.
                    let fits = self.keys.iter().enumerate().any(|(i, k)| cost.fits(i, k.rps));
                    return Err(self.no_key(calls, fits));
                }
            }
        }
    }

    async fn acquire_exclusive(&self, redis: &RedisBackend, ex: &Exclusive, cost: &Cost) -> Result<Route> {
        let calls = cost.calls;
        let mut given_up: Vec<usize> = Vec::new();
        loop {
            let i = self.hold_lease(redis, ex, &given_up).await?;
            let k = &self.keys[i];
            match redis
                .pick(
                    &[(k.shared_id(), k.rps, k.daily, cost.units[i])],
                    calls,
                    WINDOW + WINDOW_MARGIN,
                )
                .await?
            {
                Pick::Key(_) => return Ok(self.route(i, cost.units[i])),
                Pick::Wait(_, wait) if wait <= MAX_WAIT => tokio::time::sleep(wait).await,
                // Spent, or refused: give the key up and lease another.
                outcome => {
                    if !cost.fits(i, k.rps) {
                        return Err(Error::BatchTooLarge {
                            calls,
                            key: k.name.clone(),
                            rps: k.rps,
                        });
                    }
                    self.release().await;
                    given_up.push(i);
                    if given_up.len() == self.keys.len() {
                        return Err(match outcome {
                            Pick::Wait(_, wait) => Error::Exhausted {
                                key: k.name.clone(),
                                wait,
                            },
                            _ => self.no_key(calls, true),
                        });
                    }
                }
            }
        }
    }

    /// The index of the key this replica holds, leasing the least-used free one if it holds
    /// none (or lost its lease), and waiting while every key is held by other replicas.
    async fn hold_lease(&self, redis: &RedisBackend, ex: &Exclusive, skip: &[usize]) -> Result<usize> {
        let mut lease = ex.lease.lock().await;
        if let Some(l) = lease.as_mut() {
            if skip.contains(&l.index) {
                // acquire_exclusive released it before skipping it.
                *lease = None;
            } else if l.leased.elapsed() >= ex.rotate_every {
                // Hand the key back first, so the least-used choice below may pick it again.
                let _ = redis.release(&self.keys[l.index].shared_id(), &l.value).await;
                self.lease_changed(l.index, "released");
                *lease = None;
            } else if l.renewed.elapsed() < ex.ttl / 3 {
                return Ok(l.index);
            } else if redis.renew(&self.keys[l.index].shared_id(), &l.value, ex.ttl).await? {
                l.renewed = Instant::now();
                return Ok(l.index);
            } else {
                tracing::warn!(key = %self.keys[l.index].name, "lost the lease on the key; taking another");
                self.lease_changed(l.index, "lost");
                *lease = None;
            }
        }
        let mut told = false;
        loop {
            let mut order = Vec::new();
            for (i, k) in self.keys.iter().enumerate().filter(|(i, _)| !skip.contains(i)) {
                order.push((redis.used_24h(&k.shared_id()).await?, i));
            }
            order.sort_unstable();
            for (_, i) in order {
                if let Some(value) = redis.try_lease(&self.keys[i].shared_id(), &ex.replica, ex.ttl).await? {
                    tracing::info!(key = %self.keys[i].name, replica = %ex.replica, "leased the key");
                    self.lease_changed(i, "leased");
                    let now = Instant::now();
                    *lease = Some(Lease {
                        index: i,
                        value,
                        renewed: now,
                        leased: now,
                    });
                    return Ok(i);
                }
            }
            if !told {
                tracing::info!(replica = %ex.replica, "every key is leased by another replica; waiting for one");
                told = true;
            }
            tokio::time::sleep((ex.ttl / 10).clamp(Duration::from_millis(50), Duration::from_secs(1))).await;
        }
    }

    /// Tells the pool how the provider answered a request made with `route`.
    pub async fn report(&self, route: &Route, outcome: Outcome) {
        if let Some(m) = &self.metrics {
            match outcome {
                Outcome::RateLimited { retry_after } => {
                    m.cooled_down(&route.provider, &route.name, retry_after.unwrap_or(DEFAULT_COOL_DOWN))
                }
                Outcome::Refused => m.refused(&route.provider, &route.name),
                Outcome::QuotaSpent => m.cooled_down(&route.provider, &route.name, until_daily_reset()),
            }
        }
        let state = match &self.backend {
            Backend::Local(state) => state,
            Backend::Redis(redis) => {
                let id = self.keys.get(route.index).map(Key::shared_id).unwrap_or_default();
                let done = match outcome {
                    Outcome::RateLimited { retry_after } => {
                        tracing::warn!(key = %route.label(), ?retry_after, "rate limited by the provider; cooling the key down");
                        redis.cool_down(&id, retry_after.unwrap_or(DEFAULT_COOL_DOWN)).await
                    }
                    Outcome::Refused => {
                        tracing::error!(key = %route.label(), "refused by the provider (401/403); no longer used");
                        redis.refuse(&id).await
                    }
                    Outcome::QuotaSpent => {
                        let wait = until_daily_reset();
                        tracing::warn!(key = %route.label(), ?wait, "the provider says the key's quota is spent; retired until 00:00 UTC");
                        redis.cool_down(&id, wait).await
                    }
                };
                if let Err(e) = done {
                    tracing::warn!(key = %route.label(), "could not record the outcome in the coordinator: {e}");
                }
                return;
            }
        };
        let mut state = state.lock().await;
        let Some(s) = state.get_mut(route.index) else { return };
        match outcome {
            Outcome::RateLimited { retry_after } => {
                let until = Instant::now() + retry_after.unwrap_or(DEFAULT_COOL_DOWN);
                s.cool_until = Some(s.cool_until.map_or(until, |t| t.max(until)));
                tracing::warn!(key = %route.label(), ?retry_after, "rate limited by the provider; cooling the key down");
            }
            Outcome::Refused => {
                if !s.refused {
                    s.refused = true;
                    tracing::error!(key = %route.label(), "refused by the provider (401/403); no longer used");
                }
            }
            Outcome::QuotaSpent => {
                let wait = until_daily_reset();
                let until = Instant::now() + wait;
                if s.cool_until.is_none_or(|t| t < until) {
                    s.cool_until = Some(until);
                    tracing::warn!(key = %route.label(), ?wait, "the provider says the key's quota is spent; retired until 00:00 UTC");
                }
            }
        }
    }

    /// Why no key can take a request of `calls` calls: every key was refused, or the batch is
    /// larger than the smallest key's rps.
    fn no_key(&self, calls: u32, all_refused: bool) -> Error {
        if all_refused {
            let keys = self.keys.iter().map(|k| k.name.as_str()).collect::<Vec<_>>().join(", ");
            return Error::AllKeysBad { keys };
        }
        let small = self.keys.iter().min_by_key(|k| k.rps);
        Error::BatchTooLarge {
            calls,
            key: small.map(|k| k.name.clone()).unwrap_or_default(),
            rps: small.map_or(0, |k| k.rps),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, rps: u32, daily: u64) -> Key {
        Key::new("test", name, format!("http://node/{name}-secret"), rps, daily)
    }

    #[tokio::test(start_paused = true)]
    async fn no_one_second_window_exceeds_the_rps() {
        let pool = KeyPool::new(vec![key("a", 10, 1_000_000)]).unwrap();
        let mut sent = Vec::new();
        for _ in 0..40 {
            pool.acquire(3).await.unwrap();
            sent.push((Instant::now(), 3u32));
        }
        for (i, (t, _)) in sent.iter().enumerate() {
            let in_window: u32 = sent[i..]
                .iter()
                .take_while(|(u, _)| *u < *t + WINDOW)
                .map(|(_, n)| n)
                .sum();
            assert!(in_window <= 10, "{in_window} calls within 1 s of call {i}");
        }
        // 120 calls at 10 per (1 s + margin): about 11.5 s of virtual time, never faster.
        let elapsed = sent.last().unwrap().0.duration_since(sent[0].0);
        assert!(elapsed >= Duration::from_secs(11), "{elapsed:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn keys_wear_evenly_and_a_spent_key_is_skipped() {
        let pool = KeyPool::new(vec![key("a", 100, 30), key("b", 100, 1000), key("c", 100, 1000)]).unwrap();
        let mut used = std::collections::HashMap::new();
        for _ in 0..60 {
            let r = pool.acquire(1).await.unwrap();
            *used.entry(r.name.clone()).or_insert(0) += 1;
        }
        assert_eq!((used["a"], used["b"], used["c"]), (20, 20, 20));
        for _ in 0..60 {
            let r = pool.acquire(1).await.unwrap();
            *used.entry(r.name.clone()).or_insert(0) += 1;
        }
        assert_eq!(used["a"], 30, "key a's daily budget of 30 is a hard cap");
        assert_eq!(used["b"] + used["c"], 90);
    }

    #[tokio::test(start_paused = true)]
    async fn exhausted_budgets_fail_fast_with_the_next_free_time() {
        let pool = KeyPool::new(vec![key("a", 100, 5), key("b", 100, 5)]).unwrap();
        for _ in 0..10 {
            pool.acquire(1).await.unwrap();
        }
        let started = Instant::now();
        let err = pool.acquire(1).await.unwrap_err();
        assert_eq!(started.elapsed(), Duration::ZERO, "it must not spin or wait");
        let msg = err.to_string();
        assert!(msg.contains("daily budget") && msg.contains("frees in"), "{msg}");
        assert!(!msg.contains("secret"), "{msg}");
        // A day later the budget is back.
        tokio::time::advance(DAY + MINUTE * 2).await;
        pool.acquire(1).await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limited_keys_cool_down_and_refused_keys_are_dropped() {
        let pool = KeyPool::new(vec![key("a", 100, 1000), key("b", 100, 1000)]).unwrap();
        let first = pool.acquire(1).await.unwrap();
        pool.report(
            &first,
            Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(30)),
            },
        )
        .await;
        for _ in 0..5 {
            assert_ne!(
                pool.acquire(1).await.unwrap().name,
                first.name,
                "a cooling key was handed out"
            );
        }
        let other = pool.acquire(1).await.unwrap();
        pool.report(&other, Outcome::Refused).await;
        // Only the cooling key is left: the pool waits for it rather than failing.
        let started = Instant::now();
        assert_eq!(pool.acquire(1).await.unwrap().name, first.name);
        assert!(started.elapsed() >= Duration::from_secs(29));
        pool.report(&first, Outcome::Refused).await;
        let err = pool.acquire(1).await.unwrap_err().to_string();
        assert!(
            err.contains("refused") && err.contains('a') && err.contains('b'),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_show_budgets_left_cool_downs_and_refusals() {
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = ProviderMetrics::new(&mut registry);
        let pool = KeyPool::new(vec![key("a", 100, 1000), key("b", 100, 50)])
            .unwrap()
            .with_metrics(metrics);
        for _ in 0..10 {
            pool.acquire(4).await.unwrap();
        }
        let route = pool.acquire(1).await.unwrap();
        pool.report(&route, Outcome::RateLimited { retry_after: None }).await;
        pool.report(&route, Outcome::Refused).await;
        pool.report_budgets().await.unwrap();
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let used = pool.usage().await.unwrap();
        assert_eq!(used.iter().map(|(_, n)| n).sum::<u64>(), 41);
        for (name, n) in used {
            let daily = if name == "a" { 1000 } else { 50 };
            let want = format!(
                "chainx_key_budget_left_calls{{provider=\"test\",key=\"{name}\"}} {}",
                daily - n
            );
            assert!(text.contains(&want), "missing {want} in\n{text}");
        }
        let r = &route.name;
        for want in [
            format!("chainx_key_cool_downs_total{{provider=\"test\",key=\"{r}\"}} 1"),
            format!("chainx_key_cool_down_seconds{{provider=\"test\",key=\"{r}\"}} 5"),
            format!("chainx_key_refused{{provider=\"test\",key=\"{r}\"}} 1"),
        ] {
            assert!(text.contains(&want), "missing {want} in\n{text}");
        }
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let k = key("a", 1, 1);
        assert!(!format!("{k:?}").contains("secret"));
    }

    #[tokio::test]
    async fn batches_larger_than_every_key_allows_are_refused() {
        let pool = KeyPool::new(vec![key("a", 10, 1000)]).unwrap();
        assert_eq!(pool.max_calls_per_request(), 10);
        let err = pool.acquire(11).await.unwrap_err().to_string();
        assert!(err.contains("11 calls") && err.contains("10 calls per second"), "{err}");
    }
}
