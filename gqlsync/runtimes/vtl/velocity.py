"""Velocity on airspeed, made to behave like AppSync's: Java methods, null-safe operators, #return, #break.

airspeed is extended at import through its own extension points (`UserDefinedDirective.DIRECTIVES`,
the operator table) and by replacing three element classes whose behaviour differs from Java
Velocity. Python attributes of built-in values are never reachable from a template: only the
Java method names below are, and no name starting with `_` resolves on any object.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

import airspeed
from airspeed import operators as av

from gqlsync.util.values import is_number  # re-exported: Java-like values share the core's number test

# --------------------------------------------------------------------------- control-flow signals


class _Signal(av.TemplateExecutionError):
    """Passes through airspeed's error wrapping untouched (it re-raises TemplateExecutionError)."""

    def __init__(self) -> None:
        Exception.__init__(self, type(self).__name__)


class ReturnSignal(_Signal):
    def __init__(self, value: Any) -> None:
        super().__init__()
        self.value = value


class BreakSignal(_Signal):
    pass


class ReturnDirective(av._Element):
    """`#return(value)` or bare `#return`: stop the template and make `value` (or null) its result."""

    START = re.compile(r"#return\b(.*)", re.S)
    OPEN_PAREN = re.compile(r"[ \t]*\(\s*(.*)$", re.S)
    CLOSE_PAREN = re.compile(r"\s*\)(.*)$", re.S)

    def parse(self) -> None:
        self.identity_match(self.START)
        self.value = None
        if self.optional_match(self.OPEN_PAREN) and not self.optional_match(self.CLOSE_PAREN):
            self.value = self.require_next_element(av.Expression, "value")
            self.require_match(self.CLOSE_PAREN, ")")

    def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
        raise ReturnSignal(None if self.value is None else self.value.calculate(namespace, loader))


class BreakDirective(av._Element):
    """`#break` / `#break($foreach)`: leave the innermost #foreach."""

    START = re.compile(r"#break\b(?:\(\s*\$foreach\s*\))?(.*)", re.S)

    def parse(self) -> None:
        self.identity_match(self.START)

    def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
        raise BreakSignal()


class ForeachScope:
    """`$foreach`: Velocity's loop scope, read as properties (`$foreach.hasNext`) or methods (`.hasNext()`)."""

    __slots__ = ("_count", "_length")

    def __init__(self, count: int, length: int) -> None:
        self._count = count
        self._length = length

    def getCount(self) -> int:  # noqa: N802 - Java bean names
        return self._count

    def getIndex(self) -> int:  # noqa: N802
        return self._count - 1

    def hasNext(self) -> bool:  # noqa: N802
        return self._count < self._length

    def getHasNext(self) -> bool:  # noqa: N802
        return self.hasNext()

    def isFirst(self) -> bool:  # noqa: N802
        return self._count == 1

    def isLast(self) -> bool:  # noqa: N802
        return self._count == self._length

    def count(self) -> int:
        return self._count

    def index(self) -> int:
        return self._count - 1


class TemplateTimeout(_Signal):
    """A template ran longer than its budget (runaway loops must not stall the event loop)."""


#: monotonic deadline of the template being rendered (checked once per loop iteration).
_DEADLINE: ContextVar[float] = ContextVar("vtl_deadline", default=float("inf"))


class _LoopNamespace(av.LocalNamespace):
    """One #foreach iteration's names: the loop variable, `$foreach` and the velocity counters are its own; a #set
    of any other name goes to the enclosing scope, as in Velocity (a variable first set inside a loop is still
    set after it: Amplify's search response templates read their `$nextToken` that way)."""

    def set_inherited(self, key: str, value: Any) -> None:
        if dict.__contains__(self, key):
            self[key] = value
        elif isinstance(self.parent, av.LocalNamespace):
            self.parent.set_inherited(key, value)
        else:
            self.parent[key] = value


