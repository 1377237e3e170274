//! Lua scripts for every move that touches more than one key, so each happens whole or not at
//! all: a task is never acknowledged without being completed, rescheduled or dead-lettered.

/// KEYS: stream, result list, counters hash. ARGV: group, entry id, result json, result ttl
/// seconds, final status (counted).
pub const COMPLETE: &str = r#"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('HINCRBY', KEYS[3], ARGV[5], 1)
return 1
"#;

/// KEYS: stream, due zset, payload hash. ARGV: group, entry id, task id, due ms, payload.
pub const RETRY_LATER: &str = r#"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1
"#;

/// KEYS: stream, dlq hash, dlq index zset, result list, sealed payload hash.
/// ARGV: group, entry id ('' for none), letter id, letter json, now ms, result json ('' for
/// none), result ttl seconds, the message as received (kept apart for replays).
pub const DEAD_LETTER: &str = r#"
if ARGV[2] ~= '' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[5], ARGV[3], ARGV[8])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
if ARGV[6] ~= '' then
  redis.call('RPUSH', KEYS[4], ARGV[6])
  redis.call('EXPIRE', KEYS[4], ARGV[7])
end
return 1
"#;

/// KEYS: stream. ARGV: group, entry id, payload. Returns the new entry id.
pub const HAND_BACK: &str = r#"
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
return redis.call('XADD', KEYS[1], '*', 'task', ARGV[3])
"#;

/// KEYS: due zset, payload hash, stream. ARGV: now ms, limit. Returns how many moved.
pub const PROMOTE_DUE: &str = r#"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  local payload = redis.call('HGET', KEYS[2], id)
  if payload then
    redis.call('XADD', KEYS[3], '*', 'task', payload)
  end
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
end
return #ids
"#;

/// KEYS: dlq hash, dlq index, stream, result list, sealed payload hash. ARGV: letter id,
/// payload. 1 if replayed, 0 if gone. The old (dead-lettered) result is removed so waiters
/// see the new one.
pub const REPLAY: &str = r#"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('XADD', KEYS[3], '*', 'task', ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[5], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[4])
return 1
"#;

/// KEYS: dlq hash, dlq index, sealed payload hash. ARGV: cutoff ms. Returns how many were
/// removed.
pub const PURGE: &str = r#"
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(ids) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZREM', KEYS[2], id)
end
return #ids
"#;

/// Claims the deliveries of workers whose heartbeat key has expired, whatever their idle time
/// (the visibility timeout is only the backstop for a worker that is alive but stuck).
/// KEYS: stream. ARGV: group, this consumer, heartbeat key prefix, max, min idle ms.
/// Returns [entry, deliveries] pairs, entries as XCLAIM gives them.
///
/// The heartbeat keys share the stream's hash tag, so they live on its node.
pub const CLAIM_ORPHANS: &str = r#"
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[5], '-', '+', 200)
local wanted, counts, alive = {}, {}, {}
for _, e in ipairs(pending) do
  local owner = e[2]
  if owner ~= ARGV[2] then
    if alive[owner] == nil then
      alive[owner] = redis.call('EXISTS', ARGV[3] .. owner) == 1
    end
    if not alive[owner] then
      table.insert(wanted, e[1])
      counts[e[1]] = e[4] + 1
      if #wanted >= tonumber(ARGV[4]) then break end
    end
  end
end
if #wanted == 0 then return {} end
local claimed = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[5], unpack(wanted))
local out = {}
for _, entry in ipairs(claimed) do
  table.insert(out, {entry, counts[entry[1]] or 1})
end
return out
"#;
