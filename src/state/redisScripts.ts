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
 * - set: `s|<member>` = "1" per member, `#l` the most members it keeps (the greatest, in byte
 *   order), `#x` expiry.
 *
 * Numbers travel as strings so no digit is lost to Lua's number formatting.
 */

/**
 * KEYS[1] the rule's sequence key, KEYS[i+1] the Redis key of op i.
 * ARGV[1] engine time now (ms), ARGV[2] channel ('' = do not publish), ARGV[3] this process's
 * incarnation id, ARGV[4] JSON list of ops, ARGV[5] time-to-live of the sequence key (ms),
 * ARGV[6...] the JSON values of the register writes.
 * Ops: {t='c', k, c={{bucket, total, expiry}...}, ttl} | {t='m', k, v, x, ttl} |
 * {t='r', k, a, ver, w, x, ttl} (its value is ARGV[5 + a]) | {t='d', k, ver, w, x, ttl} |
 * {t='s', k} (read only) | {t='e', k, m={member...}, l, x, ttl} (members added to a set).
 *
 * A register's value is JSON text, stored as it came and embedded as it is (not as a string) in
 * replies and messages: a value of an incident record is a kilobyte or two, which escaping into
 * the op list and the message, and parsing twice on every agent, made the costliest part of
 * sharing state. A stored value that a read finds not to be JSON (written by something else) is
 * read as null with `bad`, so it cannot spoil the rest of a reply.
 *
 * Replies {r=sequence, s=states} (or the bare sequence number when there is nothing to tell): the
 * state of every key read, and of every register the caller's
 * write lost to. Counters and marks tell the writer nothing: what it lacks (another incarnation's
 * count, a higher mark) was published by the call that wrote it and reaches the writer as a
 * message, and they merge the same in any order. The message published on ARGV[2]
 * carries every state that changed, prefixed by the incarnation so receivers skip their own
 * without parsing it. Of a counter it carries only the cells the call changed, as the writer's
 * own totals: {k, t='w', c={{bucket, total, expiry}...}}. A receiver keeps each incarnation's
 * total per cell with the sequence number that told it, so that is all it needs; the whole
 * counter (every bucket of every agent's incarnation) in every message was most of the bytes an
 * agent parsed and Redis encoded.
 */
