"""`chainx_backfill` under a real Airflow 3 deployment, not `dags test`: PostgreSQL as the
metadata DB, the scheduler with the LocalExecutor, the DAG processor and the API server (the
tasks report through its execution API), and the `chainx_rpc` pool of 4. The run's chunks of 50
blocks land one lake at once (four at a time: asserted from the task instances' start and end
dates); every block and transaction of the fixture chain is there once, and an overlapping
re-trigger adds nothing."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "airflow" / "dags"
CHAINX = os.environ.get("CHAINX_BIN", "chainx")
AIRFLOW = Path(sys.executable).parent / "airflow"
POOL_SLOTS = 4

sys.path.insert(0, str(ROOT / "tests" / "common"))
from fixture_chain import free_port, manifest, node  # noqa: E402,F401  (pytest fixtures)
from postgres import postgres  # noqa: E402
from test_dags import lake_show  # noqa: E402


def run_airflow(env: dict, *args: str) -> str:
    proc = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"airflow {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """Yields (env, a query function on the metadata DB) once the DAG is parsed and unpaused."""
    home = tmp_path_factory.mktemp("airflow-deployed")
    with postgres("airflow") as port, contextlib.ExitStack() as services:
        api_port = free_port()
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            # Only chainx_backfill is unpaused (below): an unpaused chainx_daily would start its
            # own scheduled run, whose retries outlive the test.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:{port}/airflow",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            # Look for new runs and parse the DAG folder often: the test waits on both.
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "PYTHONPATH": str(DAGS),
            "CHAINX_TO_HEAD": "true",
        }
        run_airflow(env, "db", "migrate")
        run_airflow(env, "pools", "set", "chainx_rpc", str(POOL_SLOTS), "chainx RPC budget")
        procs = {}
        for name, args in {
            "api-server": ["api-server", "--host", "127.0.0.1", "--port", str(api_port)],
            "dag-processor": ["dag-processor"],
            "scheduler": ["scheduler"],
        }.items():
            log = (home / f"{name}.log").open("w")
            proc = subprocess.Popen([AIRFLOW, *args], env=env, stdout=log, stderr=subprocess.STDOUT)
            services.callback(stop, proc)
            procs[name] = proc
        db = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="airflow")
        db.autocommit = True
        services.callback(db.close)

        def query(sql: str, *params):
            with db.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()

        def until(what: str, check, seconds: float = 180):
            """Polls `check` (a query of Airflow's state) until true; fails naming `what`."""
            deadline = time.time() + seconds
            while not check():
                for name, proc in procs.items():
                    assert proc.poll() is None, f"airflow {name} exited; see {home / (name + '.log')}"
                assert time.time() < deadline, f"{what} within {seconds} s; see the logs in {home}"
                time.sleep(0.5)

        until("the DAG processor parsed chainx_backfill",
              lambda: query("SELECT 1 FROM serialized_dag WHERE dag_id = 'chainx_backfill'"))
        run_airflow(env, "dags", "unpause", "chainx_backfill")
        yield env, query, until


def stop(proc: subprocess.Popen):
    """SIGTERM, then SIGKILL after 30 s: a scheduler whose LocalExecutor lost a worker was seen
    to ignore SIGTERM for good."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def trigger(deployment, run_id: str, conf: dict) -> list[tuple]:
    """Triggers a run, waits for it to end, and returns its chunks' (map_index, state, start, end)."""
    env, query, until = deployment
    run_airflow(env, "dags", "trigger", "chainx_backfill", "--run-id", run_id, "-c", json.dumps(conf))

    def ended():
        rows = query("SELECT state FROM dag_run WHERE dag_id = 'chainx_backfill' AND run_id = %s", run_id)
        return rows and rows[0][0] in ("success", "failed")

    until(f"run {run_id} ended", ended, seconds=600)
    state = query("SELECT state FROM dag_run WHERE run_id = %s", run_id)[0][0]
    chunks = query(
        "SELECT map_index, state, start_date, end_date FROM task_instance "
        "WHERE dag_id = 'chainx_backfill' AND run_id = %s AND task_id = 'backfill_chunk' ORDER BY map_index",
        run_id,
    )
    assert state == "success", f"run {run_id} {state}: {chunks}"
    return chunks


def most_at_once(chunks: list[tuple]) -> int:
    """The most task instances running at one moment, from their start and end dates."""
    events = sorted([(start, 1) for _, _, start, _ in chunks] + [(end, -1) for _, _, _, end in chunks],
                    key=lambda e: (e[0], e[1]))
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def test_a_triggered_backfill_runs_four_chunks_at_once_and_lands_the_chain_once(deployment, node, manifest, tmp_path):
    lake = tmp_path / "lake"
    last = manifest["last_block"]
    conf = {"from_block": 0, "to_block": last, "chunk_size": 50, "lake": str(lake), "rpc_url": node,
            "chainx_bin": CHAINX}
    chunks = trigger(deployment, "all-of-it", conf)
    assert len(chunks) == (last + 1 + 49) // 50
    assert all(state == "success" and isinstance(start, datetime) for _, state, start, _ in chunks), chunks
    assert most_at_once(chunks) == POOL_SLOTS, f"chunks did not run {POOL_SLOTS} at a time: {chunks}"
    tables = lake_show(lake)
    assert tables["blocks"] == (manifest["block_count"], f"0-{last}")
    assert tables["transactions"] == (manifest["transaction_count"], f"0-{last}")

    # An overlapping range, in chunks that straddle the first run's: nothing lands twice.
    conf.update(from_block=120, to_block=470, chunk_size=35)
    again = trigger(deployment, "overlap", conf)
    assert len(again) == 11 and most_at_once(again) > 1, again
    assert lake_show(lake) == tables


def test_most_at_once_counts_overlaps():
    t = [datetime(2026, 1, 1, 0, 0, s) for s in range(6)]
    assert most_at_once([(0, "", t[0], t[2]), (1, "", t[1], t[3]), (2, "", t[3], t[4])]) == 2
    assert most_at_once([(0, "", t[0], t[1]), (1, "", t[1], t[2])]) == 1
