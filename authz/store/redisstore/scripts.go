package redisstore

import "github.com/redis/go-redis/v9"

// The Lua scripts. Each runs atomically on the server; every key a script
// touches belongs to one user (one hash tag), so they run on Redis Cluster.

// casScript replaces a record only if it still holds what the caller read:
// the optimistic update behind UpdateEnrollment, UpdatePendingCode and
// PutEnrollment. Records are sealed with a random nonce, so equal bytes
// mean the same write. Two replicas consuming the same one-time or
// recovery code both read it unused, but only the first swap succeeds; the
// second re-reads and finds it used.
//
// KEYS[1] record; KEYS[2..] keys deleted when the swap happens (the replay
// guard when the TOTP factor changes). ARGV[1] expected value ("" absent),
// ARGV[2] new value ("" deletes), ARGV[3] PX expiry in ms (0: none).
// Returns 1 when swapped, 0 when the record changed meanwhile.
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == false then cur = '' end
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
elseif tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
for i = 2, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
`)

// deleteScript removes an enrollment with its session, replay guard and
// pending codes. KEYS[1] enrollment, KEYS[2] session (deleted in any
// case), KEYS[3..] the others. Returns 0 when there was no enrollment.
var deleteScript = redis.NewScript(`
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for i = 1, #KEYS do redis.call('DEL', KEYS[i]) end
return 1
`)

// useStepScript is the TOTP replay guard: it records ARGV[1] (a decimal
// step without leading zeros) in KEYS[1] only if it is greater than the
// step stored there, compare-and-set-max. Returns 1 when recorded, 0 on a
// replay. Comparing by length, then bytes, is exact for any uint64.
var useStepScript = redis.NewScript(`
local last = redis.call('GET', KEYS[1])
local s = ARGV[1]
if last and (#last > #s or (#last == #s and last >= s)) then return 0 end
redis.call('SET', KEYS[1], s)
return 1
`)

// reserveScript checks and counts a send against fixed-window counters,
// all or none: KEYS[i] a hash {s: window start ms, n: count}; ARGV[1] now
// ms, then per key its window ms and limit. Returns {0, reset ms of the
// first key} when every counter was counted, {i, reset ms} when counter i
// (1-based) has reached its limit and nothing was counted. Each key
// expires with its window. A window from the future (the clock stepped
// back, or a caller that read the clock earlier ran later) moves back to
// now and keeps its count, as the Dir's does.
var reserveScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local s, n, reset = {}, {}, {}
for i = 1, #KEYS do
  local window, limit = tonumber(ARGV[2*i]), tonumber(ARGV[2*i+1])
  s[i] = tonumber(redis.call('HGET', KEYS[i], 's') or '')
  n[i] = tonumber(redis.call('HGET', KEYS[i], 'n') or '0')
  if s[i] == nil or now - s[i] >= window then s[i] = now; n[i] = 0 end
  if s[i] > now then s[i] = now end
  reset[i] = s[i] + window
  if n[i] >= limit then return {i, reset[i]} end
end
for i = 1, #KEYS do
  redis.call('HSET', KEYS[i], 's', s[i], 'n', n[i] + 1)
  redis.call('PEXPIRE', KEYS[i], math.max(reset[i] - now, 1))
end
return {0, reset[1]}
`)

// beginScript reserves a verification attempt (regulation). KEYS[1] ban
// (value: ban end ms, expires with the ban), KEYS[2] failures hash {n, s:
// window start ms}, KEYS[3] in-flight attempts (sorted set: id -> lease end
// ms), KEYS[4] the streak hash {c: wrong codes in a row, b: bans in a row},
// kept until a right code. ARGV[1] now ms, ARGV[2] window ms, ARGV[3] max
// failures, ARGV[4] attempt id, ARGV[5] lease ms, ARGV[6] max consecutive
// failures. In-flight attempts count against the limits like failures, so
// concurrent guesses on any number of replicas cannot exceed them (once
// the consecutive limit is reached, one attempt at a time); a replica that
// dies holding one loses it when its lease ends.
// Returns {0, 0} when reserved, {1, retry-at ms} when refused.
var beginScript = redis.NewScript(`
local now, window, max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local maxc = tonumber(ARGV[6])
local bu = tonumber(redis.call('GET', KEYS[1]) or '0')
if bu > now then return {1, bu} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
local s = tonumber(redis.call('HGET', KEYS[2], 's') or '0')
if n > 0 and now - s >= window then n = 0; redis.call('DEL', KEYS[2]) end
local c = tonumber(redis.call('HGET', KEYS[4], 'c') or '0')
local inflight = redis.call('ZCARD', KEYS[3])
if n + inflight >= max or inflight >= math.max(maxc - c, 1) then return {1, now + window} end
local lease = tonumber(ARGV[5])
redis.call('ZADD', KEYS[3], now + lease, ARGV[4])
redis.call('PEXPIRE', KEYS[3], lease)
return {0, 0}
`)

// failScript settles an attempt as a wrong code: it drops the reservation
// and counts the failure in the window and in the streak. At the max
// consecutive failure it locks the user out for the lockout; else at the
// max-th failure of the window it bans for the base ban doubled per
// earlier ban in the streak, at most the longest ban. Either sets the ban
// with a PX expiry and forgets the window's failures. Same KEYS as
// beginScript; ARGV[1] now ms, ARGV[2] window ms, ARGV[3] max failures,
// ARGV[4] attempt id, ARGV[5] ban ms, ARGV[6] max consecutive failures,
// ARGV[7] longest ban ms, ARGV[8] lockout ms. Returns 1 when the user is
// now banned.
var failScript = redis.NewScript(`
local now, window, max, ban = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
local maxc, maxban, lockout = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
redis.call('ZREM', KEYS[3], ARGV[4])
local n = tonumber(redis.call('HGET', KEYS[2], 'n') or '0')
local s = tonumber(redis.call('HGET', KEYS[2], 's') or '0')
if n > 0 and now - s >= window then n = 0 end
if n == 0 then s = now end
n = n + 1
local c = redis.call('HINCRBY', KEYS[4], 'c', 1)
local d = 0
if c >= maxc then
  d = lockout
elseif n >= max then
  d = ban
  local b = tonumber(redis.call('HGET', KEYS[4], 'b') or '0')
  for i = 1, b do
    if d >= maxban then break end
    d = d * 2
  end
  if d > maxban then d = maxban end
end
if d > 0 then
  redis.call('HINCRBY', KEYS[4], 'b', 1)
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], now + d, 'PX', d)
  return 1
end
redis.call('HSET', KEYS[2], 'n', n, 's', s)
redis.call('PEXPIRE', KEYS[2], math.max(s + window - now, 1))
return 0
`)

// succeedScript settles an attempt as a right code: it drops the
// reservation and forgets the failures and the streak. KEYS as
// beginScript; ARGV[1] id.
var succeedScript = redis.NewScript(`
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[4])
return 1
`)
