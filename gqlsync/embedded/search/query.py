"""The query DSL compiled to SQL: each query becomes a predicate over `d.rid` and a score expression.

A compiled `Node` holds `pred` (true for the documents the query matches), and `score` (the
document's Lucene score; only meaningful where `pred` holds, or everywhere if `zero_safe`). Text
leaves that score are materialized CTEs `(rid, s)` computed from the FTS5 postings (BM25 as
scoring.py defines it); the hits query LEFT JOINs them. Term-level leaves are `d.rid IN (SELECT
doc FROM kw|num ...)` subqueries that SQLite drives from the (field, value) index, so a selective
filter touches only its matches. Parameters are named (`:p1`...) so fragments compose in any order.
"""

from __future__ import annotations

import math
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from gqlsync.embedded.search import scoring
from gqlsync.embedded.search.analysis import GAP, fts_string, tokenize
from gqlsync.embedded.search.dates import date_format, parse_math, zone
from gqlsync.embedded.search.errors import SearchError, parsing, query_shard, unsupported
from gqlsync.embedded.search.mapping import FLOAT_TYPES, INTEGER_TYPES, Field
from gqlsync.embedded.search.patterns import (
    compiled,
    lucene_regex,
    regex_literal_prefix,
    successor,
    wildcard_glob,
    wildcard_regex,
)
from gqlsync.embedded.search.scoring import float32
from gqlsync.embedded.search.store import IndexStore


def register_functions(conn: sqlite3.Connection) -> None:
    """SQL functions the compiled queries call: `gq_regexp(regex, ignore_case, value)`."""

    def regexp(rx: str, ignore_case: int, value: Any) -> int:
        return 1 if value is not None and compiled(rx, bool(ignore_case)).fullmatch(str(value)) else 0

    conn.create_function("gq_regexp", 3, regexp, deterministic=True)
    conn.create_function("gq_f32", 1, lambda v: float32(v) if v is not None else None, deterministic=True)


@dataclass
class Node:
    pred: str
    score: str | None = None  # None: a constant 0
    zero_safe: bool = False  # `score` is 0 where `pred` does not hold
    joins: frozenset[str] = frozenset()  # CTE aliases `score` reads (LEFT JOINed on rid)
    # The same predicate as a correlated check of one document (`EXISTS (... doc = d.rid ...)`), which an
    # indexed lookup answers without building the whole match set; None: `pred` is the only form.
    probe: str | None = None
    # A `SELECT 1 ...` yielding about one row per match (an upper bound), to estimate selectivity; None: unknown.
    count_sql: str | None = None

    def score_or_zero(self) -> str:
        """The score where the query matches, 0 elsewhere (what an optional clause adds)."""
        if self.score is None:
            return "0"
        if self.zero_safe:
            return self.score
        return f"(CASE WHEN {self.pred} THEN {self.score} ELSE 0 END)"


MATCH_NONE = Node("0")


