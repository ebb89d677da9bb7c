-- One replica's settlement of one fleet budget, atomically in Redis. It mirrors the reference
-- settlement in pool.rs step by step (docs/fleet.md explains the accounting).
--
-- KEYS[1]  the budget's hash, hash-tagged so that it lives on one Redis Cluster slot
-- ARGV     replica, epoch, held, returned (running total, thousandths), received (running
--          total, thousandths), denied, first attempts (running total), kind (bucket | ratio),
--          p1 p2 p3 (capacity refill 0 | ratio min_per_second window_seconds),
--          interval_us, ttl_intervals, floor_share
local key = KEYS[1]
local replica = ARGV[1]
local epoch_in = ARGV[2]
local held = tonumber(ARGV[3])
local returned_total = tonumber(ARGV[4])
local received_total = tonumber(ARGV[5])
local denied = tonumber(ARGV[6])
local first_total = tonumber(ARGV[7])
local kind = ARGV[8]
local p1, p2, p3 = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local interval_us = math.max(tonumber(ARGV[12]), 1)
local ttl_intervals, floor_share = tonumber(ARGV[13]), tonumber(ARGV[14])

-- Redis's clock, so that the replicas' clocks do not matter.
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local function fmt(x) return string.format('%.17g', x) end

local fields = redis.call('HGETALL', key)
local st = {}
for i = 1, #fields, 2 do st[fields[i]] = fields[i + 1] end
local epoch, level, updated, first_sum
if st.epoch == nil then
  epoch = string.format('%.0f', math.max(now_us, 1))
  if kind == 'ratio' then level = p2 * p3 else level = p1 end
  updated, first_sum = now_us, 0
else
  epoch, level = st.epoch, tonumber(st.level)
  updated, first_sum = tonumber(st.updated), tonumber(st.first_sum)
end
-- Members: m:<id> = "out rate seen ttl returned first granted".
local members = {}
for f, v in pairs(st) do
  if string.sub(f, 1, 2) == 'm:' then
    local m = {}
    for x in string.gmatch(v, '%S+') do m[#m + 1] = tonumber(x) end
    members[string.sub(f, 3)] = { out = m[1], rate = m[2], seen = m[3], ttl = m[4],
      returned = m[5], first = m[6], granted = m[7] }
  end
end

-- 1. What the replica reports.
local me = members[replica]
local spent, elapsed, first = 0, interval_us, 0
if me ~= nil then
  local returned = math.max(returned_total - me.returned, 0)
  local lost = math.max(me.granted - received_total, 0)
  local back = (returned + lost) / 1000
  level = level + back
  spent = math.max(me.out - back - held, 0)
  me.granted = me.granted - lost
  elapsed = math.max(now_us - me.seen, interval_us)
  first = math.max(first_total - me.first, 0)
else
  if epoch_in == '0' then first = first_total end
  me = { granted = received_total }
  members[replica] = me
end
me.out = held
me.rate = (spent + denied) / (elapsed / 1e6)
me.seen = now_us
me.ttl = ttl_intervals * interval_us
me.returned = returned_total
me.first = first_total

-- 2. Refill.
local dt = math.max(now_us - updated, 0) / 1e6
updated = math.max(updated, now_us)
local cap
if kind == 'ratio' then
  local window = math.max(p3, 1e-3)
  first_sum = first_sum * math.exp(-dt / window) + first
  level = level + p2 * dt + p1 * first
  cap = p1 * first_sum + p2 * window
else
  level = level + p2 * dt
  cap = p1
end

-- 3. The silent are gone; what they held counts as spent.
for id, m in pairs(members) do
  if id ~= replica and now_us - m.seen > m.ttl then
    members[id] = nil
    redis.call('HDEL', key, 'm:' .. id)
  end
end

-- 4. Never more than the capacity.
local out_sum, n, demand = 0, 0, 0
for _, m in pairs(members) do
  out_sum, n, demand = out_sum + m.out, n + 1, demand + m.rate
end
level = math.min(level, math.max(cap - out_sum, 0))

-- 5. The next lease.
local share
if demand > 0 then
  share = math.min(math.max(me.rate / demand, floor_share / n), 1)
else
  share = 1 / n
end
local available = math.min(level + out_sum, cap)
local target = math.ceil(math.max(share * available, 0))
-- Whole tokens only: fractions spread over many replicas would strand a token each.
local change_milli = math.floor(math.min(target - me.out, level)) * 1000
-- Tokens asked back stay in the lease until the replica reports them returned.
if change_milli > 0 then
  level = level - change_milli / 1000
  me.out = me.out + change_milli / 1000
  me.granted = me.granted + change_milli
end

redis.call('HSET', key, 'epoch', epoch, 'level', fmt(level), 'updated', fmt(updated),
  'first_sum', fmt(first_sum), 'm:' .. replica,
  table.concat({ fmt(me.out), fmt(me.rate), fmt(me.seen), fmt(me.ttl), fmt(me.returned),
    fmt(me.first), fmt(me.granted) }, ' '))
-- A budget no replica settles for an hour is forgotten.
redis.call('PEXPIRE', key, 3600000)
return { change_milli, epoch, n, string.format('%.0f', share * 1e9), fmt(available) }
