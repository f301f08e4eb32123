"""Hive over the lake, on real components: a standalone Hive 2.3 metastore (PyPI pyspark's jars)
keeping its catalog in PostgreSQL (Debian's), the Spark Thrift server (with delta-spark) speaking
HiveServer2's protocol against it, beeline and PyHive. `chainx hive sync` creates the tables over
a lake the real `chainx backfill` landed from anvil (the fixture chain); the README's three
example queries then give the manifest's counts, and the same sums DuckDB reads from the same
Parquet files. Through HiveServer2 the Delta tables show exactly the committed rows: an
uncommitted file changes nothing (a plain Parquet table counts it), and while four backfills
and two compactions write one lake, every count is of one snapshot.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests" / "common"))
import fixture_chain  # noqa: E402  (the suites' shared fixture-chain helpers)
from fixture_chain import ROOT, free_port, manifest  # noqa: E402,F401  (manifest: a pytest fixture)
from postgres import postgres as postgres_server  # noqa: E402
CHAINX = os.environ.get("CHAINX_BIN", "chainx")
SPARK = Path(__import__("pyspark").__file__).parent
# PostgreSQL's JDBC driver, delta-spark and delta-storage, hadoop-aws and the AWS SDK bundle.
JARS = Path(subprocess.run([ROOT / "scripts/services/maven-jars.sh", "hive"], capture_output=True,
                           text=True, check=True).stdout.strip())


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, what: str, seconds=180):
    deadline = time.time() + seconds
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert proc.poll() is None, f"{what} exited ({proc.returncode}); see {log}:\n{log.read_text()[-3000:]}"
        assert time.time() < deadline, f"{what} did not listen on {port} within {seconds} s; see {log}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("hive")


@pytest.fixture(scope="module")
def postgres():
    with postgres_server("metastore") as port:
        yield port


def java(classpath: list, main: str, *args, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["java", "-Xmx768m", "-cp", ":".join(str(c) for c in classpath), main, *args],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )


@pytest.fixture(scope="module")
def s3():
    """SeaweedFS, for the S3 lake; chainx finds it through the AWS_* environment."""
    from seaweedfs import seaweedfs

    with seaweedfs() as server, pytest.MonkeyPatch.context() as env:
        for k, v in server.env().items():
            env.setenv(k, v)
        yield server


def s3a(s3) -> dict:
    """Hadoop's S3A settings for that server (the metastore checks table folders, Spark reads)."""
    return {
        "fs.s3a.endpoint": s3.endpoint,
        "fs.s3a.endpoint.region": "us-east-1",
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": "false",
        "fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider",
        "fs.s3a.access.key": s3.access_key,
        "fs.s3a.secret.key": s3.secret_key,
    }


@pytest.fixture(scope="module")
def metastore(work, postgres, s3):
    conf = work / "metastore-conf"
    conf.mkdir()
    props = {
        "javax.jdo.option.ConnectionURL": f"jdbc:postgresql://127.0.0.1:{postgres}/metastore",
        "javax.jdo.option.ConnectionDriverName": "org.postgresql.Driver",
        "javax.jdo.option.ConnectionUserName": "postgres",
        "javax.jdo.option.ConnectionPassword": "",
        # A fresh catalog: DataNucleus creates Hive 2.3's tables in PostgreSQL as they are first
        # used, but not their foreign keys. Adding one (ALTER TABLE) inside the first
        # create_table waits on that call's own open transaction: a deadlock, seen.
        "datanucleus.schema.autoCreateTables": "true",
        "datanucleus.schema.autoCreateColumns": "true",
        "datanucleus.schema.autoCreateConstraints": "false",
        "hive.metastore.schema.verification": "false",
        # Hive's async logging needs LMAX disruptor, which Spark's jars do not carry.
        "hive.async.log.enabled": "false",
        "hive.metastore.warehouse.dir": str(work / "warehouse"),
        **s3a(s3),
    }
    (conf / "hive-site.xml").write_text(
        "<configuration>\n" + "".join(
            f"  <property><name>{k}</name><value>{v}</value></property>\n" for k, v in props.items()
        ) + "</configuration>\n"
    )
    port = free_port()
    log = work / "metastore.log"
    proc = java([conf, SPARK / "jars/*", JARS / "*"], "org.apache.hadoop.hive.metastore.HiveMetaStore",
                "-p", str(port), log=log)
    wait_for_port(port, proc, log, "the Hive metastore")
    yield port
    proc.kill()