export const APPLY_SCRIPT = `
local now = tonumber(ARGV[1])
local me = ARGV[3]
local ops = cjson.decode(ARGV[4])

-- One read tells the kind and holds what merging needs: {mark, version, writer, expiry}, or
-- false for a key that is not one of ours. Counters and absent keys both read all nil.
local function head(k)
  local ok, h = pcall(redis.call, 'HMGET', k, '#m', '#ver', '#w', '#x', '#l')
  if not ok then return false end
  return h
end

local function kindOf(h, k)
  if not h then return 'other' end
  if h[1] then return 'm' end
  if h[2] then return 'r' end
  if h[5] then return 'e' end
  if redis.call('EXISTS', k) == 1 then return 'c' end
  return nil
end

local function mergesUnordered(kind)
  return kind == 'c' or kind == 'm' or kind == 'e' or kind == 'other'
end

-- JS compares writer ids by code unit; byte order agrees for any id, unlike Lua's locale-aware '<'.
local function bytesAtLeast(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a >= #b
end

local function newer(ver, w, h)
  local cver = tonumber(h[2])
  if ver ~= cver then return ver > cver end
  return bytesAtLeast(w, h[3])
end

local function extend(k, ttl)
  if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
end

-- Drops the buckets of a counter whose window has passed, but for those just written ('written'):
-- run when a bucket is added, so a counter that never goes idle still holds only its window's
-- buckets. The buckets just written always stay: the writer's clock may run behind the one that
-- set 'now'.
local function prune(k, written)
  local all = redis.call('HGETALL', k)
  local dead
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, 1, 2) == '#e' then
      local b = string.sub(f, 3)
      if not written[b] and tonumber(all[i + 1]) <= now then
        dead = dead or {}
        dead[b] = true
      end
    end
  end
  if not dead then return end
  local gone = {}
  for i = 1, #all, 2 do
    local f = all[i]
    local b
    if string.sub(f, 1, 2) == '#e' then b = string.sub(f, 3) else b = string.match(f, '^(.-)|') end
    if b and dead[b] then gone[#gone + 1] = f end
  end
  redis.call('HDEL', k, unpack(gone))
end

-- The counter's whole state: every bucket's expiry and each incarnation's total in it.
local function counterState(k, key)
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
      if w then
        cell.w[w] = v
      else
        cell.e = v
      end
    end
  end
  return { k = key, t = 'c', c = cells }
end

local function markState(k, key)
  local m = redis.call('HMGET', k, '#m', '#x')
  return { k = key, t = 'm', v = m[1], x = m[2] }
end

-- 'check': the value may not be one an agent wrote (a read of whatever is under the prefix);
-- a register a write lost to is one, and decoding kilobytes of it would only cost Redis time.
local function setState(k, key)
  local all = redis.call('HGETALL', k)
  local m = {}
  local l, x = '0', '0'
  for i = 1, #all, 2 do
    local f = all[i]
    if string.sub(f, 1, 2) == 's|' then m[#m + 1] = string.sub(f, 3)
    elseif f == '#l' then l = all[i + 1]
    elseif f == '#x' then x = all[i + 1] end
  end
  return { k = key, t = 'e', m = m, l = l, x = x }
end

local function registerState(k, key, check)
  local r = redis.call('HMGET', k, '#v', '#ver', '#w', '#d', '#x')
  local v = r[1]
  local bad
  if not v or (check and not pcall(cjson.decode, v)) then v, bad = 'null', '1' end
  return { k = key, t = 'r', v = v, ver = r[2], w = r[3], d = r[4], x = r[5], bad = bad }
end

-- A state as JSON; a register's value (JSON already) goes in as it is.
local function encodeState(st)
  if st.t ~= 'r' then return cjson.encode(st) end
  local v = st.v
  st.v = nil
  local rest = cjson.encode(st)
  st.v = v
  return '{"v":' .. v .. ',' .. string.sub(rest, 2)
end

local function encodeStates(rev, list)
  local parts = {}
  for i, st in ipairs(list) do parts[i] = encodeState(st) end
  return '{"r":' .. rev .. ',"s":[' .. table.concat(parts, ',') .. ']}'
end

local changed = {}
local replies = {}
local maxTtl = 0
for i, op in ipairs(ops) do
  local k = KEYS[i + 1]
  local h = head(k)
  local ttl = tonumber(op.ttl or '0')
  if ttl > maxTtl then maxTtl = ttl end
  local did = false
  local state
  if op.t == 'c' then
    if not h or h[1] or h[2] or h[5] then redis.call('DEL', k) end
    local added = false
    local written = {}
    local set = {}
    local cells = {}
    for _, cell in ipairs(op.c) do
      local b, total, e = cell[1], cell[2], cell[3]
      written[b] = true
      local ek = '#e' .. b
      local f = b .. '|' .. me
      local cur = redis.call('HMGET', k, ek, f)
      if not cur[1] then added = true end
      if not cur[1] or tonumber(cur[1]) < tonumber(e) then
        set[#set + 1] = ek
        set[#set + 1] = e
      end
      if cur[2] ~= total then
        set[#set + 1] = f
        set[#set + 1] = total
        cells[#cells + 1] = cell
        did = true
      end
    end
    if #set > 0 then redis.call('HSET', k, unpack(set)) end
    extend(k, ttl)
    if added then prune(k, written) end
    if did then state = { k = op.k, t = 'w', c = cells } end
  elseif op.t == 'm' then
    if not h or h[2] or (not h[1] and redis.call('EXISTS', k) == 1) then redis.call('DEL', k); h = {} end
    local v = tonumber(op.v)
    local cur = tonumber(h[1])
    if not cur or v > cur then
      redis.call('HSET', k, '#m', op.v)
      did = true
    end
    if not h[4] or tonumber(op.x) > tonumber(h[4]) then redis.call('HSET', k, '#x', op.x) end
    extend(k, ttl)
    if did then state = markState(k, op.k) end
  elseif op.t == 'e' then
    if not h or h[1] or h[2] or (not h[5] and redis.call('EXISTS', k) == 1) then redis.call('DEL', k); h = {} end
    local added = {}
    for _, m in ipairs(op.m) do
      if redis.call('HSETNX', k, 's|' .. m, '1') == 1 then added[#added + 1] = m end
    end
    local limit = tonumber(op.l)
    if h[5] and tonumber(h[5]) >= limit then limit = tonumber(h[5]) else redis.call('HSET', k, '#l', op.l) end
    local x = h[4]
    if not x or tonumber(op.x) > tonumber(x) then
      x = op.x
      redis.call('HSET', k, '#x', x)
      did = true
    end
    if #added > 0 then
      did = true
      if redis.call('HLEN', k) > limit + 2 then
        local fields = redis.call('HKEYS', k)
        local ms = {}
        for _, f in ipairs(fields) do
          if string.sub(f, 1, 2) == 's|' then ms[#ms + 1] = f end
        end
        table.sort(ms)
        local drop = {}
        for i = 1, #ms - limit do drop[#drop + 1] = ms[i] end
        if #drop > 0 then redis.call('HDEL', k, unpack(drop)) end
      end
    end
    extend(k, ttl)
    if did then state = { k = op.k, t = 'e', m = added, l = tostring(limit), x = x } end
  elseif op.t == 'd' and mergesUnordered(kindOf(h, k)) then
    -- Counters and marks merge without order: deleting one forgets it.
    redis.call('DEL', k)
    did = true
    state = { k = op.k, t = 'x' }
  elseif op.t == 'r' or op.t == 'd' then
    -- A deletion of a register is a write of a tombstone, so a write older than it stays dead.
    local isReg = h and h[2]
    if not h or (not isReg and (h[1] or redis.call('EXISTS', k) == 1)) then redis.call('DEL', k) end
    if not isReg or newer(tonumber(op.ver), op.w, h) then
      local x = op.x
      -- A tombstone keeps the register's life; the same write sent again (after a reconnect) keeps the longer one.
      if isReg and (op.t == 'd' or (h[2] == op.ver and h[3] == op.w and tonumber(h[4]) > tonumber(x))) then x = h[4] end
      local deleted = op.t == 'd'
      local v = deleted and 'null' or ARGV[5 + op.a]
      redis.call('HSET', k, '#v', v, '#ver', op.ver, '#w', op.w, '#d', deleted and '1' or '0', '#x', x)
      did = true
      state = { k = op.k, t = 'r', v = v, ver = op.ver, w = op.w, d = deleted and '1' or '0', x = x }
    else
      -- Lost: the writer hears of the winner now, before it writes again on top of what it holds.
      replies[#replies + 1] = registerState(k, op.k)
    end
    extend(k, ttl)
  else
    local kind = kindOf(h, k)
    if kind == 'c' then state = counterState(k, op.k)
    elseif kind == 'm' then state = markState(k, op.k)
    elseif kind == 'r' then state = registerState(k, op.k, true)
    elseif kind == 'e' then state = setState(k, op.k)
    else state = { k = op.k, t = 'n' } end
    replies[#replies + 1] = state
  end
  if did then changed[#changed + 1] = state end
end

local rev
if #changed > 0 then
  rev = redis.call('INCR', KEYS[1])
  extend(KEYS[1], math.max(maxTtl, tonumber(ARGV[5])))
  if ARGV[2] ~= '' then
    redis.call('PUBLISH', ARGV[2], me .. '\\n' .. encodeStates(rev, changed))
  end
else
  rev = tonumber(redis.call('GET', KEYS[1]) or '0')
end
-- Mostly nothing to tell: the bare sequence number spares both sides the JSON.
if #replies == 0 then return rev end
return encodeStates(rev, replies)
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

/**
 * The partition table of the owners design: which agent owns which partition of the groups, for
 * how long, under which fence. One hash, so one script sees the whole table at once and no
 * partition is ever handed to two agents:
 * - `m|<agent>` = the time (ms, Redis's clock) until which the agent counts as alive;
 * - `o|<partition>` = `<fence> <until> <agent>`: the partition's last term. A term that has run
 *   out (or was given back: until 0) leaves the partition free; the next owner's fence is one more,
 *   so work done under an old term is recognisably stale;
 * - `t|<agent>` = the event time (ms) through which the agent has put every event it sends on the
 *   partitions' streams: owners take a partition's events in time order up to the least of the live
 *   agents' (`PARTITIONS_WATERMARK_SCRIPT`). It goes with the agent's mark.
 * - `replid` = the server's replication id when a round last ran, and `settled` = the time (ms)
 *   before which no free partition is taken, set when a round finds the id changed: Redis is
 *   another dataset than the one the agents wrote to (a replica promoted in a failover, a restart),
 *   which may lack their last sends and notification claims. The agents still alive reconnect
 *   meanwhile, claim their notifications again and send again what no replica had acknowledged,
 *   so that the next holder of a partition whose term ran out replays all of it, and notifies
 *   nothing its last holder did. The same wait follows a round of an agent that was gone past its
 *   term and finds no other live (every agent was cut off from Redis, or stopped, and this one is
 *   back first): the others come back meanwhile, so that their marks hold the owners back again
 *   before the events they could not send while away arrive (taken as late otherwise);
 * - `epoch` = made by the first round on an empty table. An agent that knew another one finds the
 *   data lost (a FLUSHALL, a restart without persistence): its terms are written back as it held
 *   them, where the table has none, and free partitions wait as above, so every live agent keeps
 *   its partitions (and writes their checkpoints back whole) rather than one taking them empty.
 *   A round that makes the epoch while the table holds another agent's mark (`t|`, which agents
 *   write only after their first round, and so on a table that had an epoch) waits as well: the
 *   data was lost and that agent lives on, and an agent starting then must not take its
 *   partitions before the live agent's next round writes them back. So does a round that makes the
 *   epoch on a server up for less than the wait (INFO server's uptime): it came back without its
 *   data (a restart without persistence) or is new, and the agents that held partitions on the
 *   dataset it lost may still be reconnecting; free partitions wait as long from the server's
 *   start, which a cold start on a new server pays once. An agent starting in the moment between
 *   a FLUSHALL and the live agents' next marks (every `flush_interval`) cannot tell.
 *
 * Terms and liveness are dated by Redis's own clock (TIME), never the agents', whose clocks may
 * disagree.
 *
 * KEYS[1] the table. ARGV[1] the agent, ARGV[2] the term (ms), ARGV[3] the number of partitions,
 * ARGV[4] how long free partitions wait after the dataset changed (ms), ARGV[5] the epoch the agent
 * knows ('' for none), then the partitions it holds and their fences, in pairs.
 * Marks the agent alive, drops agents whose mark ran out, and works out its fair share: the live
 * agents in byte order, each `floor(P / n)` partitions and the first `P mod n` one more. Renews
 * every term the agent holds and takes free partitions, lowest first, up to its share (none while
 * `settled` is ahead). Terms held beyond the share are renewed too but flagged: the holder gives
 * them back (with the release script) when it has handed their state over, so an agent that joins
 * gets its share without anyone's state being cut off mid-batch.
 *
 * Returns {live agents, share, data lost (0|1), epoch, partition, fence, surplus (0|1), ...} for
 * every term the agent holds.
 */
export const PARTITIONS_STEP_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local me, term, count = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local untilMs = now + term
local mine = tonumber(redis.call('HGET', KEYS[1], 'm|' .. me) or '0')
redis.call('HSET', KEYS[1], 'm|' .. me, untilMs)
local replid = string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)') or ''
local was = redis.call('HGET', KEYS[1], 'replid')
local settled = tonumber(redis.call('HGET', KEYS[1], 'settled') or '0')
-- Free partitions wait from the time given (now by default) on, for ARGV[4] ms (the table's settled field).
local function settle(from)
  settled = math.max(settled, (from or now) + tonumber(ARGV[4]))
  redis.call('HSET', KEYS[1], 'settled', settled)
end
if was ~= replid then
  if was then settle() end
  redis.call('HSET', KEYS[1], 'replid', replid)
end
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  -- Another agent's mark on a table without an epoch: it marks only after a round, which would
  -- have made one, so it knew the table Redis lost, and lives on with its partitions' state.
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(f, 1, 2) == 't|' and string.sub(f, 3) ~= me then
      settle()
      break
    end
  end
  -- A server that started less than the wait ago came back without its data (a restart without
  -- persistence), or is new: agents that held partitions on the dataset it lost may be
  -- reconnecting, and free partitions wait for them as long from its start.
  local up = tonumber(string.match(redis.call('INFO', 'server'), 'uptime_in_seconds:(%d+)') or '')
  if up and up * 1000 < tonumber(ARGV[4]) then settle(now - up * 1000) end
  epoch = now .. '-' .. me
  redis.call('HSET', KEYS[1], 'epoch', epoch)
end
local lost = 0
if ARGV[5] ~= '' and ARGV[5] ~= epoch then
  lost = 1
  settle()
  for i = 6, #ARGV - 1, 2 do
    redis.call('HSETNX', KEYS[1], 'o|' .. ARGV[i], ARGV[i + 1] .. ' ' .. untilMs .. ' ' .. me)
  end
end
local all = redis.call('HGETALL', KEYS[1])
local members, owner, expiry, fence, sent, live = {}, {}, {}, {}, {}, {}
for i = 1, #all, 2 do
  local f, v = all[i], all[i + 1]
  local kind = string.sub(f, 1, 2)
  if kind == 'm|' then
    if tonumber(v) > now then
      members[#members + 1] = string.sub(f, 3)
      live[string.sub(f, 3)] = true
    else
      redis.call('HDEL', KEYS[1], f)
    end
  elseif kind == 't|' then
    sent[#sent + 1] = string.sub(f, 3)
  elseif kind == 'o|' then
    local p = tonumber(string.sub(f, 3))
    local fe, x, a = string.match(v, '^(%d+) (%d+) (.*)$')
    if p and fe then
      fence[p], expiry[p], owner[p] = tonumber(fe), tonumber(x), a
    end
  end
end
-- Byte order, as JS sorts agent ids; Lua's '<' on strings follows the locale.
local function before(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
for _, a in ipairs(sent) do
  if not live[a] then redis.call('HDEL', KEYS[1], 't|' .. a) end
end
table.sort(members, before)
local index = 1
for i, m in ipairs(members) do
  if m == me then index = i end
end
local n = #members
if n == 1 and mine > 0 and mine <= now then settle() end
local share = math.floor(count / n)
if index <= count % n then share = share + 1 end
local held, free = {}, {}
for p = 0, count - 1 do
  local live = expiry[p] and expiry[p] > now
  if live and owner[p] == me then
    held[#held + 1] = p
  elseif not live then
    free[#free + 1] = p
  end
end
local out = { n, share, lost, epoch }
for i, p in ipairs(held) do
  redis.call('HSET', KEYS[1], 'o|' .. p, fence[p] .. ' ' .. untilMs .. ' ' .. me)
  out[#out + 1] = p
  out[#out + 1] = fence[p]
  out[#out + 1] = (i > share) and 1 or 0
end
local taking = math.min(share - #held, #free)
if now < settled then taking = 0 end
for i = 1, taking do
  local p = free[i]
  local fe = (fence[p] or 0) + 1
  redis.call('HSET', KEYS[1], 'o|' .. p, fe .. ' ' .. untilMs .. ' ' .. me)
  out[#out + 1] = p
  out[#out + 1] = fe
  out[#out + 1] = 0
end
return out
`;

