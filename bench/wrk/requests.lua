-- wrk script for bench/run.ts. Its environment says what to send:
--   BENCH_RESULT   file the results are written to as JSON (done())
--   BENCH_BODIES   (optional) one request body per line: thread t of n sends lines t, t+n, t+2n, ...
--                  each once, as POST BENCH_PATH with X-Request-Id = the line's index from 0, and
--                  records which indexes were answered 2xx and which not (the server echoes the id)
--   BENCH_PATH     path of those POSTs
--   BENCH_THREADS  wrk's -t
--   BENCH_CONNECTIONS  wrk's -c
--   BENCH_OPEN_MS  (with BENCH_BODIES) how long each connection holds its first request, so that
--                  the load starts on connections the server has already accepted
-- Without BENCH_BODIES wrk sends its URL as a plain GET and no Lua runs per request.
local threads = {}
local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

local bodies_file = os.getenv("BENCH_BODIES")

if bodies_file ~= nil and bodies_file ~= "" then
  function init(args)
    local step = tonumber(os.getenv("BENCH_THREADS"))
    local path = os.getenv("BENCH_PATH")
    -- Formatted once here: request() only hands them out.
    prepared = {}
    ids = {}
    local index = 0
    for line in io.lines(bodies_file) do
      if index % step == thread_index then
        table.insert(prepared, wrk.format("POST", path, { ["Content-Type"] = "application/json", ["X-Request-Id"] = tostring(index) }, line))
        table.insert(ids, index)
      end
      index = index + 1
    end
    sent = 0
    exhausted = false
    ok = {}
    failed = {}
    first_failure = ""
    -- A harmless read, sent only after the last body while the thread stops.
    spare = wrk.format("GET", "/readyz")
  end

  -- A saturated Node event loop accepts one new connection per turn (libuv 1.45 and later), so
  -- connections opened into the load would wait dozens of turns for their first answer: a measure of
  -- connection set-up under load, not of the path. Each connection's first request (the first
  -- connections/threads calls in this thread) waits until all of them are open; wrk starts its
  -- latency clock when the request is written, after the wait.
  local open_ms = tonumber(os.getenv("BENCH_OPEN_MS") or "0")
  local first_requests = math.floor(tonumber(os.getenv("BENCH_CONNECTIONS")) / tonumber(os.getenv("BENCH_THREADS")))
  local held = 0
  function delay()
    if held < first_requests then
      held = held + 1
      return open_ms
    end
    return 0
  end

  function request()
    if sent >= #prepared then
      if not exhausted then
        exhausted = true
        wrk.thread:stop()
      end
      return spare
    end
    sent = sent + 1
    return prepared[sent]
  end

  function response(status, headers, body)
    local id = tonumber(headers["X-Request-Id"] or headers["x-request-id"] or "")
    if id == nil then return end
    if status >= 200 and status < 300 then
      ok[#ok + 1] = id
    else
      failed[#failed + 1] = id .. ":" .. status
      if first_failure == "" then first_failure = status .. " " .. string.sub(body or "", 1, 400) end
    end
  end
end

local function json_string(s)
  s = string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end)
  return '"' .. s .. '"'
end

function done(summary, latency, requests)
  local e = summary.errors
  local parts = {
    '{"duration_us":' .. summary.duration,
    '"requests":' .. summary.requests,
    '"status_errors":' .. e.status,
    '"socket_errors":' .. (e.connect + e.read + e.write),
    '"timeouts":' .. e.timeout,
    '"p50_us":' .. latency:percentile(50),
    '"p99_us":' .. latency:percentile(99),
  }
  local per_thread = {}
  for _, thread in ipairs(threads) do
    local ids = thread:get("ids")
    if ids ~= nil then
      local sent = thread:get("sent")
      local sent_ids = {}
      for i = 1, sent do sent_ids[i] = ids[i] end
      table.insert(per_thread, '{"sent":[' .. table.concat(sent_ids, ",") .. '],"ok":[' .. table.concat(thread:get("ok"), ",") ..
        '],"failed":[' .. (#thread:get("failed") > 0 and ('"' .. table.concat(thread:get("failed"), '","') .. '"') or "") ..
        '],"exhausted":' .. tostring(thread:get("exhausted")) .. ',"first_failure":' .. json_string(thread:get("first_failure")) .. '}')
    end
  end
  table.insert(parts, '"threads":[' .. table.concat(per_thread, ",") .. ']}')
  local out = assert(io.open(os.getenv("BENCH_RESULT"), "w"))
  out:write(table.concat(parts, ","))
  out:close()
end
