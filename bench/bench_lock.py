"""``torchup lock`` vs ``uv lock`` on a torch project with ~60 packages and 3 torch backends.

    python bench/bench_lock.py --torchup /tmp/torchup-venv/bin/torchup --uv /tmp/bench-venv/bin/uv
    python bench/bench_lock.py --modes cold --repeat 5 --keep-projects /tmp/lock-projects

The project (``DEPENDENCIES``): torch and torchvision, plus transformers, datasets, accelerate,
pandas and scikit-learn from the real https://pypi.org/simple; about 57 packages per lock file
(61 with the CUDA libraries). ``requires-python = ">=3.11,<3.13"`` and the same four
``environments`` (``[tool.torchup]`` / ``[tool.uv]``, the same key) (Linux x86_64 and aarch64, macOS arm64, Windows AMD64) for both tools,
so both lock 4 platforms x 2 Pythons.

The torch family comes from the hermetic PyTorch-style index of
``tests/support/pytorch_index.py`` (download.pytorch.org is not reachable from the bench
machine), started by this script on 127.0.0.1 with big sparse wheels; everything else from the
real PyPI. Three backends: cpu, cu128, cu130.

* torchup: ``[tool.torchup] torch-backends = ["cpu", "cu128", "cu130"]`` and
  ``torch-index-url = "<world>/whl"``; torch and torchvision are plain dependencies. One
  ``torchup lock --no-progress`` writes ``pylock.toml`` (cpu), ``pylock.cu128.toml`` and
  ``pylock.cu130.toml``. ``TORCHUP_CACHE_DIR=<cache>``.
* uv: the layout of uv's PyTorch guide ("configuring accelerator optimization via extras"):
  extras ``cpu``/``cu128``/``cu130`` each holding ``torch`` and ``torchvision``,
  ``[tool.uv] conflicts`` between them, one explicit ``[[tool.uv.index]]`` per backend and
  ``[tool.uv.sources]`` routing torch and torchvision by extra. The CUDA extras take the CPU
  index on macOS and Linux aarch64 (which have no CUDA builds), as torchup's CUDA locks do.
  ``uv lock --no-config --python <python>``, ``UV_CACHE_DIR=<cache>``.

Modes: ``cold`` (empty cache, no lock file), ``warm`` (cache primed by one untimed lock, lock
files deleted before each timed run) and ``noop`` (cache primed and the lock up to date: the
timed run re-runs the same lock command).

Also reported: bytes and requests served by the PyTorch-style index (exact, counted by the test
server), and what each tool locked (name==version entries over all its lock files).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: torchup depends on tomli there
    import tomli as tomllib  # type: ignore[no-redef]

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (  # noqa: E402
    PYPI_SIMPLE,
    Cell,
    Invocation,
    _canon,
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

DEPENDENCIES = ("transformers", "datasets", "accelerate", "pandas", "scikit-learn")
TORCH_DEPS = ('"torch>=2.9"', '"torchvision"')
BACKENDS = ("cpu", "cu128", "cu130")
REQUIRES_PYTHON = ">=3.11,<3.13"
ENVIRONMENTS = (
    "sys_platform == 'linux' and platform_machine == 'x86_64'",
    "sys_platform == 'linux' and platform_machine == 'aarch64'",
    "sys_platform == 'darwin' and platform_machine == 'arm64'",
    "sys_platform == 'win32' and platform_machine == 'AMD64'",
)
# Where CUDA builds exist (the CUDA extras use the CPU index elsewhere, as torchup does).
CUDA_MARKER = (
    "sys_platform == 'win32' or (sys_platform == 'linux' and platform_machine == 'x86_64')"
)
NOT_CUDA_MARKER = (
    "sys_platform != 'win32' and (sys_platform != 'linux' or platform_machine != 'x86_64')"
)
MODES = ("cold", "warm", "noop")


def _toml_list(items: list[str], indent: str = "  ") -> str:
    return "[\n" + "".join(f"{indent}{i},\n" for i in items) + "]"


def _environments() -> str:
    return "environments = " + _toml_list([f'"{e}"' for e in ENVIRONMENTS])


def torchup_pyproject(world: str, pypi: str) -> str:
    deps = [*TORCH_DEPS, *(f'"{d}"' for d in DEPENDENCIES)]
    backends = ", ".join(f'"{b}"' for b in BACKENDS)
    return f"""[project]
name = "bench-torch-app"
version = "0.1.0"
requires-python = "{REQUIRES_PYTHON}"
dependencies = {_toml_list(deps)}

[tool.torchup]
torch-backends = [{backends}]
torch-index-url = "{world}/whl"
{_environments()}

