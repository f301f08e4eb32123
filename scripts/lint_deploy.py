#!/usr/bin/env python3
"""Checks the deployment files against each other, without a Docker engine.

For every services/<layer>_layer/{compose,swarm}.yml:
- images: chainx's own are built by `make build` from a Dockerfile in docker/ whose COPY
  sources exist; every other image, and every Dockerfile's FROM, names a pinned tag;
- volumes: named ones are declared at the top level and every declared one is used; bind
  mounts, env files, configs and secrets point at files that exist (secrets: that
  scripts/secrets.sh creates);
- ports: no host port published twice among the compose files (one node), nor among the swarm
  files (one ingress); the README's ports table lists each, with its service;
- every long-running service has a health check and resource limits; no environment variable
  carries a secret (only *_FILE / *_CMD paths);
- Prometheus scrapes services that exist, on the port their image serves metrics on.
Then every `make TARGET` the README names, and the Makefile's required targets, must exist
(`make -n`).
Prints one line per problem and exits 1 if there is any.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["ops", "fast", "batch", "app"]
problems: list[str] = []


def problem(where: str, what: str) -> None:
    problems.append(f"{where}: {what}")


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with the defaults (the Makefile exports the same values)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def built_images() -> dict[str, Path]:
    """`make build`'s images, by name, with their Dockerfiles."""
    makefile = (ROOT / "Makefile").read_text()
    images = {}
    for dockerfile, name in re.findall(r"docker build -f (\S+) .*?-t \$\(CHAINX_IMAGES\)/([a-z-]+):\$\(TAG\)", makefile):
        images[name] = ROOT / dockerfile
    return images


def pinned(image: str) -> bool:
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag not in ("", "latest")


def check_dockerfile(name: str, path: Path) -> None:
    where = str(path.relative_to(ROOT))
    if not path.exists():
        problem(where, f"the Dockerfile of image {name} is missing")
        return
    stages = set()
    for line in path.read_text().splitlines():
        words = line.split()
        if not words:
            continue
        if words[0] == "FROM":
            base = words[1]
            if "${" not in base and base not in stages and not pinned(base):
                problem(where, f"FROM {base} is not pinned to a tag")
            if len(words) >= 4 and words[2].upper() == "AS":
                stages.add(words[3])
        if words[0] in ("COPY", "ADD"):
            args = [w for w in words[1:] if not w.startswith("--")]
            if any(w.startswith("--from") for w in words) or not args:
                continue
            for src in args[:-1]:
                if src.startswith("http"):
                    continue
                if not (ROOT / src).exists() and not list(ROOT.glob(src.lstrip("/"))):
                    problem(where, f"{words[0]} {src}: no such file in the build context (the repository root)")


def long_running(svc: dict, swarm: bool) -> bool:
    if swarm:
        policy = (svc.get("deploy") or {}).get("restart_policy") or {}
        return policy.get("condition") != "on-failure"
    return svc.get("restart") != "no"


def check_file(layer: str, kind: str, images: dict[str, Path], host_ports: dict[int, str]) -> dict:
    path = ROOT / "services" / f"{layer}_layer" / f"{kind}.yml"
    where = str(path.relative_to(ROOT))
    if not path.exists():
        problem(where, "missing")
        return {}
    doc = yaml.safe_load(path.read_text())
    swarm = kind == "swarm"
    services = doc.get("services") or {}
    declared_volumes = set((doc.get("volumes") or {}).keys())
    used_volumes = set()
    for kind_name in ("secrets", "configs"):
        for name, spec in (doc.get(kind_name) or {}).items():
            f = (path.parent / spec.get("file", "")).resolve()
            if not f.is_file() and kind_name == "configs":
                problem(where, f"config {name}: {spec.get('file')} does not exist")
            if kind_name == "secrets":
                made = (ROOT / "scripts/secrets.sh").read_text()
                if f.parent != ROOT / "services/secrets" or not re.search(rf"^write {re.escape(f.name)} ", made, re.M):
                    problem(where, f"secret {name}: {spec.get('file')} is not one scripts/secrets.sh creates")
    for name, svc in services.items():
        at = f"{where} service {name}"
        image = interpolate(str(svc.get("image", "")))
        if not image:
            problem(at, "no image (swarm cannot build; compose files use built images too)")
        elif image.startswith("chainx/"):
            short = image.split("/", 1)[1].split(":", 1)[0]
            if short not in images:
                problem(at, f"image {image} is not built by `make build`")
        elif not pinned(image):
            problem(at, f"image {image} is not pinned to a tag")
        for vol in svc.get("volumes") or []:
            source = (vol if isinstance(vol, str) else vol.get("source", "")).split(":")[0]
            if source.startswith(("/", ".")):
                if source.startswith(".") and not (path.parent / source).exists():
                    problem(at, f"bind mount {source} does not exist")
            elif source:
                used_volumes.add(source)
                if source not in declared_volumes:
                    problem(at, f"volume {source} is not declared under volumes:")
        for kind_name in ("secrets", "configs"):
            for ref in svc.get(kind_name) or []:
                ref_name = ref if isinstance(ref, str) else ref.get("source")
                if ref_name not in (doc.get(kind_name) or {}):
                    problem(at, f"{kind_name[:-1]} {ref_name} is not declared under {kind_name}:")
        env_file = svc.get("env_file")
        if env_file and not (path.parent / env_file).is_file():
            problem(at, f"env_file {env_file} does not exist")
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) for e in env)
        for var, value in env.items():
            if re.search(r"PASSWORD|SECRET|TOKEN|^CHAINX_KEY_|_KEY$|^KEY$", var) and not re.search(r"_(FILE|CMD)$", var):
                if not str(value).startswith("/"):
                    problem(at, f"environment {var} holds a value: pass secrets as files (*_FILE, *_CMD)")
        for port in svc.get("ports") or []:
            published = int(str(port).split(":")[0]) if ":" in str(port) else None
            if published is None:
                problem(at, f"port {port} publishes a random host port")
                continue
            if published in host_ports:
                problem(at, f"host port {published} is also published by {host_ports[published]}")
            host_ports[published] = f"{layer}/{name}"
        if long_running(svc, swarm):
            if "healthcheck" not in svc:
                problem(at, "no healthcheck")
            limited = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") if swarm else (
                svc.get("mem_limit") and svc.get("cpus"))
            if not limited:
                problem(at, "no resource limits" + (" (deploy.resources.limits)" if swarm else " (cpus, mem_limit)"))
    unused = declared_volumes - used_volumes
    if unused:
        problem(where, f"volumes declared but unused: {sorted(unused)}")
    return services


