"""The list the batched fields resolve on: `count` items numbered from 1."""


def handler(event, context):
    return [{"id": str(i), "n": i} for i in range(1, event["arguments"]["count"] + 1)]
