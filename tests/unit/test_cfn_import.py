"""import-cfn's rules on small templates: nested stacks resolve in their own scope, and nothing is dropped silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gqlsync.app import load_app
from gqlsync.app.cloudformation import RESOURCE_TYPES, ImportResult, import_cloudformation
from gqlsync.app.errors import AppError

KEY = "da2-unitimporttestkey00001"
SCHEMA = "type Note { id: ID! text: String }\ntype Query { getNote(id: ID!): Note echo: String }\n"
GET_NOTE = '{"version": "2018-05-29", "operation": "GetItem", "key": {"id": $util.dynamodb.toDynamoDBJson($ctx.args.id)}}'
API = {"Type": "AWS::AppSync::GraphQLApi", "Properties": {"Name": "notes", "AuthenticationType": "API_KEY"}}


def api_template(**extra: dict[str, Any]) -> dict[str, Any]:
    """An API with one table, its data source and a resolver, plus the `extra` resources (by logical id)."""
    resources: dict[str, Any] = {
        "Api": API,
        "Schema": {"Type": "AWS::AppSync::GraphQLSchema",
                   "Properties": {"ApiId": {"Fn::GetAtt": ["Api", "ApiId"]}, "Definition": SCHEMA}},
        "Table": {"Type": "AWS::DynamoDB::Table", "Properties": {
            "TableName": "notes", "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}},
        "Source": {"Type": "AWS::AppSync::DataSource", "Properties": {
            "ApiId": {"Fn::GetAtt": ["Api", "ApiId"]}, "Name": "Notes", "Type": "AMAZON_DYNAMODB",
            "DynamoDBConfig": {"TableName": {"Ref": "Table"}, "AwsRegion": {"Ref": "AWS::Region"}}}},
        "GetNote": {"Type": "AWS::AppSync::Resolver", "Properties": {
            "ApiId": {"Fn::GetAtt": ["Api", "ApiId"]}, "TypeName": "Query", "FieldName": "getNote",
            "DataSourceName": {"Fn::GetAtt": ["Source", "Name"]}, "RequestMappingTemplate": GET_NOTE,
            "ResponseMappingTemplate": "$util.toJson($ctx.result)"}},
    }
    resources.update(extra)
    return {"Resources": resources}


def write(folder: Path, name: str, template: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(template))
    return path


def run(tmp_path: Path, *templates: Path, **kw: Any) -> ImportResult:
    return import_cloudformation(list(templates), tmp_path, tmp_path / "app", api_key=KEY, **kw)


def problems(tmp_path: Path, *templates: Path, **kw: Any) -> list[str]:
    with pytest.raises(AppError) as exc:
        run(tmp_path, *templates, **kw)
    return [p.message for p in exc.value.problems]


def manifest(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((tmp_path / "app" / "gqlsync.yaml").read_text())
    return data


def test_a_plain_template_imports_with_nothing_left_out(tmp_path: Path) -> None:
    result = run(tmp_path, write(tmp_path, "api.json", api_template()))
    assert result.notes == [] and (result.resolvers, result.data_sources, result.tables) == (1, 1, 1)
    assert manifest(tmp_path)["dataSources"] == {"Notes": {"type": "AMAZON_DYNAMODB",
                                                           "config": {"tableName": "notes"}}}
    load_app(tmp_path / "app")


def test_an_unknown_resource_type_fails_the_import_naming_it(tmp_path: Path) -> None:
    topic = {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "changes"}}
    assert problems(tmp_path, write(tmp_path, "api.json", api_template(Changes=topic))) == [
        "Changes (AWS::SNS::Topic): import-cfn cannot carry this resource type over, and nothing in the app would "
        "stand in for it; remove it from the templates or serve it some other way"]
    assert "AWS::SNS::Topic" not in RESOURCE_TYPES


@pytest.mark.parametrize("resource, path, value", [
    ("Table", "KinesisStreamSpecification", {"StreamArn": "arn:aws:kinesis:us-east-1:1:stream/s"}),
    ("Source", "DynamoDBConfig.Encrypted", True),
    ("GetNote", "Pipelined", True),
])
def test_an_unknown_property_fails_the_import_naming_resource_and_property(
        tmp_path: Path, resource: str, path: str, value: Any) -> None:
    template = api_template()
    props = template["Resources"][resource]["Properties"]
    *parents, leaf = path.split(".")
    for key in parents:
        props = props[key]
    props[leaf] = value
    kind = template["Resources"][resource]["Type"]
    assert problems(tmp_path, write(tmp_path, "api.json", template)) == [
        f"{resource} ({kind}) {path}: import-cfn does not carry this property over, and gqlsync would not honour it"]


def test_refused_properties_say_why_and_off_values_are_as_good_as_absent(tmp_path: Path) -> None:
    template = api_template()
    template["Resources"]["Api"] = {**API, "Properties": {**API["Properties"], "XrayEnabled": False,
                                                          "IntrospectionConfig": "DISABLED"}}
    assert problems(tmp_path, write(tmp_path, "api.json", template)) == [
        "Api (AWS::AppSync::GraphQLApi) IntrospectionConfig: cannot be imported: turning introspection off is not "
        "supported"]
    template["Resources"]["GetNote"]["Properties"]["MaxBatchSize"] = 0
    template["Resources"]["Api"]["Properties"]["IntrospectionConfig"] = "ENABLED"
    assert run(tmp_path, write(tmp_path, "api.json", template)).notes == []  # XrayEnabled false: nothing to note


def test_the_api_cache_and_resolver_caching_configs_are_carried(tmp_path: Path) -> None:
    cache = {"Type": "AWS::AppSync::ApiCache", "Properties": {
        "ApiId": {"Fn::GetAtt": ["Api", "ApiId"]}, "Type": "SMALL", "ApiCachingBehavior": "PER_RESOLVER_CACHING",
        "Ttl": "300", "TransitEncryptionEnabled": True, "AtRestEncryptionEnabled": True}}
    template = api_template(Cache=cache)
    template["Resources"]["GetNote"]["Properties"]["CachingConfig"] = {"Ttl": 60, "CachingKeys": ["$ctx.args.id"]}
    assert run(tmp_path, write(tmp_path, "api.json", template)).notes == []
    m = manifest(tmp_path)
    assert m["caching"] == {"behavior": "PER_RESOLVER_CACHING", "ttl": 300}
    assert m["resolvers"][0]["cachingConfig"] == {"ttl": 60, "cachingKeys": ["$ctx.args.id"]}
    app = load_app(tmp_path / "app")  # what the import wrote serves: the key names $context.arguments.id
    assert app.caching is not None and app.caching.ttl == 300
    assert [r.caching.keys for r in app.resolvers if r.caching is not None] == [("$ctx.args.id",)]


def test_caching_the_import_cannot_carry_is_refused_or_noted(tmp_path: Path) -> None:
    template = api_template()
    template["Resources"]["GetNote"]["Properties"]["CachingConfig"] = {"Ttl": 60}
    assert run(tmp_path, write(tmp_path, "api.json", template)).notes == [
        "GetNote (AWS::AppSync::Resolver) CachingConfig is left out: the API has no AWS::AppSync::ApiCache, so "
        "AppSync does not cache this resolver either"]
    assert "caching" not in manifest(tmp_path) and "cachingConfig" not in manifest(tmp_path)["resolvers"][0]
    cache = {"Type": "AWS::AppSync::ApiCache", "Properties": {"ApiCachingBehavior": "OPERATION_LEVEL_CACHING",
                                                              "Ttl": 7200, "Type": "SMALL"}}
    assert problems(tmp_path, write(tmp_path, "api.json", api_template(Cache=cache))) == [
        "Cache (AWS::AppSync::ApiCache) ApiCachingBehavior: 'OPERATION_LEVEL_CACHING' caching is not supported by "
        "gqlsync (it caches FULL_REQUEST_CACHING or PER_RESOLVER_CACHING)",
        "Cache (AWS::AppSync::ApiCache) Ttl: expected a whole number of seconds from 1 to 3600, got 7200"]


def test_an_expression_that_cannot_be_evaluated_names_resource_and_property(tmp_path: Path) -> None:
    template = api_template()
    template["Resources"]["Table"]["Properties"]["TableName"] = {"Fn::GetAZs": ""}
    assert problems(tmp_path, write(tmp_path, "api.json", template)) == [
        "Table (AWS::DynamoDB::Table) TableName: Fn::GetAZs is not an intrinsic function import-cfn evaluates",
        # its data source names the table with Ref, which resolves to the TableName
        "Source (AWS::AppSync::DataSource) DynamoDBConfig: Fn::GetAZs is not an intrinsic function import-cfn "
        "evaluates"]


def test_import_value_reads_the_output_another_template_exports(tmp_path: Path) -> None:
    template = api_template()
    template["Resources"]["Table"]["Properties"]["TableName"] = {"Fn::ImportValue": "shared-table"}
    assert problems(tmp_path, write(tmp_path, "api.json", template))[0] == (
        "Table (AWS::DynamoDB::Table) TableName: Fn::ImportValue shared-table: none of the templates given exports "
        "shared-table")
    shared = {"Parameters": {"Stage": {"Type": "String", "Default": "qa"}}, "Resources": {},
              "Outputs": {"Name": {"Value": {"Fn::Sub": "notes-${Stage}"},
                                   "Export": {"Name": {"Fn::Join": ["-", ["shared", "table"]]}}}}}
    run(tmp_path, write(tmp_path, "api.json", template), write(tmp_path, "shared.json", shared))
    assert manifest(tmp_path)["tables"][0]["name"] == "notes-qa"


def nested(tmp_path: Path, url: str, file: str) -> tuple[Path, Path]:
    """A root stack (API, schema, a resolver) and a nested stack (table, data source, resolver) at `url` written as
    `file`: the nested stack gets the API id and its Stage through parameters and hands its data source's name
    back through an output, which the root's resolver reads."""
    child = api_template()
    for lid in ("Api", "Schema"):
        del child["Resources"][lid]
    child["Parameters"] = {"ApiId": {"Type": "String"}, "Stage": {"Type": "String", "Default": "dev"}}
    child["Conditions"] = {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}}
    child["Resources"]["Table"]["Properties"]["TableName"] = {"Fn::If": [
        "IsProd", "notes", {"Fn::Sub": "notes-${Stage}"}]}
    for lid in ("Source", "GetNote"):
        child["Resources"][lid]["Properties"]["ApiId"] = {"Ref": "ApiId"}
    child["Resources"]["ProdOnly"] = {"Type": "AWS::SNS::Topic", "Condition": "IsProd", "Properties": {}}
    child["Outputs"] = {"SourceName": {"Value": {"Fn::GetAtt": ["Source", "Name"]}}}
    root = api_template()
    for lid in ("Table", "Source", "GetNote"):
        del root["Resources"][lid]
    root["Parameters"] = {"Stage": {"Type": "String", "Default": "test"}}
    root["Resources"]["Notes"] = {"Type": "AWS::CloudFormation::Stack", "Properties": {
        "TemplateURL": url, "Parameters": {"ApiId": {"Fn::GetAtt": ["Api", "ApiId"]}, "Stage": "qa"}}}
    root["Resources"]["Echo"] = {"Type": "AWS::AppSync::Resolver", "Properties": {
        "TypeName": "Query", "FieldName": "echo",
        "DataSourceName": {"Fn::GetAtt": ["Notes", "Outputs.SourceName"]},
        "RequestMappingTemplate": GET_NOTE, "ResponseMappingTemplate": "$util.toJson($ctx.result)"}}
    return write(tmp_path / "stacks", "root.json", root), write(tmp_path / "stacks", file, child)


