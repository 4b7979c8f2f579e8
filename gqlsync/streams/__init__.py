"""DynamoDB Streams into the search index: the handler (records -> one `_bulk`), and (to come) the worker."""
