"""Where a warm install of the big torch wheel spends its time, against the floor any Python tool pays.

    python bench/bench_floor.py --torchup /tmp/torchup-venv/bin/torchup --uv /tmp/bench-venv/bin/uv
    python bench/bench_floor.py --scratch /dev/shm --repeat 15

The install is ``bench_install.py``'s torch row (``pip install --no-deps --no-index --find-links
<dir> torch==<v>`` into a fresh venv, warm cache). Next to torchup's and uv's times it measures,
with torchup's own interpreter, what a tool written in Python cannot avoid:

* ``python -c pass``: interpreter start-up.
* ``import mandated libraries``: importing the third-party libraries the brief asks torchup to use
  (``packaging``, ``installer``, ``filelock``, ...), exactly the modules of theirs that a real
  torchup install imported (recorded in an untimed run), with the stdlib modules they pull in.
* ``import all non-torchup modules``: every module that install imported except torchup's own
  (the libraries above plus the stdlib modules torchup itself chose to import).
* ``import everything``: the same plus torchup's own modules: start-up + imports, no work.
* ``link floor``: a bare loop (``-I -S``, no torchup) hard-linking every file of torchup's cached
  unpacked torch tree into a fresh folder, making folders as it finds them missing, split over
  the same number of threads torchup uses. Its in-process time is reported (its start-up is the
  first row).

``floor`` = ``import mandated libraries`` + ``link floor``: a Python installer that links the
same files and imports nothing but the libraries it must use, and does no other work. ``floor/uv``
is the best ratio such a tool could reach in this run; ``torchup - floor`` is what torchup's own
code (its modules, resolving, reading its cache, RECORD, scripts) adds.

Runs are interleaved; before each timed run the untimed setup (a fresh venv or target folder)
is made and ``os.sync()`` flushes dirty pages. Medians, with the minimum beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_startup import console_script_python  # noqa: E402
from common import (  # noqa: E402
    add_common_args,
    clean_env,
    describe_header,
    header_payload,
    locate_tools,
    markdown_table,
    print_table,
    save_results,
)

DEFAULT_TORCH_WHEEL = "/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl"
# The libraries the brief names (and their own dependencies, which they import themselves).
MANDATED = ("packaging", "installer", "filelock", "platformdirs", "rich", "tomlkit", "urllib3")

# Runs torchup's CLI in-process and writes the names of every module it imported, in order.
RECORD_MODULES = r"""
import sys
out = sys.argv[1]
sys.argv = ["torchup", *sys.argv[2:]]
before = set(sys.modules)
from torchup.cli.main import main
try:
    main()
except SystemExit as exc:
    if exc.code not in (0, None):
        raise
names = [m for m in sys.modules if m not in before and m != "__main__"]
open(out, "w", encoding="utf-8").write("\n".join(names))
"""

IMPORT_LIST = r"""
import importlib, sys
for name in open(sys.argv[1], encoding="utf-8").read().split():
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""

LINK_TREE = r"""
import os, sys, threading, time
src, dst, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
pairs = []
for root, _dirs, files in os.walk(src):
    out = os.path.join(dst, os.path.relpath(root, src))
    pairs.extend((os.path.join(root, f), os.path.join(out, f)) for f in files)
def link_run(run):
    for s, d in run:
        try:
            os.link(s, d)
        except FileNotFoundError:
            os.makedirs(os.path.dirname(d), exist_ok=True)
            os.link(s, d)
os.makedirs(dst)
t0 = time.perf_counter()
step = -(-len(pairs) // workers)
threads = [threading.Thread(target=link_run, args=(pairs[i:i + step],))
           for i in range(0, len(pairs), step)]
for t in threads: t.start()
for t in threads: t.join()
print(f"{time.perf_counter() - t0:.6f} {len(pairs)}")
"""


