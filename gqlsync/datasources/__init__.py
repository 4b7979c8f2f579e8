"""Data sources: one interface (`invoke(request document) -> result`), one module per type."""

from gqlsync.datasources.base import DataSource, build_data_source
from gqlsync.datasources.clients import AwsSettings, ClientProvider

__all__ = ["AwsSettings", "ClientProvider", "DataSource", "build_data_source"]
