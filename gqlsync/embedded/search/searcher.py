"""The search and count APIs over one index: request body checks, sort, paging, hits and their shape."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from gqlsync.embedded.search.aggregations import Aggregator, DocSet
from gqlsync.embedded.search.errors import SearchError, fielddata_reason, illegal, parsing, unsupported
from gqlsync.embedded.search.mapping import FLOAT_TYPES
from gqlsync.embedded.search.query import Compiler, Node, uri_query
from gqlsync.embedded.search.scoring import float32
from gqlsync.embedded.search.source_filter import filter_source, source_params
from gqlsync.embedded.search.store import PRIMARY_TERM, IndexStore

LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
DEFAULT_TRACK_TOTAL_HITS = 10_000
SHARDS = {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
_BODY_KEYS = {"query", "from", "size", "sort", "search_after", "track_total_hits", "_source", "aggs",
              "aggregations", "post_filter", "min_score", "track_scores", "version", "seq_no_primary_term",
              "timeout", "explain", "stored_fields", "docvalue_fields", "fields", "highlight", "script_fields",
              "suggest", "rescore", "collapse", "indices_boost", "terminate_after", "profile", "stats", "pit",
              "slice", "runtime_mappings", "knn", "ext", "search_pipeline", "include_named_queries_score"}
_UNSUPPORTED_KEYS = {"highlight", "script_fields", "suggest", "rescore", "collapse", "indices_boost", "pit",
                     "slice", "runtime_mappings", "knn", "ext", "search_pipeline", "docvalue_fields", "fields",
                     "stored_fields", "terminate_after"}


@dataclass
class SortKey:
    """One sort criterion: its SQL expression, direction, and how its values go out and come back."""

    expr: str
    desc: bool
    nullable: bool = False  # keyword-like: missing values are NULL, ordered by `missing_first`
    missing_first: bool = False
    render: Callable[[Any], Any] = lambda v: v
    parse_after: Callable[[Any], Any] = lambda v: v
    is_score: bool = False
    # A single-valued field sorted with missing last: (table, field id) to walk its value index in order,
    # and the sort value documents without one get.
    driver: tuple[str, int] | None = None
    missing_value: Any = None


def _render_float(v: Any) -> Any:
    if v is None:
        return None
    f = float(v)
    if math.isinf(f):
        return "Infinity" if f > 0 else "-Infinity"
    return f


def _parse_float(v: Any) -> float:
    if v in ("Infinity", "+Infinity"):
        return math.inf
    if v == "-Infinity":
        return -math.inf
    return float(v)


def _bool_param(params: dict[str, str], name: str, default: bool = False) -> bool:
    if name not in params:
        return default
    value = params[name]
    if value in ("", "true"):
        return True
    if value == "false":
        return False
    raise illegal(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise parsing(f"[{name}] must be an integer, got [{value}]")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise parsing(f"[{name}] failed to parse field [{name}]: [{value}] is not an integer") from None


class Searcher:
    """One `_search` (or `_count`) request against one index; build, then `run()`."""

    def __init__(self, store: IndexStore, body: dict[str, Any] | None, params: dict[str, str]) -> None:
        self.store = store
        self.params = params
        self.body = dict(body or {})
        self.comp = Compiler(store)

    # -- parsing the request
    def _merge_params(self) -> None:
        body, params = self.body, self.params
        for key in body:
            if key not in _BODY_KEYS:
                raise parsing(f"Unknown key for a {'START_OBJECT' if isinstance(body[key], dict) else 'VALUE'} in "
                              f"[{key}].")
            if key in _UNSUPPORTED_KEYS and body[key] not in (None, [], {}):
                raise unsupported(f"the search request option [{key}]")
        if body.get("explain") or _bool_param(params, "explain"):
            raise unsupported("[explain]")
        if body.get("profile"):
            raise unsupported("[profile]")
        if "q" in params:
            if "query" in body:
                raise illegal("request [_search] cannot have both a [q] parameter and a query in the body")
            body["query"] = uri_query(params["q"])
        for name in ("from", "size"):
            if name in params:
                body[name] = params[name]
        if "sort" in params:
            body["sort"] = [self._param_sort(s) for s in params["sort"].split(",") if s]
        if "track_total_hits" in params:
            raw = params["track_total_hits"]
            body["track_total_hits"] = True if raw in ("", "true") else False if raw == "false" else raw
        if _bool_param(params, "rest_total_hits_as_int"):
            body.setdefault("track_total_hits", True)
        for name in ("track_scores", "version", "seq_no_primary_term"):
            if name in params:
                body[name] = _bool_param(params, name)

    @staticmethod
    def _param_sort(text: str) -> Any:
        name, _, order = text.partition(":")
        return {name: order} if order else name

    def _sort_keys(self, spec: Any) -> list[SortKey]:
        items = spec if isinstance(spec, list) else [spec]
        keys = []
        for item in items:
            opts: Any
            if isinstance(item, str):
                name, opts = item, {}
            elif isinstance(item, dict) and len(item) == 1:
                (name, opts), = item.items()
                if isinstance(opts, str):
                    opts = {"order": opts}
                elif not isinstance(opts, dict):
                    raise parsing(f"[sort] option for [{name}] must be a string or an object")
            else:
                raise parsing("[sort] elements must be field names or single-key objects")
            keys.append(self._sort_key(name, opts))
        return keys

    def _sort_key(self, name: str, opts: dict[str, Any]) -> SortKey:
        allowed = {"order", "missing", "mode", "unmapped_type", "numeric_type", "format"}
        for key in opts:
            if key not in allowed:
                if key in ("nested", "nested_path", "nested_filter", "script"):
                    raise unsupported(f"[{key}] in a sort")
                raise parsing(f"[field_sort] unknown field [{key}]")
        if opts.get("numeric_type") or opts.get("format"):
            raise unsupported("[numeric_type] and [format] in a sort")
        default = "desc" if name == "_score" else "asc"
        order = str(opts.get("order", default)).lower()
        if order not in ("asc", "desc"):
            raise parsing(f"[sort] order must be [asc] or [desc], got [{order}]")
        desc = order == "desc"
        if name == "_score":
            return SortKey("__score__", desc, render=lambda v: float32(float(v or 0.0)), parse_after=float,
                           is_score=True)
        if name == "_doc":
            return SortKey("d.rid", desc, parse_after=int)
        if name == "_id":
            return SortKey("d.id", desc, parse_after=str)
        mode = str(opts.get("mode", "max" if desc else "min")).lower()
        if mode not in ("min", "max", "sum", "avg"):
            if mode == "median":
                raise unsupported("sort mode [median]")
            raise parsing(f"Unknown SortMode [{mode}]")
        missing = opts.get("missing", "_last")
        f = self.store.mapping.fields.get(name)
        if f is None:
            unmapped = opts.get("unmapped_type")
            if not unmapped:
                raise SearchError(400, "query_shard_exception", f"No mapping found for [{name}] in order to sort on",
                                  shard_level=True, index=self.store.name)
            numeric = unmapped not in ("keyword", "text", "string")
            return self._missing_key("NULL", desc, missing, numeric, float_type=unmapped in FLOAT_TYPES)
        if f.type == "text":
            raise SearchError(400, "illegal_argument_exception", fielddata_reason(name), shard_level=True,
                              index=self.store.name)
        table = "num" if f.stores_numbers else "kw"
        agg = {"min": "min", "max": "max", "sum": "total", "avg": "avg"}[mode]
        if not f.stores_numbers and mode in ("sum", "avg"):
            raise illegal(f"we only support AVG, MEDIAN and SUM on number based fields (field [{name}])")
        expr = f"(SELECT {agg}(v) FROM {table} WHERE doc = d.rid AND field = {self.store.fids[f.path]})"
        if mode == "sum":  # total() is 0.0 for no values: keep missing as NULL
            expr = (f"(SELECT CASE WHEN count(*) THEN total(v) END FROM {table} WHERE doc = d.rid AND field = "
                    f"{self.store.fids[f.path]})")
        sort_key = self._missing_key(expr, desc, missing, f.stores_numbers,
                                     float_type=f.type in FLOAT_TYPES or mode == "avg", convert=f.query_value)
        fid = self.store.fids[f.path]
        docs, values = self.store.field_stats(fid)
        if missing == "_last" and docs == values and mode in ("min", "max"):
            sort_key.driver = (table, fid)  # one value per document: its index order is the sort order
        return sort_key

    def _missing_key(self, expr: str, desc: bool, missing: Any, numeric: bool, float_type: bool = False,
                     convert: Callable[[Any], Any] | None = None) -> SortKey:
        if missing in ("_last", "_first"):
            first = missing == "_first"
            if not numeric:
                return SortKey(expr, desc, nullable=True, missing_first=first,
                               parse_after=lambda v: None if v is None else str(v))
            # OpenSearch substitutes the extreme value that sorts missing documents where asked.
            high = (desc and first) or (not desc and not first)
            if float_type:
                sentinel = "9e999" if high else "-9e999"
                return SortKey(f"COALESCE({expr}, {sentinel})", desc, render=_render_float, parse_after=_parse_float,
                               missing_value=math.inf if high else -math.inf)
            sentinel_value = LONG_MAX if high else LONG_MIN
            return SortKey(f"COALESCE({expr}, {sentinel_value})", desc, parse_after=int, missing_value=sentinel_value)
        try:
            value = convert(missing) if convert else missing
        except ValueError as exc:
            raise illegal(f"failed to parse sort [missing] value [{missing}]: {exc}") from None
        placeholder = self.comp.p(value)
        if numeric:
            return SortKey(f"COALESCE({expr}, {placeholder})", desc,
                           render=_render_float if float_type else (lambda v: v),
                           parse_after=_parse_float if float_type else int)
        return SortKey(f"COALESCE({expr}, {placeholder})", desc, parse_after=str)

    # -- running
    def run(self) -> dict[str, Any]:
        """The search response; the index's lock is held throughout (mapping, stats and rows stay consistent)."""
        with self.store.lock:
            return self._run()

    def _run(self) -> dict[str, Any]:
        started = time.perf_counter()
        self._merge_params()
        body = self.body
        size = _int(body.get("size", 10), "size")
        offset = _int(body.get("from", 0), "from")
        if size < 0:
            raise illegal(f"[size] parameter cannot be negative, found [{size}]")
        if offset == -1:
            offset = 0  # -1 is the "not set" value clients send
        if offset < 0:
            raise illegal(f"[from] parameter cannot be negative, found [{offset}]")
        window = int(self.store.settings.get("index", {}).get("max_result_window", 10_000))
        if offset + size > window:
            raise SearchError(400, "illegal_argument_exception",
                              f"Result window is too large, from + size must be less than or equal to: [{window}] but "
                              f"was [{offset + size}]. See the scroll api for a more efficient way to request large "
                              "data sets. This limit can be set by changing the [index.max_result_window] index level "
                              "setting.", shard_level=True, index=self.store.name)
        sort_spec = body.get("sort")
        keys = self._sort_keys(sort_spec) if sort_spec not in (None, []) else [self._sort_key("_score", {})]
        track_scores = bool(body.get("track_scores", False))
        min_score = body.get("min_score")
        scores_wanted = track_scores or min_score is not None or any(k.is_score for k in keys)
        after = body.get("search_after")
        if after is not None:
            if not isinstance(after, list):
                raise parsing("[search_after] must be an array")
            if len(after) != len(keys):
                raise illegal(f"search_after has {len(after)} value(s) but sort has {len(keys)}.")
            if offset not in (0, -1):
                raise SearchError(400, "action_request_validation_exception", "Validation Failed: 1: `from` "
                                  "parameter must be set to 0 when `search_after` is used;")
        total_spec = body.get("track_total_hits", DEFAULT_TRACK_TOTAL_HITS)
        fetch, includes, excludes = source_params(self.params, body.get("_source"))

        with self.store.lock:
            node = self.comp.compile(body.get("query"), scores_wanted)
            post = self.comp.compile(body["post_filter"], False) if body.get("post_filter") else None
            score_sql = (node.score or "0.0") if scores_wanted else "NULL"
            if not re.fullmatch(r"[0-9.e+-]+|NULL", score_sql):
                score_sql = f"gq_f32({score_sql})"  # Lucene's scores are floats: sort and search_after on those
            joins = set(node.joins) if scores_wanted else set()
            where = [node.pred]
            if min_score is not None:
                where.append(f"({score_sql}) >= {self.comp.p(float(min_score))}")
            agg_where = list(where)
            if post is not None:
                where.append(post.pred)
            join_sql = "".join(f" LEFT JOIN {a} ON {a}.rid = d.rid" for a in sorted(joins))
            where_sql = " AND ".join(f"({w})" for w in where)

            total = self._total(total_spec, where, join_sql if min_score is not None else "")
            matched = total[0] if total is not None else None
            rows = self._page(keys, score_sql, join_sql, where_sql, size, offset, after, matched) if size else []
            max_score: float | None = None
            if scores_wanted and size:
                if keys[0].is_score and keys[0].desc and offset == 0 and after is None:
                    max_score = float32(rows[0][1]) if rows else None
                else:
                    got = self.store.conn.execute(
                        f"{self.comp.with_clause()}SELECT max({score_sql}) FROM docs d{join_sql} WHERE {where_sql}",
                        self.comp.params).fetchone()[0]
                    max_score = float32(got) if got is not None else None
            hits = self._hits(rows, keys, scores_wanted, fetch, includes, excludes, sort_spec not in (None, []))
            aggs_spec = body.get("aggs", body.get("aggregations"))
            aggregations = None
            if aggs_spec:
                agg_pred = " AND ".join(f"({w})" for w in agg_where)
                if agg_pred == "(1)":
                    docs = DocSet(None)
                else:
                    agg_join = join_sql if min_score is not None else ""
                    docs = DocSet(f"SELECT d.rid FROM docs d{agg_join} WHERE {agg_pred}")
                aggregations = Aggregator(self.comp, _bool_param(self.params, "typed_keys")).run(aggs_spec, docs)

        out: dict[str, Any] = {"took": int((time.perf_counter() - started) * 1000), "timed_out": False,
                               "_shards": dict(SHARDS)}
        hits_obj: dict[str, Any] = {}
        if total is not None:
            if _bool_param(self.params, "rest_total_hits_as_int"):
                hits_obj["total"] = total[0]
            else:
                hits_obj["total"] = {"value": total[0], "relation": total[1]}
        hits_obj["max_score"] = max_score
        hits_obj["hits"] = hits
        out["hits"] = hits_obj
        if aggregations is not None:
            out["aggregations"] = aggregations
        return out

    def _total(self, spec: Any, where: list[str], join_sql: str) -> tuple[int, str] | None:
        if spec is False or spec == "false":
            return None
        if spec is True or spec == "true":
            cap = None
        else:
            try:
                cap = int(spec)
            except (TypeError, ValueError):
                raise parsing(f"[track_total_hits] must be a boolean or an integer, got [{spec}]") from None
            if cap < 0:
                raise illegal(f"[track_total_hits] parameter must be positive or equals to -1, got {cap}")
        conn, params = self.store.conn, self.comp.params
        pred = " AND ".join(f"({w})" for w in where)
        if pred == "(1)":
            n = int(conn.execute("SELECT count(*) FROM docs").fetchone()[0])
        else:
            limit = f" LIMIT {cap + 1}" if cap is not None else ""
            n = int(conn.execute(f"{self.comp.with_clause()}SELECT count(*) FROM (SELECT 1 FROM docs d{join_sql} "
                                 f"WHERE {pred}{limit})", params).fetchone()[0])
        if cap is not None and n > cap:
            return cap, "gte"
        return n, "eq"

    def _order(self, keys: list[SortKey], score_sql: str, first: int = 0) -> list[str]:
        order = []
        constant_score = re.fullmatch(r"[0-9.e+-]+|NULL", score_sql) is not None
        for i, k in enumerate(keys):
            if i < first or (k.is_score and constant_score):
                continue  # every hit has the same score: the order is the tie-break's (doc order)
            if k.nullable:
                order.append(f"(k{i} IS NULL) {'DESC' if k.missing_first else 'ASC'}")
            order.append(f"k{i} {'DESC' if k.desc else 'ASC'}")
        order.append("rid ASC")
        return order

    def _page(self, keys: list[SortKey], score_sql: str, join_sql: str, where_sql: str, size: int, offset: int,
              after: list[Any] | None, matched: int | None) -> list[tuple[Any, ...]]:
        if keys[0].driver is not None:
            # Walking the sort field's index visits about need * docs / matches entries; sorting the matches
            # costs about their number. Walk when that is cheaper (or when the count is unknown).
            need = offset + size
            docs = self.store.conn.execute("SELECT max(rid) FROM docs").fetchone()[0] or 0
            if matched is None or matched * matched > need * docs:
                return self._page_driven(keys, score_sql, join_sql, where_sql, size, offset, after,
                                         force=matched is not None)
        exprs = [score_sql if k.is_score else k.expr for k in keys]
        cols = ", ".join(f"{e} AS k{i}" for i, e in enumerate(exprs))
        order = self._order(keys, score_sql)
        inner = f"SELECT d.rid AS rid, {score_sql} AS score, {cols} FROM docs d{join_sql} WHERE {where_sql}"
        if where_sql == "(1)" and after is None and len(order) == 1:
            inner = f"SELECT d.rid AS rid, {score_sql} AS score, {cols} FROM docs d"
        with_sql = self.comp.with_clause()
        if after is None:
            sql = f"{with_sql}{inner} ORDER BY {', '.join(order)} LIMIT {size} OFFSET {offset}"
        else:
            cond = self._after(keys, after, [f"k{i}" for i in range(len(keys))])
            ctes = with_sql[len("WITH "):] + ", " if with_sql else ""
            sql = (f"WITH {ctes}m AS MATERIALIZED ({inner}) SELECT * FROM m WHERE {cond} ORDER BY {', '.join(order)} "
                   f"LIMIT {size}")
        return self.store.conn.execute(sql, self.comp.params).fetchall()

    def _page_driven(self, keys: list[SortKey], score_sql: str, join_sql: str, where_sql: str, size: int,
                     offset: int, after: list[Any] | None, force: bool) -> list[tuple[Any, ...]]:
        """The first key's field has one value per document: walk its (field, value) index in sort order
        (SQLite stops after the page), then the documents without a value, which sort last."""
        first = keys[0]
        assert first.driver is not None
        table, fid = first.driver
        exprs = ["t0.v"] + [score_sql if k.is_score else k.expr for k in keys[1:]]
        cols = ", ".join(f"{e} AS k{i}" for i, e in enumerate(exprs))
        with_sql = self.comp.with_clause()
        need = offset + size
        rows: list[tuple[Any, ...]] = []
        in_missing = False
        cond_a = ""
        if after is not None:
            a0 = first.parse_after(after[0]) if after[0] is not None else None
            in_missing = a0 is None or a0 == first.missing_value
            if not in_missing:
                bound = f"t0.v {'<=' if first.desc else '>='} {self.comp.p(a0)}"
                cond_a = f" AND {bound} AND {self._after(keys, after, exprs)}"
        if not in_missing:
            rows = self.store.conn.execute(
                f"{with_sql}SELECT d.rid AS rid, {score_sql} AS score, {cols} FROM {table} t0 "
                f"{'CROSS JOIN' if force else 'JOIN'} docs d ON "
                f"d.rid = t0.doc{join_sql} WHERE t0.field = {fid} AND {where_sql}{cond_a} ORDER BY "
                f"{', '.join(['k0 DESC' if first.desc else 'k0 ASC', *self._order(keys, score_sql, 1)])} "
                f"LIMIT {need}", self.comp.params).fetchall()
        if len(rows) < need:
            missing = "NULL" if first.missing_value is None else self.comp.p(first.missing_value)
            cols_b = ", ".join(f"{e} AS k{i}" for i, e in enumerate([missing, *exprs[1:]]))
            cond_b = ""
            if after is not None and in_missing:
                cond_b = " AND " + (self._after(keys[1:], after[1:], exprs[1:]) if len(keys) > 1 else "0")
            rows += self.store.conn.execute(
                f"{with_sql}SELECT d.rid AS rid, {score_sql} AS score, {cols_b} FROM docs d{join_sql} WHERE "
                f"{where_sql} AND d.rid NOT IN (SELECT doc FROM {table} WHERE field = {fid}){cond_b} ORDER BY "
                f"{', '.join(self._order(keys, score_sql, 1))} LIMIT {need - len(rows)}", self.comp.params).fetchall()
        return rows[offset:need]

    def _after(self, keys: list[SortKey], after: list[Any], cols: list[str]) -> str:
        """Rows strictly after the `search_after` sort values, in the sort's order (`cols`: the keys' SQL)."""
        disjuncts = []
        equal: list[str] = []
        for i, (k, raw) in enumerate(zip(keys, after, strict=True)):
            col = cols[i]
            try:
                v = k.parse_after(raw) if raw is not None else None
            except (TypeError, ValueError):
                raise illegal(f"Failed to parse search_after value [{raw}] for sort [{i}]") from None
            if v is None and not k.nullable:
                raise illegal(f"search_after value [{i}] is null but the sort field is not a keyword")
            later = ">" if not k.desc else "<"
            if k.nullable:  # missing values (NULL) sort after everything, or before with missing_first
                if v is None:
                    beyond = f"{col} IS NOT NULL" if k.missing_first else "0"
                    same = f"{col} IS NULL"
                else:
                    ph = self.comp.p(v)
                    beyond = f"{col} {later} {ph}" if k.missing_first else f"({col} {later} {ph} OR {col} IS NULL)"
                    same = f"{col} = {ph}"
            else:
                ph = self.comp.p(v)
                beyond = f"{col} {later} {ph}"
                same = f"{col} = {ph}"
            disjuncts.append("(" + " AND ".join([*equal, beyond]) + ")")
            equal.append(same)
        return "(" + " OR ".join(disjuncts) + ")"

    def _hits(self, rows: list[tuple[Any, ...]], keys: list[SortKey], scores: bool, fetch: bool,
              includes: tuple[str, ...], excludes: tuple[str, ...], explicit_sort: bool) -> list[dict[str, Any]]:
        if not rows:
            return []
        rids = [r[0] for r in rows]
        conn = self.store.conn
        docs = {r[0]: r for r in conn.execute(
            f"SELECT rid, id, source, version, seq_no FROM docs WHERE rid IN ({', '.join('?' * len(rids))})", rids)}
        want_version = bool(self.body.get("version"))
        want_seq = bool(self.body.get("seq_no_primary_term"))
        out = []
        for row in rows:
            rid, score = row[0], row[1]
            _, doc_id, source, version, seq_no = docs[rid]
            hit: dict[str, Any] = {"_index": self.store.name, "_id": doc_id}
            if want_version:
                hit["_version"] = version
            if want_seq:
                hit["_seq_no"] = seq_no
                hit["_primary_term"] = PRIMARY_TERM
            hit["_score"] = float32(float(score)) if scores and score is not None else None
            if fetch:
                src = orjson.loads(source)
                hit["_source"] = filter_source(src, includes, excludes) if includes or excludes else src
            if explicit_sort:
                hit["sort"] = [k.render(v) for k, v in zip(keys, row[2:], strict=True)]
            out.append(hit)
        return out


def count(store: IndexStore, body: dict[str, Any] | None, params: dict[str, str]) -> dict[str, Any]:
    """The `_count` API: matches of `query` (or `q`), `min_score` honored."""
    body = dict(body or {})
    for key in body:
        if key not in ("query", "min_score"):
            raise parsing(f"request does not support [{key}]")
    if "q" in params:
        body["query"] = uri_query(params["q"])
    comp = Compiler(store)
    with store.lock:
        node: Node = comp.compile(body.get("query"), body.get("min_score") is not None)
        where = node.pred
        join_sql = ""
        if body.get("min_score") is not None:
            join_sql = "".join(f" LEFT JOIN {a} ON {a}.rid = d.rid" for a in sorted(node.joins))
            where = f"({where}) AND ({node.score or '0.0'}) >= {comp.p(float(body['min_score']))}"
        if where == "1":
            n = store.conn.execute("SELECT count(*) FROM docs").fetchone()[0]
        else:
            n = store.conn.execute(f"{comp.with_clause()}SELECT count(*) FROM docs d{join_sql} WHERE {where}",
                                   comp.params).fetchone()[0]
    return {"count": int(n), "_shards": dict(SHARDS)}
