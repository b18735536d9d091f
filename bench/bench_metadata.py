"""Metadata for torch + torchvision + torchaudio from a PyTorch-style index, cold: seconds AND
bytes, torchup vs ``uv pip compile`` (and pip), side by side.

    python bench/bench_metadata.py --uv /tmp/bench-venv/bin/uv --pip /tmp/bench-venv/bin/pip

Starts the hermetic "big" PyTorch world from ``tests/support/pytorch_index.py`` on 127.0.0.1
(torch wheels are 300-600 MB sparse files; ``whl/*`` indexes have no JSON API and no PEP 658
metadata, like download.pytorch.org, so metadata must come from the wheel itself: a tool that
downloads whole wheels shows up in the byte count). Then, per repetition and tool, with a fresh
empty cache each time (cold), resolves ``torch torchvision torchaudio`` for CUDA 12.8, Python
3.12, Linux x86_64 (manylinux_2_28):

* torchup: ``torchup pip compile torch torchvision torchaudio --torch-backend cu128
  --index-url <world>/pypi --torch-index-url <world>/whl --python-version 3.12
  --python-platform linux`` (torchup's ``linux`` is x86_64 manylinux_2_28)
* uv: ``uv pip compile req.in --no-config --no-python-downloads --python <this python>
  --index-url <world>/pypi --extra-index-url <world>/whl/cu128 --index-strategy
  unsafe-best-match --python-version 3.12 --python-platform x86_64-manylinux_2_28`` (uv's own ``--torch-backend`` hard-codes
  download.pytorch.org, which is not reachable here; the explicit index gives the same result,
  checked by the "same resolution?" column)
* pip: ``pip install --isolated --dry-run --ignore-installed --report out.json --index-url
  <world>/pypi --extra-index-url <world>/whl/cu128 --python-version 3.12 --platform
  manylinux_2_{28..17}_x86_64 --platform manylinux2014_x86_64 --only-binary=:all: -r req.in``

``server.reset_stats()`` runs before each tool run and ``server.bytes_sent()`` /
``server.requests`` are read after it, so bytes and requests are per run. The test server runs in
this process (a thread); every tool pays the same loopback cost.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (  # noqa: E402
    Cell,
    Invocation,
    add_common_args,
    agreement,
    describe_header,
    header_payload,
    human_bytes,
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

REQUIREMENTS = ("torch", "torchvision", "torchaudio")
PIP_PLATFORMS = [f"manylinux_2_{m}_x86_64" for m in range(28, 16, -1)] + ["manylinux2014_x86_64"]


def classify(srv) -> dict[str, float]:  # srv: IndexServer
    """Per-run accounting from the server's request log."""
    reqs = srv.requests
    m = {
        "bytes": 0.0,
        "requests": 0.0,
        "bytes_pages": 0.0,
        "bytes_metadata": 0.0,
        "bytes_dists": 0.0,
        "range_requests": 0.0,
        "head_requests": 0.0,
        "error_responses": 0.0,
    }
    for r in reqs:
        m["bytes"] += r.bytes_sent
        m["requests"] += 1
        path = r.path.split("?", 1)[0]
        if path.endswith(".metadata"):
            m["bytes_metadata"] += r.bytes_sent
        elif path.endswith((".whl", ".tar.gz", ".zip")):
            m["bytes_dists"] += r.bytes_sent
        else:
            m["bytes_pages"] += r.bytes_sent
        if any(k.lower() == "range" for k in r.headers):
            m["range_requests"] += 1
        if r.method == "HEAD":
            m["head_requests"] += 1
        if r.status >= 400:
            m["error_responses"] += 1
    return m


