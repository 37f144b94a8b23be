/**
 * The Redis side of ../algorithm.ts. One EVALSHA decides a batch of requests (those that arrived in
 * one event-loop turn), each request's limits read, decided and written in order inside one atomic
 * script, so N gateways sharing a Redis count exactly and a request costs at most one round trip
 * (usually a share of one).
 *
 * ARGV[1]  R, the number of requests in the batch; then per request: n (its number of limits),
 *          then per limit: interval T (µs), limit L, 1 when enforced / 0 in shadow mode
 * KEYS     the buckets of every limit of every request, in the same order
 *          (prefix + route + limit name + key value)
 * returns  per request: allowed (1/0), then per limit: remaining, reset (µs), over (1/0)
 *
 * The clock is the Redis server's (TIME), not the gateway's: every gateway instance sees one clock,
 * so skew between hosts cannot hand out extra requests. Redis 7 replicates script effects, not the
 * script, so reading TIME in a writing script is allowed and replicas get the same values.
 * Times are integer microseconds (< 2^53, exact in Lua's doubles); Redis writes a Lua number
 * argument with 17 significant digits, so a TAT round-trips through SET/GET exactly.
 * A bucket expires when it would be full again (TAT - now): Redis memory follows live clients only.
 */
export const GCRA_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
local k, a = 0, 1
for r = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a + 1])
  a = a + 1
  local tats, over = {}, {}
  local allowed = 1
  for i = 1, n do
    local T = tonumber(ARGV[a + 3 * i - 2])
    local L = tonumber(ARGV[a + 3 * i - 1])
    local tat = tonumber(redis.call('GET', KEYS[k + i]) or '0')
    if tat < now then tat = now end
    tats[i] = tat
    over[i] = (tat - now) > (L - 1) * T
    if over[i] and ARGV[a + 3 * i] == '1' then allowed = 0 end
  end
  out[#out + 1] = allowed
  for i = 1, n do
    local T = tonumber(ARGV[a + 3 * i - 2])
    local L = tonumber(ARGV[a + 3 * i - 1])
    local tat = tats[i]
    if allowed == 1 and not over[i] then
      tat = tat + T
      redis.call('SET', KEYS[k + i], tat, 'PX', math.max(1, math.ceil((tat - now) / 1000)))
    end
    local free = L * T - (tat - now)
    local remaining = math.floor(free / T)
    if remaining < 0 then remaining = 0 end
    out[#out + 1] = remaining
    out[#out + 1] = (remaining + 1) * T - free
    out[#out + 1] = over[i] and 1 or 0
  end
  k = k + n
  a = a + 3 * n
end
return out
`;
