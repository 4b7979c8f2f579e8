"""Handles its own failure: answers an error document that the response template raises with its errorType."""


def handler(event, context):
    return {"errorMessage": "not yours", "errorType": "Forbidden"}
