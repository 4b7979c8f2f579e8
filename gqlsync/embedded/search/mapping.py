"""An index's mapping: explicit field types, OpenSearch's dynamic inference, and each value's indexed form.

Field types: `text` (standard analyzer), `keyword`, the integer types (`long`, `integer`, `short`,
`byte`), the floating types (`double`, `float` and `half_float`, rounded to 32 and 16 bits as
Lucene stores them, `scaled_float`), `date` and `boolean`; `object`, and `nested`, which is
indexed as a plain object (so a query over two fields of a nested array does not require both to
match the same element, unlike OpenSearch). Any other type or mapping parameter that changes
indexing is refused with OpenSearch's `mapper_parsing_exception` rather than ignored.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gqlsync.embedded.search.dates import DYNAMIC_DATE_FORMATS, DateFormat, date_format
from gqlsync.embedded.search.errors import SearchError, illegal, mapper_parsing

INTEGER_TYPES = {"long": 2**63, "integer": 2**31, "short": 2**15, "byte": 2**7}
FLOAT_TYPES = {"double", "float", "half_float", "scaled_float"}
NUMERIC_TYPES = set(INTEGER_TYPES) | FLOAT_TYPES
LEAF_TYPES = {"text", "keyword", "date", "boolean"} | NUMERIC_TYPES
# Parameters that do not change what a field matches: accepted and echoed, with no effect here.
_NEUTRAL = {"type", "doc_values", "store", "norms", "index_options", "boost", "eager_global_ordinals",
            "similarity", "coerce", "ignore_malformed", "meta", "term_vector", "position_increment_gap"}
_ALLOWED = {
    "text": _NEUTRAL | {"fields", "analyzer", "search_analyzer", "search_quote_analyzer", "index", "fielddata"},
    "keyword": _NEUTRAL | {"fields", "ignore_above", "index", "null_value", "split_queries_on_whitespace"},
    "date": _NEUTRAL | {"fields", "format", "index", "null_value", "locale"},
    "boolean": _NEUTRAL | {"fields", "index", "null_value"},
}
for _t in NUMERIC_TYPES:
    _ALLOWED[_t] = _NEUTRAL | {"fields", "index", "null_value"}
_ALLOWED["scaled_float"] = _ALLOWED["scaled_float"] | {"scaling_factor"}
METADATA_FIELDS = {"_id", "_index", "_source", "_routing", "_version", "_seq_no", "_primary_term", "_ignored",
                   "_field_names", "_nested_path", "_doc_count"}
_OBJECT_PARAMS = {"type", "properties", "dynamic", "enabled", "include_in_parent", "include_in_root"}
_ROOT_PARAMS = {"properties", "dynamic", "date_detection", "numeric_detection", "dynamic_date_formats", "_meta",
                "_source", "dynamic_templates", "_routing", "enabled"}


def _float32(v: float) -> float:
    return float(struct.unpack("f", struct.pack("f", v))[0])


def _float16(v: float) -> float:
    return float(struct.unpack("e", struct.pack("e", v))[0])


@dataclass
class Field:
    """A leaf field (or a `fields` subfield, path `title.keyword`) and how its values are indexed."""

    path: str
    type: str
    params: dict[str, Any]
    subfields: dict[str, Field] = field(default_factory=dict)
    # derived from the above by refresh(): the fields a source value is indexed into, ignore_above
    targets: tuple[Field, ...] = field(default=(), init=False, repr=False, compare=False)
    limit: int | None = field(default=None, init=False, repr=False, compare=False)
    fid: int = field(default=0, init=False, repr=False, compare=False)  # the store's id for this field

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        self.limit = self.ignore_above
        for sub in self.subfields.values():
            sub.refresh()
        self.targets = tuple(f for f in (self, *self.subfields.values()) if f.indexed)

    @property
    def indexed(self) -> bool:
        return self.params.get("index", True) is not False

    @property
    def ignore_above(self) -> int | None:
        v = self.params.get("ignore_above")
        return int(v) if v is not None else None

    @property
    def date_format(self) -> DateFormat:
        return date_format(self.params.get("format"))

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES

    @property
    def stores_numbers(self) -> bool:
        """Numeric, date and boolean values live in the numeric column; text and keyword in the string one."""
        return self.type in NUMERIC_TYPES or self.type in ("date", "boolean")

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.params.items() if k != "fields"}
        out["type"] = self.type
        if self.subfields:
            out["fields"] = {name.rsplit(".", 1)[-1]: sub.to_json() for name, sub in self.subfields.items()}
        return dict(sorted(out.items(), key=lambda kv: kv[0] != "type"))

    # -- values as indexed
    def number(self, value: Any) -> int | float | None:
        """The numeric value Lucene would index (coerced, truncated, rounded); ValueError if it has none."""
        if isinstance(value, bool):
            raise ValueError(f"Current token ({'VALUE_TRUE' if value else 'VALUE_FALSE'}) not numeric")
        if isinstance(value, str):
            text = value.strip()
            if text == "":
                return None
            try:
                value = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
            except ValueError:
                raise ValueError(f'For input string: "{value}"') from None
        if not isinstance(value, int | float):
            raise ValueError(f"Current token ({type(value).__name__}) not numeric, can not use numeric value accessors")
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise ValueError(f"[{self.type}] supports only finite values, but got [{value}]")
        if self.type in INTEGER_TYPES:
            n = int(value)  # coerce: truncate toward zero
            bound = INTEGER_TYPES[self.type]
            if not -bound <= n < bound:
                article = "a long" if self.type == "long" else "an " + self.type
                raise ValueError(f"Value [{value}] is out of range for {article}")
            return n
        if self.type == "float":
            return _float32(float(value))
        if self.type == "half_float":
            return _float16(float(value))
        if self.type == "scaled_float":
            factor = float(self.params["scaling_factor"])
            return round(float(value) * factor) / factor
        return float(value)

    def boolean(self, value: Any) -> int:
        if value is True or value == "true":
            return 1
        if value is False or value in ("false", ""):
            return 0
        raise ValueError(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")

    def index_value(self, value: Any) -> str | int | float | None:
        """The one value indexed for a source value (None: nothing indexed); ValueError when it cannot be."""
        if isinstance(value, dict):
            raise ValueError(f"failed to parse field [{self.path}] of type [{self.type}]: an object is not a value")
        if self.type == "text":
            return value if isinstance(value, str) else _json_scalar_text(value)
        if self.type == "keyword":
            text = value if isinstance(value, str) else _json_scalar_text(value)
            limit = self.ignore_above
            return None if limit is not None and len(text) > limit else text
        if self.type == "date":
            return self.date_format.parse(value)
        if self.type == "boolean":
            return self.boolean(value)
        return self.number(value)

    def query_value(self, value: Any) -> str | int | float:
        """A query's value for this field, converted like indexed values; ValueError if it cannot be."""
        if self.type == "date":
            return self.date_format.parse(value)
        if self.type == "boolean":
            return self.boolean(value)
        if self.is_numeric:
            if isinstance(value, str) and value.strip() == "":
                raise ValueError('For input string: ""')
            n = self.number(value)
            assert n is not None
            return n
        return value if isinstance(value, str) else _json_scalar_text(value)


