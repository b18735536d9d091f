"""The console script's quick exit (cli/main.py console_main): same exit code, output,
atexit handlers and thread joins as a normal exit, minus the interpreter teardown."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "entry.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)


def test_console_main_keeps_exit_code_output_atexit_and_threads(tmp_path: Path) -> None:
    marker = tmp_path / "atexit-ran"
    joined = tmp_path / "thread-finished"
    proc = _run(
        f"""
        import atexit, sys, threading, time
        from pathlib import Path
        atexit.register(lambda: Path({str(marker)!r}).write_text("yes"))
        def slow():
            time.sleep(0.3)
            Path({str(joined)!r}).write_text("yes")
        threading.Thread(target=slow).start()  # non-daemon: a normal exit waits for it
        sys.argv = ["torchup", "--version"]
        sys.stdout.write("buffered, not yet flushed ")
        from torchup.cli.main import console_main
        console_main()
        print("not reached")
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("buffered, not yet flushed torchup ")
    assert "not reached" not in proc.stdout
    assert marker.read_text() == "yes"
    assert joined.read_text() == "yes"


def test_console_main_passes_a_failure_code_through(tmp_path: Path) -> None:
    proc = _run(
        f"""
        import sys
        sys.argv = ["torchup", "pip", "install", "-p", {str(tmp_path / "missing")!r}, "six"]
        from torchup.cli.main import console_main
        console_main()
        """,
        tmp_path,
    )
    assert proc.returncode not in (0, 70), proc.stderr  # a clear error, not an internal one
    assert "error" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr


def test_console_main_removes_a_no_cache_temporary_cache(tmp_path: Path) -> None:
    # Cache(None) (--no-cache) removes its directory from an atexit-run weakref.finalize.
    proc = _run(
        """
        import sys
        from torchup.cache import Cache
        cache = Cache(None)
        print(cache.dir)
        sys.argv = ["torchup", "--version"]
        from torchup.cli.main import console_main
        console_main()
        """,
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    created = Path(proc.stdout.splitlines()[0])
    assert created.name.startswith("torchup-cache-")
    assert not created.exists()