[[tool.torchup.index]]
name = "pypi"
url = "{pypi}"
default = true
"""


def uv_pyproject(world: str, pypi: str) -> str:
    deps = [f'"{d}"' for d in DEPENDENCIES]
    extras = "\n".join(f"{b} = [{', '.join(TORCH_DEPS)}]" for b in BACKENDS)
    conflicts = ", ".join(f'{{ extra = "{b}" }}' for b in BACKENDS)
    sources = ['{ index = "pytorch-cpu", extra = "cpu" }']
    for b in BACKENDS[1:]:
        sources.append(f'{{ index = "pytorch-{b}", extra = "{b}", marker = "{CUDA_MARKER}" }}')
        sources.append(f'{{ index = "pytorch-cpu", extra = "{b}", marker = "{NOT_CUDA_MARKER}" }}')
    indexes = "".join(
        f'\n[[tool.uv.index]]\nname = "pytorch-{b}"\nurl = "{world}/whl/{b}"\nexplicit = true\n'
        for b in BACKENDS
    )
    return f"""[project]
name = "bench-torch-app"
version = "0.1.0"
requires-python = "{REQUIRES_PYTHON}"
dependencies = {_toml_list(deps)}

[project.optional-dependencies]
{extras}

[tool.uv]
conflicts = [[{conflicts}]]
{_environments()}

[tool.uv.sources]
torch = {_toml_list(sources)}
torchvision = {_toml_list(sources)}

[[tool.uv.index]]
name = "pypi"
url = "{pypi}"
default = true
{indexes}"""


def lock_files(tool: str, project: Path) -> list[Path]:
    return sorted(project.glob("pylock*.toml")) if tool == "torchup" else [project / "uv.lock"]


def locked_entries(tool: str, project: Path) -> dict[str, str]:
    """name -> comma list of the versions locked, over all the tool's lock files."""
    versions: dict[str, set[str]] = {}
    for path in lock_files(tool, project):
        if not path.exists():
            continue
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        for pkg in data.get("packages" if tool == "torchup" else "package", []):
            if tool == "uv" and pkg.get("source", {}).get("virtual") == ".":
                continue  # the project itself
            if tool == "uv" and pkg.get("name") == "bench-torch-app":
                continue
            versions.setdefault(_canon(pkg["name"]), set()).add(str(pkg.get("version", "?")))
    return {n: ",".join(sorted(v)) for n, v in sorted(versions.items())}


