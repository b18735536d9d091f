"""Where torchup's time goes: per-phase CPU accounting of one run, and a page-processing
micro-benchmark. Used for the analysis in docs/benchmarks.md.

Phases of one real run (wraps a few torchup functions, in every thread; CPU is per-thread
``time.thread_time``, so it is not inflated by GIL waits or other processes)::

    TORCHUP_CACHE_DIR=$(mktemp -d) python bench/profile_torchup.py \\
        --python /tmp/torchup-venv/bin/python -- pip compile req.in --python-version 3.11 \\
        --python-platform x86_64-manylinux_2_28 --index-url https://pypi.org/simple -o out.txt

Page processing alone, single-threaded, over the index pages a previous run cached::

    python bench/profile_torchup.py --python /tmp/torchup-venv/bin/python --pages $TORCHUP_CACHE_DIR

``--python`` is the interpreter torchup is installed in (default: this one). Phase names are
function names in torchup; one that no longer exists is reported as missing, not an error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

_PHASES = r"""
import functools, json, resource, sys, threading, time
T0 = time.perf_counter()
acc = {}
lock = threading.Lock()
missing = []

def wrap(modname, owner_attr, attr, label):
    import importlib
    try:
        mod = importlib.import_module(modname)
        owner = getattr(mod, owner_attr) if owner_attr else mod
        fn = getattr(owner, attr)
    except (ImportError, AttributeError):
        missing.append(label)
        return
    @functools.wraps(fn)
    def w(*a, **k):
        c0, w0 = time.thread_time(), time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            c1, w1 = time.thread_time(), time.perf_counter()
            with lock:
                e = acc.setdefault(label, [0, 0.0, 0.0])
                e[0] += 1; e[1] += c1 - c0; e[2] += w1 - w0
    setattr(owner, attr, w)

import torchup.cli.main as cm
import torchup.index.client, torchup.index.simple, torchup.cache, torchup.resolver.provider
import torchup.index.metadata, torchup.resolver.session, torchup.index.finder
T_IMPORT = time.perf_counter()
CPU_IMPORT = time.process_time()
wrap("torchup.index.client", "HttpClient", "_request", "HttpClient._request (send, headers)")
wrap("torchup.index.client", "HttpClient", "_get_page", "HttpClient._get_page (http + cache io)")
wrap("torchup.resolver.provider", "IndexProvider", "_load_choices", "IndexProvider._load_choices (page -> choices)")
wrap("torchup.index.finder", "Finder", "_load", "Finder._load (fetch_page + project filter)")
wrap("torchup.index.client", "HttpClient", "fetch_page", "HttpClient.fetch_page (get + json + parse)")
wrap("torchup.index.client", None, "parse_json_page", "simple.parse_json_page")
wrap("torchup.index.client", None, "parse_html_page", "simple.parse_html_page")
wrap("torchup.resolver.provider", None, "group_candidates", "candidates.group_candidates")
wrap("torchup.cache", "Cache", "write", "Cache.write")
wrap("torchup.cache", "Cache", "read", "Cache.read")
wrap("torchup.index.metadata", "MetadataFetcher", "fetch", "MetadataFetcher.fetch (all of it)")
wrap("torchup.resolver.session", None, "resolve_requirements", "session.resolve_requirements")
sys.argv = ["torchup", *sys.argv[1:]]
rc = 0
try:
    rc = cm.main()
finally:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out = {
        "import_wall_s": T_IMPORT - T0,
        "import_cpu_s": CPU_IMPORT,
        "wall_s": time.perf_counter() - T0,
        "process_cpu_s": ru.ru_utime + ru.ru_stime,
        "phases": {k: {"calls": v[0], "cpu_s": v[1], "wall_s": v[2]} for k, v in acc.items()},
        "missing": missing,
        "rc": rc,
    }
    sys.stderr.write("\n@@PHASES@@" + json.dumps(out) + "\n")
