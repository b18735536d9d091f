"""Start-up time: ``torchup --version`` / ``torchup cache dir`` / ``torchup venv`` vs uv and pip.

    python bench/bench_startup.py                 # torchup = sys.prefix/bin/torchup
    python bench/bench_startup.py --torchup /tmp/torchup-venv/bin/torchup --repeat 20
    python bench/bench_startup.py --bytecode      # torchup with .pyc caches, as a wheel install

Commands that do little real work, so the time is process start-up, imports and argument
parsing:

* ``--version``: ``torchup --version``, ``uv --version``, ``pip --version``
* ``cache dir``: ``torchup cache dir``, ``uv cache dir``, ``pip cache dir`` (each pointed at an
  empty cache directory: ``TORCHUP_CACHE_DIR``, ``UV_CACHE_DIR``, ``pip --cache-dir``)
* ``venv``: a new environment per run: ``torchup venv -p <python>``, ``uv venv --python
  <python>`` (each with a cache that already knows the interpreter: the untimed warm-up run
  fills it), and in the pip column ``<python> -m venv --without-pip``. ``<python>`` is
  ``--venv-python`` (default: the interpreter of torchup's console script).

Bytecode: with ``PYTHONDONTWRITEBYTECODE`` set and an editable install (as on the dev hosts),
torchup compiles its own modules on every run (~15-20 ms for ``torchup venv``), which no wheel
install pays; uv is native and pip and the stdlib have their ``.pyc`` files. The report says
which way torchup ran; ``--bytecode`` gives torchup's runs a private ``PYTHONPYCACHEPREFIX``
(filled by the warm-up run) with bytecode writing enabled.

torchup runs through its real console script (``<sys.prefix>/bin/torchup`` of this interpreter
by default, never a pyenv shim, which alone costs tens of milliseconds); pip through the bench
venv's ``bin/pip``. One untimed warm-up run per tool and command, then ``--repeat`` (default 20)
interleaved timed runs; the median is reported. The interpreter floor (``<torchup's python> -c
pass`` and ``-I -S -c pass``) is measured the same way, for reference.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    Cell,
    Invocation,
    add_common_args,
    describe_header,
    header_payload,
    loadavg,
    locate_tools,
    markdown_table,
    measure,
    print_failures,
    print_table,
    save_results,
    selected_tools,
    table_rows,
)


def console_script_python(script: str) -> str | None:
    """The interpreter in a console script's shebang."""
    try:
        first = Path(script).read_bytes()[:300].split(b"\n", 1)[0]
    except OSError:
        return None
    if first.startswith(b"#!"):
        return first[2:].decode().strip().split()[0]
    return None


def _fresh(out: Path) -> str:
    """A new directory name next to the run's output file (one venv per run)."""
    n = 0
    while (out.parent / f"venv-{n}").exists():
        n += 1
    return str(out.parent / f"venv-{n}")


def venv_invocations(
    tools: dict[str, str], python: str, torchup_env: dict[str, str]
) -> dict[str, Invocation]:
    invs: dict[str, Invocation] = {}
    for tool, exe in tools.items():
        if tool == "torchup":
            invs[tool] = Invocation(
                argv=lambda c, o, exe=exe: [exe, "venv", _fresh(o), "-q", "-p", python],
                env=lambda c: {"TORCHUP_CACHE_DIR": str(c), **torchup_env},
            )
        elif tool == "uv":
            invs[tool] = Invocation(
                argv=lambda c, o, exe=exe: [exe, "venv", _fresh(o), "-q", "--no-config", "--python", python],
                env=lambda c: {"UV_CACHE_DIR": str(c)},
            )
        else:  # the stdlib's venv, the baseline pip users have
            invs[tool] = Invocation(
                argv=lambda c, o: [python, "-m", "venv", "--without-pip", _fresh(o)],
                env=lambda c: {},
            )
    return invs


