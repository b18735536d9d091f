"""Shared helpers for the torchup benchmarks (``bench/bench_*.py``).

Conventions (see docs/benchmarks.md):

* Every tool runs in the same process tree, interleaved per repetition (torchup, uv, pip,
  torchup, uv, pip, ...), so slow drifts of the network or the machine hit all tools alike.
* **cold**: every timed run gets a fresh, empty cache directory (``TORCHUP_CACHE_DIR`` /
  ``UV_CACHE_DIR`` / pip ``--cache-dir``), deleted afterwards.
  **warm**: one untimed priming run per tool fills a cache directory, then every timed run
  reuses it.
* The reported number is the median of ``--repeat`` runs; ratios are torchup/uv and torchup/pip
  (above 1.00x: torchup is slower / moves more bytes).
* Tools run with a sanitized environment: no ``PIP_*``/``UV_*``/``TORCHUP_*`` variables,
  ``PIP_CONFIG_FILE=/dev/null``, ``uv --no-config``, ``pip --isolated``, in an empty temporary
  working directory (no pyproject.toml is picked up).
* Results go to ``bench/results/<bench>-<UTC time>.json`` (+ ``.md``); that folder is gitignored.

Only the standard library is required; ``rich`` (a torchup dependency) is used for the console
table when importable.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "bench" / "results"
DEFAULT_BENCH_VENV = Path(os.environ.get("BENCH_VENV", "/tmp/bench-venv"))
PYPI_SIMPLE = "https://pypi.org/simple"
TOOLS = ("torchup", "uv", "pip")
INSTALL_HINT = (
    "python -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install -U uv pip "
    "(then pass --uv /tmp/bench-venv/bin/uv --pip /tmp/bench-venv/bin/pip)"
)

# --------------------------------------------------------------------------------------------
# locating the tools


@dataclass
class ToolPaths:
    torchup: str | None
    uv: str | None
    pip: str | None

    def get(self, tool: str) -> str | None:
        return getattr(self, tool)


def _which_first(
    explicit: str | None, names: Sequence[str], fallbacks: Sequence[Path]
) -> str | None:
    if explicit:
        found = shutil.which(explicit) or (explicit if os.access(explicit, os.X_OK) else None)
        return str(Path(found).absolute()) if found else None
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    for path in fallbacks:
        if os.access(path, os.X_OK):
            return str(path)
    return None


def locate_tools(args: argparse.Namespace) -> ToolPaths:
    """Find torchup, uv and pip from ``--torchup/--uv/--pip`` or PATH (uv, pip also in
    ``$BENCH_VENV``, default /tmp/bench-venv). Prints a clear line for each one missing."""
    venv_bin = DEFAULT_BENCH_VENV / "bin"
    paths = ToolPaths(
        torchup=_which_first(args.torchup, ["torchup"], []),
        # The bench venv first for uv/pip: the PATH pip is whatever the host has.
        uv=_which_first(args.uv, ["uv"], [venv_bin / "uv"]),
        pip=_which_first(args.pip, [], [venv_bin / "pip"])
        or _which_first(None, ["pip3", "pip"], []),
    )
    wanted = selected_tools(args)
    for tool in wanted:
        if paths.get(tool) is None:
            flag = f"--{tool}"
            hint = "pip install -e ." if tool == "torchup" else INSTALL_HINT
            print(
                f"!! {tool} not found (looked at {flag}, PATH"
                + ("" if tool == "torchup" else f", {venv_bin}")
                + f"): it will be skipped. Install it: {hint}",
                file=sys.stderr,
            )
    return paths


def selected_tools(args: argparse.Namespace) -> list[str]:
    tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    for t in tools:
        if t not in TOOLS:
            raise SystemExit(f"unknown tool {t!r}; choose from {', '.join(TOOLS)}")
    return tools


def add_common_args(parser: argparse.ArgumentParser, *, repeat: int = 3) -> None:
    parser.add_argument("--torchup", help="torchup executable (default: PATH)")
    parser.add_argument("--uv", help="uv executable (default: PATH, then $BENCH_VENV/bin/uv)")
    parser.add_argument(
        "--pip",
        help="pip executable of a Python 3.11 venv (default: $BENCH_VENV/bin/pip, then PATH)",
    )
    parser.add_argument(
        "--uv-python",
        default=os.path.realpath(sys.executable),
        help="interpreter passed to uv as --python (default: this Python, symlinks resolved). "
        "Without it uv probes PATH for a matching interpreter, which costs ~1 s per run through "
        "pyenv shims on the bench host and is not resolution work",
    )
    parser.add_argument(
        "--tools", default=",".join(TOOLS), help="comma list (default: %(default)s)"
    )
    parser.add_argument("--repeat", type=int, default=repeat, help="timed runs per cell (median)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    parser.add_argument("--note", default="", help="free text stored with the results")


def tool_version(tool: str, exe: str | None) -> str:
    if exe is None:
        return "missing"
    try:
        out = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=60, env=clean_env()
        )
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError) as exc:
        return f"unknown ({exc})"


# --------------------------------------------------------------------------------------------
# running


_STRIP_PREFIXES = ("PIP_", "UV_", "TORCHUP_", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONPATH")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """os.environ without tool configuration, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP_PREFIXES)}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