def timed(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def unpacked_torch_tree(cache: Path) -> Path:
    """The folder torchup unpacked the torch wheel into, inside its cache."""
    for manifest in cache.glob("wheels-v*/*/manifest.json"):
        try:
            name = json.loads(manifest.read_text(encoding="utf-8")).get("name")
        except (OSError, ValueError):
            continue
        if name == "torch" and (manifest.parent / "tree").is_dir():
            return manifest.parent / "tree"
    raise SystemExit(f"no unpacked torch tree in {cache} (did the priming install run?)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_common_args(p, repeat=11)
    p.add_argument("--torch-wheel", default=DEFAULT_TORCH_WHEEL)
    p.add_argument("--scratch", help="folder for caches and venvs (default: the temp folder)")
    p.add_argument(
        "--link-threads", type=int, default=min(4, os.cpu_count() or 1),
        help="threads of the link floor (default: torchup's own, %(default)s)",
    )
    args = p.parse_args(argv)
    args.tools = "torchup,uv"
    if args.torchup is None:
        args.torchup = str(Path(sys.prefix) / "bin" / "torchup")
    paths = locate_tools(args)
    torchup, uv = paths.get("torchup"), paths.get("uv")
    if not torchup or not uv:
        p.error("needs both torchup and uv (--torchup, --uv)")
    python = console_script_python(torchup)
    if python is None:
        p.error(f"cannot tell which python runs {torchup}")
    wheel = Path(args.torch_wheel)
    m = re.match(r"torch-([^-]+)-", wheel.name)
    if not wheel.is_file() or m is None:
        p.error(f"no torch wheel at {wheel}")
    header = header_payload(args, paths, ["bench/bench_floor.py", *argv])
    print(describe_header(header).replace("`", ""))

    scratch = Path(tempfile.mkdtemp(prefix="torchup-bench-floor-", dir=args.scratch))
    caches = {"torchup": scratch / "torchup-cache", "uv": scratch / "uv-cache"}
    env = {
        "torchup": clean_env({"TORCHUP_CACHE_DIR": str(caches["torchup"])}),
        "uv": clean_env({"UV_CACHE_DIR": str(caches["uv"])}),
    }
    what = ["--no-deps", "--no-index", "--find-links", str(wheel.parent), f"torch=={m.group(1)}"]
    venv = scratch / "venv"

    def fresh_venv(tool: str) -> Callable[[], list[str]]:
        def make() -> list[str]:
            shutil.rmtree(venv, ignore_errors=True)
            make_venv = (
                [torchup, "venv", "-q", "-p", python, str(venv)]
                if tool == "torchup"
                else [uv, "venv", "-q", "--python", python, str(venv)]
            )
            subprocess.run(make_venv, env=env[tool], check=True, capture_output=True)
            if tool == "torchup":
                return [torchup, "pip", "install", "--no-progress", "-q", "-p", str(venv), *what]
            return [uv, "pip", "install", "-q", "-p", str(venv), *what]

        return make

    modules = scratch / "modules.txt"
    try:
        for tool in ("torchup", "uv"):  # priming: fills each cache
            timed(fresh_venv(tool)(), env[tool], scratch, args.timeout)
        argv_install = fresh_venv("torchup")()
        timed(
            [python, "-c", RECORD_MODULES, str(modules), *argv_install[1:]],
            env["torchup"], scratch, args.timeout,
        )
        names = modules.read_text(encoding="utf-8").split()
        lists = {
            "mandated": [n for n in names if n.split(".")[0] in MANDATED],
            "non-torchup": [n for n in names if n.split(".")[0] != "torchup"],
            "all": names,
        }
        for key, group in lists.items():
            (scratch / f"{key}.txt").write_text("\n".join(group), encoding="utf-8")
        tree = unpacked_torch_tree(caches["torchup"])
        link_dst = scratch / "linked"

        def no_setup() -> None:
            return None

        def clear_links() -> None:
            shutil.rmtree(link_dst, ignore_errors=True)

        rows: dict[str, tuple[Callable[[], object], Callable[[], list[str]] | list[str], str]] = {
            "python -c pass": (no_setup, [python, "-c", "pass"], "torchup"),
            "import mandated libraries": (
                no_setup, [python, "-c", IMPORT_LIST, str(scratch / "mandated.txt")], "torchup"
            ),
            "import all non-torchup modules": (
                no_setup, [python, "-c", IMPORT_LIST, str(scratch / "non-torchup.txt")], "torchup"
            ),
            "import everything": (
                no_setup, [python, "-c", IMPORT_LIST, str(scratch / "all.txt")], "torchup"
            ),
            "link floor (in-process)": (
                clear_links,
                [python, "-I", "-S", "-c", LINK_TREE, str(tree), str(link_dst),
                 str(args.link_threads)],
                "torchup",
            ),
            "torchup install": (no_setup, fresh_venv("torchup"), "torchup"),
            "uv install": (no_setup, fresh_venv("uv"), "uv"),
        }
        times: dict[str, list[float]] = {k: [] for k in rows}
        linked_files = 0
        for i in range(max(1, args.repeat)):
            order = list(rows) if i % 2 == 0 else list(reversed(rows))
            for label in order:
                setup, cmd, tool = rows[label]
                setup()
                run_argv = cmd() if callable(cmd) else cmd
                os.sync()
                seconds, out = timed(run_argv, env[tool], scratch, args.timeout)
                if label.startswith("link floor"):
                    in_process, count = out.split()
                    seconds, linked_files = float(in_process), int(count)
                times[label].append(seconds)
            print(f"  round {i + 1}: " + ", ".join(
                f"{k.split(' (')[0]} {v[-1] * 1000:.0f}" for k, v in times.items()
            ) + " ms", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["import mandated libraries"] + med["link floor (in-process)"]
    uv_s, tu_s = med["uv install"], med["torchup install"]
    header_row = ["what", "median (ms)", "min (ms)", "vs uv install"]
    table = [
        [k, f"{med[k] * 1000:.0f}", f"{min(v) * 1000:.0f}", f"{med[k] / uv_s:.2f}x"]
        for k, v in times.items()
    ]
    table.append(["floor = mandated imports + link floor", f"{floor * 1000:.0f}", "",
                  f"{floor / uv_s:.2f}x"])
    table.append(["torchup - floor (torchup's own work)", f"{(tu_s - floor) * 1000:.0f}", "",
                  ""])
    print_table(
        f"warm torch install and its floor ({linked_files} files, "
        f"{args.link_threads} link threads)",
        header_row, table,
    )
    payload = {
        **header, "scratch": args.scratch or tempfile.gettempdir(), "linked_files": linked_files,
        "link_threads": args.link_threads, "modules": {k: len(v) for k, v in lists.items()},
        "times": times, "median": med, "floor": floor,
    }
    md = describe_header(header) + "\n\n" + markdown_table(header_row, table)
    save_results("floor", payload, md, args.no_save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