class ForeachDirective(av.ForeachDirective):
    """#foreach with #break, Java-style map iteration (over keys) and AppSync's 1000-iteration cap."""

    MAX_ITERATIONS = 1000

    def evaluate_raw(self, stream: Any, namespace: Any, loader: Any) -> None:
        iterable = self.value.calculate(namespace, loader)
        if iterable is None:
            return
        if isinstance(iterable, Mapping):
            iterable = list(iterable.keys())
        elif isinstance(iterable, (set, frozenset, tuple)) or not isinstance(iterable, list):
            try:
                iterable = list(iterable)
            except TypeError:
                raise ValueError(f"value for ${self.loop_var_name} is not iterable in #foreach") from None
        length = len(iterable)
        deadline = _DEADLINE.get()
        for counter, item in enumerate(iterable[: self.MAX_ITERATIONS], start=1):
            if time.monotonic() > deadline:
                raise TemplateTimeout()
            localns = _LoopNamespace(namespace)
            localns["velocityCount"] = counter
            localns["velocityHasNext"] = counter < length
            localns["foreach"] = ForeachScope(counter, length)
            localns[self.loop_var_name] = item
            try:
                self.block.evaluate(stream, localns, loader)
            except BreakSignal:
                break


# --------------------------------------------------------------------------- Java-like values


def java_str(value: Any) -> str:
    """How Java's toString() renders a value inside a template."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value) and abs(value) < 1e7:
            return f"{int(value)}.0"
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        text = repr(value)
        if "e" in text:
            mantissa, exp = text.split("e")
            if "." not in mantissa:
                mantissa += ".0"
            text = f"{mantissa}E{int(exp)}"
        return text
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{java_str(k)}={java_str(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple, set, frozenset)):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    return str(value)


class Entry:
    """A Map.Entry, as `entrySet()` yields."""

    __slots__ = ("key", "value")

    def __init__(self, key: Any, value: Any) -> None:
        self.key = key
        self.value = value

    def getKey(self) -> Any:  # noqa: N802 - Java's name
        return self.key

    def getValue(self) -> Any:  # noqa: N802
        return self.value

    def __repr__(self) -> str:
        return f"{java_str(self.key)}={java_str(self.value)}"


def _java_split(s: str, regex: str, limit: int = 0) -> list[str]:
    """Java's String.split: regex separator; with limit 0, trailing empty strings are dropped."""
    if s == "":
        return [""]
    parts = re.split(regex, s, maxsplit=limit - 1) if limit > 0 else re.split(regex, s)
    if limit == 0:
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
    return parts


def _java_repl(repl: str) -> str:
    return re.sub(r"\$(\d+)", r"\\\1", repl.replace("\\", "\\\\")).replace("\\\\\\", "\\")


def _list_remove(lst: list[Any], x: Any) -> Any:
    if is_number(x) and isinstance(x, int):
        return lst.pop(x)
    if x in lst:
        lst.remove(x)
        return True
    return False


def _list_add(lst: list[Any], *args: Any) -> bool | None:
    if len(args) == 2:
        lst.insert(args[0], args[1])
        return None
    lst.append(args[0])
    return True


def _list_add_all(lst: list[Any], *args: Any) -> bool:
    if len(args) == 2:
        lst[args[0]:args[0]] = list(args[1])
    else:
        lst.extend(list(args[0] or []))
    return True


def _retain(lst: list[Any], other: Any) -> bool:
    keep = [x for x in lst if x in other]
    changed = len(keep) != len(lst)
    lst[:] = keep
    return changed


def _remove_all(lst: list[Any], other: Any) -> bool:
    keep = [x for x in lst if x not in other]
    changed = len(keep) != len(lst)
    lst[:] = keep
    return changed


def _map_put(m: dict[Any, Any], k: Any, v: Any) -> Any:
    old = m.get(k)
    m[k] = v
    return old


def _map_put_if_absent(m: dict[Any, Any], k: Any, v: Any) -> Any:
    if m.get(k) is None:
        m[k] = v
        return None
    return m[k]


