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
  -- RUN_ID keeps codes unique across runs: the stand-in, like WeChat, accepts each code once.
  local body = string.format('{"code":"user%d#%s-%d-%d"}', user, os.getenv("RUN_ID"), id, counter)
  return wrk.format("POST", "/auth/login", { ["content-type"] = "application/json" }, body)
end

dofile(os.getenv("WRK_REPORT"))
