"""Embedded backends for `gqlsync dev`: services that run in-process with nothing but `pip install`."""
