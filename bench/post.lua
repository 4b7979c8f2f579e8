-- wrk script: POST the GraphQL body in $GQL_BODY with the API key in $GQL_KEY.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("GQL_KEY")
if key then wrk.headers["x-api-key"] = key end
wrk.body = os.getenv("GQL_BODY") or "{}"
