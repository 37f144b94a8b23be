-- wrk script: every request comes from a new client address (10.a.b.c in X-Forwarded-For), for the
-- memory rate-limit store under high-cardinality keys. The gateway must trust the loopback peer
-- (server.trustedProxies: [127.0.0.1/32]) so that the address is the key. Use one wrk thread
-- (-t1): the counter is per thread, and one thread gives 16.7 million distinct addresses.
--   wrk -t1 -c64 -d170s -s bench/distinct-ips.lua http://127.0.0.1:8080/api/x
local i = 0
request = function()
  i = i + 1
  local ip = string.format("10.%d.%d.%d", math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256)
  return wrk.format("GET", nil, { ["X-Forwarded-For"] = ip })
end