@dataclass
class Compiler:
    """Compiles one request's queries against one index, collecting CTEs and parameters."""

    store: IndexStore
    params: dict[str, Any] = field(default_factory=dict)
    ctes: dict[str, str] = field(default_factory=dict)
    now: float = field(default_factory=time.time)

    @property
    def index(self) -> str:
        return self.store.name

    def p(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return ":" + name

    def cte(self, sql: str) -> str:
        alias = f"c{len(self.ctes)}"
        self.ctes[alias] = sql
        return alias

    def with_clause(self, aliases: set[str] | None = None) -> str:
        names = list(self.ctes) if aliases is None else [a for a in self.ctes if a in aliases]
        if not names:
            return ""
        return "WITH " + ", ".join(f"{a} AS MATERIALIZED ({self.ctes[a]})" for a in names) + " "

    def const(self, value: float) -> str:
        return repr(float(value)) if math.isfinite(value) else self.p(value)

    # -- entry points
    def compile(self, query: Any, scoring_ctx: bool = True) -> Node:
        if query is None or query == {}:
            return self.match_all({}, scoring_ctx)
        if not isinstance(query, dict):
            raise parsing(f"query malformed, must start with start_object, got [{type(query).__name__}]")
        if len(query) != 1:
            keys = list(query)
            raise parsing(f"[{keys[0]}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]")
        (kind, spec), = query.items()
        handler = _HANDLERS.get(kind)
        if handler is None:
            if kind in _UNSUPPORTED_QUERIES:
                raise unsupported(f"the [{kind}] query")
            raise parsing(f"unknown query [{kind}]")
        return handler(self, spec, scoring_ctx)

    # -- helpers
    def field(self, name: str) -> Field | None:
        return self.store.mapping.fields.get(name)

    def fid(self, f: Field) -> int:
        return self.store.fids[f.path]

    def shard_error(self, reason: str) -> SearchError:
        return query_shard(reason, self.index)

    def query_value(self, f: Field, value: Any, query: str) -> Any:
        try:
            return f.query_value(value)
        except ValueError as exc:
            raise self.shard_error(f"failed to create query: {exc}") from None

    # -- generic leaves
    def value_set(self, f: Field, cond: str, score: float | None) -> Node:
        table = "num" if f.stores_numbers else "kw"
        fid = self.fid(f)
        pred = f"d.rid IN (SELECT doc FROM {table} WHERE field = {fid} AND {cond})"
        probe = f"EXISTS (SELECT 1 FROM {table} WHERE doc = d.rid AND field = {fid} AND {cond})"
        return Node(pred, self.const(score) if score is not None else None, probe=probe,
                    count_sql=f"SELECT 1 FROM {table} WHERE field = {fid} AND {cond}")

    def estimate(self, node: Node, cap: int) -> int | None:
        """About how many documents `node` matches, counted up to `cap`; None when it cannot tell."""
        if node.count_sql is None:
            return None
        return int(self.store.conn.execute(f"SELECT count(*) FROM ({node.count_sql} LIMIT {int(cap)})",
                                           self.params).fetchone()[0])

    def conjunction(self, positives: list[Node], negatives: list[Node]) -> tuple[list[str], Node]:
        """The predicates of `positives AND NOT negatives`, planned by selectivity, and a node standing for it
        (its probe and estimate; its pred is unset).

        Each `d.rid IN (subquery)` SQLite cannot drive from is materialized in full, so only the most selective
        clause keeps that form (SQLite loops over its matches) and the others become indexed per-document probes.
        """
        plain = [n.pred for n in positives] + [f"NOT ({n.pred})" for n in negatives]
        probe = None
        if all(n.probe is not None for n in positives + negatives):
            probe = " AND ".join([f"({n.probe})" for n in positives] + [f"NOT ({n.probe})" for n in negatives])
        if not positives or len(positives) + len(negatives) < 2:
            only = positives[0] if positives else None
            return plain, Node("", probe=probe, count_sql=only.count_sql if only is not None else None)
        driver: int | None = None
        for cap in (64, 1024, 16384):  # each count reads at most `cap` index entries: stop at the first level
            for i, n in enumerate(positives):  # where some clause is under it, counting the rest up to the best
                est = self.estimate(n, cap)
                if est is not None and est < cap:
                    cap, driver = est, i
            if driver is not None:
                break
        if driver is None:  # nothing known to be selective: drive from a clause that cannot be probed, or the first
            driver = next((i for i, n in enumerate(positives) if n.probe is None), 0)
        preds = [n.pred if i == driver or n.probe is None else n.probe for i, n in enumerate(positives)]
        preds += [f"NOT ({n.probe if n.probe is not None else n.pred})" for n in negatives]
        return preds, Node("", probe=probe, count_sql=positives[driver].count_sql)

    def term_score(self, f: Field, value: Any, boost: float, scoring_ctx: bool) -> float | None:
        """Lucene's score of a term on a field without norms (keyword, boolean); numbers score the boost."""
        if not scoring_ctx:
            return None
        if f.type not in ("keyword", "boolean"):
            return boost
        fid = self.fid(f)
        table = "num" if f.stores_numbers else "kw"
        df = self.store.conn.execute(f"SELECT count(*) FROM {table} WHERE field = ? AND v = ?",
                                     (fid, value)).fetchone()[0]
        docs, total = self.store.field_stats(fid)
        if not df:
            return boost
        weight = float32(boost * scoring.idf(docs, df))
        return scoring.no_norms_score(weight, scoring.avgdl(docs, total))

    def text_terms(self, f: Field, terms: list[str], boost: float, required: int, scoring_ctx: bool) -> Node:
        """Documents whose text field holds at least `required` of `terms`, scored with BM25."""
        if not terms or required > len(terms):
            return MATCH_NONE
        fid = self.fid(f)
        if not scoring_ctx and required in (1, len(set(terms))):
            op = " OR " if required == 1 else " AND "
            expr = op.join(fts_string([t]) for t in dict.fromkeys(terms))
            ph = self.p(expr)
            return Node(f"d.rid IN (SELECT rowid FROM t{fid} WHERE t{fid} MATCH {ph})",
                        count_sql=f"SELECT 1 FROM t{fid} WHERE t{fid} MATCH {ph}")
        counts: dict[str, int] = {}
        for t in terms:
            counts[t] = counts.get(t, 0) + 1
        docs, total = self.store.field_stats(fid)
        placeholders = {t: self.p(t) for t in counts}
        dfs = dict(self.store.conn.execute(
            f"SELECT term, doc FROM t{fid}_r WHERE term IN ({', '.join('?' * len(counts))})", list(counts)).fetchall())
        weight_case, mult_case = [], []
        for t, ph in placeholders.items():
            weight = float32(boost * scoring.idf(docs, int(dfs.get(t, 0)))) * counts[t]
            weight_case.append(f"WHEN {ph} THEN {self.const(weight)}")
            mult_case.append(f"WHEN {ph} THEN {counts[t]}")
        a, c = scoring.length_factors(scoring.avgdl(docs, total))
        sql = (f"SELECT x.doc AS rid, sum(x.w * x.tf / (x.tf + {self.const(a)} + {self.const(c)} * p.norm)) AS s, "
               f"sum(x.m) AS n FROM (SELECT doc, count(*) AS tf, CASE term {' '.join(weight_case)} END AS w, "
               f"CASE term {' '.join(mult_case)} END AS m FROM t{fid}_i "
               f"WHERE term IN ({', '.join(placeholders.values())}) "
               f"GROUP BY doc, term) x JOIN present p ON p.field = {fid} AND p.doc = x.doc GROUP BY x.doc")
        if required > 1:
            sql += f" HAVING n >= {int(required)}"
        alias = self.cte(sql)
        return Node(f"d.rid IN (SELECT rid FROM {alias})", f"COALESCE({alias}.s, 0)", True, frozenset({alias}))

    def text_phrases(self, f: Field, phrases: list[list[str]], boost: float, scoring_ctx: bool) -> Node:
        """Documents holding any of `phrases` (token lists, one position apart) in a text field.

        Scored as Lucene's (multi-)phrase query: the summed idf of its terms, times the BM25 tf
        part of the phrase frequency. Frequencies are counted on the stored tokens in Python.
        """
        phrases = [ph for ph in phrases if ph]
        if not phrases:
            return MATCH_NONE
        fid = self.fid(f)
        expr = " OR ".join(fts_string(ph) for ph in phrases)
        if not scoring_ctx:
            return Node(f"d.rid IN (SELECT rowid FROM t{fid} WHERE t{fid} MATCH {self.p(expr)})")
        conn = self.store.conn
        docs, total = self.store.field_stats(fid)
        terms = sorted({t for ph in phrases for t in ph})
        dfs = dict(conn.execute(f"SELECT term, doc FROM t{fid}_r WHERE term IN ({', '.join('?' * len(terms))})",
                                terms).fetchall())
        weight = float32(boost * sum(scoring.idf(docs, int(dfs.get(t, 0))) for t in terms))
        a, c = scoring.length_factors(scoring.avgdl(docs, total))
        rows = conn.execute(f"SELECT t.rowid, t.body, p.norm FROM t{fid} t JOIN present p ON p.field = ? AND "
                            f"p.doc = t.rowid WHERE t{fid} MATCH ?", (fid, expr)).fetchall()
        scored = []
        for rid, body, norm in rows:
            tokens = body.split(" ")
            freq = 0
            for ph in phrases:
                n = len(ph)
                first = ph[0]
                freq += sum(1 for i in range(len(tokens) - n + 1) if tokens[i] == first and tokens[i:i + n] == ph)
            if freq:
                scored.append([rid, weight * freq / (freq + a + c * norm)])
        scores = self.p(orjson.dumps(scored).decode())
        alias = self.cte(f"SELECT value->>0 AS rid, value->>1 AS s FROM json_each({scores})")
        return Node(f"d.rid IN (SELECT rid FROM {alias})", f"COALESCE({alias}.s, 0)", True, frozenset({alias}))

    def text_term_set(self, f: Field, cond: str, boost: float, scoring_ctx: bool) -> Node:
        """Constant-score documents whose text field has a term satisfying `cond` (over column `term`)."""
        fid = self.fid(f)
        pred = (f"d.rid IN (SELECT doc FROM t{fid}_i WHERE term IN (SELECT term FROM t{fid}_r WHERE {cond} "
                f"AND term <> {self.p(GAP)}))")
        return Node(pred, self.const(boost) if scoring_ctx else None)

    def expansions(self, f: Field, prefix: str, limit: int) -> list[str]:
        fid = self.fid(f)
        upper = successor(prefix)
        sql = f"SELECT term FROM t{fid}_r WHERE term >= ? AND term <> ?"
        args: list[Any] = [prefix, GAP]
        if upper is not None:
            sql += " AND term < ?"
            args.append(upper)
        return [r[0] for r in self.store.conn.execute(sql + " ORDER BY term LIMIT ?", [*args, limit])]

    # -- query types
    def match_all(self, spec: Any, scoring_ctx: bool) -> Node:
        spec = _options("match_all", spec, {"boost", "_name"})
        return Node("1", self.const(float(spec.get("boost", 1.0))) if scoring_ctx else None)

    def match_none(self, spec: Any, scoring_ctx: bool) -> Node:
        _options("match_none", spec, {"_name"})
        return MATCH_NONE

    def bool_query(self, spec: Any, scoring_ctx: bool) -> Node:
        spec = _options("bool", spec, {"must", "should", "must_not", "filter", "minimum_should_match", "boost",
                                       "_name", "adjust_pure_negative"})
        must = [self.compile(q, scoring_ctx) for q in _clauses(spec, "must")]
        should = [self.compile(q, scoring_ctx) for q in _clauses(spec, "should")]
        filters = [self.compile(q, False) for q in _clauses(spec, "filter")]
        must_not = [self.compile(q, False) for q in _clauses(spec, "must_not")]
        msm_spec = spec.get("minimum_should_match")
        required = 0 if msm_spec is None else min_should_match(len(should), msm_spec)
        if should and not (must or filters):
            required = max(required, 1)  # without required clauses, one optional clause must match
        if not (must or should or filters or must_not):
            return self.match_all({"boost": spec.get("boost", 1.0)}, scoring_ctx)  # an empty bool matches all
        preds, plan = self.conjunction(must + filters, must_not)
        if required > len(should):
            return MATCH_NONE  # Lucene: fewer optional clauses than minimum_should_match
        if should and required == 1:
            preds.append("(" + " OR ".join(n.pred for n in should) + ")")
        elif should and required > 1:
            counted = " + ".join(f"(CASE WHEN {n.pred} THEN 1 ELSE 0 END)" for n in should)
            preds.append(f"({counted}) >= {required}")
        pred = " AND ".join(f"({p})" for p in preds) if preds else "1"
        probe, count_sql = (plan.probe, plan.count_sql) if not should or required == 0 else (None, None)
        if not scoring_ctx:
            return Node(pred, probe=probe, count_sql=count_sql)
        parts = [n.score for n in must if n.score is not None] + [n.score_or_zero() for n in should
                                                                  if n.score is not None]
        joins = frozenset().union(*(n.joins for n in must + should)) if must or should else frozenset()
        if not parts:  # only filter / must_not clauses (OpenSearch adds match_all as a filter): score 0
            return Node(pred, None, probe=probe, count_sql=count_sql)
        score = "(" + " + ".join(parts) + ")"
        boost = float(spec.get("boost", 1.0))
        if boost != 1.0:
            score = f"({score} * {self.const(boost)})"
        return Node(pred, score, False, joins, probe=probe, count_sql=count_sql)

    def constant_score(self, spec: Any, scoring_ctx: bool) -> Node:
        spec = _options("constant_score", spec, {"filter", "boost", "_name"})
        if "filter" not in spec:
            raise parsing("[constant_score] requires a 'filter' element")
        inner = self.compile(spec["filter"], False)
        return Node(inner.pred, self.const(float(spec.get("boost", 1.0))) if scoring_ctx else None,
                    probe=inner.probe, count_sql=inner.count_sql)

    def dis_max(self, spec: Any, scoring_ctx: bool) -> Node:
        spec = _options("dis_max", spec, {"queries", "tie_breaker", "boost", "_name"})
        queries = spec.get("queries")
        if not isinstance(queries, list) or not queries:
            raise parsing("[dis_max] requires 'queries' field with at least one clause")
        nodes = [self.compile(q, scoring_ctx) for q in queries]
        return self.combine_max(nodes, float(spec.get("tie_breaker", 0.0)), float(spec.get("boost", 1.0)), scoring_ctx)

    def combine_max(self, nodes: list[Node], tie: float, boost: float, scoring_ctx: bool) -> Node:
        nodes = [n for n in nodes if n is not MATCH_NONE]
        if not nodes:
            return MATCH_NONE
        pred = "(" + " OR ".join(f"({n.pred})" for n in nodes) + ")" if len(nodes) > 1 else nodes[0].pred
        if not scoring_ctx:
            return Node(pred)
        scores = [n.score_or_zero() for n in nodes]
        joins = frozenset().union(*(n.joins for n in nodes))
        if len(scores) == 1:
            score = scores[0]
        else:
            best = f"max({', '.join(scores)})"
            score = best if tie == 0 else f"({best} + {self.const(tie)} * (({' + '.join(scores)}) - {best}))"
        if boost != 1.0:
            score = f"({score} * {self.const(boost)})"
        return Node(pred, score, True, joins)

    def ids(self, spec: Any, scoring_ctx: bool) -> Node:
        spec = _options("ids", spec, {"values", "boost", "_name", "type"})
        values = spec.get("values")
        if not isinstance(values, list):
            raise parsing("[ids] query requires [values] to be an array")
        if not values:
            return MATCH_NONE
        pred = f"d.id IN ({', '.join(self.p(str(v)) for v in values)})"
        return Node(pred, self.const(float(spec.get("boost", 1.0))) if scoring_ctx else None)

    # field queries: {"kind": {"field": value | {options}}}
    def _field_spec(self, kind: str, spec: Any, value_key: str, allowed: set[str]) -> tuple[str, dict[str, Any]]:
        if not isinstance(spec, dict):
            raise parsing(f"[{kind}] query malformed, no start_object after query name")
        fields = [k for k in spec if k not in ("boost", "_name")]
        if len(fields) != 1:
            raise parsing(f"[{kind}] query doesn't support multiple fields, found [{fields[0]}] and [{fields[1]}]"
                          if len(fields) > 1 else f"[{kind}] query requires a field")
        name = fields[0]
        body = spec[name]
        if isinstance(body, dict):
            opts = _options(kind, body, allowed | {value_key, "boost", "_name"})
            if value_key not in opts:
                raise parsing(f"[{kind}] query requires [{value_key}] for field [{name}]")
        else:
            opts = {value_key: body}
        if "boost" in spec:
            opts.setdefault("boost", spec["boost"])
        return name, opts

    def term(self, spec: Any, scoring_ctx: bool) -> Node:
        name, opts = self._field_spec("term", spec, "value", {"case_insensitive"})
        return self.term_node(name, opts["value"], float(opts.get("boost", 1.0)),
                              bool(opts.get("case_insensitive", False)), scoring_ctx)

    def term_node(self, name: str, value: Any, boost: float, case_insensitive: bool, scoring_ctx: bool) -> Node:
        if isinstance(value, dict | list) or value is None:
            raise parsing("[term] query does not support array or object values" if value is not None
                          else "field name is null or empty")
        special = self.meta_field(name, "term", [value], boost, scoring_ctx)
        if special is not None:
            return special
        f = self.field(name)
        if f is None or not f.indexed:
            return self.unindexed(f, name)
        if f.type == "text":
            text = str(value) if not isinstance(value, bool) else ("true" if value else "false")
            if case_insensitive:
                rx = re.escape(text)
                return self.text_term_set(f, f"gq_regexp({self.p(rx)}, 1, term)", boost, scoring_ctx)
            if tokenize(text) != [text]:
                return MATCH_NONE  # no single indexed token equals the unanalyzed value
            return self.text_terms(f, [text], boost, 1, scoring_ctx)
        if f.type == "date":
            return self.date_range(f, {"gte": value, "lte": value}, boost, scoring_ctx)
        if f.type in INTEGER_TYPES and _has_fraction(value):
            return MATCH_NONE
        v = self.query_value(f, value, "term")
        if case_insensitive and f.type == "keyword":
            return self.value_set(f, f"gq_regexp({self.p(re.escape(str(v)))}, 1, v)",
                                  boost if scoring_ctx else None)
        return self.value_set(f, f"v = {self.p(v)}", self.term_score(f, v, boost, scoring_ctx))

    def terms(self, spec: Any, scoring_ctx: bool) -> Node:
        if not isinstance(spec, dict):
            raise parsing("[terms] query malformed, no start_object after query name")
        fields = [k for k in spec if k not in ("boost", "_name")]
        if len(fields) != 1:
            raise parsing("[terms] query does not support multiple fields" if fields else
                          "[terms] query requires a field")
        name = fields[0]
        values = spec[name]
        boost = float(spec.get("boost", 1.0))
        if isinstance(values, dict):
            raise unsupported("the terms lookup (terms from another document)")
        if not isinstance(values, list):
            raise parsing(f"[terms] query does not support [{name}] with a non-array value")
        if not values:
            return MATCH_NONE
        special = self.meta_field(name, "terms", values, boost, scoring_ctx)
        if special is not None:
            return special
        f = self.field(name)
        if f is None or not f.indexed:
            return self.unindexed(f, name)
        const = boost if scoring_ctx else None
        if f.type == "text":
            tokens = [str(v) for v in values if tokenize(str(v)) == [str(v)]]
            if not tokens:
                return MATCH_NONE
            return self.text_term_set(f, f"term IN ({', '.join(self.p(t) for t in tokens)})", boost, scoring_ctx)
        if f.type == "date":
            nodes = [self.date_range(f, {"gte": v, "lte": v}, boost, False) for v in values]
            return Node("(" + " OR ".join(n.pred for n in nodes) + ")", self.const(boost) if const else None)
        converted = []
        for v in values:
            if f.type in INTEGER_TYPES and _has_fraction(v):
                continue
            converted.append(self.query_value(f, v, "terms"))
        if not converted:
            return MATCH_NONE
        return self.value_set(f, f"v IN ({', '.join(self.p(v) for v in converted)})", const)

    def meta_field(self, name: str, kind: str, values: list[Any], boost: float, scoring_ctx: bool) -> Node | None:
        if name == "_id":
            pred = f"d.id IN ({', '.join(self.p(str(v)) for v in values)})"
            return Node(pred, self.const(boost) if scoring_ctx else None)
        if name == "_index":
            hit = any(str(v) == self.index for v in values)
            return Node("1" if hit else "0", self.const(boost) if scoring_ctx else None)
        if name.startswith("_") and name not in self.store.mapping.fields:
            raise unsupported(f"a [{kind}] query on the metadata field [{name}]")
        return None

    def unindexed(self, f: Field | None, name: str) -> Node:
        if f is not None and not f.indexed:
            raise self.shard_error(f"failed to create query: Cannot search on field [{name}] since it is not indexed.")
        return MATCH_NONE  # an unmapped field matches nothing, as in OpenSearch

    def range(self, spec: Any, scoring_ctx: bool) -> Node:
        if not isinstance(spec, dict):
            raise parsing("[range] query malformed, no start_object after query name")
        fields = [k for k in spec if k not in ("boost", "_name")]
        if len(fields) != 1 or not isinstance(spec[fields[0]], dict):
            raise parsing("[range] query doesn't support multiple fields" if len(fields) > 1 else
                          "[range] query malformed, no start_object after query name")
        name = fields[0]
        opts = _options("range", spec[name], {"gt", "gte", "lt", "lte", "from", "to", "include_lower",
                                              "include_upper", "boost", "format", "time_zone", "relation", "_name"})
        if opts.get("relation", "INTERSECTS").upper() != "INTERSECTS":
            raise unsupported(f"range relation [{opts['relation']}] (only range fields have it)")
        bounds = _bounds(opts)
        boost = float(opts.get("boost", spec.get("boost")) or 1.0)
        if name == "_id":
            raise unsupported("a [range] query on [_id]")
        f = self.field(name)
        if f is None or not f.indexed:
            return self.unindexed(f, name)
        if f.type == "date":
            return self.date_range(f, bounds, boost, scoring_ctx, opts.get("format"), opts.get("time_zone"))
        conds = []
        for op, value in bounds.items():
            if value is None:
                continue
            v: Any
            if f.is_numeric:
                v = self.range_number(f, value)
            elif f.type == "boolean":
                v = self.query_value(f, value, "range")
            else:
                v = str(value) if not isinstance(value, bool) else ("true" if value else "false")
            conds.append(f"{'v' if f.type != 'text' else 'term'} {_OPS[op]} {self.p(v)}")
        cond = " AND ".join(conds) or "1"
        if f.type == "text":
            return self.text_term_set(f, cond, boost, scoring_ctx)
        return self.value_set(f, cond, boost if scoring_ctx else None)

    def range_number(self, f: Field, value: Any) -> int | float:
        try:
            if isinstance(value, bool):
                raise ValueError(f"Current token ({value}) not numeric")
            n = float(value) if not isinstance(value, int) else value
            if isinstance(value, str):
                n = int(value) if re.fullmatch(r"[+-]?\d+", value.strip()) else float(value)
        except ValueError as exc:
            raise self.shard_error(f"failed to create query: For input string: \"{value}\" ({exc})") from None
        if f.type == "float" and isinstance(n, float):
            return float32(n)
        return n

    def date_range(self, f: Field, bounds: dict[str, Any], boost: float, scoring_ctx: bool,
                   fmt: str | None = None, tz_name: str | None = None) -> Node:
        try:
            parse_fmt = date_format(fmt) if fmt else f.date_format
            tz = zone(tz_name)
        except ValueError as exc:
            raise self.shard_error(f"failed to create query: {exc}") from None
        conds = []
        for op, value in bounds.items():
            if value is None:
                continue
            try:
                millis = parse_math(value, parse_fmt, round_up=op in ("gt", "lte"), tz=tz, now=self.now)
            except ValueError as exc:
                raise self.shard_error(f"failed to create query: {exc}") from None
            conds.append(f"v {_OPS[op]} {self.p(millis)}")
        return self.value_set(f, " AND ".join(conds) or "1", boost if scoring_ctx else None)

    def exists(self, spec: Any, scoring_ctx: bool) -> Node:
        spec = _options("exists", spec, {"field", "boost", "_name"})
        name = spec.get("field")
        if not isinstance(name, str):
            raise parsing("[exists] must be provided with a [field]")
        boost = float(spec.get("boost", 1.0))
        const = self.const(boost) if scoring_ctx else None
        if name in ("_id", "_index", "_source"):
            return Node("1", const)
        fields = [f for f in self.store.mapping.resolve(name)] if "*" in name else self.store.mapping.under(name)
        parts = []
        for f in fields:
            if not f.indexed:
                continue
            fid = self.fid(f)
            table = "present" if f.type == "text" else "num" if f.stores_numbers else "kw"
            parts.append(f"SELECT doc FROM {table} WHERE field = {fid}")
        if not parts:
            return MATCH_NONE
        return Node(f"d.rid IN ({' UNION ALL '.join(parts)})", const)

    def prefix(self, spec: Any, scoring_ctx: bool) -> Node:
        name, opts = self._field_spec("prefix", spec, "value", {"case_insensitive", "rewrite"})
        value = str(opts["value"])
        boost = float(opts.get("boost", 1.0))
        ci = bool(opts.get("case_insensitive", False))
        if ci:
            return self.pattern_node(name, re.escape(value) + r"[\s\S]*", boost, True, scoring_ctx, "prefix")
        if name == "_id":
            return Node(self.starts_with("d.id", value), self.const(boost) if scoring_ctx else None)
        found = self.string_field(name, "prefix")
        if isinstance(found, Node):
            return found
        f, col = found
        cond = self.starts_with(col, value)
        if f.type == "text":
            return self.text_term_set(f, cond, boost, scoring_ctx)
        return self.value_set(f, cond, boost if scoring_ctx else None)

    def string_field(self, name: str, kind: str) -> tuple[Any, str] | Node:
        """The keyword or text field a `kind` (prefix, wildcard, regexp) query reads, and the column holding its
        values or terms; a Node when the field is not indexed; a 400 for any other field type."""
        f = self.field(name)
        if f is None or not f.indexed:
            return self.unindexed(f, name)
        if f.type not in ("keyword", "text"):
            raise self.shard_error(f"failed to create query: Can only use {kind} queries on keyword and text fields"
                                   f" - not on [{name}] which is of type [{f.type}]")
        return f, ("term" if f.type == "text" else "v")

    def starts_with(self, col: str, prefix: str) -> str:
        """`col` starts with `prefix`, as an index range (prefix <= col < the prefix's successor)."""
        upper = successor(prefix)
        return f"{col} >= {self.p(prefix)}" + (f" AND {col} < {self.p(upper)}" if upper else "")

    def wildcard(self, spec: Any, scoring_ctx: bool) -> Node:
        name, opts = self._field_spec("wildcard", spec, "value", {"case_insensitive", "rewrite", "wildcard"})
        value = str(opts.get("wildcard", opts["value"]))
        boost = float(opts.get("boost", 1.0))
        ci = bool(opts.get("case_insensitive", False))
        f = self.field(name)
        if not ci and name != "_id" and f is not None and f.type == "keyword" and f.indexed:
            glob, lit = wildcard_glob(value)
            cond = f"v GLOB {self.p(glob)}"
            if lit:
                cond = self.starts_with("v", lit) + " AND " + cond
            return self.value_set(f, cond, boost if scoring_ctx else None)
        return self.pattern_node(name, wildcard_regex(value), boost, ci, scoring_ctx, "wildcard")

    def regexp(self, spec: Any, scoring_ctx: bool) -> Node:
        name, opts = self._field_spec("regexp", spec, "value", {"flags", "flags_value", "case_insensitive",
                                                                "max_determinized_states", "rewrite"})
        if "flags_value" in opts:
            raise unsupported("regexp [flags_value]")
        rx = lucene_regex(str(opts["value"]), str(opts.get("flags", "ALL")))
        return self.pattern_node(name, rx, float(opts.get("boost", 1.0)), bool(opts.get("case_insensitive", False)),
                                 scoring_ctx, "regexp")

    def pattern_node(self, name: str, rx: str, boost: float, ci: bool, scoring_ctx: bool, kind: str) -> Node:
        const = self.const(boost) if scoring_ctx else None
        if name == "_id":
            return Node(f"gq_regexp({self.p(rx)}, {int(ci)}, d.id)", const)
        found = self.string_field(name, kind)
        if isinstance(found, Node):
            return found
        f, col = found
        cond = f"gq_regexp({self.p(rx)}, {int(ci)}, {col})"
        lit = "" if ci else regex_literal_prefix(rx)
        if lit:
            cond = self.starts_with(col, lit) + " AND " + cond
        if f.type == "text":
            return self.text_term_set(f, cond, boost, scoring_ctx)
        return self.value_set(f, cond, boost if scoring_ctx else None)

    # full-text queries
    def match(self, spec: Any, scoring_ctx: bool) -> Node:
        name, opts = self._field_spec("match", spec, "query", {
            "operator", "minimum_should_match", "analyzer", "zero_terms_query", "lenient", "fuzziness",
            "prefix_length", "max_expansions", "fuzzy_transpositions", "auto_generate_synonyms_phrase_query",
            "cutoff_frequency", "fuzzy_rewrite"})
        if opts.get("fuzziness") not in (None, 0, "0"):
            raise unsupported("fuzzy matching ([match] with [fuzziness])")
        _check_analyzer(opts)
        return self.match_node(name, opts, scoring_ctx)

    def match_node(self, name: str, opts: dict[str, Any], scoring_ctx: bool) -> Node:
        query = opts["query"]
        boost = float(opts.get("boost", 1.0))
        operator = str(opts.get("operator", "or")).lower()
        if operator not in ("or", "and"):
            raise parsing(f"[match] query does not support [operator] value [{opts['operator']}]")
        f = self.field(name)
        if name == "_id" or name == "_index":
            return self.meta_field(name, "match", [query], boost, scoring_ctx) or MATCH_NONE
        if f is None or not f.indexed:
            return self.unindexed(f, name)
        if f.type != "text":
            if opts.get("lenient"):
                try:
                    f.query_value(query)
                except ValueError:
                    return MATCH_NONE
            return self.term_node(name, query, boost, False, scoring_ctx)
        if isinstance(query, dict | list):
            raise parsing("[match] unknown token [START_OBJECT] after [query]")
        terms = tokenize(query if isinstance(query, str) else str(query).lower())
        if not terms:
            return self.zero_terms(opts, scoring_ctx)
        n = len(terms)
        if operator == "and":
            required = n
        elif opts.get("minimum_should_match") is not None:
            required = max(1, min_should_match(n, opts["minimum_should_match"]))  # 0 still needs one term
        else:
            required = 1
        return self.text_terms(f, terms, boost, required, scoring_ctx)

    def zero_terms(self, opts: dict[str, Any], scoring_ctx: bool) -> Node:
        mode = str(opts.get("zero_terms_query", "none")).lower()
        if mode == "all":
            return self.match_all({}, scoring_ctx)
        if mode != "none":
            raise parsing(f"Unsupported zero_terms_query value [{mode}]")
        return MATCH_NONE

    def match_phrase(self, spec: Any, scoring_ctx: bool) -> Node:
        name, opts = self._field_spec("match_phrase", spec, "query", {"slop", "analyzer", "zero_terms_query"})
        return self.phrase_node(name, opts, scoring_ctx, prefix=False)

    def match_phrase_prefix(self, spec: Any, scoring_ctx: bool) -> Node:
        name, opts = self._field_spec("match_phrase_prefix", spec, "query", {"slop", "analyzer", "max_expansions",
                                                                             "zero_terms_query"})
        return self.phrase_node(name, opts, scoring_ctx, prefix=True)

    def phrase_node(self, name: str, opts: dict[str, Any], scoring_ctx: bool, prefix: bool) -> Node:
        if int(opts.get("slop", 0) or 0) != 0:
            raise unsupported("phrase queries with [slop] > 0")
        _check_analyzer(opts)
        boost = float(opts.get("boost", 1.0))
        f = self.field(name)
        if f is None or not f.indexed:
            return self.unindexed(f, name)
        query = opts["query"]
        if f.type != "text":
            if prefix and f.type == "keyword":
                return self.prefix({name: {"value": str(query), "boost": boost}}, scoring_ctx)
            return self.term_node(name, query, boost, False, scoring_ctx)
        terms = tokenize(str(query))
        if not terms:
            return self.zero_terms(opts, scoring_ctx)
        if not prefix:
            if len(terms) == 1:
                return self.text_terms(f, terms, boost, 1, scoring_ctx)
            return self.text_phrases(f, [terms], boost, scoring_ctx)
        expanded = self.expansions(f, terms[-1], int(opts.get("max_expansions", 50)))
        return self.text_phrases(f, [[*terms[:-1], t] for t in expanded], boost, scoring_ctx)

    def multi_match(self, spec: Any, scoring_ctx: bool) -> Node:
        spec = _options("multi_match", spec, {
            "query", "fields", "type", "operator", "minimum_should_match", "tie_breaker", "boost", "analyzer",
            "lenient", "zero_terms_query", "fuzziness", "prefix_length", "max_expansions", "slop", "_name",
            "auto_generate_synonyms_phrase_query", "fuzzy_transpositions"})
        if "query" not in spec:
            raise parsing("No text specified for multi_match query")
        if spec.get("fuzziness") not in (None, 0, "0"):
            raise unsupported("fuzzy matching ([multi_match] with [fuzziness])")
        _check_analyzer(spec)
        mtype = str(spec.get("type", "best_fields")).lower()
        if mtype not in ("best_fields", "most_fields", "phrase", "phrase_prefix"):
            if mtype in ("cross_fields", "bool_prefix"):
                raise unsupported(f"[multi_match] of type [{mtype}]")
            raise parsing(f"[multi_match] query does not support type [{mtype}]")
        names = spec.get("fields") or ["*"]
        if isinstance(names, str):
            names = [names]
        targets: dict[str, float] = {}
        for entry in names:
            pattern, _, boost_text = str(entry).partition("^")
            boost = float(boost_text) if boost_text else 1.0
            matched = self.store.mapping.resolve(pattern)
            if "*" in pattern:
                matched = [f for f in matched if f.type in ("text", "keyword")]
            for f in matched:
                targets[f.path] = targets.get(f.path, 1.0) * boost if f.path in targets else boost
        nodes = []
        for path, boost in targets.items():
            opts = {k: spec[k] for k in ("query", "operator", "minimum_should_match", "zero_terms_query", "lenient",
                                         "max_expansions", "slop") if k in spec}
            opts["boost"] = boost
            target = self.field(path)
            assert target is not None
            if target.type != "text" and (spec.get("lenient") or names == ["*"]):
                try:
                    target.query_value(opts["query"])
                except ValueError:
                    continue
            if mtype in ("phrase", "phrase_prefix"):
                nodes.append(self.phrase_node(path, opts, scoring_ctx, prefix=mtype == "phrase_prefix"))
            else:
                nodes.append(self.match_node(path, opts, scoring_ctx))
        top_boost = float(spec.get("boost", 1.0))
        if mtype == "most_fields":
            nodes = [n for n in nodes if n is not MATCH_NONE]
            if not nodes:
                return MATCH_NONE
            pred = "(" + " OR ".join(f"({n.pred})" for n in nodes) + ")"
            if not scoring_ctx:
                return Node(pred)
            score = "(" + " + ".join(n.score_or_zero() for n in nodes) + ")"
            if top_boost != 1.0:
                score = f"({score} * {self.const(top_boost)})"
            return Node(pred, score, True, frozenset().union(*(n.joins for n in nodes)))
        return self.combine_max(nodes, float(spec.get("tie_breaker", 0.0)), top_boost, scoring_ctx)

    def query_string(self, spec: Any, scoring_ctx: bool) -> Node:
        raise unsupported("the [query_string] query syntax")

    def nested(self, spec: Any, scoring_ctx: bool) -> Node:
        raise unsupported("the [nested] query (nested fields are indexed as plain objects)")


def uri_query(text: str) -> dict[str, Any]:
    """The `q=` parameter, in the forms this engine accepts: `*`, `word`, `"a phrase"`, `field:word`."""
    text = text.strip()
    if text in ("*", "*:*"):
        return {"match_all": {}}
    m = re.fullmatch(r'(?:([\w.@-]+):)?("([^"]*)"|[^\s:"()*?~^\[\]{}\\/+\-!&|]+)', text)
    if not m:
        raise unsupported(f"the query string syntax of [q={text}] (use field:value, a word or a quoted phrase)")
    name, phrase, word = m.group(1), m.group(3), m.group(2)
    if phrase is not None:
        q = {"match_phrase": {name: phrase}} if name else {"multi_match": {"query": phrase, "type": "phrase"}}
    else:
        q = {"match": {name: word}} if name else {"multi_match": {"query": word, "lenient": True}}
    return q


_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
_UNSUPPORTED_QUERIES = {"fuzzy", "function_score", "script", "script_score", "more_like_this", "percolate",
                        "has_child", "has_parent", "parent_id", "geo_distance", "geo_bounding_box", "geo_shape",
                        "geo_polygon", "span_term", "span_near", "span_or", "span_not", "span_first",
                        "span_multi", "span_containing", "span_within", "field_masking_span", "boosting",
                        "distance_feature", "rank_feature", "wrapper", "pinned", "intervals", "combined_fields",
                        "knn", "neural", "hybrid", "terms_set", "match_bool_prefix", "simple_query_string", "type"}


def _options(kind: str, spec: Any, allowed: set[str]) -> dict[str, Any]:
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        raise parsing(f"[{kind}] query malformed, no start_object after query name")
    for key in spec:
        if key not in allowed:
            raise parsing(f"[{kind}] query does not support [{key}]")
    return spec


def _clauses(spec: dict[str, Any], key: str) -> list[Any]:
    value = spec.get(key)
    if value is None:
        return []
    clauses = value if isinstance(value, list) else [value]
    for c in clauses:
        if not isinstance(c, dict) or not c:
            raise parsing(f"query malformed, empty clause found in [bool] [{key}]")
    return clauses


def _check_analyzer(opts: dict[str, Any]) -> None:
    analyzer = opts.get("analyzer")
    if analyzer not in (None, "standard", "default"):
        raise unsupported(f"analyzer [{analyzer}] (only the standard analyzer)")


def _bounds(opts: dict[str, Any]) -> dict[str, Any]:
    bounds: dict[str, Any] = {op: opts[op] for op in ("gt", "gte", "lt", "lte") if op in opts}
    if "from" in opts and opts["from"] is not None:
        bounds["gte" if opts.get("include_lower", True) else "gt"] = opts["from"]
    if "to" in opts and opts["to"] is not None:
        bounds["lte" if opts.get("include_upper", True) else "lt"] = opts["to"]
    return bounds


def _has_fraction(value: Any) -> bool:
    if isinstance(value, float):
        return not value.is_integer()
    if isinstance(value, str):
        try:
            return "." in value and not float(value).is_integer()
        except ValueError:
            return False
    return False


def min_should_match(count: int, spec: Any) -> int:
    """OpenSearch's minimum_should_match: `2`, `-1`, `75%`, `-25%`, `3<90%`, `2<-25% 9<-3`."""
    text = str(spec).strip()
    if isinstance(spec, bool):
        raise parsing(f"[minimum_should_match] does not accept [{spec}]")
    if "<" in text:
        result = count
        for part in text.split():
            threshold, _, rule = part.partition("<")
            try:
                if count > int(threshold):
                    result = min_should_match(count, rule)
            except ValueError:
                raise parsing(f"Invalid minimum_should_match [{text}]") from None
        return result
    try:
        if text.endswith("%"):
            pct = int(text[:-1])
            calc = int(count * pct / 100) if pct >= 0 else count + int(count * pct / 100)
        else:
            n = int(text)
            calc = n if n >= 0 else count + n
    except ValueError:
        raise parsing(f"Invalid minimum_should_match [{text}]") from None
    return max(0, calc)  # more than `count` is allowed: then nothing matches, as in Lucene


_HANDLERS: dict[str, Callable[[Compiler, Any, bool], Node]] = {
    "match_all": Compiler.match_all, "match_none": Compiler.match_none, "bool": Compiler.bool_query,
    "constant_score": Compiler.constant_score, "dis_max": Compiler.dis_max, "ids": Compiler.ids,
    "term": Compiler.term, "terms": Compiler.terms, "range": Compiler.range, "exists": Compiler.exists,
    "prefix": Compiler.prefix, "wildcard": Compiler.wildcard, "regexp": Compiler.regexp, "match": Compiler.match,
    "match_phrase": Compiler.match_phrase, "match_phrase_prefix": Compiler.match_phrase_prefix,
    "multi_match": Compiler.multi_match, "query_string": Compiler.query_string, "nested": Compiler.nested,
}
FLOAT_FIELD_TYPES = FLOAT_TYPES