def test_nested_stacks_resolve_parameters_and_outputs_in_their_own_scope(tmp_path: Path) -> None:
    root, child = nested(tmp_path, "https://s3.amazonaws.com/deploy/stacks/Notes.json", "Notes.json")
    run(tmp_path, root, child)
    m = manifest(tmp_path)
    # Stage is "test" in the root and "qa" in the nested stack, which the Stack resource passes
    assert m["tables"][0]["name"] == "notes-qa" and m["dataSources"]["Notes"]["config"]["tableName"] == "notes-qa"
    echo = next(r for r in m["resolvers"] if r["field"] == "echo")
    assert echo["dataSource"] == "Notes"  # Fn::GetAtt [Notes, Outputs.SourceName] read the nested template
    load_app(tmp_path / "app")


def test_a_nested_stack_whose_condition_holds_brings_its_resources(tmp_path: Path) -> None:
    root, child = nested(tmp_path, "https://s3.amazonaws.com/deploy/stacks/Notes.json", "Notes.json")
    assert problems(tmp_path, root, child, parameters={"Stage": "prod"}) == [
        "ProdOnly (AWS::SNS::Topic): import-cfn cannot carry this resource type over, and nothing in the app would "
        "stand in for it; remove it from the templates or serve it some other way"]


def test_cdk_nested_stacks_are_found_through_the_asset_manifest(tmp_path: Path) -> None:
    root, child = nested(tmp_path, "https://s3.us-east-1.amazonaws.com/cdk-assets/3f2a9c.json",
                         "RootNotes1A2B3C.nested.template.json")
    (tmp_path / "stacks" / "Root.assets.json").write_text(json.dumps({"files": {"3f2a9c": {
        "source": {"path": "RootNotes1A2B3C.nested.template.json", "packaging": "file"},
        "destinations": {"current": {"bucketName": "cdk-assets", "objectKey": "3f2a9c.json"}}}}}))
    run(tmp_path, root, child)
    assert manifest(tmp_path)["tables"][0]["name"] == "notes-qa"