def compare_locks(cells: dict[str, Cell]) -> str:
    tu = cells.get("torchup")
    uv = cells.get("uv")
    if not (tu and uv and tu.resolution and uv.resolution):
        return "n/a"

    def pairs(res: dict[str, str]) -> set[str]:
        return {f"{n}=={v}" for n, vs in res.items() for v in vs.split(",")}

    a, b = pairs(tu.resolution), pairs(uv.resolution)
    only_a, only_b = sorted(a - b), sorted(b - a)

    def short(xs: list[str]) -> str:
        return ", ".join(xs[:6]) + (f", ... ({len(xs)})" if len(xs) > 6 else "")

    return (
        f"torchup {len(a)} name==version (3 pylock files), uv {len(b)} (uv.lock); "
        f"common {len(a & b)}"
        + (f"; only uv: {short(only_b)}" if only_b else "")
        + (f"; only torchup: {short(only_a)}" if only_a else "")
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(p, repeat=3)
    p.set_defaults(tools="torchup,uv")
    p.add_argument("--modes", default=",".join(MODES), help="cold,warm,noop")
    p.add_argument("--index-url", default=PYPI_SIMPLE, help="the PyPI for everything but torch")
    p.add_argument("--small-world", action="store_true", help="PyTorch world without big wheels")
    p.add_argument("--keep-projects", help="also write both projects (and locks) here")
    args = p.parse_args(argv)
    if args.torchup is None:
        candidate = Path(sys.prefix) / "bin" / "torchup"
        if candidate.exists():
            args.torchup = str(candidate)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if any(m not in MODES for m in modes):
        p.error(f"--modes from {MODES}")

    paths = locate_tools(args)
    tools: dict[str, str] = {
        t: exe for t in selected_tools(args) if t != "pip" and (exe := paths.get(t))
    }
    header = header_payload(args, paths, ["bench/bench_lock.py", *argv])
    print(describe_header(header).replace("`", ""))

    from tests.support.pytorch_index import build_pytorch_world

    scratch = Path(tempfile.mkdtemp(prefix="torchup-bench-lock-"))
    print("starting the PyTorch-style test index ...", flush=True)
    world = build_pytorch_world(scratch / "world", big=not args.small_world)
    srv = world.server
    groups: list[dict[str, Cell]] = []
    notes: dict[str, str] = {}
    projects: dict[str, Path] = {}
    try:
        for tool in tools:
            proj = scratch / f"{tool}-project"
            proj.mkdir()
            text = (torchup_pyproject if tool == "torchup" else uv_pyproject)(
                srv.url, args.index_url
            )
            (proj / "pyproject.toml").write_text(text, encoding="utf-8")
            projects[tool] = proj

        invs: dict[str, Invocation] = {}
        if "torchup" in tools:
            exe = tools["torchup"]
            proj_t = projects["torchup"]
            invs["torchup"] = Invocation(
                argv=lambda c, o: [exe, "lock", "--no-progress", "--directory", str(proj_t)],
                env=lambda c: {"TORCHUP_CACHE_DIR": str(c)},
            )
        if "uv" in tools:
            exe_uv = tools["uv"]
            proj_u = projects["uv"]
            invs["uv"] = Invocation(
                argv=lambda c, o: [
                    exe_uv,
                    "lock",
                    "--no-config",
                    "--python",
                    args.uv_python,
                    "--directory",
                    str(proj_u),
                ],
                env=lambda c: {"UV_CACHE_DIR": str(c)},
            )

        def remove_locks() -> None:
            srv.reset_stats()
            for tool, proj in projects.items():
                for path in lock_files(tool, proj):
                    path.unlink(missing_ok=True)

        def after() -> dict[str, float]:
            return {"bytes": float(srv.bytes_sent()), "requests": float(len(srv.requests))}

        def parse(tool: str, out: Path) -> dict[str, str] | None:
            return locked_entries(tool, projects[tool]) or None

        for mode in modes:
            if mode == "noop":
                # measure()'s warm mode primes (writes the lock), then re-runs with it in place.
                remove_locks()
                cells = measure(
                    "torch-project",
                    "warm",
                    invs,
                    args.repeat,
                    args.timeout,
                    scratch,
                    parse,
                    srv.reset_stats,
                    after,
                )
                for c in cells.values():
                    c.mode = "noop"
            else:
                cells = measure(
                    "torch-project",
                    mode,
                    invs,
                    args.repeat,
                    args.timeout,
                    scratch,
                    parse,
                    remove_locks,
                    after,
                )
            groups.append(cells)
            notes[mode] = compare_locks(cells)
        if args.keep_projects:
            dest = Path(args.keep_projects)
            dest.mkdir(parents=True, exist_ok=True)
            for proj in projects.values():
                shutil.copytree(proj, dest / proj.name, dirs_exist_ok=True)
            print(f"projects kept in {dest}")
    finally:
        srv.stop()
        shutil.rmtree(scratch, ignore_errors=True)

    order = [t for t in ("torchup", "uv") if t in tools]
    h, rows = table_rows(groups, "seconds", order)
    print_table("lock wall time (median; ratio > 1: torchup slower)", h, rows)
    md = [describe_header(header), "", "wall time, median [min-max]:", "", markdown_table(h, rows)]
    for metric, title in (
        ("cpu_seconds", "CPU time (user+sys), median [min-max]"),
        ("bytes", "bytes served by the PyTorch-style index (median)"),
        ("requests", "requests to the PyTorch-style index (median)"),
    ):
        hm, rm = table_rows(groups, metric, order)
        print_table(title, hm, rm)
        md += ["", f"{title}:", "", markdown_table(hm, rm)]
    print("\nwhat was locked:")
    md += ["", "What was locked:", ""]
    for mode, note in notes.items():
        print(f"  {mode}: {note}")
        md.append(f"- {mode}: {note}")
    failures = print_failures(groups)
    if failures:
        md += ["", "Failures:", ""]
        md += [
            f"- {f['tool']} on {f['case']} ({f['mode']}): `{f['error'][-400:]!r}`" for f in failures
        ]
    payload = {
        **header,
        "bench": "lock",
        "settings": {
            "dependencies": [*TORCH_DEPS, *DEPENDENCIES],
            "backends": BACKENDS,
            "requires_python": REQUIRES_PYTHON,
            "environments": ENVIRONMENTS,
            "index_url": args.index_url,
            "modes": modes,
            "pyproject": {
                t: (torchup_pyproject if t == "torchup" else uv_pyproject)(
                    "<world>", args.index_url
                )
                for t in tools
            },
        },
        "cells": [c.to_json() for g in groups for c in g.values()],
        "locked": notes,
        "failures": failures,
    }
    header["loadavg_at_end"] = payload["loadavg_at_end"] = loadavg()
    md[0] = describe_header(header)
    save_results("lock", payload, "\n".join(md), args.no_save)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
