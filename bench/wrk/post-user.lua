-- POST /Users with a new userName each time (bench/micro.sh). Each wrk thread has its own Lua
-- state: setup() numbers them, and ROUND tells runs apart, so userNames never collide.
local token = os.getenv("SCIM_TOKEN")
local round = os.getenv("ROUND")
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("lane", threads)
end
local counter = 0
request = function()
  counter = counter + 1
  local name = "new-" .. round .. "-" .. lane .. "-" .. counter .. "@contoso.com"
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","active":true,"displayName":"New","name":{"givenName":"New","familyName":"User"},' ..
    '"emails":[{"value":"' .. name .. '","type":"work","primary":true}],"externalId":"x' .. round .. '-' .. lane .. '-' .. counter .. '"}'
  return wrk.format("POST", "/scim/v2/Users",
    { ["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/scim+json" }, body)
end