/**
 * KEYS[1] the partition table. The least of the live agents' `t|` times: every event at or before
 * it is on the partitions' streams, so an owner may take a partition's events up to it in time
 * order. An agent whose mark ran out no longer holds it back (its events on the streams are taken
 * as they come); one that has marked nothing yet neither. Returns '' when no live agent has marked.
 */
export const PARTITIONS_WATERMARK_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local live, sent = {}, {}
for i = 1, #all, 2 do
  local kind = string.sub(all[i], 1, 2)
  if kind == 'm|' and tonumber(all[i + 1]) > now then live[string.sub(all[i], 3)] = true end
  if kind == 't|' then sent[string.sub(all[i], 3)] = all[i + 1] end
end
local least
for a, v in pairs(sent) do
  if live[a] and (least == nil or tonumber(v) < tonumber(least)) then least = v end
end
return least or ''
`;

/**
 * Runs under a partition's term only. KEYS[1] the partition table, KEYS[2] a hash the holder
 * writes, KEYS[3] a hash of fields staged for it and KEYS[4] a set of its fields staged for
 * removal (both emptied here), KEYS[5...] streams it trims. ARGV[1] agent, ARGV[2] partition,
 * ARGV[3] fence, ARGV[4] 'release' to give the term back, 'write', or 'replace' to empty KEYS[2]
 * first; ARGV[5] how many fields to delete from KEYS[2] (d), ARGV[6] how many streams to trim (t),
 * ARGV[7] '1' to take in what KEYS[3] and KEYS[4] hold; then the d fields, the t stream ids (each
 * stream keeps what is at or after its id: XTRIM MINID), and the rest name, value pairs to set in
 * KEYS[2]. A write too large for one call's arguments stages its fields and removals first, with
 * plain commands. Nothing happens unless the term is the caller's, under its fence, and has not
 * run out: a holder that stalled past its term cannot overwrite what the next one wrote. All of it
 * or nothing, so a checkpoint is never half written. Returns 1 when done, 0 when the term is not
 * the caller's.
 */
export const PARTITION_FENCED_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local v = redis.call('HGET', KEYS[1], 'o|' .. ARGV[2])
if not v then return 0 end
local fe, x, a = string.match(v, '^(%d+) (%d+) (.*)$')
if a ~= ARGV[1] or fe ~= ARGV[3] or tonumber(x) <= now then return 0 end
if ARGV[4] == 'release' then
  redis.call('HSET', KEYS[1], 'o|' .. ARGV[2], fe .. ' 0 ' .. a)
  return 1
end
if ARGV[4] == 'replace' then redis.call('DEL', KEYS[2]) end
-- In slices: unpack() of many thousands of values overflows Lua's stack.
local function inSlices(cmd, list, from, to, step)
  for i = from, to, step do
    redis.call(cmd, KEYS[2], unpack(list, i, math.min(i + step - 1, to)))
  end
end
if ARGV[7] == '1' then
  local gone = redis.call('SMEMBERS', KEYS[4])
  inSlices('HDEL', gone, 1, #gone, 1000)
  local staged = redis.call('HGETALL', KEYS[3])
  inSlices('HSET', staged, 1, #staged, 1000)
  redis.call('DEL', KEYS[3], KEYS[4])
end
local deletes, trims = tonumber(ARGV[5]), tonumber(ARGV[6])
local at = 8
inSlices('HDEL', ARGV, at, at + deletes - 1, 1000)
at = at + deletes
for i = 1, trims do
  redis.call('XTRIM', KEYS[4 + i], 'MINID', ARGV[at])
  at = at + 1
end
inSlices('HSET', ARGV, at, #ARGV, 1000)
return 1
`;

