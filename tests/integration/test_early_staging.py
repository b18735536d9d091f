"""Wheels staged while the resolver works (cli/pip_install.py ``WheelPipeline.start_early``).

The wheel of a version the resolver picks, or a root requirement pins (``==``), is downloaded
(unless it is in the archive cache), unpacked and staged at once; the final plan reuses it when
it installs exactly that file, and discards it otherwise (backtracking, a failed resolution). These tests check the
outcome a user sees (installed set, REQUESTED, scripts) and that nothing staged stays behind.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.integration.test_pip_install import Venv, index_args, publish, tree_snapshot
from tests.support.cli import Cli
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec

APP = DistSpec(
    "app",
    "1.0",
    requires_dist=("dep==1.0",),
    files={"app/__init__.py": "def main():\n    print('app ran')\n"},
    entry_points={"console_scripts": {"app-cli": "app:main"}},
)
DEP = DistSpec("dep", "1.0")

# `a` 2.0 needs b and c, whose needs conflict (d==1 against d==2): the resolver picks a 2.0
# and b 1.0 before it finds out, then backtracks to a 1.0, which needs nothing.
A1 = DistSpec("a", "1.0")
A2 = DistSpec("a", "2.0", requires_dist=("b", "c"))
B1 = DistSpec("b", "1.0", requires_dist=("d==1.0",))
C1 = DistSpec("c", "1.0", requires_dist=("d==2.0",))
D1 = DistSpec("d", "1.0")
D2 = DistSpec("d", "2.0")


def _leftovers(venv: Venv) -> list[str]:
    return sorted(p.name for p in venv.site_packages.iterdir() if p.name.startswith(".torchup-"))


def test_pinned_cached_wheels_are_staged_while_resolving_and_used(
    cli: Cli, make_venv: Callable[..., Venv], index_server: IndexServer, tmp_path: Path
) -> None:
    publish(index_server, tmp_path / "dists", APP, DEP)
    first = make_venv("first")
    res = cli.ok("pip", "install", "-v", "app==1.0", "dep==1.0", "--python", first.root, *index_args(index_server))
    # Nothing was in the cache: both were downloaded while resolving, then staged.
    assert "2 of 2 wheels were staged while resolving" in res.err, res.err
    second = make_venv("second")
    res = cli.ok("pip", "install", "-v", "app==1.0", "dep==1.0", "--python", second.root, *index_args(index_server))
    assert "2 of 2 wheels were staged while resolving" in res.err, res.err
    assert "Discarded" not in res.err
    assert second.metadata_versions() == {"app": "1.0", "dep": "1.0"}
    assert (second.site_packages / "app-1.0.dist-info" / "REQUESTED").exists()
    assert (second.site_packages / "dep-1.0.dist-info" / "REQUESTED").exists()
    assert second.run("import subprocess, sys; print(subprocess.run([sys.prefix + '/bin/app-cli'], capture_output=True, text=True).stdout.strip())") == "app ran"
    assert _leftovers(second) == []
    # Same RECORD as the install that staged after resolving, but for the console script
    # (its shebang names the venv).
    for name in ("app-1.0.dist-info", "dep-1.0.dist-info"):
        rows = [(env.site_packages / name / "RECORD").read_text().splitlines() for env in (first, second)]
        assert [r for r in rows[0] if not r.startswith("../")] == [r for r in rows[1] if not r.startswith("../")]
        assert [r.split(",")[0] for r in rows[0]] == [r.split(",")[0] for r in rows[1]]


def test_a_pick_undone_by_backtracking_is_discarded(
    cli: Cli, make_venv: Callable[..., Venv], index_server: IndexServer, tmp_path: Path
) -> None:
    publish(index_server, tmp_path / "dists", A1, A2, B1, C1, D1, D2)
    # Fill the archive cache with the wheels the doomed picks use.
    scratch = make_venv("scratch")
    cli.ok("pip", "install", "--no-deps", "a==2.0", "b==1.0", "d==1.0", "--python", scratch.root, *index_args(index_server))
    fresh = make_venv("fresh")
    res = cli.ok("pip", "install", "-v", "a", "--python", fresh.root, *index_args(index_server))
    assert "Discarded a==2.0, staged while resolving" in res.err, res.err
    assert "Discarded b==1.0, staged while resolving" in res.err, res.err
    assert fresh.metadata_versions() == {"a": "1.0"}
    assert _leftovers(fresh) == []
    assert sorted(p.name for p in fresh.site_packages.iterdir() if p.suffix != ".pth") == [
        "a",
        "a-1.0.dist-info",
    ]


def test_a_failed_resolution_leaves_no_staged_wheel(
    cli: Cli, venv: Venv, make_venv: Callable[..., Venv], index_server: IndexServer, tmp_path: Path
) -> None:
    publish(index_server, tmp_path / "dists", B1, C1, D1, D2)
    scratch = make_venv("scratch")
    cli.ok("pip", "install", "--no-deps", "b==1.0", "c==1.0", "--python", scratch.root, *index_args(index_server))
    before = tree_snapshot(venv.root)
    # Both pins are staged as soon as their pages are read; their dependencies conflict.
    res = cli("pip", "install", "-v", "b==1.0", "c==1.0", "--python", venv.root, *index_args(index_server))
    assert res.rc != 0
    assert "d" in res.err and "Traceback" not in res.err
    assert tree_snapshot(venv.root) == before
    assert _leftovers(venv) == []


def test_dry_run_stages_nothing(
    cli: Cli, venv: Venv, make_venv: Callable[..., Venv], index_server: IndexServer, tmp_path: Path
) -> None:
    publish(index_server, tmp_path / "dists", APP, DEP)
    scratch = make_venv("scratch")
    cli.ok("pip", "install", "app==1.0", "--python", scratch.root, *index_args(index_server))
    before = tree_snapshot(venv.root)
    res = cli.ok("pip", "install", "-v", "--dry-run", "app==1.0", "--python", venv.root, *index_args(index_server))
    assert "staged while resolving" not in res.err
    assert " + app==1.0" in res.out + res.err
    assert tree_snapshot(venv.root) == before


def test_a_discarded_pick_whose_download_failed_does_not_fail_the_install(
    cli: Cli, make_venv: Callable[..., Venv], index_server: IndexServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORCHUP_HTTP_RETRIES", "0")  # the failing download is waited for
    publish(index_server, tmp_path / "dists", A1, A2, B1, C1, D1, D2)
    # The doomed pick's wheel cannot be downloaded (every try is cut short after 200 bytes; its
    # 44-byte PEP 658 metadata, which the resolver reads, still gets through): it is discarded
    # by backtracking before anyone needs it, so the install goes on.
    index_server.truncate("a-2.0-py3-none-any.whl", after_bytes=200, times=100)
    fresh = make_venv("fresh")
    res = cli.ok("pip", "install", "-v", "a", "--python", fresh.root, *index_args(index_server))
    assert fresh.metadata_versions() == {"a": "1.0"}
    assert _leftovers(fresh) == []
    assert any("a-2.0-py3-none-any.whl" in r.path for r in index_server.requests), res.err


def test_a_failed_early_download_of_a_needed_wheel_fails_cleanly(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCHUP_HTTP_RETRIES", "0")
    publish(index_server, tmp_path / "dists", APP, DEP)
    index_server.fail("dep-1.0-py3-none-any.whl", status=404, times=100)
    before = tree_snapshot(venv.root)
    res = cli("pip", "install", "app==1.0", "--python", venv.root, *index_args(index_server))
    assert res.rc != 0
    assert "dep-1.0-py3-none-any.whl" in res.err and "Traceback" not in res.err
    assert tree_snapshot(venv.root) == before
    assert _leftovers(venv) == []


def test_pip_sync_stages_pinned_wheels_while_resolving(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    publish(index_server, tmp_path / "dists", APP, DEP, D1)
    cli.ok("pip", "install", "d==1.0", "--python", venv.root, *index_args(index_server))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("app==1.0\ndep==1.0\n")
    res = cli.ok("pip", "sync", "-v", requirements, "--python", venv.root, *index_args(index_server))
    assert "2 of 2 wheels were staged while resolving" in res.err, res.err
    assert " - d==1.0" in res.err  # extraneous, removed as before
    assert venv.metadata_versions() == {"app": "1.0", "dep": "1.0"}
    assert _leftovers(venv) == []


def test_an_environment_that_cannot_be_locked(
    cli: Cli, venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    """Something in the way of the lock file (a directory here; a read-only environment in
    real life): a run with nothing to do still succeeds, one that must change the environment
    fails with a clear error and changes nothing."""
    publish(index_server, tmp_path / "dists", APP, DEP)
    cli.ok("pip", "install", "dep==1.0", "--python", venv.root, *index_args(index_server))
    lock = venv.root / ".torchup.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    res = cli.ok("pip", "install", "dep==1.0", "--python", venv.root, *index_args(index_server))
    assert "Audited 1 package in" in res.err
    before = tree_snapshot(venv.root, skip=())
    res = cli("pip", "install", "app==1.0", "--python", venv.root, *index_args(index_server))
    assert res.rc not in (0, 70), res.err
    assert "cannot lock the environment" in res.err and ".torchup.lock" in res.err
    assert "Traceback" not in res.err and "internal error" not in res.err
    assert tree_snapshot(venv.root, skip=()) == before


def test_early_downloads_show_in_the_progress_display(
    venv: Venv, index_server: IndexServer, tmp_path: Path
) -> None:
    """On a terminal, downloads started while resolving are shown (the biggest file, a CUDA
    torch wheel, is usually one of them). Both wheels here are early picks (a root pin and the
    dependency the resolver decides), so neither would appear if only the downloads left for
    after resolution had a progress line."""
    import os
    import pty
    import subprocess

    publish(index_server, tmp_path / "dists", APP, DEP)
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "TERM")}
    env["TERM"] = "xterm"
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from torchup.cli.main import console_main; console_main()",
         "pip", "install", "app==1.0", "--python", str(venv.root), *index_args(index_server)],
        stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True,
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=120) == 0
    os.close(primary)
    text = b"".join(chunks).decode("utf-8", "replace")
    bars = [seg for seg in text.replace("\r", "\n").split("\n") if "\u2501" in seg]  # bar glyph
    assert any("app" in bar for bar in bars) and any("dep" in bar for bar in bars), text
    assert "Resolved 2 packages" in text and " + app==1.0" in text and " + dep==1.0" in text
    assert venv.metadata_versions() == {"app": "1.0", "dep": "1.0"}


def test_free_workers_take_the_biggest_waiting_wheel_first(
    venv: Venv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Picks arrive in page order; a worker that frees up takes the biggest wheel waiting, so a
    big one (botocore: 3,000 files) is not staged last, alone, after a dozen small ones. A
    preparation cancelled while waiting never runs, and one still waiting when the pipeline
    closes is cancelled rather than left pending."""
    import threading

    from torchup.cli.context import Context
    from torchup.cli.parser import build_parser
    from torchup.cli.pip_install import WheelPipeline, select_interpreter

    monkeypatch.setenv("TORCHUP_CACHE_DIR", str(tmp_path / "cache"))
    ns = build_parser().parse_args(["pip", "install", "x", "--python", str(venv.root)])
    ctx = Context(ns)
    interp = select_interpreter(ctx, ns)
    started: list[int] = []
    gate = threading.Event()

    def job(size: int) -> Callable[[], Any]:
        def run() -> Any:
            started.append(size)
            assert gate.wait(10)
            return size

        return run

    with WheelPipeline.open(
        ctx, interp, link_mode="hardlink", compile_bytecode=False, requested=set()
    ) as pipeline:
        workers = pipeline._executor()._max_workers
        # Occupy every worker, then queue sizes in page order while they are busy.
        busy = [pipeline._submit_stage(10**9, job(-1)) for _ in range(workers)]
        while len(started) < workers:
            gate.wait(0.01)
        queued = {size: pipeline._submit_stage(size, job(size)) for size in (5, 900, 40, 7000, 1)}
        assert queued[40].cancel()  # cancelled while waiting: never runs
        last = pipeline._submit_stage(0, job(0))
        gate.set()
        assert [f.result(10) for f in busy] == [-1] * workers
        assert [queued[s].result(10) for s in (7000, 900, 5, 1)] == [7000, 900, 5, 1]
        assert last.result(10) == 0
        assert started[workers:] == sorted(started[workers:], reverse=True) == [7000, 900, 5, 1, 0]
        # One still waiting when the pipeline closes: cancelled, not pending forever.
        gate.clear()
        blockers = [pipeline._submit_stage(10**9, job(-2)) for _ in range(workers)]
        while started.count(-2) < workers:
            gate.wait(0.01)
        orphan = pipeline._submit_stage(3, job(3))
        pool = pipeline._executor()

        def release_once_closing() -> None:
            # The workers are freed only once the pipeline has begun shutting its pool down.
            while not pool._shutdown:  # type: ignore[attr-defined]
                gate.wait(0.01)
            gate.set()

        threading.Thread(target=release_once_closing).start()
    assert all(b.result(10) == -2 for b in blockers)
    assert orphan.cancelled() and 3 not in started
