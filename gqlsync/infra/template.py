"""The CloudFormation template that runs an app on AWS, built from its plan: one function per resource group."""

from __future__ import annotations

import json
from typing import Any

from gqlsync.app import StreamConfig
from gqlsync.datasources.dynamodb.tables import create_table_request
from gqlsync.infra.plan import InfraPlan, logical_id

Resources = dict[str, Any]

#: where the container serves (gqlsync serve's default port), its health route and its Prometheus metrics
PORT = 4000
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
#: the ALB closes a connection idle this long; realtime clients get a `ka` every 60 s, so websockets stay open
IDLE_TIMEOUT_SECONDS = 300
CONTAINER = "gqlsync"

#: what gqlsync's DynamoDB data source calls (gqlsync/datasources/dynamodb/operations.py, gqlsync/sync/):
#: TransactGetItems is authorized as GetItem, TransactWriteItems as Put/Update/Delete/ConditionCheckItem
DATA_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                "dynamodb:ConditionCheckItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem",
                "dynamodb:BatchWriteItem")
#: what the control store calls (gqlsync/control/dynamodb_store.py through pynamodb; the stack creates the table)
CONTROL_ACTIONS = ("dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query")
#: the search data sources send AppSync's GET/POST/PUT/DELETE/HEAD documents as they are
SEARCH_ACTIONS = ("es:ESHttpGet", "es:ESHttpHead", "es:ESHttpPost", "es:ESHttpPut", "es:ESHttpDelete")
#: what an event source mapping reads with the function's role
STREAM_ACTIONS = ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                  "dynamodb:ListStreams")


def ref(name: str) -> dict[str, Any]:
    return {"Ref": name}


def sub(text: str) -> dict[str, Any]:
    return {"Fn::Sub": text}


def att(resource: str, attribute: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [resource, attribute]}


def when(condition: str, then: Any, otherwise: Any = None) -> dict[str, Any]:
    return {"Fn::If": [condition, then, ref("AWS::NoValue") if otherwise is None else otherwise]}


def statement(actions: tuple[str, ...] | list[str], resources: list[Any]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": resources}


def role(service: str, policies: list[dict[str, Any]], managed: list[Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]},
        "Policies": policies,
    }
    if managed:
        props["ManagedPolicyArns"] = managed
    return {"Type": "AWS::IAM::Role", "Properties": props}


def policy(name: str, statements: list[Any]) -> dict[str, Any]:
    return {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}


