"""A direct Lambda resolver: gets AppSync's context shape, returns the field's value."""


def handler(event, context):
    if event["arguments"]["n"] < 0:
        raise ValueError("n must not be negative")
    return event["arguments"]["n"] * 2