@dataclass
class RunResult:
    seconds: float
    rc: int
    metrics: dict[str, float] = field(default_factory=dict)  # e.g. bytes, requests
    error: str = ""  # tail of stderr/stdout when rc != 0

    @property
    def ok(self) -> bool:
        return self.rc == 0


@dataclass
class Invocation:
    """What to run for one tool on one case; ``cache_dir`` is filled in per run."""

    argv: Callable[[Path, Path], list[str]]  # (cache_dir, out_path) -> argv
    env: Callable[[Path], dict[str, str]]  # cache_dir -> extra env
    output_name: str = "out.txt"


def run_once(
    inv: Invocation,
    cache_dir: Path,
    workdir: Path,
    timeout: float,
    before: Callable[[], None] | None = None,
    after: Callable[[], dict[str, float]] | None = None,
) -> tuple[RunResult, Path]:
    """Run ``inv`` once in ``workdir``; return the result and the output file path."""
    out = workdir / inv.output_name
    out.unlink(missing_ok=True)
    argv = inv.argv(cache_dir, out)
    env = clean_env(inv.env(cache_dir))
    if before:
        before()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            argv,
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        seconds = time.perf_counter() - t0
        rc, text = proc.returncode, (proc.stderr or "") + (proc.stdout or "")
    except subprocess.TimeoutExpired as exc:
        seconds = time.perf_counter() - t0
        rc = 124
        text = f"timed out after {timeout:.0f}s\n" + _decode(exc.stderr)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU time of the tool (and its children): steadier than wall time on a shared machine.
    metrics = {"cpu_seconds": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)}
    metrics.update(after() if after else {})
    error = "" if rc == 0 else _tail(text, 1200)
    return RunResult(seconds=seconds, rc=rc, metrics=metrics, error=error), out


def _decode(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b if isinstance(b, str) else b.decode("utf-8", "replace")


def _tail(text: str, n: int) -> str:
    text = text.strip()
    return text if len(text) <= n else "..." + text[-n:]


@dataclass
class Cell:
    """All runs of one tool on one (case, mode)."""

    case: str
    mode: str  # "cold" | "warm"
    tool: str
    runs: list[RunResult] = field(default_factory=list)
    prime: RunResult | None = None
    resolution: dict[str, str] | None = None  # name -> version, from the first good run

    def values(self, metric: str = "seconds") -> list[float]:
        vals = [
            (r.seconds if metric == "seconds" else r.metrics.get(metric)) for r in self.runs if r.ok
        ]
        return [v for v in vals if v is not None]

    def median(self, metric: str = "seconds") -> float | None:
        vals = self.values(metric)
        return statistics.median(vals) if vals else None

    @property
    def failed(self) -> bool:
        """No successful timed run (includes a failed warm-up, which skips the timed runs)."""
        return not any(r.ok for r in self.runs)

    @property
    def first_error(self) -> str:
        for r in ([self.prime] if self.prime else []) + self.runs:
            if r is not None and not r.ok:
                return r.error
        return ""

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "mode": self.mode,
            "tool": self.tool,
            "median_seconds": self.median(),
            "runs": [asdict(r) for r in self.runs],
            "prime": asdict(self.prime) if self.prime else None,
            "resolution": self.resolution,
        }