def disposable(resource: dict[str, Any]) -> dict[str, Any]:
    """A resource whose data the stack may drop with it (logs, queues of dead letters, the fan-out cache): said
    explicitly, as for the tables that are kept."""
    return {**resource, "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}


def table_id(name: str) -> str:
    return logical_id(name, "table")


def route_id(route: StreamConfig) -> str:
    return logical_id(route.table, "to", route.index_name)


def domain_name(plan: InfraPlan) -> str:
    """The OpenSearch domain's name: 3-28 characters, lower-case letters, digits and '-', a letter first."""
    base = "".join(c if c.isalnum() else "-" for c in plan.app.name.lower()).strip("-") or "app"
    name = f"gqlsync-{base}"[:28].rstrip("-")
    return name if len(name) >= 3 else "gqlsync"


def domain_paths(plan: InfraPlan) -> dict[str, Any]:
    """The ARN of the domain's paths, written out (not GetAtt): the domain's access policy names the roles, so the
    roles' policies must not depend on the domain."""
    return sub(f"arn:${{AWS::Partition}}:es:${{AWS::Region}}:${{AWS::AccountId}}:domain/{domain_name(plan)}/*")


def _parameters(plan: InfraPlan) -> dict[str, Any]:
    params: dict[str, Any] = {
        "Image": {"Type": "String", "Description": "The container image: gqlsync with the app folder at /app "
                  "(infra/Dockerfile builds one)."},
        "VpcId": {"Type": "AWS::EC2::VPC::Id"},
        "PublicSubnets": {"Type": "List<AWS::EC2::Subnet::Id>",
                          "Description": "Two or more subnets in different zones for the load balancer."},
        "PrivateSubnets": {"Type": "List<AWS::EC2::Subnet::Id>", "Description":
                           "Subnets for the tasks, Redis, the search domain and the sync function; they reach "
                           "ECR, CloudWatch, DynamoDB and SQS through a NAT gateway or VPC endpoints."},
        "CertificateArn": {"Type": "String", "Description": "ACM certificate of the HTTPS listener."},
        "IngressCidr": {"Type": "String", "Default": "0.0.0.0/0",
                        "Description": "Who may reach the load balancer on 443."},
        "DesiredCount": {"Type": "Number", "Default": 2, "MinValue": 1},
        "TaskCpu": {"Type": "String", "Default": "1024", "AllowedValues": ["256", "512", "1024", "2048", "4096"]},
        "TaskMemory": {"Type": "String", "Default": "2048",
                       "Description": "MiB; must be a valid Fargate pairing with TaskCpu."},
        "AdminTokenSecretArn": {"Type": "String", "Default": "", "Description":
                                "A Secrets Manager secret holding the admin token. Set: the service runs managed "
                                "(gqlsync deploy, versions, rollback; a control-plane table). Empty: it serves the "
                                "image's app only."},
        "MetricsAgentImage": {"Type": "String", "Default": "public.ecr.aws/cloudwatch-agent/cloudwatch-agent:latest",
                              "Description": "The CloudWatch agent that scrapes /metrics into CloudWatch (EMF)."},
        "AlarmTopicArn": {"Type": "String", "Default": "", "Description": "SNS topic the alarms notify (empty: none)."},
        "ErrorRatePercent": {"Type": "Number", "Default": 5, "Description":
                             "Alarm when more than this share of requests end with errors (gqlsync_version_requests)."},
    }
    if any(ds.type != "NONE" for ds in plan.app.data_sources.values()):
        params["DataSourceErrorsPer5Min"] = {"Type": "Number", "Default": 10}
    if plan.redis_reasons:
        params["RedisNodeType"] = {"Type": "String", "Default": "cache.t4g.small"}
    if plan.needs_search:
        params["SearchInstanceType"] = {"Type": "String", "Default": "t3.small.search"}
        params["SearchVolumeGiB"] = {"Type": "Number", "Default": 10, "MinValue": 10}
    if plan.routes:
        params["SearchSyncCodeBucket"] = {"Type": "String", "Description":
                                          "S3 bucket of the sync function's package (resolvers/README.md builds it)."}
        params["SearchSyncCodeKey"] = {"Type": "String", "Default": "search-sync.zip"}
        params["SearchSyncRuntime"] = {"Type": "String", "Default": "python3.12",
                                       "AllowedValues": ["python3.11", "python3.12", "python3.13"]}
    return params


def _network(plan: InfraPlan) -> Resources:
    """Security groups, the load balancer (HTTPS, websockets through the same listener) and its target group."""
    out: Resources = {
        "LoadBalancerSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "gqlsync load balancer: HTTPS in", "VpcId": ref("VpcId"),
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                      "CidrIp": ref("IngressCidr")}]}},
        "ServiceSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "gqlsync tasks: the load balancer in", "VpcId": ref("VpcId"),
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": PORT, "ToPort": PORT,
                                      "SourceSecurityGroupId": ref("LoadBalancerSecurityGroup")}]}},
        "LoadBalancer": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer", "Properties": {
            "Type": "application", "Scheme": "internet-facing", "Subnets": ref("PublicSubnets"),
            "SecurityGroups": [ref("LoadBalancerSecurityGroup")],
            "LoadBalancerAttributes": [
                {"Key": "idle_timeout.timeout_seconds", "Value": str(IDLE_TIMEOUT_SECONDS)},
                {"Key": "routing.http.drop_invalid_header_fields.enabled", "Value": "true"}]}},
        # No stickiness: a subscription's events reach whichever task holds its socket through Redis.
        "TargetGroup": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": {
            "VpcId": ref("VpcId"), "TargetType": "ip", "Protocol": "HTTP", "Port": PORT,
            "HealthCheckProtocol": "HTTP", "HealthCheckPath": HEALTH_PATH, "Matcher": {"HttpCode": "200"},
            "HealthCheckIntervalSeconds": 15, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 3,
            "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "60"}]}},
        "HttpsListener": {"Type": "AWS::ElasticLoadBalancingV2::Listener", "Properties": {
            "LoadBalancerArn": ref("LoadBalancer"), "Port": 443, "Protocol": "HTTPS",
            "SslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06", "Certificates": [{"CertificateArn":
                                                                                  ref("CertificateArn")}],
            "DefaultActions": [{"Type": "forward", "TargetGroupArn": ref("TargetGroup")}]}},
    }
    return out


