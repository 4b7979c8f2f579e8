"""Imports an AppSync API from CloudFormation (AWS::AppSync::*, AWS::DynamoDB::Table) into an app folder.

Reads one or more synthesized templates (a root stack and its nested stacks, as Amplify or CDK
write them; `gqlsync.app.cfn_templates` links them and resolves their intrinsic functions), copies
mapping templates that live in S3 from a local assets folder, and writes `gqlsync.yaml`, the schema
and the templates. The result is an ordinary app folder: `gqlsync validate` / `dev` load it like any
other (`gqlsync import-cfn` runs those checks on it before it replaces anything).

Import never drops a resource silently. `RESOURCE_TYPES` says, for every resource type the import
knows, whether it is carried over (and which of its properties are carried, mean nothing locally,
are left out with a note, or cannot be served) or has no local counterpart; any other type or
property is a problem naming the resource and the property, and the import fails. What the import
fills in or leaves out harmlessly is listed in `ImportResult.notes`.

- Auth: API_KEY, AMAZON_COGNITO_USER_POOLS (UserPoolConfig) and OPENID_CONNECT (OpenIDConnectConfig)
  map onto gqlsync's modes; AWS_LAMBDA too when `lambdas` names a local handler for its authorizer,
  and AWS_IAM when `iam_credentials` names the access keys it admits (no template holds them).
- Lambda functions (data sources, conflict handlers, authorizers) run from local Python handlers:
  `lambdas` maps a deployed function's name or ARN to `file.py:function`, copied into `lambdas/`.
  A Lambda the API calls without such a mapping fails the import.
- Amplify's @searchable streaming function (DynamoDB stream -> index) is not run: gqlsync's stream worker does
  its work. Each `AWS::Lambda::EventSourceMapping` that feeds it a table's stream becomes a `streams:` entry
  (the table, the search data source reading the function's domain, the index when Amplify's rule from the
  table name is not the one the search resolvers read, and BatchSize); a mapping that cannot be traced to a
  table and a search data source fails the import.
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
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from gqlsync.app.cfn_templates import NO_VALUE, Resource, Stacks, UnresolvableError, function_id, load_template
from gqlsync.app.errors import AppError, Problem
from gqlsync.app.model import amplify_index
from gqlsync.engine.caching import BEHAVIORS as CACHING_BEHAVIORS
from gqlsync.engine.caching import MAX_TTL as MAX_CACHE_TTL

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
#: Values that mean a setting is off (so leaving it out changes nothing).
_OFF: tuple[Any, ...] = (None, False, 0, "false", "", "DISABLED", [], {})
_LAMBDA_ARN = re.compile(r"^arn:[^:]*:lambda:[^:]*:[^:]*:function:([^:]+)")
_SERVED_DATA_SOURCES = ("AMAZON_DYNAMODB", "AWS_LAMBDA", "HTTP", "NONE", "AMAZON_OPENSEARCH_SERVICE",
                        "AMAZON_ELASTICSEARCH")
#: Search domains: deployed by AWS; gqlsync's own endpoint (the embedded engine, --search-endpoint) stands in.
_SEARCH_DOMAINS = ("AWS::Elasticsearch::Domain", "AWS::OpenSearchService::Domain")
_SEARCH_CONFIGS = ("OpenSearchServiceConfig", "ElasticsearchConfig")
_DOMAIN = ("the search domain is deployed by AWS; its data source uses gqlsync's search endpoint instead (`gqlsync "
           "dev`: the embedded engine; `gqlsync serve --search-endpoint URL`: a cluster)")
#: Amplify's @searchable streaming function (DynamoDB stream -> index): known by the endpoint it is given
#: (ES_ENDPOINT in the v1 transformer's function).
_STREAMING_ENVS = ("OPENSEARCH_ENDPOINT", "ES_ENDPOINT")
#: What a stream worker reads per GetRecords call at most (DynamoDB's limit; the manifest's batchSize maximum).
_MAX_BATCH = 1000
#: The index a search request template reads: AppSync's `path` (Amplify sets `$indexPath = "/model/_search"`).
_SEARCH_PATH = re.compile(r"[\"']/([^/\"'\s$]+)/_search[\"'?]")
#: Amplify's mapping ids: `Searchable<Index>LambdaMapping`, then CDK's hash.
_AMPLIFY_MAPPING = re.compile(r"^Searchable(\w+?)LambdaMapping(?:[0-9A-F]{8})?$")
#: The APPSYNC_JS versions gqlsync's runtime implements.
_JS_VERSIONS = ("1.0.0",)


@dataclass(frozen=True)
class _Rule:
    """Why a property is left out (noted) or cannot be served (refused); a `harmless` value is as if absent."""

    reason: str
    harmless: tuple[Any, ...] = _OFF


@dataclass(frozen=True)
class _Handling:
    """How the import treats one resource type.

    A carried type names its properties as paths (`A.B`, `A[].B` for list items): `carried` ones are
    taken over, `ignored` ones mean nothing locally (no effect on what clients see), `noted` ones are
    left out with a note, `refused` ones fail the import. A property in none of them fails it too.
    `left_out` is a type with no local counterpart, and why it needs none (`note`: say so in the notes).
    `by_handler`: a Lambda function, carried as the local handler `--lambda` gives for it.
    """

    carried: frozenset[str] = frozenset()
    ignored: frozenset[str] = frozenset()
    noted: Mapping[str, _Rule] = field(default_factory=dict)
    refused: Mapping[str, _Rule] = field(default_factory=dict)
    left_out: str | None = None
    note: bool = False
    by_handler: bool = False

    @property
    def listed(self) -> frozenset[str]:
        return self.carried | self.ignored | self.noted.keys() | self.refused.keys()


def _paths(spec: str, prefix: str = "") -> frozenset[str]:
    return frozenset(prefix + p for p in spec.split())


_AUTH_PROVIDER = ("AuthenticationType UserPoolConfig.UserPoolId UserPoolConfig.AwsRegion "
                  "UserPoolConfig.AppIdClientRegex OpenIDConnectConfig.Issuer OpenIDConnectConfig.ClientId "
                  "OpenIDConnectConfig.IatTTL OpenIDConnectConfig.AuthTTL LambdaAuthorizerConfig.AuthorizerUri "
                  "LambdaAuthorizerConfig.AuthorizerResultTtlInSeconds "
                  "LambdaAuthorizerConfig.IdentityValidationExpression")
_MAPPING_CODE = ("DataSourceName MaxBatchSize RequestMappingTemplate RequestMappingTemplateS3Location "
                 "ResponseMappingTemplate ResponseMappingTemplateS3Location SyncConfig.ConflictDetection "
                 "SyncConfig.ConflictHandler SyncConfig.LambdaConflictHandlerConfig.LambdaConflictHandlerArn "
                 "Runtime.Name Runtime.RuntimeVersion Code CodeS3Location")
_INDEX = "IndexName KeySchema Projection.ProjectionType Projection.NonKeyAttributes"
_INDEX_CAPACITY = "ProvisionedThroughput OnDemandThroughput WarmThroughput ContributorInsightsSpecification"
_STARTING = ("the worker starts from its checkpoint; with none yet, it first copies the table into the index "
             "(backfill), then follows the stream from there")
_RETRIES = ("the worker retries what the cluster reports as retryable a few times, then keeps the record in its dead "
            "letters; it retries a batch the cluster cannot take at all until it can")
_NO_IAM = "gqlsync calls its data sources with its own credentials; IAM grants access inside AWS only"
_POOL = "the deployed user pool issues the tokens; the API's Cognito mode verifies them (give its id with --parameter)"

#: Every resource type the import knows. Any other type fails the import, naming the resource.
RESOURCE_TYPES: dict[str, _Handling] = {
    "AWS::AppSync::GraphQLApi": _Handling(
        carried=_paths(f"{_AUTH_PROVIDER} UserPoolConfig.DefaultAction QueryDepthLimit ResolverCountLimit")
        | _paths(_AUTH_PROVIDER, "AdditionalAuthenticationProviders[]."),
        ignored=_paths("Name Tags OwnerContact Visibility MergedApiExecutionRoleArn EnhancedMetricsConfig"),
        noted={"XrayEnabled": _Rule("gqlsync does not trace with X-Ray (its /metrics and logs stand in)"),
               "LogConfig": _Rule("resolver logs go to gqlsync's log, not to CloudWatch")},
        refused={"EnvironmentVariables": _Rule("$ctx.env is not supported: mapping templates reading it would get "
                                               "nothing"),
                 "IntrospectionConfig": _Rule("turning introspection off is not supported", ("ENABLED",)),
                 "ApiType": _Rule("merged APIs are not supported", ("GRAPHQL",))}),
    "AWS::AppSync::GraphQLSchema": _Handling(carried=_paths("Definition DefinitionS3Location"),
                                             ignored=_paths("ApiId")),
    "AWS::AppSync::ApiKey": _Handling(carried=_paths("Expires Description"), ignored=_paths("ApiId ApiKeyId")),
    "AWS::AppSync::DataSource": _Handling(
        carried=_paths("Name Type Description DynamoDBConfig.TableName DynamoDBConfig.AwsRegion "
                       "DynamoDBConfig.Versioned DynamoDBConfig.UseCallerCredentials DynamoDBConfig.DeltaSyncConfig "
                       "LambdaConfig.LambdaFunctionArn HttpConfig.Endpoint OpenSearchServiceConfig.Endpoint "
                       "OpenSearchServiceConfig.AwsRegion ElasticsearchConfig.Endpoint ElasticsearchConfig.AwsRegion "
                       "HttpConfig.AuthorizationConfig.AuthorizationType "
                       "HttpConfig.AuthorizationConfig.AwsIamConfig.SigningRegion "
                       "HttpConfig.AuthorizationConfig.AwsIamConfig.SigningServiceName"),
        # the configs of data-source types gqlsync does not serve: the Type check refuses those data sources
        ignored=_paths("ApiId ServiceRoleArn MetricsConfig RelationalDatabaseConfig EventBridgeConfig")),
    "AWS::AppSync::FunctionConfiguration": _Handling(
        carried=_paths(f"Name {_MAPPING_CODE}"), ignored=_paths("ApiId Description FunctionVersion")),
    "AWS::AppSync::Resolver": _Handling(
        carried=_paths(f"TypeName FieldName Kind PipelineConfig.Functions CachingConfig.Ttl CachingConfig.CachingKeys "
                       f"{_MAPPING_CODE}"),
        ignored=_paths("ApiId MetricsConfig")),
    "AWS::DynamoDB::Table": _Handling(
        carried=_paths("TableName KeySchema AttributeDefinitions StreamSpecification.StreamViewType "
                       "TimeToLiveSpecification.AttributeName TimeToLiveSpecification.Enabled")
        | _paths(_INDEX, "GlobalSecondaryIndexes[].") | _paths(_INDEX, "LocalSecondaryIndexes[]."),
        ignored=_paths(f"BillingMode SSESpecification PointInTimeRecoverySpecification Tags DeletionProtectionEnabled "
                       f"TableClass ResourcePolicy {_INDEX_CAPACITY}")
        | _paths(_INDEX_CAPACITY, "GlobalSecondaryIndexes[].")),
    "AWS::CloudFormation::Stack": _Handling(carried=_paths("TemplateURL Parameters"),
                                            ignored=_paths("NotificationARNs TimeoutInMinutes Tags")),
    "AWS::Lambda::Function": _Handling(by_handler=True),
    "AWS::Elasticsearch::Domain": _Handling(left_out=_DOMAIN, note=True),
    "AWS::OpenSearchService::Domain": _Handling(left_out=_DOMAIN, note=True),
    # one that feeds the search streaming function is a `streams:` entry; one to another function is left out
    "AWS::Lambda::EventSourceMapping": _Handling(
        carried=_paths("FunctionName EventSourceArn BatchSize Enabled"),
        # batching latency, concurrency and how failures are reported change nothing the index ends up holding;
        # the configs of Kafka, MQ, DocumentDB and SQS sources: a source that is not a table's stream is refused
        ignored=_paths("MaximumBatchingWindowInSeconds ParallelizationFactor FunctionResponseTypes "
                       "TumblingWindowInSeconds MetricsConfig Tags KmsKeyArn ProvisionedPollerConfig ScalingConfig "
                       "AmazonManagedKafkaEventSourceConfig SelfManagedKafkaEventSourceConfig SelfManagedEventSource "
                       "DocumentDBEventSourceConfig Queues Topics SourceAccessConfigurations"),
        noted={"StartingPosition": _Rule(_STARTING),
               "StartingPositionTimestamp": _Rule(_STARTING),
               "MaximumRetryAttempts": _Rule(_RETRIES, (None, -1, "-1")),
               "MaximumRecordAgeInSeconds": _Rule(_RETRIES, (None, -1, "-1")),
               "BisectBatchOnFunctionError": _Rule(_RETRIES),
               "DestinationConfig": _Rule("records the worker cannot index go to its dead letters (a file, or the "
                                          "Lambda form's queue), not to this destination")},
        refused={"FilterCriteria": _Rule("filtering stream records is not supported: gqlsync's stream worker would "
                                         "index every record")}),
    # the cache instance's size and encryption change nothing clients see: gqlsync caches in memory or in Redis
    "AWS::AppSync::ApiCache": _Handling(
        carried=_paths("ApiCachingBehavior Ttl"),
        ignored=_paths("ApiId Type TransitEncryptionEnabled AtRestEncryptionEnabled HealthMetricsConfig")),
    "AWS::IAM::Role": _Handling(left_out=_NO_IAM),
    "AWS::IAM::Policy": _Handling(left_out=_NO_IAM),
    "AWS::IAM::ManagedPolicy": _Handling(left_out=_NO_IAM),
    "AWS::Lambda::Permission": _Handling(left_out=_NO_IAM),
    "AWS::CDK::Metadata": _Handling(left_out="CDK's usage report"),
    "AWS::Cognito::UserPool": _Handling(left_out=_POOL),
    "AWS::Cognito::UserPoolClient": _Handling(left_out=_POOL),
    "AWS::Cognito::UserPoolGroup": _Handling(left_out=_POOL),
}


@dataclass
class ImportResult:
    """What the import wrote, and what it filled in or left out harmlessly (`notes`)."""

    app_dir: Path
    resolvers: int
    functions: int
    data_sources: int
    tables: int
    #: What the import filled in or adjusted (default templates, a region taken from the pool id, ...).
    notes: list[str] = field(default_factory=list)
    #: The API key written into the app, or None when no auth mode is API_KEY.
    api_key: str | None = None


def _present(props: Mapping[str, Any], listed: frozenset[str], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(path, value) of each property set: a listed path, or the deepest path under which nothing is listed."""
    for key, value in props.items():
        path = prefix + key
        if path in listed:
            yield path, value
        elif isinstance(value, dict) and any(p.startswith(path + ".") for p in listed):
            yield from _present(value, listed, path + ".")
        elif (isinstance(value, list) and all(isinstance(item, dict) for item in value)
              and any(p.startswith(path + "[].") for p in listed)):
            for item in value:
                yield from _present(item, listed, path + "[].")
        else:
            yield path, value


