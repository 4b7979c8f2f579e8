"""The DynamoDB limit: raw aioboto3 GetItem calls at N concurrent tasks against the same DynamoDB Local."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import aioboto3
from botocore.config import Config


async def main(endpoint: str, table: str, key: str, concurrency: int, seconds: float) -> None:
    session = aioboto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name="us-east-1")
    latencies: list[float] = []
    async with session.client("dynamodb", endpoint_url=endpoint,
                              config=Config(max_pool_connections=max(concurrency, 10))) as client:
        await client.get_item(TableName=table, Key={"id": {"S": key}})
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                await client.get_item(TableName=table, Key={"id": {"S": key}})
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    print(json.dumps({"rps": len(latencies) / elapsed, "p50_ms": latencies[len(latencies) // 2] * 1000,
                      "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000, "n": len(latencies)}))


if __name__ == "__main__":
    endpoint, table, key, conc, secs = sys.argv[1:6]
    asyncio.run(main(endpoint, table, key, int(conc), float(secs)))