def test_a_nested_stack_whose_template_is_not_given_fails_the_import(tmp_path: Path) -> None:
    root, _ = nested(tmp_path, "https://s3.amazonaws.com/deploy/stacks/Notes.json", "Notes.json")
    found = problems(tmp_path, root)
    assert found[0] == (
        "Notes (AWS::CloudFormation::Stack) TemplateURL: https://s3.amazonaws.com/deploy/stacks/Notes.json is none "
        "of the templates given (root.json); pass the nested stack's template too (for CDK output, keep the "
        "*.assets.json that names it next to the templates)")
    assert "Echo (AWS::AppSync::Resolver) DataSourceName: Fn::GetAtt Notes.Outputs.SourceName: the nested stack's " \
           "template is not among the templates given" in found


def lambda_source(arn: Any) -> dict[str, Any]:
    return {"Type": "AWS::AppSync::DataSource", "Properties": {
        "Name": "Fn", "Type": "AWS_LAMBDA", "LambdaConfig": {"LambdaFunctionArn": arn}}}


def test_max_batch_size_is_carried_for_lambda_and_noted_elsewhere(tmp_path: Path) -> None:
    arn = "arn:aws:lambda:us-east-1:111122223333:function:notes-fn"
    echo = {"Type": "AWS::AppSync::Resolver", "Properties": {
        "TypeName": "Query", "FieldName": "echo", "DataSourceName": "Fn", "MaxBatchSize": 25}}
    template = api_template(FnSource=lambda_source(arn), Echo=echo)
    template["Resources"]["GetNote"]["Properties"]["MaxBatchSize"] = 5
    handler = tmp_path / "src" / "fn.py"
    handler.parent.mkdir()
    handler.write_text("def handler(event, context):\n    return 'x'\n")
    result = run(tmp_path, write(tmp_path, "api.json", template), lambdas={arn: f"{handler}:handler"})
    resolvers = {r["field"]: r for r in manifest(tmp_path)["resolvers"]}
    assert resolvers["echo"]["maxBatchSize"] == 25 and "maxBatchSize" not in resolvers["getNote"]
    assert ("GetNote (AWS::AppSync::Resolver) MaxBatchSize is left out: it batches Lambda invocations only (data "
            "source Notes is AMAZON_DYNAMODB)") in result.notes
    load_app(tmp_path / "app")


