"""Takes longer than the data source waits."""

import time


def handler(event, context):
    time.sleep(1.0)
    return "too late"
