"""Installing into a fresh venv: torchup vs uv vs pip, side by side (warm, cold, no-op).

    python bench/bench_install.py --torchup /tmp/torchup-venv/bin/torchup \\
        --uv /tmp/bench-venv/bin/uv --pip /tmp/bench-venv/bin/pip
    python bench/bench_install.py --cases small --modes warm,noop --repeat 5

Cases:

* ``small``: a set with many small wheels (``flask sqlalchemy pandas requests rich boto3`` by
  default, ``--small``), from https://pypi.org/simple. It is **pinned first** (one untimed
  compile, for the interpreter the venvs use), so every tool installs the same pinned
  requirements.txt (``name==version`` for the whole closure). ``--pin-with uv`` (default) or
  ``torchup``; ``--requirements FILE`` skips the compile.
* ``torch``: the big torch wheel from a local directory (``--torch-wheel``, default the ~190 MB
  CPU wheel in /opt/wheels), ``--no-deps --no-index --find-links <dir> torch==<version>``.

Modes:

* ``warm``: one untimed priming install per tool (into a throwaway venv) fills that tool's cache;
  every timed run installs into a **fresh venv** reusing the cache.
* ``cold``: every timed run gets an empty cache and a fresh venv.
* ``noop`` (``small`` only): the venv already holds exactly the pinned set (installed untimed,
  warm cache); the timed run re-syncs it: ``torchup pip sync``, ``uv pip sync``, and for pip,
  which has no sync, ``pip install -r`` on the up-to-date venv.

Each tool creates its own venvs (timed separately, reported as the ``venv (create)`` rows:
``warm``, the creations before each timed install, with a cache that already knows the
interpreter; ``cold``, ``--repeat`` more with an empty cache):
``torchup venv -p <python>``, ``uv venv --python <python>``, ``<python> -m venv --without-pip``
(pip then installs with ``pip --python <venv>/bin/python``, so the pip under test is the bench
pip, not the venv's bundled one; no tool seeds pip into its venv). ``<python>`` is
``--uv-python`` (this interpreter, symlinks resolved).

What each tool runs (``<req>`` the pinned file, ``<venv>`` fresh per run):

* torchup: ``torchup pip install --no-progress -q -p <venv> -r <req> --index-url <pypi>``
  (no-op: ``torchup pip sync ... <req>``), ``TORCHUP_CACHE_DIR=<cache>``
* uv: ``uv pip install --no-config -q --python <venv>/bin/python -r <req> --index-url <pypi>``
  (no-op: ``uv pip sync ... <req>``), ``UV_CACHE_DIR=<cache>``
* pip: ``pip --python <venv>/bin/python install --isolated --disable-pip-version-check -q
  --progress-bar off --no-compile --cache-dir <cache> --index-url <pypi> -r <req>``.
  ``--no-compile``: torchup and uv do not byte-compile by default either (``--pip-compile``
  lets pip compile, as it does by default).

After each tool's first good run the installed ``*.dist-info`` set of its venv is compared with
torchup's ("same install?").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    PYPI_SIMPLE,
    Cell,
    Invocation,
    _canon,
    add_common_args,
    agreement,
    clean_env,
    describe_header,
    header_payload,
    loadavg,
    locate_tools,
    markdown_table,
    parse_pins,
    print_failures,
    print_table,
    run_once,
    run_order,
    save_results,
    selected_tools,
    table_rows,
)

DEFAULT_SMALL = "flask sqlalchemy pandas requests rich boto3"
DEFAULT_TORCH_WHEEL = "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
CASES = ("small", "torch")
MODES = ("warm", "cold", "noop")


def default_torchup(args: argparse.Namespace) -> None:
    """Prefer the real console script next to this interpreter over a PATH shim."""
    if args.torchup is None:
        candidate = Path(sys.prefix) / "bin" / "torchup"
        if os.access(candidate, os.X_OK):
            args.torchup = str(candidate)


# --------------------------------------------------------------------------------------------
# commands


def venv_invocation(tool: str, exe: str, python: str, venv: Path) -> Invocation:
    if tool == "torchup":
        argv = [exe, "venv", str(venv), "-q", "--no-progress", "-p", python]
        return Invocation(argv=lambda c, o: argv, env=lambda c: {"TORCHUP_CACHE_DIR": str(c)})
    if tool == "uv":
        argv = [exe, "venv", str(venv), "-q", "--no-config", "--python", python]
        return Invocation(argv=lambda c, o: argv, env=lambda c: {"UV_CACHE_DIR": str(c)})
    argv = [python, "-m", "venv", "--without-pip", str(venv)]
    return Invocation(argv=lambda c, o: argv, env=lambda c: {})


def install_invocation(
    tool: str,
    exe: str,
    venv: Path,
    what: list[str],
    *,
    sync_file: Path | None,
    index: list[str],
    pip_compile: bool,
) -> Invocation:
    """``what``: install arguments (``-r file`` or ``--no-deps ... torch==v``); ``sync_file``:
    for the no-op case, the file torchup and uv ``pip sync`` (pip: ``install -r`` it)."""
    py = str(venv / "bin" / "python")
    if tool == "torchup":
        sub = ["pip", "sync", str(sync_file)] if sync_file else ["pip", "install", *what]
        argv = [exe, *sub, "--no-progress", "-q", "--color", "never", "-p", str(venv), *index]
        return Invocation(argv=lambda c, o: argv, env=lambda c: {"TORCHUP_CACHE_DIR": str(c)})
    if tool == "uv":
        sub = ["pip", "sync", str(sync_file)] if sync_file else ["pip", "install", *what]
        argv = [exe, *sub, "--no-config", "-q", "--python", py, *index]
        return Invocation(argv=lambda c, o: argv, env=lambda c: {"UV_CACHE_DIR": str(c)})
    pip_what = ["-r", str(sync_file)] if sync_file else what
    return Invocation(
        argv=lambda c, o: [
            exe,
            "--python",
            py,
            "install",
            "--isolated",
            "--disable-pip-version-check",
            "-q",
            "--progress-bar",
            "off",
            *([] if pip_compile else ["--no-compile"]),
            "--cache-dir",
            str(c),
            *index,
            *pip_what,
        ],
        env=lambda c: {},
    )


def installed(venv: Path) -> dict[str, str]:
    """name -> version of every ``*.dist-info`` in the venv's site-packages."""
    out: dict[str, str] = {}
    for d in venv.glob("lib/python*/site-packages/*.dist-info"):
        stem = d.name[: -len(".dist-info")]
        name, _, version = stem.partition("-")
        out[_canon(name)] = version
    return out


