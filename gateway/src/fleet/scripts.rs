//! The Lua scripts the fleet runs in Redis. Each runs atomically (Redis runs one script at a
//! time), on Redis's clock (`TIME`), so replicas whose clocks disagree still agree on time.
//!
//! Sent by SHA (`EVALSHA`) through `redis::Script`, which loads a script again after Redis
//! restarted and forgot it.

use redis::Script;

/// Reconciles a batch of rate-limit keys; see `fleet/quota.rs` for the design.
///
/// `KEYS`: one hash per fleet key (`tat` = theoretical arrival time in µs of Redis time;
/// `n:<node>` = when each replica last asked for a lease).
/// `ARGV[1]`: now in µs, or `""` for Redis's `TIME` (tests pass a fake clock);
/// `ARGV[2]`: this node's id; `ARGV[3]`: look-ahead in µs (`sync_interval`); `ARGV[4]`: how
/// long a replica counts as active on a key after its last lease, in µs; then per key four
/// values: emission interval `T` (µs, may be fractional), bucket depth `tau` (µs, `burst ×
/// T`), `refund` (signed tokens: positive returns an unused lease, negative charges requests
/// admitted without one) and `want` (tokens; 0 releases the key).
///
/// Returns per key `{lease, free, active, wait_us}`: tokens reserved for the caller, tokens
/// still free (without look-ahead), replicas active on the key (the caller included when it
/// wanted a lease) and µs until a token is free.
pub const RECONCILE: &str = r"
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local me = 'n:' .. ARGV[2]
local horizon = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local out = {}
for i, key in ipairs(KEYS) do
  local at = 4 + (i - 1) * 4
  local T = tonumber(ARGV[at + 1])
  local tau = tonumber(ARGV[at + 2])
  local refund = tonumber(ARGV[at + 3])
  local want = tonumber(ARGV[at + 4])
  local fields = redis.call('HGETALL', key)
  local tat = now
  local active = 0
  for j = 1, #fields, 2 do
    local f, v = fields[j], fields[j + 1]
    if f == 'tat' then
      tat = tonumber(v)
    elseif f ~= me and string.sub(f, 1, 2) == 'n:' then
      if tonumber(v) >= now - window then
        active = active + 1
      else
        redis.call('HDEL', key, f)
      end
    end
  end
  -- GCRA: a TAT in the past is a full bucket; a refund never makes it more than full.
  if tat < now then tat = now end
  tat = tat - refund * T
  if tat < now then tat = now end
  local lease = 0
  if want > 0 then
    active = active + 1
    redis.call('HSET', key, me, now)
    local avail = math.floor((now + tau + horizon - tat) / T)
    if avail > 0 then
      local share = math.floor(avail / active)
      if share < 1 then share = 1 end
      lease = math.min(want, share)
      tat = tat + lease * T
    end
  else
    redis.call('HDEL', key, me)
  end
  local free = math.floor((now + tau - tat) / T)
  if free < 0 then free = 0 end
  local wait = tat + T - tau - now
  if wait < 0 then wait = 0 end
  redis.call('HSET', key, 'tat', string.format('%.17g', tat))
  -- Kept a minute past the last moment it matters: a key that expires is a full bucket.
  redis.call('PEXPIRE', key, math.ceil((tat - now + tau + window) / 1000) + 60000)
  out[#out + 1] = {lease, free, active, math.ceil(wait)}
end
return out
";

/// Reads the overrides: `KEYS[1]` the version, `KEYS[2]` the state hash. Returns
/// `{version or false, {field, value, ...}}` from one instant.
pub const OVERRIDES_READ: &str = r"
return {redis.call('GET', KEYS[1]), redis.call('HGETALL', KEYS[2])}
";

/// Writes overrides: `KEYS[1]` version, `KEYS[2]` state hash, `KEYS[3]` the audit stream.
/// `ARGV[1]`: expected version (`""`: any; the `If-Match` of the admin call), `ARGV[2]` who,
/// `ARGV[3]` what, `ARGV[4]` node, `ARGV[5]` the stream's approximate cap, `ARGV[6]` the
/// number of fields to set, then `field, value` pairs to set and fields to delete.
///
/// Returns `{0, current}` when the version does not match, else `{1, version, {state}, ms}`:
/// the new version, the whole state after the write and Redis's time. The stream entry holds
/// who, what, node, before and after (the state hash as JSON) and the time.
pub const OVERRIDES_WRITE: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= current then
  return {0, current}
end
local function as_map(flat)
  local m = {}
  for i = 1, #flat, 2 do m[flat[i]] = flat[i + 1] end
  return cjson.encode(m)
end
local before = redis.call('HGETALL', KEYS[2])
local sets = tonumber(ARGV[6])
local i = 7
for _ = 1, sets do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
while i <= #ARGV do
  redis.call('HDEL', KEYS[2], ARGV[i])
  i = i + 1
end
local after = redis.call('HGETALL', KEYS[2])
local version = redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*',
  'version', version, 'who', ARGV[2], 'what', ARGV[3], 'node', ARGV[4],
  'before', as_map(before), 'after', as_map(after), 'at_ms', ms)
