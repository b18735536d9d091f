"""Cold and warm ``pip compile``: torchup vs ``uv pip compile`` vs pip, side by side.

    python bench/bench_compile.py --uv /tmp/bench-venv/bin/uv --pip /tmp/bench-venv/bin/pip
    python bench/bench_compile.py --sets requests,jupyter --modes cold --repeat 5

Sets come from ``bench/sets.py``. For each set and mode (cold: fresh cache per run; warm: cache
primed once) every tool runs ``--repeat`` times, interleaved; the table shows the median wall
time and the ratios torchup/uv and torchup/pip.

What each tool runs (real PyPI sets; ``<req.in>`` holds the set's requirements):

* torchup: ``torchup pip compile --no-progress <req.in> -o out.txt --python-version 3.11
  --python-platform x86_64-manylinux_2_28 --index-url https://pypi.org/simple``
  (``TORCHUP_CACHE_DIR=<cache>``)
* uv: ``uv pip compile <req.in> -o out.txt --no-config --no-python-downloads --python <this
  python> --python-version 3.11 --python-platform x86_64-manylinux_2_28 --index-url
  https://pypi.org/simple`` (``UV_CACHE_DIR=<cache>``; ``--python`` spares uv a ~1 s
  interpreter search through pyenv shims on the bench host, see ``--uv-python``)
* pip: ``pip install --isolated --disable-pip-version-check --dry-run --ignore-installed
  --report out.json -q --progress-bar off --cache-dir <cache> --index-url https://pypi.org/simple
  -r <req.in>``: resolves (downloads metadata, or whole wheels where the index has no PEP 658
  metadata) without installing, for the interpreter pip runs under (use a Python 3.11 pip).

The ``pytorch-world`` set resolves ``torch torchvision torchaudio`` for cu128 against the hermetic
PyTorch-style index (``tests/support/pytorch_index.py``, big sparse torch wheels):
torchup ``--index-url <world>/pypi --torch-backend cu128 --torch-index-url <world>/whl``;
uv ``--index-url <world>/pypi --extra-index-url <world>/whl/cu128 --index-strategy
unsafe-best-match``; pip ``--index-url <world>/pypi --extra-index-url <world>/whl/cu128``. Bytes
served by the test server are reported too.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (  # noqa: E402
    PYPI_SIMPLE,
    Cell,
    Invocation,
    add_common_args,
    agreement,
    clean_env,
    describe_header,
    header_payload,
    loadavg,
    locate_tools,
    markdown_table,
    measure,
    parse_output,
    print_failures,
    print_table,
    save_results,
    selected_tools,
    table_rows,
)
from sets import DEFAULT_SETS, SETS, BenchSet  # noqa: E402


def build_invocations(
    s: BenchSet, req: Path, tools: dict[str, str], args: argparse.Namespace, world_url: str | None
) -> dict[str, Invocation]:
    pv, pp = args.python_version, args.python_platform
    if s.source == "pytorch-world":
        assert world_url is not None
        pypi = f"{world_url}/pypi"
        tu_index = [
            "--index-url",
            pypi,
            "--torch-backend",
            "cu128",
            "--torch-index-url",
            f"{world_url}/whl",
        ]
        uv_index = [
            "--index-url",
            pypi,
            "--extra-index-url",
            f"{world_url}/whl/cu128",
            "--index-strategy",
            "unsafe-best-match",
        ]
        pip_index = ["--index-url", pypi, "--extra-index-url", f"{world_url}/whl/cu128"]
    else:
        tu_index = ["--index-url", args.index_url]
        uv_index = ["--index-url", args.index_url]
        pip_index = ["--index-url", args.index_url]

    invs: dict[str, Invocation] = {}
    if "torchup" in tools:
        exe = tools["torchup"]
        invs["torchup"] = Invocation(
            argv=lambda cache, out: [
                exe,
                "pip",
                "compile",
                # After the subcommand: global options before it are currently ignored (the
                # subparsers' defaults overwrite them), see docs/benchmarks.md.
                "--no-progress",
                "--color",
                "never",
                str(req),
                "-o",
                str(out),
                "--python-version",
                pv,
                "--python-platform",
                pp,
                *tu_index,
            ],
            env=lambda cache: {"TORCHUP_CACHE_DIR": str(cache)},
        )
    if "uv" in tools:
        exe_uv = tools["uv"]
        invs["uv"] = Invocation(
            argv=lambda cache, out: [
                exe_uv,
                "pip",
                "compile",
                str(req),
                "-o",
                str(out),
                "--no-config",
                "--no-python-downloads",
                "--python",
                args.uv_python,
                "--python-version",
                pv,
                "--python-platform",
                pp,
                *uv_index,
            ],
            env=lambda cache: {"UV_CACHE_DIR": str(cache)},
        )
    if "pip" in tools:
        exe_pip = tools["pip"]
        invs["pip"] = Invocation(
            argv=lambda cache, out: [
                exe_pip,
                "install",
                "--isolated",
                "--disable-pip-version-check",
                "--dry-run",
                "--ignore-installed",
                "--report",
                str(out),
                "-q",
                "--progress-bar",
                "off",
                "--cache-dir",
                str(cache),
                *pip_index,
                "-r",
                str(req),
            ],
            env=lambda cache: {},
            output_name="report.json",
        )
    return invs


def pip_python(pip: str) -> str | None:
    try:
        out = subprocess.run(
            [pip, "--version"], capture_output=True, text=True, timeout=60, env=clean_env()
        )
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"\(python (\d+\.\d+)\)", out.stdout)
    return m.group(1) if m else None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(p, repeat=3)
    p.add_argument(
        "--sets", default=",".join(DEFAULT_SETS), help=f"comma list of {', '.join(SETS)}"
    )
    p.add_argument("--modes", default="cold,warm", help="cold,warm (default: %(default)s)")
    p.add_argument("--python-version", default="3.11")
    p.add_argument("--python-platform", default="x86_64-manylinux_2_28")
    p.add_argument("--index-url", default=PYPI_SIMPLE, help="index for the real-PyPI sets")
    p.add_argument("--small-world", action="store_true", help="PyTorch world without big wheels")
    args = p.parse_args(argv)

    names = [n.strip() for n in args.sets.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETS]
    if unknown:
        p.error(f"unknown set(s) {unknown}; known: {', '.join(SETS)}")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(m not in ("cold", "warm") for m in modes):
        p.error("--modes takes cold and/or warm")

    paths = locate_tools(args)
    tools: dict[str, str] = {t: exe for t in selected_tools(args) if (exe := paths.get(t))}
    if "pip" in tools:
        pyv = pip_python(tools["pip"])
        if pyv != args.python_version:
            print(
                f"!! pip runs under Python {pyv}, the others resolve for {args.python_version}: "
                "pip's numbers are not comparable (pass --pip of a matching venv)",
                file=sys.stderr,
            )
    header = header_payload(args, paths, ["bench/bench_compile.py", *argv])
    print(describe_header(header).replace("`", ""))

    scratch = Path(tempfile.mkdtemp(prefix="torchup-bench-"))
    world = None
    groups: list[dict[str, Cell]] = []
    world_groups: list[dict[str, Cell]] = []
    agree: dict[str, str] = {}
    try:
        for name in names:
            s = SETS[name]
            world_url = None
            before = after = None
            if s.source == "pytorch-world":
                if world is None:
                    from tests.support.pytorch_index import build_pytorch_world

                    print("starting the PyTorch-style test index ...", flush=True)
                    world = build_pytorch_world(scratch / "world", big=not args.small_world)
                world_url = world.server.url
                srv = world.server
                before = srv.reset_stats

                def after(srv=srv) -> dict[str, float]:
                    return {"bytes": float(srv.bytes_sent()), "requests": float(len(srv.requests))}

            req = scratch / f"{name}.in"
            req.write_text("\n".join(s.requirements) + "\n", encoding="utf-8")
            invs = build_invocations(s, req, tools, args, world_url)
            for mode in modes:
                cells = measure(
                    name,
                    mode,
                    invs,
                    args.repeat,
                    args.timeout,
                    scratch,
                    parse_output,
                    before,
                    after,
                )
                groups.append(cells)
                if s.source == "pytorch-world":
                    world_groups.append(cells)
                agree[f"{name}/{mode}"] = agreement(cells)
    finally:
        if world is not None:
            world.server.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    order = [t for t in ("torchup", "uv", "pip") if t in tools]
    h, rows = table_rows(groups, "seconds", order)
    h.append("same resolution?")
    for r in rows:
        r.append(agree.get(f"{r[0]}/{r[1]}", "n/a"))
    print_table("pip compile wall time (median; ratio > 1: torchup slower)", h, rows)
    md = [describe_header(header), "", "wall time, median [min-max]:", "", markdown_table(h, rows)]
    hc, rc_ = table_rows(groups, "cpu_seconds", order)
    print_table("CPU time of the tool process tree (user+sys, median)", hc, rc_)
    md += [
        "",
        "CPU time (user+sys) of the tool's process tree, median [min-max]:",
        "",
        markdown_table(hc, rc_),
    ]
    if world_groups:
        for metric in ("bytes", "requests"):
            hb, rb = table_rows(world_groups, metric, order)
            print_table(f"PyTorch-style index: {metric} served (median)", hb, rb)
            md += ["", f"PyTorch-style index, {metric} served:", "", markdown_table(hb, rb)]
    failures = print_failures(groups)
    if failures:
        md += ["", "Failures:", ""]
        md += [
            f"- {f['tool']} on {f['case']} ({f['mode']}): `{f['error'][-400:]!r}`" for f in failures
        ]
    payload = {
        **header,
        "bench": "compile",
        "settings": {
            "python_version": args.python_version,
            "python_platform": args.python_platform,
            "index_url": args.index_url,
            "sets": {n: list(SETS[n].requirements) for n in names},
            "modes": modes,
        },
        "cells": [c.to_json() for g in groups for c in g.values()],
        "agreement": agree,
        "failures": failures,
    }
    header["loadavg_at_end"] = payload["loadavg_at_end"] = loadavg()
    md[0] = describe_header(header)
    save_results("compile", payload, "\n".join(md), args.no_save)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