def _tables(plan: InfraPlan) -> Resources:
    """Each table as the manifest declares it (the request `gqlsync dev` creates it with), kept on stack deletion."""
    out: Resources = {}
    for t in plan.tables:
        props = dict(create_table_request(t))
        if t.stream:  # CloudFormation's StreamSpecification has no StreamEnabled: naming the view type enables it
            props["StreamSpecification"] = {"StreamViewType": t.stream}
        if t.ttl_attribute:
            props["TimeToLiveSpecification"] = {"Enabled": True, "AttributeName": t.ttl_attribute}
        props["PointInTimeRecoverySpecification"] = {"PointInTimeRecoveryEnabled": True}
        props["SSESpecification"] = {"SSEEnabled": True}
        out[table_id(t.name)] = {"Type": "AWS::DynamoDB::Table", "DeletionPolicy": "Retain",
                                 "UpdateReplacePolicy": "Retain", "Properties": props}
    out["ControlTable"] = {"Type": "AWS::DynamoDB::Table", "Condition": "Managed", "DeletionPolicy": "Retain",
                           "UpdateReplacePolicy": "Retain", "Properties": {
                               "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"},
                                                        {"AttributeName": "sk", "AttributeType": "S"}],
                               "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                             {"AttributeName": "sk", "KeyType": "RANGE"}],
                               "BillingMode": "PAY_PER_REQUEST",
                               "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                               "SSESpecification": {"SSEEnabled": True}}}
    return out


def _table_arn(plan: InfraPlan, name: str, region: str | None) -> str:
    """The table's ARN as Fn::Sub text: the stack's table, or one that exists already (by name and region)."""
    declared = {t.name for t in plan.tables}
    if name in declared and region is None:
        return f"${{{table_id(name)}.Arn}}"
    return f"arn:${{AWS::Partition}}:dynamodb:{region or '${AWS::Region}'}:${{AWS::AccountId}}:table/{name}"


def _data_resources(plan: InfraPlan) -> list[Any]:
    """Each table the data sources name, and its indexes: nothing else."""
    arns: list[Any] = []
    for access in plan.access:
        arn = _table_arn(plan, access.name, access.region)
        arns += [sub(arn), sub(arn + "/index/*")]
    return arns


def _redis(plan: InfraPlan) -> Resources:
    if not plan.redis_reasons:
        return {}
    return {
        "RedisSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "gqlsync Redis: the tasks in", "VpcId": ref("VpcId"),
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 6379, "ToPort": 6379,
                                      "SourceSecurityGroupId": ref("ServiceSecurityGroup")}]}},
        "RedisSubnetGroup": {"Type": "AWS::ElastiCache::SubnetGroup", "Properties": {
            "Description": "gqlsync Redis", "SubnetIds": ref("PrivateSubnets")}},
        "Redis": disposable({"Type": "AWS::ElastiCache::ReplicationGroup", "Properties": {
            "ReplicationGroupDescription": f"gqlsync {plan.app.name}: " + "; ".join(plan.redis_reasons),
            "Engine": "redis", "EngineVersion": "7.1", "CacheNodeType": ref("RedisNodeType"),
            "NumCacheClusters": 2, "AutomaticFailoverEnabled": True, "MultiAZEnabled": True,
            "CacheSubnetGroupName": ref("RedisSubnetGroup"), "SecurityGroupIds": [ref("RedisSecurityGroup")],
            "TransitEncryptionEnabled": True, "AtRestEncryptionEnabled": True}}),
    }


def redis_url() -> dict[str, Any]:
    return sub("rediss://${Redis.PrimaryEndPoint.Address}:${Redis.PrimaryEndPoint.Port}")


