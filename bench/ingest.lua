-- wrk script for POST /v1/events (bench/ingest.sh, bench/replay.sh).
--
--   wrk ... -s ingest.lua URL/v1/events -- BODY_DIR NBODIES [REQUESTS_PER_THREAD]
--
-- Cycles through BODY_DIR/body-000.json ... (written by bench-gen-events). Each body's
-- event ids carry a 12-byte placeholder; every request replaces it with a 12-byte
-- prefix unique to the run, the thread and the request, so that no event is ever a
-- duplicate. With REQUESTS_PER_THREAD a thread stops after that many responses (use one
-- connection per thread for an exact count). done() prints what the server answered:
--   ingest: responses=N ok=N other=N accepted=N duplicates=N with_rejections=N
-- (ok: status 200; with_rejections: 200s whose "rejected" list was not empty).
local PLACEHOLDER = "~~~~~~~~~~~~"

local threads = {}
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
  table.insert(threads, thread)
end

-- Splits s on the plain string sep.
local function split(s, sep)
  local parts, i = {}, 1
  while true do
    local j = string.find(s, sep, i, true)
    if not j then
      parts[#parts + 1] = string.sub(s, i)
      return parts
    end
    parts[#parts + 1] = string.sub(s, i, j - 1)
    i = j + #sep
  end
end

function init(args)
  local dir, n = args[1], tonumber(args[2])
  quota = tonumber(args[3] or "0")
  if not dir or not n then
    error("usage: wrk ... -s ingest.lua URL -- BODY_DIR NBODIES [REQUESTS_PER_THREAD]")
  end
  parts = {}
  for i = 0, n - 1 do
    local f = assert(io.open(string.format("%s/body-%03d.json", dir, i), "rb"))
    parts[i + 1] = split(f:read("*a"), PLACEHOLDER)
    f:close()
  end
  nb = n
  -- 4 hex digits of run nonce (time), 2 of thread, 6 of request counter = 12 bytes.
  nonce = string.format("%04x", (os.time() * 31 + math.floor(os.clock() * 1e6)) % 65536)
  counter, responses, ok, other, accepted, duplicates, with_rejections = 0, 0, 0, 0, 0, 0, 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  local prefix = string.format("%s%02x%06x", nonce, tid % 256, counter % 16777216)
  local body = table.concat(parts[(counter + tid) % nb + 1], prefix)
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  responses = responses + 1
  if status == 200 then
    ok = ok + 1
    accepted = accepted + tonumber(string.match(body, '"accepted":(%d+)') or "0")
    duplicates = duplicates + tonumber(string.match(body, '"duplicates":(%d+)') or "0")
    if not string.find(body, '"rejected":[]', 1, true) then
      with_rejections = with_rejections + 1
      if with_rejections <= 3 then print("rejections: " .. string.sub(body, 1, 300)) end
    end
  else
    other = other + 1
    if other <= 3 then print("status " .. status .. ": " .. string.sub(body, 1, 300)) end
  end
  if quota > 0 and responses >= quota then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local t = { responses = 0, ok = 0, other = 0, accepted = 0, duplicates = 0, with_rejections = 0 }
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do
      t[k] = t[k] + (th:get(k) or 0)
    end
  end
  io.write(string.format("ingest: responses=%d ok=%d other=%d accepted=%d duplicates=%d with_rejections=%d\n",
    t.responses, t.ok, t.other, t.accepted, t.duplicates, t.with_rejections))
end
