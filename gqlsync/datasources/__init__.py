"""Data sources: one interface (`invoke(request document, call) -> result`), one module per type."""

from gqlsync.datasources.base import DATA_SOURCES, Call, DataSource, DataSourceEnv, build_data_source
from gqlsync.datasources.clients import AwsSettings, ClientProvider

__all__ = ["DATA_SOURCES", "AwsSettings", "Call", "ClientProvider", "DataSource", "DataSourceEnv",
           "build_data_source"]
