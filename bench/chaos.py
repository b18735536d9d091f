"""Chaos / soak run: many `torchup pip install` runs against a loopback index that injects
random faults, with random SIGKILLs, checking after every run that nothing got corrupted.

    python bench/chaos.py --runs 100 --seed 1 --time-limit 300

Loopback only (an :class:`IndexServer` on 127.0.0.1; nothing else is contacted), bounded in
runs and time. Each run picks a target (app / dep / lib versions, so runs install, upgrade and
downgrade), 0-2 faults from the catalogue below on the files that run needs, and, with some
probability, a kill: either a kill point (the process SIGKILLs itself at the n-th os.replace /
os.rename / os.link / download chunk / temp file, see tests/support/faults.py) or a timer kill
from outside. Random parts of the shared cache are dropped before a run, so it goes to the
(faulty) network again. After each run:

* the environment must be consistent (every installed distribution's RECORD files present with
  the right hashes), killed or not;
* every cache entry must verify (archives match their sha256, pages decode, metadata parses,
  unpacked trees match their manifest);
* a run that failed without being killed must have failed cleanly (exit 1/2, an ``error:``
  paragraph, no traceback) and left the environment exactly as it was;
* after a kill or a failure, a normal run (faults cleared) must succeed: a recovery.

Every ``--lock-every`` runs, a `torchup lock` is killed in its lock-file write and the lock file
must still parse. The figures are printed at the end (and as JSON with ``--json``); the exit
status is 1 if any corruption, unclean error or failed recovery was found.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.support.faults import (  # noqa: E402
    KILL_ENV,
    FaultInjector,
    cache_leftovers,
    cache_problems,
    corrupt_zip,
    environment_problems,
    flip_byte,
    staging_leftovers,
    torchup_command,
    tree_snapshot,
)
from tests.support.server import IndexServer  # noqa: E402
from tests.support.wheels import DistSpec, build_wheel  # noqa: E402

VERSIONS = {"app": ["1.0", "2.0", "3.0"], "dep": ["1.0", "2.0"], "lib": ["1.0", "2.0"]}
KILL_OPS = ["chunk", "replace", "rename", "link", "mkstemp"]


def build_world(root: Path) -> list[Path]:
    wheels = []
    for version in VERSIONS["dep"]:
        wheels.append(build_wheel(DistSpec("dep", version, payload_bytes=512 << 10), root))
    for version in VERSIONS["lib"]:
        files = {f"lib/m{i}.py": f"X = {i}\n" for i in range(20)}
        files["lib/__init__.py"] = f"V = {version!r}\n"
        wheels.append(build_wheel(DistSpec("lib", version, files=files), root))
    for version in VERSIONS["app"]:
        wheels.append(
            build_wheel(
                DistSpec(
                    "app",
                    version,
                    requires_dist=("dep>=1", "lib>=1"),
                    payload_bytes=768 << 10,
                    files={
                        "app/__init__.py": f"V = {version!r}\n",
                        f"app/only_{version.replace('.', '_')}.py": "",
                        "zzz_app.py": "",
                    },
                    entry_points={"console_scripts": {"app-cli": "app:V"}},
                ),
                root,
            )
        )
    return wheels


@dataclass
class Figures:
    runs: int = 0
    successes: int = 0
    clean_failures: int = 0
    unclean_errors: int = 0
    kills_armed: int = 0
    kills: int = 0
    faults_injected: int = 0
    faults_by_kind: Counter = field(default_factory=Counter)
    recoveries: int = 0
    failed_recoveries: int = 0
    failed_runs_that_changed_env: int = 0
    corrupt_environments: int = 0
    corrupt_cache_entries: int = 0
    staging_leftovers_after_recovery: int = 0
    cache_temp_leftovers: int = 0
    lock_kills: int = 0
    torn_lock_files: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0


def add_random_faults(
    rng: random.Random, faults: FaultInjector, target: dict[str, str]
) -> list[str]:
    """0-2 faults on the pages, .metadata files and wheels this run needs."""
    chosen = []
    for _ in range(rng.choice([0, 1, 1, 2])):
        name = rng.choice(sorted(target))
        version = target[name]
        wheel = f"{name}-{version}-py3-none-any.whl"
        where = rng.choice([f"/simple/{name}/", f"{wheel}.metadata$", f"{wheel}$", f"{wheel}$"])
        is_file = where.endswith(".whl$")
        kind = rng.choice(
            [
                "status",
                "status",
                "429",
                "reset",
                "truncate",
                "wrong_length",
                "stall",
                "redirect",
                "wrong_hash",
                "range",
                "malformed",
                "missing",
            ]
        )
        times = rng.choice([1, 1, 2, -1]) if kind in ("status", "reset", "truncate") else 1
        if kind == "status":
            faults.status(where, rng.choice([500, 502, 503, 504]), times=times)
        elif kind == "429":
            faults.status(where, 429, times=1, retry_after=rng.choice(["0", "1"]))
        elif kind == "reset":
            faults.reset(where, rng.randrange(0, 4096), times=times)
        elif kind == "truncate":
            faults.truncate(where, rng.randrange(0, 4096), times=times)
        elif kind == "wrong_length":
            faults.wrong_length(where, rng.choice([-200, -1, 1, 200]))
        elif kind == "stall":
            faults.stall(
                where, 4, after_bytes=rng.randrange(0, 2048), before_headers=rng.random() < 0.5
            )
        elif kind == "redirect":
            faults.redirect(where, times=-1)
        elif kind == "wrong_hash":
            mutate = (
                corrupt_zip
                if is_file and rng.random() < 0.5
                else flip_byte(rng.randrange(-500, 500))
            )
            faults.body(where, mutate=mutate, times=rng.choice([1, -1]))
        elif kind == "range":
            if rng.random() < 0.5:
                faults.range_ignored(f"{wheel}$")
            else:
                faults.range_wrong(f"{wheel}$", rng.choice(["shift", "total", "short", "bytes"]))
        elif kind == "malformed":
            page = f"/simple/{name}/"
            body, ctype = rng.choice(
                [
                    (b'{"files": [', "application/vnd.pypi.simple.v1+json"),
                    (b'{"files": 7}', "application/vnd.pypi.simple.v1+json"),
                    (b"<html><![x[", "text/html"),
                    (b"\x00\xff", "text/html"),
                ]
            )
            faults.body(page, body, content_type=ctype, times=1)
            where = page
        elif kind == "missing":
            faults.status(f"{wheel}$", rng.choice([403, 404]), times=1)
            where = f"{wheel}$"
        chosen.append(f"{kind}@{where}")
    return chosen


def run(
    argv: list[str], env: dict[str, str], *, kill_after: float | None, timeout: float = 120
) -> tuple[int, str]:
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if kill_after is not None:
        try:
            out, err = proc.communicate(timeout=kill_after)
            return proc.returncode, err + out
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, err + out


def clean_failure(rc: int, text: str) -> bool:
    return (
        rc in (1, 2)
        and "error:" in text
        and "Traceback" not in text
        and "internal error" not in text
    )


def versions(site: Path) -> dict[str, str]:
    out = {}
    for info in site.glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].rpartition("-")
        out[name] = version
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--time-limit", type=float, default=300.0, help="stop after this many seconds"
    )
    parser.add_argument(
        "--kill-rate", type=float, default=0.4, help="share of runs that get a kill"
    )
    parser.add_argument("--lock-every", type=int, default=10)
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()

    rng = random.Random(args.seed)
    fig = Figures()
    scratch = Path(tempfile.mkdtemp(prefix="torchup-chaos-"))
    started = time.monotonic()
    server = IndexServer(scratch / "index").start()
    faults = FaultInjector(server)
    try:
        server.publish("simple", build_world(scratch / "dists"))
        cache = scratch / "cache"
        base_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TORCHUP_", "PIP_", "UV_"))
        }
        base_env.update(
            PYTHONPATH=str(REPO),
            PYTHONDONTWRITEBYTECODE="1",
            TORCHUP_CACHE_DIR=str(cache),
            TORCHUP_HTTP_RETRIES="3",
            TORCHUP_HTTP_TIMEOUT="1",
            PIP_CONFIG_FILE=os.devnull,
        )
        for var in (
            "http_proxy",
            "https_proxy",
            "HTTP_PROXY",
            "HTTPS_PROXY",
            "ALL_PROXY",
            "all_proxy",
        ):
            base_env.pop(var, None)
        venv = scratch / "venv"
        rc, text = run(
            torchup_command("venv", venv, "--python", sys.executable, "-q"),
            base_env,
            kill_after=None,
        )
        assert rc == 0, text
        site = next((venv / "lib").glob("python3.*/site-packages"))
        index = server.index_url("simple")
        project = scratch / "proj"
        project.mkdir()

        for i in range(args.runs):
            if time.monotonic() - started > args.time_limit:
                break
            fig.runs += 1
            target = {name: rng.choice(vs) for name, vs in VERSIONS.items()}
            server.configure("simple", pep658=rng.random() < 0.6)
            faults.clear()
            before_log = faults.count()
            chosen = add_random_faults(rng, faults, target)
            env = dict(base_env)
            kill_after = None
            if rng.random() < args.kill_rate:
                fig.kills_armed += 1
                if rng.random() < 0.6:
                    op = rng.choice(KILL_OPS)
                    n = rng.randint(1, {"chunk": 8, "link": 30}.get(op, 12))
                    env[KILL_ENV] = f"{op}:{n}" + (":after" if rng.random() < 0.3 else "")
                else:
                    kill_after = rng.uniform(0.3, 2.0)
            purge_cache(rng, cache)
            pins = [f"{n}=={v}" for n, v in sorted(target.items())]
            cmd = torchup_command("pip", "install", *pins, "--python", venv, "--index-url", index)
            snap = tree_snapshot(venv)
            rc, text = run(cmd, env, kill_after=kill_after)
            fig.faults_injected += faults.count() - before_log
            for injected in faults.log[before_log:]:
                fig.faults_by_kind[injected.kind] += 1
            killed = rc == -signal.SIGKILL
            fig.kills += killed
            label = (
                f"run {i}: {' '.join(pins)} faults={chosen} kill={env.get(KILL_ENV) or kill_after}"
            )
            if rc == 0:
                fig.successes += 1
                if versions(site) != {k: v for k, v in target.items()}:
                    fig.problems.append(f"{label}: rc 0 but installed {versions(site)}")
            elif not killed:
                if clean_failure(rc, text):
                    fig.clean_failures += 1
                    if tree_snapshot(venv) != snap:
                        fig.failed_runs_that_changed_env += 1
                        fig.problems.append(
                            f"{label}: failed (rc {rc}) and changed the environment"
                        )
                else:
                    fig.unclean_errors += 1
                    fig.problems.append(f"{label}: unclean failure rc={rc}: {text[-600:]}")
            env_problems = environment_problems(site)
            cache_bad = cache_problems(cache)
            if env_problems:
                fig.corrupt_environments += 1
                fig.problems.append(
                    f"{label}: corrupt environment after rc={rc}: {env_problems[:5]}"
                )
            if cache_bad:
                fig.corrupt_cache_entries += len(cache_bad)
                fig.problems.append(f"{label}: corrupt cache after rc={rc}: {cache_bad[:5]}")
            if rc != 0:
                faults.clear()
                rc2, text2 = run(cmd, base_env, kill_after=None)
                if rc2 == 0 and versions(site) == target:
                    fig.recoveries += 1
                else:
                    fig.failed_recoveries += 1
                    fig.problems.append(f"{label}: recovery failed rc={rc2}: {text2[-600:]}")
                if staging_leftovers(site):
                    fig.staging_leftovers_after_recovery += 1
                    fig.problems.append(f"{label}: staging leftovers {staging_leftovers(site)}")
                if environment_problems(site) or cache_problems(cache):
                    fig.corrupt_environments += bool(environment_problems(site))
                    fig.corrupt_cache_entries += len(cache_problems(cache))
                    fig.problems.append(f"{label}: corrupt after recovery")
            if args.lock_every and (i + 1) % args.lock_every == 0:
                check_lock_kill(rng, project, index, base_env, fig)
            print(
                f"[{i + 1:>4}/{args.runs}] rc={rc:>3} {'KILLED ' if killed else ''}"
                f"{' '.join(pins)} faults={len(chosen)}",
                flush=True,
            )
        fig.cache_temp_leftovers = len(cache_leftovers(cache))
    finally:
        faults.close()
        server.stop()
        fig.seconds = round(time.monotonic() - started, 1)
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    report(fig, args)
    bad = (
        fig.corrupt_environments
        + fig.corrupt_cache_entries
        + fig.unclean_errors
        + fig.failed_recoveries
        + fig.torn_lock_files
        + fig.failed_runs_that_changed_env
        + fig.staging_leftovers_after_recovery
    )
    return 1 if bad else 0


def purge_cache(rng: random.Random, cache: Path) -> None:
    """Drop random parts of the shared cache so runs go to the (faulty) network again: a warm
    cache would answer everything locally and no fault would ever be hit."""
    for bucket, chance in (
        ("simple-v1", 0.8),
        ("metadata-v1", 0.6),
        ("archives-v1", 0.6),
        ("wheels-v1", 0.3),
    ):
        if rng.random() < chance:
            shutil.rmtree(cache / bucket, ignore_errors=True)


def check_lock_kill(
    rng: random.Random, project: Path, index: str, env: dict[str, str], fig: Figures
) -> None:
    """Kill a `torchup lock` inside its lock-file write; the file must parse, old or new."""
    from torchup.lock.io import read_lock

    version = rng.choice(VERSIONS["app"])
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        f'dependencies = ["app=={version}"]\n'
    )
    kill_env = dict(env)
    kill_env[KILL_ENV] = rng.choice(["fsync:1", "fsync:1:after", "mkstemp:1:after", "replace:1"])
    rc, _ = run(
        torchup_command("lock", "--directory", project, "--default-index", index),
        kill_env,
        kill_after=None,
    )
    fig.lock_kills += rc == -signal.SIGKILL
    lock = project / "pylock.toml"
    if lock.exists():
        try:
            read_lock(lock)
        except Exception as exc:  # noqa: BLE001 - a torn lock is the finding
            fig.torn_lock_files += 1
            fig.problems.append(f"lock kill: pylock.toml does not parse: {exc}")


def report(fig: Figures, args: argparse.Namespace) -> None:
    rows = [
        ("runs", fig.runs),
        ("successful runs", fig.successes),
        ("clean failures (exit 1/2, one error paragraph)", fig.clean_failures),
        ("unclean errors (traceback / exit 70)", fig.unclean_errors),
        ("faults injected", fig.faults_injected),
        ("kills armed / processes killed", f"{fig.kills_armed} / {fig.kills}"),
        ("recoveries (normal run after a kill or failure)", fig.recoveries),
        ("failed recoveries", fig.failed_recoveries),
        ("failed runs that changed the environment", fig.failed_runs_that_changed_env),
        ("corrupt environments found", fig.corrupt_environments),
        ("corrupt cache entries found", fig.corrupt_cache_entries),
        ("staging leftovers after recovery", fig.staging_leftovers_after_recovery),
        ("lock writes killed / torn lock files", f"{fig.lock_kills} / {fig.torn_lock_files}"),
        ("cache temp files left by kills (pruned by `cache prune`)", fig.cache_temp_leftovers),
        ("wall time (s)", fig.seconds),
    ]
    width = max(len(r[0]) for r in rows)
    print()
    print(
        f"chaos: seed {args.seed}, {args.runs} runs requested, time limit {args.time_limit:.0f} s"
    )
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(
        "  faults by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(fig.faults_by_kind.items()))
    )
    for problem in fig.problems[:20]:
        print("  PROBLEM: " + problem)
    if args.json:
        data = {k: v for k, v in fig.__dict__.items()}
        data["faults_by_kind"] = dict(fig.faults_by_kind)
        Path(args.json).write_text(json.dumps(data, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
