"""AMAZON_DYNAMODB, one module per concern: source (the data source), operations, expressions, marshal, errors, wire
(the lean JSON-protocol client), tables (creating an app's tables)."""

from gqlsync.datasources.dynamodb.source import DynamoDBConfig, DynamoDBDataSource

__all__ = ["DynamoDBConfig", "DynamoDBDataSource"]