def _search(plan: InfraPlan) -> Resources:
    """One OpenSearch domain for every search data source (the server's --search-endpoint), in the VPC."""
    if not plan.needs_search:
        return {}
    principals = [att("TaskRole", "Arn")] + ([att("SearchSyncRole", "Arn")] if plan.routes else [])
    sources = [ref("ServiceSecurityGroup")] + ([ref("SearchSyncSecurityGroup")] if plan.routes else [])
    return {
        "SearchSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "gqlsync search domain: the tasks and the sync function in", "VpcId": ref("VpcId"),
            "SecurityGroupIngress": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                      "SourceSecurityGroupId": s} for s in sources]}},
        "SearchDomain": {"Type": "AWS::OpenSearchService::Domain", "DeletionPolicy": "Retain",
                         "UpdateReplacePolicy": "Retain", "Properties": {
            "DomainName": domain_name(plan), "EngineVersion": "OpenSearch_2.17",
            "ClusterConfig": {"InstanceType": ref("SearchInstanceType"), "InstanceCount": 1},
            "EBSOptions": {"EBSEnabled": True, "VolumeType": "gp3", "VolumeSize": ref("SearchVolumeGiB")},
            "VPCOptions": {"SubnetIds": [{"Fn::Select": [0, ref("PrivateSubnets")]}],
                           "SecurityGroupIds": [ref("SearchSecurityGroup")]},
            "EncryptionAtRestOptions": {"Enabled": True}, "NodeToNodeEncryptionOptions": {"Enabled": True},
            "DomainEndpointOptions": {"EnforceHTTPS": True, "TLSSecurityPolicy": "Policy-Min-TLS-1-2-2019-07"},
            "AccessPolicies": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": principals}, "Action": list(SEARCH_ACTIONS),
                "Resource": domain_paths(plan)}]}}},
    }


def search_endpoint() -> dict[str, Any]:
    return sub("https://${SearchDomain.DomainEndpoint}")


def _command(plan: InfraPlan) -> dict[str, Any]:
    """`gqlsync serve /app` (managed with a control table when the admin token is given); Redis and the search
    endpoint come through the environment variables serve reads (GQLSYNC_REDIS_URL, GQLSYNC_SEARCH_ENDPOINT)."""
    base = ["serve", "/app", "--host", "0.0.0.0", "--port", str(PORT), "--region", ref("AWS::Region")]
    return {"Fn::If": ["Managed", [*base, "--managed", "--control-table", ref("ControlTable")], base]}


def _task_role(plan: InfraPlan) -> dict[str, Any]:
    statements: list[Any] = []
    if plan.access:
        statements.append(statement(DATA_ACTIONS, _data_resources(plan)))
    statements.append(when("Managed", statement(CONTROL_ACTIONS, [att("ControlTable", "Arn")])))
    if plan.needs_search:
        statements.append(statement(SEARCH_ACTIONS, [domain_paths(plan)]))
    if plan.functions:
        statements.append(statement(("lambda:InvokeFunction",), list(plan.functions)))
    # the CloudWatch agent beside gqlsync writes the scraped metrics as EMF log events
    statements.append(statement(("logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"),
                                [att("MetricsLogGroup", "Arn")]))
    return role("ecs-tasks.amazonaws.com", [policy("gqlsync", statements)])


