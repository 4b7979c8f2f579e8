"""BatchInvoke: a list of payloads in, one result per payload out, in order.

Template resolvers send `{"n": ...}`; direct resolvers send AppSync's context (the item is `source`), and item 7
gets an error element (`errorMessage`/`errorType`) instead of a value.
"""


def handler(event, context):
    assert isinstance(event, list), "expected a BatchInvoke list"
    out = []
    for payload in event:
        if "source" in payload:  # a direct resolver's context
            n = payload["source"]["n"]
            out.append({"errorMessage": "seven is unlucky", "errorType": "Unlucky"} if n == 7 else n * 2)
        else:
            out.append(payload["n"] * 2)
    return out