def _equals(a: Any, b: Any) -> bool:
    if is_number(a) and is_number(b):
        return bool(a == b) and isinstance(a, float) == isinstance(b, float)
    return bool(a == b)


def _compare(a: Any, b: Any) -> int:
    return (a > b) - (a < b)


STRING_METHODS: dict[str, Callable[..., Any]] = {
    "length": len,
    "isEmpty": lambda s: len(s) == 0,
    "isBlank": lambda s: s.strip() == "",
    "trim": lambda s: s.strip(" \t\n\r\x0b\x0c\x00"),
    "strip": str.strip,
    "toUpperCase": str.upper,
    "toLowerCase": str.lower,
    "startsWith": lambda s, p, off=0: s.startswith(p, off),
    "endsWith": lambda s, p: s.endswith(p),
    "contains": lambda s, p: java_str(p) in s,
    "indexOf": lambda s, p, start=0: s.find(java_str(p), start),
    "lastIndexOf": lambda s, p: s.rfind(java_str(p)),
    "substring": lambda s, start, end=None: s[start:end],
    "charAt": lambda s, i: s[i],
    "concat": lambda s, o: s + o,
    "replace": lambda s, a, b: s.replace(java_str(a), java_str(b)),
    "replaceAll": lambda s, pattern, repl: re.sub(pattern, _java_repl(repl), s),
    "replaceFirst": lambda s, pattern, repl: re.sub(pattern, _java_repl(repl), s, count=1),
    "split": _java_split,
    "matches": lambda s, pattern: re.fullmatch(pattern, s) is not None,
    "equals": _equals,
    "equalsIgnoreCase": lambda s, o: isinstance(o, str) and s.lower() == o.lower(),
    "compareTo": _compare,
    "toString": lambda s: s,
    "hashCode": lambda s: _java_hash(s),
    "toCharArray": list,
    "format": lambda s, *a: s % a,
}

LIST_METHODS: dict[str, Callable[..., Any]] = {
    "size": len,
    "isEmpty": lambda lst: len(lst) == 0,
    "get": lambda lst, i: lst[i],
    "add": _list_add,
    "addAll": _list_add_all,
    "contains": lambda lst, x: x in lst,
    "containsAll": lambda lst, other: all(x in lst for x in other),
    "remove": _list_remove,
    "removeAll": _remove_all,
    "retainAll": _retain,
    "indexOf": lambda lst, x: lst.index(x) if x in lst else -1,
    "lastIndexOf": lambda lst, x: len(lst) - 1 - lst[::-1].index(x) if x in lst else -1,
    "set": lambda lst, i, v: _swap(lst, i, v),
    "clear": lambda lst: lst.clear(),
    "subList": lambda lst, a, b: lst[a:b],
    "toString": java_str,
    "equals": _equals,
    "stream": list,
    "toArray": list,
}

MAP_METHODS: dict[str, Callable[..., Any]] = {
    "put": _map_put,
    "putAll": lambda m, other: m.update(other or {}),
    "putIfAbsent": _map_put_if_absent,
    "get": lambda m, k: m.get(k),
    "getOrDefault": lambda m, k, d: m.get(k, d),
    "containsKey": lambda m, k: k in m,
    "containsValue": lambda m, v: v in m.values(),
    "keySet": lambda m: list(m.keys()),
    "values": lambda m: list(m.values()),
    "entrySet": lambda m: [Entry(k, v) for k, v in m.items()],
    "isEmpty": lambda m: len(m) == 0,
    "size": len,
    "remove": lambda m, k: m.pop(k, None),
    "clear": lambda m: m.clear(),
    "toString": java_str,
    "equals": _equals,
}

NUMBER_METHODS: dict[str, Callable[..., Any]] = {
    "toString": java_str,
    "intValue": int,
    "longValue": int,
    "doubleValue": float,
    "floatValue": float,
    "equals": _equals,
    "compareTo": _compare,
}

