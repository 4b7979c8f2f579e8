"""How the template watches the service: gqlsync's /metrics into CloudWatch through the agent, and the alarms.

gqlsync exports Prometheus metrics on /metrics. The CloudWatch agent runs beside it in each task, scrapes that
route every minute and writes what the declarations below select as embedded-metric-format log events, which
CloudWatch turns into metrics in the `gqlsync` namespace. The agent sends counters as the delta since its previous
scrape (so `Sum` over a period is the count in that period) and gauges as they are; it drops histograms, so request
latency is alarmed on from the load balancer's TargetResponseTime instead of gqlsync_request_seconds. Every other
alarm is on a metric the service publishes by itself (ALB, ECS, DynamoDB, Lambda, SQS, ElastiCache, OpenSearch).
A labelled gqlsync series exists only once it was first counted (`outcome="error"` after the first error), so
those alarms treat missing data as not breaching.
"""

from __future__ import annotations

import json
from typing import Any

from gqlsync.infra.plan import InfraPlan, logical_id
from gqlsync.infra.template import HEALTH_PATH, METRICS_PATH, PORT, Resources, att, ref, route_id, sub, table_id, when

NAMESPACE = "gqlsync"
SCRAPE_JOB = "gqlsync"

#: gqlsync's metrics that reach CloudWatch, each with the labels kept as dimensions (the others are summed over)
DECLARATIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("gqlsync_version_requests_total", ("api", "outcome")),
    ("gqlsync_requests_total", ("app", "status")),
    ("gqlsync_field_errors_total", ("app", "error_type")),
    ("gqlsync_datasource_errors_total", ("app", "datasource")),
    ("gqlsync_datasource_throttles_total", ("app", "datasource")),
    ("gqlsync_datasource_in_flight", ("app", "datasource")),
)


def agent_config() -> dict[str, Any]:
    """The CloudWatch agent's configuration (CW_CONFIG_CONTENT); `${MetricsLogGroup}` is substituted by the stack."""
    return {"logs": {"force_flush_interval": 15, "metrics_collected": {"prometheus": {
        "log_group_name": "${MetricsLogGroup}",
        "prometheus_config_path": "env:PROMETHEUS_CONFIG_CONTENT",
        "emf_processor": {"metric_namespace": NAMESPACE, "metric_declaration": [
            {"source_labels": ["job"], "label_matcher": f"^{SCRAPE_JOB}$", "dimensions": [list(dims)],
             "metric_selectors": [f"^{name}$"]} for name, dims in DECLARATIONS]}}}}}


def prometheus_config() -> str:
    """The scrape configuration (PROMETHEUS_CONFIG_CONTENT): gqlsync in the same task (awsvpc: localhost)."""
    return (f"global:\n  scrape_interval: 1m\n  scrape_timeout: 10s\nscrape_configs:\n  - job_name: {SCRAPE_JOB}\n"
            f"    metrics_path: {METRICS_PATH}\n    static_configs:\n      - targets: ['localhost:{PORT}']\n")


def agent_environment(plan: InfraPlan) -> list[dict[str, Any]]:
    return [{"Name": "CW_CONFIG_CONTENT", "Value": sub(json.dumps(agent_config(), separators=(",", ":")))},
            {"Name": "PROMETHEUS_CONFIG_CONTENT", "Value": prometheus_config()}]


def _dims(**values: Any) -> list[dict[str, Any]]:
    return [{"Name": k, "Value": v} for k, v in values.items()]


def alarm(description: str, namespace: str, metric: str, dimensions: list[dict[str, Any]], statistic: str,
          comparison: str, threshold: Any, *, periods: int = 1, period: int = 300,
          missing: str = "notBreaching") -> dict[str, Any]:
    props: dict[str, Any] = {
        "AlarmDescription": description, "Namespace": namespace, "MetricName": metric, "Dimensions": dimensions,
        "Period": period, "EvaluationPeriods": periods, "DatapointsToAlarm": periods, "Threshold": threshold,
        "ComparisonOperator": comparison, "TreatMissingData": missing,
        "AlarmActions": [when("HasAlarmTopic", ref("AlarmTopicArn"))],
        "OKActions": [when("HasAlarmTopic", ref("AlarmTopicArn"))],
    }
    if statistic.startswith("p"):
        props["ExtendedStatistic"] = statistic
    else:
        props["Statistic"] = statistic
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": props}


