"""What the chainx DAGs share: the operator that runs one `chainx` subcommand, and how it gets
its secrets.

Secrets never pass through templates, params or XCom (all of which the UI shows). The operator
resolves them when it runs, from Airflow Variables, registers them with Airflow's secrets
masker, and hands them to `chainx` in its environment:

- Variable `chainx_rpc_url`: the node URL when it holds an API key (else the `rpc_url` param);
- Variable `chainx_key_<name>` for each pseudo-name of the `key_names` param: the key pool's
  secrets, as `CHAINX_KEY_<NAME>` (chainx's own convention), with `CHAINX_KEYS` listing the names.

chainx redacts URLs and keys in what it prints too, so task logs stay clean twice over.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from airflow.sdk import BaseOperator, Variable

from airflow.sdk.log import mask_secret

# Parallel chunks share this pool: give it as many slots as the key budget carries concurrent
# backfills (one per API key is a good start). `airflow pools set chainx_rpc 2 "chainx RPC"`.
RPC_POOL = "chainx_rpc"


def key_env_name(name: str) -> str:
    """`CHAINX_KEY_<NAME>`: the pseudo-name upper-cased, anything but letters and digits as `_`."""
    return "CHAINX_KEY_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def secret_variable(name: str) -> str | None:
    value = Variable.get(name, default=None)
    if value:
        mask_secret(value)
    return value


class ChainxOperator(BaseOperator):
    """Runs `chainx ARGS...` and fails with its error if it fails.

    `args` is templated (block numbers, dates); `rpc_url`, `lake`, `key_names` and `config`
    (chainx's TOML file on the worker) are not secrets, and `chainx_bin` defaults to `chainx`
    on PATH.
    """

    template_fields = ("args", "rpc_url", "lake", "chainx_bin", "key_names", "config")

    def __init__(
        self,
        *,
        args: list[str],
        rpc_url: str | None = None,
        lake: str | None = None,
        chainx_bin: str | None = None,
        key_names: list[str] | str | None = None,
        config: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.args = args
        self.rpc_url = rpc_url
        self.lake = lake
        self.chainx_bin = chainx_bin
        self.key_names = key_names
        self.config = config

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        url = secret_variable("chainx_rpc_url") or self.rpc_url
        if url:
            env["CHAINX_RPC_URL"] = url
        if self.lake:
            env["CHAINX_LAKE"] = self.lake
        if self.config:
            # chainx's TOML file: providers, key pseudo-names, the coordinator (its secrets stay in
            # CHAINX_KEY_* or the file's secrets_file, not in the TOML).
            env["CHAINX_CONFIG"] = self.config
        names = self.key_names or []
        if isinstance(names, str):
            names = [n for n in names.split(",") if n.strip()]
        if names:
            env["CHAINX_KEYS"] = ",".join(names)
            for name in names:
                secret = secret_variable(f"chainx_key_{name}")
                if not secret:
                    raise ValueError(
                        f"key {name!r} has no secret: set the Airflow Variable chainx_key_{name}"
                    )
                env[key_env_name(name)] = secret
        return env

    def execute(self, context):
        binary = self.chainx_bin or "chainx"
        if shutil.which(binary) is None:
            raise FileNotFoundError(
                f"chainx binary {binary!r} not found: install chainx, or pass chainx_bin"
            )
        cmd = [binary, *[str(a) for a in self.args]]
        self.log.info("running %s", " ".join(cmd))
        proc = subprocess.run(cmd, env=self.environment(), capture_output=True, text=True)
        for line in proc.stderr.splitlines():
            self.log.info("%s", line)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:2])} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
        self.log.info("%s", proc.stdout.strip())
        return proc.stdout.strip()


def chunks(from_block: int, to_block: int, chunk_size: int) -> list[dict[str, int]]:
    """`from_block..=to_block` in chunks of `chunk_size` blocks: 18000000..18100000 by 10000 is
    eleven (the last one block)."""
    from_block, to_block, chunk_size = int(from_block), int(to_block), int(chunk_size)
    if from_block < 0 or to_block < from_block:
        raise ValueError(f"from_block {from_block} .. to_block {to_block} is not a block range")
    if chunk_size < 1:
        raise ValueError(f"chunk_size {chunk_size} must be at least 1")
    return [
        {"from_block": start, "to_block": min(start + chunk_size - 1, to_block)}
        for start in range(from_block, to_block + 1, chunk_size)
    ]