@pytest.fixture(scope="module")
def hiveserver2(work, metastore, s3):
    port = free_port()
    log = work / "thriftserver.log"
    # spark-submit (pyspark's launcher script) adds the JVM flags Spark needs on Java 17.
    proc = subprocess.Popen(
        [
            SPARK / "bin/spark-submit",
            "--master", "local[2]",
            "--driver-memory", "768m",
            "--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
            # On the driver's own class path: the session catalog is loaded before --jars are.
            "--driver-class-path", ":".join(str(j) for j in sorted(JARS.glob("*.jar")) if "postgresql" not in j.name),
            "--conf", "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
            "--conf", "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
            "--conf", "spark.sql.catalogImplementation=hive",
            "--conf", f"spark.hadoop.hive.metastore.uris=thrift://127.0.0.1:{metastore}",
            "--conf", "spark.ui.enabled=false",
            *(arg for k, v in s3a(s3).items() for arg in ("--conf", f"spark.hadoop.{k}={v}")),
            "--conf", f"spark.sql.warehouse.dir={work / 'warehouse'}",
            "spark-internal",
            "--hiveconf", f"hive.server2.thrift.port={port}",
            "--hiveconf", "hive.server2.thrift.bind.host=127.0.0.1",
        ],
        stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "SPARK_HOME": str(SPARK)},
    )
    wait_for_port(port, proc, log, "the Spark Thrift server")
    yield port
    proc.kill()


@pytest.fixture(scope="module")
def lake(work, manifest):
    lake = work / "lake"
    with fixture_chain.anvil() as url:
        subprocess.run([CHAINX, "backfill", "--to-head", "--from", "0", "--to", str(manifest["last_block"]),
                        "--rpc-url", url, "--lake", lake, "--tables",
                        "blocks,transactions,logs,token_transfers,decoded_events,traces,contracts,tokens"],
                       check=True, capture_output=True)
    return lake


def beeline(port: int, sql: str) -> list[list[str]]:
    proc = subprocess.run(
        [SPARK / "bin/beeline", "-u", f"jdbc:hive2://127.0.0.1:{port}/default", "-n", "chainx",
         "--silent=true", "--showHeader=false", "--outputformat=tsv2", "-e", sql],
        capture_output=True, text=True, env={**os.environ, "SPARK_HOME": str(SPARK)},
    )
    assert proc.returncode == 0, f"beeline failed on {sql}:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    # beeline -e echoes its prompt in front of the first row even when silent.
    lines = (re.sub(r"^\d+: jdbc:hive2://[^>]*> ?", "", line) for line in proc.stdout.splitlines())
    return [line.split("\t") for line in lines if line.strip()]


def readme_query(title: str) -> str:
    """The README's example query under `title`: what the docs show is what is tested."""
    text = (ROOT / "README.md").read_text()
    start = text.index(f"-- {title}\n") + len(f"-- {title}\n")
    return text[start:text.index("```", start)].strip().rstrip(";")


def sync(port: int, lake: Path, database: str = "chainx", format: str = "delta"):
    out = subprocess.run([CHAINX, "hive", "sync", "--hiveserver2", f"127.0.0.1:{port}", "--lake", lake,
                          "--database", database, "--format", format, "--beeline", SPARK / "bin/beeline"],
                         capture_output=True, text=True, env={**os.environ, "SPARK_HOME": str(SPARK)})
    assert out.returncode == 0, out.stderr


@pytest.fixture(scope="module")
def synced(hiveserver2, lake):
    sync(hiveserver2, lake)
    return hiveserver2


def test_tables_over_the_lake_hold_the_chain(synced, manifest):
    rows = beeline(synced, "SELECT COUNT(*) FROM chainx.blocks")
    assert int(rows[0][0]) == manifest["block_count"]
    rows = beeline(synced, "SELECT COUNT(*), COUNT(DISTINCT hash) FROM chainx.transactions")
    assert [int(v) for v in rows[0]] == [manifest["transaction_count"]] * 2
    # Delta tables take their partitions from the log (SHOW PARTITIONS is for catalog partitions).
    partitions = beeline(synced, "SELECT DISTINCT block_date FROM chainx.transactions")
    assert sorted(p[0] for p in partitions) == sorted(manifest["by_date"])