/**
 * An agent's send to the partitions' streams, and what Redis's replication says of it. KEYS[1] the
 * partition table, KEYS[2...] the streams written, one entry each. ARGV[1] the replication id the
 * agent last saw ('' when it knows none), ARGV[2] and ARGV[3] the agent's mark (field and value in
 * the table; '' for none), then per entry its field count and its fields (name, value pairs).
 *
 * Writes nothing when the server's replication id is not ARGV[1]: Redis is another dataset than
 * the one the agent wrote to (a replica promoted in a failover, a restart), which may lack the
 * agent's last writes; the agent sends those again first (a call made before, and retried by the
 * client on the new master, is refused the same way). Returns {1 written | 0 refused, replication
 * id, master offset before these writes, the highest offset a replica acknowledged (-1: none),
 * replicas}.
 */
export const PARTITION_SEND_SCRIPT = `
local info = redis.call('INFO', 'replication')
local replid = string.match(info, 'master_replid:(%x+)') or ''
local offset = string.match(info, 'master_repl_offset:(%d+)') or '0'
local acked, replicas = -1, 0
for o in string.gmatch(info, 'slave%d+:[^\\r\\n]-offset=(%d+)') do
  replicas = replicas + 1
  if tonumber(o) > acked then acked = tonumber(o) end
end
if ARGV[1] ~= '' and ARGV[1] ~= replid then return {0, replid, offset, tostring(acked), replicas} end
local at = 4
for k = 2, #KEYS do
  local c = tonumber(ARGV[at])
  redis.call('XADD', KEYS[k], '*', unpack(ARGV, at + 1, at + c))
  at = at + c + 1
end
if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[3]) end
return {1, replid, offset, tostring(acked), replicas}
`;