def test_a_lambda_data_source_needs_a_local_handler(tmp_path: Path) -> None:
    arn = "arn:aws:lambda:us-east-1:111122223333:function:notes-fn"
    template = write(tmp_path, "api.json", api_template(FnSource=lambda_source(arn)))
    assert problems(tmp_path, template) == [
        f"FnSource (AWS::AppSync::DataSource) LambdaConfig.LambdaFunctionArn: the data source calls the deployed "
        f"function {arn}; gqlsync runs Lambda functions only as local Python handlers: pass --lambda "
        "notes-fn=path/to/handler.py:function"]
    handler = tmp_path / "src" / "fn.py"
    handler.parent.mkdir()
    handler.write_text("def handler(event, context):\n    return {'id': 'x'}\n")
    run(tmp_path, template, lambdas={arn: f"{handler}:handler"})  # by ARN or by name
    assert manifest(tmp_path)["dataSources"]["Fn"]["config"] == {"handler": "lambdas/fn.py:handler"}
    assert (tmp_path / "app" / "lambdas" / "fn.py").read_text() == handler.read_text()


def test_a_lambda_function_in_the_templates_is_carried_as_its_local_handler(tmp_path: Path) -> None:
    function = {"Type": "AWS::Lambda::Function", "Properties": {"FunctionName": "notes-fn", "Runtime": "nodejs20.x"}}
    template = write(tmp_path, "api.json", api_template(
        NotesFn=function, FnSource=lambda_source({"Fn::GetAtt": ["NotesFn", "Arn"]})))
    found = problems(tmp_path, template)
    assert ("NotesFn (AWS::Lambda::Function) Code: gqlsync runs Lambda functions only as local Python handlers: "
            "pass --lambda notes-fn=path/to/handler.py:function") in found
    handler = tmp_path / "fn.py"
    handler.write_text("def handler(event, context):\n    return None\n")
    result = run(tmp_path, template, lambdas={"notes-fn": f"{handler}:handler"})
    assert result.notes == ["NotesFn (AWS::Lambda::Function) runs as the local handler lambdas/fn.py:handler; its "
                            "code, runtime and settings in the template are not used"]


