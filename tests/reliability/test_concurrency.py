"""Several torchup processes at once: one shared cache, different or the same environment, a
`torchup lock` racing a `torchup sync`. No corruption, and a process that has to wait says so."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from filelock import FileLock

from tests.reliability.helpers import (
    Cli,
    Venv,
    assert_consistent,
    run_subprocess,
    subprocess_env,
)
from tests.support.faults import REPO_ROOT, cache_problems, environment_problems, torchup_command
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_wheel

from .conftest import World


def _popen(*args: object, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        torchup_command(*map(str, args)),
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _new_venv(path: Path, env: dict[str, str]) -> Venv:
    res = run_subprocess("venv", path, "--python", sys.executable, "-q", env=env)
    assert res.rc == 0, res.err
    return Venv(path)


def test_parallel_installs_into_different_venvs_share_one_cache(
    index_server: IndexServer, tmp_path: Path, cache_dir: Path
) -> None:
    # Bigger wheels so the downloads overlap in time; a cold cache so they race to fill it.
    wheels = [
        build_wheel(DistSpec("dep", "1.0", payload_bytes=2 << 20), tmp_path / "d"),
        build_wheel(
            DistSpec("app", "1.0", requires_dist=("dep",), payload_bytes=2 << 20), tmp_path / "d"
        ),
    ]
    index_server.publish("simple", wheels)
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir))
    venvs = [_new_venv(tmp_path / f"venv{i}", env) for i in range(3)]
    procs = [
        _popen("pip", "install", "app", "--python", v.root, "--index-url", index_server.index_url(), env=env)
        for v in venvs
    ]
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in procs]
    for rc, err in results:
        assert rc == 0, err
    for v in venvs:
        assert v.versions() == {"app": "1.0", "dep": "1.0"}
        assert_consistent(v, cache_dir)
    # The unpacked-wheel cache holds one tree per wheel, whoever won the race.
    assert len([p for p in (cache_dir / "wheels-v1").iterdir() if not p.name.startswith(".")]) == 2


def test_second_process_on_the_same_venv_waits_and_says_so(
    world: World, venv: Venv, cache_dir: Path
) -> None:
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir))
    lock = FileLock(str(venv.root / ".torchup.lock"))
    lock.acquire()  # another torchup process "is installing"
    try:
        proc = _popen("pip", "install", "app", "--python", venv.root, "--index-url", world.index, env=env)
        deadline = time.monotonic() + 30
        # it resolves and downloads, then waits for the environment
        while time.monotonic() < deadline and world.get_count("app-2.0-py3-none-any.whl$") == 0:
            time.sleep(0.05)
        time.sleep(1.0)
        assert proc.poll() is None, "did not wait for the environment lock"
        assert venv.versions() == {}
    finally:
        lock.release()
    rc = proc.wait(timeout=60)
    err = proc.stderr.read() if proc.stderr else ""
    assert rc == 0, err
    assert f"Waiting for another torchup process to finish with {venv.root}" in err
    assert venv.versions() == {"app": "2.0", "dep": "2.0"}
    assert_consistent(venv, cache_dir)


def test_two_processes_installing_into_the_same_venv(
    world: World, venv: Venv, cache_dir: Path
) -> None:
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir))
    index = ("--index-url", world.index)
    first = _popen("pip", "install", "app==1.0", "--python", venv.root, *index, env=env)
    second = _popen("pip", "install", "dep==2.0", "app==1.0", "--python", venv.root, *index, env=env)
    for proc in (first, second):
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    assert venv.versions()["app"] == "1.0"
    assert venv.versions()["dep"] in ("1.0", "2.0")  # whoever went last
    assert_consistent(venv, cache_dir)


def test_lock_while_sync(world: World, tmp_path: Path, cache_dir: Path, cli: Cli) -> None:
    """`torchup lock` rewriting pylock.toml while `torchup sync` reads it and installs."""
    from torchup.lock.io import read_lock

    project = tmp_path / "proj"
    project.mkdir()
    pyproject = project / "pyproject.toml"

    def write(requirement: str) -> None:
        pyproject.write_text(
            '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
            f'dependencies = ["{requirement}"]\n'
        )

    write("app==1.0")
    index = ("--default-index", world.index)
    cli.ok("lock", "--directory", project, *index)
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir))
    errors: list[str] = []
    stop = threading.Event()

    def keep_locking() -> None:
        requirement = "app==2.0"
        while not stop.is_set():
            write(requirement)
            res = run_subprocess("lock", "--directory", project, *index, env=env)
            if res.rc != 0:
                errors.append(res.err)
            requirement = "app==1.0" if requirement == "app==2.0" else "app==2.0"

    locker = threading.Thread(target=keep_locking)
    locker.start()
    try:
        for _ in range(1):
            res = run_subprocess(
                "sync", "--directory", project, *index, "-p", sys.executable, env=env
            )
            assert res.rc == 0, res.err
            read_lock(project / "pylock.toml")  # never torn
    finally:
        stop.set()
        locker.join()
    assert errors == []
    read_lock(project / "pylock.toml")
    venv = Venv(project / ".venv")
    assert environment_problems(venv.site_packages) == []
    assert venv.versions()["app"] in ("1.0", "2.0")
    assert cache_problems(cache_dir) == []
    assert sorted(p.name for p in project.iterdir()) == [".venv", "pylock.toml", "pyproject.toml"]
