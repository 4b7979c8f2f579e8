"""Takes a while, so a second concurrent call finds its reserved concurrency (1) taken."""

import time


def handler(event, context):
    time.sleep(0.3)
    return "made it"