/**
 * KEYS[1] a ticket record hash. ARGV[1] the id of an incident that merged into ARGV[2]. A record
 * of ARGV[1] becomes ARGV[2]'s, keeping its ticket and state; a record of ARGV[2] learns the
 * merged id. In one step, so a store by another agent between a read and a write cannot be lost.
 * Returns 1 when the record changed.
 */
export const TICKET_MERGE_SCRIPT = `
local id = redis.call('HGET', KEYS[1], 'incidentId')
if id ~= ARGV[1] and id ~= ARGV[2] then return 0 end
local ids, seen = {}, {}
for m in string.gmatch(redis.call('HGET', KEYS[1], 'mergedIds') or '', '[^,]+') do
  if m ~= ARGV[2] and not seen[m] then
    seen[m] = true
    ids[#ids + 1] = m
  end
end
if id == ARGV[2] and seen[ARGV[1]] then return 0 end
if not seen[ARGV[1]] then ids[#ids + 1] = ARGV[1] end
table.sort(ids)
redis.call('HSET', KEYS[1], 'incidentId', ARGV[2], 'mergedIds', table.concat(ids, ','))
return 1
`;

/**
 * Claims of notifications, several in one call (all their keys in one slot). KEYS the claims of
 * each notification in turn, one per id of the incident. ARGV[1] ttl (ms), then three per
 * notification: its owner token, `p` to claim it pending (the notification is yet to go out: a
 * claim of an owner that dies before sending it may be taken over) or `d` done, and how many of
 * KEYS are its claims. A claim holds `<owner>\n<p|d>` (a bare owner, as older versions wrote:
 * done). A notification's claims are all taken unless another owner holds any of them done, or
 * pending and not superseded: a pending claim of `<agent>@<partition>:<fence>` is taken over by
 * the owner of a later term of the same partition (a higher fence), which replays the change its
 * last holder claimed and may not have sent. A pending claim finding the same owner's claim done
 * is refused: sent already (a promoted replica that lost a fence increment hands the next term the
 * same fence, and so the same owner). Notifications are claimed in order, as one call each would.
 * Replies two items per notification: 1 when the owner holds its claims (now, or already: a
 * retry; a done claim stays done), 2 when it does having taken over a pending claim (the second
 * item then names the writer it was pending under, else ''), 0 when refused (nothing written).
 */
