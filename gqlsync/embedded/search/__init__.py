"""gqlsync's embedded OpenSearch-compatible search engine: SQLite (FTS5) behind OpenSearch's REST API.

`gqlsync dev` must run with nothing but `pip install` (no Java, no Docker), yet search resolvers
(AppSync's AMAZON_OPENSEARCH_SERVICE / AMAZON_ELASTICSEARCH data sources, Amplify's @searchable)
talk to a cluster through the official clients. So `EmbeddedSearch` serves OpenSearch's REST API
on loopback, and the data source uses the same client path it uses against a real cluster.

Why SQLite: it is in the standard library, gives transactional persistence in one file per
index, full-text postings with positions (FTS5), and SQL, which makes multi-key sort,
`search_after`, ranges and aggregations exact and cheap. The other candidate, tantivy (PyPI),
has no multi-field sort and no search_after, and panics on `limit=0`. Relevance is Lucene's
BM25 computed from the FTS5 postings (scoring.py), so scores match OpenSearch's for one shard
up to float rounding.

Modules, one concept each: `analysis` (the standard analyzer), `dates` (date formats and
math), `mapping` (field types, dynamic mapping), `scoring` (BM25), `store` (the SQLite layout
and writes), `patterns` (regexp/wildcard syntax), `query` (DSL -> SQL), `aggregations`,
`source_filter`, `searcher` (sort, paging, hits), `engine` (SearchEngine: all the APIs in
Python), `api` (REST routes), `server` (EmbeddedSearch: uvicorn in a thread).

What is deliberately refused (400 naming it, never a silently different answer): scripts,
fuzzy queries, sloppy phrases, query_string syntax beyond `q=field:value`, custom analyzers,
aliases, scroll, highlighting, multi-index search, nested-query semantics (`nested` fields are
indexed as plain objects).
"""

from __future__ import annotations

from gqlsync.embedded.search.engine import SearchEngine
from gqlsync.embedded.search.errors import SearchError
from gqlsync.embedded.search.server import EmbeddedSearch

__all__ = ["EmbeddedSearch", "SearchEngine", "SearchError"]
