"""`torchup pip install` and `torchup pip sync`: resolve (or read a lock), plan, download, install.

Plan-then-act: a pure planner decides {install, reinstall, keep, remove}; downloads run in
parallel into the archive cache and each wheel is prepared (unpacked in a thread pool, staged) as
soon as it is there; the environment is changed only under its file lock, and only once every
wheel is ready (see :func:`execute_plan`).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torchup.cli import output
from torchup.cli.context import Context
from torchup.cli.resolve_cmd import Inputs, prefetch_root_pages, read_inputs, resolve_inputs
from torchup.errors import (
    BuildError,
    ConfigError,
    EnvironmentError_,
    InstallError,
    InvalidWheelError,
)

if TYPE_CHECKING:
    # concurrent.futures pulls in logging: `pip list`/`freeze` import this module for its lock.
    from concurrent.futures import Future, ThreadPoolExecutor

    from torchup.install.wheel import PreparedWheel, UnpackedWheel

__all__ = ["run_install", "run_sync", "environment_lock", "select_interpreter", "execute_plan"]


def select_interpreter(ctx: Context, ns: argparse.Namespace, *, read_only: bool = False) -> Any:
    """The environment `pip` commands act on (--python, $VIRTUAL_ENV, .venv, --system).
    ``read_only`` (list, freeze, show, check): an externally managed Python (PEP 668) is
    fine to look at; only changing it needs --break-system-packages."""
    from torchup.install.interpreters import select_environment

    def select(system: bool) -> Any:
        return select_environment(
            getattr(ns, "python", None),
            ctx.env.get("VIRTUAL_ENV"),
            cwd=Path.cwd(),
            system=system,
            path_env=ctx.env.get("PATH", ""),
            pyenv_root=ctx.pyenv_root(),
            cache_dir=ctx.cache.bucket("interpreters-v1"),
            conda_prefix=ctx.active_conda_prefix(),
        )

    try:
        interp = select(bool(getattr(ns, "system", False)))
    except EnvironmentError_:
        if not (getattr(ns, "target", None) or getattr(ns, "prefix", None)):
            raise
        # --target/--prefix install into a folder, not into an environment: any Python on
        # PATH will do for its version and tags when no venv is around (as uv).
        interp = select(True)
    for layout in ("target", "prefix"):
        folder = getattr(ns, layout, None)
        if folder:
            root = Path(folder).resolve()
            if root.exists() and not root.is_dir():
                raise EnvironmentError_(
                    f"--{layout} {folder} is a file, not a folder",
                    hint=f"name a folder for --{layout} (it is created when missing)",
                )
            if getattr(ns, "pip_command", "") in ("install", "sync") and not getattr(ns, "dry_run", False):
                root.mkdir(parents=True, exist_ok=True)
            return interp.for_directory(root, layout=layout)  # type: ignore[arg-type]
    if (
        not read_only
        and not interp.is_venv
        and interp.externally_managed
        and not getattr(ns, "break_system_packages", False)
    ):
        raise EnvironmentError_(
            f"the Python at {interp.executable} is externally managed (PEP 668)",
            hint="create a virtual environment with `torchup venv`, or pass --break-system-packages",
        )
    return interp


def install_target(ctx: Context, ns: argparse.Namespace, interp: Any) -> Any:
    """What `pip install` / `pip sync` resolve for: the environment's interpreter, or the
    Python and platform ``--python-version`` / ``--python-platform`` name (as in uv: wheels
    for another machine, typically into ``--target DIR`` for a Lambda layer or an image; a
    source build still runs here, for this machine). They were accepted and ignored."""
    from torchup.cli.context import _with_python_version
    from torchup.target import Target

    base = interp.target()
    version, platform = getattr(ns, "python_version", None), getattr(ns, "python_platform", None)
    if platform:
        target = Target.for_platform(
            version or str(base.python_version), platform, macos_version=ctx.macos_version()
        )
        return target.with_backend(base.torch_backend) if base.torch_backend else target
    if version:
        return _with_python_version(base, version)
    return base


@contextmanager
def environment_lock(prefix: Path):
    """Serialise torchup processes changing one environment; says when it has to wait."""
    from filelock import FileLock, Timeout

    path = prefix / ".torchup.lock"
    lock = FileLock(str(path))
    try:
        try:
            lock.acquire(timeout=0.5)
        except Timeout:
            output.info(f"Waiting for another torchup process to finish with {prefix} ...")
            lock.acquire()
    except OSError as exc:
        # A read-only environment, another user's, or something in the way of the lock file:
        # this used to surface as an "internal error".
        raise EnvironmentError_(
            f"cannot lock the environment at {prefix} for changes ({path}: {exc.strerror or exc})",
            hint="check that you may write to it, or choose another with --python",
        ) from exc
    try:
        yield
    finally:
        lock.release()


def _given_hashes(inputs: Inputs, name: str) -> tuple[str, ...]:
    """The ``--hash`` values the requirements gave for ``name`` (any spelling of the name)."""
    from packaging.utils import canonicalize_name

    return inputs.hashes.get(name) or next(
        (v for k, v in inputs.hashes.items() if canonicalize_name(k) == canonicalize_name(name)),
        (),
    )


def _desired_from_result(
    result: Any, inputs: Inputs, installed: Mapping[str, Any] | None = None
) -> list[Any]:
    """What the environment should hold after ``result``: the chosen files, and for a
    version kept as installed (see _keepable), the installed distribution as it is."""
    from torchup.cli.resolve_cmd import is_installed_file
    from torchup.install.plan import DesiredDist

    out = []
    for pkg in result.packages:
        if pkg.file is None:
            continue
        if is_installed_file(pkg.file.url) and installed and pkg.name in installed:
            have = installed[pkg.name]
            out.append(
                DesiredDist(
                    name=pkg.name, version=have.version, direct_url=have.direct_url,
                    editable=have.editable,
                )
            )
        else:
            out.append(_desired_for(pkg.name, pkg.version, pkg.file, inputs))
    return out


def _keepable(
    ctx: Context, ns: argparse.Namespace, inputs: Inputs, installed: Mapping[str, Any]
) -> dict[str, Any]:
    """The installed distributions the resolver may keep as they are, even at a version no
    index lists (pip and uv keep an installed distribution that satisfies the requirements):
    none with --upgrade or --reinstall, not those named by -P / --reinstall-package, nor any
    when hashes are required (an installed copy has no file to check). With a torch backend
    asked for, not the torch family either: `--torch-backend cu128` over an installed CPU
    build means the cu128 build (the backend's index decides; an installed version it also
    lists is still preferred and kept)."""
    from packaging.utils import canonicalize_name

    if getattr(ns, "upgrade", False) or getattr(ns, "reinstall", False):
        return {}
    if getattr(ns, "require_hashes", False) or any(inputs.hashes.values()):
        return {}
    skip = {
        canonicalize_name(n)
        for n in [*(getattr(ns, "upgrade_package", None) or []), *(getattr(ns, "reinstall_package", None) or [])]
    }
    if ctx.torch_backend_request():
        from torchup.torch.routing import TORCH_FAMILY

        skip |= set(TORCH_FAMILY)
    return {name: dist for name, dist in installed.items() if name not in skip}


def _desired_for(name: str, version: Any, f: Any, inputs: Inputs) -> Any:
    """The DesiredDist for the file ``f`` the resolver chose for ``name`` ``version``."""
    from torchup.install.plan import DesiredDist

    hashes = tuple(f"{k}:{v}" for k, v in sorted(f.hashes.items()))
    given = tuple(sorted({h for h in _given_hashes(inputs, name) if h.startswith("sha256:")}))
    if given and not f.hashes.get("sha256"):
        # The index gave no hash to compare the requirements' --hash with, so the download
        # itself must match one of them (the tampered file used to go in unchecked).
        hashes = tuple(h for h in hashes if not h.startswith("sha256:")) + given
    direct = None
    if name in inputs.direct_files:
        direct = {"url": f.url, "archive_info": {}}
        if f.hashes.get("sha256"):
            direct["archive_info"] = {"hashes": {"sha256": f.hashes["sha256"]}}
    return DesiredDist(
        name=name,
        version=str(version),
        url=f.url,
        filename=f.filename,
        hashes=hashes,
        direct_url=direct,
    )


def _is_folder_url(url: str | None) -> bool:
    """Whether a requirement's URL names a local project folder (read_inputs has turned git
    sources into their checkouts' folders) rather than a file."""
    return bool(url) and url.startswith("file:") and not url.endswith((".whl", ".tar.gz", ".zip"))  # type: ignore[union-attr]


def _refuse_unhashable(inputs: Inputs) -> None:
    """--require-hashes: a folder, an editable or a git source has no file to hash; say so
    before building anything (as uv; they were installed unchecked)."""
    for rr in inputs.requirements:
        url = rr.requirement.url
        if _is_folder_url(url):
            checkout = inputs.git_checkouts.get(url)
            shown = checkout.url.pinned(checkout.commit) if checkout else url
            raise InstallError(
                f"--require-hashes is on, but {rr.requirement.name} @ {shown} is a "
                f"{'git source' if checkout else 'local folder'}, which has no file to hash",
                hint="build it into a wheel and require that file with its --hash, or drop "
                "--require-hashes",
            )