export const NOTIFY_CLAIM_SCRIPT = `
local function term(owner)
  local p, fence = string.match(owner, '@(%d+):(%d+)$')
  return p, tonumber(fence)
end
-- The claims KEYS[first..last] for owner me: 0, 1 or 2, and the writer a claim was taken from.
local function claim(first, last, me, state)
  local mineP, mineFence = term(me)
  local from = nil
  for i = first, last do
    local v = redis.call('GET', KEYS[i])
    if v then
      local owner, held = string.match(v, '^(.*)\\n([pd])$')
      if not owner then owner, held = v, 'd' end
      if owner == me then
        -- Sent already under this very writer: a fence lost in a failover can repeat a term's writer.
        if held == 'd' and state == 'p' then return 0, '' end
        if held == 'd' then state = 'd' end
      else
        if held ~= 'p' or not mineP then return 0, '' end
        local p, fence = term(owner)
        if p ~= mineP or not fence or fence >= mineFence then return 0, '' end
        from = owner
      end
    end
  end
  for i = first, last do
    redis.call('SET', KEYS[i], me .. '\\n' .. state, 'PX', ARGV[1])
  end
  if from then return 2, from end
  return 1, ''
end
local out, k = {}, 1
for a = 2, #ARGV, 3 do
  local n = tonumber(ARGV[a + 2])
  local won, from = claim(k, k + n - 1, ARGV[a], ARGV[a + 1])
  out[#out + 1] = won
  out[#out + 1] = from
  k = k + n
end
return out
`;

/**
 * KEYS the claims of one notification (as NOTIFY_CLAIM_SCRIPT's). ARGV[1] ttl (ms), ARGV[2] the
 * claiming owner, ARGV[3] an owner known gone (its incarnation's presence expired). Takes the
 * claims over, pending for ARGV[2], where each is absent, pending under the gone owner, or
 * pending under ARGV[2] already (a retry): 1. Any claim done, or held by another owner: 0.
 */
export const NOTIFY_TAKEOVER_SCRIPT = `
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then
    local owner, held = string.match(v, '^(.*)\\n([pd])$')
    if held ~= 'p' or (owner ~= ARGV[3] and owner ~= ARGV[2]) then return 0 end
  end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2] .. '\\np', 'PX', ARGV[1])
end
return 1
`;

/**
 * KEYS the claims of several notifications in turn (as NOTIFY_CLAIM_SCRIPT's). ARGV[1] ttl (ms),
 * then two per notification: its owner token and how many of KEYS are its claims. Marks each
 * owner's pending claims done: the notification went out. Returns how many claims were marked.
 */
export const NOTIFY_DONE_SCRIPT = `
local n, k = 0, 1
for a = 2, #ARGV, 2 do
  local last = k + tonumber(ARGV[a + 1]) - 1
  for i = k, last do
    if redis.call('GET', KEYS[i]) == ARGV[a] .. '\\np' then
      redis.call('SET', KEYS[i], ARGV[a] .. '\\nd', 'PX', ARGV[1])
      n = n + 1
    end
  end
  k = last + 1
end
return n
`;

/**
 * Writes back one silence of the partitions' shared silences (Redis lost its data): KEYS[1] their
 * hash, ARGV[1] the id, ARGV[2] its JSON, ARGV[3] its `updatedAtMs`. Writes it unless the hash
 * holds a version of it as new or newer (another agent wrote back a later edit, or an operator
 * made it again since). 1 when written.
 */
