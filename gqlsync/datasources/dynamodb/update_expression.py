"""DynamoDB update expressions applied to an item locally, exactly as DynamoDB applies them.

Versioned (Delta Sync) writes store the new image of an item with its change record in one transaction,
and a transaction's Update returns no image: so the new image is computed here from the item as read
(the write is then guarded by the item's `_version`). Items are in DynamoDB's wire form
(`{"S": "x"}`, `{"N": "1"}`, `{"M": {...}}` ...). Grammar (DynamoDB's):

    SET path = value [, ...]      value: operand | operand + operand | operand - operand
                                  operand: path | :v | list_append(operand, operand) | if_not_exists(path, operand)
    REMOVE path [, ...]
    ADD path :v [, ...]           number addition or set union
    DELETE path :v [, ...]        set difference

Every operand is evaluated on the item as it was before the update, as DynamoDB does.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from gqlsync.errors import DataSourceError

_TOKEN = re.compile(r"\s*(?:(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)|(?P<index>\[\s*\d+\s*\])"
                    r"|(?P<ident>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[.,=+\-()]))")
_CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")
_SETS = ("SS", "NS", "BS")

Path = tuple[str | int, ...]


def _invalid(message: str) -> DataSourceError:
    return DataSourceError(f"Invalid UpdateExpression: {message}", "DynamoDB:ValidationException")


def _missing() -> DataSourceError:
    return DataSourceError("The provided expression refers to an attribute that does not exist in the item",
                           "DynamoDB:ValidationException")


def _bad_path() -> DataSourceError:
    return DataSourceError("The document path provided in the update expression is invalid for update",
                           "DynamoDB:ValidationException")


@dataclass(frozen=True)
class _Operand:
    kind: str  # "path" | "value" | "list_append" | "if_not_exists" | "+" | "-"
    path: Path = ()
    value: str = ""
    args: tuple[_Operand, ...] = ()


class _Parser:
    def __init__(self, text: str, names: dict[str, str], values: dict[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise _invalid(f"Syntax error; token: \"{text[pos:pos + 10].strip()}\"")
            kind = m.lastgroup or ""
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0
        self.names = names
        self.values = values
        self.used_names: set[str] = set()
        self.used_values: set[str] = set()

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self, text: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None or (text is not None and tok[1].upper() != text):
            found = tok[1] if tok else "<end of expression>"
            raise _invalid(f"Syntax error; expected {text or 'more'}, found \"{found}\"")
        self.i += 1
        return tok

    def at_clause(self) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "ident" and tok[1].upper() in _CLAUSES

    def path(self) -> Path:
        kind, text = self.take()
        parts: list[str | int] = [self.name(kind, text)]
        while (tok := self.peek()) is not None and (tok[0] == "index" or tok[1] == "."):
            if tok[0] == "index":
                self.take()
                parts.append(int(tok[1].strip("[] ")))
            else:
                self.take(".")
                parts.append(self.name(*self.take()))
        return tuple(parts)

    def name(self, kind: str, text: str) -> str:
        if kind == "name":
            if text not in self.names:
                raise _invalid(f"An expression attribute name used in the document path is not defined; "
                               f"attribute name: {text}")
            self.used_names.add(text)
            return self.names[text]
        if kind == "ident":
            return text
        raise _invalid(f"Syntax error; token: \"{text}\"")

    def operand(self) -> _Operand:
        tok = self.peek()
        if tok is None:
            raise _invalid("Syntax error; the expression ends where an operand was expected")
        kind, text = tok
        if kind == "value":
            self.take()
            if text not in self.values:
                raise _invalid(f"An expression attribute value used in expression is not defined; "
                               f"attribute value: {text}")
            self.used_values.add(text)
            return _Operand("value", value=text)
        if kind == "ident" and self.i + 1 < len(self.tokens) and self.tokens[self.i + 1][1] == "(":
            fn = text.lower()
            if fn not in ("list_append", "if_not_exists"):
                raise _invalid(f"Invalid function name; function: {text}")
            self.take()
            self.take("(")
            first = _Operand("path", path=self.path()) if fn == "if_not_exists" else self.operand()
            self.take(",")
            second = self.operand()
            self.take(")")
            return _Operand(fn, args=(first, second))
        return _Operand("path", path=self.path())

    def value(self) -> _Operand:
        left = self.operand()
        tok = self.peek()
        if tok is not None and tok[1] in ("+", "-"):
            self.take()
            return _Operand(tok[1], args=(left, self.operand()))
        return left

    def parse(self) -> list[tuple[str, Path, _Operand | None]]:
        actions: list[tuple[str, Path, _Operand | None]] = []
        seen: set[str] = set()
        if not self.tokens:
            raise _invalid("The expression can not be empty")
        while self.peek() is not None:
            if not self.at_clause():
                raise _invalid(f"Syntax error; token: \"{self.peek()[1]}\"")  # type: ignore[index]
            clause = self.take()[1].upper()
            if clause in seen:
                raise _invalid(f"The \"{clause}\" section can only be used once in an update expression")
            seen.add(clause)
            while True:
                path = self.path()
                if clause == "SET":
                    self.take("=")
                    actions.append((clause, path, self.value()))
                elif clause == "REMOVE":
                    actions.append((clause, path, None))
                else:
                    operand = self.operand()
                    if operand.kind != "value":
                        raise _invalid(f"{clause} takes a value placeholder")
                    actions.append((clause, path, operand))
                if self.peek() is not None and self.peek()[1] == ",":  # type: ignore[index]
                    self.take(",")
                    continue
                break
        return actions


def _get(item: dict[str, Any], path: Path) -> Any:
    node: Any = {"M": item}
    for part in path:
        if isinstance(part, int):
            items = node.get("L") if isinstance(node, dict) else None
            if items is None or part >= len(items):
                return None
            node = items[part]
        else:
            members = node.get("M") if isinstance(node, dict) else None
            if members is None or part not in members:
                return None
            node = members[part]
    return node


def _parent(item: dict[str, Any], path: Path) -> Any:
    parent = {"M": item} if len(path) == 1 else _get(item, path[:-1])
    if parent is None:
        raise _bad_path()
    return parent


def _slot(item: dict[str, Any], path: Path) -> tuple[Any, str | int]:
    """The list or map that holds the last step of `path`, and that step; a missing or mistyped parent is an
    error, as in DynamoDB."""
    last = path[-1]
    container = _parent(item, path).get("L" if isinstance(last, int) else "M")
    if container is None:
        raise _bad_path()
    return container, last


def _put(item: dict[str, Any], path: Path, value: Any) -> None:
    container, last = _slot(item, path)
    if isinstance(last, int) and last >= len(container):
        container.append(value)  # DynamoDB appends when the index is past the end
    else:
        container[last] = value


def _remove(item: dict[str, Any], path: Path) -> None:
    """REMOVE: a missing attribute or list index is nothing to do."""
    container, last = _slot(item, path)
    if isinstance(last, int):
        if last < len(container):
            del container[last]
    else:
        container.pop(last, None)


def _number(av: Any, what: str) -> Decimal:
    if not isinstance(av, dict) or "N" not in av:
        raise DataSourceError(f"An operand in the update expression has an incorrect data type ({what})",
                              "DynamoDB:ValidationException")
    try:
        return Decimal(str(av["N"]))
    except InvalidOperation:
        raise DataSourceError("A number is not valid", "DynamoDB:ValidationException") from None


_DIGITS = Context(prec=38)  # DynamoDB numbers carry up to 38 significant digits


def _number_text(d: Decimal) -> str:
    """A number as DynamoDB stores it: normalized, no exponent, no trailing zeros."""
    return format(d.normalize(_DIGITS), "f")


class _Evaluator:
    def __init__(self, item: dict[str, Any], values: dict[str, Any]) -> None:
        self.item = item
        self.values = values

    def operand(self, op: _Operand) -> Any:
        if op.kind == "value":
            return copy.deepcopy(self.values[op.value])
        if op.kind == "path":
            found = _get(self.item, op.path)
            if found is None:
                raise _missing()
            return copy.deepcopy(found)
        if op.kind == "if_not_exists":
            found = _get(self.item, op.args[0].path)
            return copy.deepcopy(found) if found is not None else self.operand(op.args[1])
        if op.kind == "list_append":
            a, b = (self.operand(x) for x in op.args)
            if not (isinstance(a, dict) and "L" in a and isinstance(b, dict) and "L" in b):
                raise DataSourceError("An operand in the update expression has an incorrect data type "
                                      "(list_append takes two lists)", "DynamoDB:ValidationException")
            return {"L": [*a["L"], *b["L"]]}
        a, b = (_number(self.operand(x), op.kind) for x in op.args)
        return {"N": _number_text(_DIGITS.add(a, b) if op.kind == "+" else _DIGITS.subtract(a, b))}


def apply_update(item: dict[str, Any] | None, expression: str, names: dict[str, str] | None = None,
                 values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The item after `expression` (a new dict; `item` is left as it was). Raises DataSourceError
    (`DynamoDB:ValidationException`) for what DynamoDB refuses."""
    names, values = names or {}, values or {}
    parser = _Parser(expression, names, values)
    actions = parser.parse()
    for given, used, what in ((names, parser.used_names, "Names"), (values, parser.used_values, "Values")):
        if unused := set(given) - used:
            raise _invalid(f"Value provided in ExpressionAttribute{what} unused in expressions: "
                           f"keys: {{{', '.join(sorted(unused))}}}")
    paths = [path for _, path, _ in actions]
    for i, a in enumerate(paths):
        for b in paths[i + 1:]:
            if a[:len(b)] == b or b[:len(a)] == a:
                raise _invalid("Two document paths overlap with each other; must remove or rewrite one of these "
                               f"paths; path one: {list(a)}, path two: {list(b)}")
    before = item or {}
    evaluator = _Evaluator(before, values)
    # every operand sees the item as it was: evaluate first, then write
    planned: list[tuple[str, Path, Any]] = [
        (clause, path, None if op is None else evaluator.operand(op)) for clause, path, op in actions]
    after = copy.deepcopy(before)
    for clause, path, value in planned:
        if clause == "SET":
            _put(after, path, value)
        elif clause == "REMOVE":
            _remove(after, path)
        elif clause == "ADD":
            current = _get(after, path)
            if "N" in value:
                base = _number(current, "ADD") if current is not None else Decimal(0)
                _put(after, path, {"N": _number_text(_DIGITS.add(base, _number(value, "ADD")))})
            elif any(k in value for k in _SETS):
                (kind, members), = value.items()
                if current is not None and kind not in current:
                    raise DataSourceError("An operand in the update expression has an incorrect data type (ADD)",
                                          "DynamoDB:ValidationException")
                merged = list(current[kind]) if current is not None else []
                merged += [m for m in members if m not in merged]
                _put(after, path, {kind: merged})
            else:
                raise DataSourceError("ADD takes a number or a set", "DynamoDB:ValidationException")
        else:  # DELETE
            (kind, members), = value.items()
            if kind not in _SETS:
                raise DataSourceError("DELETE takes a set", "DynamoDB:ValidationException")
            current = _get(after, path)
            if current is None:
                continue
            if kind not in current:
                raise DataSourceError("An operand in the update expression has an incorrect data type (DELETE)",
                                      "DynamoDB:ValidationException")
            left = [m for m in current[kind] if m not in members]
            if left:
                _put(after, path, {kind: left})
            else:
                _remove(after, path)
    return after