# --------------------------------------------------------------------------------------------
# measuring


class Runner:
    def __init__(self, args: argparse.Namespace, tools: dict[str, str], scratch: Path) -> None:
        self.args = args
        self.tools = tools
        self.scratch = scratch
        self.venv_cells = {t: Cell("venv (create)", "warm", t) for t in tools}
        self.python = args.uv_python
        # Venvs for the timed installs are made with a warm cache (each tool caches what it
        # learnt about the interpreter); measure_cold_venvs() times them with an empty one.
        self.venv_caches = {
            t: Path(tempfile.mkdtemp(prefix=f"{t}-vcache-", dir=scratch)) for t in tools
        }
        for t in tools:
            venv = self.new_venv(t, timed=False)
            if venv is not None:
                shutil.rmtree(venv.parent, ignore_errors=True)

    def log(self, case: str, mode: str, label: str, tool: str, res) -> None:  # noqa: ANN001
        extra = "".join(f"  {k}={v:.2f}" for k, v in res.metrics.items())
        print(
            f"  {case:<8} {mode:<5} {label:<6} {tool:<8} {res.seconds:7.2f}s{extra}"
            + ("" if res.ok else f"  FAILED rc={res.rc}"),
            flush=True,
        )

    def new_venv(self, tool: str, timed: bool, cell: Cell | None = None) -> Path | None:
        venv = Path(tempfile.mkdtemp(prefix=f"{tool}-venv-", dir=self.scratch)) / ".venv"
        if cell is None:
            cache = self.venv_caches[tool]
        else:
            cache = Path(tempfile.mkdtemp(prefix=f"{tool}-vcache-", dir=self.scratch))
        inv = venv_invocation(tool, self.tools[tool], self.python, venv)
        res, _ = run_once(inv, cache, self.scratch, self.args.timeout)
        if cell is not None:
            shutil.rmtree(cache, ignore_errors=True)
        if timed:
            (cell or self.venv_cells[tool]).runs.append(res)
        if not res.ok:
            print(f"  !! {tool} could not create a venv: {res.error}", file=sys.stderr)
            return None
        return venv

    def measure_cold_venvs(self) -> dict[str, Cell]:
        """Venv creation with an empty cache (the interpreter is queried afresh)."""
        cells = {t: Cell("venv (create)", "cold", t) for t in self.tools}
        for i in range(max(1, self.args.repeat)):
            for tool in run_order(list(self.tools), i):
                venv = self.new_venv(tool, timed=True, cell=cells[tool])
                if venv is not None:
                    shutil.rmtree(venv.parent, ignore_errors=True)
        return cells

    def measure(
        self,
        case: str,
        mode: str,
        make: Callable[[str, Path], Invocation],
        make_noop: Callable[[str, Path], Invocation] | None = None,
    ) -> dict[str, Cell]:
        """``make(tool, venv)`` is the install; for ``noop``, ``make_noop(tool, venv)`` the
        re-sync timed on a venv that ``make`` filled untimed."""
        cells = {t: Cell(case, mode, t) for t in self.tools}
        work = Path(tempfile.mkdtemp(prefix="work-", dir=self.scratch))
        caches: dict[str, Path] = {}
        noop_venvs: dict[str, Path] = {}
        done_venvs: list[Path] = []
        if mode in ("warm", "noop"):
            for tool in self.tools:
                caches[tool] = Path(tempfile.mkdtemp(prefix=f"{tool}-cache-", dir=self.scratch))
                venv = self.new_venv(tool, timed=False)
                if venv is None:
                    cells[tool].prime = None
                    continue
                res, _ = run_once(make(tool, venv), caches[tool], work, self.args.timeout)
                cells[tool].prime = res
                self.log(case, mode, "prime", tool, res)
                if mode == "noop" and res.ok:
                    noop_venvs[tool] = venv
                    cells[tool].resolution = installed(venv)
                else:
                    shutil.rmtree(venv.parent, ignore_errors=True)
        for i in range(max(1, self.args.repeat)):
            for tool in run_order(list(self.tools), i):
                prime = cells[tool].prime
                if mode != "cold" and (prime is None or not prime.ok):
                    continue
                if mode == "noop":
                    venv = noop_venvs[tool]
                    inv = make_noop(tool, venv)  # type: ignore[misc]
                else:
                    venv = self.new_venv(tool, timed=True)
                    if venv is None:
                        continue
                    inv = make(tool, venv)
                cache = caches.get(tool) or Path(
                    tempfile.mkdtemp(prefix=f"{tool}-cache-", dir=self.scratch)
                )
                # Flush what earlier runs wrote (untimed), so no tool pays for another's
                # dirty pages being written back during its run.
                os.sync()
                try:
                    res, _ = run_once(inv, cache, work, self.args.timeout)
                finally:
                    if mode == "cold":
                        shutil.rmtree(cache, ignore_errors=True)
                cells[tool].runs.append(res)
                self.log(case, mode, f"#{i + 1}", tool, res)
                if mode == "noop":
                    now = installed(venv)
                    if res.ok and now != cells[tool].resolution:
                        print(f"  !! {tool}: the no-op sync changed the venv", file=sys.stderr)
                else:
                    if res.ok and cells[tool].resolution is None:
                        cells[tool].resolution = installed(venv)
                    # Deleted after the last run, not now: removing a 12,000-file torch tree
                    # keeps the filesystem busy for a while, and the next tool's run would
                    # pay for it.
                    done_venvs.append(venv)
        for path in [
            *caches.values(), *(v.parent for v in noop_venvs.values()),
            *(v.parent for v in done_venvs), work,
        ]:
            shutil.rmtree(path, ignore_errors=True)
        return cells


