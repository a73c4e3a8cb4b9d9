/**
 * Lua scripts that merge state in Redis atomically. One `apply` call carries every pending write
 * of one rule (one hash tag, so one Cluster slot) and answers with the merged state of each key,
 * stamped with the rule's sequence number, which it also publishes so other agents converge.
 *
 * Layout (all hashes; fields starting with `#` are metadata, so they never collide with cells):
 * - counter: `<bucket>|<incarnation>` = that agent process's own total for the bucket, and
 *   `#e<bucket>` = the bucket's expiry. An agent writes its absolute total, never an increment,
 *   so a flush retried after a lost reply cannot count twice, and after Redis loses its data
 *   every agent can write its totals back. The cell's value is the sum over incarnations.
 * - mark: `#m` value, `#x` expiry.
 * - register: `#v` JSON value, `#ver` version, `#w` writer, `#d` "1" when a tombstone, `#x` expiry.
 *
 * Numbers travel as strings so no digit is lost to Lua's number formatting.
 */

const COMMON = `
local function kindOf(k)
  local t = redis.call('TYPE', k).ok
  if t == 'none' then return nil end
  if t ~= 'hash' then return 'other' end
  if redis.call('HEXISTS', k, '#m') == 1 then return 'm' end
  if redis.call('HEXISTS', k, '#ver') == 1 then return 'r' end
  return 'c'
end

local function counterSnapshot(k, key)
  local all = redis.call('HGETALL', k)
  local cells = {}
  for i = 1, #all, 2 do
    local f, v = all[i], all[i + 1]
    local b, w
    if string.sub(f, 1, 2) == '#e' then
      b = string.sub(f, 3)
    else
      b, w = string.match(f, '^(.-)|(.*)$')
    end
    if b then
      local cell = cells[b]
      if not cell then
        cell = { e = '0', w = {} }
        cells[b] = cell
      end
      if w then cell.w[w] = v else cell.e = v end
    end
  end
  return { k = key, t = 'c', c = cells }
end

local function snapshot(k, key, kind)
  if kind == 'c' then return counterSnapshot(k, key) end
  if kind == 'm' then
    local m = redis.call('HMGET', k, '#m', '#x')
    return { k = key, t = 'm', v = m[1], x = m[2] }
  end
  if kind == 'r' then
    local r = redis.call('HMGET', k, '#v', '#ver', '#w', '#d', '#x')
    return { k = key, t = 'r', v = r[1], ver = r[2], w = r[3], d = r[4], x = r[5] }
  end
  return { k = key, t = 'n' }
end
`;

/**
 * KEYS[1] the rule's sequence key, KEYS[i+1] the Redis key of op i.
 * ARGV[1] engine time now (ms), ARGV[2] channel ('' = do not publish), ARGV[3] this process's
 * incarnation id, ARGV[4] JSON list of ops, ARGV[5] time-to-live of the sequence key (ms).
 * Ops: {t='c', k, c={{bucket, total, expiry}...}, ttl} | {t='m', k, v, x, ttl} |
 * {t='r', k, v, ver, w, x, ttl} | {t='d', k, ver, w, x, ttl} | {t='s', k} (read only).
 */
