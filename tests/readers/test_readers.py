"""Third-party readers see what chainx landed: delta-rs reads the Delta tables, DuckDB reads the
same folders as plain Hive-partitioned Parquet, and both agree with the fixture chain.

Runs the real `chainx` binary (CHAINX_BIN) against a real anvil loaded with the fixture chain.
"""

import os
import subprocess
from decimal import Decimal
from pathlib import Path

import deltalake
import duckdb
import pyarrow as pa
import pytest

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "common"))
import fixture_chain  # noqa: E402  (the suites' shared fixture-chain helpers)
from fixture_chain import manifest, node  # noqa: E402,F401  (pytest fixtures)

ROOT = fixture_chain.ROOT
rpc = fixture_chain.rpc


@pytest.fixture(scope="module")
def lake(node, manifest, tmp_path_factory):
    out = tmp_path_factory.mktemp("lake")
    binary = os.environ.get("CHAINX_BIN") or str(
        Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug" / "chainx")
    subprocess.run(
        [binary, "backfill", "--to-head", "--rpc-url", node, "--from", "0", "--to", str(manifest["last_block"]),
         "--lake", str(out), "--chunk-blocks", "250"],
        check=True, capture_output=True,
    )
    return out


def test_delta_rs_reads_both_tables_with_exact_types(lake, manifest):
    blocks = deltalake.DeltaTable(str(lake / "blocks"))
    txs = deltalake.DeltaTable(str(lake / "transactions"))
    assert blocks.metadata().partition_columns == ["block_date"]
    assert txs.metadata().configuration["chainx.coveredBlocks"] == f"0-{manifest['last_block']}"
    b = blocks.to_pyarrow_table()
    t = txs.to_pyarrow_table()
    assert b.num_rows == manifest["block_count"]
    assert t.num_rows == manifest["transaction_count"]
    assert t.schema.field("value").type == pa.decimal128(38, 0)
    assert t.schema.field("block_timestamp").type == pa.timestamp("us", tz="UTC")
    assert t.schema.field("block_date").type == pa.date32()
    kinds = {}
    for k in t.column("tx_kind").to_pylist():
        kinds[k] = kinds.get(k, 0) + 1
    assert kinds == manifest["tx_kind"]


def test_plain_hive_reader_sees_the_same_rows_as_delta(lake, manifest):
    for table in ("blocks", "transactions"):
        delta = deltalake.DeltaTable(str(lake / table)).to_pyarrow_table(columns=["hash"])
        hive = duckdb.sql(
            f"select hash from read_parquet('{lake / table}/block_date=*/*.parquet', hive_partitioning=true)"
        ).fetchall()
        assert sorted(h for (h,) in hive) == sorted(delta.column("hash").to_pylist()), table
    per_day = duckdb.sql(
        f"select cast(block_date as varchar), count(*) from read_parquet('{lake}/blocks/block_date=*/*.parquet', "
        "hive_partitioning=true) group by 1 order by 1"
    ).fetchall()
    assert dict(per_day) == {d: c["blocks"] for d, c in manifest["by_date"].items()}


def test_wei_amounts_are_exact_against_the_node(lake, node):
    rows = duckdb.sql(
        f"select hash, value, gas_price from read_parquet('{lake}/transactions/block_date=*/*.parquet') "
        "where value > 0 order by value desc limit 20"
    ).fetchall()
    assert rows
    for tx_hash, value, gas_price in rows:
        tx = rpc(node, "eth_getTransactionByHash", [tx_hash])
        assert value == Decimal(int(tx["value"], 16)), tx_hash
        assert gas_price == Decimal(int(tx["gasPrice"], 16)), tx_hash
