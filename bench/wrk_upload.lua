-- wrk script for bench/upload_throughput.py: POST a ~100 KB multipart PDF upload whose
-- bytes differ on every request (so the API's dedupe-by-sha256 path is never taken).
--
-- The body is prebuilt by the Python script as two files, PRE and POST, around a
-- 16-character hex token that sits inside the PDF's page text (fixed width, so the
-- PDF's xref offsets stay valid). Each request gets RUNID(6) .. THREAD(2) .. COUNTER(8).
--
-- args: PRE_PATH POST_PATH RUNID AUTHORIZATION CONTENT_TYPE URL_PATH
-- At the end it prints one line starting with BENCHJSON for the Python script to read.

local threads = {}

function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

local function slurp(path)
   local f = assert(io.open(path, "rb"))
   local data = f:read("*a")
   f:close()
   return data
end

function init(args)
   pre = slurp(args[1])
   post = slurp(args[2])
   runid = args[3]
   upload_path = args[6]
   headers = {
      ["Authorization"] = args[4],
      ["Content-Type"] = args[5],
   }
   counter = 0
   created = 0
   duplicate = 0
   other = 0
end

function request()
   counter = counter + 1
   local token = string.format("%s%02x%08x", runid, tid, counter)
   return wrk.format("POST", upload_path, headers, pre .. token .. post)
end

function response(status, hdrs, body)
   if status == 201 then
      created = created + 1
   elseif status == 200 then
      duplicate = duplicate + 1
   else
      other = other + 1
   end
end

function done(summary, latency, requests)
   local c, d, o = 0, 0, 0
   for _, t in ipairs(threads) do
      c = c + t:get("created")
      d = d + t:get("duplicate")
      o = o + t:get("other")
   end
   local e = summary.errors
   io.write(string.format(
      'BENCHJSON {"requests": %d, "duration_us": %d, "bytes": %d, "created": %d, ' ..
      '"duplicate": %d, "other_status": %d, "err_connect": %d, "err_read": %d, ' ..
      '"err_write": %d, "err_status": %d, "err_timeout": %d, "lat_mean_us": %.1f, ' ..
      '"lat_p50_us": %d, "lat_p90_us": %d, "lat_p99_us": %d, "lat_max_us": %d}\n',
      summary.requests, summary.duration, summary.bytes, c, d, o,
      e.connect, e.read, e.write, e.status, e.timeout, latency.mean,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
