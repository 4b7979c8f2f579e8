"""Aggregations over a query's matches, computed exactly in SQL, answered in OpenSearch's shapes.

Bucket aggregations: `terms` (size, order by _count or _key, min_doc_count >= 1, include/exclude),
`filter`, `filters`, `global`, `missing`, `range`, `histogram`, `date_histogram`; metrics: `min`,
`max`, `avg`, `sum`, `value_count`, `cardinality` (exact), `stats`. Bucket aggregations nest
sub-aggregations. A single shard is exact, so `doc_count_error_upper_bound` is always 0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gqlsync.embedded.search.dates import round_date
from gqlsync.embedded.search.errors import SearchError, fielddata_reason, parsing, query_shard, unsupported
from gqlsync.embedded.search.mapping import FLOAT_TYPES, Field
from gqlsync.embedded.search.query import Compiler

_METRICS = {"min", "max", "avg", "sum", "value_count", "cardinality", "stats"}
_BUCKETS = {"terms", "filter", "filters", "global", "missing", "range", "histogram", "date_histogram"}
_UNSUPPORTED = {"top_hits", "percentiles", "percentile_ranks", "extended_stats", "date_range", "ip_range",
                "significant_terms", "significant_text", "rare_terms", "multi_terms", "composite", "nested",
                "reverse_nested", "geo_distance", "geohash_grid", "geotile_grid", "geo_bounds", "geo_centroid",
                "scripted_metric", "bucket_script", "bucket_selector", "bucket_sort", "avg_bucket", "max_bucket",
                "min_bucket", "sum_bucket", "stats_bucket", "cumulative_sum", "derivative", "moving_avg",
                "moving_fn", "serial_diff", "weighted_avg", "median_absolute_deviation", "sampler",
                "diversified_sampler", "adjacency_matrix", "auto_date_histogram", "variable_width_histogram",
                "matrix_stats", "boxplot", "t_test", "top_metrics", "string_stats", "children", "parent",
                "variable_histogram"}
Result = tuple[dict[str, Any], str]  # an aggregation's body and its typed_keys prefix
_TYPED_PREFIX = {"min": "min", "max": "max", "avg": "avg", "sum": "sum", "value_count": "value_count",
                 "cardinality": "cardinality", "stats": "stats", "filter": "filter", "filters": "filters",
                 "global": "global", "missing": "missing", "range": "range", "histogram": "histogram",
                 "date_histogram": "date_histogram"}


@dataclass(frozen=True)
class DocSet:
    """The documents an aggregation runs over: `sql` selects their rids (None: every document)."""

    sql: str | None

    def restrict(self, column: str) -> str:
        return f" AND {column} IN ({self.sql})" if self.sql is not None else ""

    def narrow(self, pred: str) -> DocSet:
        if pred == "1":
            return self
        base = f" AND d.rid IN ({self.sql})" if self.sql is not None else ""
        return DocSet(f"SELECT d.rid FROM docs d WHERE ({pred}){base}")


class Aggregator:
    """Runs one request's `aggs` against one index."""

    def __init__(self, comp: Compiler, typed_keys: bool = False) -> None:
        self.comp = comp
        self.store = comp.store
        self.typed_keys = typed_keys

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self.store.conn.execute(self.comp.with_clause() + sql, self.comp.params).fetchall()

    def one(self, sql: str) -> tuple[Any, ...]:
        return self.rows(sql)[0]

    def error(self, reason: str, error_type: str = "illegal_argument_exception") -> SearchError:
        return SearchError(400, error_type, reason, shard_level=True, index=self.store.name)

    # -- parsing
    def run(self, specs: Any, docs: DocSet) -> dict[str, Any]:
        if not isinstance(specs, dict):
            raise parsing("Unexpected token in [aggs]: aggregations must be an object")
        out: dict[str, Any] = {}
        for name, spec in specs.items():
            if not isinstance(spec, dict):
                raise parsing(f"Expected [START_OBJECT] under [{name}], but got a [{type(spec).__name__}]")
            kinds = [k for k in spec if k not in ("aggs", "aggregations", "meta")]
            if not kinds:
                raise parsing(f"Missing definition for aggregation [{name}]")
            if len(kinds) > 1:
                raise parsing(f"Found two aggregation type definitions in [{name}]: [{kinds[0]}] and [{kinds[1]}]")
            kind = kinds[0]
            subs = spec.get("aggs", spec.get("aggregations"))
            if kind in _UNSUPPORTED:
                raise unsupported(f"the [{kind}] aggregation")
            if kind not in _METRICS | _BUCKETS:
                raise parsing(f"Unknown aggregation type [{kind}]")
            if subs is not None and kind in _METRICS:
                raise parsing(f"Aggregator [{name}] of type [{kind}] cannot accept sub-aggregations")
            body = spec[kind]
            if not isinstance(body, dict):
                raise parsing(f"[{kind}] aggregation [{name}] must be an object")
            if kind in _METRICS:
                result, prefix = self.metric(kind, name, body, docs)
            else:
                result, prefix = getattr(self, kind)(name, body, docs, subs or {})
            if "meta" in spec:
                result["meta"] = spec["meta"]
            out[f"{prefix}#{name}" if self.typed_keys else name] = result
        return out

    def _field(self, kind: str, name: str, body: dict[str, Any], allowed: set[str]) -> Field | None:
        for key in body:
            if key not in allowed | {"field"}:
                if key in ("script", "missing", "format", "value_type"):
                    raise unsupported(f"[{key}] in the [{kind}] aggregation")
                raise parsing(f"[{kind}] unknown field [{key}]")
        path = body.get("field")
        if not isinstance(path, str):
            raise SearchError(400, "illegal_argument_exception",
                              "Required one of fields [field, script], but none were specified. "
                              f"(aggregation [{name}])")
        f = self.store.mapping.fields.get(path)
        if f is not None and f.type == "text":
            raise self.error(fielddata_reason(path))
        return f

    def _table(self, f: Field) -> tuple[str, int]:
        return ("num" if f.stores_numbers else "kw"), self.store.fids[f.path]

    # -- metrics
    def metric(self, kind: str, name: str, body: dict[str, Any], docs: DocSet) -> tuple[dict[str, Any], str]:
        allowed = {"precision_threshold", "execution_hint"} if kind == "cardinality" else set()
        f = self._field(kind, name, body, allowed)
        if f is not None and kind not in ("value_count", "cardinality") and not f.stores_numbers:
            raise self.error(f"Field [{f.path}] of type [{f.type}] is not supported for aggregation [{kind}]")
        if f is None:
            count, lo, hi, total, distinct = 0, None, None, 0.0, 0
        else:
            table, fid = self._table(f)
            count, lo, hi, total, distinct = self.one(
                f"SELECT count(*), min(v), max(v), total(v), count(DISTINCT v) FROM {table} t WHERE t.field = {fid}"
                + docs.restrict("t.doc"))
        if kind == "value_count":
            return {"value": count}, kind
        if kind == "cardinality":
            return {"value": distinct}, kind

        def value(v: Any) -> dict[str, Any]:
            out: dict[str, Any] = {"value": float(v) if v is not None else None}
            if v is not None and f is not None and f.type == "date":
                out["value_as_string"] = f.date_format.render(int(v))
            return out

        avg = (total / count) if count else None
        if kind == "min":
            return value(lo), kind
        if kind == "max":
            return value(hi), kind
        if kind == "sum":
            return {"value": float(total)}, kind
        if kind == "avg":
            return {"value": avg}, kind
        stats: dict[str, Any] = {"count": count, "min": float(lo) if lo is not None else None,
                                 "max": float(hi) if hi is not None else None, "avg": avg, "sum": float(total)}
        if f is not None and f.type == "date" and lo is not None and hi is not None:
            render = f.date_format.render
            stats.update({"min_as_string": render(int(lo)), "max_as_string": render(int(hi)),
                          "avg_as_string": render(int(avg or 0)), "sum_as_string": render(int(total))})
        return stats, kind

    # -- buckets
    def _count(self, docs: DocSet) -> int:
        if docs.sql is None:
            return int(self.one("SELECT count(*) FROM docs")[0])
        return int(self.one(f"SELECT count(*) FROM ({docs.sql})")[0])

    def _bucket(self, docs: DocSet, subs: dict[str, Any], **fields: Any) -> dict[str, Any]:
        out = dict(fields)
        out.setdefault("doc_count", self._count(docs))
        out.update(self.run(subs, docs))
        return out

    def filter(self, name: str, body: dict[str, Any], docs: DocSet, subs: dict[str, Any]) -> Result:
        node = self.comp.compile(body, False)
        narrowed = docs.narrow(node.pred)
        return self._bucket(narrowed, subs), "filter"

    def filters(self, name: str, body: dict[str, Any], docs: DocSet, subs: dict[str, Any]) -> Result:
        for key in body:
            if key not in ("filters", "other_bucket", "other_bucket_key"):
                raise parsing(f"[filters] unknown field [{key}]")
        spec = body.get("filters")
        keyed = isinstance(spec, dict)
        items = list(spec.items()) if isinstance(spec, dict) else list(enumerate(spec or []))
        nodes = [(k, self.comp.compile(q, False)) for k, q in items]
        if keyed:
            buckets: Any = {str(k): self._bucket(docs.narrow(n.pred), subs) for k, n in nodes}
        else:
            buckets = [self._bucket(docs.narrow(n.pred), subs) for _, n in nodes]
        other = body.get("other_bucket") or "other_bucket_key" in body
        if other:
            none = " AND ".join(f"NOT ({n.pred})" for _, n in nodes) or "1"
            bucket = self._bucket(docs.narrow(none), subs)
            if keyed:
                buckets[str(body.get("other_bucket_key", "_other_"))] = bucket
            else:
                buckets.append(bucket)
        return {"buckets": buckets}, "filters"

    def global_(self, name: str, body: dict[str, Any], docs: DocSet, subs: dict[str, Any]) -> Result:
        if body:
            raise parsing(f"[global] unknown field [{next(iter(body))}]")
        return self._bucket(DocSet(None), subs), "global"

    def missing(self, name: str, body: dict[str, Any], docs: DocSet, subs: dict[str, Any]) -> Result:
        f = self._field("missing", name, body, set())
        if f is None:
            return self._bucket(docs, subs), "missing"
        table, fid = self._table(f)
        return self._bucket(docs.narrow(f"d.rid NOT IN (SELECT doc FROM {table} WHERE field = {fid})"), subs), "missing"

    def _key(self, f: Field, v: Any) -> dict[str, Any]:
        if f.type == "date":
            return {"key": int(v), "key_as_string": f.date_format.render(int(v))}
        if f.type == "boolean":
            return {"key": int(v), "key_as_string": "true" if v else "false"}
        if f.type in FLOAT_TYPES:
            return {"key": float(v)}
        return {"key": v}

    def terms(self, name: str, body: dict[str, Any], docs: DocSet, subs: dict[str, Any]) -> Result:
        f = self._field("terms", name, body, {"size", "shard_size", "order", "min_doc_count", "shard_min_doc_count",
                                               "include", "exclude", "execution_hint", "collect_mode",
                                               "show_term_doc_count_error"})
        size = int(body.get("size", 10))
        if size < 1:
            raise self.error(f"[size] must be greater than 0. Found [{size}] in [{name}]")
        min_count = int(body.get("min_doc_count", 1))
        if min_count < 1:
            raise unsupported("[min_doc_count] 0 in the [terms] aggregation")
        prefix = "sterms"
        if f is not None and (f.stores_numbers and f.type not in FLOAT_TYPES):
            prefix = "lterms"
        elif f is not None and f.type in FLOAT_TYPES:
            prefix = "dterms"
        if f is None:
            return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": 0, "buckets": []}, "sterms"
        table, fid = self._table(f)
        cond = f"t.field = {fid}" + docs.restrict("t.doc") + self._include_exclude(f, body)
        order = self._order(body.get("order", {"_count": "desc"}))
        rows = self.rows(f"SELECT t.v, count(*) AS c FROM {table} t WHERE {cond} GROUP BY t.v"
                         + (f" HAVING c >= {min_count}" if min_count > 1 else "") + f" ORDER BY {order} LIMIT {size}")
        total = int(self.one(f"SELECT count(*) FROM {table} t WHERE {cond}")[0])
        buckets = []
        for v, c in rows:
            sub_docs = docs.narrow(f"d.rid IN (SELECT doc FROM {table} WHERE field = {fid} AND v = "
                                   f"{self.comp.p(v)})")
            bucket = {**self._key(f, v), "doc_count": c}
            if subs:
                bucket.update(self.run(subs, sub_docs))
            buckets.append(bucket)
        return {"doc_count_error_upper_bound": 0, "sum_other_doc_count": total - sum(b["doc_count"] for b in buckets),
                "buckets": buckets}, prefix

    def _include_exclude(self, f: Field, body: dict[str, Any]) -> str:
        from gqlsync.embedded.search.patterns import lucene_regex

        out = ""
        for key, neg in (("include", ""), ("exclude", "NOT ")):
            spec = body.get(key)
            if spec is None:
                continue
            if isinstance(spec, list):
                values = [f.query_value(v) for v in spec]
                out += f" AND {neg}t.v IN ({', '.join(self.comp.p(v) for v in values) or 'NULL'})"
            elif isinstance(spec, str):
                out += f" AND {neg}gq_regexp({self.comp.p(lucene_regex(spec))}, 0, t.v)"
            else:
                raise unsupported(f"[{key}] partitions in the [terms] aggregation")
        return out

    def _order(self, spec: Any) -> str:
        specs = spec if isinstance(spec, list) else [spec]
        parts = []
        for item in specs:
            if not isinstance(item, dict) or len(item) != 1:
                raise parsing("[order] must be an object with one key, or a list of such")
            (key, direction), = item.items()
            direction = str(direction).lower()
            if direction not in ("asc", "desc"):
                raise parsing(f"Unknown order direction [{direction}]")
            if key == "_count":
                parts.append(f"c {direction.upper()}")
            elif key in ("_key", "_term"):
                parts.append(f"t.v {direction.upper()}")
            else:
                raise unsupported(f"ordering terms buckets by the sub-aggregation [{key}]")
        if not any(p.startswith("t.v") for p in parts):
            parts.append("t.v ASC")
        return ", ".join(parts)

    def range(self, name: str, body: dict[str, Any], docs: DocSet, subs: dict[str, Any]) -> Result:
        f = self._field("range", name, body, {"ranges", "keyed"})
        ranges = body.get("ranges")
        if not isinstance(ranges, list) or not ranges:
            raise parsing(f"No [ranges] specified for the [{name}] aggregation")
        if f is not None and not f.stores_numbers:
            raise self.error(f"Field [{f.path}] of type [{f.type}] is not supported for aggregation [range]")
        buckets = []
        for r in ranges:
            lo, hi = r.get("from"), r.get("to")
            lo = float(lo) if lo is not None else None
            hi = float(hi) if hi is not None else None
            key = r.get("key") or f"{'*' if lo is None else _num_key(lo)}-{'*' if hi is None else _num_key(hi)}"
            bucket: dict[str, Any] = {"key": key}
            if lo is not None:
                bucket["from"] = lo
            if hi is not None:
                bucket["to"] = hi
            if f is None:
                bucket.update(self._bucket(DocSet("SELECT 0 WHERE 0"), subs))
            else:
                table, fid = self._table(f)
                cond = " AND ".join(c for c in (f"v >= {self.comp.p(lo)}" if lo is not None else "",
                                                f"v < {self.comp.p(hi)}" if hi is not None else "") if c) or "1"
                bucket.update(self._bucket(docs.narrow(f"d.rid IN (SELECT doc FROM {table} WHERE field = {fid} AND "
                                                       f"{cond})"), subs))
            buckets.append(bucket)
        if body.get("keyed"):
            return {"buckets": {b.pop("key"): b for b in buckets}}, "range"
        return {"buckets": buckets}, "range"

    def histogram(self, name: str, body: dict[str, Any], docs: DocSet, subs: dict[str, Any]) -> Result:
        f = self._field("histogram", name, body, {"interval", "offset", "min_doc_count", "keyed", "order"})
        if "order" in body:
            raise unsupported("[order] in the [histogram] aggregation")
        try:
            interval = float(body["interval"])
        except (KeyError, TypeError, ValueError):
            raise parsing(f"[interval] must be a number in the [{name}] histogram") from None
        if interval <= 0:
            raise parsing(f"[interval] must be >0 for histogram aggregation [{name}]")
        offset = float(body.get("offset", 0))
        if f is not None and not f.stores_numbers:
            raise self.error(f"Field [{f.path}] of type [{f.type}] is not supported for aggregation [histogram]")

        def key_of(v: float) -> float:
            return math.floor((v - offset) / interval) * interval + offset

        return self._histogram(f, body, docs, subs, key_of, lambda k: k + interval, lambda k: {"key": float(k)},
                               "histogram")

    def _histogram(self, f: Field | None, body: dict[str, Any], docs: DocSet, subs: dict[str, Any],
                   key_of: Callable[[float], float], next_key: Callable[[float], float],
                   render: Callable[[float], dict[str, Any]], prefix: str) -> tuple[dict[str, Any], str]:
        min_count = int(body.get("min_doc_count", 0))
        if f is None:
            return {"buckets": []}, prefix
        table, fid = self._table(f)
        counts: dict[float, set[int]] = {}
        for v, doc in self.rows(f"SELECT t.v, t.doc FROM {table} t WHERE t.field = {fid}" + docs.restrict("t.doc")):
            counts.setdefault(key_of(float(v)), set()).add(doc)
        keys = sorted(counts)
        if keys and min_count == 0:
            filled: list[float] = []
            k = keys[0]
            while k <= keys[-1] and len(filled) < 65536:
                filled.append(k)
                k = next_key(k)
            keys = sorted(set(filled) | set(keys))
        buckets = []
        for k in keys:
            found = counts.get(k, set())
            if len(found) < min_count:
                continue
            bucket = {**render(k), "doc_count": len(found)}
            if subs:
                upper = next_key(k)
                bucket.update(self.run(subs, docs.narrow(
                    f"d.rid IN (SELECT doc FROM {table} WHERE field = {fid} AND v >= {self.comp.p(k)} AND v < "
                    f"{self.comp.p(upper)})")))
            buckets.append(bucket)
        if body.get("keyed"):
            return {"buckets": {str(b.get("key_as_string", b["key"])): b for b in buckets}}, prefix
        return {"buckets": buckets}, prefix

    def date_histogram(self, name: str, body: dict[str, Any], docs: DocSet, subs: dict[str, Any]) -> Result:
        f = self._field("date_histogram", name, body, {"calendar_interval", "fixed_interval", "interval", "offset",
                                                        "min_doc_count", "keyed", "time_zone", "order"})
        if body.get("time_zone") not in (None, "UTC", "Z", "+00:00"):
            raise unsupported("[time_zone] in the [date_histogram] aggregation")
        if "order" in body or "offset" in body:
            raise unsupported("[order] and [offset] in the [date_histogram] aggregation")
        if f is not None and f.type != "date":
            raise self.error(f"Field [{f.path}] of type [{f.type}] is not supported for aggregation [date_histogram]")
        calendar = body.get("calendar_interval")
        fixed = body.get("fixed_interval") or body.get("interval")
        units = {"minute": "m", "1m": "m", "hour": "h", "1h": "h", "day": "d", "1d": "d", "week": "w", "1w": "w",
                 "month": "M", "1M": "M", "quarter": "q", "1q": "q", "year": "y", "1y": "y"}
        epoch = datetime(1970, 1, 1, tzinfo=UTC)

        def as_dt(ms: float) -> datetime:
            return epoch + timedelta(milliseconds=ms)

        def ms_of(dt: datetime) -> float:
            return (dt - epoch) / timedelta(milliseconds=1)

        if calendar is not None:
            unit = units.get(str(calendar))
            if unit is None:
                raise parsing(f"The supplied interval [{calendar}] could not be parsed as a calendar interval.")

            def key_of(v: float) -> float:
                dt = as_dt(v)
                if unit == "q":
                    month = (dt.month - 1) // 3 * 3 + 1
                    return ms_of(dt.replace(month=month, day=1, hour=0, minute=0, second=0, microsecond=0))
                return ms_of(round_date(dt, unit, False))

            def next_key(k: float) -> float:
                dt = as_dt(k)
                if unit in ("M", "q", "y"):
                    months = dt.month - 1 + {"M": 1, "q": 3, "y": 12}[unit]
                    return ms_of(dt.replace(year=dt.year + months // 12, month=months % 12 + 1))
                return k + {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}[unit]
        elif fixed is not None:
            m = re.fullmatch(r"(\d+)(ms|s|m|h|d)", str(fixed))
            if not m or int(m.group(1)) <= 0:
                raise parsing(f"failed to parse setting [date_histogram.fixed_interval] with value [{fixed}] as a "
                              "time value")
            step = float(int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000,
                                             "d": 86_400_000}[m.group(2)])

            def key_of(v: float) -> float:
                return math.floor(v / step) * step

            def next_key(k: float) -> float:
                return k + step
        else:
            raise SearchError(400, "illegal_argument_exception", "Invalid interval specified, must be non-null and "
                                                                 "non-empty")
        fmt = f.date_format if f else None
        return self._histogram(f, body, docs, subs, key_of, next_key,
                               lambda k: {"key_as_string": fmt.render(int(k)) if fmt else str(int(k)),
                                          "key": int(k)}, "date_histogram")


def _num_key(v: float) -> str:
    return repr(float(v))


setattr(Aggregator, "global", Aggregator.global_)  # `global` is a keyword


def shard_error(index: str, reason: str) -> SearchError:
    return query_shard(reason, index)
