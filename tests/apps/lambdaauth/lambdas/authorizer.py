"""A test Lambda authorizer: the token decides."""


def handler(event, context):
    token = event["authorizationToken"]
    assert context.get_remaining_time_in_millis() > 0
    if token == "allow":
        return {"isAuthorized": True, "resolverContext": {"user": "u1"}, "ttlOverride": 60}
    if token == "limited":
        return {"isAuthorized": True, "resolverContext": {"user": "u2"}, "deniedFields": ["Query.secretStuff"]}
    if token == "nocache":
        return {"isAuthorized": True, "resolverContext": {"user": "u3"}, "ttlOverride": 0}
    if token == "boom":
        raise RuntimeError("authorizer crashed")
    return {"isAuthorized": False}
