"""The chainx DAGs on a real Airflow 3 (SQLite metadata DB, `airflow dags test`) against a real
anvil loaded with the fixture chain, running the real `chainx` binary (CHAINX_BIN)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "airflow" / "dags"
CHAINX = os.environ.get("CHAINX_BIN", "chainx")
AIRFLOW = Path(sys.executable).parent / "airflow"

sys.path.insert(0, str(DAGS))
sys.path.insert(0, str(ROOT / "tests" / "common"))
import fixture_chain  # noqa: E402  (the suites' shared fixture-chain helpers)
from fixture_chain import manifest, node  # noqa: E402,F401  (pytest fixtures)

# In-process imports of Airflow (the DagBag test) must not write to ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", str(Path(os.environ.get("TMPDIR", "/tmp")) / f"chainx-airflow-{os.getpid()}"))
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow-home")
    env = dict(os.environ)
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "PYTHONPATH": str(DAGS),
        # The workers' chainx inherits it: the fixture chain is never reorganised, so its
        # backfills may run to the head (by default they stop at the finalized block).
        "CHAINX_TO_HEAD": "true",
    })
    airflow(env, "db", "migrate")
    airflow(env, "pools", "set", "chainx_rpc", "2", "chainx RPC budget")
    return env


def airflow(env, *args) -> str:
    proc = subprocess.run([AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"airflow {' '.join(args)} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def lake_show(lake: Path) -> dict[str, tuple[int, str]]:
    """Per table: (rows, covered blocks), from `chainx lake show`."""
    out = subprocess.run([CHAINX, "lake", "show", "--lake", str(lake), "--rows", "0"],
                         capture_output=True, text=True, check=True).stdout
    return {
        m.group(1): (int(m.group(2)), m.group(3))
        for m in re.finditer(r"^(\w+): (\d+) rows in \d+ files, blocks (\S*), version", out, re.M)
    }


def test_dags_import_without_errors_or_cycles():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert {"chainx_backfill", "chainx_daily", "chainx_maintenance"} <= set(bag.dag_ids)
    for dag in bag.dags.values():
        dag.topological_sort()  # raises on a cycle


def test_the_documented_range_maps_eleven_chunks():
    from chainx_airflow import chunks

    c = chunks(18_000_000, 18_100_000, 10_000)
    assert len(c) == 11
    assert c[0] == {"from_block": 18_000_000, "to_block": 18_009_999}
    assert c[-1] == {"from_block": 18_100_000, "to_block": 18_100_000}
    with pytest.raises(ValueError, match="not a block range"):
        chunks(10, 9, 1)


def test_key_secrets_map_to_chainx_env_names():
    from chainx_airflow import key_env_name

    assert key_env_name("alchemy-main") == "CHAINX_KEY_ALCHEMY_MAIN"


def test_backfill_dag_lands_exactly_the_range_and_a_rerun_adds_nothing(airflow_env, node, manifest, tmp_path):
    lake = tmp_path / "lake"
    last = manifest["last_block"]
    conf = {"from_block": 0, "to_block": last, "chunk_size": 100, "lake": str(lake),
            "rpc_url": node, "chainx_bin": CHAINX}
    airflow(airflow_env, "dags", "test", "chainx_backfill", "-c", json.dumps(conf))
    tables = lake_show(lake)
    assert tables["blocks"] == (manifest["block_count"], f"0-{last}")
    assert tables["transactions"] == (manifest["transaction_count"], f"0-{last}")
    # A re-trigger of an overlapping range (as a retried chunk would) lands nothing twice.
    conf.update(from_block=50, to_block=250, chunk_size=70)
    airflow(airflow_env, "dags", "test", "chainx_backfill", "-c", json.dumps(conf))
    assert lake_show(lake) == tables


def test_without_a_lake_param_the_config_files_lake_is_used(airflow_env, node, tmp_path):
    lake = tmp_path / "shared-lake"
    config = tmp_path / "chainx.toml"
    config.write_text(f'[lake]\npath = "{lake}"\n')
    conf = {"from_block": 0, "to_block": 20, "chunk_size": 10, "rpc_url": node, "chainx_bin": CHAINX,
            "config": str(config)}
    airflow(airflow_env, "dags", "test", "chainx_backfill", "-c", json.dumps(conf))
    assert lake_show(lake)["blocks"] == (21, "0-20"), "the DAG did not land in the config file's lake"


def test_daily_dag_lands_its_day(airflow_env, node, manifest, tmp_path):
    lake = tmp_path / "lake"
    conf = {"lake": str(lake), "rpc_url": node, "chainx_bin": CHAINX, "chunk_size": 50}
    # A run at 2024-03-03T00:00 covers the day that just ended, 2024-03-02 (data interval
    # 03-02..03-03): blocks 144..287 of the 600 s fixture chain.
    airflow(airflow_env, "dags", "test", "chainx_daily", "2024-03-03", "-c", json.dumps(conf))
    day = manifest["by_date"]["2024-03-02"]
    spacing = manifest["block_spacing_seconds"]
    first = (86_400 + spacing - 1) // spacing
    last = (2 * 86_400 - 1) // spacing
    tables = lake_show(lake)
    assert tables["blocks"] == (day["blocks"], f"{first}-{last}")
    assert tables["transactions"] == (day["transactions"], f"{first}-{last}")


def files_and_rows(lake: Path) -> dict[str, tuple[int, int]]:
    """Per table: (live files, rows), from `chainx lake show`."""
    out = subprocess.run([CHAINX, "lake", "show", "--lake", str(lake), "--rows", "0"],
                         capture_output=True, text=True, check=True).stdout
    return {m.group(1): (int(m.group(3)), int(m.group(2)))
            for m in re.finditer(r"^(\w+): (\d+) rows in (\d+) files", out, re.M)}


def test_maintenance_dag_compacts_vacuums_and_verifies(airflow_env, node, manifest, tmp_path):
    lake = tmp_path / "lake"
    last = manifest["last_block"]
    # Six runs: six commits' files in each day they touch.
    step = (last + 1 + 5) // 6
    for start in range(0, last + 1, step):
        subprocess.run([CHAINX, "backfill", "--to-head", "--rpc-url", node, "--lake", str(lake),
                        "--from", str(start), "--to", str(min(start + step - 1, last))],
                       check=True, capture_output=True)
    before = files_and_rows(lake)
    assert before["transactions"][0] > len(manifest["by_date"]), before
    conf = {"lake": str(lake), "rpc_url": node, "chainx_bin": CHAINX, "retention_hours": 0}
    airflow(airflow_env, "dags", "test", "chainx_maintenance", "-c", json.dumps(conf))
    after = files_and_rows(lake)
    for table in ("blocks", "transactions"):
        assert after[table][1] == before[table][1], f"{table} rows changed: {before} -> {after}"
        # One file a day is left, and the vacuum deleted every replaced one from the folders.
        assert after[table][0] <= len(manifest["by_date"]), after
        on_disk = [p for p in (lake / table).rglob("*.parquet") if "_delta_log" not in p.parts]
        assert len(on_disk) == after[table][0], f"{len(on_disk)} files on disk for {after[table][0]} live"


def test_blocks_for_date_refuses_a_day_the_chain_has_not_finished(node, manifest):
    last_day = max(manifest["by_date"])
    proc = subprocess.run([CHAINX, "blocks-for-date", last_day, "--rpc-url", node], capture_output=True, text=True)
    assert proc.returncode != 0 and "not over on the chain yet" in proc.stderr, proc.stderr
    proc = subprocess.run([CHAINX, "blocks-for-date", last_day, "--partial", "--rpc-url", node],
                          capture_output=True, text=True, check=True)
    day = json.loads(proc.stdout)
    assert day["to_block"] == manifest["last_block"] and day["date"] == last_day


def test_a_keyed_rpc_url_from_a_variable_is_used_and_never_logged(airflow_env, node, tmp_path):
    secret = "s3cr3tApiKey0123456789"
    env = dict(airflow_env)
    # Airflow reads Variables from AIRFLOW_VAR_<NAME> too, as a secrets backend would serve them.
    env["AIRFLOW_VAR_CHAINX_RPC_URL"] = f"{node}/?apikey={secret}"
    lake = tmp_path / "lake"
    conf = {"from_block": 0, "to_block": 20, "chunk_size": 10, "lake": str(lake), "chainx_bin": CHAINX}
    out = airflow(env, "dags", "test", "chainx_backfill", "-c", json.dumps(conf))
    assert lake_show(lake)["blocks"] == (21, "0-20"), "the DAG did not use the Variable's URL"
    assert secret not in out
    assert "apikey=***" in out, "chainx did not report its (redacted) endpoint"
    logs = Path(env["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])
    for f in logs.rglob("*"):
        if f.is_file():
            assert secret not in f.read_text(errors="replace"), f"the key leaked into {f}"