"""

_PAGES = r"""
import json, pathlib, sys, time
from torchup.cache import PageEntry
from torchup.index.simple import parse_json_page, parse_html_page
from torchup.resolver.candidates import group_candidates
from torchup.target import Target
root = pathlib.Path(sys.argv[1]) / "simple-v1"
entries = []
for p in root.rglob("*"):
    if p.is_file() and not p.name.startswith(".") and not p.name.endswith(".lock"):
        e = PageEntry.from_bytes(p.read_bytes())
        if e is not None and e.content_type and "json" in e.content_type:
            entries.append(e)
target = Target.for_platform(sys.argv[2], sys.argv[3])

def best(fn, n=3):
    t = None
    for _ in range(n):
        c = time.process_time(); r = fn(); d = time.process_time() - c
        t = d if t is None else min(t, d)
    return t, r

t_json, datas = best(lambda: [json.loads(e.body) for e in entries])
t_parse, pages = best(lambda: [parse_json_page(d, e.url) for d, e in zip(datas, entries)])

def grouped():
    fresh = [parse_json_page(d, e.url) for d, e in zip(datas, entries)]  # cold cached_property
    c = time.process_time()
    n = 0
    for page in fresh:
        n += len(group_candidates(page.files, target))
    return time.process_time() - c, n

t_group, versions = min(grouped() for _ in range(3))
files = sum(len(p.files) for p in pages)
wheels = sum(1 for p in pages for f in p.files if f.filename.endswith(".whl"))
print(json.dumps({"pages": len(entries), "files": files, "wheels": wheels, "versions": versions,
                  "body_mb": sum(len(e.body) for e in entries) / 1e6, "json_loads_cpu_s": t_json,
                  "parse_json_page_cpu_s": t_parse, "group_candidates_cpu_s": t_group}))
"""


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--python", default=sys.executable, help="interpreter with torchup installed")
    p.add_argument("--pages", metavar="CACHE_DIR", help="micro-benchmark cached index pages")
    p.add_argument("--python-version", default="3.11", help="target for --pages")
    p.add_argument("--python-platform", default="x86_64-manylinux_2_28", help="target for --pages")
    p.add_argument("torchup_args", nargs=argparse.REMAINDER, help="-- then torchup's arguments")
    args = p.parse_args()

    if args.pages:
        out = subprocess.run(
            [args.python, "-c", _PAGES, args.pages, args.python_version, args.python_platform],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        r = json.loads(out.stdout)
        print(
            f"{r['pages']} JSON pages ({r['body_mb']:.1f} MB), {r['files']} files "
            f"({r['wheels']} wheels), {r['versions']} versions; single-threaded CPU:"
        )
        for key in ("json_loads_cpu_s", "parse_json_page_cpu_s", "group_candidates_cpu_s"):
            print(f"  {key[:-6]:<20} {r[key]:6.3f} s")
        return 0

    targs = args.torchup_args[1:] if args.torchup_args[:1] == ["--"] else args.torchup_args
    if not targs:
        p.error("give torchup's arguments after --")
    proc = subprocess.run(
        [args.python, "-c", _PHASES, *targs],
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
    )
    marker = proc.stderr.rfind("@@PHASES@@")
    if marker < 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return 1
    r = json.loads(proc.stderr[marker + len("@@PHASES@@") :])
    total = r["process_cpu_s"]
    print(
        f"torchup exit {r['rc']}; wall {r['wall_s']:.2f} s, process CPU {total:.2f} s, "
        f"imports {r['import_cpu_s']:.2f} s CPU ({r['import_cpu_s'] / total:.0%})"
    )
    print(
        f"  {'phase (inclusive; nested phases overlap)':<44} {'calls':>6} {'CPU s':>7} {'CPU %':>6} {'sum of wall s':>14}"
    )
    for name, v in sorted(r["phases"].items(), key=lambda kv: -kv[1]["cpu_s"]):
        print(
            f"  {name:<50} {v['calls']:>6} {v['cpu_s']:>7.3f} {v['cpu_s'] / total:>6.0%} "
            f"{v['wall_s']:>14.2f}"
        )
    if r["missing"]:
        print("  not found (renamed?): " + ", ".join(r["missing"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
