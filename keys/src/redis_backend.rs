//! Key accounting shared by every replica through Redis (shared mode): the same rules as the
//! in-process pool, kept in Redis and applied by one Lua script per acquisition, so the purge,
//! the choice and the record are atomic and use Redis's clock, not the replicas'.
//!
//! Per key `<ns>:<provider>/<name>` (two providers may use one pseudo-name):
//! - `:calls`: sorted set, one member per unit sent (a call, or a credit where calls are
//!   priced), scored by its time (ms): the rps window;
//! - `:minutes` / `:mins`: hash minute -> calls plus `total`, and the sorted set of minutes
//!   held, for the sliding 24 h budget;
//! - `:cool`: until when (ms) the key cools down after a rate limit;
//! - `:refused`: set once a provider refused the key (expires after a day, to re-probe).

use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::Script;

use crate::error::{Error, Result};

const ACQUIRE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local minute = math.floor(tonumber(t[1]) / 60)
local calls = tonumber(ARGV[1])
local n = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local day_minutes = 1440
local best, best_used, soonest, soonest_i = nil, nil, nil, nil
for i = 1, n do
  local zk, hk, mk, ck, rk = KEYS[i*5-4], KEYS[i*5-3], KEYS[i*5-2], KEYS[i*5-1], KEYS[i*5]
  local rps = tonumber(ARGV[3 + i*3 - 2])
  local daily = tonumber(ARGV[3 + i*3 - 1])
  local units = tonumber(ARGV[3 + i*3])
  -- One call costing more than the key's second takes that whole second, alone.
  local need = math.min(units, rps)
  if redis.call('EXISTS', rk) == 0 and (units <= rps or calls == 1) then
    redis.call('ZREMRANGEBYSCORE', zk, '-inf', now - window)
    local old = redis.call('ZRANGEBYSCORE', mk, '-inf', minute - day_minutes)
    for _, m in ipairs(old) do
      local c = tonumber(redis.call('HGET', hk, m) or '0')
      redis.call('HINCRBY', hk, 'total', -c)
      redis.call('HDEL', hk, m)
      redis.call('ZREM', mk, m)
    end
    local used = tonumber(redis.call('HGET', hk, 'total') or '0')
    local cool = tonumber(redis.call('GET', ck) or '0')
    local free_at
    if cool > now then
      free_at = cool
    elseif used + units > daily then
      local oldest = redis.call('ZRANGE', mk, 0, 0)
      local m = tonumber(oldest[1] or minute)
      free_at = (m + 1 + day_minutes) * 60000
    else
      local count = redis.call('ZCARD', zk)
      if count + need <= rps then
        free_at = now
      else
        local e = redis.call('ZRANGE', zk, count + need - rps - 1, count + need - rps - 1, 'WITHSCORES')
        free_at = tonumber(e[2]) + window
      end
    end
    if free_at <= now then
      if best == nil or used < best_used then best, best_used = i, used end
    elseif soonest == nil or free_at < soonest then
      soonest, soonest_i = free_at, i
    end
  end
end
if best then
  local zk, hk, mk = KEYS[best*5-4], KEYS[best*5-3], KEYS[best*5-2]
  local units = tonumber(ARGV[3 + best*3])
  local need = math.min(units, tonumber(ARGV[3 + best*3 - 2]))
  local seq = redis.call('INCRBY', KEYS[n*5+1], need)
  for j = 1, need do redis.call('ZADD', zk, now, (seq - j) .. '') end
  redis.call('HINCRBY', hk, minute, units)
  redis.call('HINCRBY', hk, 'total', units)
  redis.call('ZADD', mk, minute, minute)
  for _, k in ipairs({zk, hk, mk}) do redis.call('PEXPIRE', k, 90000000) end
  return {best, 0}
end
if soonest then return {-soonest_i, soonest - now} end
return {0, 0}
"#;

#[derive(Debug)]
pub(crate) struct RedisBackend {
    conn: MultiplexedConnection,
    namespace: String,
    acquire: Script,
}

/// What one acquisition attempt found.
pub(crate) enum Pick {
    /// Use key `i` now.
    Key(usize),
    /// Key `i` is the first to free, in `wait`.
    Wait(usize, Duration),
    /// No key can ever take this request.
    None,
}

