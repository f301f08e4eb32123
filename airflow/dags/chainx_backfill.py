"""`chainx_backfill`: lands blocks `from_block..=to_block` in chunks, one mapped task per chunk.

Trigger it from the UI, the REST API or the CLI:

    airflow dags trigger chainx_backfill -c '{"from_block": 18000000, "to_block": 18100000}'

which maps eleven `chainx backfill` tasks of 10,000 blocks (the last one block). Chunks share
the `chainx_rpc` pool, sized to the key budget; a failed chunk retries with exponential
backoff. A chunk is idempotent: `chainx backfill` skips blocks the lake already holds, so a
retried or re-triggered chunk never lands a row twice.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import DAG, Param, task

from chainx_airflow import RPC_POOL, ChainxOperator, chunks

RETRIES = {
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}

with DAG(
    dag_id="chainx_backfill",
    description="Land a block range from the RPC into the lake, in parallel chunks",
    schedule=None,
    catchup=False,
    default_args=RETRIES,
    tags=["chainx", "batch"],
    params={
        "from_block": Param(type="integer", minimum=0, description="First block, inclusive"),
        "to_block": Param(type="integer", minimum=0, description="Last block, inclusive"),
        "chunk_size": Param(10_000, type="integer", minimum=1, description="Blocks per task"),
        "lake": Param(
            None,
            type=["null", "string"],
            description="Lake root: folder, hdfs://, s3://; unset: the config file's [lake] path, else ./lake",
        ),
        "rpc_url": Param(
            None,
            type=["null", "string"],
            description="Node URL without a key (a keyed URL goes in the Variable chainx_rpc_url)",
        ),
        "key_names": Param([], type="array", description="API key pseudo-names (secrets in Variables chainx_key_<name>)"),
        "chainx_bin": Param("chainx", type="string", description="The chainx binary"),
        "config": Param(
            None,
            type=["null", "string"],
            description="chainx TOML file on the workers (providers, keys, coordinator)",
        ),
    },
) as dag:

    @task
    def plan(params=None) -> list[list[str]]:
        return [
            ["backfill", "--from", str(c["from_block"]), "--to", str(c["to_block"])]
            for c in chunks(params["from_block"], params["to_block"], params["chunk_size"])
        ]

    ChainxOperator.partial(
        task_id="backfill_chunk",
        pool=RPC_POOL,
        map_index_template="{{ task.args[2] }}..{{ task.args[4] }}",
        lake="{{ params.lake or '' }}",
        rpc_url="{{ params.rpc_url or '' }}",
        key_names="{{ params.key_names | join(',') }}",
        chainx_bin="{{ params.chainx_bin }}",
        config="{{ params.config or '' }}",
    ).expand(args=plan())
