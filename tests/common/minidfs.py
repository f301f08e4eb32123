"""A real HDFS for a test module: Hadoop 3's MiniDFSCluster (NameNode + one DataNode, one JVM) from
the Maven jars `scripts/services/maven-jars.sh hdfs` caches, as testkit's Rust helper starts it;
killed at the end."""

from __future__ import annotations

import contextlib
import shutil
import select
import subprocess
import tempfile
from pathlib import Path

from fixture_chain import ROOT


@contextlib.contextmanager
def minidfs():
    """Yields the NameNode's `hdfs://127.0.0.1:PORT` once the cluster serves."""
    lib = subprocess.run([ROOT / "scripts/services/maven-jars.sh", "hdfs"], capture_output=True, text=True,
                         check=True).stdout.strip()
    base = Path(tempfile.mkdtemp(prefix="chainx-hdfs-"))
    log = base / "minidfs.log"
    proc = subprocess.Popen(
        ["java", "-Xms128m", "-Xmx768m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-cp", f"{lib}/*",
         ROOT / "scripts/services/hdfs/MiniDfs.java", base / "dfs"],
        stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
    )
    try:
        # MiniDfs prints its URL once the cluster is active, or exits.
        ready, _, _ = select.select([proc.stdout], [], [], 180)
        url = proc.stdout.readline().strip() if ready else ""
        assert url.startswith("hdfs://"), f"MiniDFSCluster did not serve within 180 s:\n{log.read_text()[-3000:]}"
        yield url
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(base, ignore_errors=True)
