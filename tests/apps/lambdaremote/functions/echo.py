"""A direct Lambda resolver: answers the message it was given."""


def handler(event, context):
    return f"echo: {event['arguments']['msg']}"
