"""Always fails: an unhandled exception, reported by Lambda as FunctionError Unhandled."""


def handler(event, context):
    raise LookupError("no such thing")
