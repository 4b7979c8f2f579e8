"""YAML loading that remembers the line of every key, so problems can name a line."""

from __future__ import annotations

from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class PositionedYaml:
    """A parsed YAML document plus the 1-based line of each node, addressed by its path."""

    def __init__(self, data: Any, lines: dict[Path_, int]) -> None:
        self.data = data
        self.lines = lines

    def line_of(self, path: Path_) -> int | None:
        """Line of the node at `path`, or of its nearest ancestor that has one."""
        p = tuple(path)
        while p:
            if p in self.lines:
                return self.lines[p]
            p = p[:-1]
        return self.lines.get((), 1)


def load_positioned(text: str) -> PositionedYaml:
    """Parse YAML text; raises yaml.YAMLError (with problem_mark) on bad syntax."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    lines: dict[Path_, int] = {}
    if node is None:
        return PositionedYaml(None, {(): 1})
    constructor = yaml.SafeLoader(text)

    def build(n: yaml.Node, path: Path_) -> Any:
        lines[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in n.value:
                key = constructor.construct_object(key_node, deep=True)
                if key in out:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark)
                child = (*path, key)
                out[key] = build(value_node, child)
                lines[child] = key_node.start_mark.line + 1
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(n.value)]
        return constructor.construct_object(n, deep=True)

    try:
        return PositionedYaml(build(node, ()), lines)
    finally:
        constructor.dispose()
