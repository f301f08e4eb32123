"""`chainx_maintenance`: every night, keeps the lake fast to read and checks it.

1. `chainx lake compact` merges each day's small files (the sink commits every
   `--flush-interval`, so a day at the head is thousands of files) into files of the target size,
   in bounded memory, beside running writers.
2. `chainx lake vacuum` deletes the files compaction and unwinds replaced, and files of writers
   that died before committing, once older than the retention (keep it above the longest query:
   a reader that planned on an older snapshot still reads them).
3. `chainx lake verify` checks coverage, parent hashes and transaction counts (and, with
   `rpc_url`, every stored hash against the node); the run fails on a problem.

The same as a cron line, for a deployment without Airflow (docs in the README):
    0 3 * * *  chainx lake compact && chainx lake vacuum --retention-hours 24 && chainx lake verify
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, Param

from chainx_airflow import ChainxOperator

COMMON = {
    "lake": "{{ params.lake or '' }}",
    "rpc_url": "{{ params.rpc_url or '' }}",
    "chainx_bin": "{{ params.chainx_bin }}",
    "config": "{{ params.config or '' }}",
}

with DAG(
    dag_id="chainx_maintenance",
    description="Compact, vacuum and verify the lake every night",
    # After chainx_daily (midnight UTC) has landed the day before.
    schedule="0 3 * * *",
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["chainx", "maintenance"],
    params={
        "lake": Param(None, type=["null", "string"], description="unset: the config file's [lake] path"),
        "rpc_url": Param(None, type=["null", "string"], description="set: verify compares hashes with the node"),
        "chainx_bin": Param("chainx", type="string"),
        "config": Param(None, type=["null", "string"], description="chainx TOML file on the workers"),
        "target_file_mb": Param(128, type="integer", minimum=1),
        "retention_hours": Param(24, type="number", minimum=0),
    },
) as dag:
    compact = ChainxOperator(
        task_id="compact",
        args=["lake", "compact", "--target-file-mb", "{{ params.target_file_mb }}"],
        **COMMON,
    )
    vacuum = ChainxOperator(
        task_id="vacuum",
        args=["lake", "vacuum", "--retention-hours", "{{ params.retention_hours }}"],
        **COMMON,
    )
    verify = ChainxOperator(task_id="verify", args=["lake", "verify"], **COMMON)

    compact >> vacuum >> verify