export const APPLY_SCRIPT = `${COMMON}
local now = tonumber(ARGV[1])
local me = ARGV[3]
local ops = cjson.decode(ARGV[4])

-- JS compares writer ids by code unit; byte order agrees for any id, unlike Lua's locale-aware '<'.
local function bytesAtLeast(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a >= #b
end

local function newer(ver, w, k)
  local cur = redis.call('HMGET', k, '#ver', '#w')
  local cver = tonumber(cur[1])
  if ver ~= cver then return ver > cver end
  return bytesAtLeast(w, cur[2])
end

local function extend(k, ttl)
  if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
end

-- Drops buckets whose window has passed; run when a bucket is added, so a counter that never
-- goes idle still holds only its window's buckets. The buckets just written always stay: the
-- writer's clock may run behind the one that set 'now'.
local function prune(k, written)
  local all = redis.call('HGETALL', k)
  local dead = {}
  local any = false
  for i = 1, #all, 2 do
    local f = all[i]
    local b = string.sub(f, 3)
    if string.sub(f, 1, 2) == '#e' and not written[b] and tonumber(all[i + 1]) <= now then
      dead[b] = true
      any = true
    end
  end
  if not any then return end
  for i = 1, #all, 2 do
    local f = all[i]
    local b
    if string.sub(f, 1, 2) == '#e' then b = string.sub(f, 3) else b = string.match(f, '^(.-)|') end
    if b and dead[b] then redis.call('HDEL', k, f) end
  end
end

local changed = {}
local results = {}
local maxTtl = 0
for i, op in ipairs(ops) do
  local k = KEYS[i + 1]
  local kind = kindOf(k)
  local ttl = tonumber(op.ttl or '0')
  if ttl > maxTtl then maxTtl = ttl end
  local did = false
  local gone = false
  if op.t == 'c' then
    if kind ~= nil and kind ~= 'c' then redis.call('DEL', k) end
    local added = false
    local written = {}
    for _, cell in ipairs(op.c) do
      local b, total, e = cell[1], cell[2], cell[3]
      written[b] = true
      local ek = '#e' .. b
      local ce = redis.call('HGET', k, ek)
      if not ce then
        added = true
        redis.call('HSET', k, ek, e)
      elseif tonumber(ce) < tonumber(e) then
        redis.call('HSET', k, ek, e)
      end
      local f = b .. '|' .. me
      if redis.call('HGET', k, f) ~= total then
        redis.call('HSET', k, f, total)
        did = true
      end
    end
    if added then prune(k, written) end
  elseif op.t == 'm' then
    if kind ~= nil and kind ~= 'm' then redis.call('DEL', k); kind = nil end
    local cur = kind and redis.call('HMGET', k, '#m', '#x')
    if not cur or tonumber(op.v) > tonumber(cur[1]) then
      redis.call('HSET', k, '#m', op.v)
      did = true
    end
    if not cur or tonumber(op.x) > tonumber(cur[2]) then redis.call('HSET', k, '#x', op.x) end
  elseif op.t == 'r' then
    if kind ~= nil and kind ~= 'r' then redis.call('DEL', k); kind = nil end
    if kind == nil or newer(tonumber(op.ver), op.w, k) then
      local x = op.x
      if kind then
        local cur = redis.call('HMGET', k, '#x', '#ver', '#w')
        -- The same write sent again (after a reconnect) keeps the longer life it already had.
        if cur[2] == op.ver and cur[3] == op.w and tonumber(cur[1]) > tonumber(x) then x = cur[1] end
      end
      redis.call('HSET', k, '#v', op.v, '#ver', op.ver, '#w', op.w, '#d', '0', '#x', x)
      did = true
    end
  elseif op.t == 'd' then
    if kind == 'c' or kind == 'm' or kind == 'other' then
      -- Counters and marks merge without order: deleting one forgets it.
      redis.call('DEL', k)
      did = true
      gone = true
    elseif kind == nil or newer(tonumber(op.ver), op.w, k) then
      -- A tombstone, so a write older than the deletion cannot bring the register back.
      if kind == nil then redis.call('HSET', k, '#x', op.x) end
      redis.call('HSET', k, '#v', 'null', '#ver', op.ver, '#w', op.w, '#d', '1')
      did = true
    end
  end
  if not gone and op.t ~= 's' then extend(k, ttl) end
  local snap
  if gone then snap = { k = op.k, t = 'x' } else snap = snapshot(k, op.k, kindOf(k)) end
  results[i] = snap
  if did then changed[#changed + 1] = snap end
end

local rev
if #changed > 0 then
  rev = redis.call('INCR', KEYS[1])
  extend(KEYS[1], math.max(maxTtl, tonumber(ARGV[5])))
  if ARGV[2] ~= '' then
    redis.call('PUBLISH', ARGV[2], cjson.encode({ r = rev, f = me, s = changed }))
  end
else
  rev = tonumber(redis.call('GET', KEYS[1]) or '0')
end
return cjson.encode({ r = rev, s = results })
`;

/**
 * KEYS[1] lease, KEYS[2] fence, optional KEYS[3] a ticket record hash. ARGV[1] owner token,
 * ARGV[2] ttl (ms). Returns the fence, or 0 when another owner holds it, or when KEYS[3] records
 * an open ticket (someone created it between our read and our claim).
 */
export const LEASE_ACQUIRE_SCRIPT = `
if KEYS[3] and redis.call('HGET', KEYS[3], 'resolved') == '0' then return 0 end
-- The fence outlives every term by far, yet does not stay forever for a one-off lease.
local fenceTtl = tonumber(ARGV[2]) * 10
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local fence = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], fenceTtl)
  return fence
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], fenceTtl)
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
return 0
`;

/**
 * KEYS[1] lease, KEYS[2] fence. ARGV[1] owner token, ARGV[2] ttl (ms), ARGV[3] the fence the owner
 * holds. Renews only when both still match: an owner whose lease lapsed and was taken (even by
 * itself, later) is told so instead of extending someone else's term.
 */
export const LEASE_RENEW_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 10)
  return 1
end
return 0
`;

/** KEYS[1] lease, KEYS[2] fence. ARGV[1] owner token, ARGV[2] fence. */
export const LEASE_RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] and redis.call('GET', KEYS[2]) == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;