def test_transactions_per_class_per_day(synced, manifest):
    rows = beeline(synced, readme_query("transactions per class per day"))
    per_day, per_class = {}, {}
    for day, kind, n in rows:
        per_day[day] = per_day.get(day, 0) + int(n)
        per_class[kind] = per_class.get(kind, 0) + int(n)
    assert per_day == {d: c["transactions"] for d, c in manifest["by_date"].items()}
    assert per_class == manifest["tx_kind"]


def test_top_contracts_by_calls(synced, manifest, lake):
    rows = beeline(synced, readme_query("top contracts by calls"))
    expected = duckdb.sql(
        f"SELECT to_address, COUNT(*) AS calls FROM read_parquet('{lake}/transactions/block_date=*/*.parquet', "
        "hive_partitioning = true) WHERE tx_kind = 'contract_interaction' GROUP BY to_address "
        "ORDER BY calls DESC, to_address LIMIT 10"
    ).fetchall()
    assert [(a, int(n)) for a, n in rows] == [(a, n) for a, n in expected]
    # The fixture chain calls ten contracts or more: the list is the ten most called, and any
    # others hold what they leave of the generator's contract calls.
    assert len(rows) == 10
    rest = duckdb.sql(
        f"SELECT COUNT(*) FROM read_parquet('{lake}/transactions/block_date=*/*.parquet', hive_partitioning = true) "
        f"WHERE tx_kind = 'contract_interaction' AND to_address NOT IN ({', '.join(repr(a) for a, _ in rows)})"
    ).fetchall()[0][0]
    assert sum(int(n) for _, n in rows) + rest == manifest["tx_kind"]["contract_interaction"]


def test_eth_transferred_per_day(synced, manifest, lake):
    rows = beeline(synced, readme_query("ETH transferred per day"))
    expected = duckdb.sql(
        f"SELECT CAST(block_date AS VARCHAR), SUM(value) FROM read_parquet('{lake}/transactions/block_date=*/*.parquet', "
        "hive_partitioning = true) WHERE receipt_status = 1 GROUP BY 1 ORDER BY 1"
    ).fetchall()
    got = [(day, Decimal(wei)) for day, wei, _eth in rows]
    assert got == [(d, Decimal(v)) for d, v in expected]
    assert sorted(manifest["by_date"]) == [d for d, _ in got]


def test_ether_transfers_view(synced, manifest, lake):
    rows = beeline(synced, readme_query("ether moved per day, by transactions and inside contracts"))
    got = {(day, internal == "true"): (int(n), Decimal(wei)) for day, internal, n, wei in rows}
    traces = duckdb.sql(
        f"SELECT CAST(block_date AS VARCHAR), trace_address IS NOT NULL, COUNT(*), SUM(value) FROM {parquet(lake, 'traces')} "
        "WHERE status = 1 AND value > 0 AND trace_type IN ('call', 'create', 'suicide') "
        "AND (call_type IS NULL OR call_type = 'call') GROUP BY 1, 2"
    ).fetchall()
    assert got == {(d, i): (n, Decimal(v)) for d, i, n, v in traces}
    # What moved at the top of each transaction is what the successful transactions sent.
    sent = duckdb.sql(
        f"SELECT CAST(block_date AS VARCHAR), SUM(value) FROM {parquet(lake, 'transactions')} "
        "WHERE receipt_status = 1 AND value > 0 GROUP BY 1"
    ).fetchall()
    assert {d: w for (d, internal), (_, w) in got.items() if not internal} == {d: Decimal(v) for d, v in sent}


def test_token_transfers_by_symbol(synced, lake):
    rows = beeline(synced, readme_query("token transfers per day, by symbol"))
    number = lambda v: None if v in ("NULL", "") else int(v)  # noqa: E731 (beeline prints NULL)
    got = {(day, token): (number(decimals), int(n), Decimal(amount)) for day, token, decimals, n, amount in rows}
    expected = duckdb.sql(
        f"SELECT CAST(t.block_date AS VARCHAR), COALESCE(k.symbol, k.address), k.decimals, COUNT(*), "
        f"SUM(CAST(t.value AS DECIMAL(38,0))) FROM {parquet(lake, 'token_transfers')} t "
        f"JOIN {parquet(lake, 'tokens')} k ON k.address = t.token_address GROUP BY 1, 2, 3"
    ).fetchall()
    assert got == {(d, t): (dec, n, Decimal(a)) for d, t, dec, n, a in expected}
    # The fixture chain's tokens move every day under their own symbols.
    assert {"WETH", "ALP", "BET"} <= {token for _, token in got}