def test_a_lambda_option_that_matches_nothing_is_an_error(tmp_path: Path) -> None:
    handler = tmp_path / "fn.py"
    handler.write_text("def handler(event, context):\n    return None\n")
    assert problems(tmp_path, write(tmp_path, "api.json", api_template()), lambdas={"typo": f"{handler}:handler"}) \
        == [f"--lambda typo={handler}:handler: the templates call no Lambda function typo (they call: none)"]


def test_a_stack_that_nests_its_own_template_is_refused(tmp_path: Path) -> None:
    template = api_template(Again={"Type": "AWS::CloudFormation::Stack",
                                   "Properties": {"TemplateURL": "https://s3.amazonaws.com/b/api.json"}})
    assert problems(tmp_path, write(tmp_path, "api.json", template)) == [
        "Again (AWS::CloudFormation::Stack): its template api.json would contain itself"]


SEARCH_NOTES = '{"version": "2018-05-29", "operation": "GET", "path": "/notes/_search", "params": {"body": {}}}'


def searchable(**extra: dict[str, Any]) -> dict[str, Any]:
    """The API with a search domain, its data source (read by Query.echo, on index `notes`), Amplify's streaming
    function writing to the domain and the event source mapping `Feed` feeding it the table's stream."""
    endpoint = {"Fn::Join": ["", ["https://", {"Fn::GetAtt": ["Domain", "DomainEndpoint"]}]]}
    template = api_template(
        Domain={"Type": "AWS::OpenSearchService::Domain", "Properties": {"EngineVersion": "OpenSearch_2.11"}},
        Search={"Type": "AWS::AppSync::DataSource", "Properties": {
            "ApiId": {"Fn::GetAtt": ["Api", "ApiId"]}, "Name": "Search", "Type": "AMAZON_OPENSEARCH_SERVICE",
            "OpenSearchServiceConfig": {"Endpoint": endpoint, "AwsRegion": {"Ref": "AWS::Region"}}}},
        Echo={"Type": "AWS::AppSync::Resolver", "Properties": {
            "ApiId": {"Fn::GetAtt": ["Api", "ApiId"]}, "TypeName": "Query", "FieldName": "echo",
            "DataSourceName": {"Fn::GetAtt": ["Search", "Name"]}, "RequestMappingTemplate": SEARCH_NOTES,
            "ResponseMappingTemplate": "$util.toJson($ctx.result)"}},
        Streamer={"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.13", "Handler": "python_streaming_function.lambda_handler",
            "Code": {"S3Bucket": "b", "S3Key": "streaming.zip"},
            "Environment": {"Variables": {"OPENSEARCH_ENDPOINT": endpoint, "DEBUG": "0",
                                          "OPENSEARCH_USE_EXTERNAL_VERSIONING": "false"}}}},
        Feed={"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "FunctionName": {"Ref": "Streamer"}, "EventSourceArn": {"Fn::GetAtt": ["Table", "StreamArn"]},
            "BatchSize": 100, "Enabled": True, "StartingPosition": "LATEST", "MaximumBatchingWindowInSeconds": 1}},
        **extra)
    template["Resources"]["Table"]["Properties"]["StreamSpecification"] = {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    return template


def test_the_search_streaming_function_is_the_workers_and_its_mappings_are_streams_entries(tmp_path: Path) -> None:
    result = run(tmp_path, write(tmp_path, "api.json", searchable()))
    assert manifest(tmp_path)["streams"] == [{"table": "notes", "searchDataSource": "Search", "batchSize": 100}]
    assert ("Feed (AWS::Lambda::EventSourceMapping) StartingPosition is left out: the worker starts from its checkpoint; "
            "with none yet, it first copies the table into the index (backfill), then follows the stream from there"
            ) in result.notes
    assert not [n for n in result.notes if "Streamer" in n]  # nothing to say: gqlsync's worker does its work
    (stream,) = load_app(tmp_path / "app").streams
    assert (stream.table, stream.search_data_source, stream.index_name, stream.batch_size) == (
        "notes", "Search", "notes", 100)


# Amplify's id names the index (then CDK's hash); without it, the one index the resolvers read that no table gives
@pytest.mark.parametrize("mapping", ["SearchableNoteLambdaMapping1A2B3C4D", "Feed"])
def test_a_mapping_names_the_index_when_the_table_name_does_not_give_it(tmp_path: Path, mapping: str) -> None:
    template = searchable()
    resources = template["Resources"]
    resources["Echo"]["Properties"]["RequestMappingTemplate"] = SEARCH_NOTES.replace("/notes/", "/note/")
    resources[mapping] = resources.pop("Feed")
    resources[mapping]["Properties"]["BatchSize"] = {"Ref": "BatchSize"}
    template["Parameters"] = {"BatchSize": {"Type": "Number", "Default": 5000}}
    result = run(tmp_path, write(tmp_path, "api.json", template))
    assert manifest(tmp_path)["streams"] == [
        {"table": "notes", "searchDataSource": "Search", "index": "note", "batchSize": 1000}]
    assert (f"{mapping} (AWS::Lambda::EventSourceMapping) BatchSize 5000: the worker reads at most 1000 records per "
            "GetRecords call (DynamoDB's limit), so its batchSize is 1000") in result.notes
    assert load_app(tmp_path / "app").streams[0].index_name == "note"


def test_a_mapping_to_another_function_or_switched_off_is_left_out_with_a_note(tmp_path: Path) -> None:
    template = searchable(Audit={"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
        "FunctionName": "arn:aws:lambda:us-east-1:111122223333:function:audit",
        "EventSourceArn": {"Fn::GetAtt": ["Table", "StreamArn"]}, "StartingPosition": "TRIM_HORIZON"}})
    template["Resources"]["Feed"]["Properties"]["Enabled"] = "false"
    result = run(tmp_path, write(tmp_path, "api.json", template))
    assert "streams" not in manifest(tmp_path)
    assert "Feed (AWS::Lambda::EventSourceMapping) is left out: Enabled is false, so the table's stream feeds no " \
           "index" in result.notes
    assert "Audit (AWS::Lambda::EventSourceMapping) is left out: it feeds the Lambda function arn:aws:lambda:us-east-" \
           "1:111122223333:function:audit, which gqlsync does not run on a stream (only Amplify's search streaming " \
           "function has a counterpart: gqlsync's stream worker)" in result.notes