def math_alarm(description: str, expression: str, metrics: dict[str, tuple[str, str, list[dict[str, Any]]]],
               comparison: str, threshold: Any, *, periods: int = 1, period: int = 300) -> dict[str, Any]:
    """An alarm on an expression over several metrics (`metrics`: id -> namespace, name, dimensions; summed)."""
    queries: list[dict[str, Any]] = [
        {"Id": key, "ReturnData": False, "MetricStat": {
            "Metric": {"Namespace": ns, "MetricName": name, "Dimensions": dims}, "Period": period, "Stat": "Sum"}}
        for key, (ns, name, dims) in metrics.items()]
    queries.append({"Id": "result", "Expression": expression, "Label": description, "ReturnData": True})
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": {
        "AlarmDescription": description, "Metrics": queries, "EvaluationPeriods": periods,
        "DatapointsToAlarm": periods, "Threshold": threshold, "ComparisonOperator": comparison,
        "TreatMissingData": "notBreaching",
        "AlarmActions": [when("HasAlarmTopic", ref("AlarmTopicArn"))],
        "OKActions": [when("HasAlarmTopic", ref("AlarmTopicArn"))]}}


def _service_alarms(plan: InfraPlan) -> Resources:
    lb = att("LoadBalancer", "LoadBalancerFullName")
    tg = att("TargetGroup", "TargetGroupFullName")
    elb = "AWS/ApplicationELB"
    ecs = _dims(ClusterName=ref("Cluster"), ServiceName=att("Service", "Name"))
    return {
        "Target5xxAlarm": alarm("gqlsync answered 5xx (InternalFailure) 10+ times in 5 minutes", elb,
                                "HTTPCode_Target_5XX_Count", _dims(LoadBalancer=lb, TargetGroup=tg), "Sum",
                                "GreaterThanOrEqualToThreshold", 10),
        "LoadBalancer5xxAlarm": alarm("the load balancer answered 5xx itself (no healthy task, a task reset the "
                                      "connection) 10+ times in 5 minutes", elb, "HTTPCode_ELB_5XX_Count",
                                      _dims(LoadBalancer=lb), "Sum", "GreaterThanOrEqualToThreshold", 10),
        "UnhealthyTasksAlarm": alarm(f"a task fails the {HEALTH_PATH} health check", elb, "UnHealthyHostCount",
                                     _dims(LoadBalancer=lb, TargetGroup=tg), "Maximum",
                                     "GreaterThanOrEqualToThreshold", 1, periods=3, period=60),
        "NoHealthyTaskAlarm": alarm("no task is serving", elb, "HealthyHostCount",
                                    _dims(LoadBalancer=lb, TargetGroup=tg), "Minimum", "LessThanThreshold", 1,
                                    periods=2, period=60, missing="breaching"),
        "LatencyAlarm": alarm("p99 response time above 1 s for 15 minutes", elb, "TargetResponseTime",
                              _dims(LoadBalancer=lb, TargetGroup=tg), "p99", "GreaterThanThreshold", 1,
                              periods=3),
        "CpuAlarm": alarm("the service's CPU above 80% for 15 minutes: add tasks (DesiredCount) or CPU",
                          "AWS/ECS", "CPUUtilization", ecs, "Average", "GreaterThanThreshold", 80, periods=3),
        "MemoryAlarm": alarm("the service's memory above 80% for 15 minutes (each websocket holds memory)",
                             "AWS/ECS", "MemoryUtilization", ecs, "Average", "GreaterThanThreshold", 80, periods=3),
    }


