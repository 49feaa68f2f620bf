-- GET /api/v1/entitlements?email=userN@contoso.com on random existing users (bench/micro.sh).
math.randomseed(43)
local token = os.getenv("ADMIN_TOKEN")
local n = tonumber(os.getenv("USERS"))
request = function()
  local i = math.random(1, n)
  return wrk.format("GET", "/api/v1/entitlements?email=user" .. i .. "%40contoso.com",
    { ["Authorization"] = "Bearer " .. token })
end
