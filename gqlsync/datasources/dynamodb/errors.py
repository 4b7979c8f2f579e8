"""DynamoDB failures as AppSync reports them: service errors, failed conditions, cancelled transactions."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from gqlsync.datasources.dynamodb.marshal import plain_item
from gqlsync.errors import DataSourceError


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "")).split("#")[-1]


def client_error(exc: ClientError) -> DataSourceError:
    code = error_code(exc) or "UnknownError"
    message = exc.response.get("Error", {}).get("Message") or str(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return DataSourceError(f"{message} (Service: DynamoDb, Status Code: {status}, Error Code: {code})",
                           f"DynamoDB:{code}")


def condition_failed(current: dict[str, Any] | None) -> DataSourceError:
    return DataSourceError("The conditional request failed (Service: DynamoDb, Status Code: 400, "
                           "Error Code: ConditionalCheckFailedException)",
                           "DynamoDB:ConditionalCheckFailedException", data=plain_item(current))


def transaction_canceled(exc: ClientError, empty: str) -> DataSourceError:
    reasons = []
    for r in exc.response.get("CancellationReasons", []) or []:
        reason: dict[str, Any] = {"type": r.get("Code", "None"), "message": r.get("Message")}
        if r.get("Item"):
            reason["item"] = plain_item(r["Item"])
        reasons.append(reason)
    return DataSourceError("Transaction cancelled, please refer cancellation reasons for specific reasons",
                           "DynamoDB:TransactionCanceledException",
                           result={empty: None, "cancellationReasons": reasons})