def parquet(lake: Path, table: str) -> str:
    return f"read_parquet('{lake}/{table}/block_date=*/*.parquet', hive_partitioning = true)"


def test_token_flows_out_of_one_address_two_hops(synced, lake):
    rows = beeline(synced, readme_query("token flows out of one address over a day, two hops"))
    t = parquet(lake, "token_transfers")
    expected = duckdb.sql(
        f"SELECT h1.token_address, h1.to_address, h2.to_address, COUNT(*), SUM(CAST(h2.value AS DECIMAL(38,0))) "
        f"FROM {t} h1 JOIN {t} h2 ON h2.from_address = h1.to_address AND h2.token_address = h1.token_address "
        "AND h2.block_date = h1.block_date AND (h2.block_number > h1.block_number "
        "OR (h2.block_number = h1.block_number AND h2.log_index > h1.log_index)) "
        "WHERE h1.from_address = '0x70997970c51812dc3a010c7d01b50e0d17dc79c8' "
        "AND h1.block_date = DATE '2024-03-02' AND h1.token_standard = 'erc20' GROUP BY 1, 2, 3"
    ).fetchall()
    got = sorted((a, b, c, int(n), Decimal(v)) for a, b, c, n, v in rows)
    assert got == sorted((a, b, c, n, Decimal(v)) for a, b, c, n, v in expected)
    assert len(got) > 10, "the fixture chain's flows should reach a second hop many ways"


def test_swaps_and_volume_per_pair_per_day(synced, manifest, lake):
    rows = beeline(synced, readme_query("swaps and volume per Uniswap pair per day"))
    swaps = {}
    for _day, pair, n, _v0, _v1 in rows:
        swaps[pair] = swaps.get(pair, 0) + int(n)
    # The generator's count, decoded by ethers from the receipts: not chainx's decoder.
    assert swaps == manifest["swaps_by_pair"]
    amount = lambda side: (f"CAST(json_extract_string(args, '$.amount{side}In') AS DECIMAL(38,0)) + "
                           f"CAST(json_extract_string(args, '$.amount{side}Out') AS DECIMAL(38,0))")
    expected = duckdb.sql(
        f"SELECT CAST(block_date AS VARCHAR), contract_address, SUM({amount(0)}), SUM({amount(1)}) "
        f"FROM {parquet(lake, 'decoded_events')} "
        "WHERE event_signature = 'Swap(address,uint256,uint256,uint256,uint256,address)' GROUP BY 1, 2"
    ).fetchall()
    got = sorted((d, p, Decimal(a), Decimal(b)) for d, p, _n, a, b in rows)
    assert got == sorted((d, p, Decimal(a), Decimal(b)) for d, p, a, b in expected)


def test_liquidations_per_collateral_asset(synced, manifest, lake):
    rows = beeline(synced, readme_query("liquidations per collateral asset"))
    assert {asset: int(n) for asset, n, _s, _d in rows} == manifest["liquidations_by_collateral"]
    expected = duckdb.sql(
        "SELECT json_extract_string(args, '$.collateralAsset'), "
        "SUM(CAST(json_extract_string(args, '$.liquidatedCollateralAmount') AS DECIMAL(38,0))), "
        "SUM(CAST(json_extract_string(args, '$.debtToCover') AS DECIMAL(38,0))) "
        f"FROM {parquet(lake, 'decoded_events')} WHERE event_name = 'LiquidationCall' GROUP BY 1"
    ).fetchall()
    got = sorted((a, Decimal(s), Decimal(d)) for a, _n, s, d in rows)
    assert got == sorted((a, Decimal(s), Decimal(d)) for a, s, d in expected)


