"""A versioned data source's Delta Sync settings (AppSync's DeltaSyncConfig), in minutes as AppSync counts them."""

from __future__ import annotations

from dataclasses import dataclass, field

from gqlsync.typed_config import KEY

#: AppSync's defaults: soft-deleted items live 30 days, change records 30 minutes.
BASE_TABLE_TTL_MINUTES = 43_200
DELTA_SYNC_TABLE_TTL_MINUTES = 30
#: Both tables expire items through this attribute (epoch seconds), as Amplify's tables are configured.
TTL_ATTRIBUTE = "_ttl"


@dataclass(frozen=True)
class DeltaSyncConfig:
    delta_sync_table_name: str
    base_table_ttl: int = field(default=BASE_TABLE_TTL_MINUTES, metadata={KEY: "baseTableTTL"})
    delta_sync_table_ttl: int = field(default=DELTA_SYNC_TABLE_TTL_MINUTES, metadata={KEY: "deltaSyncTableTTL"})

    def check(self) -> None:
        if self.base_table_ttl < 1 or self.delta_sync_table_ttl < 1:
            raise ValueError("deltaSyncConfig TTLs are minutes and must be at least 1")
        if not self.delta_sync_table_name:
            raise ValueError("deltaSyncConfig.deltaSyncTableName must name the table change records go to")