def measure(
    case: str,
    mode: str,
    invocations: Mapping[str, Invocation],
    repeat: int,
    timeout: float,
    scratch: Path,
    parse_output: Callable[[str, Path], dict[str, str] | None],
    before: Callable[[], None] | None = None,
    after: Callable[[], dict[str, float]] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Cell]:
    """Time every tool in ``invocations`` on one case, interleaved, ``repeat`` times.

    cold: a fresh cache directory per run; warm: one priming run per tool, then reuse.
    """
    assert mode in ("cold", "warm")
    cells = {tool: Cell(case, mode, tool) for tool in invocations}
    workdirs = {
        tool: Path(tempfile.mkdtemp(prefix=f"{tool}-work-", dir=scratch)) for tool in invocations
    }
    warm_caches: dict[str, Path] = {}
    if mode == "warm":
        for tool, inv in invocations.items():
            cache = Path(tempfile.mkdtemp(prefix=f"{tool}-cache-", dir=scratch))
            warm_caches[tool] = cache
            res, out = run_once(inv, cache, workdirs[tool], timeout, before, after)
            cells[tool].prime = res
            if res.ok and cells[tool].resolution is None:
                cells[tool].resolution = _safe_parse(parse_output, tool, out)
            log(
                f"  {case:<24} {mode} prime {tool:<8} {res.seconds:7.2f}s"
                + ("" if res.ok else "  FAILED")
            )
    for i in range(max(1, repeat)):
        for tool in run_order(list(invocations), i):
            inv = invocations[tool]
            prime = cells[tool].prime
            if prime is not None and not prime.ok:
                continue  # priming failed: the timed runs would be cold or fail the same way
            cache = warm_caches.get(tool) or Path(
                tempfile.mkdtemp(prefix=f"{tool}-cache-", dir=scratch)
            )
            try:
                res, out = run_once(inv, cache, workdirs[tool], timeout, before, after)
            finally:
                if mode == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
            cells[tool].runs.append(res)
            if res.ok and cells[tool].resolution is None:
                cells[tool].resolution = _safe_parse(parse_output, tool, out)
            extra = "".join(f"  {k}={_fmt_metric(k, v)}" for k, v in res.metrics.items())
            log(
                f"  {case:<24} {mode} #{i + 1} {tool:<8} {res.seconds:7.2f}s{extra}"
                + ("" if res.ok else f"  FAILED rc={res.rc}")
            )
    for path in [*warm_caches.values(), *workdirs.values()]:
        shutil.rmtree(path, ignore_errors=True)
    return cells


def _safe_parse(
    fn: Callable[[str, Path], dict[str, str] | None], tool: str, out: Path
) -> dict[str, str] | None:
    try:
        return fn(tool, out)
    except Exception as exc:  # noqa: BLE001 - a parse problem must not lose the timings
        return {"<parse error>": repr(exc)}


# --------------------------------------------------------------------------------------------
# parsing what the tools resolved (to check they resolved the same thing)

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(path: Path) -> dict[str, str] | None:
    """``name==version`` lines of a requirements.txt written by torchup/uv."""
    if not path.exists():
        return None
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _PIN.match(line.strip())
        if m:
            pins[_canon(m.group(1))] = m.group(2)
    return pins


