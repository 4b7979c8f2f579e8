-- wrk script: POST the GraphQL body in $GQL_BODY, authenticated by $GQL_AUTH (Authorization) or $GQL_KEY (x-api-key).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local auth = os.getenv("GQL_AUTH")
local key = os.getenv("GQL_KEY")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
elseif key then
  wrk.headers["x-api-key"] = key
end
wrk.body = os.getenv("GQL_BODY") or "{}"