export const SILENCE_RESTORE_SCRIPT = `
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held then
  local ok, s = pcall(cjson.decode, held)
  if ok and type(s) == 'table' and tonumber(s.updatedAtMs) and tonumber(s.updatedAtMs) >= tonumber(ARGV[3]) then
    return 0
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

/**
 * A notification group's hash: `#h` its header as formed (JSON: key, id, labels, timers,
 * creation), `#flushed`, `#changed`, `#notified` (JSON) and `#version` as the last flush left
 * them, `#news` (how many changes were news), `#seq` (members ever joined, for their order),
 * `#n` (members now), and one field `m:<incident key>` per member: `<1 firing|0 resolved><seq>|<JSON>`.
 *
 * KEYS[1] the group. ARGV[1] now (ms), ARGV[2] the header a group formed now has, ARGV[3] ttl
 * (ms), ARGV[4] the time since which a write-back (`#restored`, see GROUP_RESTORE_SCRIPT) makes
 * the group keep resolutions of members it lacks, ARGV[5] '1' to keep them (and form the group
 * from one) whatever the group, then four per change: incident key, '1' firing or '0', '1' when
 * such a change is news (not a person's acknowledgement, comment or assignment), the member's
 * JSON. joinGroup's rules: a resolution of a member the group never had changes nothing, and the
 * first firing member forms the group. Replies the header fields (#h, #flushed, #changed,
 * #notified, #version), or nil when no group exists.
 */
export const GROUP_JOIN_SCRIPT = `
local exists = redis.call('HEXISTS', KEYS[1], '#h') == 1
local changed = false
-- After Redis lost the group, the agent that knew a member may not have written it back yet.
local keepResolutions = ARGV[5] == '1'
if not keepResolutions and exists then
  local restored = redis.call('HGET', KEYS[1], '#restored')
  keepResolutions = restored ~= false and tonumber(restored) >= tonumber(ARGV[4])
end
for i = 6, #ARGV, 4 do
  local field = 'm:' .. ARGV[i]
  local firing = ARGV[i + 1]
  local known = redis.call('HGET', KEYS[1], field)
  if firing == '1' or known or keepResolutions then
    if not exists then
      redis.call('HSET', KEYS[1], '#h', ARGV[2], '#n', 0, '#news', 0, '#seq', 0, '#version', 0)
      exists = true
    end
    local seq
    if known then
      seq = string.match(known, '^[01](%d+)|')
    else
      seq = redis.call('HINCRBY', KEYS[1], '#seq', 1)
      redis.call('HINCRBY', KEYS[1], '#n', 1)
    end
    redis.call('HSET', KEYS[1], field, firing .. seq .. '|' .. ARGV[i + 3])
    if ARGV[i + 2] == '1' and (not known or string.sub(known, 1, 1) ~= firing) then
      redis.call('HINCRBY', KEYS[1], '#news', 1)
      if redis.call('HEXISTS', KEYS[1], '#changed') == 0 then redis.call('HSET', KEYS[1], '#changed', ARGV[1]) end
    end
    changed = true
  end
end
if not exists then return false end
if changed then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return redis.call('HMGET', KEYS[1], '#h', '#flushed', '#changed', '#notified', '#version')
`;

/**
 * Records a group's flush, under its flush lease. KEYS[1] the group, KEYS[2] its lease, KEYS[3]
 * its fence. ARGV[1] owner token, ARGV[2] the fence held, ARGV[3] the `#h` read, ARGV[4] the
 * flush time, ARGV[5] the `#news` read, ARGV[6] the notification's `#notified` ('' when none
 * was sent) and ARGV[7] its `#version`, ARGV[8] ttl (ms), then pairs: a member field the flush
 * drops (resolved, now reported) and the value it read. A member another agent changed since
 * the read stays, and so does news told since (`#changed`): the next tick flushes it. Gives the
 * lease back (the fence stays, so the next term's is higher). Replies -1 when the lease lapsed
 * (nothing written), 0 when the group is gone (no member left, or another group formed
 * meanwhile), else the header fields as the join script does.
 */
export const GROUP_FLUSH_SCRIPT = `
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('GET', KEYS[3]) ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[2])
if redis.call('HGET', KEYS[1], '#h') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], '#flushed', ARGV[4])
if redis.call('HGET', KEYS[1], '#news') == ARGV[5] then redis.call('HDEL', KEYS[1], '#changed') end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], '#notified', ARGV[6], '#version', ARGV[7]) end
for i = 9, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('HINCRBY', KEYS[1], '#n', -1)
  end
end
if tonumber(redis.call('HGET', KEYS[1], '#n') or '0') <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[8])
return redis.call('HMGET', KEYS[1], '#h', '#flushed', '#changed', '#notified', '#version')
`;

/**
 * Writes back a group Redis lost (a restart without persistence, a failover to a replica that
 * missed it, a FLUSHALL), as one agent knew it: every agent that knew the group does so, and
 * what they wrote merges. KEYS[1] the group. ARGV[1] now (ms), ARGV[2] the header it formed
 * with (`#h`), ARGV[3] ttl (ms), then what its last flush known to the agent left: ARGV[4]
 * `#flushed`, ARGV[5] `#changed`, ARGV[6] `#notified` ('' for each it lacks), ARGV[7]
 * `#version`; then five per member: incident key, '1' firing or '0', the incident's
 * `updatedAtMs` and `version`, the member's JSON.
 *
 * - The flush the group knows is the latest any agent wrote back (the highest `#version`, then
 *   `#flushed`), so a group already notified is not notified anew. A group of another id that
 *   formed later (a join after the loss by an agent that had not noticed it) takes this one's
 *   header and flush; one that formed earlier is the group now, and the agent's members of the
 *   one before, all reported resolved since, are not written.
 * - Of two agents' states of a member the later incident change wins (a resolution over the
 *   firing state it ended, at equal stamps), so an agent that missed a resolution does not
 *   bring the member back firing.
 * - A member that differs from what the last notification told is news, so the next tick tells it.
 * - `#restored` keeps the latest write-back's time: until the other agents have written back
 *   too, joins keep resolutions of members the group lacks, and no flush runs.
 *
 * Replies the header fields as the join script does.
 */
export const GROUP_RESTORE_SCRIPT = `
local mine = cjson.decode(ARGV[2])
local h = redis.call('HGET', KEYS[1], '#h')
local takeFlush = false
-- Members of a group that formed after the loss: they joined after this agent's, and are listed after them.
local later = {}
if not h then
  redis.call('HSET', KEYS[1], '#h', ARGV[2], '#n', 0, '#news', 0, '#seq', 0, '#version', 0)
  takeFlush = true
else
  local theirs = cjson.decode(h)
  if theirs.id ~= mine.id then
    if tonumber(theirs.createdAtMs) < tonumber(mine.createdAtMs) then
      return redis.call('HMGET', KEYS[1], '#h', '#flushed', '#changed', '#notified', '#version')
    end
    redis.call('HSET', KEYS[1], '#h', ARGV[2], '#n', 0, '#seq', 0)
    local all = redis.call('HGETALL', KEYS[1])
    for i = 1, #all, 2 do
      if string.sub(all[i], 1, 2) == 'm:' then
        later[#later + 1] = all[i]
        later[#later + 1] = all[i + 1]
        redis.call('HDEL', KEYS[1], all[i])
      end
    end
    takeFlush = true
  else
    local v = tonumber(redis.call('HGET', KEYS[1], '#version') or '0')
    local mv = tonumber(ARGV[7])
    local f = tonumber(redis.call('HGET', KEYS[1], '#flushed') or '-1')
    local mf = tonumber(ARGV[4] == '' and '-1' or ARGV[4])
    takeFlush = mv > v or (mv == v and mf > f)
  end
end
local restored = redis.call('HGET', KEYS[1], '#restored')
if not restored or tonumber(restored) < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], '#restored', ARGV[1]) end
if takeFlush then
  redis.call('HSET', KEYS[1], '#version', ARGV[7])
  if ARGV[4] == '' then redis.call('HDEL', KEYS[1], '#flushed') else redis.call('HSET', KEYS[1], '#flushed', ARGV[4]) end
  if ARGV[6] == '' then redis.call('HDEL', KEYS[1], '#notified') else redis.call('HSET', KEYS[1], '#notified', ARGV[6]) end
end
local changed = redis.call('HGET', KEYS[1], '#changed')
local function changedBy(at)
  if not changed or tonumber(at) < tonumber(changed) then
    changed = at
    redis.call('HSET', KEYS[1], '#changed', at)
  end
  redis.call('HINCRBY', KEYS[1], '#news', 1)
end
-- News this agent's flush had not told yet; a later flush it did not know of has told it.
if ARGV[5] ~= '' and (takeFlush or tonumber(ARGV[5]) >= tonumber(redis.call('HGET', KEYS[1], '#flushed') or '-1')) then
  changedBy(ARGV[5])
end

local told = {}
local notified = redis.call('HGET', KEYS[1], '#notified')
if notified then
  local n = cjson.decode(notified)
  for _, k in ipairs(n.firing) do told[k] = '1' end
  for _, k in ipairs(n.resolved) do told[k] = '0' end
end
-- The JSON of a member as stored, and its incident's updatedAtMs and version.
local function parse(value)
  local json = string.sub(value, string.find(value, '|', 1, true) + 1)
  local ok, m = pcall(cjson.decode, json)
  if not ok or type(m) ~= 'table' or type(m.incident) ~= 'table' then return json, -1, -1 end
  return json, tonumber(m.incident.updatedAtMs) or -1, tonumber(m.incident.version) or -1
end
local news = false
local function merge(key, firing, at, ver, json)
  local field = 'm:' .. key
  local known = redis.call('HGET', KEYS[1], field)
  local seq
  if known then
    seq = string.match(known, '^[01](%d+)|')
    local _, kat, kver = parse(known)
    if at < kat or (at == kat and (ver < kver or (ver == kver and (firing == '1' or string.sub(known, 1, 1) == '0')))) then
      return
    end
  else
    seq = redis.call('HINCRBY', KEYS[1], '#seq', 1)
    redis.call('HINCRBY', KEYS[1], '#n', 1)
  end
  redis.call('HSET', KEYS[1], field, firing .. seq .. '|' .. json)
  if told[key] ~= firing then news = true end
end
for i = 8, #ARGV, 5 do
  merge(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), ARGV[i + 4])
end
for i = 1, #later, 2 do
  local json, at, ver = parse(later[i + 1])
  merge(string.sub(later[i], 3), string.sub(later[i + 1], 1, 1), at, ver, json)
end
if news then changedBy(ARGV[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return redis.call('HMGET', KEYS[1], '#h', '#flushed', '#changed', '#notified', '#version')
`;
