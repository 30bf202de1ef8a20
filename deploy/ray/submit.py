"""Submit one `flexiclip run` to an existing Ray cluster with `ray job submit`.

    python deploy/ray/submit.py --address http://HEAD:8265 -- \\
        s3://bucket/catalogs/nightly.parquet --output s3://bucket/animations --prior auto

Everything after ``--`` is `flexiclip run`'s own arguments. The job carries this checkout as
its working directory and the pinned requirements (deploy/ray/runtime_env.yaml); its entrypoint
(deploy/ray/job_entry.py) checks the pins on the head, then runs `flexiclip run` there as the
Ray driver. Credentials are not sent: the nodes hold them (docs/clusters.md).

Options:
  --address URL        the cluster's job server (default: $RAY_API_SERVER_ADDRESS, else
                       $RAY_ADDRESS, else http://127.0.0.1:8265)
  --runtime-env FILE   the runtime_env YAML (default: deploy/ray/runtime_env.yaml)
  --no-pip             leave out the runtime_env's pip list: the nodes' Python already holds
                       the pins (offline clusters); job_entry.py still checks them
  --env NAME=VALUE     one more runtime_env variable (repeatable); settings only, never secrets
  --submission-id ID   the job's id (default: chosen by Ray)
  --no-wait            return once submitted instead of following the job's log to its end

Exit status: ``ray job submit``'s (with waiting: 0 when the job succeeded), or 2 for a bad option.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_RUNTIME_ENV = REPO_ROOT / "deploy" / "ray" / "runtime_env.yaml"
ENTRYPOINT = ("python", "deploy/ray/job_entry.py")
"""The job's entrypoint, relative to its working directory (the checkout)."""


def runtime_env(path: Path, *, pip: bool = True, extra_env: dict[str, str] | None = None) -> dict:
    """The runtime_env of ``path`` with paths resolved against the repository root.

    ``working_dir`` becomes absolute; a ``pip`` that names a requirements file becomes its list of
    requirement lines (``pip_check`` off: the pins are the check); ``extra_env`` is added to
    ``env_vars``.
    """
    env = yaml.safe_load(path.read_text()) or {}
    if "working_dir" in env:
        env["working_dir"] = str((REPO_ROOT / env["working_dir"]).resolve())
    if not pip:
        env.pop("pip", None)
    elif isinstance(env.get("pip"), str):
        lines = (REPO_ROOT / env["pip"]).read_text().splitlines()
        packages = [line.split("#", 1)[0].strip() for line in lines]
        env["pip"] = {"packages": [p for p in packages if p], "pip_check": False}
    if extra_env:
        env["env_vars"] = {**env.get("env_vars", {}), **extra_env}
    return env


def command(args: argparse.Namespace, run_args: list[str]) -> list[str]:
    """The ``ray job submit`` command line for ``args`` and `flexiclip run`'s ``run_args``."""
    extra: dict[str, str] = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"error: --env {item!r}: expected NAME=VALUE")
        extra[name] = value
    env = runtime_env(Path(args.runtime_env), pip=not args.no_pip, extra_env=extra)
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "job", "submit", "--address", args.address]
    cmd += ["--runtime-env-json", json.dumps(env)]
    if args.submission_id:
        cmd += ["--submission-id", args.submission_id]
    if args.no_wait:
        cmd.append("--no-wait")
    return [*cmd, "--", *ENTRYPOINT, *run_args]


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    own, run_args = (argv[: argv.index("--")], argv[argv.index("--") + 1 :]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog="deploy/ray/submit.py", description=__doc__.split("\n\n")[0])
    default_address = (
        os.environ.get("RAY_API_SERVER_ADDRESS") or os.environ.get("RAY_ADDRESS") or "http://127.0.0.1:8265"
    )
    parser.add_argument("--address", default=default_address)
    parser.add_argument("--runtime-env", default=str(DEFAULT_RUNTIME_ENV))
    parser.add_argument("--no-pip", action="store_true")
    parser.add_argument("--env", action="append", default=[])
    parser.add_argument("--submission-id")
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(own)
    if not run_args:
        parser.error("give flexiclip run's arguments after --: CATALOG --output ROOT [options]")
    return args, run_args


def main(argv: list[str]) -> int:
    args, run_args = parse(argv)
    return subprocess.run(command(args, run_args), check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
