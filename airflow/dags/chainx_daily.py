"""`chainx_daily`: every UTC day, once it is over, lands that day's blocks and registers the new
partitions in Hive.

The schedule is a cron data-interval timetable, so a run covers a real day
(`data_interval_start` = that midnight, `data_interval_end` = the next); with `@daily`, Airflow
3 gives runs whose start equals their end.

1. `chainx blocks-for-date DAY` finds the day's first and last block (binary search on block
   timestamps); it fails, and so retries later, if the chain has not finished the day yet.
2. The range is backfilled in chunks (the `chainx_rpc` pool, idempotent chunks).
3. With the `hiveserver2` param set, `chainx hive sync` creates missing tables (Delta tables,
   by default, for the Spark Thrift server; `CHAINX_HIVE_FORMAT=parquet` on the workers makes
   plain ones, whose new partitions MSCK REPAIR registers).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, Param, task
from airflow.timetables.interval import CronDataIntervalTimetable

from chainx_airflow import RPC_POOL, ChainxOperator, chunks

COMMON = {
    "lake": "{{ params.lake or '' }}",
    "rpc_url": "{{ params.rpc_url or '' }}",
    "key_names": "{{ params.key_names | join(',') }}",
    "chainx_bin": "{{ params.chainx_bin }}",
    "config": "{{ params.config or '' }}",
}

with DAG(
    dag_id="chainx_daily",
    description="Land each UTC day's blocks, then register its partitions in Hive",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    # Ethereum mainnet's first day; with catchup off, only the latest day is scheduled.
    start_date=datetime(2015, 7, 30, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(hours=1),
    },
    tags=["chainx", "batch"],
    params={
        "chunk_size": Param(10_000, type="integer", minimum=1),
        "lake": Param(None, type=["null", "string"], description="unset: the config file's [lake] path"),
        "rpc_url": Param(None, type=["null", "string"]),
        "key_names": Param([], type="array"),
        "chainx_bin": Param("chainx", type="string"),
        "config": Param(None, type=["null", "string"], description="chainx TOML file on the workers"),
        "hiveserver2": Param(None, type=["null", "string"], description="HOST:PORT; unset skips the Hive sync"),
        "hive_database": Param("chainx", type="string"),
        "beeline": Param("beeline", type="string"),
    },
) as dag:
    day = ChainxOperator(
        task_id="blocks_for_date",
        args=["blocks-for-date", "{{ data_interval_start | ds }}"],
        **COMMON,
    )

    @task
    def plan(day_json: str, params=None) -> list[list[str]]:
        day = json.loads(day_json)
        return [
            ["backfill", "--from", str(c["from_block"]), "--to", str(c["to_block"])]
            for c in chunks(day["from_block"], day["to_block"], params["chunk_size"])
        ]

    backfill = ChainxOperator.partial(
        task_id="backfill_chunk",
        pool=RPC_POOL,
        map_index_template="{{ task.args[2] }}..{{ task.args[4] }}",
        **COMMON,
    ).expand(args=plan(day.output))

    @task.short_circuit
    def hive_configured(params=None) -> bool:
        return bool(params.get("hiveserver2"))

    hive_sync = ChainxOperator(
        task_id="hive_sync",
        args=[
            "hive", "sync",
            "--hiveserver2", "{{ params.hiveserver2 }}",
            "--database", "{{ params.hive_database }}",
            "--beeline", "{{ params.beeline }}",
        ],
        **COMMON,
    )

    backfill >> hive_configured() >> hive_sync
