"""Fixtures for the real-PyPI comparison against uv (``tests/network/test_real_sets.py``).

Opt-in: ``python -m pytest -m network tests/network``. At session start uv is installed from
PyPI into a temporary venv (the comparison tests skip when that fails), then every selected
(set, target) pair is compiled by both tools in the background, a few processes at a time; each
test waits only for its own pair, so results arrive while the run goes on.

Knobs (environment variables of the pytest process, read once):

* ``COMPARE_UV``: path of an existing ``uv`` binary to use instead of installing one.
* ``COMPARE_CACHE_DIR``: keep each tool's cache under ``DIR/torchup`` and ``DIR/uv`` across
  runs (warm); default: fresh, empty caches in the session's tmp dir (cold, fair timings).
* ``COMPARE_WORKERS``: concurrent torchup processes (default 1); uv runs beside them in one more
  worker. The machine has 2 cores: more workers inflate the timings.
* ``COMPARE_TIMEOUT``: seconds one compile may take (default 900).
* ``COMPARE_REPORT``: write every pair's result (pins, times, stderr tails) there as JSON.
* ``COMPARE_WRITE_DOC=1``: regenerate ``docs/uv-differences.md`` from the results and the
  reasons in ``sets.toml`` (only when the run covered every pair). From a saved report:
  ``python tests/network/conftest.py REPORT.json``.

Each tool runs in its own empty working directory with an environment cleared of ``PIP_*``,
``UV_*``, ``TORCHUP_*`` and ``VIRTUAL_ENV`` (the machine's pip.conf and its extra local indexes
must not leak in), ``PIP_CONFIG_FILE=/dev/null``, ``UV_NO_CONFIG=1`` and
``UV_PYTHON_DOWNLOADS=never``; nothing is shared between the tools but the inputs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SETS_FILE = Path(__file__).with_name("sets.toml")
INDEX_URL = "https://pypi.org/simple"
TOOLS = ("torchup", "uv")


def settings(path: Path = SETS_FILE) -> dict[str, Any]:
    """The run-wide settings of sets.toml: exclude-newer, python-version, targets."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {
        "exclude_newer": data["exclude-newer"],
        "python_version": data["python-version"],
        "targets": dict(data["targets"]),
    }


# --- running the tools ----------------------------------------------------------------------


@dataclass
class Run:
    tool: str
    command: list[str]
    returncode: int | None  # None: timed out
    seconds: float
    pins: dict[str, str] = field(default_factory=dict)  # canonical name -> normalized version
    other_lines: list[str] = field(default_factory=list)  # output lines that are not name==version
    stderr_tail: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "TORCHUP_")) and k != "VIRTUAL_ENV"
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env.update(extra)
    return env


def _norm_version(text: str) -> str:
    try:
        return str(Version(text))
    except InvalidVersion:
        return text


def parse_pins(text: str) -> tuple[dict[str, str], list[str]]:
    pins: dict[str, str] = {}
    other: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip().rstrip("\\").strip()
        if not line or line.startswith("--"):
            continue
        line = line.split(";", 1)[0].strip()
        if "==" in line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name.split("[", 1)[0].strip())] = _norm_version(version.strip())
        else:
            other.append(line)
    return pins, other


def _torchup_exe() -> list[str]:
    exe = shutil.which("torchup", path=str(Path(sys.executable).parent)) or shutil.which("torchup")
    return [exe] if exe else [sys.executable, "-m", "torchup.cli.main"]