BOOL_METHODS: dict[str, Callable[..., Any]] = {
    "toString": java_str,
    "booleanValue": bool,
    "equals": _equals,
}


def _swap(lst: list[Any], i: int, v: Any) -> Any:
    old = lst[i]
    lst[i] = v
    return old


def _java_hash(s: str) -> int:
    h = 0
    for ch in s:
        h = (31 * h + ord(ch)) & 0xFFFFFFFF
    return h - (1 << 32) if h >= (1 << 31) else h


def java_methods(obj: Any) -> dict[str, Callable[..., Any]] | None:
    if isinstance(obj, str):
        return STRING_METHODS
    if isinstance(obj, bool):
        return BOOL_METHODS
    if isinstance(obj, (int, float)):
        return NUMBER_METHODS
    if isinstance(obj, list):
        return LIST_METHODS
    if isinstance(obj, dict):
        return MAP_METHODS
    return None


_MISSING = object()


def _bean_property(name: str, lookup: Callable[[str], Any]) -> Any:
    """Java bean properties: `$x.count` -> getCount(), `$x.empty` -> isEmpty(); a bare method name is null."""
    cap = name[:1].upper() + name[1:]
    for accessor in ("get" + cap, "is" + cap):
        getter = lookup(accessor)
        if callable(getter):
            return getter()
    return None


class NameOrCall(av.NameOrCall):
    """`$a.b` / `$a.b(...)` / `$a.b[i]` resolved as Java Velocity would, and safely."""

    def calculate(self, current_object: Any, loader: Any, top_namespace: Any) -> Any:
        name = self.name
        if name.startswith("_"):
            return None
        result: Any = _MISSING
        is_call = self.parameters is not None
        if isinstance(current_object, Mapping):
            try:
                result = current_object[name]
            except (KeyError, TypeError):
                result = _MISSING
            if result is None and is_call:
                result = _MISSING
        if result is _MISSING:
            methods = java_methods(current_object)
            if methods is not None:
                if is_call:
                    method = methods.get(name)
                    if method is None:
                        return None
                    return method(current_object, *self.parameters.calculate(top_namespace, loader))
                if isinstance(current_object, Mapping):
                    return None  # $map.key is map.get("key"), already looked up
                return _bean_property(name, lambda n: (lambda: methods[n](current_object)) if n in methods else None)
            if current_object is None or isinstance(current_object, av.LocalNamespace):
                return None
            result = getattr(current_object, name, None)
            if not is_call and (result is None or callable(result)) and not isinstance(result, type):
                return _bean_property(name, lambda n: getattr(current_object, n, None))
        if result is None or result is _MISSING:
            return None
        if isinstance(result, av._FunctionDefinition):
            params = (self.parameters and self.parameters.calculate(top_namespace, loader)) or []
            stream = av.StoppableStream()
            result.execute_function(stream, top_namespace, params, loader)
            value = stream.getvalue()
            if isinstance(result, av.DefineDefinition) and self.parameters and not params:
                value += self.parameters.my_text()
            return value
        if is_call:
            if not callable(result):
                return None
            return result(*self.parameters.calculate(top_namespace, loader))
        if self.index is not None:
            index = self.index.calculate(top_namespace, loader)
            try:
                return result[index]
            except (IndexError, KeyError, TypeError):
                return None
        return result


def _condition(self: Any, namespace: Any, loader: Any) -> bool:
    """`#if($x)` / `#elseif($x)`: null is false, as in Java Velocity (airspeed-ext says true)."""
    return av.boolean_value(self.expression.calculate(namespace, loader))


class UnaryOperatorValue(av.UnaryOperatorValue):
    """`!$x` is true for null, as in Java Velocity."""

    def calculate(self, namespace: Any, loader: Any) -> Any:
        return not av.boolean_value(self.value.calculate(namespace, loader))


# --------------------------------------------------------------------------- null-safe operators