# --------------------------------------------------------------------------------------------
# pinning


def pin_small(args: argparse.Namespace, tools: dict[str, str], scratch: Path) -> tuple[Path, str]:
    """The pinned requirements.txt of the small set, and how it was made."""
    if args.requirements:
        path = Path(args.requirements).resolve()
        return path, f"given: {path}"
    req_in = scratch / "small.in"
    req_in.write_text("\n".join(args.small.split()) + "\n", encoding="utf-8")
    out = scratch / "small.txt"
    cache = scratch / "pin-cache"
    if args.pin_with == "uv":
        argv = [tools["uv"], "pip", "compile", str(req_in), "-o", str(out), "--no-config", "-q"]
        argv += ["--python", args.uv_python, "--index-url", args.index_url, "--no-header"]
        env = {"UV_CACHE_DIR": str(cache)}
    else:
        argv = [tools["torchup"], "pip", "compile", str(req_in), "-o", str(out)]
        argv += ["--no-progress", "-q", "-p", args.uv_python, "--index-url", args.index_url]
        env = {"TORCHUP_CACHE_DIR": str(cache)}
    proc = subprocess.run(argv, capture_output=True, text=True, env=clean_env(env), timeout=900)
    shutil.rmtree(cache, ignore_errors=True)
    if proc.returncode != 0:
        raise SystemExit(f"pinning the small set failed:\n{proc.stderr}{proc.stdout}")
    pins = parse_pins(out) or {}
    # Keep only the pins (no comments, no header), so that every tool reads the same lines.
    out.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())), encoding="utf-8")
    return out, f"`{args.pin_with} pip compile` of `{args.small}` ({len(pins)} pins)"


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(p, repeat=3)
    p.add_argument("--cases", default=",".join(CASES), help="small,torch")
    p.add_argument("--modes", default=",".join(MODES), help="warm,cold,noop")
    p.add_argument(
        "--torch-modes",
        default="warm,cold",
        help="modes for the torch case (default %(default)s; noop is small-only)",
    )
    p.add_argument("--small", default=DEFAULT_SMALL, help="the small set (space separated)")
    p.add_argument("--pin-with", choices=("uv", "torchup"), default="uv")
    p.add_argument("--requirements", help="an already pinned requirements.txt for 'small'")
    p.add_argument("--torch-wheel", default=DEFAULT_TORCH_WHEEL)
    p.add_argument("--index-url", default=PYPI_SIMPLE)
    p.add_argument("--pip-compile", action="store_true", help="let pip byte-compile (its default)")
    p.add_argument("--scratch", help="scratch directory (default: a new one in $TMPDIR)")
    args = p.parse_args(argv)
    default_torchup(args)

    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    torch_modes = [m.strip() for m in args.torch_modes.split(",") if m.strip()]
    if any(c not in CASES for c in cases) or any(m not in MODES for m in modes + torch_modes):
        p.error(f"--cases from {CASES}, --modes from {MODES}")

    paths = locate_tools(args)
    tools: dict[str, str] = {t: exe for t in selected_tools(args) if (exe := paths.get(t))}
    header = header_payload(args, paths, ["bench/bench_install.py", *argv])
    print(describe_header(header).replace("`", ""))

    scratch = Path(tempfile.mkdtemp(prefix="torchup-bench-install-", dir=args.scratch))
    runner = Runner(args, tools, scratch)
    groups: list[dict[str, Cell]] = []
    agree: dict[str, str] = {}
    settings: dict[str, object] = {"python": args.uv_python, "index_url": args.index_url}
    try:
        if "small" in cases:
            req, how = pin_small(args, tools, scratch)
            settings["small_pins"] = req.read_text(encoding="utf-8").split()
            settings["small_pinned_by"] = how
            print(f"small set: {how}", flush=True)
            index = ["--index-url", args.index_url]

            def make(tool: str, venv: Path) -> Invocation:
                return install_invocation(
                    tool,
                    tools[tool],
                    venv,
                    ["-r", str(req)],
                    sync_file=None,
                    index=index,
                    pip_compile=args.pip_compile,
                )

            def make_noop(tool: str, venv: Path) -> Invocation:
                return install_invocation(
                    tool,
                    tools[tool],
                    venv,
                    [],
                    sync_file=req,
                    index=index,
                    pip_compile=args.pip_compile,
                )

            for mode in modes:
                cells = runner.measure("small", mode, make, make_noop)
                groups.append(cells)
                agree[f"small/{mode}"] = agreement(cells)
        if "torch" in cases:
            wheel = Path(args.torch_wheel)
            m = re.match(r"torch-([^-]+)-", wheel.name)
            if not wheel.exists() or not m:
                raise SystemExit(f"no torch wheel at {wheel}")
            what = ["--no-deps", "--no-index", "--find-links", str(wheel.parent)]
            what.append(f"torch=={m.group(1)}")
            settings["torch_wheel"] = str(wheel)

            def make_t(tool: str, venv: Path) -> Invocation:
                return install_invocation(
                    tool,
                    tools[tool],
                    venv,
                    what,
                    sync_file=None,
                    index=[],
                    pip_compile=args.pip_compile,
                )

            for mode in [m for m in torch_modes if m != "noop"]:
                cells = runner.measure("torch", mode, make_t)
                groups.append(cells)
                agree[f"torch/{mode}"] = agreement(cells)
        venv_groups = [runner.venv_cells, runner.measure_cold_venvs()]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    order = [t for t in ("torchup", "uv", "pip") if t in tools]
    all_groups = [*groups, *venv_groups]
    h, rows = table_rows(all_groups, "seconds", order, paired=True)
    h.append("same install?")
    for r in rows:
        r.append(agree.get(f"{r[0]}/{r[1]}", ""))
    print_table("install wall time (median; ratio > 1: torchup slower)", h, rows)
    md = [describe_header(header), "", "wall time, median [min-max]:", "", markdown_table(h, rows)]
    hc, rc_ = table_rows(all_groups, "cpu_seconds", order)
    print_table("CPU time of the tool process tree (user+sys, median)", hc, rc_)
    md += ["", "CPU time (user+sys), median [min-max]:", "", markdown_table(hc, rc_)]
    failures = print_failures(all_groups)
    if failures:
        md += ["", "Failures:", ""]
        md += [
            f"- {f['tool']} on {f['case']} ({f['mode']}): `{f['error'][-400:]!r}`" for f in failures
        ]
    payload = {
        **header,
        "bench": "install",
        "settings": {**settings, "cases": cases, "modes": modes, "torch_modes": torch_modes},
        "cells": [c.to_json() for g in all_groups for c in g.values()],
        "agreement": agree,
        "failures": failures,
    }
    header["loadavg_at_end"] = payload["loadavg_at_end"] = loadavg()
    md[0] = describe_header(header)
    save_results("install", payload, "\n".join(md), args.no_save)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
