"""Delta Sync: versioned writes with change records, conflict handlers, the Sync operation (AppSync offline sync)."""