def _eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    if is_number(a) and is_number(b):
        return bool(a == b)
    if type(a) is type(b) or (isinstance(a, Mapping) and isinstance(b, Mapping)):
        return bool(a == b)
    return java_str(a) == java_str(b)


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        if is_number(a) and is_number(b):
            return op(a, b)
        if isinstance(a, str) and isinstance(b, str):
            return op(a, b)
        return False

    return compare


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str) or isinstance(b, str):
        if a is None or b is None:
            return None
        return java_str(a) + java_str(b)
    if is_number(a) and is_number(b):
        return a + b
    return None


def _arith(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(a: Any, b: Any) -> Any:
        if is_number(a) and is_number(b):
            try:
                return op(a, b)
            except ZeroDivisionError:
                return None
        return None

    return apply


def _div(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    return a / b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        return int(math.fmod(a, b))
    return math.fmod(a, b)


_OPS = av.BinaryOperator.OPERATORS
_OPS.update({
    "==": _eq, "eq": _eq,
    "!=": lambda a, b: not _eq(a, b), "ne": lambda a, b: not _eq(a, b),
    ">": _ordered(lambda a, b: a > b), "gt": _ordered(lambda a, b: a > b),
    ">=": _ordered(lambda a, b: a >= b), "ge": _ordered(lambda a, b: a >= b),
    "<": _ordered(lambda a, b: a < b), "lt": _ordered(lambda a, b: a < b),
    "<=": _ordered(lambda a, b: a <= b), "le": _ordered(lambda a, b: a <= b),
    "+": _add,
    "-": _arith(lambda a, b: a - b),
    "*": _arith(lambda a, b: a * b),
    "/": _arith(_div),
    "%": _arith(_mod),
})

# --------------------------------------------------------------------------- installation

av.UserDefinedDirective.DIRECTIVES = [ReturnDirective, BreakDirective, *av.UserDefinedDirective.DIRECTIVES]
av.ForeachDirective = ForeachDirective
av.NameOrCall = NameOrCall
av.UnaryOperatorValue = UnaryOperatorValue
av.value_to_string = java_str
av.Condition.calculate = _condition
# List literals may span lines, as in Java Velocity.
av.ArrayLiteral.START = re.compile(r"\[\s*(.*)$", re.S)
av.ArrayLiteral.END = re.compile(r"\s*\](.*)$", re.S)
# Plain text: unlike airspeed, a `#` directly before `$ref` is a literal `#` and the reference still
# renders ("#$entry.key" -> "#title"), as in Java Velocity.
av.Text.PLAIN = re.compile(
    r"((?:[^\\\$#]+|\\[\$#])+|\$[^!\{a-z0-9_]|\$$|#$|#(?=\$)"
    r"|#[^\{\}a-zA-Z0-9#\*\$]+|\\.)(.*)$",
    re.S + re.I,
)


class VelocityTemplate:
    """A parsed template; `render` returns (text, returned) where returned is set by #return."""

    def __init__(self, text: str, filename: str) -> None:
        self._template = airspeed.Template(text, filename)
        self._template.ensure_compiled()  # raises TemplateSyntaxError now, not per request

    def render(self, namespace: dict[str, Any], budget_seconds: float = 2.0) -> tuple[str, Any, bool]:
        """Render; raises TemplateTimeout when loops run past `budget_seconds`."""
        stream = av.StoppableStream()
        token = _DEADLINE.set(time.monotonic() + budget_seconds)
        try:
            self._template.merge_to(namespace, stream)
        except ReturnSignal as ret:
            return stream.getvalue(), ret.value, True
        finally:
            _DEADLINE.reset(token)
        return stream.getvalue(), None, False


TemplateSyntaxError = av.TemplateSyntaxError
TemplateExecutionError = av.TemplateExecutionError


def dumps(value: Any) -> str:
    """JSON as AppSync's `$util.toJson` writes it (compact, UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Entry):
        return {value.key: value.value}
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