def invocations(
    case: str, tools: dict[str, str], torchup_env: dict[str, str]
) -> dict[str, Invocation]:
    invs: dict[str, Invocation] = {}
    for tool, exe in tools.items():
        if case == "--version":
            argv = [exe, "--version"]
            env = torchup_env if tool == "torchup" else {}
            invs[tool] = Invocation(argv=lambda c, o, argv=argv: argv, env=lambda c, env=env: env)
        elif tool == "torchup":
            invs[tool] = Invocation(
                argv=lambda c, o, exe=exe: [exe, "cache", "dir"],
                env=lambda c: {"TORCHUP_CACHE_DIR": str(c), **torchup_env},
            )
        elif tool == "uv":
            invs[tool] = Invocation(
                argv=lambda c, o, exe=exe: [exe, "cache", "dir", "--no-config"],
                env=lambda c: {"UV_CACHE_DIR": str(c)},
            )
        else:
            invs[tool] = Invocation(
                argv=lambda c, o, exe=exe: [
                    exe,
                    "cache",
                    "dir",
                    "--isolated",
                    "--disable-pip-version-check",
                    "--cache-dir",
                    str(c),
                ],
                env=lambda c: {},
            )
    return invs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(p, repeat=20)
    p.add_argument(
        "--venv-python",
        help="interpreter of the venv rows (default: the one of torchup's console script)",
    )
    p.add_argument(
        "--bytecode",
        action="store_true",
        help="run torchup with .pyc caches (a private PYTHONPYCACHEPREFIX), as a wheel install "
        "does, even where PYTHONDONTWRITEBYTECODE is set",
    )
    args = p.parse_args(argv)
    if args.torchup is None:
        args.torchup = str(Path(sys.prefix) / "bin" / "torchup")
    if not os.access(args.torchup, os.X_OK):
        p.error(f"no torchup console script at {args.torchup} (pass --torchup)")

    paths = locate_tools(args)
    tools: dict[str, str] = {t: exe for t in selected_tools(args) if (exe := paths.get(t))}
    header = header_payload(args, paths, ["bench/bench_startup.py", *argv])
    print(describe_header(header).replace("`", ""))
    tu_python = console_script_python(tools["torchup"]) if "torchup" in tools else None
    print(f"torchup console script: {tools.get('torchup')} (python: {tu_python})")

    scratch = Path(tempfile.mkdtemp(prefix="torchup-bench-startup-"))
    torchup_env: dict[str, str] = {}
    if args.bytecode:
        # An empty PYTHONDONTWRITEBYTECODE counts as unset; the prefix keeps the checkout clean.
        torchup_env = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(scratch / "pyc")}
        bytecode = "torchup ran with .pyc caches (--bytecode: private PYTHONPYCACHEPREFIX)"
    elif os.environ.get("PYTHONDONTWRITEBYTECODE"):
        bytecode = (
            "PYTHONDONTWRITEBYTECODE is set: torchup compiled its modules on every run unless "
            "its install has .pyc files (an editable install has none); see --bytecode"
        )
    else:
        bytecode = "torchup ran with the default bytecode caching"
    print(f"bytecode: {bytecode}")
    venv_python = args.venv_python or tu_python or sys.executable
    groups: list[dict[str, Cell]] = []
    floor: dict[str, Cell] = {}
    try:
        for case in ("--version", "cache dir", "venv"):
            invs = (
                venv_invocations(tools, venv_python, torchup_env)
                if case == "venv"
                else invocations(case, tools, torchup_env)
            )
            groups.append(
                measure(
                    case,
                    "warm",
                    invs,
                    args.repeat,
                    args.timeout,
                    scratch,
                    lambda tool, out: None,
                    log=lambda s: None,
                )
            )
        if tu_python:
            for label, flags in (("python -c pass", []), ("python -I -S -c pass", ["-I", "-S"])):
                cells = measure(
                    label,
                    "warm",
                    {
                        "torchup": Invocation(
                            argv=lambda c, o, f=flags: [tu_python, *f, "-c", "pass"],
                            env=lambda c: {},
                        )
                    },
                    args.repeat,
                    args.timeout,
                    scratch,
                    lambda tool, out: None,
                    log=lambda s: None,
                )
                floor[label] = cells["torchup"]
    finally:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)

    order = [t for t in ("torchup", "uv", "pip") if t in tools]

    def ms_table(metric: str) -> tuple[list[str], list[list[str]]]:
        h, rows = table_rows(groups, metric, order)
        for r, group in zip(rows, groups, strict=True):
            r[1] = f"median of {args.repeat}"
            for i, tool in enumerate(order):  # milliseconds: 2 decimals of a second say too little
                c = group.get(tool)
                if c is not None and c.values(metric):
                    v = c.values(metric)
                    r[2 + len(order) - 1 + i] = (
                        f"{c.median(metric) * 1e3:.0f} [{min(v) * 1e3:.0f}-{max(v) * 1e3:.0f}]"
                    )
        return [x.replace("(s)", "(ms)").replace("(cpu s)", "(cpu ms)") for x in h], rows

    h, rows = ms_table("seconds")
    ch, crows = ms_table("cpu_seconds")
    print_table("start-up wall time (ratio > 1: torchup slower)", h, rows)
    print_table("start-up CPU time, user + system (ratio > 1: torchup slower)", ch, crows)
    md = [describe_header(header), "", "wall time in milliseconds, median [min-max]:", ""]
    md.append(markdown_table(h, rows))
    md += ["", "CPU time (user + system) in milliseconds, median [min-max]:", ""]
    md.append(markdown_table(ch, crows))
    md += [
        "",
        f"venv row: the pip column is `{venv_python} -m venv --without-pip`.",
        f"Bytecode: {bytecode}.",
    ]
    floor_lines = [
        f"- `{label}` ({tu_python}): {c.median() * 1e3:.0f} ms "
        f"[{min(c.values()) * 1e3:.0f}-{max(c.values()) * 1e3:.0f}]"
        for label, c in floor.items()
        if c.values()
    ]
    if floor_lines:
        print("\ninterpreter floor (torchup's python):\n" + "\n".join(floor_lines))
        md += ["", "Interpreter floor (torchup's Python):", "", *floor_lines]
    failures = print_failures(groups)
    payload = {
        **header,
        "bench": "startup",
        "torchup_python": tu_python,
        "venv_python": venv_python,
        "bytecode": bytecode,
        "cells": [c.to_json() for g in groups for c in g.values()],
        "floor": {k: c.to_json() for k, c in floor.items()},
        "failures": failures,
    }
    header["loadavg_at_end"] = payload["loadavg_at_end"] = loadavg()
    md[0] = describe_header(header)
    save_results("startup", payload, "\n".join(md), args.no_save)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