def backfill(url: str, lake: Path, start: int, end: int, chunk: int) -> subprocess.Popen:
    # A dev chain's files never reach the target size: with a commit interval this short, every
    # chunk commits as it lands.
    return subprocess.Popen([CHAINX, "backfill", "--to-head", "--from", str(start), "--to", str(end),
                             "--chunk-blocks", str(chunk), "--commit-interval", "0.01",
                             "--rpc-url", url, "--lake", lake],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_an_uncommitted_file_is_not_in_the_delta_table(hiveserver2, lake, work, manifest):
    """What a writer leaves before its commit (or a killed writer for ever, until a vacuum): a data
    file in a partition folder that no Delta version adds. The Delta table does not show it; the
    plain Parquet table over the same folders does, which is why Delta is the default."""
    copy = work / "stray-lake"
    shutil.copytree(lake, copy)
    partition = sorted((copy / "transactions").glob("block_date=*"))[0]
    live = sorted(partition.glob("*.parquet"))[0]
    shutil.copy(live, partition / "part-00000-uncommitted-by-a-writer.c000.snappy.parquet")
    stray_rows = duckdb.sql(f"SELECT COUNT(*) FROM read_parquet('{live}')").fetchall()[0][0]
    assert stray_rows > 0
    sync(hiveserver2, copy, "chainx_stray")
    sync(hiveserver2, copy, "chainx_stray_plain", "parquet")
    delta = beeline(hiveserver2, "SELECT COUNT(*), COUNT(DISTINCT hash) FROM chainx_stray.transactions")
    assert [int(v) for v in delta[0]] == [manifest["transaction_count"]] * 2
    plain = beeline(hiveserver2, "SELECT COUNT(*) FROM chainx_stray_plain.transactions")
    assert int(plain[0][0]) == manifest["transaction_count"] + stray_rows


@pytest.fixture(scope="module")
def hdfs_url():
    from minidfs import minidfs

    with minidfs() as url:
        yield url


@pytest.mark.parametrize("store", ["local", "hdfs", "s3"])
def test_queries_see_one_snapshot_while_many_writers_run(hiveserver2, work, manifest, store, request, s3):
    """Four backfills of overlapping ranges and two compactions on one lake (a local folder, HDFS,
    then S3), while one HiveServer2 session counts blocks and transactions over and over: no count ever
    holds a row twice, counts never go down (appends and compactions only), some counts fall
    mid-run, and the last is the chain."""
    from pyhive import hive

    last = manifest["last_block"]
    if store == "local":
        lake = work / "busy-lake"
    elif store == "hdfs":
        lake = f"{request.getfixturevalue('hdfs_url')}/busy-lake"
    else:
        lake = f"s3://{s3.bucket}/busy-lake"
    database = f"chainx_busy_{store}"
    with fixture_chain.anvil() as url:
        # The tables must exist before Hive can define them.
        first = backfill(url, lake, 0, 9, 10)
        assert first.wait() == 0, first.stderr.read()
        sync(hiveserver2, lake, database)
        cursor = hive.connect(host="127.0.0.1", port=hiveserver2, username="chainx").cursor()

        def counts() -> tuple:
            cursor.execute(f"SELECT COUNT(*), COUNT(DISTINCT number) FROM {database}.blocks")
            blocks = cursor.fetchall()[0]
            cursor.execute(f"SELECT COUNT(*), COUNT(DISTINCT hash) FROM {database}.transactions")
            return blocks + cursor.fetchall()[0]

        # Chunks of one and two blocks: a commit each, as many as a query can overlap. HDFS
        # commits take longer (a temporary file and a rename each): chunks of 10 and 20 there.
        small, large = (10, 20) if store == "hdfs" else (1, 2)
        writers = [backfill(url, lake, 0, last, small), backfill(url, lake, 0, 300, large),
                   backfill(url, lake, 150, 450, large), backfill(url, lake, 301, last, large)]
        compactions = []
        samples = []
        while any(w.poll() is None for w in writers):
            sample = counts()
            samples.append((sample, any(w.poll() is None for w in writers)))
            if len(compactions) < 2 and len(samples) % 2 == 0:
                compactions.append(subprocess.Popen([CHAINX, "lake", "compact", "--lake", lake],
                                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for job in writers + compactions:
            assert job.wait() == 0, job.stderr.read()[-3000:]
        final = counts()
    assert compactions, "the writers ended before the first two samples"
    for (blocks, distinct_blocks, txs, distinct_txs), _ in samples:
        assert blocks == distinct_blocks and txs == distinct_txs, samples
    block_counts = [s[0][0] for s in samples] + [final[0]]
    assert block_counts == sorted(block_counts), f"a count went down: {samples}"
    assert any(10 < s[0] < last + 1 and running for s, running in samples), f"no count mid-run: {samples}"
    assert final == (last + 1, last + 1, manifest["transaction_count"], manifest["transaction_count"])
