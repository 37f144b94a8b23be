/**
 * The Redis side of ../algorithm.ts. One EVALSHA decides a batch of requests (those that arrived in
 * one event-loop turn), each request's limits read, decided and written in order inside one atomic
 * script, so N gateways sharing a Redis count exactly and a request costs at most one round trip
 * (usually a share of one).
 *
 * ARGV     S, the number of distinct rate sets in the batch (a route's limits are one set, and most
 *          batches hold one or two routes); then per set: n (its number of limits), then per limit:
 *          interval T (µs), limit L, 1 when enforced / 0 in shadow mode; then R, the number of
 *          requests; then per request: the number (1-based) of its rate set
 * KEYS     the buckets of every limit of every request, in the same order
 *          (prefix + route + limit name + key value)
 * A request costs one argument besides its keys: every argument is a string ioredis measures and
 * copies into the command, which made the arguments the store's largest cost on the gateway.
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
local sets, a = {}, 1
for s = 1, tonumber(ARGV[1]) do
  local n = tonumber(ARGV[a + 1])
  local set = { n = n }
  for i = 1, n do
    set[i] = { T = tonumber(ARGV[a + 3 * i - 1]), L = tonumber(ARGV[a + 3 * i]), E = ARGV[a + 3 * i + 1] == '1' }
  end
  sets[s] = set
  a = a + 1 + 3 * n
end
local k = 0
a = a + 1
for r = 1, tonumber(ARGV[a]) do
  local set = sets[tonumber(ARGV[a + r])]
  local n = set.n
  local tats, over = {}, {}
  local allowed = 1
  for i = 1, n do
    local rate = set[i]
    local tat = tonumber(redis.call('GET', KEYS[k + i]) or '0')
    if tat < now then tat = now end
    tats[i] = tat
    over[i] = (tat - now) > (rate.L - 1) * rate.T
    if over[i] and rate.E then allowed = 0 end
  end
  out[#out + 1] = allowed
  for i = 1, n do
    local T, L = set[i].T, set[i].L
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
end
return out
`;
