"""AppSync's language-neutral `util` core: plain Python values in and out, callable from any runtime.

Modules: `values` (predicates, type names, the stringify hook), `ids`, `time`, `dynamodb`, `transform`,
`families` (str, math, list, map), `encoding`, `jsontext`, `errors`, `invocation` (log, http, auth type)
and `core` (`UtilCore`, the top-level object with AppSync's method names). A runtime adds only its own
language layer: VTL (gqlsync.runtimes.vtl.util) passes Java's toString as the stringify hook and adds the
`...Json` variants, `qr`/`quiet` and `toJson`. Nothing here imports a runtime.
"""
