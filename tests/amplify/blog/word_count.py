"""The local stand-in for the blog's `wordCount-${env}` Lambda function (@function): the words in `text`."""

from typing import Any


def handler(event: dict[str, Any], context: object) -> int:
    return len(event["arguments"]["text"].split())
