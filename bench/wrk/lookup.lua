-- GET /Users?filter=userName eq "userN@contoso.com" on random existing users (bench/micro.sh).
math.randomseed(42)
local token = os.getenv("SCIM_TOKEN")
local n = tonumber(os.getenv("USERS"))
request = function()
  local i = math.random(1, n)
  return wrk.format("GET", "/scim/v2/Users?filter=userName%20eq%20%22user" .. i .. "%40contoso.com%22",
    { ["Authorization"] = "Bearer " .. token })
end
