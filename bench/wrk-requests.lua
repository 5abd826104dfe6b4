-- wrk script of `npm run bench:http`: POSTs requests read from a file, one per line as
-- "<path> <body>", rotating through them (each thread from its own offset), with the headers given
-- as arguments ("Name: value" each). At the end prints one JSON line: requests, seconds, errors by
-- kind, and latency percentiles in milliseconds.
-- Usage: wrk -s bench/wrk-requests.lua <url> -- <requests file> [header ...]

local threads = {}
local counter = 0

function setup(thread)
  thread:set("offset", counter * 7919)
  counter = counter + 1
  table.insert(threads, thread)
end

local requests = {}
local index = 0

function init(args)
  local headers = { ["Content-Type"] = "application/json" }
  for i = 2, #args do
    local name, value = args[i]:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  for line in io.lines(args[1]) do
    local path, body = line:match("^(%S+) (.*)$")
    table.insert(requests, wrk.format("POST", path, headers, body))
  end
  index = offset or 0
end

function request()
  index = index + 1
  return requests[(index % #requests) + 1]
end

function done(summary, latency, _)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"connectErrors":%d,"readErrors":%d,"writeErrors":%d,"timeouts":%d,"non2xx":%d,"p50":%.3f,"p99":%.3f,"max":%.3f}\n',
    summary.requests, summary.duration / 1e6, errors.connect, errors.read, errors.write, errors.timeout, errors.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
