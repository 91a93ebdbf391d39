-- POST /auth/login with a fresh code per request, as many mini programs logging in at once.
local counter = 0
local thread_id = 0
local threads = {}

setup = function(thread)
  thread_id = thread_id + 1
  thread:set("id", thread_id)
  table.insert(threads, thread)
end

request = function()
  counter = counter + 1
  local user = counter % 5000
  local body = string.format('{"code":"user%d#%d-%d-%d"}', user, id, counter, math.random(1, 1e9))
  return wrk.format("POST", "/auth/login", { ["content-type"] = "application/json" }, body)
end

dofile(os.getenv("WRK_REPORT"))