def _apply_hash_checking(ctx: Context, ns: argparse.Namespace, inputs: Inputs) -> None:
    """Settle ``ns.require_hashes`` from ctx.hash_checking(): with "require" every
    requirement must carry a hash (refused here otherwise); with "off" the ``--hash`` values
    read are dropped, so nothing compares files with them."""
    mode = ctx.hash_checking()
    ns.require_hashes = mode == "require"
    if mode == "require":
        _refuse_unhashable(inputs)
    elif mode == "off":
        inputs.hashes.clear()


def _check_required_hashes(result: Any, inputs: Inputs, *, require_all: bool = True) -> None:
    """Files must match the requirements' ``--hash`` values where given; ``require_all``
    (--require-hashes) also demands a hash for every package.

    Hashes written in a requirements file are checked even without --require-hashes (as uv
    does); they used to be ignored then, and a file swapped on the index went in.
    """
    for pkg in result.packages:
        given = _given_hashes(inputs, pkg.name)
        if not given and not require_all:
            continue
        if not given:
            raise InstallError(
                f"--require-hashes is on, but {pkg.name}=={pkg.version} has no --hash in the requirements",
                hint="add `--hash=sha256:...` for every package (torchup pip compile --generate-hashes writes them)",
            )
        sha = (getattr(pkg.file, "hashes", {}) or {}).get("sha256")
        wanted = {h.split(":", 1)[1] for h in given if h.startswith("sha256:")}
        if sha and sha not in wanted:
            from torchup.errors import HashMismatchError

            raise HashMismatchError(url=pkg.file.url, expected=", ".join(sorted(wanted)), actual=sha)


def _progress_callbacks() -> tuple[Any, Callable[[str, int, int | None], None]] | None:
    """A download progress display (not started) and its per-file callback; None when
    progress is off (-q, --no-progress, not a terminal)."""
    if not output.settings.progress:
        return None
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    progress = Progress(
        TextColumn("{task.description}"), BarColumn(), DownloadColumn(), transient=True,
        console=Console(stderr=True),
    )
    tasks: dict[str, Any] = {}

    def on_progress(name: str, done: int, total: int | None) -> None:
        task = tasks.get(name)
        if task is None:
            task = tasks[name] = progress.add_task(name, total=total)
        progress.update(task, completed=done, total=total)

    return progress, on_progress


# Wheels unpacked at once (cold cache), besides this thread staging the ones already unpacked.
# Unpacking is file creation, inflating and hashing, which release the GIL: on 2 cores, 2
# workers unpacked the 26 wheels of the benchmark's small set ~1.5x faster than 1; more than 4
# mostly contend for the GIL (the per-member Python work) and the filesystem's locks.
_UNPACK_WORKERS = max(2, min(4, os.cpu_count() or 2))
# Downloads started while resolving (network-bound: as many as fetch_artifacts runs at once).
_EARLY_DOWNLOADS = 8


def execute_plan(
    ctx: Context,
    interp: Any,
    plan: Any,
    *,
    link_mode: str = "hardlink",
    compile_bytecode: bool = False,
    requested: set[str] | frozenset[str] = frozenset(),
    local_wheels: dict[str, Path] | None = None,
    pipeline: WheelPipeline | None = None,
) -> tuple[list[str], list[str]]:
    """Download what ``plan`` needs and apply it; returns (+ lines, - lines) for the summary.

    Two phases, both under the environment's lock. **Prepare** (:class:`WheelPipeline`): each
    wheel is validated and unpacked into the unpacked cache in a thread pool as soon as its file
    is there (other files may still be downloading; sdists are built meanwhile), then staged
    inside the environment. **Commit**: once every wheel is ready, they are moved into place in
    plan order, as one transaction. A failure while preparing (a download, a hash, a bad or
    mislabelled wheel, metadata that disagrees with the index's, Ctrl-C) commits nothing and
    removes every staging directory: the environment is left exactly as it was.

    ``pipeline``: one the caller opened (:meth:`WheelPipeline.open`, which holds the lock) and
    may have started wheels in while resolving; without it one is opened here.
    """
    if pipeline is None:
        with WheelPipeline.open(
            ctx, interp, link_mode=link_mode, compile_bytecode=compile_bytecode, requested=requested
        ) as opened:
            return _apply_plan(ctx, interp, plan, opened, dict(local_wheels or {}))
    return _apply_plan(ctx, interp, plan, pipeline, dict(local_wheels or {}))


def _apply_plan(
    ctx: Context, interp: Any, plan: Any, pipeline: WheelPipeline, local_wheels: dict[str, Path]
) -> tuple[list[str], list[str]]:
    from torchup.install.download import Artifact, cached_size
    from torchup.install.wheel import commit_wheels, uninstall

    to_install = list(plan.to_install)
    artifacts = [
        Artifact(
            name=d.canonical_name,
            url=d.url,
            filename=d.filename,
            hashes=_single_hashes(d.hashes),
        )
        for d in to_install
        if d.canonical_name not in local_wheels and d.url
    ]
    # Biggest first: files already at hand are unpacked and staged in this order by a few
    # workers, and a big wheel started last (botocore: 2,000 files) would finish alone.
    artifacts.sort(key=lambda a: -(cached_size(pipeline.archives, a) or 0))
    prepared = pipeline.prepare(plan, artifacts, local_wheels)
    removed: list[str] = []
    try:
        for gone in plan.remove:
            uninstall(gone.name, interp.scheme)
            removed.append(f" - {gone.canonical_name}=={gone.version}")
    except BaseException:
        for p in prepared.values():
            p.discard()
        raise
    # One transaction; it removes the work directories whatever happens.
    commit_wheels([prepared[d.canonical_name] for d in to_install])
    removed += [f" - {r.installed.canonical_name}=={r.installed.version}" for r in plan.reinstall]
    return [f" + {d.canonical_name}=={d.version}" for d in to_install], removed