class Comparer:
    """Runs every (set, target, tool) job in background pools; ``pair()`` waits for one pair.

    A set is anything with ``id``, ``requirements`` and ``args`` (the test module's ``ReqSet``).
    """

    def __init__(
        self,
        uv: Path,
        work: Path,
        cache_root: Path,
        config: dict[str, Any],
        *,
        workers: int = 1,
        timeout: float = 900.0,
    ) -> None:
        self.uv = uv
        self.uv_version = ""
        self.work = work
        self.cache_root = cache_root
        self.config = config
        self.timeout = timeout
        self.pools = {
            "torchup": ThreadPoolExecutor(
                max_workers=max(1, workers), thread_name_prefix="torchup"
            ),
            "uv": ThreadPoolExecutor(max_workers=1, thread_name_prefix="uv"),
        }
        self.futures: dict[tuple[str, str, str], Future[Run]] = {}
        self.lock = threading.Lock()
        self.results: dict[tuple[str, str], dict[str, Any]] = {}

    def command(self, tool: str, req_file: Path, target: str, args: tuple[str, ...]) -> list[str]:
        common = [
            str(req_file),
            "--no-header",
            "--no-annotate",
            "--index-url",
            INDEX_URL,
            "--python-version",
            self.config["python_version"],
            "--python-platform",
            self.config["targets"][target],
            "--exclude-newer",
            self.config["exclude_newer"],
            "--cache-dir",
            str(self.cache_root / tool),
            *args,
        ]
        if tool == "uv":
            # --python: a concrete interpreter for sdist builds. Without it uv discovers one on
            # PATH for every run (pyenv shims here: 1-3 s of the wall time, not resolution).
            return [
                str(self.uv),
                "pip",
                "compile",
                "--no-python-downloads",
                "--python",
                sys.executable,
                *common,
            ]
        return [*_torchup_exe(), "pip", "compile", "--no-progress", *common]

    def _run(self, tool: str, rs: Any, target: str) -> Run:
        cwd = self.work / rs.id / target / tool
        cwd.mkdir(parents=True, exist_ok=True)
        req_file = cwd / "requirements.in"
        req_file.write_text("\n".join(rs.requirements) + "\n", encoding="utf-8")
        cmd = self.command(tool, req_file, target, tuple(rs.args))
        env = clean_env(UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", NO_COLOR="1")
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=self.timeout
            )
        except subprocess.TimeoutExpired as exc:
            err = exc.stderr.decode() if isinstance(exc.stderr, bytes) else (exc.stderr or "")
            return Run(tool, cmd, None, time.monotonic() - started, stderr_tail=err[-3000:])
        seconds = time.monotonic() - started
        (cwd / "stdout.txt").write_text(proc.stdout, encoding="utf-8")
        (cwd / "stderr.txt").write_text(proc.stderr, encoding="utf-8")
        pins, other = parse_pins(proc.stdout) if proc.returncode == 0 else ({}, [])
        return Run(tool, cmd, proc.returncode, seconds, pins, other, proc.stderr[-3000:])

    def submit(self, rs: Any, target: str) -> None:
        with self.lock:
            for tool in TOOLS:
                key = (rs.id, target, tool)
                if key not in self.futures:
                    self.futures[key] = self.pools[tool].submit(self._run, tool, rs, target)

    def pair(self, rs: Any, target: str) -> tuple[Run, Run]:
        self.submit(rs, target)
        ours = self.futures[(rs.id, target, "torchup")].result()
        theirs = self.futures[(rs.id, target, "uv")].result()
        return ours, theirs

    def record(self, rs: Any, target: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.results[(rs.id, target)] = entry

    def close(self) -> None:
        for pool in self.pools.values():
            pool.shutdown(wait=False, cancel_futures=True)


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def uv_exe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """uv, installed from PyPI into a temporary venv (or ``$COMPARE_UV``); skips when it can't."""
    given = os.environ.get("COMPARE_UV")
    if given:
        return Path(given)
    venv = tmp_path_factory.mktemp("uv-venv")
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300
        )
        subprocess.run(
            [str(bindir / "python"), "-m", "pip", "install", "--index-url", INDEX_URL, "uv"],
            check=True,
            capture_output=True,
            env=clean_env(),
            timeout=600,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        pytest.skip(f"could not install uv from PyPI: {exc}")
    exe = bindir / ("uv.exe" if os.name == "nt" else "uv")
    if not exe.exists():
        pytest.skip("uv installed but its binary is missing")
    return exe


@pytest.fixture(scope="session")
def comparer(
    request: pytest.FixtureRequest, uv_exe: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Comparer]:
    cache = os.environ.get("COMPARE_CACHE_DIR")
    comp = Comparer(
        uv_exe,
        tmp_path_factory.mktemp("compare-work"),
        Path(cache) if cache else tmp_path_factory.mktemp("compare-caches"),
        settings(),
        workers=int(os.environ.get("COMPARE_WORKERS", "1")),
        timeout=float(os.environ.get("COMPARE_TIMEOUT", "900")),
    )
    comp.uv_version = subprocess.run(
        [str(uv_exe), "--version"], capture_output=True, text=True, env=clean_env()
    ).stdout.strip()
    request.config.stash[COMPARER_KEY] = comp
    # Queue every selected pair now, in collection order, so the pools keep busy. Not under
    # pytest-xdist: a worker's session lists every item, not only the ones it will run.
    items = [] if hasattr(request.config, "workerinput") else request.session.items
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "pair" in callspec.params:
            rs, target = callspec.params["pair"]
            comp.submit(rs, target)
    try:
        yield comp
    finally:
        comp.close()


COMPARER_KEY = pytest.StashKey[Comparer]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    comp = config.stash.get(COMPARER_KEY, None)
    if comp is None or not comp.results:
        return
    tr = terminalreporter
    tr.section(f"torchup vs {comp.uv_version or 'uv'}")
    rows = sorted(comp.results.values(), key=lambda e: (e["order"], e["target"]))
    counts = {s: sum(1 for e in rows if e["status"] == s) for s in ("equal", "listed", "differs")}
    for e in rows:
        tu, uv = e["torchup"], e["uv"]
        tr.write_line(
            f"{e['set']:<28} {e['target']:<8} {e['status']:<8} "
            f"torchup {tu['seconds']:7.1f}s{'' if tu['returncode'] == 0 else ' FAIL':<5} "
            f"uv {uv['seconds']:6.1f}s{'' if uv['returncode'] == 0 else ' FAIL'}"
        )
    tr.write_line(
        f"{counts['equal']} equal, {counts['listed']} differ only as listed, "
        f"{counts['differs']} differ"
    )
    out = os.environ.get("COMPARE_REPORT")
    if out:
        Path(out).write_text(
            json.dumps({"uv": comp.uv_version, "pairs": rows}, indent=2) + "\n", encoding="utf-8"
        )
        tr.write_line(f"report written to {out}")
    if os.environ.get("COMPARE_WRITE_DOC"):
        try:
            write_doc(rows, comp.uv_version)
        except ValueError as exc:
            tr.write_line(f"docs/uv-differences.md not written: {exc}")
        else:
            tr.write_line(f"wrote {DOC_FILE}")


# --- docs/uv-differences.md -------------------------------------------------------------------

DOC_FILE = Path(__file__).resolve().parents[2] / "docs" / "uv-differences.md"


def _pins(side: Any, other: Any = ()) -> str:
    if side == "error":
        return "fails"
    if not side:
        return "resolves" if other == "error" else "—"
    return ", ".join(f"`{p}`" for p in side)


def write_doc(rows: list[dict[str, Any]], uv_version: str, path: Path = DOC_FILE) -> None:
    data = tomllib.loads(SETS_FILE.read_text(encoding="utf-8"))
    conf = settings()
    all_targets = list(conf["targets"])
    expected = {(s["id"], t) for s in data["set"] for t in s.get("targets", all_targets)}
    got = {(e["set"], e["target"]) for e in rows}
    if expected - got:
        raise ValueError(f"{len(expected - got)} of {len(expected)} pairs were not run")
    rows = [e for e in rows if (e["set"], e["target"]) in expected]
    counts = {s: sum(1 for e in rows if e["status"] == s) for s in ("equal", "listed", "differs")}
    both_fail = [e for e in rows if e.get("note") == "both tools fail"]
    tu_total = sum(e["torchup"]["seconds"] for e in rows)
    uv_total = sum(e["uv"]["seconds"] for e in rows)

    def median(xs: list[float]) -> float:
        xs = sorted(xs)
        mid = len(xs) // 2
        return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2

    out: list[str] = [
        "# torchup vs uv on real requirement sets",
        "",
        "<!-- Generated by `COMPARE_WRITE_DOC=1 python -m pytest -m network "
        "tests/network/test_real_sets.py`",
        "     (or `python tests/network/conftest.py REPORT.json`); do not edit by hand: the reasons",
        "     live in tests/network/sets.toml. -->",
        "",
        f"`tests/network/test_real_sets.py` compiles {len(data['set'])} real requirement sets "
        f"(`tests/network/sets.toml`) with `torchup pip compile` and `uv pip compile` against the "
        f"real PyPI, for Python {conf['python_version']} on "
        + ", ".join(f"{t} (`{p}`)" for t, p in conf["targets"].items())
        + f", with `--exclude-newer {conf['exclude_newer']}` for both, and compares the "
        "`name==version` sets. A pair passes when they are equal, or when they differ only as "
        "`sets.toml` lists, with a reason.",
        "",
        f"uv: `{uv_version}` (installed from PyPI at session start).",
        "",
        f"**{len(rows)} pairs: {counts['equal']} equal, {counts['listed']} differ only as listed, "
        f"{counts['differs']} differ without a listed reason.** "
        + (
            f"{len(both_fail)} of the equal pairs are sets both tools refuse "
            f"({', '.join(sorted({e['set'] for e in both_fail}))}: no solution for both)."
            if both_fail
            else ""
        ),
        "",
        f"Time, all pairs: torchup {tu_total:.0f} s (median {median([e['torchup']['seconds'] for e in rows]):.1f} s), "
        f"uv {uv_total:.0f} s (median {median([e['uv']['seconds'] for e in rows]):.1f} s). "
        "Wall-clock seconds per `pip compile` process with each tool's own cache, "
        "one torchup and one uv process at a time on a 2-core machine, beside other work: "
        "compare the tools roughly, not to the tenth. uv gets `--python` (this interpreter, for "
        "sdist builds only; the target stays `--python-version`) so that its time is not "
        "spent discovering interpreters through pyenv shims.",
        "",
        "## Listed differences",
        "",
    ]
    # One section per reason: a shared [reasons] entry groups every set that uses it.
    groups: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for raw in data["set"]:
        for i, d in enumerate(raw.get("differences", [])):
            groups.setdefault(d.get("reason-ref") or f"{raw['id']}#{i}", []).append((raw, d))
    for key, members in groups.items():
        first_raw, first = members[0]
        reason = first.get("reason") or data.get("reasons", {}).get(first.get("reason-ref"), "")
        title = key if first.get("reason-ref") else first_raw["id"]
        n_pairs = 0
        out += [f"### {title}", ""]
        for raw, d in members:
            targets = d.get("targets", all_targets)
            seen = [e for e in rows if e["set"] == raw["id"] and e["target"] in targets]
            n_pairs += sum(1 for e in seen if e["status"] == "listed")
            args = f" (args `{' '.join(raw['args'])}`)" if raw.get("args") else ""
            out += [
                f"- **{raw['id']}** `{' '.join(raw['requirements'])}`{args}, "
                f"{', '.join(targets)}: torchup {_pins(d.get('torchup', []), d.get('uv'))}; "
                f"uv {_pins(d.get('uv', []), d.get('torchup'))}",
            ]
        out += ["", f"{n_pairs} pairs in this run. " + " ".join(str(reason).split()), ""]
    if counts["differs"]:
        out += ["## Unlisted differences (failing)", ""]
        for e in rows:
            if e["status"] == "differs":
                out.append(f"- {e['set']} [{e['target']}]: " + "; ".join(e["unexplained"]))
        out.append("")
    out += [
        "## All pairs",
        "",
        "| set | target | equal? | torchup s | uv s |",
        "|---|---|---|---:|---:|",
    ]
    label = {"equal": "yes", "listed": "no (listed)", "differs": "**no**"}
    for e in rows:
        status = label[e["status"]]
        if e.get("note") == "both tools fail":
            status = "yes (both fail)"
        tu, uv = e["torchup"], e["uv"]
        tu_s = f"{tu['seconds']:.1f}" + ("" if tu["returncode"] == 0 else " (fails)")
        uv_s = f"{uv['seconds']:.1f}" + ("" if uv["returncode"] == 0 else " (fails)")
        out.append(f"| {e['set']} | {e['target']} | {status} | {tu_s} | {uv_s} |")
    out += [
        "",
        "## Not covered",
        "",
        "- `--torch-backend` (cpu, cuXXX): both tools support it, but download.pytorch.org is not "
        "reachable from the machine these runs use, so the PyTorch indexes are not compared "
        "here; the hermetic PyTorch-style index in `tests/support/pytorch_index.py` covers "
        "torchup's routing.",
        "- `--universal` and lock files: only per-target `pip compile` is compared.",
        "",
        "## Running",
        "",
        "```",
        "python -m pytest -m network tests/network/test_real_sets.py          # all pairs",
        "python -m pytest -m network tests/network/test_real_sets.py -k torch # a subset",
        "COMPARE_WRITE_DOC=1 python -m pytest -m network tests/network/test_real_sets.py",
        "```",
        "",
        "Knobs (`COMPARE_UV`, `COMPARE_CACHE_DIR`, `COMPARE_WORKERS`, `COMPARE_TIMEOUT`, "
        "`COMPARE_REPORT`) are described in `tests/network/conftest.py`.",
        "",
    ]
    path.write_text("\n".join(out), encoding="utf-8")


if __name__ == "__main__":  # python tests/network/conftest.py REPORT.json
    report = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    write_doc(report["pairs"], report.get("uv", ""))
    print(f"wrote {DOC_FILE}")