def _json_scalar_text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return repr(value)
    return str(value)


@dataclass
class ObjectNode:
    """An object field (or the root): its properties and dynamic settings."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    properties: dict[str, Field | ObjectNode] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.params.get("enabled", True) is not False

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.params.items() if k not in ("properties",)}
        if self.properties:
            out["properties"] = {name: prop.to_json() for name, prop in sorted(self.properties.items())}
        return out


def _dynamic_setting(value: Any) -> str:
    text = str(value).lower() if not isinstance(value, bool) else ("true" if value else "false")
    if text not in ("true", "false", "strict"):
        if text == "runtime":
            raise SearchError(400, "mapper_parsing_exception", "dynamic [runtime] is not supported by gqlsync's "
                                                               "embedded search engine")
        raise mapper_parsing(f"Could not convert [dynamic] to boolean: [{value}]")
    return text


class Mapping:
    """The mapping of one index; `fields` maps every leaf and subfield path to its Field."""

    def __init__(self, body: dict[str, Any] | None = None) -> None:
        self.root = ObjectNode("")
        self.fields: dict[str, Field] = {}
        self.objects: dict[str, ObjectNode] = {"": self.root}
        if body:
            self.merge(body)

    # -- building
    def merge(self, body: dict[str, Any]) -> None:
        """Add an explicit mapping (index creation or PUT _mapping); conflicting changes are refused."""
        if not isinstance(body, dict):
            raise mapper_parsing("Root mapping definition must be an object")
        if set(body) == {"_doc"} and isinstance(body["_doc"], dict):
            raise illegal("The mapping definition cannot be nested under a type [_doc] unless "
                          "include_type_name is set to true.")
        unknown = set(body) - _ROOT_PARAMS
        if unknown:
            raise mapper_parsing(f"Root mapping definition has unsupported parameters:  [{sorted(unknown)[0]} : "
                                 f"{body[sorted(unknown)[0]]}]")
        if body.get("dynamic_templates"):
            raise mapper_parsing("dynamic_templates is not supported by gqlsync's embedded search engine")
        source = body.get("_source")
        if source is not None and source not in ({"enabled": True}, {}):
            raise mapper_parsing("_source options are not supported by gqlsync's embedded search engine")
        if body.get("_routing"):
            raise mapper_parsing("_routing is not supported by gqlsync's embedded search engine")
        for key in ("dynamic", "date_detection", "numeric_detection", "dynamic_date_formats", "_meta"):
            if key in body:
                value = body[key]
                if key == "dynamic":
                    value = _dynamic_setting(value)
                elif key == "dynamic_date_formats":
                    if not isinstance(value, list):
                        raise mapper_parsing("dynamic_date_formats must be a list of formats")
                    for fmt in value:
                        self._check_format(str(fmt), "dynamic_date_formats")
                elif key in ("date_detection", "numeric_detection"):
                    value = value in (True, "true")
                self.root.params[key] = value
        self._merge_properties(self.root, body.get("properties") or {})

    def _merge_properties(self, node: ObjectNode, props: dict[str, Any]) -> None:
        if not isinstance(props, dict):
            raise mapper_parsing(f"Expected map for property [properties] on field [{node.path or '_doc'}]")
        for name, spec in props.items():
            if not isinstance(spec, dict):
                raise mapper_parsing(f"Expected map for property [fields] on field [{name}] but got a "
                                     f"{type(spec).__name__}")
            path = f"{node.path}.{name}" if node.path else name
            if "." in name:
                head, rest = name.split(".", 1)
                self._merge_properties(node, {head: {"properties": {rest: spec}}})
                continue
            ftype = spec.get("type", "object" if "properties" in spec or "type" not in spec else None)
            existing = node.properties.get(name)
            if ftype in ("object", "nested"):
                if isinstance(existing, Field):
                    raise illegal(f"can't merge a non object mapping [{path}] with an object mapping")
                unknown = set(spec) - _OBJECT_PARAMS
                if unknown:
                    raise mapper_parsing(f"unknown parameter [{sorted(unknown)[0]}] on mapper [{path}] of type "
                                         f"[{ftype}]")
                obj = existing if isinstance(existing, ObjectNode) else ObjectNode(path)
                if ftype == "nested":
                    obj.params["type"] = "nested"
                for key in ("dynamic", "enabled"):
                    if key in spec:
                        value = spec[key]
                        obj.params[key] = _dynamic_setting(value) if key == "dynamic" else value in (True, "true")
                node.properties[name] = obj
                self.objects[path] = obj
                self._merge_properties(obj, spec.get("properties") or {})
                continue
            new = self._leaf(path, spec)
            if existing is None:
                node.properties[name] = new
                self._register(new)
                continue
            if isinstance(existing, ObjectNode):
                raise illegal(f"can't merge a non object mapping [{path}] with an object mapping")
            if existing.type != new.type:
                raise illegal(f"mapper [{path}] cannot be changed from type [{existing.type}] to [{new.type}]")
            for key in set(existing.params) | set(new.params):
                if key in ("fields", "ignore_above", "meta", "boost"):
                    continue
                if existing.params.get(key) != new.params.get(key):
                    raise illegal(f"Mapper for [{path}] conflicts with existing mapper:\n\tCannot update parameter "
                                  f"[{key}] from [{existing.params.get(key)}] to [{new.params.get(key)}]")
            if "ignore_above" in new.params:
                existing.params["ignore_above"] = new.params["ignore_above"]
            for sub_path, sub in new.subfields.items():
                old = existing.subfields.get(sub_path)
                if old is None:
                    existing.subfields[sub_path] = sub
                    self.fields[sub_path] = sub
                elif old.type != sub.type:
                    raise illegal(f"mapper [{sub_path}] cannot be changed from type [{old.type}] to [{sub.type}]")
                elif "ignore_above" in sub.params:
                    old.params["ignore_above"] = sub.params["ignore_above"]
            existing.refresh()

    def _register(self, leaf: Field) -> None:
        self.fields[leaf.path] = leaf
        for sub in leaf.subfields.values():
            self.fields[sub.path] = sub

    def _check_format(self, fmt: str, path: str) -> None:
        try:
            date_format(fmt)
        except ValueError as exc:
            raise mapper_parsing(f"Invalid format: [{fmt}] on field [{path}]: {exc}") from None

    def _leaf(self, path: str, spec: dict[str, Any], sub: bool = False) -> Field:
        ftype = spec.get("type")
        if ftype not in LEAF_TYPES:
            if ftype in ("ip", "geo_point", "geo_shape", "flat_object", "knn_vector", "binary", "join", "alias",
                         "completion", "search_as_you_type", "token_count", "wildcard", "constant_keyword",
                         "match_only_text", "unsigned_long", "date_nanos", "integer_range", "long_range",
                         "float_range", "double_range", "date_range", "ip_range", "rank_feature", "rank_features",
                         "percolator", "version", "murmur3", "annotated_text", "semantic", "dense_vector"):
                raise mapper_parsing(f"field type [{ftype}] (on field [{path}]) is not supported by gqlsync's "
                                     "embedded search engine")
            raise mapper_parsing(f"No handler for type [{ftype}] declared on field [{path}]")
        unknown = set(spec) - _ALLOWED[ftype]
        if unknown:
            raise mapper_parsing(f"unknown parameter [{sorted(unknown)[0]}] on mapper [{path}] of type [{ftype}]")
        params = {k: v for k, v in spec.items() if k not in ("type", "fields")}
        for key in ("analyzer", "search_analyzer", "search_quote_analyzer"):
            if key in params and params[key] != "standard":
                raise mapper_parsing(f"analyzer [{params[key]}] on field [{path}]: only the standard analyzer is "
                                     "supported by gqlsync's embedded search engine")
        if params.get("fielddata") in (True, "true"):
            raise mapper_parsing(f"fielddata on text field [{path}] is not supported by gqlsync's embedded search "
                                 "engine: sort and aggregate on a keyword subfield")
        if ftype == "date":
            self._check_format(str(params.get("format") or ""), path)
        if ftype == "scaled_float":
            if "scaling_factor" not in params:
                raise illegal(f"Field [scaling_factor] is required for field [{path}]")
            try:
                if not float(params["scaling_factor"]) > 0:
                    raise ValueError
            except (TypeError, ValueError):
                raise illegal(f"[scaling_factor] must be a positive number, got [{params['scaling_factor']}]") from None
        if "ignore_above" in params:
            try:
                params["ignore_above"] = int(params["ignore_above"])
            except (TypeError, ValueError):
                raise mapper_parsing(f"Failed to parse mapping: ignore_above [{params['ignore_above']}]") from None
        leaf = Field(path, ftype, params)
        subs = spec.get("fields") or {}
        leaf_subs: dict[str, Field] = {}
        if subs and sub:
            raise mapper_parsing(f"Field [{path}] is a multi-field and cannot itself contain multi-fields")
        if not isinstance(subs, dict):
            raise mapper_parsing(f"Expected map for property [fields] on field [{path}]")
        for name, sub_spec in subs.items():
            if not isinstance(sub_spec, dict):
                raise mapper_parsing(f"Expected map for property [fields] on field [{path}.{name}]")
            leaf_subs[f"{path}.{name}"] = self._leaf(f"{path}.{name}", sub_spec, sub=True)
        leaf.subfields = leaf_subs
        leaf.refresh()
        if leaf.params.get("null_value") is not None:
            try:
                leaf.index_value(leaf.params["null_value"])
            except ValueError as exc:
                raise mapper_parsing(f"Failed to parse mapping: null_value of [{path}]: {exc}") from None
        return leaf

    # -- reading
    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.root.params.items()}
        out["properties"] = {name: prop.to_json() for name, prop in sorted(self.root.properties.items())}
        return out

    def resolve(self, pattern: str) -> list[Field]:
        """Leaf fields matching a field name with `*` wildcards (`title*`, `*`), in path order."""
        if "*" not in pattern:
            f = self.fields.get(pattern)
            return [f] if f else []
        rx = re.compile("".join(".*" if c == "*" else re.escape(c) for c in pattern))
        return [f for path, f in sorted(self.fields.items()) if rx.fullmatch(path)]

    def under(self, path: str) -> list[Field]:
        """The leaf fields at `path` or inside the object at `path` (what `exists` looks at)."""
        prefix = path + "."
        return [f for p, f in self.fields.items() if p == path or p.startswith(prefix)]

    # -- documents
    def document_values(self, source: dict[str, Any]) -> tuple[list[tuple[Field, Any]], bool]:
        """Every (field, indexed value) of a document, adding dynamic fields; and whether the mapping grew.

        Raises SearchError(mapper_parsing_exception / strict_dynamic_mapping_exception) for a
        document OpenSearch would reject; the mapping is only changed if the document is accepted.
        """
        staged: dict[str, Field | ObjectNode] = {}
        out: list[tuple[Field, Any]] = []
        self._walk(self.root, source, out, staged, self.root.params.get("dynamic", "true"))
        if staged:
            for path, node in staged.items():
                parent_path, _, name = path.rpartition(".")
                parent = self.objects[parent_path]
                parent.properties[name] = node
                if isinstance(node, ObjectNode):
                    self.objects[path] = node
                else:
                    self._register(node)
        return out, bool(staged)

    def _lookup(self, node: ObjectNode, name: str, staged: dict[str, Field | ObjectNode]) -> Field | ObjectNode | None:
        path = f"{node.path}.{name}" if node.path else name
        return node.properties.get(name) or staged.get(path)

    def _walk(self, node: ObjectNode, obj: dict[str, Any], out: list[tuple[Field, Any]],
              staged: dict[str, Field | ObjectNode], dynamic: str) -> None:
        for key, value in obj.items():
            if key == "" or "." in key:
                if key.strip(".") != key or ".." in key or key == "":
                    raise mapper_parsing(f"field name cannot be an empty string or contain only dots: [{key}]")
                head, rest = key.split(".", 1)  # "a.b": 1 is the object a with the field b
                self._walk(node, {head: {rest: value}}, out, staged, dynamic)
                continue
            if key[0] == "_" and node is self.root and key in METADATA_FIELDS:
                raise mapper_parsing(f"Field [{key}] is a metadata field and cannot be added inside a document. "
                                     "Use the index API request parameters.")
            prop = node.properties.get(key)
            if prop.__class__ is Field and value.__class__ is not list and value is not None:
                self._leaf_values(prop, value, out)
                continue
            if prop is None:
                prop = self._lookup(node, key, staged)
            self._value(node, key, prop, value, out, staged, dynamic)

    def _value(self, node: ObjectNode, key: str, prop: Field | ObjectNode | None, value: Any,
               out: list[tuple[Field, Any]], staged: dict[str, Field | ObjectNode], dynamic: str) -> None:
        path = f"{node.path}.{key}" if node.path else key
        if isinstance(value, list):  # arrays (and arrays of arrays) are their values, flattened
            for item in value:
                self._value(node, key, self._lookup(node, key, staged), item, out, staged, dynamic)
            return
        if value is None:
            if isinstance(prop, Field) and prop.params.get("null_value") is not None:
                self._leaf_values(prop, prop.params["null_value"], out)
            return
        if prop is None:
            if dynamic == "strict":
                raise SearchError(400, "strict_dynamic_mapping_exception",
                                  f"mapping set to strict, dynamic introduction of [{key}] within "
                                  f"[{node.path or '_doc'}] is not allowed")
            if dynamic == "false":
                return
            prop = self._infer(path, value)
            staged[path] = prop
        if isinstance(prop, ObjectNode):
            if not isinstance(value, dict):
                raise mapper_parsing(f"object mapping for [{path}] tried to parse field [{key}] as object, but found "
                                     "a concrete value")
            if not prop.enabled:
                return
            self._walk(prop, value, out, staged, prop.params.get("dynamic", dynamic))
            return
        self._leaf_values(prop, value, out)

    def _leaf_values(self, leaf: Field, value: Any, out: list[tuple[Field, Any]]) -> None:
        cls = value.__class__
        for f in leaf.targets:
            t = f.type
            if cls is str and t == "text":  # the common cases first, without the generic conversion
                out.append((f, value))
                continue
            if cls is str and t == "keyword":
                if f.limit is None or len(value) <= f.limit:
                    out.append((f, value))
                continue
            if cls is int and t == "long" and -(2**63) <= value < 2**63:
                out.append((f, value))
                continue
            if cls is float and t == "double" and math.isfinite(value):
                out.append((f, value))
                continue
            try:
                v = f.index_value(value)
            except ValueError as exc:
                raise mapper_parsing(f"failed to parse field [{f.path}] of type [{f.type}] in document. "
                                     f"Preview of field's value: '{value}': {exc}") from None
            if v is not None:
                out.append((f, v))

    def _infer(self, path: str, value: Any) -> Field | ObjectNode:
        """OpenSearch's dynamic mapping for a new field's first value."""
        if isinstance(value, dict):
            return ObjectNode(path)
        if isinstance(value, bool):
            return Field(path, "boolean", {})
        if isinstance(value, int):
            return Field(path, "long", {})
        if isinstance(value, float):
            return Field(path, "float", {})
        text = str(value)
        params = self.root.params
        if params.get("date_detection", True):
            for fmt in params.get("dynamic_date_formats", DYNAMIC_DATE_FORMATS):
                detected = _detect_date(text, str(fmt))
                if detected is not None:
                    return Field(path, "date", {"format": detected} if detected else {})
        if params.get("numeric_detection", False):
            if re.fullmatch(r"[+-]?\d+", text.strip()):
                return Field(path, "long", {})
            try:
                float(text)
                return Field(path, "float", {})
            except ValueError:
                pass
        keyword = Field(f"{path}.keyword", "keyword", {"ignore_above": 256})
        return Field(path, "text", {}, {keyword.path: keyword})

    def iter_fields(self) -> Iterator[Field]:
        return iter(self.fields.values())


def _detect_date(text: str, fmt: str) -> str | None:
    """The format a detected date field gets ('' for the default), or None if `text` is not a date."""
    if fmt == DYNAMIC_DATE_FORMATS[1]:
        # OpenSearch's default second detection format takes the zone as optional and maps without it.
        lenient = "yyyy/MM/dd HH:mm:ss||yyyy/MM/dd"
        try:
            date_format(lenient).parse(text)
        except ValueError:
            try:
                date_format(fmt).parse(text)
            except ValueError:
                return None
        return lenient + "||epoch_millis"
    try:
        date_format(fmt).parse(text)
    except ValueError:
        return None
    return "" if fmt == "strict_date_optional_time" else fmt