def invocations(
    tools: dict[str, str], world_url: str, req: Path, pv: str, uv_python: str
) -> dict[str, Invocation]:
    pypi, whl = f"{world_url}/pypi", f"{world_url}/whl"
    invs: dict[str, Invocation] = {}
    if "torchup" in tools:
        tu = tools["torchup"]
        invs["torchup"] = Invocation(
            argv=lambda cache, out: [
                tu,
                "pip",
                "compile",
                # After the subcommand: global options before it are currently ignored (the
                # subparsers' defaults overwrite them), see docs/benchmarks.md.
                "--no-progress",
                "--color",
                "never",
                *REQUIREMENTS,
                "-o",
                str(out),
                "--torch-backend",
                "cu128",
                "--index-url",
                pypi,
                "--torch-index-url",
                whl,
                "--python-version",
                pv,
                "--python-platform",
                "linux",
            ],
            env=lambda cache: {"TORCHUP_CACHE_DIR": str(cache)},
        )
    if "uv" in tools:
        uv = tools["uv"]
        invs["uv"] = Invocation(
            argv=lambda cache, out: [
                uv,
                "pip",
                "compile",
                str(req),
                "-o",
                str(out),
                "--no-config",
                "--no-python-downloads",
                "--python",
                uv_python,
                "--index-url",
                pypi,
                "--extra-index-url",
                f"{whl}/cu128",
                "--index-strategy",
                "unsafe-best-match",
                "--python-version",
                pv,
                "--python-platform",
                "x86_64-manylinux_2_28",
            ],
            env=lambda cache: {"UV_CACHE_DIR": str(cache)},
        )
    if "pip" in tools:
        pip = tools["pip"]
        plats = [x for p in PIP_PLATFORMS for x in ("--platform", p)]
        invs["pip"] = Invocation(
            argv=lambda cache, out: [
                pip,
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
                "--index-url",
                pypi,
                "--extra-index-url",
                f"{whl}/cu128",
                "--python-version",
                pv,
                *plats,
                "--only-binary=:all:",
                "-r",
                str(req),
            ],
            env=lambda cache: {},
            output_name="report.json",
        )
    return invs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(p, repeat=3)
    p.add_argument("--modes", default="cold", help="cold and/or warm (default: %(default)s)")
    p.add_argument("--python-version", default="3.12")
    args = p.parse_args(argv)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(m not in ("cold", "warm") for m in modes):
        p.error("--modes takes cold and/or warm")

    paths = locate_tools(args)
    tools: dict[str, str] = {t: exe for t in selected_tools(args) if (exe := paths.get(t))}
    header = header_payload(args, paths, ["bench/bench_metadata.py", *argv])
    print(describe_header(header).replace("`", ""))

    from tests.support.pytorch_index import build_pytorch_world

    scratch = Path(tempfile.mkdtemp(prefix="torchup-bench-meta-"))
    groups: list[dict[str, Cell]] = []
    agree: dict[str, str] = {}
    try:
        print("starting the big PyTorch-style test index ...", flush=True)
        world = build_pytorch_world(scratch / "world", big=True)
        srv = world.server
        try:
            req = scratch / "torch.in"
            req.write_text("\n".join(REQUIREMENTS) + "\n", encoding="utf-8")
            invs = invocations(tools, srv.url, req, args.python_version, args.uv_python)
            for mode in modes:
                cells = measure(
                    "torch+vision+audio",
                    mode,
                    invs,
                    args.repeat,
                    args.timeout,
                    scratch,
                    parse_output,
                    before=srv.reset_stats,
                    after=lambda: classify(srv),
                )
                groups.append(cells)
                agree[mode] = agreement(cells)
        finally:
            srv.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    order = [t for t in ("torchup", "uv", "pip") if t in tools]
    md = [describe_header(header)]
    for metric, title in (
        ("seconds", "wall time, median [min-max]"),
        ("cpu_seconds", "CPU time (user+sys) of the tool's process tree"),
        ("bytes", "bytes served by the test index"),
        ("requests", "HTTP requests"),
    ):
        h, rows = table_rows(groups, metric, order)
        if metric == "seconds":
            h.append("same resolution?")
            for r in rows:
                r.append(agree.get(r[1], "n/a"))
        print_table(f"metadata, torch+torchvision+torchaudio (cu128, py3.12): {title}", h, rows)
        md += ["", f"{title}:", "", markdown_table(h, rows)]

    # Where the bytes went, per tool (median over the runs of each mode).
    bh = ["mode", "tool", "pages", ".metadata", "dist files", "range GETs", "HEADs", "4xx/5xx"]
    brows = []
    for g in groups:
        for tool in order:
            c = g.get(tool)
            if c is None or c.failed:
                continue
            brows.append(
                [
                    c.mode,
                    tool,
                    human_bytes(c.median("bytes_pages") or 0),
                    human_bytes(c.median("bytes_metadata") or 0),
                    human_bytes(c.median("bytes_dists") or 0),
                    f"{c.median('range_requests') or 0:g}",
                    f"{c.median('head_requests') or 0:g}",
                    f"{c.median('error_responses') or 0:g}",
                ]
            )
    print_table("where the bytes went (median)", bh, brows)
    md += ["", "where the bytes went (median):", "", markdown_table(bh, brows)]

    failures = print_failures(groups)
    if failures:
        md += ["", "Failures:", ""]
        md += [f"- {f['tool']} ({f['mode']}): `{f['error'][-400:]!r}`" for f in failures]
    payload = {
        **header,
        "bench": "metadata",
        "settings": {
            "python_version": args.python_version,
            "requirements": REQUIREMENTS,
            "modes": modes,
        },
        "cells": [c.to_json() for g in groups for c in g.values()],
        "agreement": agree,
        "failures": failures,
    }
    header["loadavg_at_end"] = payload["loadavg_at_end"] = loadavg()
    md[0] = describe_header(header)
    save_results("metadata", payload, "\n".join(md), args.no_save)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