class _LambdaHandlers:
    """`--lambda NAME_OR_ARN=file.py:function`: deployed Lambda functions served by local Python handlers, each
    file copied into the app's `lambdas/` folder."""

    def __init__(self, mapping: Mapping[str, str], out: Path, problems: list[Problem]) -> None:
        self.out = out
        self.problems = problems
        self.handlers: dict[str, str] = {}  # function name -> file.py:function as given
        self.given: dict[str, str] = {}  # function name -> the name or ARN as given
        self.called: set[str] = set()
        self.found: dict[str, str | None] = {}  # function name -> its handler in the app (None: unusable)
        self.copied: dict[Path, str] = {}
        for key, spec in mapping.items():
            name = self.function_name(key)
            if name in self.handlers:
                self.problem(key, spec, f"names the same function as --lambda {self.given[name]}")
            self.handlers[name], self.given[name] = spec, key

    @staticmethod
    def function_name(name_or_arn: str) -> str:
        m = _LAMBDA_ARN.match(name_or_arn)
        return m.group(1) if m else name_or_arn

    def problem(self, key: str, spec: str, message: str) -> None:
        self.problems.append(Problem("import-cfn", None, f"--lambda {key}={spec}: {message}"))

    def handler(self, arn: str) -> str | None:
        """The app-relative handler (lambdas/FILE:function) for a function's ARN or name, or None if none is given."""
        name = self.function_name(arn)
        self.called.add(name)
        if name in self.handlers and name not in self.found:
            self.found[name] = self.install(name, self.handlers[name])
        return self.found.get(name)

    def install(self, name: str, spec: str) -> str | None:
        file, _, func = spec.rpartition(":")
        src = Path(file)
        if not func.isidentifier() or not src.is_file():
            self.problem(self.given[name], spec, "expected an existing Python file and a function, like "
                                                 "lambdas/conflicts.py:handler")
            return None
        return f"{self.copy(src.resolve())}:{func}"

    def copy(self, src: Path) -> str:
        if src not in self.copied:
            taken = set(self.copied.values())
            rel, n = f"lambdas/{src.name}", 1
            while rel in taken:
                n += 1
                rel = f"lambdas/{src.stem}_{n}{src.suffix}"
            (self.out / "lambdas").mkdir(exist_ok=True)
            shutil.copyfile(src, self.out / rel)
            self.copied[src] = rel
        return self.copied[src]

    def check_all_used(self) -> None:
        called = ", ".join(sorted(self.called)) or "none"
        for name in sorted(set(self.handlers) - set(self.found)):
            self.problem(self.given[name], self.handlers[name], f"the templates call no Lambda function {name} "
                                                                f"(they call: {called})")