def _service(plan: InfraPlan) -> Resources:
    from gqlsync.infra.observability import agent_environment

    env: list[dict[str, Any]] = [{"Name": "AWS_REGION", "Value": ref("AWS::Region")},
                                 {"Name": "AWS_DEFAULT_REGION", "Value": ref("AWS::Region")}]
    if plan.redis_reasons:
        env.append({"Name": "GQLSYNC_REDIS_URL", "Value": redis_url()})
    if plan.needs_search:
        env.append({"Name": "GQLSYNC_SEARCH_ENDPOINT", "Value": search_endpoint()})
    health = ("import urllib.request,sys; "
              f"sys.exit(urllib.request.urlopen('http://127.0.0.1:{PORT}{HEALTH_PATH}', timeout=3).status != 200)")
    gqlsync = {
        "Name": CONTAINER, "Image": ref("Image"), "Essential": True, "EntryPoint": ["gqlsync"],
        "Command": _command(plan), "Environment": env,
        "Secrets": when("Managed", [{"Name": "GQLSYNC_ADMIN_TOKEN", "ValueFrom": ref("AdminTokenSecretArn")}]),
        "PortMappings": [{"ContainerPort": PORT, "Protocol": "tcp"}],
        "HealthCheck": {"Command": ["CMD", "python", "-c", health], "Interval": 15, "Timeout": 5, "Retries": 3,
                        "StartPeriod": 30},
        # one file descriptor per websocket
        "Ulimits": [{"Name": "nofile", "SoftLimit": 65536, "HardLimit": 65536}],
        "StopTimeout": 30,
        "LogConfiguration": {"LogDriver": "awslogs", "Options": {
            "awslogs-group": ref("ServiceLogGroup"), "awslogs-region": ref("AWS::Region"),
            "awslogs-stream-prefix": "gqlsync"}},
    }
    agent = {
        "Name": "cloudwatch-agent", "Image": ref("MetricsAgentImage"), "Essential": False,
        "Environment": agent_environment(plan),
        "LogConfiguration": {"LogDriver": "awslogs", "Options": {
            "awslogs-group": ref("ServiceLogGroup"), "awslogs-region": ref("AWS::Region"),
            "awslogs-stream-prefix": "cloudwatch-agent"}},
    }
    # pulls the image and writes the awslogs streams (the managed policy); reads the admin token when managed
    execution = role("ecs-tasks.amazonaws.com", [when("Managed", policy("admin-token", [
        statement(("secretsmanager:GetSecretValue",), [ref("AdminTokenSecretArn")])]))],
        managed=[sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy")])
    return {
        "ServiceLogGroup": disposable({"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}}),
        "MetricsLogGroup": disposable({"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 7}}),
        "Cluster": {"Type": "AWS::ECS::Cluster", "Properties": {
            "ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]}},
        "ExecutionRole": execution,
        "TaskRole": _task_role(plan),
        "TaskDefinition": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
            "Family": sub("${AWS::StackName}-gqlsync"), "RequiresCompatibilities": ["FARGATE"],
            "NetworkMode": "awsvpc", "Cpu": ref("TaskCpu"), "Memory": ref("TaskMemory"),
            "RuntimePlatform": {"OperatingSystemFamily": "LINUX", "CpuArchitecture": "X86_64"},
            "ExecutionRoleArn": att("ExecutionRole", "Arn"), "TaskRoleArn": att("TaskRole", "Arn"),
            "ContainerDefinitions": [gqlsync, agent]}},
        "Service": {"Type": "AWS::ECS::Service", "DependsOn": ["HttpsListener"], "Properties": {
            "Cluster": ref("Cluster"), "LaunchType": "FARGATE", "DesiredCount": ref("DesiredCount"),
            "TaskDefinition": ref("TaskDefinition"), "HealthCheckGracePeriodSeconds": 60,
            "DeploymentConfiguration": {"MinimumHealthyPercent": 100, "MaximumPercent": 200,
                                        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True}},
            "NetworkConfiguration": {"AwsvpcConfiguration": {
                "Subnets": ref("PrivateSubnets"), "SecurityGroups": [ref("ServiceSecurityGroup")],
                "AssignPublicIp": "DISABLED"}},
            "LoadBalancers": [{"ContainerName": CONTAINER, "ContainerPort": PORT,
                               "TargetGroupArn": ref("TargetGroup")}]}},
    }


def _search_sync(plan: InfraPlan) -> Resources:
    """The DynamoDB-to-search function (resolvers/streams/lambda_function.py): one function and event source mapping
    per `streams:` entry (each has its index), dead letters in SQS."""
    if not plan.routes:
        return {}
    out: Resources = {
        "SearchSyncSecurityGroup": {"Type": "AWS::EC2::SecurityGroup", "Properties": {
            "GroupDescription": "gqlsync search sync function: no ingress", "VpcId": ref("VpcId")}},
        # records the cluster refuses, one {"reason", "record"} message each (the function's DEAD_LETTER_QUEUE_URL)
        "SearchSyncDeadLetters": disposable({"Type": "AWS::SQS::Queue", "Properties": {
            "MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}}),
        # batches the mapping gave up on (the cluster unreachable for MaximumRecordAgeInSeconds): their shard ranges
        "SearchSyncFailedBatches": disposable({"Type": "AWS::SQS::Queue", "Properties": {
            "MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}}),
    }
    streams = [att(table_id(r.table), "StreamArn") for r in plan.routes]
    logs = [att(f"{route_id(r)}LogGroup", "Arn") for r in plan.routes]
    out["SearchSyncRole"] = role("lambda.amazonaws.com", [policy("search-sync", [
        statement(STREAM_ACTIONS, list({json.dumps(s): s for s in streams}.values())),
        statement(("es:ESHttpPost",), [domain_paths(plan)]),
        statement(("sqs:SendMessage",), [att("SearchSyncDeadLetters", "Arn"), att("SearchSyncFailedBatches", "Arn")]),
        statement(("logs:CreateLogStream", "logs:PutLogEvents"), logs),
        # a function in a VPC manages its network interfaces; these actions take no resource ARNs
        statement(("ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
                   "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"), ["*"]),
    ])])
    for r in plan.routes:
        rid = route_id(r)
        out[f"{rid}LogGroup"] = disposable({"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}})
        out[f"{rid}Function"] = {"Type": "AWS::Lambda::Function", "Properties": {
            "Description": f"gqlsync: table {r.table} into index {r.index_name} ({r.search_data_source})",
            "Runtime": ref("SearchSyncRuntime"), "Handler": "lambda_function.handler",
            "Code": {"S3Bucket": ref("SearchSyncCodeBucket"), "S3Key": ref("SearchSyncCodeKey")},
            "Role": att("SearchSyncRole", "Arn"), "MemorySize": 512, "Timeout": 120,
            "Environment": {"Variables": {"OPENSEARCH_ENDPOINT": search_endpoint(), "INDEX": r.index_name,
                                          "DEAD_LETTER_QUEUE_URL": ref("SearchSyncDeadLetters")}},
            "VpcConfig": {"SubnetIds": ref("PrivateSubnets"), "SecurityGroupIds": [ref("SearchSyncSecurityGroup")]},
            "LoggingConfig": {"LogGroup": ref(f"{rid}LogGroup"), "LogFormat": "Text"}}}
        out[f"{rid}Mapping"] = {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "EventSourceArn": att(table_id(r.table), "StreamArn"), "FunctionName": ref(f"{rid}Function"),
            "StartingPosition": "TRIM_HORIZON", "BatchSize": r.batch_size, "MaximumBatchingWindowInSeconds": 1,
            # the handler raises only when the cluster cannot be reached (refused records are dead-lettered):
            # retry until the records are 6 hours old, then the batch's range goes to SearchSyncFailedBatches
            "MaximumRetryAttempts": -1, "MaximumRecordAgeInSeconds": 21600, "BisectBatchOnFunctionError": False,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "DestinationConfig": {"OnFailure": {"Destination": att("SearchSyncFailedBatches", "Arn")}}}}
    return out


def _outputs(plan: InfraPlan) -> dict[str, Any]:
    out: dict[str, Any] = {
        "GraphQLEndpoint": {"Description": "POST GraphQL here (point your domain's DNS at the load balancer first: "
                                           "the certificate names it)",
                            "Value": sub("https://${LoadBalancer.DNSName}/graphql")},
        "RealtimeEndpoint": {"Value": sub("wss://${LoadBalancer.DNSName}/graphql/realtime")},
        "LoadBalancerDNSName": {"Value": att("LoadBalancer", "DNSName")},
        "ControlTableName": {"Condition": "Managed", "Value": ref("ControlTable")},
    }
    for t in plan.tables:
        out[f"{table_id(t.name)}Arn"] = {"Value": att(table_id(t.name), "Arn")}
    if plan.needs_search:
        out["SearchEndpoint"] = {"Value": search_endpoint()}
    if plan.routes:
        out["SearchSyncDeadLetterQueueUrl"] = {"Value": ref("SearchSyncDeadLetters")}
    return out


def template_for(plan: InfraPlan) -> dict[str, Any]:
    """The whole template as a dict (intrinsic functions in their long form, so it dumps as JSON or YAML)."""
    from gqlsync.infra.observability import alarms

    resources: Resources = {}
    for group in (_network, _tables, _redis, _search, _service, _search_sync, alarms):
        resources.update(group(plan))
    describe = [f"gqlsync serving {plan.app.name}: ECS Fargate behind an ALB", f"{len(plan.tables)} DynamoDB tables"]
    if plan.redis_reasons:
        describe.append("ElastiCache Redis")
    if plan.needs_search:
        describe.append("an OpenSearch domain")
    if plan.routes:
        describe.append(f"{len(plan.routes)} stream-to-search functions")
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": ", ".join(describe) + " (generated by `gqlsync infra`; regenerate, do not edit)",
        "Parameters": _parameters(plan),
        "Conditions": {
            "Managed": {"Fn::Not": [{"Fn::Equals": [ref("AdminTokenSecretArn"), ""]}]},
            "HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [ref("AlarmTopicArn"), ""]}]},
        },
        "Resources": resources,
        "Outputs": _outputs(plan),
    }


def render(template: dict[str, Any], fmt: str = "yaml") -> str:
    """The template as YAML (block style, keys in build order) or JSON."""
    if fmt == "json":
        return json.dumps(template, indent=2) + "\n"
    if fmt != "yaml":
        raise ValueError(f"format must be yaml or json, not {fmt!r}")
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:  # CloudFormation rejects YAML anchors and aliases
            return True

    return str(yaml.dump(template, Dumper=Dumper, sort_keys=False, width=120, allow_unicode=True))