class WheelPipeline:
    """The prepare phase of :func:`execute_plan`: fetch, unpack into the unpacked cache, stage
    inside the environment; for one environment, under its lock (see :meth:`open`).

    Wheels can be started while the resolver is still working (:meth:`start_early`, called for
    each version it picks): a file at hand (archive cache, local file) is staged at once, which
    is all system calls that overlap with page downloads and parsing; another is downloaded
    first, so downloads overlap with resolution too (as uv does). A pick that the final plan
    does not install exactly as started (the resolver backtracked, another file was chosen,
    the plan keeps an installed copy) is discarded, the way a failed install discards its
    staging directories (its download stays in the archive cache); one that it does is not
    redone.
    """

    def __init__(
        self,
        ctx: Context,
        interp: Any,
        *,
        link_mode: str,
        compile_bytecode: bool,
        requested: set[str] | frozenset[str],
    ) -> None:
        self.ctx = ctx
        self.interp = interp
        self.link_mode = link_mode
        self.compile_bytecode = compile_bytecode
        self.requested = frozenset(requested)
        self.archives = ctx.cache.bucket("archives-v1")
        self.unpacked_cache = ctx.cache.bucket("wheels-v1")
        # An explicit --reinstall is how users repair an install they (or a tool) edited in
        # place; with hard links that edit reached the unpacked cache too, so re-check it.
        self.forced: frozenset[str] = frozenset()
        self._pool: ThreadPoolExecutor | None = None
        # Preparations waiting for a worker, biggest wheel first (see _submit_stage).
        self._waiting: list[tuple[int, int, Future[PreparedWheel], Callable[[], PreparedWheel]]] = []
        self._waiting_lock = threading.Lock()
        self._submitted = 0
        self._early: dict[str, tuple[Any, Future[PreparedWheel]]] = {}
        self._early_lock = threading.Lock()
        self._closed = False
        self._downloads: ThreadPoolExecutor | None = None
        # One download progress display for the early downloads and the rest (see
        # _download_progress): the biggest file (a CUDA torch wheel) is usually an early one.
        self._display: Any = None
        self._on_progress: Callable[[str, int, int | None], None] | None = None
        self._display_lock = threading.Lock()

    @classmethod
    @contextmanager
    def open(
        cls,
        ctx: Context,
        interp: Any,
        *,
        link_mode: str,
        compile_bytecode: bool,
        requested: set[str] | frozenset[str],
    ) -> Iterator[WheelPipeline]:
        """A pipeline for ``interp``'s environment, holding the environment's lock throughout.
        On leaving, wheels started early and never used are discarded and the threads stop."""
        with environment_lock(interp.sys_prefix):
            # First, before any staging directory of ours exists: what killed processes left.
            _remove_stale_staging(interp.scheme)
            pipeline = cls(
                ctx, interp, link_mode=link_mode, compile_bytecode=compile_bytecode,
                requested=requested,
            )
            from torchup.install.wheel import import_installer

            # installer's modules (~70 ms of imports on one core) load in a worker while the
            # resolver waits for pages; else the first wheels picked wait for them.
            pipeline._executor().submit(import_installer)
            try:
                yield pipeline
            finally:
                pipeline._close()

    def _executor(self) -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor

        with self._waiting_lock:  # called from resolver, page and download threads
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=_UNPACK_WORKERS, thread_name_prefix="torchup-unpack"
                )
            return self._pool

    def _submit_stage(self, size: int, prepare: Callable[[], PreparedWheel]) -> Future[PreparedWheel]:
        """Queue ``prepare`` (unpack and stage one wheel of ``size`` bytes); a free worker
        takes the biggest waiting wheel, not the first queued. Picks arrive in page order,
        and a big wheel (botocore: 2,000 files, 900 directories) queued behind a dozen small ones would be
        staged last, alone, after resolution has ended."""
        import heapq
        from concurrent.futures import Future

        fut: Future[PreparedWheel] = Future()
        with self._waiting_lock:
            self._submitted += 1
            heapq.heappush(self._waiting, (-size, self._submitted, fut, prepare))
        self._executor().submit(self._run_biggest)  # one run per queued wheel
        return fut

    def _run_biggest(self) -> None:
        import heapq

        with self._waiting_lock:
            _, _, fut, prepare = heapq.heappop(self._waiting)
        if not fut.set_running_or_notify_cancel():
            return  # cancelled while waiting
        try:
            fut.set_result(prepare())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on it
            fut.set_exception(exc)

    def start_early(self, d: Any) -> None:
        """Start preparing ``d`` (a DesiredDist) now if it is a wheel: staged at once when its
        file is at hand, else downloaded first (in the background, in the shared progress
        display)."""
        from torchup.install.download import Artifact, cached_size

        if not d.url or not (d.filename or "").endswith(".whl"):
            return  # sdists are built once the plan is known
        artifact = Artifact(
            name=d.canonical_name, url=d.url, filename=d.filename, hashes=_single_hashes(d.hashes)
        )
        size = cached_size(self.archives, artifact)
        with self._early_lock:  # picks come from the resolver and from page workers
            if self._closed:
                return  # a page read after the install ended
            if d.canonical_name in self._early:
                return  # the first pick stands; a different final choice discards it
            if size is not None:
                fut = self._submit_stage(size, partial(self._stage_at_hand, d, artifact))
            else:
                fut = self._download_then_stage(d, artifact)
            self._early[d.canonical_name] = (d, fut)

    def _stage_at_hand(self, d: Any, artifact: Any) -> PreparedWheel:
        from torchup.install.download import fetch_artifacts

        # The same checks as any other file (size, a local file's hash); no transfer.
        path = fetch_artifacts(self.ctx.client, self.archives, [artifact])[artifact.name]
        return self._unpack_and_stage(d, path, "fetched")

    def _download_then_stage(self, d: Any, artifact: Any) -> Future[PreparedWheel]:
        """Download ``artifact`` in the download pool, then unpack and stage it in the unpack
        pool (a few workers: see _UNPACK_WORKERS). Called under _early_lock."""
        from concurrent.futures import Future, ThreadPoolExecutor

        from torchup.install.download import fetch_artifacts

        outcome: Future[PreparedWheel] = Future()
        # Running from the start: cancel() must not succeed once a download may be under way,
        # or the staged wheel it leads to would have no owner to discard it.
        outcome.set_running_or_notify_cancel()

        def download() -> None:
            try:
                path = fetch_artifacts(
                    self.ctx.client, self.archives, [artifact], on_progress=self._download_progress()
                )[artifact.name]
                staged = self._submit_stage(
                    _file_size(path), partial(self._unpack_and_stage, d, path, "fetched")
                )
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on it
                outcome.set_exception(exc)
                return
            staged.add_done_callback(lambda done: _pass_outcome(done, outcome))

        if self._downloads is None:
            self._downloads = ThreadPoolExecutor(
                max_workers=_EARLY_DOWNLOADS, thread_name_prefix="torchup-download"
            )
        self._downloads.submit(download)
        return outcome

    def _unpack(self, d: Any, wheel: Path, origin: str) -> UnpackedWheel:
        from torchup.install.download import local_sha256
        from torchup.install.wheel import unpack_wheel_cached

        if origin == "fetched":
            _check_any_hash(d, wheel)
        # The unpacked-cache key must be the wheel's own hash: not the sdist's (builds for
        # two interpreters would share one tree), nor a guess among several allowed values.
        sha = None if origin == "built" else _single_hashes(d.hashes).get("sha256")
        if sha is None:
            sha = local_sha256(wheel, self.archives)  # remembered: an unchanged file is hashed once
        try:
            return unpack_wheel_cached(
                wheel, self.unpacked_cache, sha256=sha, verify=d.canonical_name in self.forced
            )
        except InvalidWheelError:
            _forget_unverified_archive(self.ctx, wheel, d)
            raise

    def _stage(self, d: Any, wheel: Path, unpacked: UnpackedWheel) -> PreparedWheel:
        from torchup.install.wheel import prepare_wheel

        return prepare_wheel(
            wheel,
            self.interp.scheme,
            interpreter=self.interp.executable,
            requested=d.canonical_name in self.requested,
            direct_url=d.direct_url,
            link_mode=self.link_mode,  # type: ignore[arg-type]
            compile_bytecode=self.compile_bytecode,
            unpacked=unpacked,
            source_fingerprint=d.source_fingerprint,
        )

    def _unpack_and_stage(self, d: Any, wheel: Path, origin: str) -> PreparedWheel:
        # Staging in the same worker: with a warm cache it is all mkdir/link system calls
        # (about 0.2 ms each here, GIL released), which overlap across wheels.
        return self._stage(d, wheel, self._unpack(d, wheel, origin))

    def _take_early(self, to_install: Sequence[Any]) -> dict[str, Future[PreparedWheel]]:
        """The early starts the plan installs exactly as started; the others are discarded."""
        keep: dict[str, Future[PreparedWheel]] = {}
        wanted = {d.canonical_name: d for d in to_install}
        with self._early_lock:
            early, self._early = self._early, {}
        for name, (started, fut) in early.items():
            if wanted.get(name) == started and name not in self.forced:
                keep[name] = fut
            else:
                # Not waited for here (a doomed download may still be running): the staging
                # directory goes when it is done; _close() waits for the workers, so before the
                # environment's lock is released.
                if not fut.cancel():
                    fut.add_done_callback(_discard_finished)
                output.debug(f"Discarded {started.canonical_name}=={started.version}, staged while resolving")
        return keep

    def prepare(
        self, plan: Any, artifacts: Sequence[Any], local_wheels: dict[str, Path]
    ) -> dict[str, PreparedWheel]:
        """Fetch and prepare every wheel ``plan`` installs: name -> PreparedWheel.

        Downloads (and sdist builds) run in a helper thread; as each file is ready the pool
        unpacks and stages it. All or nothing: on any error (or Ctrl-C) the staged wheels are
        discarded before it propagates.
        """
        import queue
        import threading
        from concurrent.futures import ThreadPoolExecutor

        from torchup.install.download import fetch_artifacts

        to_install = list(plan.to_install)
        by_name = {d.canonical_name: d for d in to_install}
        self.forced = frozenset(
            r.desired.canonical_name for r in plan.reinstall if r.reason == "requested"
        )
        unpacks: dict[str, Future[PreparedWheel]] = {}
        guard = threading.Lock()  # submit() runs in the download threads too
        ready: queue.SimpleQueue[str | None] = queue.SimpleQueue()  # unpacked names; None: fetched

        def track(name: str, fut: Future[PreparedWheel]) -> None:
            unpacks[name] = fut
            fut.add_done_callback(lambda _: ready.put(name))

        def submit(d: Any, wheel: Path, origin: str) -> None:
            with guard:
                if d.canonical_name not in unpacks:
                    prepare = partial(self._unpack_and_stage, d, Path(wheel), origin)
                    track(d.canonical_name, self._submit_stage(_file_size(Path(wheel)), prepare))

        def on_done(artifact: Any, path: Path, cached: bool) -> None:
            if str(path).endswith(".whl"):  # sdists are built once every file is here
                submit(by_name[artifact.name], path, "fetched")

        def fetch() -> None:
            started = time.monotonic()
            on_progress = self._download_progress() if todo else None
            files = fetch_artifacts(
                self.ctx.client, self.archives, todo, on_progress=on_progress, on_done=on_done
            )
            if todo:
                output.debug(f"Fetched {len(todo)} files in {(time.monotonic() - started) * 1000:.0f}ms")
            # sdists: build each into a wheel (cached under builds-v1 by archive slot and file
            # name) while the wheels are unpacked and staged.
            for d in to_install:
                path = files.get(d.canonical_name)
                if path is not None and not str(path).endswith(".whl"):
                    built.add(d.canonical_name)
                    submit(d, _build_sdist(self.ctx, self.interp, path), "built")

        prepared: dict[str, PreparedWheel] = {}
        built: set[str] = set()  # sdists built here: their metadata was built, not served
        fetcher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchup-fetch")
        try:
            with guard:
                for early_name, fut in self._take_early(to_install).items():
                    track(early_name, fut)
            if unpacks:
                output.debug(f"{len(unpacks)} of {len(to_install)} wheels were staged while resolving")
            todo = [a for a in artifacts if a.name not in unpacks]
            for d in to_install:
                if d.canonical_name in local_wheels:
                    submit(d, local_wheels[d.canonical_name], "local")
            fetched = fetcher.submit(fetch)
            fetched.add_done_callback(lambda _: ready.put(None))
            fetching = True
            while fetching or len(prepared) < len(unpacks):
                name = ready.get()
                if name is None:
                    fetching = False
                    fetched.result()  # a download, hash or build error
                    missing = [d for d in to_install if d.canonical_name not in unpacks]
                    if missing:
                        raise InstallError(
                            f"no file to install {missing[0].canonical_name}=={missing[0].version} from"
                        )
                    continue
                prepared[name] = unpacks[name].result()
            # Each fetched wheel's METADATA against what the resolver read for it. Here, once
            # resolution is over: a wheel staged early (while resolving) can be ready before the
            # resolver has read its metadata, and a check made then found nothing to compare
            # with and let an inconsistent wheel in (a rare, timing-dependent miss).
            for name, wheel in prepared.items():
                if name not in local_wheels and name not in built:
                    _check_resolved_metadata(self.ctx, by_name[name], wheel)
            return prepared
        except BaseException:
            # Nothing was committed; take every staged wheel away again. Running unpacks finish
            # first (a thread cannot be stopped half-way; they only write to the cache).
            fetcher.shutdown(wait=True, cancel_futures=True)
            for fut in unpacks.values():
                _discard_when_done(fut)
            raise
        finally:
            fetcher.shutdown(wait=False)
            self._stop_display()  # every download of the plan has ended by now

    def _download_progress(self) -> Callable[[str, int, int | None], None] | None:
        """The progress callback for a download, starting the shared display on first use
        (None when progress is off: -q, --no-progress, not a terminal)."""
        with self._display_lock:
            if self._display is None and not self._closed:
                made = _progress_callbacks()
                if made is not None:
                    made[0].start()
                    self._display, self._on_progress = made
            return self._on_progress

    def _stop_display(self) -> None:
        with self._display_lock:
            display, self._display, self._on_progress = self._display, None, None
        if display is not None:
            display.stop()

    def _close(self) -> None:
        with self._early_lock:
            self._closed = True
        self._take_early(())  # started early, never collected: discarded
        if self._downloads is not None:
            self._downloads.shutdown(wait=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        # Their runs were cancelled with the pool: tell whoever holds their futures.
        with self._waiting_lock:
            waiting, self._waiting = self._waiting, []
        for _, _, fut, _ in waiting:
            fut.cancel()
        self._stop_display()


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0  # reported by the preparation itself


def _pass_outcome(source: Future[PreparedWheel], target: Future[PreparedWheel]) -> None:
    if source.cancelled():
        from concurrent.futures import CancelledError

        target.set_exception(CancelledError())
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


def _discard_finished(fut: Future[PreparedWheel]) -> None:
    """Remove the staging directory a preparation left, once it has ended (``discard`` is
    idempotent, so a wheel already collected may be passed too); a failed one left none."""
    if not fut.cancelled() and fut.exception() is None:
        fut.result().discard()


def _discard_when_done(fut: Future[PreparedWheel]) -> None:
    """Cancel a preparation not begun, else wait for it and discard what it staged."""
    if not fut.cancel():
        _discard_finished(fut)  # exception() waits for the end


def _remove_stale_staging(scheme: Any) -> None:
    """Clean up after torchup processes that were killed while changing this environment
    (staging and trash directories, files of a half-removed old version: see
    ``recover_interrupted``). Called under :func:`environment_lock`, so nothing it touches
    belongs to a live install. ``install_wheel`` cleans up after every error it sees, but a
    SIGKILL runs no cleanup: without this the leftovers stayed in site-packages forever.
    """
    from torchup.install.wheel import recover_interrupted

    for path in recover_interrupted(scheme):
        output.debug(f"Removed {path}, left by an interrupted torchup process")


def _forget_unverified_archive(ctx: Context, wheel: Path, d: Any) -> None:
    """Remove a downloaded wheel that turned out to be invalid from the archive cache when no
    hash vouches for it (a URL-keyed slot): a corrupt download must not be reused by every later
    run. A file stored under its sha256 is what the index published; it stays."""
    archives = ctx.cache.bucket("archives-v1")
    if _single_hashes(d.hashes).get("sha256"):
        return
    try:
        wheel.relative_to(archives)
    except ValueError:
        return  # a local file, not ours to delete
    wheel.unlink(missing_ok=True)


def _check_resolved_metadata(ctx: Context, d: Any, prepared: Any) -> None:
    """A wheel's own METADATA must agree with the metadata the resolver used for it.

    The resolver reads a PEP 658 ``.metadata`` file (or ranges of the wheel); PEP 658 says that
    file is the wheel's METADATA, but an inconsistent index or mirror can serve one that is not.
    Installing then would put in a distribution whose dependencies nobody resolved. The
    resolver's copy is in the ``metadata-v1`` cache under the key the fetcher used; the wheel's
    is read from its unpacked tree (``prepared``: validated, not yet committed), not the zip.
    """
    from packaging.utils import canonicalize_name

    from torchup.index.client import strip_credentials
    from torchup.index.metadata import parse_metadata

    if not d.url:
        return
    sha = _single_hashes(d.hashes).get("sha256")
    keys = ([f"sha256:{sha}"] if sha else []) + [f"url:{strip_credentials(d.url)}"]
    resolved = next((data for k in keys if (data := ctx.cache.read("metadata-v1", k))), None)
    if resolved is None:
        return
    try:
        own = prepared.metadata_path.read_bytes()
        if own == resolved:
            return  # the usual case: the PEP 658 file is the wheel's METADATA, byte for byte
        ours, theirs = parse_metadata(own), parse_metadata(resolved)
    except Exception:  # noqa: BLE001 - the wheel's METADATA was validated; a bad cache entry is not the wheel's fault
        return
    for what, mine, other in (
        ("name", canonicalize_name(str(ours.name)), canonicalize_name(str(theirs.name))),
        ("version", ours.version, theirs.version),
        ("Requires-Dist", sorted(map(str, ours.requires_dist or [])), sorted(map(str, theirs.requires_dist or []))),
        ("Requires-Python", str(ours.requires_python or ""), str(theirs.requires_python or "")),
    ):
        if mine != other:
            raise InvalidWheelError(
                f"its METADATA disagrees with the metadata the index served for it (PEP 658 "
                f"file or ranged read) on {what}: the wheel says {mine}, the index said {other}",
                filename=prepared.filename,
                hint="the index serves inconsistent files; nothing was installed. Report it "
                "to the index's owners; `torchup cache clean` drops the cached copy",
            )


def _allowed(hashes: Sequence[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for h in hashes:
        algo, _, value = h.partition(":")
        out.setdefault(algo, set()).add(value.lower())
    return out


def _single_hashes(hashes: Sequence[str]) -> dict[str, str]:
    """The hashes a download can be checked against while streaming (one value per algorithm)."""
    return {a: next(iter(v)) for a, v in _allowed(hashes).items() if len(v) == 1}


def _check_any_hash(d: Any, path: Path) -> None:
    """A file allowed several values of one algorithm (``--hash`` listed per wheel) must have
    one of them; a file that does not is removed from the cache and refused."""
    import hashlib

    from torchup.errors import HashMismatchError

    for algo, values in _allowed(d.hashes).items():
        if len(values) < 2 or algo not in hashlib.algorithms_available:
            continue
        digest = hashlib.new(algo)
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() not in values:
            if not str(d.url or "").startswith("file:"):
                Path(path).unlink(missing_ok=True)
            raise HashMismatchError(
                url=d.url or str(path), expected=" or ".join(sorted(values)),
                actual=digest.hexdigest(), algorithm=algo,
            )


def _sdist_project(sdist: Path) -> str | None:
    """The project an sdist's file name names (None when it does not parse)."""
    from packaging.utils import InvalidSdistFilename, parse_sdist_filename

    try:
        return str(parse_sdist_filename(sdist.name)[0])
    except InvalidSdistFilename:
        return None


def _build_sdist(ctx: Context, interp: Any, sdist: Path) -> Path:
    from torchup.install.build import build_wheel, unpack_sdist

    # Keyed by the archive's cache slot (its sha256, or its URL digest) as well as its name:
    # the name alone let a republished sdist with the same filename reuse the old build. And
    # only a wheel this interpreter can install is reused: a build for another Python or
    # platform (a cp312 extension for a cp311 venv) sits under the same key.
    name = _sdist_project(sdist)
    out = ctx.cache.bucket("builds-v1") / sdist.parent.name / f"{sdist.name}{ctx.build_options_key(name)}"
    reused = _usable_build(out, interp.target())
    if reused is not None:
        return reused
    with tempfile.TemporaryDirectory(prefix="torchup-build-") as tmp:
        src = unpack_sdist(sdist, Path(tmp) / "src")
        built = build_wheel(
            src, Path(tmp) / "out", build_env_python=interp.executable,
            provision=_provisioner(ctx, interp), **ctx.build_options(name),
        )
        out.mkdir(parents=True, exist_ok=True)
        final = out / built.name
        os.replace(built, final)
        return final


def _sdist_metadata_builder(ctx: Context, interp: Any):
    """``dist -> Metadata`` for sdists whose PKG-INFO is not static (PEP 643): prepare it.

    Without this `pip install` could never pick a version that exists only as an sdist with
    Metadata-Version < 2.2 or dynamic dependencies (the resolver called it "unavailable (source
    build needed)"), although installing it builds the sdist anyway. The result is cached per
    sdist hash and interpreter tag (a setup.py may compute its dependencies).
    """

    def build(dist: Any) -> Any:
        from torchup.index.metadata import parse_metadata
        from torchup.install.build import prepare_metadata, unpack_sdist
        from torchup.install.download import Artifact, fetch_artifacts

        sha = (getattr(dist, "hashes", None) or {}).get("sha256")
        tag = str(interp.target().tags[0])
        key = f"built-sdist:{sha}:{tag}{ctx.build_options_key(dist.project)}" if sha else None
        data = ctx.cache.read("metadata-v1", key) if key else None
        if data is None:
            art = Artifact(dist.project, dist.url, dist.filename, dict(dist.hashes or {}))
            sdist = fetch_artifacts(ctx.client, ctx.cache.bucket("archives-v1"), [art])[art.name]
            with tempfile.TemporaryDirectory(prefix="torchup-meta-") as tmp:
                src = unpack_sdist(Path(sdist), Path(tmp) / "src")
                meta_dir = prepare_metadata(
                    src, Path(tmp) / "meta", build_env_python=interp.executable,
                    provision=_provisioner(ctx, interp), **ctx.build_options(dist.project),
                )
                data = (Path(meta_dir) / "METADATA").read_bytes()
            if key:
                ctx.cache.write("metadata-v1", key, data)
        return parse_metadata(data, dist)

    return build


def _provisioner(ctx: Context, interp: Any):
    """Install build requirements into a fresh site directory with torchup's own resolver."""

    def provision(requirements: list[str]) -> Path:
        from packaging.requirements import Requirement

        from torchup.cli.resolve_cmd import Inputs
        from torchup.install.interpreters import Scheme
        from torchup.install.plan import plan_install
        from torchup.requirements import RootRequirement

        site = Path(tempfile.mkdtemp(prefix="torchup-build-env-"))
        inputs = Inputs(
            requirements=[RootRequirement(Requirement(r), "build-system.requires") for r in requirements],
            constraints=list(ctx.build_constraints()),
        )
        ns = argparse.Namespace()
        target = interp.target()
        if ctx.runtime_torch_backend:
            target = target.with_backend(ctx.runtime_torch_backend)
        run = resolve_inputs(ctx, ns, inputs, target=target)
        plan = plan_install(_desired_from_result(run.result, inputs), {})
        scheme = Scheme(purelib=site, platlib=site, scripts=site / "bin", data=site / "data", headers=site / "include")
        from torchup.install.download import Artifact, fetch_artifacts
        from torchup.install.wheel import install_wheel

        arts = [
            Artifact(d.canonical_name, d.url or "", d.filename or "", dict(h.split(":", 1) for h in d.hashes))
            for d in plan.to_install
        ]
        files = fetch_artifacts(ctx.client, ctx.cache.bucket("archives-v1"), arts)
        for d in plan.to_install:
            install_wheel(files[d.canonical_name], scheme, interpreter=interp.executable, link_mode="copy")
        return site

    return provision


def _local_projects(
    ctx: Context, interp: Any, inputs: Inputs, out_dir: Path, installed: Mapping[str, Any],
    *, with_deps: bool = True,
) -> dict[str, Path]:
    """Build editable / local-directory requirements (git ones are checked out into local
    directories by read_inputs) to wheels; add their deps as roots unless ``with_deps`` is
    false (`pip sync` installs exactly what its file lists). ``installed``: the environment's
    distributions, where an unchanged editable install is kept instead of built."""
    from packaging.requirements import Requirement

    from torchup.requirements import RootRequirement

    built: dict[str, Path] = {}
    keep: list[Any] = []
    local = []
    target = interp.target()
    for rr in inputs.requirements:
        if _is_folder_url(rr.requirement.url):
            if target.evaluate(rr.requirement.marker, []):
                local.append(rr)  # (one whose marker excludes this environment is dropped)
        else:
            keep.append(rr)
    editable_paths = {str(Path(e.path).resolve()) for e in inputs.editables if e.path}
    for e in inputs.editables:
        if e.path and not any(Path(e.path).resolve().as_uri() == rr.requirement.url for rr in local):
            local.append(RootRequirement(Requirement(f"{e.requirement.name} @ {Path(e.path).resolve().as_uri()}"), "-e"))
            keep = [k for k in keep if k.requirement.name != e.requirement.name]
    if not local:
        return built  # the usual case: nothing to build (and no build machinery to import)
    from email.parser import Parser

    from torchup.requirements import file_url_path

    editable_installs = _installed_editables(installed) if editable_paths else {}
    for rr in local:
        path = Path(file_url_path(rr.requirement.url))
        editable = str(path.resolve()) in editable_paths
        checkout = inputs.git_checkouts.get(rr.requirement.url)
        # Of what the build is about to read; a git checkout is one commit and needs none.
        fingerprint = None if checkout else metadata_fingerprint(path)
        kept = _unchanged_editable(ctx, path, editable_installs, fingerprint) if editable else None
        if kept is not None:
            try:
                meta = Parser().parsestr((kept.path / "METADATA").read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                kept = None  # a damaged install: built and installed again below
        if kept is None:
            wheel = _build_local(
                ctx, interp, path, out_dir, editable=editable, checkout=checkout,
                name=rr.requirement.name,
            )
            meta = Parser().parsestr(_wheel_metadata(wheel))
        for dep in (meta.get_all("Requires-Dist") or []) if with_deps else []:
            req = Requirement(dep)
            if req.marker is None or interp.target().evaluate(req.marker, sorted(rr.requirement.extras)):
                if req.marker is not None and "extra" in str(req.marker) and not rr.requirement.extras:
                    continue
                req.marker = None
                keep.append(RootRequirement(req, meta["Name"]))
        name = meta["Name"].lower().replace("_", "-").replace(".", "-")
        if kept is not None:
            inputs.kept_editables[name] = kept
            continue
        if editable and str(path.resolve()) in editable_installs:
            # Same version, same folder, so "satisfied", yet built because what its metadata
            # comes from changed (or the install predates fingerprints): a kept install would
            # keep the old METADATA (a dependency added to pyproject.toml) and be built again
            # on every run.
            inputs.rebuilt_editables.add(name)
        if fingerprint is not None:
            inputs.local_fingerprints[name] = fingerprint
        built[name] = wheel
        # direct_url.json must name the source tree for plain (non -e) installs too; it was
        # written with url "" (invalid PEP 610, and `pip freeze` printed `name @ `). A git
        # checkout's names the repository and commit instead.
        inputs.local_sources[name] = (
            checkout.direct_url() if checkout else _folder_direct_url(path, editable=False)
        )
        inputs.direct_files.pop(name, None)
    inputs.requirements = keep
    return built


def _installed_editables(installed: Mapping[str, Any]) -> dict[str, Any]:
    """The editable installs among ``installed`` by the folder they point at (resolved)."""
    return {
        str(Path(dist.editable_project_location).resolve()): dist
        for dist in installed.values()
        if dist.editable_project_location
    }


def _unchanged_editable(
    ctx: Context, folder: Path, installed: Mapping[str, Any], fingerprint: str | None
) -> Any:
    """The editable install of ``folder`` when it can stay as it is, else None
    (``fingerprint``: the folder's metadata_fingerprint now; None for a git checkout).

    An editable install's code is the folder itself; only its metadata (name, version,
    dependencies, entry points) comes from the build. When what the folder's cache keys name
    is exactly what that build read (the fingerprint the install keeps), building again
    would give the same metadata: `pip install -e .` run again audits in milliseconds where a
    PEP 517 build takes seconds (uv does the same). --reinstall / --reinstall-package build
    it anyway; an install without a fingerprint (another tool's) is rebuilt.
    """
    from packaging.utils import canonicalize_name

    from torchup.install.wheel import installed_source_fingerprint

    dist = installed.get(str(folder.resolve()))
    if dist is None or fingerprint is None or getattr(ctx.ns, "reinstall", False):
        return None
    forced = {canonicalize_name(n) for n in getattr(ctx.ns, "reinstall_package", None) or ()}
    if dist.canonical_name in forced:
        return None
    return dist if installed_source_fingerprint(dist.path) == fingerprint else None


def _build_local(
    ctx: Context, interp: Any, path: Path, out_dir: Path, *, editable: bool, checkout: Any,
    name: str | None = None,
) -> Path:
    """A wheel of the project in ``path`` (editable when asked), built by its backend.

    Its METADATA is read from the wheel afterwards, not prepared first: one backend run, not
    two. A git checkout is one commit, which never changes: its wheel is kept in builds-v1 and
    reused by every later install of that commit on an interpreter that can install it (a
    folder may change at any time, so it is built each time).
    """
    import hashlib

    from torchup.install.build import build_wheel

    slot = None
    if checkout is not None and not editable:
        where = hashlib.sha256((checkout.url.subdirectory or "").encode()).hexdigest()[:12]
        slot = ctx.cache.bucket("builds-v1") / f"git-{checkout.commit}-{where}{ctx.build_options_key(name)}"
        reused = _usable_build(slot, interp.target())
        if reused is not None:
            output.debug(f"Reusing {reused.name}, built from {checkout.url.repository} at {checkout.commit}")
            return reused
    wheel = build_wheel(
        path, out_dir / "wheels", build_env_python=interp.executable,
        provision=_provisioner(ctx, interp), editable=editable, **ctx.build_options(name),
    )
    if slot is None:
        return wheel
    import shutil

    # Whole or not at all: a reader of the slot never sees a partial wheel.
    with ctx.cache.atomic_path(slot / wheel.name) as scratch:
        shutil.copyfile(wheel, scratch)
    return slot / wheel.name


def _usable_build(slot: Path, target: Any) -> Path | None:
    """The best wheel kept in ``slot`` that ``target`` can install (a build for another
    Python or platform may sit in the same slot), or None."""
    existing = sorted(slot.glob("*.whl")) if slot.is_dir() else []
    usable = [w for w in existing if target.wheel_rank(w.name) is not None]
    return min(usable, key=lambda w: target.wheel_rank(w.name)) if usable else None


def _wheel_metadata(wheel: Path) -> str:
    """The METADATA text inside ``wheel``."""
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        names = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise BuildError(f"the built wheel {wheel.name} has {len(names)} METADATA files, not one")
        return zf.read(names[0]).decode("utf-8")


def desired_from_selection(chosen: Sequence[Any], base_dir: Path) -> list[Any]:
    """DesiredDist for each package a lock selected (paths relative to the lock's folder)."""
    from torchup.install.plan import DesiredDist

    desired = []
    for sel in chosen:
        art = sel.artifact
        url = getattr(art, "url", None) or (base_dir / getattr(art, "path", "")).resolve().as_uri()
        desired.append(
            DesiredDist(
                name=sel.package.name,
                version=str(sel.package.version),
                url=url,
                filename=getattr(art, "filename", None) or url.rsplit("/", 1)[-1],
                hashes=tuple(f"{k}:{v}" for k, v in sorted((getattr(art, "hashes", {}) or {}).items())),
            )
        )
    return desired


def run_install(ns: argparse.Namespace) -> int:
    ctx = Context(ns)
    started = time.monotonic()
    ctx.warm_network()
    inputs = read_inputs(
        ctx, packages=[_name_local_directory(p) for p in ns.packages], files=ns.requirements,
        constraints=ns.constraints, overrides=ns.overrides, editables=ns.editable,
        extras=ns.extra, all_extras=ns.all_extras, groups=ns.group,
    )
    if not inputs.requirements and not inputs.editables:
        raise ConfigError("nothing to install", hint="name packages, or pass -r requirements.txt / -e PATH")
    _apply_hash_checking(ctx, ns, inputs)
    interp = select_interpreter(ctx, ns)
    prefetch_root_pages(ctx, inputs, install_target(ctx, ns, interp))
    # Local projects are built into a temporary directory that lives until they are installed
    # (it used to be a mkdtemp() per `pip install` that was never removed, even when empty).
    from torchup.install.site import scan_site_packages

    installed = scan_site_packages(interp.site_packages)  # (building changes none of it)
    with tempfile.TemporaryDirectory(prefix="torchup-local-") as local_tmp:
        local_wheels = _local_projects(ctx, interp, inputs, Path(local_tmp), installed)
        rc = _install_resolved(ctx, ns, interp, inputs, local_wheels, started, installed)
    _validate_if_strict(ns, interp)
    return rc


def _install_resolved(
    ctx: Context, ns: argparse.Namespace, interp: Any, inputs: Inputs,
    local_wheels: dict[str, Path], started: float, installed: dict[str, Any],
) -> int:
    from packaging.utils import canonicalize_name

    prefs = {} if ns.upgrade else {n: d.version for n, d in installed.items()}
    for name in ns.upgrade_package:
        prefs.pop(canonicalize_name(name), None)
    requested = {canonicalize_name(r.requirement.name) for r in inputs.requirements} | set(local_wheels)
    with _early_pipeline(ctx, ns, interp, requested) as pipeline:
        return _install_planned(
            ctx, ns, interp, inputs, local_wheels, started, installed, prefs, requested, pipeline
        )


@contextmanager
def _early_pipeline(
    ctx: Context, ns: argparse.Namespace, interp: Any, requested: set[str]
) -> Iterator[WheelPipeline | None]:
    """The pipeline to stage wheels in while resolving, holding the environment's lock; None
    for a dry run, and for an environment whose lock cannot be taken (read-only, another
    user's): such a run resolves as before, so one with nothing to do still succeeds, and one
    that must change the environment fails where it tries to."""
    if ns.dry_run:
        yield None
        return
    import contextlib

    with contextlib.ExitStack() as stack:
        try:
            pipeline: WheelPipeline | None = stack.enter_context(
                WheelPipeline.open(
                    ctx, interp, link_mode=ns.link_mode or "hardlink",
                    compile_bytecode=ns.compile_bytecode, requested=requested,
                )
            )
        except EnvironmentError_ as exc:
            output.debug(f"Not staging while resolving: {exc}")
            pipeline = None
        yield pipeline


def _install_planned(
    ctx: Context, ns: argparse.Namespace, interp: Any, inputs: Inputs,
    local_wheels: dict[str, Path], started: float, installed: dict[str, Any],
    prefs: dict[str, Any], requested: set[str], pipeline: WheelPipeline | None,
) -> int:
    from packaging.utils import canonicalize_name

    from torchup.install.plan import plan_install

    def on_pick(name: str, version: Any, best: Any) -> None:
        # A pick of a package the environment lacks, from an index or find-links (not a
        # local project being built): its wheel can be staged while resolution goes on.
        if pipeline is not None and best is not None and name not in installed and name not in local_wheels:
            pipeline.start_early(_desired_for(name, version, best, inputs))

    run = resolve_inputs(
        ctx, ns, inputs, target=install_target(ctx, ns, interp), preferences=prefs,
        build_metadata=_sdist_metadata_builder(ctx, interp), on_pick=on_pick,
        installed=_keepable(ctx, ns, inputs, installed),
    )
    result = run.result
    if ns.require_hashes or any(inputs.hashes.values()):
        _check_required_hashes(result, inputs, require_all=bool(ns.require_hashes))
    desired = _desired_from_result(result, inputs, installed) + _desired_local(inputs, local_wheels)
    reinstall: Any = (
        True if ns.reinstall
        else {canonicalize_name(n) for n in ns.reinstall_package} | inputs.rebuilt_editables
    )
    plan = plan_install(
        desired, installed, reinstall=reinstall, exact=ns.exact,
        env_site_dirs=interp.site_packages, protected=("torchup",),
    )
    local_count = len(local_wheels) + len(inputs.kept_editables)
    output.info(f"Resolved {output.counted(len(result.packages) + local_count, 'package')} in {(time.monotonic() - started) * 1000:.0f}ms")
    if ns.dry_run:
        _print_plan(plan)
        return 0
    if plan.is_empty:
        output.info(f"Audited {output.counted(len(desired), 'package')} in {(time.monotonic() - started) * 1000:.0f}ms")
        return 0
    added, removed = execute_plan(
        ctx, interp, plan, link_mode=ns.link_mode or "hardlink", compile_bytecode=ns.compile_bytecode,
        requested=requested, local_wheels=local_wheels, pipeline=pipeline,
    )
    _summary(added, removed, started)
    return 0


def _name_local_directory(text: str) -> str:
    """``./proj[x]`` -> ``name[x] @ file:///.../proj`` (other requirement strings unchanged).

    `pip install ./proj` is the everyday way to install a source tree, but an unnamed
    requirement was refused ("cannot tell the project name"). The name comes from
    pyproject.toml when static; otherwise the directory name stands in until the built
    metadata names the project (``_local_projects`` uses that name).
    """
    import re

    from torchup.requirements import parse_requirement_string

    try:
        parsed = parse_requirement_string(text, "command line")
    except Exception:  # noqa: BLE001 - read_inputs reports it properly
        return text
    if parsed.requirement is not None or not parsed.path or not Path(parsed.path).is_dir():
        return text
    directory = Path(parsed.path).resolve()
    name = None
    pyproject = directory / "pyproject.toml"
    if pyproject.is_file():
        try:
            import tomllib
        except ImportError:  # pragma: no cover - Python 3.10
            import tomli as tomllib  # type: ignore[no-redef]
        try:
            name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
        except (OSError, ValueError):
            name = None
    if not isinstance(name, str) or not name:
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", directory.name).strip("-._") or "project"
    extras = f"[{','.join(sorted(parsed.extras))}]" if parsed.extras else ""
    marker = f" ; {parsed.marker}" if parsed.marker is not None else ""
    return f"{name}{extras} @ {directory.as_uri()}{marker}"


def _desired_local(inputs: Inputs, local_wheels: dict[str, Path]) -> list[Any]:
    """DesiredDist for each local project _local_projects built (name -> wheel), and for
    each editable it kept as installed."""
    from packaging.utils import canonicalize_name

    from torchup.install.plan import DesiredDist

    desired = []
    for name, wheel in local_wheels.items():
        editable = any(e.requirement is not None and canonicalize_name(e.requirement.name) == name for e in inputs.editables)
        direct = _direct_url(inputs, name, editable=editable)
        fingerprint = inputs.local_fingerprints.get(name)
        desired.append(_desired_built(name, wheel, direct, editable, fingerprint))
    for name, have in inputs.kept_editables.items():
        desired.append(
            DesiredDist(
                name=name, version=have.version, direct_url=have.direct_url, editable=True,
            )
        )
    return desired


def _desired_built(
    name: str, wheel: Path, direct_url: dict[str, Any], editable: bool, fingerprint: str | None
) -> Any:
    """The DesiredDist of a wheel built from a local source (its PEP 610 record given;
    ``fingerprint``: the folder's metadata_fingerprint, None for a git checkout)."""
    from packaging.utils import parse_wheel_filename

    from torchup.install.plan import DesiredDist

    _, version, _, _ = parse_wheel_filename(wheel.name)
    return DesiredDist(
        name=name, version=str(version), url=wheel.as_uri(), filename=wheel.name,
        direct_url=direct_url, editable=editable, source_fingerprint=fingerprint,
    )


def desired_from_lock(
    ctx: Context, interp: Any, chosen: Sequence[Any], base_dir: Path, out_dir: Path,
    installed: Mapping[str, Any],
) -> tuple[list[Any], dict[str, Path], set[str]]:
    """What installing a lock's ``chosen`` entries means: their DesiredDist, the wheels built
    (into ``out_dir``) for its ``vcs`` and ``directory`` entries, by name, and the names of
    those ``installed`` holds stale (built again although installed: an editable folder whose
    metadata changed), which the caller reinstalls even at the same version. Paths are
    relative to ``base_dir``, the lock's folder. ``pip sync pylock.toml`` and `torchup sync`."""
    files = [sel for sel in chosen if sel.kind not in ("vcs", "directory")]
    local_wheels, local_desired = _build_locked_sources(
        ctx, interp, [sel for sel in chosen if sel.kind in ("vcs", "directory")], base_dir,
        out_dir, installed,
    )
    stale = {name for name in local_wheels if name in installed}
    return desired_from_selection(files, base_dir) + local_desired, local_wheels, stale


def _cache_keys(folder: Path) -> tuple[Any, ...]:
    """What a folder project's metadata (name, version, dependencies, entry points) may be
    computed from: its ``[tool.uv] cache-keys``, else uv's defaults (``pyproject.toml``,
    ``setup.py``, ``setup.cfg``)."""
    from torchup.config import DEFAULT_CACHE_KEYS, ProjectConfig
    from torchup.errors import TorchupError

    try:
        text = (folder / "pyproject.toml").read_text(encoding="utf-8")
        keys = ProjectConfig.from_pyproject(text, str(folder / "pyproject.toml")).tool.cache_keys
    except (OSError, UnicodeDecodeError, TorchupError):
        keys = None  # no pyproject.toml (setup.py only), or one torchup cannot read
    return keys if keys is not None else DEFAULT_CACHE_KEYS


def _git_head(folder: Path) -> tuple[str, Path] | None:
    """The commit checked out in the repository holding ``folder``, and the file that says so
    (its mtime changes with each commit); None outside a git checkout."""
    for top in (folder, *folder.parents):
        dot_git = top / ".git"
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dot_git.read_text(encoding="utf-8", errors="replace").strip()
            dot_git = (top / text.partition("gitdir:")[2].strip()).resolve()
        if not dot_git.is_dir():
            continue
        head = dot_git / "HEAD"
        text = head.read_text(encoding="utf-8", errors="replace").strip()
        if not text.startswith("ref: "):
            return text, head
        ref = dot_git / text[len("ref: "):]
        if ref.is_file():
            return ref.read_text(encoding="utf-8", errors="replace").strip(), ref
        packed = dot_git / "packed-refs"
        for line in packed.read_text(encoding="utf-8").splitlines() if packed.is_file() else ():
            commit, _, name = line.partition(" ")
            if name == text[len("ref: "):]:
                return commit, packed
        return None
    return None


def _cache_key_paths(folder: Path, keys: Sequence[Any]) -> list[Path]:
    """The files and directories ``keys`` name in ``folder`` (globs expanded)."""
    paths: list[Path] = []
    for key in keys:
        if key.kind == "file":
            paths += sorted(p for p in folder.glob(key.value) if p.is_file())
        elif key.kind == "dir" and (folder / key.value).is_dir():
            paths.append(folder / key.value)
        elif key.kind == "git" and (head := _git_head(folder)) is not None:
            paths.append(head[1])
    return paths


def metadata_fingerprint(folder: Path) -> str:
    """A digest of what ``folder``'s cache keys name: the files' contents, the directories'
    listings, the environment variables' values, the checkout's commit."""
    import hashlib
    import os

    keys = _cache_keys(folder)
    digest = hashlib.sha256()
    for path in _cache_key_paths(folder, [k for k in keys if k.kind in ("file", "dir")]):
        rel = path.relative_to(folder).as_posix()
        try:
            data = (
                "\n".join(sorted(os.listdir(path))).encode() if path.is_dir() else path.read_bytes()
            )
        except OSError as exc:  # unreadable now: a change too, once it is readable again
            data = f"unreadable: {exc.errno}".encode()
        digest.update(f"{rel}\0{len(data)}\0".encode() + data)
    for key in keys:
        if key.kind == "env":
            digest.update(f"env:{key.value}={os.environ.get(key.value, '')}\0".encode())
        elif key.kind == "git":
            head = _git_head(folder)
            digest.update(f"git:{head[0] if head else ''}\0".encode())
    return digest.hexdigest()


def metadata_changed_since(folder: Path, installed_at: Path, fingerprint: str) -> bool:
    """Whether what ``folder``'s cache keys name (files, directories, environment variables,
    the checkout's commit) changed since ``installed_at``, the ``.dist-info`` of its editable
    install, was made: its code is live, its metadata is not.

    The install keeps the folder's metadata_fingerprint from its build, compared here with
    ``fingerprint`` (the folder's now, which the caller has for the build it may need). One
    without it (another tool's, an older torchup's) is judged by timestamps: changed when a
    file the keys name is newer than the ``.dist-info`` (an environment variable has none)."""
    from torchup.install.wheel import installed_source_fingerprint

    recorded = installed_source_fingerprint(installed_at)
    if recorded is not None:
        return recorded != fingerprint
    newest = max(
        (p.stat().st_mtime for p in _cache_key_paths(folder, _cache_keys(folder))), default=0.0
    )
    return installed_at.stat().st_mtime < newest


def _build_locked_sources(
    ctx: Context, interp: Any, selected: Sequence[Any], base_dir: Path, out_dir: Path,
    installed: Mapping[str, Any],
) -> tuple[dict[str, Path], list[Any]]:
    """Build a lock's ``vcs`` (git) and ``directory`` entries: name -> wheel, and their
    DesiredDist. A git entry is checked out at its ``commit-id``; a folder is relative to the
    lock's folder. The built version must be the one the lock names.

    An entry ``installed`` already holds as the lock says (the same commit; an editable
    install of the same folder at the locked version, whose metadata files have not changed
    since) is not built again: `torchup run` syncs before every command, and a PEP 517 build
    costs seconds. A non-editable folder is always rebuilt, as pip and ``plan_install`` do
    (its files may have changed)."""
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    from torchup.errors import LockError
    from torchup.install.plan import DesiredDist, is_satisfied
    from torchup.install.vcs import GitCheckout, GitUrl, fetch_git

    wheels: dict[str, Path] = {}
    desired = []
    for sel in selected:
        art, name = sel.artifact, str(canonicalize_name(sel.package.name))
        locked = sel.package.version
        if sel.kind == "vcs":
            if art.type != "git":
                raise LockError(
                    f"{sel.package.name} comes from a {art.type} repository; torchup fetches git only",
                    hint="lock it from a wheel, an sdist or a git URL",
                )
            url = art.url or (base_dir / (art.path or "")).resolve().as_uri()
            git_url = GitUrl(url, art.commit_id, art.subdirectory)
            direct = GitCheckout(git_url, art.commit_id, base_dir).direct_url()
            if art.requested_revision:
                direct["vcs_info"]["requested_revision"] = art.requested_revision
            editable = False
            folder = None
        else:
            folder = (base_dir / art.path / (art.subdirectory or "")).resolve()
            editable = bool(art.editable)
            direct = _folder_direct_url(folder, editable=editable)
        fingerprint = metadata_fingerprint(folder) if folder is not None else None
        if locked is not None and name in installed:
            expected = DesiredDist(
                name=name, version=str(locked), direct_url=direct, editable=editable
            )
            have = installed[name]
            if is_satisfied(have, expected) and not (
                folder is not None and fingerprint is not None
                and metadata_changed_since(folder, have.path, fingerprint)
            ):
                desired.append(expected)
                continue
        if folder is None:
            checkout = fetch_git(git_url, ctx.cache.bucket("git-v1"))
            wheel = _build_local(
                ctx, interp, checkout.source_dir, out_dir, editable=False, checkout=checkout,
                name=name,
            )
        else:
            wheel = _build_local(
                ctx, interp, folder, out_dir, editable=editable, checkout=None, name=name
            )
        built = _desired_built(name, wheel, direct, editable, fingerprint)
        if locked is not None and Version(built.version) != Version(str(locked)):
            raise LockError(
                f"the lock has {sel.package.name} {locked}, but its source builds {built.version}",
                hint="the source changed since the lock was written: lock again",
            )
        wheels[name] = wheel
        desired.append(built)
    return wheels, desired


def _direct_url(inputs: Inputs, name: str, *, editable: bool) -> dict[str, Any]:
    """PEP 610 direct_url.json of the local project ``name`` (built by _local_projects)."""
    from packaging.utils import canonicalize_name

    if editable:
        for e in inputs.editables:
            if e.requirement is not None and canonicalize_name(e.requirement.name) == name and e.path:
                return _folder_direct_url(Path(e.path), editable=True)
    return inputs.local_sources.get(name) or {"url": "", "dir_info": {}}


def _folder_direct_url(folder: Path, *, editable: bool) -> dict[str, Any]:
    """PEP 610 direct_url.json of a distribution built from the project in ``folder``."""
    return {"url": folder.resolve().as_uri(), "dir_info": {"editable": True} if editable else {}}


def _print_plan(plan: Any) -> None:
    """A dry run's report, in uv's words: how many would go and come (stderr), then one line
    a change, by name, a removal before its replacement (stdout, for scripts)."""
    gone, coming = plan.to_uninstall, plan.to_install
    if not gone and not coming:
        output.info("Would make no changes")
        return
    if gone:
        output.info(f"Would uninstall {output.counted(len(gone), 'package')}")
    if coming:
        output.info(f"Would install {output.counted(len(coming), 'package')}")
    lines = [(d.canonical_name, 0, f" - {d.canonical_name}=={d.version}") for d in gone]
    lines += [(d.canonical_name, 1, f" + {d.canonical_name}=={d.version}") for d in coming]
    for _, _, line in sorted(lines):
        print(line)


def _summary(added: Sequence[str], removed: Sequence[str], started: float) -> None:
    ms = (time.monotonic() - started) * 1000
    if removed:
        output.info(f"Uninstalled {output.counted(len(removed), 'package')}")
    if added:
        output.info(f"Installed {output.counted(len(added), 'package')} in {ms:.0f}ms")
    names: dict[str, list[str]] = {}
    for line in removed:
        names.setdefault(line[3:].split("==")[0], []).append(line)
    for line in added:
        names.setdefault(line[3:].split("==")[0], []).append(line)
    if output.settings.verbosity < 0:
        return  # -q: the lines above are info() (hidden), these go too (uv prints nothing)
    for name in sorted(names):
        for line in names[name]:
            print(line, file=sys.stderr)


def _already_synced(inputs: Inputs, interp: Any, target: Any) -> bool:
    """No-op fast path: every line is an exact index pin (no URL, no hash to check) that is
    installed at that version, and nothing else is installed. Then there is nothing to resolve
    or fetch (pip and uv answer a no-op sync from the installed set too)."""
    from packaging.utils import canonicalize_name

    from torchup.install.site import scan_site_packages

    if inputs.direct_files or inputs.editables or any(inputs.hashes.values()):
        return False
    wanted: dict[str, str] = {}
    for rr in inputs.requirements:
        req = rr.requirement
        if req.url or req.extras:
            return False
        if req.marker is not None and not target.evaluate(req.marker, []):
            continue
        pins = [s for s in req.specifier if s.operator == "==" and "*" not in s.version]
        if len(pins) != 1 or len(req.specifier) != 1:
            return False
        wanted[canonicalize_name(req.name)] = pins[0].version
    installed = scan_site_packages(interp.site_packages)
    if set(installed) != set(wanted):
        return False
    from packaging.version import Version

    for name, version in wanted.items():
        have = installed[name]  # type: ignore[index]
        if have.direct_url is not None or Version(have.version) != Version(version):
            return False
        if Version(version).local is None and Version(have.version).local is not None:
            return False  # `torch==2.5.1` must not accept an installed 2.5.1+cu121 silently
    return True


def run_sync(ns: argparse.Namespace) -> int:
    """Make the environment exactly the given requirements file(s) or pylock.toml."""
    ctx = Context(ns)
    started = time.monotonic()
    interp = select_interpreter(ctx, ns)
    rc = _sync_environment(ctx, ns, interp, started)
    _validate_if_strict(ns, interp)
    return rc


def _validate_if_strict(
    ns: argparse.Namespace, interp: Any, installed: Mapping[str, Any] | None = None
) -> None:
    """``--strict`` (uv's, on pip install / sync / tree): the environment's missing and
    conflicting requirements (what `pip check` reports) as warnings; the exit code stays.
    ``installed``: the environment as the caller scanned it, when nothing changed since."""
    if not getattr(ns, "strict", False) or getattr(ns, "dry_run", False):
        return
    from torchup.install.site import check_requirements, scan_site_packages

    if installed is None:
        installed = scan_site_packages(interp.site_packages)
    for problem in check_requirements(installed, interp.markers):
        output.warn(str(problem))


def _sync_environment(
    ctx: Context, ns: argparse.Namespace, interp: Any, started: float
) -> int:
    from packaging.utils import canonicalize_name

    from torchup.install.site import scan_site_packages

    target = install_target(ctx, ns, interp)
    lock_files = [f for f in ns.src_files if Path(f).name.startswith("pylock") and f.endswith(".toml")]
    if lock_files:
        if len(ns.src_files) != 1:
            raise ConfigError("pip sync takes one pylock.toml, or requirements files, not both")
        from torchup.lock.io import read_lock
        from torchup.lock.select import select_for_target

        backend = ctx.torch_backend_request()
        if backend:
            name, _ = ctx.choose_backend(backend, target)
            target = target.with_backend(name)
        lock = read_lock(lock_files[0])
        chosen = select_for_target(lock, target, extras=ns.extra, dependency_groups=ns.group or None)
        installed = scan_site_packages(interp.site_packages)
        with tempfile.TemporaryDirectory(prefix="torchup-local-") as local_tmp:
            # Git and folder entries (uv writes them for such requirements) are built here.
            desired, local_wheels, stale = desired_from_lock(
                ctx, interp, chosen, Path(lock_files[0]).parent, Path(local_tmp),
                {} if ns.reinstall else installed,
            )
            return _sync_to(
                ctx, ns, interp, desired, started, None, installed, local_wheels=local_wheels,
                stale=stale,
            )
    inputs = read_inputs(
        ctx, files=ns.src_files, extras=ns.extra, all_extras=ns.all_extras, groups=ns.group
    )
    if not inputs.requirements and not inputs.editables:
        # An empty file (a failed template, a wrong path to the wrong file) would otherwise
        # uninstall everything: uv's rule, ask for it explicitly.
        output.warn(f"{', '.join(ns.src_files)}: no requirements found")
        if not ns.allow_empty_requirements:
            output.info(
                "Nothing changed: pass --allow-empty-requirements to remove every package"
            )
            return 0
    ns.no_deps = True  # pip sync installs exactly what the file lists
    _apply_hash_checking(ctx, ns, inputs)
    if not ns.reinstall and not ns.dry_run and _already_synced(inputs, interp, target):
        output.info(
            f"Audited {output.counted(len(inputs.requirements), 'package')} in {(time.monotonic() - started) * 1000:.0f}ms"
        )
        return 0
    ctx.warm_network()
    prefetch_root_pages(ctx, inputs, target)
    installed = scan_site_packages(interp.site_packages)
    with tempfile.TemporaryDirectory(prefix="torchup-local-") as local_tmp:
        # Local folders and git checkouts listed in the file are built, not looked up.
        local_wheels = _local_projects(
            ctx, interp, inputs, Path(local_tmp), installed, with_deps=False
        )
        requested = {canonicalize_name(r.requirement.name) for r in inputs.requirements} | set(local_wheels)
        with _early_pipeline(ctx, ns, interp, requested) as pipeline:
            return _sync_resolved(
                ctx, ns, interp, target, inputs, installed, started, pipeline, local_wheels
            )


def _sync_resolved(
    ctx: Context, ns: argparse.Namespace, interp: Any, target: Any, inputs: Inputs,
    installed: dict[str, Any], started: float, pipeline: WheelPipeline | None,
    local_wheels: dict[str, Path],
) -> int:
    def on_pick(name: str, version: Any, best: Any) -> None:
        # As for pip install (see _install_planned); --reinstall replaces installed ones.
        if pipeline is not None and best is not None and name not in installed:
            pipeline.start_early(_desired_for(name, version, best, inputs))

    run = resolve_inputs(
        ctx, ns, inputs, target=target, build_metadata=_sdist_metadata_builder(ctx, interp),
        on_pick=on_pick, installed=_keepable(ctx, ns, inputs, installed),
    )
    if ns.require_hashes or any(inputs.hashes.values()):
        _check_required_hashes(run.result, inputs, require_all=bool(ns.require_hashes))
    desired = _desired_from_result(run.result, inputs, installed) + _desired_local(inputs, local_wheels)
    return _sync_to(
        ctx, ns, interp, desired, started, pipeline, installed, local_wheels,
        stale=inputs.rebuilt_editables,
    )


def _sync_to(
    ctx: Context, ns: argparse.Namespace, interp: Any, desired: list[Any], started: float,
    pipeline: WheelPipeline | None, installed: dict[str, Any] | None = None,
    local_wheels: dict[str, Path] | None = None, stale: Collection[str] = (),
) -> int:
    """Plan and apply `pip sync`: exactly ``desired``, extraneous distributions removed;
    ``stale`` ones installed again (see desired_from_lock)."""
    from packaging.utils import canonicalize_name

    from torchup.install.plan import plan_install
    from torchup.install.site import scan_site_packages

    if installed is None:
        installed = scan_site_packages(interp.site_packages)
    plan = plan_install(
        desired, installed, reinstall=bool(ns.reinstall) or set(stale), exact=True,
        env_site_dirs=interp.site_packages, protected=(),
    )
    if ns.dry_run:
        _print_plan(plan)
        return 0
    if plan.is_empty:
        output.info(f"Audited {output.counted(len(desired), 'package')} in {(time.monotonic() - started) * 1000:.0f}ms")
        return 0
    added, removed = execute_plan(
        ctx, interp, plan, link_mode=ns.link_mode or "hardlink", compile_bytecode=ns.compile_bytecode,
        requested={canonicalize_name(d.name) for d in desired}, pipeline=pipeline,
        local_wheels=local_wheels,
    )
    _summary(added, removed, started)
    return 0