def parse_pip_report(path: Path) -> dict[str, str] | None:
    """The ``install`` list of ``pip install --dry-run --report``."""
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return {
        _canon(i["metadata"]["name"]): i["metadata"]["version"] for i in data.get("install", [])
    }


def parse_output(tool: str, path: Path) -> dict[str, str] | None:
    return parse_pip_report(path) if tool == "pip" else parse_pins(path)


def agreement(cells: Mapping[str, Cell]) -> str:
    """'same' or a short diff of each tool's resolution against torchup's."""
    base = cells.get("torchup")
    if base is None or not base.resolution:
        return "n/a"
    notes = []
    for tool, cell in cells.items():
        if tool == "torchup" or not cell.resolution:
            continue
        a, b = base.resolution, cell.resolution
        if a == b:
            continue
        diffs = []
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                diffs.append(f"{name} {a.get(name, '-')}/{b.get(name, '-')}")
        notes.append(
            f"{tool}: {len(diffs)} differ ({'; '.join(diffs[:4])}{' ...' if len(diffs) > 4 else ''})"
        )
    return "same" if not notes else " | ".join(notes)


# --------------------------------------------------------------------------------------------
# reporting


def _fmt_metric(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric == "seconds":
        return f"{v:.2f}"
    if metric.startswith("bytes"):
        return human_bytes(v)
    if metric.endswith("seconds"):
        return f"{v:.2f}"
    return f"{v:g}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "n/a"
    if b == 0:
        return "inf" if a else "1.00x"
    r = a / b
    return f"{r:.2f}x" if r >= 0.01 or r == 0 else f"{r:.1g}x"


def run_order(tools: Sequence[str], repetition: int) -> list[str]:
    """The order the tools run in for one repetition: the permutations of ``tools`` in turn.

    Over a whole cycle (2 repetitions for two tools, 6 for three) each tool goes first
    equally often, and runs right after each other tool equally often. A fixed order let one
    tool always follow the same other one, inheriting what that run left the machine doing
    (dirty pages, the journal of a 12,000-file tree).
    """
    orders = list(itertools.permutations(tools))
    return list(orders[repetition % len(orders)])


def paired_ratio(a: Cell, b: Cell, metric: str = "seconds") -> float | None:
    """The median, over repetitions, of ``a``'s run divided by ``b``'s run of the same
    repetition. Runs are interleaved, so a change in the machine's load mostly hits both runs
    of a pair: steadier than the ratio of the two medians on a shared machine. None unless
    both cells have one run per repetition."""
    if len(a.runs) != len(b.runs):
        return None

    def value(r: RunResult) -> float | None:
        return r.seconds if metric == "seconds" else r.metrics.get(metric)

    ratios = []
    for x, y in zip(a.runs, b.runs, strict=True):
        vx, vy = value(x), value(y)
        if x.ok and y.ok and vx is not None and vy:
            ratios.append(vx / vy)
    return statistics.median(ratios) if ratios else None


def table_rows(
    cells: Iterable[Mapping[str, Cell]], metric: str, tools: Sequence[str], *, paired: bool = False
) -> tuple[list[str], list[list[str]]]:
    """Header and rows: case, mode, ratios first (torchup/uv, torchup/pip; with ``paired``
    also the median of per-repetition ratios, see :func:`paired_ratio`), then absolutes
    (median, and [min-max] over the runs for times)."""
    header = ["set", "mode"]
    others = [t for t in tools if t != "torchup"]
    header += [f"torchup/{t}" for t in others]
    if paired:
        header += [f"torchup/{t} paired" for t in others]
    unit = {"seconds": "s", "cpu_seconds": "cpu s"}.get(metric, metric)
    header += [f"{t} ({unit})" for t in tools]
    rows = []
    for group in cells:
        any_cell = next(iter(group.values()))
        tu = group.get("torchup")
        tu_v = tu.median(metric) if tu else None
        row = [any_cell.case, any_cell.mode]
        for t in others:
            c = group.get(t)
            row.append(ratio(tu_v, c.median(metric) if c else None))
        if paired:
            for t in others:
                c = group.get(t)
                pr = paired_ratio(tu, c, metric) if tu and c else None
                row.append("n/a" if pr is None else f"{pr:.2f}x")
        for t in tools:
            c = group.get(t)
            if c is None:
                row.append("skipped")
            elif c.failed or c.median(metric) is None:
                row.append("FAILED")
            else:
                text = _fmt_metric(metric, c.median(metric))
                vals = c.values(metric)
                if metric.endswith("seconds") and len(vals) > 1:
                    text += f" [{min(vals):.2f}-{max(vals):.2f}]"
                row.append(text)
        rows.append(row)
    return header, rows


def print_table(title: str, header: list[str], rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain fallback
        print(f"\n{title}")
        widths = [
            max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
            for i, h in enumerate(header)
        ]
        print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=False)))
        for r in rows:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)))
        return
    t = Table(title=title)
    for i, h in enumerate(header):
        t.add_column(h, justify="left" if i < 2 else "right")
    for r in rows:
        t.add_row(*r)
    Console(width=200).print(t)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def print_failures(groups: Iterable[Mapping[str, Cell]]) -> list[dict[str, str]]:
    failures = []
    for group in groups:
        for tool, cell in group.items():
            bad = [
                r
                for r in ([cell.prime] if cell.prime else []) + cell.runs
                if r is not None and not r.ok
            ]
            if bad:
                failures.append(
                    {
                        "case": cell.case,
                        "mode": cell.mode,
                        "tool": tool,
                        "failed_runs": str(len(bad)),
                        "error": bad[0].error,
                    }
                )
    for f in failures:
        print(f"\n!! {f['tool']} failed on {f['case']} ({f['mode']}, {f['failed_runs']} run(s)):")
        print("   " + f["error"].replace("\n", "\n   "))
    return failures


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "os": platform.platform(),
        "loadavg_at_start": loadavg(),
        "python": sys.version.split()[0],
    }


def loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def git_info() -> dict[str, Any]:
    def git(*a: str) -> str:
        try:
            return subprocess.run(
                ["git", *a], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(git("status", "--porcelain", "--", "src")),
    }


def save_results(bench: str, payload: dict[str, Any], markdown: str, no_save: bool) -> Path | None:
    if no_save:
        return None
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"{bench}-{stamp}.json"
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    path.with_suffix(".md").write_text(markdown + "\n", encoding="utf-8")
    print(f"\nresults: {path} (+ .md)")
    return path


def header_payload(
    args: argparse.Namespace, paths: ToolPaths, argv: Sequence[str]
) -> dict[str, Any]:
    return {
        "bench_python": sys.executable,
        "command": " ".join(["python", *argv]),
        "when": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "repo": git_info(),
        "note": args.note,
        "repeat": args.repeat,
        "tools": {
            t: {"path": paths.get(t), "version": tool_version(t, paths.get(t))}
            for t in selected_tools(args)
        },
    }


def describe_header(h: Mapping[str, Any]) -> str:
    m = h["machine"]
    tools = ", ".join(f"{t} {v['version']} ({v['path']})" for t, v in h["tools"].items())
    return (
        f"- command: `{h['command']}`\n- when: {h['when']}\n"
        f"- machine: {m['cpus']} CPUs ({m['cpu']}), {m['memory']}, {m['os']}, Python {m['python']}, "
        f"load average at start {m.get('loadavg_at_start')}"
        + (f", at end {h['loadavg_at_end']}" if h.get("loadavg_at_end") else "")
        + "\n"
        f"- checkout running the bench: {h['repo']['commit'][:12]}"
        f"{' (src/ has local changes)' if h['repo']['dirty'] else ''}\n"
        f"- tools: {tools}\n- repeat: {h['repeat']} (median)"
        + (f"\n- note: {h['note']}" if h.get("note") else "")
    )
