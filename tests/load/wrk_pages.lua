-- wrk script of the load tests: every page wrk receives goes through tests/lib's exposition check, not a sample of
-- them. Checking each one in Lua would be a second implementation of the check, so each 200 page is reduced to its
-- shape (every sample value replaced by 0: names and label sets, all the check looks at, stay) and the distinct
-- shapes are written to $WRK_PAGES_DIR at the end (shape-N.prom, and counts.txt: "pages <200 pages> other <rest>")
-- for tests/lib/prom_text.py. On a fixture node every page has the same shape, so this costs one string per page.
local threads = {}
local dir = os.getenv("WRK_PAGES_DIR")

function setup(thread)
  table.insert(threads, thread)
end

shapes, pages, other = {}, 0, 0

function response(status, headers, body)
  if status ~= 200 then
    other = other + 1
    return
  end
  pages = pages + 1
  -- A sample value is the last token of its line: digits, '.', exponent, sign, NaN, Inf. "# TYPE x gauge" keeps
  -- its type (no type name is made of those letters only).
  local shape = body:gsub(" [%deEINaf%.%+%-]+\n", " 0\n")
  shapes[shape] = (shapes[shape] or 0) + 1
end

function done(summary, latency, requests)
  local all, n_pages, n_other = {}, 0, 0
  for _, t in ipairs(threads) do
    n_pages = n_pages + t:get("pages")
    n_other = n_other + t:get("other")
    for shape, n in pairs(t:get("shapes")) do
      all[shape] = (all[shape] or 0) + n
    end
  end
  local i = 0
  for shape, _ in pairs(all) do
    i = i + 1
    local f = assert(io.open(string.format("%s/shape-%d.prom", dir, i), "w"))
    f:write(shape)
    f:close()
  end
  local f = assert(io.open(dir .. "/counts.txt", "w"))
  f:write(string.format("pages %d other %d shapes %d\n", n_pages, n_other, i))
  f:close()
end
