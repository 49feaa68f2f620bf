-- The lookup as Entra sends it: `+` for spaces, raw quotes, %40 (bench/micro.sh).
math.randomseed(42)
local token = os.getenv("SCIM_TOKEN")
local n = tonumber(os.getenv("USERS"))
request = function()
  local i = math.random(1, n)
  return wrk.format("GET", '/scim/v2/Users?filter=userName+eq+"user' .. i .. '%40contoso.com"',
    { ["Authorization"] = "Bearer " .. token })
end