impl RedisBackend {
    pub(crate) async fn connect(url: &str, namespace: &str) -> Result<Self> {
        let shown = crate::error::redact_redis(url);
        let bad = |e: redis::RedisError| Error::Coordinator {
            url: shown.clone(),
            reason: e.to_string(),
        };
        let client = redis::Client::open(url).map_err(bad)?;
        let conn = client.get_multiplexed_async_connection().await.map_err(bad)?;
        Ok(RedisBackend {
            conn,
            namespace: namespace.to_string(),
            acquire: Script::new(ACQUIRE),
        })
    }

    fn key(&self, name: &str, part: &str) -> String {
        format!("{}:{name}:{part}", self.namespace)
    }

    /// Picks among `keys` as (name, rps, daily, what this request costs there) for a request
    /// of `calls` calls.
    pub(crate) async fn pick(&self, keys: &[(String, u32, u64, u32)], calls: u32, window: Duration) -> Result<Pick> {
        let mut inv = self.acquire.prepare_invoke();
        for (name, _, _, _) in keys {
            for part in ["calls", "minutes", "mins", "cool", "refused"] {
                inv.key(self.key(name, part));
            }
        }
        inv.key(format!("{}:seq", self.namespace));
        inv.arg(calls).arg(keys.len()).arg(window.as_millis() as u64);
        for (_, rps, daily, units) in keys {
            inv.arg(*rps).arg(*daily).arg(*units);
        }
        let (i, wait_ms): (i64, i64) = inv
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(match i {
            0 => Pick::None,
            i if i > 0 => Pick::Key(i as usize - 1),
            i => Pick::Wait((-i) as usize - 1, Duration::from_millis(wait_ms.max(0) as u64)),
        })
    }

    pub(crate) async fn cool_down(&self, name: &str, wait: Duration) -> Result<()> {
        // The key's cool-down end, on Redis's clock: now + wait, kept only as long as it matters.
        let script = Script::new(
            "local t = redis.call('TIME'); local until_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1]);
             local cur = tonumber(redis.call('GET', KEYS[1]) or '0');
             if until_ms > cur then redis.call('SET', KEYS[1], until_ms, 'PX', tonumber(ARGV[1]) + 1000) end
             return until_ms",
        );
        let _: i64 = script
            .key(self.key(name, "cool"))
            .arg(wait.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(crate) async fn refuse(&self, name: &str) -> Result<()> {
        let _: () = redis::cmd("SET")
            .arg(self.key(name, "refused"))
            .arg(1)
            .arg("EX")
            .arg(86_400)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    pub(crate) async fn used_24h(&self, name: &str) -> Result<u64> {
        let v: Option<u64> = redis::cmd("HGET")
            .arg(self.key(name, "minutes"))
            .arg("total")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(v.unwrap_or(0))
    }

    fn err(&self, e: redis::RedisError) -> Error {
        Error::Coordinator {
            url: format!("redis namespace {}", self.namespace),
            reason: e.to_string(),
        }
    }
}

/// Renews a lease only if this replica still holds it (its value is ours).
const RENEW: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/// Releases a lease only if this replica still holds it.
const RELEASE: &str =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

impl RedisBackend {
    /// Tries to lease key `name` for `ttl`; returns the lease value (replica and fencing token).
    pub(crate) async fn try_lease(&self, name: &str, replica: &str, ttl: Duration) -> Result<Option<String>> {
        let mut conn = self.conn.clone();
        let token: u64 = redis::cmd("INCR")
            .arg(self.key(name, "fence"))
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        let value = format!("{replica}:{token}");
        let set: Option<String> = redis::cmd("SET")
            .arg(self.key(name, "lease"))
            .arg(&value)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis() as u64)
            .query_async(&mut conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(set.map(|_| value))
    }

    /// Extends the lease if still ours; false when it was lost (expired and taken).
    pub(crate) async fn renew(&self, name: &str, value: &str, ttl: Duration) -> Result<bool> {
        let n: i64 = Script::new(RENEW)
            .key(self.key(name, "lease"))
            .arg(value)
            .arg(ttl.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(n == 1)
    }

    pub(crate) async fn release(&self, name: &str, value: &str) -> Result<()> {
        let _: i64 = Script::new(RELEASE)
            .key(self.key(name, "lease"))
            .arg(value)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Who holds key `name`'s lease, if anyone (the replica part of the value).
    pub(crate) async fn holder(&self, name: &str) -> Result<Option<String>> {
        let v: Option<String> = redis::cmd("GET")
            .arg(self.key(name, "lease"))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.err(e))?;
        Ok(v.and_then(|v| v.rsplit_once(':').map(|(r, _)| r.to_string())))
    }
}