def _gqlsync_alarms(plan: InfraPlan) -> Resources:
    app = plan.app.name
    out: Resources = {
        "ErrorRateAlarm": math_alarm(
            "share of requests with errors (gqlsync_version_requests_total outcome=error) above ErrorRatePercent",
            "100 * FILL(e, 0) / (FILL(e, 0) + FILL(o, 0))",
            {"e": (NAMESPACE, "gqlsync_version_requests_total", _dims(api=app, outcome="error")),
             "o": (NAMESPACE, "gqlsync_version_requests_total", _dims(api=app, outcome="ok"))},
            "GreaterThanThreshold", ref("ErrorRatePercent"), periods=2),
    }
    for name, ds in plan.app.data_sources.items():
        if ds.type == "NONE":
            continue
        out[logical_id(name, "errors", "alarm")] = alarm(
            f"data source {name} ({ds.type}) failed more than DataSourceErrorsPer5Min calls in 5 minutes",
            NAMESPACE, "gqlsync_datasource_errors_total", _dims(app=app, datasource=name), "Sum",
            "GreaterThanThreshold", ref("DataSourceErrorsPer5Min"))
    for name in plan.bounded_sources:
        out[logical_id(name, "throttles", "alarm")] = alarm(
            f"calls to {name} were refused after waiting behind its limits.maxConcurrency (DataSource:Throttled)",
            NAMESPACE, "gqlsync_datasource_throttles_total", _dims(app=app, datasource=name), "Sum",
            "GreaterThanThreshold", 0)
    return out


def _backend_alarms(plan: InfraPlan) -> Resources:
    out: Resources = {}
    for t in plan.tables:
        tid = table_id(t.name)
        dims = _dims(TableName=ref(tid))
        out[f"{tid}ThrottleAlarm"] = math_alarm(
            f"table {t.name}: requests throttled (a hot partition, even on demand)", "r + w",
            {"r": ("AWS/DynamoDB", "ReadThrottleEvents", dims), "w": ("AWS/DynamoDB", "WriteThrottleEvents", dims)},
            "GreaterThanThreshold", 0)
    for r in plan.routes:
        fn = _dims(FunctionName=ref(f"{route_id(r)}Function"))
        out[f"{route_id(r)}ErrorsAlarm"] = alarm(
            f"sync {r.table} -> {r.index_name}: the function failed (the cluster unreachable); the mapping retries",
            "AWS/Lambda", "Errors", fn, "Sum", "GreaterThanThreshold", 0)
        out[f"{route_id(r)}IteratorAgeAlarm"] = alarm(
            f"sync {r.table} -> {r.index_name}: the index is more than a minute behind the table", "AWS/Lambda",
            "IteratorAge", fn, "Maximum", "GreaterThanThreshold", 60000, periods=2)
    if plan.routes:
        for queue, what in (("SearchSyncDeadLetters", "records the search cluster refused (see each message's "
                                                      "reason)"),
                            ("SearchSyncFailedBatches", "stream batches given up on after 6 hours: reindex")):
            out[f"{queue}Alarm"] = alarm(what, "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                                         _dims(QueueName=att(queue, "QueueName")), "Maximum",
                                         "GreaterThanThreshold", 0)
    if plan.redis_reasons:
        node = _dims(CacheClusterId=sub("${Redis}-001"))
        out["RedisCpuAlarm"] = alarm("Redis engine CPU above 80% (fan-out, cache)", "AWS/ElastiCache",
                                     "EngineCPUUtilization", node, "Average", "GreaterThanThreshold", 80, periods=3)
        out["RedisMemoryAlarm"] = alarm("Redis memory above 80%", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage",
                                        node, "Maximum", "GreaterThanThreshold", 80, periods=3)
    if plan.needs_search:
        domain = _dims(DomainName=ref("SearchDomain"), ClientId=ref("AWS::AccountId"))
        out["SearchRedAlarm"] = alarm("search domain status red", "AWS/ES", "ClusterStatus.red", domain,
                                      "Maximum", "GreaterThanOrEqualToThreshold", 1, period=60)
        out["SearchWritesBlockedAlarm"] = alarm("search domain blocks writes (indexing stopped)", "AWS/ES",
                                                "ClusterIndexWritesBlocked", domain, "Maximum",
                                                "GreaterThanOrEqualToThreshold", 1, period=60)
        out["SearchStorageAlarm"] = alarm("search domain has under 2 GiB free", "AWS/ES", "FreeStorageSpace",
                                          domain, "Minimum", "LessThanThreshold", 2048)
    return out


def alarms(plan: InfraPlan) -> Resources:
    return {**_service_alarms(plan), **_gqlsync_alarms(plan), **_backend_alarms(plan)}
