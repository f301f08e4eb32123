"""A real PostgreSQL (Debian's binaries) for a test module: a fresh cluster on a free port,
trust auth, stopped at the end. The Hive metastore's catalog and Airflow's metadata DB use it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from fixture_chain import free_port


def _as_postgres(cmd: list) -> list:
    """PostgreSQL refuses to run as root: drop to its own user when we are root."""
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))), None)
    assert found, f"PostgreSQL's {name} not found (apt-get install postgresql)"
    return str(found)


@contextlib.contextmanager
def postgres(*databases: str):
    """Yields the port of a new PostgreSQL server holding `databases` (user postgres, no password)."""
    # Not under pytest's private (0700) folders: the postgres user must reach its data folder.
    base = Path(tempfile.mkdtemp(prefix="chainx-pg-"))
    base.chmod(0o755)
    data = base / "data"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(data, "postgres")
    subprocess.run(_as_postgres([pg_bin("initdb"), "-D", data, "-U", "postgres", "--auth=trust"]),
                   check=True, capture_output=True)
    port = free_port()
    log = base / "pg.log"
    subprocess.run(_as_postgres([pg_bin("pg_ctl"), "-D", data, "-l", log, "-w", "-o",
                                 f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c max_connections=200",
                                 "start"]), check=True, capture_output=True)
    try:
        for db in databases:
            subprocess.run([pg_bin("psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c",
                            f"CREATE DATABASE {db}"], check=True, capture_output=True)
        yield port
    finally:
        subprocess.run(_as_postgres([pg_bin("pg_ctl"), "-D", data, "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
