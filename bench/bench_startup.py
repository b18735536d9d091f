"""Start-up time: ``torchup --version`` / ``torchup cache dir`` vs uv and pip.

    python bench/bench_startup.py                 # torchup = sys.prefix/bin/torchup
    python bench/bench_startup.py --torchup /tmp/torchup-venv/bin/torchup --repeat 20

Commands that do no real work, so the time is process start-up, imports and argument parsing:

* ``--version``: ``torchup --version``, ``uv --version``, ``pip --version``
* ``cache dir``: ``torchup cache dir``, ``uv cache dir``, ``pip cache dir`` (each pointed at an
  empty cache directory: ``TORCHUP_CACHE_DIR``, ``UV_CACHE_DIR``, ``pip --cache-dir``)

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


def invocations(case: str, tools: dict[str, str]) -> dict[str, Invocation]:
    invs: dict[str, Invocation] = {}
    for tool, exe in tools.items():
        if case == "--version":
            argv = [exe, "--version"]
            invs[tool] = Invocation(argv=lambda c, o, argv=argv: argv, env=lambda c: {})
        elif tool == "torchup":
            invs[tool] = Invocation(
                argv=lambda c, o, exe=exe: [exe, "cache", "dir"],
                env=lambda c: {"TORCHUP_CACHE_DIR": str(c)},
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
    groups: list[dict[str, Cell]] = []
    floor: dict[str, Cell] = {}
    try:
        for case in ("--version", "cache dir"):
            groups.append(
                measure(
                    case,
                    "warm",
                    invocations(case, tools),
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
    h, rows = table_rows(groups, "seconds", order)
    for r, group in zip(rows, groups, strict=True):
        r[1] = f"median of {args.repeat}"
        for i, tool in enumerate(order):  # milliseconds: seconds with 2 decimals say too little
            c = group.get(tool)
            if c is not None and c.values():
                v = c.values()
                r[2 + len(order) - 1 + i] = (
                    f"{c.median() * 1e3:.0f} [{min(v) * 1e3:.0f}-{max(v) * 1e3:.0f}]"
                )
    h = [x.replace("(s)", "(ms)") for x in h]
    title = "start-up wall time (ratio > 1: torchup slower)"
    print_table(title, h, rows)
    md = [describe_header(header), "", "wall time in milliseconds, median [min-max]:", ""]
    md.append(markdown_table(h, rows))
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