return {1, version, after, ms}
";

/// Seeds empty overrides from a replica's last-known copy (Redis lost its data): `KEYS` as
/// [`OVERRIDES_WRITE`]; `ARGV[1]` the version, `ARGV[2]` node, `ARGV[3]` the stream's cap,
/// then `field, value` pairs. Does nothing (returns 0) when a version exists.
pub const OVERRIDES_SEED: &str = r"
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local i = 4
while i < #ARGV do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('SET', KEYS[1], ARGV[1])
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*',
  'version', ARGV[1], 'who', 'fleet', 'what', 're-seeded from a replica (Redis had no overrides)',
  'node', ARGV[2], 'before', '{}', 'after', '{}', 'at_ms', ms)
return 1
";

/// A heartbeat: `KEYS[1]` the members hash; `ARGV[1]` node, `ARGV[2]` its record (JSON;
/// `""`: only read), `ARGV[3]` the expiry in ms. Records are stored as `<ms> <json>`; those
/// older than the expiry are removed. Returns `{now_ms, node, record, ...}` of live members.
pub const MEMBERS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[1], ARGV[1], now .. ' ' .. ARGV[2])
  redis.call('PEXPIRE', KEYS[1], ttl * 2)
end
local all = redis.call('HGETALL', KEYS[1])
local out = {now}
for i = 1, #all, 2 do
  local at = tonumber(string.match(all[i + 1], '^(%d+) '))
  if at == nil or now - at > ttl then
    redis.call('HDEL', KEYS[1], all[i])
  else
    out[#out + 1] = all[i]
    out[#out + 1] = all[i + 1]
  end
end
return out
";

/// Removes a member at shutdown: `KEYS[1]` the members hash, `ARGV[1]` the node.
pub const LEAVE: &str = r"
return redis.call('HDEL', KEYS[1], ARGV[1])
";

/// The scripts, compiled once (SHA computed) per process.
#[derive(Debug)]
pub struct Scripts {
    /// [`RECONCILE`].
    pub reconcile: Script,
    /// [`OVERRIDES_READ`].
    pub overrides_read: Script,
    /// [`OVERRIDES_WRITE`].
    pub overrides_write: Script,
    /// [`OVERRIDES_SEED`].
    pub overrides_seed: Script,
    /// [`MEMBERS`].
    pub members: Script,
    /// [`LEAVE`].
    pub leave: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts {
            reconcile: Script::new(RECONCILE),
            overrides_read: Script::new(OVERRIDES_READ),
            overrides_write: Script::new(OVERRIDES_WRITE),
            overrides_seed: Script::new(OVERRIDES_SEED),
            members: Script::new(MEMBERS),
            leave: Script::new(LEAVE),
        }
    }
}
