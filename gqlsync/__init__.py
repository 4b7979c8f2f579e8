"""gqlsync: an AppSync-class GraphQL API server (SDL + resolvers over DynamoDB, Lambda, search, HTTP)."""

__version__ = "0.1.0"
