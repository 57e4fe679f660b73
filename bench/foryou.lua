-- wrk script for bench/serve.sh: GETs PATH_TEMPLATE with "{id}" replaced by an id picked
-- uniformly at random from IDS_FILE (one id per line, as aisle gen writes them: nothing to
-- percent-encode), with a fixed seed per wrk thread.
--
--   wrk ... -s foryou.lua URL -- IDS_FILE PATH_TEMPLATE [SEED]
--
-- Aisle:  /v1/users/{id}/recommendations?n=10
-- nginx:  /rec.json?user={id}&n=10   (the static file ignores the query string, so both
--         servers get requests of about the same size from the same Lua code path)
-- Every request line is built once in init(); request() only picks one.
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

function init(args)
  local file, tmpl, seed = args[1], args[2], tonumber(args[3] or "1")
  if not file or not tmpl then
    error("usage: wrk ... -s foryou.lua URL -- IDS_FILE PATH_TEMPLATE [SEED]")
  end
  reqs = {}
  for id in io.lines(file) do
    if id ~= "" then
      local path = string.gsub(tmpl, "{id}", id)
      reqs[#reqs + 1] = wrk.format("GET", path)
    end
  end
  if #reqs == 0 then error("no ids in " .. file) end
  nreqs = #reqs
  math.randomseed(seed * 1000 + (tid or 0))
end

function request()
  return reqs[math.random(nreqs)]
end
