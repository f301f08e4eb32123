"""Third-party readers' view of a lake, for the Rust tests of lakes the sink landed.

    lake_view.py LAKE_URL [STORAGE_OPTIONS_JSON]

For each table present, reads the Delta table with delta-rs (PyPI `deltalake`) and the same
folders as plain Hive-partitioned Parquet (DuckDB on a local folder, pyarrow.dataset on S3), and
prints one JSON object: {table: {"delta": [keys...], "hive": [keys...], "dates": {...}}} with
keys the sorted `hash` column, and "dates" the Hive view's row count per `block_date`.
"""

import json
import sys
from urllib.parse import urlparse

import deltalake
import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs

TABLES = ["blocks", "transactions", "decoded_calls"]


def hive_view(url, options, table):
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        folder = f"{parsed.path.rstrip('/')}/{table}"
        if not duckdb.sql(f"select file from glob('{folder}/block_date=*/*.parquet')").fetchall():
            return [], []  # an empty table has no file to read
        rows = duckdb.sql(
            f"select hash, cast(block_date as varchar) from read_parquet('{folder}/block_date=*/*.parquet', "
            "hive_partitioning=true)"
        ).fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]
    if parsed.scheme in ("s3", "s3a"):
        endpoint = urlparse(options["aws_endpoint"])
        fs = pafs.S3FileSystem(
            access_key=options["aws_access_key_id"],
            secret_key=options["aws_secret_access_key"],
            region=options.get("aws_region", "us-east-1"),
            endpoint_override=endpoint.netloc,
            scheme=endpoint.scheme,
        )
        root = f"{parsed.netloc}{parsed.path.rstrip('/')}/{table}"
        # Hive readers skip names starting with `_` or `.` (the Delta log among them).
        dataset = ds.dataset(
            root, filesystem=fs, format="parquet", partitioning="hive", exclude_invalid_files=True,
            ignore_prefixes=["_", "."],
        )
        if not dataset.files:
            return [], []
        data = dataset.to_table(columns=["hash", "block_date"])
        return data.column("hash").to_pylist(), [str(d) for d in data.column("block_date").to_pylist()]
    raise SystemExit(f"no third-party Hive reader for {parsed.scheme}:// lakes here")


def main():
    url = sys.argv[1].rstrip("/")
    options = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    delta_options = {k.upper(): v for k, v in options.items()}
    if "AWS_ENDPOINT" in delta_options:
        delta_options["AWS_ENDPOINT_URL"] = delta_options["AWS_ENDPOINT"]
        delta_options["AWS_ALLOW_HTTP"] = "true"
        delta_options["AWS_CONDITIONAL_PUT"] = "etag"
    out = {}
    for table in TABLES:
        location = f"{url}/{table}"
        try:
            delta = deltalake.DeltaTable(location, storage_options=delta_options or None)
        except deltalake.exceptions.TableNotFoundError:
            continue
        keys = delta.to_pyarrow_table(columns=["hash"]).column("hash").to_pylist()
        hive, dates = hive_view(url, options, table)
        per_date = {}
        for d in dates:
            per_date[d] = per_date.get(d, 0) + 1
        out[table] = {"delta": sorted(keys), "hive": sorted(hive), "dates": per_date}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