@pytest.mark.parametrize("prop, value, problem", [
    ("EventSourceArn", "arn:aws:kinesis:us-east-1:1:stream/s", "EventSourceArn: 'arn:aws:kinesis:us-east-1:1:stream/s' "
     "is not the stream of a table in the templates; gqlsync's stream worker reads the streams of the app's tables"),
    ("EventSourceArn", {"Ref": "TableStreamArn"}, "EventSourceArn: 'TableStreamArn' is not the stream of a table in "
     "the templates; gqlsync's stream worker reads the streams of the app's tables"),  # a parameter given no value
    ("FunctionName", {"Ref": "Nowhere"}, "FunctionName: Ref Nowhere: api.json has no parameter or resource Nowhere"),
    ("BatchSize", "many", "BatchSize: expected a positive whole number, got 'many'"),
    ("FilterCriteria", {"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]}, "FilterCriteria: cannot be imported: "
     "filtering stream records is not supported: gqlsync's stream worker would index every record"),
])
def test_a_mapping_that_cannot_be_traced_fails_the_import_naming_the_property(
        tmp_path: Path, prop: str, value: Any, problem: str) -> None:
    template = searchable()
    template["Parameters"] = {"TableStreamArn": {"Type": "String"}}
    template["Resources"]["Feed"]["Properties"][prop] = value
    assert problems(tmp_path, write(tmp_path, "api.json", template)) == [
        f"Feed (AWS::Lambda::EventSourceMapping) {problem}"]


def test_a_streaming_function_writing_where_no_data_source_reads_fails_the_import(tmp_path: Path) -> None:
    template = searchable(Other={"Type": "AWS::OpenSearchService::Domain", "Properties": {}})
    variables = template["Resources"]["Streamer"]["Properties"]["Environment"]["Variables"]
    variables["OPENSEARCH_ENDPOINT"] = {"Fn::GetAtt": ["Other", "DomainEndpoint"]}
    assert problems(tmp_path, write(tmp_path, "api.json", template)) == [
        "Feed (AWS::Lambda::EventSourceMapping) FunctionName: Streamer (AWS::Lambda::Function) writes to a search "
        "domain that no search data source reads; gqlsync's stream worker feeds the index of a search data source"]


JS_GET_NOTE = ("import * as ddb from '@aws-appsync/utils/dynamodb';\n"
               "export function request(ctx) { return ddb.get({ key: { id: ctx.args.id } }); }\n"
               "export function response(ctx) { return ctx.result; }\n")
JS_ECHO = ("export function request(ctx) { return { payload: 'hi' }; }\n"
           "export const response = (ctx) => ctx.result;\n")


def test_appsync_js_resolvers_and_functions_import_as_appsync_js(tmp_path: Path) -> None:
    """`Runtime: APPSYNC_JS` with inline `Code` or a `CodeS3Location` asset becomes `runtime: APPSYNC_JS` + `code:`."""
    api_id = {"Fn::GetAtt": ["Api", "ApiId"]}
    template = api_template(
        NoneSource={"Type": "AWS::AppSync::DataSource", "Properties": {"ApiId": api_id, "Name": "Nothing",
                                                                      "Type": "NONE"}},
        EchoFn={"Type": "AWS::AppSync::FunctionConfiguration", "Properties": {
            "ApiId": api_id, "Name": "echoFn", "DataSourceName": "Nothing",
            "Runtime": {"Name": "APPSYNC_JS", "RuntimeVersion": "1.0.0"}, "CodeS3Location": "s3://assets/echo.js"}},
        Echo={"Type": "AWS::AppSync::Resolver", "Properties": {
            "ApiId": api_id, "TypeName": "Query", "FieldName": "echo", "Kind": "PIPELINE",
            "PipelineConfig": {"Functions": [{"Fn::GetAtt": ["EchoFn", "FunctionId"]}]},
            "Runtime": {"Name": "APPSYNC_JS", "RuntimeVersion": "1.0.0"},
            "Code": "export function request(ctx) { return {}; }\nexport const response = (ctx) => ctx.prev.result;\n"}})
    template["Resources"]["GetNote"]["Properties"] = {
        "ApiId": api_id, "TypeName": "Query", "FieldName": "getNote", "DataSourceName": "Notes",
        "Runtime": {"Name": "APPSYNC_JS", "RuntimeVersion": "1.0.0"}, "Code": JS_GET_NOTE}
    (tmp_path / "echo.js").write_text(JS_ECHO)
    result = run(tmp_path, write(tmp_path, "api.json", template))
    assert result.notes == []
    m = manifest(tmp_path)
    by_field = {r["field"]: r for r in m["resolvers"]}
    assert by_field["getNote"] == {"type": "Query", "field": "getNote", "dataSource": "Notes",
                                   "runtime": "APPSYNC_JS", "code": "templates/Query.getNote.js"}
    assert by_field["echo"]["runtime"] == "APPSYNC_JS" and by_field["echo"]["functions"] == ["echoFn"]
    assert m["functions"]["echoFn"] == {"dataSource": "Nothing", "runtime": "APPSYNC_JS",
                                        "code": "templates/fn.echoFn.js"}
    assert (tmp_path / "app" / "templates" / "Query.getNote.js").read_text() == JS_GET_NOTE
    assert (tmp_path / "app" / "templates" / "fn.echoFn.js").read_text() == JS_ECHO
    app = load_app(tmp_path / "app")
    assert {r.runtime for r in app.resolvers} == {"APPSYNC_JS"}


def test_an_unsupported_js_runtime_version_fails_the_import(tmp_path: Path) -> None:
    template = api_template()
    template["Resources"]["GetNote"]["Properties"] = {
        "ApiId": {"Fn::GetAtt": ["Api", "ApiId"]}, "TypeName": "Query", "FieldName": "getNote",
        "DataSourceName": "Notes", "Runtime": {"Name": "APPSYNC_JS", "RuntimeVersion": "2.0.0"}, "Code": JS_GET_NOTE}
    assert problems(tmp_path, write(tmp_path, "api.json", template)) == [
        "GetNote (AWS::AppSync::Resolver) Runtime.RuntimeVersion: APPSYNC_JS 2.0.0 is not supported (gqlsync "
        "implements 1.0.0)"]
