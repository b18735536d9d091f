"""SIGKILL at chosen points, then a normal run.

A `torchup pip install` subprocess kills itself (``TORCHUP_TEST_KILL``, see
``tests/support/faults.py``) inside a download, a cache write, the unpacked-wheel cache, the
staging links and the install's renames; a `torchup lock` one inside its lock file write. Right
after the kill the environment must already be consistent (every installed distribution's
RECORD files present with the right hashes: a distribution is either fully there or not
there), the lock file must parse (old or new, never truncated), and every cache entry must
verify. Then a normal run must finish the job and leave no staging leftovers behind.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    Cli,
    Venv,
    assert_consistent,
    run_subprocess,
    subprocess_env,
)
from tests.support.faults import (
    KILL_ENV,
    cache_problems,
    environment_problems,
    staging_leftovers,
)
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_wheel

PAYLOAD = 1 << 20  # 4 download chunks of 256 KiB per wheel


def _specs(version: str) -> list[DistSpec]:
    return [
        DistSpec("dep", version, payload_bytes=PAYLOAD),
        DistSpec(
            "app",
            version,
            requires_dist=("dep>=1",),
            payload_bytes=PAYLOAD,
            files={
                "app/__init__.py": f"VERSION = {version!r}\n\ndef main():\n    print('hi')\n",
                f"app/sub/mod_{version.replace('.', '_')}.py": "X = 1\n",
                "zzz_app_last.py": "# sorts after app-*.dist-info\n",
            },
            entry_points={"console_scripts": {"app-cli": "app:main"}},
        ),
    ]


@pytest.fixture
def kill_world(index_server: IndexServer, tmp_path: Path) -> IndexServer:
    wheels = [build_wheel(s, tmp_path / "dists") for v in ("1.0", "2.0") for s in _specs(v)]
    index_server.publish("simple", wheels)
    return index_server


# (kill point, cold cache?, what it interrupts). Counts are per process, in call order, as
# measured for this world: app 1.0 + dep 1.0 installed, then `pip install app==2.0 dep==2.0`
# (downloads: 10 chunks, 2 commits; renames: 2 unpacked-cache commits, as both wheels are
# unpacked and staged before anything is committed, then 4 parking app 1.0, 4 placing app 2.0
# (its dist-info last), 2 parking dep 1.0, 2 placing dep 2.0). "cold" runs the killed process
# on an empty cache, so page and metadata cache writes are in its path too.
KILL_POINTS = [
    ("chunk:2", False, "the first wheel download, half-way"),
    ("replace:1:after", False, "right after the first download is committed"),
    ("rename:1:after", False, "right after an unpacked wheel is committed to the cache"),
    ("link:3", False, "staging a wheel's files"),
    ("rename:4", False, "parking app 1.0 (its dist-info is already gone)"),
    ("rename:8", False, "placing app 2.0 (package placed, dist-info not yet)"),
    ("rename:10:after", False, "app 2.0 in place, dep not touched yet"),
    ("rename:12:after", False, "dep 1.0 parked, dep 2.0 not placed"),
    ("replace:3", True, "page / metadata cache writes on a cold cache"),
    ("mkstemp:4", True, "creating a cache entry's temporary file on a cold cache"),
]
# The default run keeps one kill point per phase; `-m slow` (or RELIABILITY_SLOW=1) runs all.
_DEFAULT = {"chunk:2", "rename:1:after", "rename:4", "rename:8", "replace:3"}


@pytest.mark.parametrize(
    ("spec", "cold", "where"),
    [
        pytest.param(k, c, w, id=f"{k}{'-cold' if c else ''}",
                     marks=() if k in _DEFAULT else pytest.mark.slow)
        for k, c, w in KILL_POINTS
    ],
)
def test_sigkilled_install_then_normal_run(
    cli: Cli,
    venv: Venv,
    kill_world: IndexServer,
    cache_dir: Path,
    tmp_path: Path,
    spec: str,
    cold: bool,
    where: str,
) -> None:
    index = kill_world.index_url("simple")
    cli.ok("pip", "install", "app==1.0", "dep==1.0", "--python", venv.root, "--index-url", index)
    if cold:
        import shutil

        cache_dir = tmp_path / "cold-cache"
        shutil.copytree(
            Path(os.environ["TORCHUP_CACHE_DIR"]) / "interpreters-v1", cache_dir / "interpreters-v1"
        )
        os.environ["TORCHUP_CACHE_DIR"] = str(cache_dir)  # restored by the root conftest
    args = ("pip", "install", "app==2.0", "dep==2.0", "--python", venv.root, "--index-url", index)
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir), **{KILL_ENV: spec})
    res = run_subprocess(*args, env=env)
    assert res.rc == -signal.SIGKILL, f"{spec} ({where}) was not reached: rc={res.rc}\n{res.err}"
    # Consistent right after the kill, before anything repairs it.
    assert environment_problems(venv.site_packages) == []
    assert cache_problems(cache_dir) == []
    versions = venv.versions()
    assert versions.get("app") in (None, "1.0", "2.0") and versions.get("dep") in (None, "1.0", "2.0")
    # A normal run finishes the job and cleans up.
    cli.ok(*args)
    assert venv.versions() == {"app": "2.0", "dep": "2.0"}
    assert staging_leftovers(venv.site_packages) == []
    assert_consistent(venv, cache_dir)
    assert (venv.site_packages / "app" / "sub" / "mod_2_0.py").exists()
    assert not (venv.site_packages / "app" / "sub" / "mod_1_0.py").exists()
    assert (venv.root / "bin" / "app-cli").exists()


@pytest.mark.slow
def test_sigkill_at_a_random_moment(
    cli: Cli, venv: Venv, kill_world: IndexServer, cache_dir: Path
) -> None:
    """Kill by the clock, not by operation: the process dies wherever it happens to be."""
    import random
    import subprocess

    from tests.support.faults import REPO_ROOT, torchup_command

    index = kill_world.index_url("simple")
    rng = random.Random(20240601)
    args = ("pip", "install", "app==2.0", "dep==2.0", "--python", venv.root, "--index-url", index)
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir))
    for _ in range(2):
        cli.ok("pip", "install", "app==1.0", "dep==1.0", "--python", venv.root, "--index-url", index)
        proc = subprocess.Popen(
            torchup_command(*args), cwd=REPO_ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.3, 1.2))
        proc.kill()
        proc.wait()
        assert environment_problems(venv.site_packages) == []
        assert cache_problems(cache_dir) == []
        cli.ok(*args)
        assert venv.versions() == {"app": "2.0", "dep": "2.0"}
        assert_consistent(venv, cache_dir)


# --- lock files ----------------------------------------------------------------------------


def _project(root: Path, requirement: str) -> Path:
    root.mkdir(exist_ok=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        f'dependencies = ["{requirement}"]\n'
    )
    return root


@pytest.mark.parametrize(
    "spec", ["fsync:1", pytest.param("fsync:1:after", marks=pytest.mark.slow), "mkstemp:1:after"]
)
def test_sigkilled_lock_leaves_the_old_lock_or_the_new_one(
    cli: Cli, kill_world: IndexServer, cache_dir: Path, tmp_path: Path, spec: str
) -> None:
    from torchup.lock.io import read_lock

    index = kill_world.index_url("simple")
    project = _project(tmp_path / "proj", "app==1.0")
    cli.ok("lock", "--directory", project, "--default-index", index)
    lock_path = project / "pylock.toml"
    old = lock_path.read_text()
    _project(project, "app==2.0")
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir), **{KILL_ENV: spec})
    res = run_subprocess("lock", "--directory", project, "--default-index", index, env=env)
    assert res.rc == -signal.SIGKILL, res.err
    text = lock_path.read_text()
    assert text == old  # killed before the rename: the old lock, whole
    read_lock(lock_path)
    leftovers = sorted(p.name for p in project.iterdir() if p.name.endswith(".tmp"))
    # the normal run removes what the killed one left (once it is past a 2 s grace period)
    for name in leftovers:
        os.utime(project / name, (time.time() - 10, time.time() - 10))
    cli.ok("lock", "--directory", project, "--default-index", index)
    new = read_lock(lock_path)
    assert {p.name: str(p.version) for p in new.packages}["app"] == "2.0"
    assert sorted(p.name for p in project.iterdir()) == ["pylock.toml", "pyproject.toml"]
    assert cache_problems(cache_dir) == []


@pytest.mark.slow
def test_lock_write_is_all_or_nothing_under_concurrent_readers(
    kill_world: IndexServer, cache_dir: Path, tmp_path: Path
) -> None:
    """Readers polling the lock file while `torchup lock` rewrites it never see a torn file."""
    import subprocess
    import threading

    from tests.support.faults import REPO_ROOT, torchup_command
    from torchup.lock.io import read_lock

    index = kill_world.index_url("simple")
    project = _project(tmp_path / "proj", "app==1.0")
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir))
    assert run_subprocess("lock", "--directory", project, "--default-index", index, env=env).rc == 0
    errors: list[str] = []
    reads = [0]
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                read_lock(project / "pylock.toml")
                reads[0] += 1
            except Exception as exc:  # noqa: BLE001 - any failure is the finding
                errors.append(repr(exc))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for requirement in ("app==2.0", "app==1.0", "app==2.0"):
            _project(project, requirement)
            proc = subprocess.run(
                torchup_command("lock", "--directory", project, "--default-index", index),
                cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60,
            )
            assert proc.returncode == 0, proc.stderr
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert reads[0] > 0