def main() -> int:
    images = built_images()
    if "chainx" not in images:
        problem("Makefile", "`make build` does not build the chainx image")
    for name, dockerfile in images.items():
        check_dockerfile(name, dockerfile)
    compose_ports: dict[int, str] = {}
    swarm_ports: dict[int, str] = {}
    services: dict[str, dict] = {}
    for layer in LAYERS:
        compose = check_file(layer, "compose", images, compose_ports)
        services.update(compose)
        swarm = check_file(layer, "swarm", images, swarm_ports)
        for name in set(swarm) ^ set(compose):
            problem(f"services/{layer}_layer", f"service {name} is in one of compose.yml and swarm.yml only")

    # Prometheus scrapes services that exist, on the port they serve metrics on.
    prom = yaml.safe_load((ROOT / "services/ops_layer/prometheus/prometheus.yml").read_text())
    metrics_port = {"node-exporter": 9100, "cadvisor": 8080}
    for job in prom["scrape_configs"]:
        for sd in job.get("dns_sd_configs") or []:
            for name in sd["names"]:
                svc = services.get(name)
                if svc is None:
                    problem("prometheus.yml", f"job {job['job_name']} scrapes {name}, which no compose file runs")
                    continue
                image = interpolate(svc.get("image", ""))
                want = 9300 if image.startswith("chainx/chainx:") or image.startswith("chainx/airflow:") else metrics_port.get(name)
                if sd.get("port") != want:
                    problem("prometheus.yml", f"job {job['job_name']} scrapes {name} on {sd.get('port')}, not {want}")

    # The README: its ports table and the make targets it names.
    readme = (ROOT / "README.md").read_text()
    # Rows `| layer | service | host port | container port | what |`.
    table = {}
    for row in readme.splitlines():
        cells = [c.strip() for c in row.split("|")]
        if len(cells) >= 6 and cells[3].isdigit():
            table[int(cells[3])] = cells[2]
    for port, owner in compose_ports.items():
        layer, name = owner.split("/")
        if table.get(port) != name:
            problem("README.md", f"the ports table does not list host port {port} ({owner})")
    named = set(re.findall(r"(?m)(?:`|^)make ([a-z_]+)", readme))
    named |= set(re.findall(r"\b((?:deploy|watch|stop)_(?:dev|prod)_[a-z]+)\b", readme))
    # What the issue tracker asked the Makefile for, whether the README names it or not.
    required = {"build", "publish", "chain", "demo", "test", "bench"}
    required |= {f"{verb}_{layer}" for verb in ("deploy_dev", "watch_dev", "stop_dev", "deploy_prod") for layer in LAYERS}
    targets = sorted(named | required)
    for target in targets:
        dry = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
        if dry.returncode != 0:
            where = "README.md" if target in named else "Makefile"
            problem(where, f"`make {target}` does not exist: {dry.stderr.strip()}")

    for p in problems:
        print(p)
    print(f"lint_deploy: {len(problems)} problem(s) in {2 * len(LAYERS)} compose/swarm files, {len(images)} images, {len(targets)} make targets ({len(named)} named in the README)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