def _hint(arn: Any) -> str:
    """How to give a local handler for the deployed function `arn`."""
    return f"pass --lambda {_LambdaHandlers.function_name(str(arn))}=path/to/handler.py:function"


def _whole(value: Any) -> int | None:
    """`value` as a whole number (CloudFormation writes numbers as strings too), or None if it is none."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        return None
    return int(value)


class _Findings:
    """What an import step found: problems (the import fails) and notes (what it filled in or left out)."""

    def __init__(self, problems: list[Problem], notes: list[str]) -> None:
        self.problems = problems
        self.notes = notes

    def fail(self, res: Resource, what: str, message: str) -> None:
        """A problem with `what` (a property or setting) of `res`."""
        self.problems.append(Problem(res.path, None, f"{res.label} {what}: {message}"))


def _item(raw: Any, i: int) -> dict[str, Any]:
    """Item `i` of a list as written in the template ({} when it is not a list of mappings there)."""
    item = raw[i] if isinstance(raw, list) and i < len(raw) else None
    return item if isinstance(item, dict) else {}


class _Auth(_Findings):
    """Maps AWS::AppSync::GraphQLApi's auth settings onto gqlsync's `auth:`."""

    def __init__(self, stacks: Stacks, handlers: _LambdaHandlers, iam_credentials: Mapping[str, str],
                 problems: list[Problem], notes: list[str]) -> None:
        super().__init__(problems, notes)
        self.stacks = stacks
        self.handlers = handlers
        self.iam_credentials = iam_credentials

    def manifest(self, api_key: str) -> tuple[dict[str, Any], str | None]:
        """The `auth:` section, and the API key it lists (None when no mode is API_KEY)."""
        apis = self.stacks.of_type("AWS::AppSync::GraphQLApi")
        if not apis:
            self.notes.append("auth: the templates have no AWS::AppSync::GraphQLApi, so the app uses API_KEY")
            return {"default": {"mode": "API_KEY"}, "apiKeys": [{"id": api_key}]}, api_key
        if len(apis) > 1:
            names = ", ".join(a.logical_id for a in apis)
            self.problems.append(Problem(apis[1].path, None, f"the templates define {len(apis)} GraphQL APIs "
                                         f"({names}); import the templates of one API at a time"))
        api = apis[0]
        default = self.provider(api, api.raw, api.props, "default mode", is_default=True)
        additional = []
        for i, spec in enumerate(api.props.get("AdditionalAuthenticationProviders") or []):
            raw = _item(api.raw.get("AdditionalAuthenticationProviders"), i)
            mode = self.provider(api, raw, spec, f"additional mode {i + 1}", is_default=False)
            if mode is not None:
                additional.append(mode)
        auth: dict[str, Any] = {"default": default or {"mode": "API_KEY"}}
        if additional:
            auth["additional"] = additional
        modes = {m["mode"] for m in (auth["default"], *additional)}
        if self.iam_credentials and "AWS_IAM" not in modes:
            self.problems.append(Problem("import-cfn", None, "--iam-credential: the API has no AWS_IAM mode"))
        if "API_KEY" not in modes:
            return auth, None
        auth["apiKeys"] = self.api_keys(api_key)
        return auth, api_key

    def api_keys(self, api_key: str) -> list[dict[str, Any]]:
        """One key per AWS::AppSync::ApiKey, with its Expires and Description (AWS generates key values, so the
        first takes `api_key` and the others new ids, each noted); a single key when the templates have none."""
        keys: list[dict[str, Any]] = []
        for i, res in enumerate(self.stacks.of_type("AWS::AppSync::ApiKey")):
            p = res.props
            entry: dict[str, Any] = {"id": api_key if i == 0 else "da2-" + secrets.token_hex(13)}
            expires = p.get("Expires")
            if expires is not None:
                try:
                    entry["expires"] = datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                except (TypeError, ValueError, OverflowError):
                    self.fail(res, "Expires", f"expected epoch seconds, got {expires!r}")
            if p.get("Description"):
                entry["description"] = str(p["Description"])
            if i:
                self.notes.append(f"API key {res.logical_id}: AWS generates key values, so it is {entry['id']} here")
            keys.append(entry)
        return keys or [{"id": api_key}]

    def unresolved(self, raw: Any, value: Any, example: str) -> str:
        """Why `value` (from the template expression `raw`) is not usable, and how to give the real one."""
        name = raw.get("Ref") if isinstance(raw, dict) and isinstance(raw.get("Ref"), str) else "NAME"
        return (f"{json.dumps(raw)} resolves to {value!r}, a value known only once the stack is deployed; "
                f"give it with `--parameter {name}={example}`")

    def provider(self, api: Resource, raw: dict[str, Any], spec: dict[str, Any], what: str,
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
        if mode == "AWS_LAMBDA":
            return self.lambda_authorizer(api, spec.get("LambdaAuthorizerConfig") or {}, what)
        if mode == "AWS_IAM":
            return self.iam(api, what)
        self.fail(api, what, "no AuthenticationType" if mode is None else "not an AppSync authentication type")
        return None

    def iam(self, api: Resource, what: str) -> dict[str, Any] | None:
        if not self.iam_credentials:
            self.fail(api, what, "gqlsync checks SigV4 signatures against the access keys the app lists, which a "
                                 "template does not hold: pass --iam-credential ACCESS_KEY_ID=ENV_VAR (the "
                                 "environment variable holding its secret key) for each caller")
            return None
        return {"mode": "AWS_IAM", "config": {"credentials": [
            {"accessKeyId": key, "secretAccessKeyEnv": env} for key, env in self.iam_credentials.items()]}}

    def lambda_authorizer(self, api: Resource, cfg: dict[str, Any], what: str) -> dict[str, Any] | None:
        uri = cfg.get("AuthorizerUri")
        if uri is None:
            self.fail(api, what, "no LambdaAuthorizerConfig.AuthorizerUri")
            return None
        handler = self.handlers.handler(str(uri))
        if handler is None:
            self.fail(api, what, f"the authorizer is the deployed function {uri}, and gqlsync runs Lambda authorizers "
                                 f"only from a local Python handler: {_hint(uri)}")
            return None
        config: dict[str, Any] = {"handler": handler}
        ttl = cfg.get("AuthorizerResultTtlInSeconds")
        if ttl is not None and _whole(ttl) is None:
            self.fail(api, what, f"LambdaAuthorizerConfig.AuthorizerResultTtlInSeconds is {ttl!r}, not seconds")
        elif ttl is not None:
            config["authorizerResultTtlInSeconds"] = _whole(ttl)
        if cfg.get("IdentityValidationExpression") is not None:
            config["identityValidationExpression"] = str(cfg["IdentityValidationExpression"])
        return {"mode": "AWS_LAMBDA", "config": config}

    def cognito(self, api: Resource, raw: dict[str, Any], pool: dict[str, Any], what: str,
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

    def oidc(self, api: Resource, raw: dict[str, Any], cfg: dict[str, Any], what: str) -> dict[str, Any] | None:
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
                config[ours] = _whole(cfg[cfn_key])  # milliseconds in AppSync and in gqlsync
                if config[ours] is None:
                    self.fail(api, what, f"OpenIDConnectConfig.{cfn_key} is {cfg[cfn_key]!r}, not milliseconds")
        return {"mode": "OPENID_CONNECT", "config": config}


class _Importer(_Findings):
    """One import: checks every resource against RESOURCE_TYPES, then writes the app's parts into `out`."""

    def __init__(self, stacks: Stacks, assets: Path, out: Path, handlers: _LambdaHandlers) -> None:
        super().__init__(stacks.problems, [])
        self.stacks = stacks
        self.assets = assets
        self.out = out
        self.handlers = handlers
        #: function id (Fn::GetAtt FunctionId) -> the function's name in the manifest
        self.function_names: dict[str, str] = {}
        #: event source mappings that feed a search streaming function (their properties resolved), and it
        self.mappings: list[tuple[Resource, Resource]] = []
        self._streaming: dict[str, Resource] | None = None

    # Resources and their properties

    def check_resources(self) -> None:
        """Resolves each carried resource's properties; every resource or property not carried is a problem or,
        where harmless, a note."""
        for res in self.stacks.resources:
            handling = RESOURCE_TYPES.get(res.type)
            if handling is None:
                self.problems.append(Problem(res.path, None, (
                    f"{res.label}: import-cfn cannot carry this resource type over, and nothing in the app "
                    "would stand in for it; remove it from the templates or serve it some other way")))
            elif handling.left_out is not None:
                if handling.note:
                    self.notes.append(f"{res.label} is left out: {handling.left_out}")
            elif handling.by_handler:
                self.lambda_function(res)
            elif res.type == "AWS::Lambda::EventSourceMapping":
                self.event_source_mapping(res, handling)
            else:
                res.props = self.resolved(res)
                self.check_properties(res, handling)

    def resolved(self, res: Resource) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in res.raw.items():
            try:
                resolved = self.stacks.resolve(value, res.template)
            except UnresolvableError as exc:
                self.fail(res, key, str(exc))
                continue
            if resolved is not NO_VALUE:
                out[key] = resolved
        return out

    def check_properties(self, res: Resource, handling: _Handling) -> None:
        for path, value in _present(res.props, handling.listed):
            if path in handling.carried or path in handling.ignored:
                continue
            if path in handling.noted:
                if value not in handling.noted[path].harmless:
                    self.notes.append(f"{res.label} {path} is left out: {handling.noted[path].reason}")
            elif path in handling.refused:
                if value not in handling.refused[path].harmless:
                    self.fail(res, path, f"cannot be imported: {handling.refused[path].reason}")
            else:
                self.fail(res, path, "import-cfn does not carry this property over, and gqlsync would not honour it")

    def lambda_function(self, res: Resource) -> None:
        if res in self.streaming_functions().values():
            return  # gqlsync's stream worker does its work: its mappings become `streams:` entries
        try:
            arn = str(self.stacks.get_att(res.logical_id, "Arn", res.template))
        except UnresolvableError as exc:
            self.fail(res, "FunctionName", str(exc))
            return
        handler = self.handlers.handler(arn)
        if handler is None:
            self.fail(res, "Code", f"gqlsync runs Lambda functions only as local Python handlers: {_hint(arn)}")
        else:
            self.notes.append(f"{res.label} runs as the local handler {handler}; its code, runtime and settings in "
                              "the template are not used")

    def streaming_functions(self) -> dict[str, Resource]:
        """Amplify's search streaming functions by function name: a Lambda function given the endpoint of a
        search domain in the templates, or of a search data source, in OPENSEARCH_ENDPOINT (or ES_ENDPOINT)."""
        if self._streaming is None:
            self._streaming = {}
            for fn in self.stacks.of_type("AWS::Lambda::Function"):
                if self.streamed_to(fn) is not None:
                    try:
                        self._streaming[str(self.stacks.ref(fn.logical_id, fn.template))] = fn
                    except UnresolvableError as exc:
                        self.fail(fn, "FunctionName", str(exc))
        return self._streaming

    def streamed_to(self, fn: Resource) -> tuple[Resource | None, str] | None:
        """The search domain (None: not one in the templates) and the endpoint a streaming function writes to;
        None when `fn` is not a streaming function."""
        env = (fn.raw.get("Environment") or {}).get("Variables") or {}
        raw = next((env[k] for k in _STREAMING_ENVS if isinstance(env, dict) and k in env), None)
        if raw is None:
            return None
        domain = self._domain_named(raw, fn)
        try:
            endpoint = str(self.stacks.resolve(raw, fn.template))
        except UnresolvableError:
            endpoint = ""
        if domain is not None or any(e == endpoint for _, _, e in self.search_sources()):
            return domain, endpoint
        return None

    def search_sources(self) -> Iterator[tuple[Resource, Resource | None, str]]:
        """Each search data source, the domain in the templates it reads (or None) and its endpoint."""
        for ds in self.stacks.of_type("AWS::AppSync::DataSource"):
            key = next((k for k in _SEARCH_CONFIGS if k in ds.raw), None)
            if key is None:
                continue
            raw = (ds.raw.get(key) or {}).get("Endpoint") if isinstance(ds.raw.get(key), dict) else None
            try:
                endpoint = str(self.stacks.resolve(raw, ds.template)) if raw is not None else ""
            except UnresolvableError:
                endpoint = ""
            yield ds, self._domain_named(raw, ds), endpoint

    def event_source_mapping(self, res: Resource, handling: _Handling) -> None:
        """A mapping that feeds a search streaming function is kept for `streams()`; one to another function is
        left out with a note."""
        try:
            target = str(self.stacks.resolve(res.raw.get("FunctionName"), res.template))
        except UnresolvableError as exc:
            self.fail(res, "FunctionName", str(exc))
            return
        # a name, an ARN, or a partial ARN (ACCOUNT:function:NAME), any of them with a version or alias
        name = re.sub(r"^(?:arn:[^:]*:lambda:[^:]*:)?(?:[^:]*:function:)?([^:]+)(?::[^:]*)?$", r"\1", target)
        if name not in self.streaming_functions():
            self.notes.append(f"{res.label} is left out: it feeds the Lambda function {target}, which gqlsync does "
                              "not run on a stream (only Amplify's search streaming function has a counterpart: "
                              "gqlsync's stream worker)")
            return
        res.props = self.resolved(res)
        self.check_properties(res, handling)
        self.mappings.append((res, self.streaming_functions()[name]))

    # The app's parts

    def code(self, res: Resource, kind: str, filename: str) -> str | None:
        inline = res.props.get(f"{kind}MappingTemplate")
        s3 = res.props.get(f"{kind}MappingTemplateS3Location")
        target = self.out / "templates" / filename
        if inline is not None:
            target.write_text(str(inline), encoding="utf-8")
        elif s3 is not None:
            src = _asset_path(self.assets, str(s3))
            if src is None:
                self.fail(res, f"{kind}MappingTemplateS3Location", f"{s3} is not in {self.assets}")
                return None
            shutil.copyfile(src, target)
        else:
            return None
        return f"templates/{filename}"

    def default_response(self, what: str, filename: str) -> str:
        (self.out / "templates" / filename).write_text(DEFAULT_RESPONSE_TEMPLATE, encoding="utf-8")
        self.notes.append(f"{what}: no response mapping template; wrote templates/{filename} (raises $ctx.error, "
                          "else returns $ctx.result)")
        return f"templates/{filename}"

    def js_code(self, res: Resource, spec: dict[str, Any], stem: str) -> None:
        """An APPSYNC_JS resolver or function: its `Code` (or the `CodeS3Location` asset) as templates/STEM.js."""
        runtime = res.props.get("Runtime") or {}
        name, version = runtime.get("Name"), str(runtime.get("RuntimeVersion", "1.0.0"))
        if name != "APPSYNC_JS":
            self.fail(res, "Runtime.Name", f"unknown runtime {name!r}: AppSync's is APPSYNC_JS")
            return
        if version not in _JS_VERSIONS:
            self.fail(res, "Runtime.RuntimeVersion", f"APPSYNC_JS {version} is not supported (gqlsync implements "
                                                     f"{', '.join(_JS_VERSIONS)})")
            return
        target = self.out / "templates" / f"{stem}.js"
        if res.props.get("Code") is not None:
            target.write_text(str(res.props["Code"]), encoding="utf-8")
        elif res.props.get("CodeS3Location") is not None:
            src = _asset_path(self.assets, str(res.props["CodeS3Location"]))
            if src is None:
                self.fail(res, "CodeS3Location", f"{res.props['CodeS3Location']} is not in {self.assets}")
                return
            shutil.copyfile(src, target)
        else:
            self.fail(res, "Code", "an APPSYNC_JS resolver or function needs Code or CodeS3Location")
            return
        spec["runtime"] = "APPSYNC_JS"
        spec["code"] = f"templates/{stem}.js"

    def mapping_code(self, res: Resource, spec: dict[str, Any], stem: str) -> None:
        """The request/response templates of a resolver or function (written as templates/STEM.req|res.vtl), or
        its APPSYNC_JS module (templates/STEM.js)."""
        if res.props.get("Runtime") is not None or res.props.get("Code") is not None \
                or res.props.get("CodeS3Location") is not None:
            self.js_code(res, spec, stem)
            return
        for kind, suffix in (("Request", "req"), ("Response", "res")):
            path = self.code(res, kind, f"{stem}.{suffix}.vtl")
            if path:
                spec[kind.lower()] = path

    def schema(self) -> None:
        schemas = self.stacks.of_type("AWS::AppSync::GraphQLSchema")
        if not schemas:
            raise AppError([Problem(self.stacks.templates[0].path, None, "no AWS::AppSync::GraphQLSchema resource")])
        res = schemas[0]
        if "Definition" in res.props:
            (self.out / "schema.graphql").write_text(str(res.props["Definition"]), encoding="utf-8")
            return
        src = _asset_path(self.assets, str(res.props.get("DefinitionS3Location", "")))
        if src is None:
            raise AppError([Problem(res.path, None, f"the schema's DefinitionS3Location is not in {self.assets}")])
        shutil.copyfile(src, self.out / "schema.graphql")

    def limits(self) -> dict[str, int]:
        """QueryDepthLimit and ResolverCountLimit (0 is AppSync's "no limit"/default) as the manifest's limits."""
        out: dict[str, int] = {}
        for api in self.stacks.of_type("AWS::AppSync::GraphQLApi")[:1]:
            for cfn_key, ours in (("QueryDepthLimit", "maxDepth"), ("ResolverCountLimit", "maxResolverExecutions")):
                value = api.props.get(cfn_key)
                if value is not None and _whole(value) is None:
                    self.fail(api, cfn_key, f"expected a whole number, got {value!r}")
                elif value is not None and int(value) > 0:
                    out[ours] = int(value)
        return out

    def data_sources(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for res in self.stacks.of_type("AWS::AppSync::DataSource"):
            p = res.props
            entry: dict[str, Any] = {"type": p.get("Type")}
            if p.get("Type") not in _SERVED_DATA_SOURCES:
                self.fail(res, "Type", f"{p.get('Type')} data sources are not served by gqlsync")
            elif p["Type"] == "AMAZON_DYNAMODB":
                entry["config"] = self.dynamodb_config(res)
            elif p["Type"] == "HTTP":
                http = p.get("HttpConfig") or {}
                entry["config"] = {"endpoint": http.get("Endpoint")}
                if http.get("AuthorizationConfig"):  # AWS_IAM: signed with the server's credentials, as AppSync's role
                    auth, iam = http["AuthorizationConfig"], http["AuthorizationConfig"].get("AwsIamConfig") or {}
                    keys = (("SigningRegion", "signingRegion"), ("SigningServiceName", "signingServiceName"))
                    entry["config"]["authorizationConfig"] = {
                        "authorizationType": auth.get("AuthorizationType"),
                        **({"awsIamConfig": {ours: iam[cfn] for cfn, ours in keys if cfn in iam}} if iam else {})}
            elif p["Type"] in ("AMAZON_OPENSEARCH_SERVICE", "AMAZON_ELASTICSEARCH"):
                entry["config"] = self.search_config(res)
            elif p["Type"] == "AWS_LAMBDA":
                arn = (p.get("LambdaConfig") or {}).get("LambdaFunctionArn")
                handler = self.handlers.handler(str(arn))
                if handler is None:
                    self.fail(res, "LambdaConfig.LambdaFunctionArn", f"the data source calls the deployed function "
                                                                     f"{arn}; gqlsync runs Lambda functions only as "
                                                                     f"local Python handlers: {_hint(arn)}")
                entry["config"] = {"handler": handler}
            if p.get("Description"):
                entry["description"] = str(p["Description"])
            out[str(p.get("Name"))] = entry
        return out

    def _names_domain(self, raw: Any, res: Resource) -> bool:
        """Does the template expression `raw` read an attribute of a search domain in the templates?"""
        return self._domain_named(raw, res) is not None

    def _domain_named(self, raw: Any, res: Resource) -> Resource | None:
        """The search domain in `res`'s template whose attribute the template expression `raw` reads, if any."""
        if isinstance(raw, list):
            return next((d for d in (self._domain_named(v, res) for v in raw) if d is not None), None)
        if not isinstance(raw, dict):
            return None
        att = raw.get("Fn::GetAtt")
        if att is not None:
            lid = att[0] if isinstance(att, list) else str(att).split(".", 1)[0]
            target = res.template.resources.get(str(lid))
            return target if target is not None and target.type in _SEARCH_DOMAINS else None
        return next((d for d in (self._domain_named(v, res) for v in raw.values()) if d is not None), None)

    def search_config(self, res: Resource) -> dict[str, Any]:
        """A search data source's endpoint and region; a domain the templates deploy has no endpoint here: the
        server's search endpoint serves it (the embedded engine, --search-endpoint)."""
        key = next((k for k in _SEARCH_CONFIGS if k in res.props), _SEARCH_CONFIGS[0])
        cfg, raw = res.props.get(key) or {}, res.raw.get(key) or {}
        if self._names_domain(raw.get("Endpoint"), res) or not cfg.get("Endpoint"):
            self.notes.append(f"{res.label}: {_DOMAIN}")
            return {}
        config: dict[str, Any] = {"endpoint": str(cfg["Endpoint"])}
        if cfg.get("AwsRegion") and not self._names_domain(raw.get("AwsRegion"), res):
            config["region"] = str(cfg["AwsRegion"])
        return config

    def dynamodb_config(self, res: Resource) -> dict[str, Any]:
        ddb = res.props.get("DynamoDBConfig") or {}
        config: dict[str, Any] = {"tableName": ddb.get("TableName")}
        raw_region = (res.raw.get("DynamoDBConfig") or {}).get("AwsRegion")
        if ddb.get("AwsRegion") and raw_region != {"Ref": "AWS::Region"}:  # the stack's own region: the server's
            config["region"] = str(ddb["AwsRegion"])
        if ddb.get("Versioned"):
            config["versioned"] = True
        if ddb.get("DeltaSyncConfig"):
            config["deltaSyncConfig"] = _delta_sync_config(ddb["DeltaSyncConfig"])
        if ddb.get("UseCallerCredentials") not in _OFF:
            config["useCallerCredentials"] = True  # the data source refuses it with its reason
        return config

    def sync_config(self, res: Resource, what: str) -> dict[str, Any]:
        """AppSync's SyncConfig as the manifest writes it; a LAMBDA handler becomes the local handler `--lambda`
        gives for its ARN."""
        cfg = res.props["SyncConfig"]
        out: dict[str, Any] = {}
        if cfg.get("ConflictDetection") is not None:
            out["conflictDetection"] = cfg["ConflictDetection"]
        if cfg.get("ConflictHandler") is not None:
            out["conflictHandler"] = cfg["ConflictHandler"]
        arn = (cfg.get("LambdaConflictHandlerConfig") or {}).get("LambdaConflictHandlerArn")
        where = "SyncConfig.LambdaConflictHandlerConfig.LambdaConflictHandlerArn"
        if arn is None and cfg.get("ConflictHandler") == "LAMBDA":
            self.fail(res, where, f"{what} has conflict handler LAMBDA but names no function")
        elif arn is not None:
            handler = self.handlers.handler(str(arn))
            if handler is None:
                self.fail(res, where, f"{what} resolves conflicts with the deployed Lambda function {arn}; gqlsync "
                                      f"runs conflict handlers only as local Python handlers: {_hint(arn)}")
            else:
                out["lambdaConflictHandlerConfig"] = {"handler": handler}
        return out

    def pipeline_callers(self) -> dict[str, list[str]]:
        """Function id -> the Type.field of each pipeline resolver that runs it."""
        callers: dict[str, list[str]] = {}
        for res in self.stacks.of_type("AWS::AppSync::Resolver"):
            for fn in (res.props.get("PipelineConfig") or {}).get("Functions", []):
                callers.setdefault(str(fn), []).append(f"{res.props.get('TypeName')}.{res.props.get('FieldName')}")
        return callers

    def max_batch_size(self, res: Resource, spec: dict[str, Any], ds_type: str | None) -> None:
        """MaxBatchSize onto `maxBatchSize` (Lambda only: on other data sources AppSync batches nothing)."""
        raw = res.props.get("MaxBatchSize")
        if raw in _OFF:
            return
        size = _whole(raw)
        if size is None or size > 2000:
            self.fail(res, "MaxBatchSize", f"{raw!r} is not a batch size (a whole number from 0 to 2000)")
        elif ds_type != "AWS_LAMBDA":
            self.notes.append(f"{res.label} MaxBatchSize is left out: it batches Lambda invocations only "
                              f"(data source {spec.get('dataSource')} is {ds_type})")
        else:
            spec["maxBatchSize"] = size

    def functions(self, data_sources: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        callers = self.pipeline_callers()
        for res in self.stacks.of_type("AWS::AppSync::FunctionConfiguration"):
            name = str(res.props.get("Name", res.logical_id))
            if name in out:
                self.fail(res, "Name", f"another function is named {name}; gqlsync names functions uniquely")
            self.function_names[function_id(res)] = name
            spec: dict[str, Any] = {"dataSource": str(res.props.get("DataSourceName"))}
            self.mapping_code(res, spec, f"fn.{name}")
            self.max_batch_size(res, spec, ((data_sources or {}).get(spec["dataSource"]) or {}).get("type"))
            if "response" not in spec and "code" not in spec:
                spec["response"] = self.default_response(f"function {name}", f"fn.{name}.res.vtl")
            if res.props.get("SyncConfig"):
                used_by = ", ".join(callers.get(function_id(res), [])) or "no resolver"
                spec["syncConfig"] = self.sync_config(res, f"function {name} (run by {used_by})")
            out[name] = spec
        return out

    def resolvers(self, data_sources: dict[str, Any]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for res in self.stacks.of_type("AWS::AppSync::Resolver"):
            p = res.props
            coord = f"{p.get('TypeName')}.{p.get('FieldName')}"
            spec: dict[str, Any] = {"type": p.get("TypeName"), "field": p.get("FieldName")}
            if p.get("Kind") == "PIPELINE":
                spec["functions"] = [self.function_names.get(str(f), str(f))
                                     for f in (p.get("PipelineConfig") or {}).get("Functions", [])]
            else:
                spec["dataSource"] = str(p.get("DataSourceName"))
            self.mapping_code(res, spec, coord)
            ds_type = (data_sources.get(spec.get("dataSource", "")) or {}).get("type")
            if p.get("Kind") == "PIPELINE" and p.get("MaxBatchSize") not in _OFF:
                self.notes.append(f"{res.label} MaxBatchSize is left out: a pipeline's functions batch their own "
                                  "Lambda calls (their MaxBatchSize)")
            elif p.get("Kind") != "PIPELINE":
                self.max_batch_size(res, spec, ds_type)
            if "response" not in spec and "code" not in spec and "dataSource" in spec \
                    and ds_type not in (None, "AWS_LAMBDA"):
                # a direct Lambda resolver needs no templates; any other unit resolver gets the default
                spec["response"] = self.default_response(f"resolver {coord}", f"{coord}.res.vtl")
            if p.get("SyncConfig"):
                spec["syncConfig"] = self.sync_config(res, f"resolver {coord}")
            self.resolver_caching(res, spec)
            out.append(spec)
        return out

    def caching(self) -> dict[str, Any] | None:
        """The API's AWS::AppSync::ApiCache as `caching: {behavior, ttl}` (None: the API caches nothing)."""
        caches = self.stacks.of_type("AWS::AppSync::ApiCache")
        for extra in caches[1:]:
            self.fail(extra, "ApiId", "the API has another ApiCache; AppSync gives an API one cache")
        if not caches:
            return None
        res = caches[0]
        behavior, ttl = res.props.get("ApiCachingBehavior"), _whole(res.props.get("Ttl"))
        if behavior not in CACHING_BEHAVIORS:
            self.fail(res, "ApiCachingBehavior", f"{behavior!r} caching is not supported by gqlsync (it caches "
                                                 f"{' or '.join(CACHING_BEHAVIORS)})")
        if ttl is None or not 1 <= ttl <= MAX_CACHE_TTL:
            self.fail(res, "Ttl", f"expected a whole number of seconds from 1 to {MAX_CACHE_TTL}, got "
                                  f"{res.props.get('Ttl')!r}")
            return None
        return {"behavior": behavior, "ttl": ttl}

    def resolver_caching(self, res: Resource, spec: dict[str, Any]) -> None:
        """A resolver's CachingConfig as `cachingConfig: {ttl, cachingKeys}`, where the API has a cache to use it."""
        cfg = res.props.get("CachingConfig")
        if cfg in _OFF:
            return
        if not isinstance(cfg, dict):
            self.fail(res, "CachingConfig", f"expected {{Ttl, CachingKeys}}, got {cfg!r}")
            return
        if not self.stacks.of_type("AWS::AppSync::ApiCache"):
            self.notes.append(f"{res.label} CachingConfig is left out: the API has no AWS::AppSync::ApiCache, so "
                              "AppSync does not cache this resolver either")
            return
        out: dict[str, Any] = {}
        if cfg.get("Ttl") is not None:
            ttl = _whole(cfg["Ttl"])
            if ttl is None or not 0 <= ttl <= MAX_CACHE_TTL:
                self.fail(res, "CachingConfig.Ttl", f"expected a whole number of seconds from 0 to {MAX_CACHE_TTL}, "
                                                    f"got {cfg['Ttl']!r}")
            else:
                out["ttl"] = ttl
        keys = cfg.get("CachingKeys")
        if keys:
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                self.fail(res, "CachingConfig.CachingKeys", f"expected a list of context paths, got {keys!r}")
            else:
                out["cachingKeys"] = list(keys)  # the loader checks each names $context.arguments/source/identity
        spec["cachingConfig"] = out

    def tables(self) -> list[dict[str, Any]]:
        return [_table(res) for res in self.stacks.of_type("AWS::DynamoDB::Table")]

    def search_indexes(self, code: list[dict[str, Any]]) -> dict[str, set[str]]:
        """Search data source -> the indexes the request templates of its resolvers and functions read."""
        out: dict[str, set[str]] = {}
        for spec in code:
            if spec.get("dataSource") and spec.get("request"):
                text = (self.out / spec["request"]).read_text(encoding="utf-8")
                out.setdefault(spec["dataSource"], set()).update(_SEARCH_PATH.findall(text))
        return out

    def streams(self, functions: dict[str, Any], resolvers: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A `streams:` entry per event source mapping that feeds a search streaming function."""
        if not self.mappings:
            return []
        read = self.search_indexes([*functions.values(), *resolvers])
        tables: dict[str, Resource] = {}
        for table in self.stacks.of_type("AWS::DynamoDB::Table"):
            try:
                tables[self.stacks.stream_arn(table)] = table
            except UnresolvableError:
                continue  # its TableName is a problem already
        found: list[tuple[Resource, dict[str, Any]]] = []
        for res, fn in self.mappings:
            entry = self.stream_entry(res, fn, tables)
            if entry is not None:
                found.append((res, entry))
        claimed = {amplify_index(e["table"]) for _, e in found}
        out: list[dict[str, Any]] = []
        for res, entry in found:
            index = self.stream_index(res, entry, read.get(entry["searchDataSource"], set()), claimed)
            if index is not None:
                entry = {"table": entry["table"], "searchDataSource": entry["searchDataSource"], "index": index,
                         **{k: v for k, v in entry.items() if k not in ("table", "searchDataSource")}}
            same = next((e for e in out if (e["table"], e.get("index")) == (entry["table"], entry.get("index"))), None)
            if same is not None:
                self.notes.append(f"{res.label}: table {entry['table']} already feeds that index (another mapping)")
                continue
            out.append(entry)
        return out

    def stream_entry(self, res: Resource, fn: Resource, tables: dict[str, Resource]) -> dict[str, Any] | None:
        """The table and search data source a mapping feeds (and its batch size); None if it is left out."""
        p = res.props
        if p.get("Enabled") in (False, "false", "False"):
            self.notes.append(f"{res.label} is left out: Enabled is false, so the table's stream feeds no index")
            return None
        table = tables.get(str(p.get("EventSourceArn")))
        if table is None:
            self.fail(res, "EventSourceArn", f"{p.get('EventSourceArn')!r} is not the stream of a table in the "
                                             "templates; gqlsync's stream worker reads the streams of the app's tables")
            return None
        source = self.search_source(fn)
        if source is None:
            self.fail(res, "FunctionName", f"{fn.label} writes to a search domain that no search data source reads; "
                                           "gqlsync's stream worker feeds the index of a search data source")
            return None
        entry: dict[str, Any] = {"table": _table(table)["name"], "searchDataSource": source}
        if p.get("BatchSize") is not None:
            size = _whole(p["BatchSize"])
            if size is None or size < 1:
                self.fail(res, "BatchSize", f"expected a positive whole number, got {p['BatchSize']!r}")
            elif size > _MAX_BATCH:
                self.notes.append(f"{res.label} BatchSize {size}: the worker reads at most {_MAX_BATCH} records per "
                                  f"GetRecords call (DynamoDB's limit), so its batchSize is {_MAX_BATCH}")
                entry["batchSize"] = _MAX_BATCH
            else:
                entry["batchSize"] = size
        return entry

    def search_source(self, fn: Resource) -> str | None:
        """The search data source reading the domain (or endpoint) a streaming function writes to."""
        target = self.streamed_to(fn)
        assert target is not None
        domain, endpoint = target
        names = sorted(str(ds.props.get("Name")) for ds, ds_domain, ds_endpoint in self.search_sources()
                       if (ds_domain is domain if domain is not None else ds_endpoint == endpoint))
        return names[0] if names else None

    def stream_index(self, res: Resource, entry: dict[str, Any], read: set[str], claimed: set[str]) -> str | None:
        """The index to name in a mapping's entry: None when Amplify's rule (from the table name) gives the one the
        search resolvers read, else the one they read that the mapping is for (Amplify names a mapping
        `Searchable<Index>LambdaMapping`, or the only one no other table gives by the rule)."""
        default = amplify_index(entry["table"])
        if not read or default in read:
            return None
        m = _AMPLIFY_MAPPING.match(res.logical_id)
        if m and m.group(1).lower() in read:
            return m.group(1).lower()
        unclaimed = sorted(read - claimed)
        if len(unclaimed) == 1:
            return unclaimed[0]
        self.notes.append(f"{res.label}: table {entry['table']} feeds index {default} (the table name's), which no "
                          f"search resolver on {entry['searchDataSource']} reads (they read "
                          f"{', '.join(sorted(read))}); give its streams entry an `index:` if it should be another")
        return None


def _table(res: Resource) -> dict[str, Any]:
    p = res.props
    types = {a["AttributeName"]: a["AttributeType"] for a in p.get("AttributeDefinitions", [])}

    def keys(schema: list[dict[str, str]]) -> dict[str, Any]:
        out_keys: dict[str, Any] = {}
        for k in schema:
            which = "partitionKey" if k["KeyType"] == "HASH" else "sortKey"
            out_keys[which] = {"name": k["AttributeName"], "type": types.get(k["AttributeName"], "S")}
        return out_keys

    def index(ix: dict[str, Any]) -> dict[str, Any]:
        projection = ix.get("Projection") or {}
        out_ix = {"name": ix["IndexName"], **keys(ix["KeySchema"]),
                  "projection": projection.get("ProjectionType", "ALL")}
        if projection.get("NonKeyAttributes"):
            out_ix["nonKeyAttributes"] = [str(a) for a in projection["NonKeyAttributes"]]
        return out_ix

    table: dict[str, Any] = {"name": p.get("TableName") or res.logical_id, **keys(p.get("KeySchema", []))}
    for cfn_name, ours in (("GlobalSecondaryIndexes", "globalSecondaryIndexes"),
                           ("LocalSecondaryIndexes", "localSecondaryIndexes")):
        if p.get(cfn_name):
            table[ours] = [index(ix) for ix in p[cfn_name]]
    stream = (p.get("StreamSpecification") or {}).get("StreamViewType")
    if stream:
        table["stream"] = stream
    ttl = p.get("TimeToLiveSpecification") or {}
    if ttl.get("Enabled") not in _OFF:
        table["ttlAttribute"] = ttl.get("AttributeName")
    return table


def _asset_path(assets: Path, url: str) -> Path | None:
    key = re.sub(r"^s3://[^/]+/", "", url)
    key = re.sub(r"^https?://[^/]+/", "", key)
    for candidate in (assets / key, assets / Path(key).name):
        if candidate.is_file():
            return candidate
    return None


def import_cloudformation(template_paths: list[Path], assets: Path, out: Path, *, api_key: str,
                         name: str | None = None, region: str = "us-east-1", env: str = "NONE",
                         parameters: dict[str, str] | None = None, lambdas: dict[str, str] | None = None,
                         iam_credentials: dict[str, str] | None = None) -> ImportResult:
    """Write an app folder at `out` from the templates; raises AppError listing what cannot be imported.

    `parameters` gives values for `Ref NAME` (stack parameters, or resources such as a user pool whose ids
    exist only once deployed). `lambdas` maps a deployed Lambda function's name or ARN to a local handler
    (`path/to/file.py:function`, copied into the app); `iam_credentials` maps the access key ids an AWS_IAM
    mode admits to the environment variables holding their secrets. The result is not checked against the engine here
    (that is `gqlsync validate`'s job, which `gqlsync import-cfn` runs on it before moving it into place).
    """
    templates = {str(p): load_template(p) for p in template_paths}
    stacks = Stacks(templates, api_id="local", region=region, env=env, overrides=parameters)
    out.mkdir(parents=True, exist_ok=True)
    (out / "templates").mkdir(exist_ok=True)
    handlers = _LambdaHandlers(lambdas or {}, out, stacks.problems)
    imp = _Importer(stacks, assets, out, handlers)
    imp.check_resources()
    imp.schema()
    auth, used_key = _Auth(stacks, handlers, iam_credentials or {}, imp.problems, imp.notes).manifest(api_key)
    data_sources = imp.data_sources()
    functions = imp.functions(data_sources)
    resolvers = imp.resolvers(data_sources)
    tables = imp.tables()
    streams = imp.streams(functions, resolvers)
    limits = imp.limits()
    caching = imp.caching()
    handlers.check_all_used()
    if imp.problems:
        raise AppError(imp.problems)
    manifest: dict[str, Any] = {"name": name or out.name, "schema": "schema.graphql", "auth": auth,
                                "dataSources": data_sources, "resolvers": resolvers}
    for key, value in (("functions", functions), ("tables", tables), ("streams", streams), ("limits", limits),
                       ("caching", caching)):
        if value:
            manifest[key] = value
    header = "# Imported from CloudFormation by `gqlsync import-cfn`.\n"
    (out / "gqlsync.yaml").write_text(header + yaml.safe_dump(manifest, sort_keys=False, width=120),
                                      encoding="utf-8")
    return ImportResult(out, len(resolvers), len(functions), len(data_sources), len(tables), imp.notes, used_key)


def _delta_sync_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """AppSync's DeltaSyncConfig (CloudFormation writes the TTLs as strings of minutes)."""
    out: dict[str, Any] = {"deltaSyncTableName": cfg.get("DeltaSyncTableName")}
    for cfn, ours in (("BaseTableTTL", "baseTableTTL"), ("DeltaSyncTableTTL", "deltaSyncTableTTL")):
        if cfg.get(cfn) is not None:
            minutes = _whole(cfg[cfn])
            out[ours] = cfg[cfn] if minutes is None else minutes  # the data source says what is wrong with it
    return out
