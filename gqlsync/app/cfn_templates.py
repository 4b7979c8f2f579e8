"""CloudFormation templates read for import: nested stacks linked, intrinsic functions resolved per template.

A root stack and its nested stacks (as Amplify or CDK synthesize them) are given together. Each
`AWS::CloudFormation::Stack` resource is matched to the template it instantiates — by the file name at
the end of its TemplateURL, or, for CDK output (whose URLs name an asset hash), through the
`*.assets.json` manifests next to the templates. A template's `Ref`s resolve in its own scope: its
resources, and its parameters, whose values are the expressions the instantiating Stack resource passes
(resolved in the parent's scope). `Fn::GetAtt [Stack, Outputs.NAME]` evaluates the nested template's
output, `Fn::ImportValue NAME` the output any given template exports as NAME. A table's `Arn` and `StreamArn`
resolve to ARNs that name the table (`Stacks.stream_arn`), so what reads a stream can be traced to its table.
Conditions (`Fn::If`, a resource's `Condition`) are evaluated; an expression the import cannot
evaluate raises `UnresolvableError`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gqlsync.app.errors import AppError, Problem

#: `Ref AWS::NoValue`: the property (or list item) is left out.
NO_VALUE: Any = object()
#: CloudFormation's pseudo parameters, as an import resolves them (the region is the import's).
_ACCOUNT_ID = "000000000000"
#: The label of every table's stream ARN (AWS's is the stream's creation time).
_STREAM_LABEL = "1970-01-01T00:00:00.000"
_SHORT_TAGS = ("Ref", "GetAtt", "Join", "Sub", "If", "Select", "Split", "Equals", "Not", "And", "Or", "FindInMap",
               "ImportValue", "Base64", "Cidr", "GetAZs", "Condition")


class UnresolvableError(Exception):
    """An expression the import cannot evaluate (the message says which and why)."""


@dataclass(eq=False)
class Resource:
    """One resource of one template: its properties as written (`raw`) and, once checked, resolved (`props`)."""

    logical_id: str
    type: str
    raw: dict[str, Any]
    template: Template
    condition: str | None = None
    props: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.logical_id} ({self.type})"

    @property
    def path(self) -> str:
        return self.template.path


@dataclass(eq=False)
class Template:
    """One template file, and the Stack resource that instantiates it (None for a root template)."""

    path: str
    body: dict[str, Any]
    resources: dict[str, Resource] = field(default_factory=dict)
    parent: Template | None = None
    instantiated_by: Resource | None = None

    @property
    def name(self) -> str:
        return Path(self.path).name

    def section(self, name: str) -> dict[str, Any]:
        value = self.body.get(name)
        return value if isinstance(value, dict) else {}


class Stacks:
    """The given templates, linked into stacks, with the intrinsic functions the import needs."""

    def __init__(self, templates: dict[str, dict[str, Any]], *, api_id: str, region: str, env: str,
                 overrides: dict[str, str] | None = None) -> None:
        #: Values given for `Ref NAME` in any template (a parameter or a resource), e.g. a deployed user pool's id.
        self.overrides = dict(overrides or {})
        self.api_id = api_id
        self.region = region
        self.env = env
        self.problems: list[Problem] = []
        self.templates = [Template(path, body) for path, body in templates.items()]
        for tpl in self.templates:
            for lid, res in tpl.section("Resources").items():
                spec = res if isinstance(res, dict) else {}
                props = spec.get("Properties")
                tpl.resources[lid] = Resource(lid, str(spec.get("Type", "")), props if isinstance(props, dict) else {},
                                              tpl, spec.get("Condition"))
        self._children: dict[Resource, Template] = {}
        self._exports: dict[str, tuple[Any, Template]] | None = None  # export name -> (value, its template)
        self._link()
        #: Every resource that exists: a resource whose Condition is false is not created.
        self.resources = [r for tpl in self.templates for r in tpl.resources.values() if self._exists(r)]

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]

    # Nested stacks

    def _link(self) -> None:
        by_name = {tpl.name: tpl for tpl in self.templates}
        asset_names = _cdk_asset_names({Path(tpl.path).parent for tpl in self.templates})
        for tpl in self.templates:
            for res in tpl.resources.values():
                if res.type == "AWS::CloudFormation::Stack":
                    self._link_stack(res, by_name, asset_names)

    def _link_stack(self, res: Resource, by_name: dict[str, Template], asset_names: dict[str, str]) -> None:
        try:
            url = str(self.resolve(res.raw.get("TemplateURL", ""), res.template))
        except UnresolvableError as exc:
            self.problems.append(Problem(res.path, None, f"{res.label} TemplateURL: {exc}"))
            return
        file = url.split("?", 1)[0].rsplit("/", 1)[-1]
        child = by_name.get(file) or by_name.get(asset_names.get(file, ""))
        if child is None:
            given = ", ".join(sorted(by_name))
            self.problems.append(Problem(res.path, None, (
                f"{res.label} TemplateURL: {url} is none of the templates given ({given}); pass the nested "
                "stack's template too (for CDK output, keep the *.assets.json that names it next to the templates)")))
        elif child in self._ancestry(res.template):
            self.problems.append(Problem(res.path, None,
                                         f"{res.label}: its template {child.name} would contain itself"))
        elif child.instantiated_by is not None:
            self.problems.append(Problem(res.path, None, (
                f"{res.label}: its template {child.name} is also the nested stack {child.instantiated_by.label}; "
                "the import cannot tell the two apart")))
        else:
            child.parent, child.instantiated_by = res.template, res
            self._children[res] = child

    @staticmethod
    def _ancestry(tpl: Template) -> Iterator[Template]:
        """`tpl` and the templates it is nested in, innermost first."""
        at: Template | None = tpl
        while at is not None:
            yield at
            at = at.parent

    def _exists(self, res: Resource) -> bool:
        if res.condition is None:
            return True
        try:
            return self._condition(str(res.condition), res.template)
        except UnresolvableError as exc:
            self.problems.append(Problem(res.path, None, f"{res.label} Condition: {exc}"))
            return False

    # Intrinsic functions

    def resolve(self, value: Any, tpl: Template) -> Any:
        """`value` with every intrinsic function evaluated in `tpl`'s scope (`Ref AWS::NoValue` left out)."""
        if isinstance(value, list):
            return [v for v in (self.resolve(x, tpl) for x in value) if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            function = _INTRINSICS.get(key)
            if function is not None:
                return function(self, arg, tpl)
            if key.startswith("Fn::"):
                raise UnresolvableError(f"{key} is not an intrinsic function import-cfn evaluates")
        return {k: v for k, v in ((k, self.resolve(v, tpl)) for k, v in value.items()) if v is not NO_VALUE}

    def ref(self, name: str, tpl: Template) -> Any:
        if name.startswith("AWS:") and not name.startswith("AWS::"):
            name = "AWS::" + name[4:]  # Amplify's Lambda conflict handler ARN says ${AWS:Partition}
        if name in self.overrides:
            return self.overrides[name]
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": _ACCOUNT_ID, "AWS::StackName": "gqlsync",
                  "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{_ACCOUNT_ID}:stack/gqlsync",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::Partition": "aws", "AWS::NoValue": NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        res = tpl.resources.get(name)
        if res is not None:
            return self._ref_resource(res)
        if name in tpl.section("Parameters"):
            return self._parameter(name, tpl)
        raise UnresolvableError(f"Ref {name}: {tpl.name} has no parameter or resource {name}")

    def _ref_resource(self, res: Resource) -> Any:
        named_by = {"AWS::DynamoDB::Table": "TableName", "AWS::Lambda::Function": "FunctionName"}
        if res.type == "AWS::AppSync::GraphQLApi":
            return self.api_id
        return self.resolve(res.raw.get(named_by.get(res.type, "Name"), res.logical_id), res.template)

    def _parameter(self, name: str, tpl: Template) -> Any:
        given = (tpl.instantiated_by.raw.get("Parameters") or {}) if tpl.instantiated_by else {}
        if name in given and tpl.parent is not None:
            return self.resolve(given[name], tpl.parent)
        if "env" in name.lower():
            return self.env
        default = (tpl.section("Parameters").get(name) or {}).get("Default")
        return default if default is not None else name  # a placeholder: known only once deployed

    def get_att(self, lid: str, attr: str, tpl: Template) -> Any:
        res = tpl.resources.get(lid)
        if res is None:
            raise UnresolvableError(f"Fn::GetAtt {lid}.{attr}: {tpl.name} has no resource {lid}")
        if res.type == "AWS::CloudFormation::Stack" and attr.startswith("Outputs."):
            return self._output(res, attr.removeprefix("Outputs."))
        if attr in ("ApiId", "GraphQLApiId") or res.type == "AWS::AppSync::GraphQLApi":
            return self.api_id
        if attr == "FunctionId":
            return function_id(res)
        if attr in ("Name", "TableName", "DataSourceName"):
            return self._ref_resource(res)
        if attr == "Arn" and res.type == "AWS::Lambda::Function":
            return f"arn:aws:lambda:{self.region}:{_ACCOUNT_ID}:function:{self._ref_resource(res)}"
        if attr in ("Arn", "StreamArn") and res.type == "AWS::DynamoDB::Table":
            return self.stream_arn(res) if attr == "StreamArn" else self.table_arn(res)
        if attr == "Arn":
            return f"arn:aws:local:{self.region}:{_ACCOUNT_ID}:{lid}"
        return f"{lid}.{attr}"

    def table_arn(self, table: Resource) -> str:
        return f"arn:aws:dynamodb:{self.region}:{_ACCOUNT_ID}:table/{_text(self._ref_resource(table))}"

    def stream_arn(self, table: Resource) -> str:
        """What `Fn::GetAtt [Table, StreamArn]` resolves to: the table's ARN, `/stream/` and a fixed label."""
        return f"{self.table_arn(table)}/stream/{_STREAM_LABEL}"

    def _output(self, stack: Resource, name: str) -> Any:
        child = self._children.get(stack)
        if child is None:
            raise UnresolvableError(f"Fn::GetAtt {stack.logical_id}.Outputs.{name}: the nested stack's template is not "
                               "among the templates given")
        output = child.section("Outputs").get(name)
        if not isinstance(output, dict) or "Value" not in output:
            raise UnresolvableError(f"Fn::GetAtt {stack.logical_id}.Outputs.{name}: {child.name} has no output {name}")
        return self.resolve(output["Value"], child)

    def import_value(self, name: str) -> Any:
        """`Fn::ImportValue NAME`: the value of the output some given template exports as NAME."""
        if self._exports is None:
            self._exports = {}
            for tpl in self.templates:
                for output in tpl.section("Outputs").values():
                    export = output.get("Export") if isinstance(output, dict) else None
                    if not isinstance(export, dict) or "Name" not in export or "Value" not in output:
                        continue
                    try:
                        self._exports.setdefault(_text(self.resolve(export["Name"], tpl)), (output["Value"], tpl))
                    except UnresolvableError:
                        continue  # an export nothing can name either
        if name not in self._exports:
            raise UnresolvableError(f"Fn::ImportValue {name}: none of the templates given exports {name}")
        value, tpl = self._exports[name]
        return self.resolve(value, tpl)

    def _condition(self, name: str, tpl: Template) -> bool:
        spec = tpl.section("Conditions").get(name)
        if spec is None:
            raise UnresolvableError(f"{tpl.name} has no condition {name}")
        value = self.resolve(spec, tpl)
        if not isinstance(value, bool):
            raise UnresolvableError(f"condition {name} is {value!r}, not true or false")
        return value

    def _sub(self, arg: Any, tpl: Template) -> str:
        text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def value(m: re.Match[str]) -> str:
            key = m.group(1)
            if key in names:
                return _text(self.resolve(names[key], tpl))
            if "." in key:
                lid, attr = key.split(".", 1)
                return _text(self.get_att(lid, attr, tpl))
            return _text(self.ref(key, tpl))

        return re.sub(r"\$\{([^}!][^}]*)\}", value, str(text)).replace("${!", "${")

    def _find_in_map(self, arg: Any, tpl: Template) -> Any:
        name, top, second = (str(self.resolve(a, tpl)) for a in arg)
        try:
            return tpl.section("Mappings")[name][top][second]
        except (KeyError, TypeError):
            raise UnresolvableError(f"Fn::FindInMap [{name}, {top}, {second}]: {tpl.name} has no such entry") from None


def function_id(res: Resource) -> str:
    """The id `Fn::GetAtt [Function, FunctionId]` stands for: unique across the templates."""
    return f"{res.template.path}#{res.logical_id}"


def _text(value: Any) -> str:
    """A resolved value as CloudFormation writes it into a string (booleans lower case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _select(stacks: Stacks, arg: Any, tpl: Template) -> Any:
    index, items = int(stacks.resolve(arg[0], tpl)), stacks.resolve(arg[1], tpl)
    if not isinstance(items, list) or not 0 <= index < len(items):
        raise UnresolvableError(f"Fn::Select {index}: out of range of {items!r}")
    return items[index]


def _get_att(stacks: Stacks, arg: Any, tpl: Template) -> Any:
    lid, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
    return stacks.get_att(str(lid), str(stacks.resolve(attr, tpl)), tpl)


_INTRINSICS: dict[str, Callable[[Stacks, Any, Template], Any]] = {
    "Ref": lambda s, arg, tpl: s.ref(str(arg), tpl),
    "Fn::GetAtt": _get_att,
    "Fn::Join": lambda s, arg, tpl: _text(s.resolve(arg[0], tpl)).join(_text(p) for p in s.resolve(arg[1], tpl)),
    "Fn::Sub": lambda s, arg, tpl: s._sub(arg, tpl),
    "Fn::If": lambda s, arg, tpl: s.resolve(arg[1] if s._condition(str(arg[0]), tpl) else arg[2], tpl),
    "Fn::Equals": lambda s, arg, tpl: _text(s.resolve(arg[0], tpl)) == _text(s.resolve(arg[1], tpl)),
    "Fn::Not": lambda s, arg, tpl: not s.resolve(arg[0], tpl),
    "Fn::And": lambda s, arg, tpl: all(s.resolve(a, tpl) for a in arg),
    "Fn::Or": lambda s, arg, tpl: any(s.resolve(a, tpl) for a in arg),
    "Condition": lambda s, arg, tpl: s._condition(str(arg), tpl),
    "Fn::Select": _select,
    "Fn::Split": lambda s, arg, tpl: _text(s.resolve(arg[1], tpl)).split(str(arg[0])),
    "Fn::FindInMap": lambda s, arg, tpl: s._find_in_map(arg, tpl),
    "Fn::ImportValue": lambda s, arg, tpl: s.import_value(_text(s.resolve(arg, tpl))),
    "Fn::Base64": lambda s, arg, tpl: base64.b64encode(_text(s.resolve(arg, tpl)).encode()).decode(),
}


def _cdk_asset_names(folders: Iterable[Path]) -> dict[str, str]:
    """Object key file name -> template file name, from the CDK asset manifests (`*.assets.json`) in `folders`:
    CDK's nested-stack TemplateURLs name the asset's hash, not the template."""
    names: dict[str, str] = {}
    for folder in folders:
        for manifest in sorted(folder.glob("*.assets.json")):
            try:
                files = json.loads(manifest.read_text(encoding="utf-8")).get("files") or {}
                for asset in files.values():
                    source = Path(str(asset["source"]["path"])).name
                    for dest in (asset.get("destinations") or {}).values():
                        names[str(dest["objectKey"]).rsplit("/", 1)[-1]] = source
            except (OSError, UnicodeDecodeError, ValueError, AttributeError, KeyError, TypeError):
                continue  # not a CDK asset manifest; a nested stack it would have named is reported unmatched
    return names


def load_template(path: Path) -> dict[str, Any]:
    """A JSON or YAML template (YAML with CloudFormation's short tags); AppError with the line if malformed."""
    try:
        return _parse_template(path)
    except json.JSONDecodeError as exc:
        raise AppError([Problem(str(path), exc.lineno, f"JSON syntax error: {exc.msg}", exc.colno)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise AppError([Problem(str(path), mark.line + 1 if mark else None,
                                f"YAML syntax error: {getattr(exc, 'problem', None) or exc}",
                                mark.column + 1 if mark else None)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AppError([Problem(str(path), None, f"cannot read the template: {exc}")]) from None


def _parse_template(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        class Loader(yaml.SafeLoader):
            pass

        for tag in _SHORT_TAGS:
            Loader.add_constructor(f"!{tag}", _short_tag(tag))
        data = yaml.load(text, Loader=Loader)  # a SafeLoader that also knows CloudFormation's short tags
    if not isinstance(data, dict) or "Resources" not in data:
        raise AppError([Problem(str(path), None, "not a CloudFormation template (no Resources)")])
    return data


def _short_tag(tag: str) -> Callable[[yaml.SafeLoader, yaml.Node], Any]:
    full = tag if tag in ("Ref", "Condition") else f"Fn::{tag}"

    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if tag == "GetAtt":
                value = str(value).split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        return {full: value}

    return construct
