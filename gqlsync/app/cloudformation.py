"""Imports an AppSync API from CloudFormation (AWS::AppSync::*, AWS::DynamoDB::Table) into an app folder.

Reads one or more synthesized templates (a root stack and its nested stacks, as Amplify or CDK
write them), resolves the intrinsic functions it needs (Ref, Fn::GetAtt, Fn::Join, Fn::Sub,
Fn::If on conditions it cannot know: the first branch), copies mapping templates that live in S3
from a local assets folder, and writes `gqlsync.yaml`, the schema and the templates. The result
is an ordinary app folder: `gqlsync validate` / `dev` load it like any other (`gqlsync import-cfn`
runs those checks on it before it replaces anything).

Nothing is dropped silently: what cannot be carried over is either a problem (the import fails) or
listed in `ImportResult.skipped`; what the import fills in is listed in `ImportResult.notes`.

- Auth: API_KEY, AMAZON_COGNITO_USER_POOLS (UserPoolConfig) and OPENID_CONNECT (OpenIDConnectConfig)
  map onto gqlsync's modes. AWS_IAM needs credentials and AWS_LAMBDA a local handler, neither of which
  a template holds: as the default mode they fail the import, as an additional mode they are skipped.
- Missing response mapping templates: AppSync's API reference makes request and response templates
  optional only for Lambda data sources ("For all other data sources, VTL request and response mapping
  templates are required"); the only default it documents is the direct-Lambda one (raise `$ctx.error`,
  else `$util.toJson($ctx.result)`). A unit resolver or function on another data source without a
  response template gets that same template, written into the app and listed in `notes`.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from gqlsync.app.errors import AppError, Problem

_NO_VALUE = object()

#: The response template written for a resolver or function that has none: AppSync's documented
#: direct-Lambda default (2018-05-29): raise the data source's error, else return its result as is.
DEFAULT_RESPONSE_TEMPLATE = (
    "#if($ctx.error)\n"
    "  $util.error($ctx.error.message, $ctx.error.type, $ctx.result)\n"
    "#end\n"
    "$util.toJson($ctx.result)\n"
)
#: A Cognito user pool id: REGION_ID (e.g. us-east-1_AbCdEf123); anything else is an unresolved placeholder.
_USER_POOL_ID = re.compile(r"^([a-z]{2}(?:-[a-z]+)+-\d)_[0-9A-Za-z]+$")


@dataclass
class _Resource:
    logical_id: str
    type: str
    props: dict[str, Any]
    template: str


@dataclass
class ImportResult:
    """What the import wrote and what it could not carry over."""

    app_dir: Path
    resolvers: int
    functions: int
    data_sources: int
    tables: int
    skipped: list[str] = field(default_factory=list)
    #: What the import filled in or adjusted (default templates, a region taken from the pool id, ...).
    notes: list[str] = field(default_factory=list)
    #: The API key written into the app, or None when no auth mode is API_KEY.
    api_key: str | None = None


class _Stacks:
    """All resources of the given templates, with a resolver for the intrinsic functions."""

    def __init__(self, templates: dict[str, dict[str, Any]], api_id: str, region: str, env: str,
                 overrides: dict[str, str] | None = None) -> None:
        #: Values given for `Ref NAME` (a parameter or a resource's logical id), e.g. a deployed user pool's id.
        self.overrides = dict(overrides or {})
        self.resources: dict[str, _Resource] = {}
        self.parameters: dict[str, dict[str, Any]] = {}
        for name, tpl in templates.items():
            for lid, res in (tpl.get("Resources") or {}).items():
                self.resources[lid] = _Resource(lid, res.get("Type", ""), res.get("Properties") or {}, name)
            self.parameters.update(tpl.get("Parameters") or {})
        # A nested stack's parameters get their values from the parent's AWS::CloudFormation::Stack.
        self.parameter_values: dict[str, Any] = {}
        for res in self.of_type("AWS::CloudFormation::Stack"):
            self.parameter_values.update(res.props.get("Parameters") or {})
        self.api_id = api_id
        self.region = region
        self.env = env

    def of_type(self, type_: str) -> list[_Resource]:
        return [r for r in self.resources.values() if r.type == type_]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [v for v in (self.resolve(x) for x in value) if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self._ref(str(arg))
            if key == "Fn::GetAtt":
                lid, attr = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self._get_att(lid, attr)
            if key == "Fn::Join":
                sep, parts = arg
                return str(sep).join(str(self.resolve(p)) for p in parts)
            if key == "Fn::Sub":
                text, names = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return re.sub(r"\$\{([^}!][^}]*)\}", lambda m: str(
                    self.resolve(names[m.group(1)]) if m.group(1) in names else
                    self._get_att(*m.group(1).split(".", 1)) if "." in m.group(1) else self._ref(m.group(1))), text)
            if key == "Fn::If":
                return self.resolve(arg[1])
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(arg[0])]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not _NO_VALUE}

    def _ref(self, name: str) -> Any:
        if name in self.overrides:
            return self.overrides[name]
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": "000000000000", "AWS::StackName": "gqlsync",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::Partition": "aws", "AWS::NoValue": _NO_VALUE}
        if name in pseudo:
            return pseudo[name]
        res = self.resources.get(name)
        if res is not None:
            if res.type == "AWS::DynamoDB::Table":
                return self.resolve(res.props.get("TableName", name))
            if res.type == "AWS::AppSync::GraphQLApi":
                return self.api_id
            return self.resolve(res.props.get("Name", name))
        if name in self.parameters:
            return self._parameter(name)
        return name

    def _parameter(self, name: str) -> Any:
        if name in self.parameter_values:
            return self.resolve(self.parameter_values[name])
        if "env" in name.lower():
            return self.env
        default = self.parameters[name].get("Default")
        return default if default is not None else name

    def _get_att(self, lid: str, attr: str) -> Any:
        res = self.resources.get(lid)
        if res is None:
            return f"{lid}.{attr}"
        if attr in ("ApiId", "GraphQLApiId") or res.type == "AWS::AppSync::GraphQLApi":
            return self.api_id
        if attr == "FunctionId":
            return lid
        if attr in ("Name", "TableName", "DataSourceName"):
            return self._ref(lid)
        if attr == "Arn":
            return f"arn:aws:local:{self.region}:000000000000:{lid}"
        return f"{lid}.{attr}"


def _load_template(path: Path) -> dict[str, Any]:
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

        def short(tag: str) -> Any:
            full = "Ref" if tag == "Ref" else f"Fn::{tag}"

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

        for tag in ("Ref", "GetAtt", "Join", "Sub", "If", "Select", "Split", "Equals", "Not", "And", "Or",
                    "FindInMap", "ImportValue", "Base64", "Cidr", "GetAZs", "Condition"):
            Loader.add_constructor(f"!{tag}", short(tag))
        data = yaml.load(text, Loader=Loader)  # a SafeLoader that also knows CloudFormation's short tags
    if not isinstance(data, dict) or "Resources" not in data:
        raise AppError([Problem(str(path), None, "not a CloudFormation template (no Resources)")])
    return data


def _asset_path(assets: Path, url: str) -> Path | None:
    key = re.sub(r"^s3://[^/]+/", "", url)
    key = re.sub(r"^https?://[^/]+/", "", key)
    for candidate in (assets / key, assets / Path(key).name):
        if candidate.is_file():
            return candidate
    return None


class _Auth:
    """Maps AWS::AppSync::GraphQLApi's auth settings onto gqlsync's `auth:` (collecting problems and notes)."""

    def __init__(self, stacks: _Stacks, problems: list[Problem], skipped: list[str], notes: list[str]) -> None:
        self.stacks = stacks
        self.problems = problems
        self.skipped = skipped
        self.notes = notes

    def manifest(self, api_key: str) -> tuple[dict[str, Any], str | None]:
        """The `auth:` section, and the API key it lists (None when no mode is API_KEY)."""
        apis = self.stacks.of_type("AWS::AppSync::GraphQLApi")
        if not apis:
            self.notes.append("auth: the templates have no AWS::AppSync::GraphQLApi, so the app uses API_KEY")
            return {"default": {"mode": "API_KEY"}, "apiKeys": [{"id": api_key}]}, api_key
        if len(apis) > 1:
            names = ", ".join(a.logical_id for a in apis)
            self.problems.append(Problem(apis[1].template, None, f"the templates define {len(apis)} GraphQL APIs "
                                         f"({names}); import the templates of one API at a time"))
        api = apis[0]
        raw = api.props
        default = self.provider(api, raw, self.stacks.resolve(raw), "default mode", is_default=True)
        additional = []
        for i, spec in enumerate(raw.get("AdditionalAuthenticationProviders") or []):
            mode = self.provider(api, spec, self.stacks.resolve(spec), f"additional mode {i + 1}", is_default=False)
            if mode is not None:
                additional.append(mode)
        auth: dict[str, Any] = {"default": default or {"mode": "API_KEY"}}
        if additional:
            auth["additional"] = additional
        modes = {m["mode"] for m in (auth["default"], *additional)}
        if "API_KEY" not in modes:
            return auth, None
        auth["apiKeys"] = self.api_keys(api_key)
        return auth, api_key

    def api_keys(self, api_key: str) -> list[dict[str, Any]]:
        """One key per AWS::AppSync::ApiKey, with its Expires and Description (AWS generates key values, so the
        first takes `api_key` and the others new ids, each noted); a single key when the templates have none."""
        keys: list[dict[str, Any]] = []
        for i, res in enumerate(self.stacks.of_type("AWS::AppSync::ApiKey")):
            p = self.stacks.resolve(res.props)
            entry: dict[str, Any] = {"id": api_key if i == 0 else "da2-" + secrets.token_hex(13)}
            expires = p.get("Expires")
            if expires is not None:
                try:
                    entry["expires"] = datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                except (TypeError, ValueError, OverflowError):
                    self.problems.append(Problem(res.template, None, f"{res.logical_id} (AWS::AppSync::ApiKey) "
                                                 f"Expires: expected epoch seconds, got {expires!r}"))
            if p.get("Description"):
                entry["description"] = str(p["Description"])
            if i:
                self.notes.append(f"API key {res.logical_id}: AWS generates key values, so it is {entry['id']} here")
            keys.append(entry)
        return keys or [{"id": api_key}]

    def fail(self, api: _Resource, what: str, message: str) -> None:
        self.problems.append(Problem(api.template, None, f"{api.logical_id} (AWS::AppSync::GraphQLApi) {what}: "
                                     f"{message}"))

    def unresolved(self, raw: Any, value: Any, example: str) -> str:
        """Why `value` (from the template expression `raw`) is not usable, and how to give the real one."""
        name = raw.get("Ref") if isinstance(raw, dict) and isinstance(raw.get("Ref"), str) else "NAME"
        return (f"{json.dumps(raw)} resolves to {value!r}, a value known only once the stack is deployed; "
                f"give it with `--parameter {name}={example}`")

    def provider(self, api: _Resource, raw: dict[str, Any], spec: dict[str, Any], what: str,
                 *, is_default: bool) -> dict[str, Any] | None:
        mode = spec.get("AuthenticationType")
        what = f"{what} {mode}"
        if mode == "API_KEY":
            return {"mode": mode}
        if mode == "AMAZON_COGNITO_USER_POOLS":
            return self.cognito(api, raw.get("UserPoolConfig") or {}, spec.get("UserPoolConfig") or {}, what,
                                is_default)
        if mode == "OPENID_CONNECT":
            return self.oidc(api, raw.get("OpenIDConnectConfig") or {}, spec.get("OpenIDConnectConfig") or {}, what)
        if mode == "AWS_IAM":
            reason = ("gqlsync checks SigV4 signatures against credentials listed in the app "
                      "(config.credentials: accessKeyId, secretAccessKey, accountId), which a template does not hold")
        elif mode == "AWS_LAMBDA":
            uri = (spec.get("LambdaAuthorizerConfig") or {}).get("AuthorizerUri")
            reason = (f"the authorizer is the deployed function {uri}, and gqlsync runs Lambda authorizers only from "
                      "a Python handler in the app folder (config.handler)")
        else:
            self.fail(api, what, "no AuthenticationType" if mode is None else "not an AppSync authentication type")
            return None
        if is_default:
            self.fail(api, what, f"cannot be imported: {reason}. Write this mode's `auth:` into gqlsync.yaml by hand")
        else:
            self.skipped.append(f"auth {what}: {reason}; callers using it are refused until you add it to "
                                "gqlsync.yaml")
        return None

    def cognito(self, api: _Resource, raw: dict[str, Any], pool: dict[str, Any], what: str,
                is_default: bool) -> dict[str, Any] | None:
        pool_id = pool.get("UserPoolId")
        if pool_id is None:
            self.fail(api, what, "no UserPoolConfig.UserPoolId")
            return None
        m = _USER_POOL_ID.match(str(pool_id))
        if m is None:
            self.fail(api, what, "UserPoolConfig.UserPoolId " +
                      self.unresolved(raw.get("UserPoolId"), pool_id, "us-east-1_AbCdEf123"))
            return None
        region = m.group(1)  # a pool id starts with its region; it is what the issuer URL needs
        given = pool.get("AwsRegion")
        if given and str(given) != region:
            self.notes.append(f"auth {what}: UserPoolConfig.AwsRegion resolves to {given!r} but user pool {pool_id} "
                              f"is in {region}; using {region}")
        config: dict[str, Any] = {"userPoolId": str(pool_id), "awsRegion": region}
        if pool.get("AppIdClientRegex"):
            config["appIdClientRegex"] = str(pool["AppIdClientRegex"])
        if is_default:  # additional Cognito providers have no DefaultAction in AppSync
            config["defaultAction"] = str(pool.get("DefaultAction") or "ALLOW").upper()
        return {"mode": "AMAZON_COGNITO_USER_POOLS", "config": config}

    def oidc(self, api: _Resource, raw: dict[str, Any], cfg: dict[str, Any], what: str) -> dict[str, Any] | None:
        issuer = cfg.get("Issuer")
        if issuer is None:
            self.fail(api, what, "no OpenIDConnectConfig.Issuer")
            return None
        if not re.match(r"^https?://", str(issuer)):
            self.fail(api, what, "OpenIDConnectConfig.Issuer " +
                      self.unresolved(raw.get("Issuer"), issuer, "https://issuer.example.com"))
            return None
        config: dict[str, Any] = {"issuer": str(issuer)}
        if cfg.get("ClientId"):
            config["clientId"] = str(cfg["ClientId"])
        for cfn_key, ours in (("IatTTL", "iatTTL"), ("AuthTTL", "authTTL")):
            if cfg.get(cfn_key) is not None:
                try:
                    config[ours] = int(cfg[cfn_key])  # milliseconds in AppSync and in gqlsync
                except (TypeError, ValueError):
                    self.fail(api, what, f"OpenIDConnectConfig.{cfn_key} is {cfg[cfn_key]!r}, not milliseconds")
        return {"mode": "OPENID_CONNECT", "config": config}


def import_cloudformation(template_paths: list[Path], assets: Path, out: Path, *, api_key: str,
                         name: str | None = None, region: str = "us-east-1", env: str = "NONE",
                         parameters: dict[str, str] | None = None) -> ImportResult:
    """Write an app folder at `out` from the templates; raises AppError listing what cannot be imported.

    `parameters` gives values for `Ref NAME` (stack parameters, or resources such as a user pool whose ids
    exist only once deployed). The result is not checked against the engine here (that is `gqlsync
    validate`'s job, which `gqlsync import-cfn` runs on it before moving it into place).
    """
    templates = {str(p): _load_template(p) for p in template_paths}
    stacks = _Stacks(templates, api_id="local", region=region, env=env, overrides=parameters)
    problems: list[Problem] = []
    skipped: list[str] = []
    notes: list[str] = []
    out.mkdir(parents=True, exist_ok=True)
    (out / "templates").mkdir(exist_ok=True)

    def default_response(what: str, filename: str) -> str:
        (out / "templates" / filename).write_text(DEFAULT_RESPONSE_TEMPLATE, encoding="utf-8")
        notes.append(f"{what}: no response mapping template; wrote templates/{filename} (raises $ctx.error, "
                     "else returns $ctx.result)")
        return f"templates/{filename}"

    def code(res: _Resource, kind: str, filename: str) -> str | None:
        inline = res.props.get(f"{kind}MappingTemplate")
        s3 = res.props.get(f"{kind}MappingTemplateS3Location")
        target = out / "templates" / filename
        if inline is not None:
            target.write_text(str(stacks.resolve(inline)), encoding="utf-8")
        elif s3 is not None:
            src = _asset_path(assets, str(stacks.resolve(s3)))
            if src is None:
                problems.append(Problem(res.template, None,
                                        f"{res.logical_id}: {kind} template {s3} is not in {assets}"))
                return None
            shutil.copyfile(src, target)
        else:
            return None
        return f"templates/{filename}"

    # Schema
    schema_res = stacks.of_type("AWS::AppSync::GraphQLSchema")
    if not schema_res:
        raise AppError([Problem(str(template_paths[0]), None, "no AWS::AppSync::GraphQLSchema resource")])
    props = schema_res[0].props
    if "Definition" in props:
        (out / "schema.graphql").write_text(str(stacks.resolve(props["Definition"])), encoding="utf-8")
    else:
        src = _asset_path(assets, str(stacks.resolve(props.get("DefinitionS3Location", ""))))
        if src is None:
            raise AppError([Problem(schema_res[0].template, None, "the schema's DefinitionS3Location is not in "
                                    f"{assets}")])
        shutil.copyfile(src, out / "schema.graphql")

    # Auth
    auth, used_key = _Auth(stacks, problems, skipped, notes).manifest(api_key)

    # Data sources
    data_sources: dict[str, Any] = {}
    for res in stacks.of_type("AWS::AppSync::DataSource"):
        p = stacks.resolve(res.props)
        ds_type = p.get("Type")
        entry: dict[str, Any] = {"type": ds_type}
        if ds_type == "AMAZON_DYNAMODB":
            ddb = p.get("DynamoDBConfig") or {}
            entry["config"] = {"tableName": ddb.get("TableName")}
            if ddb.get("Versioned"):
                entry["config"]["versioned"] = True
            if ddb.get("DeltaSyncConfig"):
                entry["config"]["deltaSyncConfig"] = _delta_sync_config(ddb["DeltaSyncConfig"])
        elif ds_type == "HTTP":
            entry["config"] = {"endpoint": (p.get("HttpConfig") or {}).get("Endpoint")}
        elif ds_type == "AWS_LAMBDA":
            arn = (p.get("LambdaConfig") or {}).get("LambdaFunctionArn")
            entry["config"] = {"functionArn": arn}
            notes.append(f"data source {p['Name']}: the deployed function {arn} is not run locally; its resolvers "
                         "answer with an error until config.handler names a Python handler in the app folder")
        elif ds_type in ("AMAZON_OPENSEARCH_SERVICE", "AMAZON_ELASTICSEARCH"):
            cfg = p.get("OpenSearchServiceConfig") or p.get("ElasticsearchConfig") or {}
            entry["config"] = {"endpoint": cfg.get("Endpoint")}
            notes.append(f"data source {p['Name']}: {ds_type} is not supported yet; its resolvers answer with an error")
        data_sources[p["Name"]] = entry

    # Functions
    functions: dict[str, Any] = {}
    fn_names: dict[str, str] = {}
    for res in stacks.of_type("AWS::AppSync::FunctionConfiguration"):
        fname = str(stacks.resolve(res.props.get("Name", res.logical_id)))
        fn_names[res.logical_id] = fname
        if res.props.get("Runtime") or res.props.get("Code") or res.props.get("CodeS3Location"):
            skipped.append(f"function {fname}: APPSYNC_JS functions are not imported yet")
            continue
        spec: dict[str, Any] = {"dataSource": str(stacks.resolve(res.props.get("DataSourceName")))}
        for kind, suffix in (("Request", "req"), ("Response", "res")):
            path = code(res, kind, f"fn.{fname}.{suffix}.vtl")
            if path:
                spec[kind.lower()] = path
        if "response" not in spec:
            spec["response"] = default_response(f"function {fname}", f"fn.{fname}.res.vtl")
        if res.props.get("SyncConfig"):
            spec["syncConfig"] = _sync_config(stacks.resolve(res.props["SyncConfig"]))
        functions[fname] = spec

    # Resolvers
    resolvers: list[dict[str, Any]] = []
    for res in stacks.of_type("AWS::AppSync::Resolver"):
        p = res.props
        type_name, field_name = stacks.resolve(p.get("TypeName")), stacks.resolve(p.get("FieldName"))
        coord = f"{type_name}.{field_name}"
        if p.get("Runtime") or p.get("Code") or p.get("CodeS3Location"):
            skipped.append(f"resolver {coord}: APPSYNC_JS resolvers are not imported yet")
            continue
        spec = {"type": type_name, "field": field_name}
        if p.get("Kind") == "PIPELINE":
            fns = [fn_names.get(str(stacks.resolve(f)), str(stacks.resolve(f)))
                   for f in (p.get("PipelineConfig") or {}).get("Functions", [])]
            spec["functions"] = fns
        else:
            spec["dataSource"] = str(stacks.resolve(p.get("DataSourceName")))
        for kind, suffix in (("Request", "req"), ("Response", "res")):
            path = code(res, kind, f"{coord}.{suffix}.vtl")
            if path:
                spec[kind.lower()] = path
        ds_type = (data_sources.get(spec.get("dataSource", "")) or {}).get("type")
        if "response" not in spec and "dataSource" in spec and ds_type not in (None, "AWS_LAMBDA"):
            # a direct Lambda resolver needs no templates; any other unit resolver gets the default
            spec["response"] = default_response(f"resolver {coord}", f"{coord}.res.vtl")
        if p.get("SyncConfig"):
            spec["syncConfig"] = _sync_config(stacks.resolve(p["SyncConfig"]))
        resolvers.append(spec)

    # Tables
    tables = []
    for res in stacks.of_type("AWS::DynamoDB::Table"):
        p = stacks.resolve(res.props)
        types = {a["AttributeName"]: a["AttributeType"] for a in p.get("AttributeDefinitions", [])}

        def keys(schema: list[dict[str, str]], types: dict[str, str] = types) -> dict[str, Any]:
            out_keys: dict[str, Any] = {}
            for k in schema:
                which = "partitionKey" if k["KeyType"] == "HASH" else "sortKey"
                out_keys[which] = {"name": k["AttributeName"], "type": types.get(k["AttributeName"], "S")}
            return out_keys

        table: dict[str, Any] = {"name": p.get("TableName") or res.logical_id, **keys(p.get("KeySchema", []))}
        for cfn_name, ours in (("GlobalSecondaryIndexes", "globalSecondaryIndexes"),
                               ("LocalSecondaryIndexes", "localSecondaryIndexes")):
            if p.get(cfn_name):
                table[ours] = [{"name": ix["IndexName"], **keys(ix["KeySchema"]),
                                "projection": (ix.get("Projection") or {}).get("ProjectionType", "ALL")}
                               for ix in p[cfn_name]]
        stream = (p.get("StreamSpecification") or {}).get("StreamViewType")
        if stream:
            table["stream"] = stream
        ttl = p.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled"):
            table["ttlAttribute"] = ttl.get("AttributeName")
        tables.append(table)

    if problems:
        raise AppError(problems)
    manifest: dict[str, Any] = {"name": name or out.name, "schema": "schema.graphql", "auth": auth,
                                "dataSources": data_sources, "resolvers": resolvers}
    if functions:
        manifest["functions"] = functions
    if tables:
        manifest["tables"] = tables
    header = "# Imported from CloudFormation by `gqlsync import-cfn`.\n"
    (out / "gqlsync.yaml").write_text(header + yaml.safe_dump(manifest, sort_keys=False, width=120),
                                      encoding="utf-8")
    return ImportResult(out, len(resolvers), len(functions), len(data_sources), len(tables), skipped, notes,
                        used_key)


def _delta_sync_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """AppSync's DeltaSyncConfig (CloudFormation writes the TTLs as strings of minutes)."""
    out: dict[str, Any] = {"deltaSyncTableName": cfg.get("DeltaSyncTableName")}
    for cfn, ours in (("BaseTableTTL", "baseTableTTL"), ("DeltaSyncTableTTL", "deltaSyncTableTTL")):
        if cfg.get(cfn) is not None:
            value = cfg[cfn]
            out[ours] = int(value) if isinstance(value, (int, str)) and str(value).isdigit() else value
    return out


def _sync_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """AppSync's SyncConfig as the manifest writes it; every property is carried over (a Lambda handler's ARN
    too, which the manifest refuses with its reason: import never drops a setting silently)."""
    out: dict[str, Any] = {}
    if cfg.get("ConflictDetection") is not None:
        out["conflictDetection"] = cfg["ConflictDetection"]
    if cfg.get("ConflictHandler") is not None:
        out["conflictHandler"] = cfg["ConflictHandler"]
    lam = cfg.get("LambdaConflictHandlerConfig")
    if lam:
        out["lambdaConflictHandlerArn"] = lam.get("LambdaConflictHandlerArn")
    return out
