"""Choose what to install from a lock for one machine (PEP 751's installation algorithm).

The reference implementation is ``packaging.pylock.Pylock.select``; it is used whenever it
fits. It does not fit when a lock holds entries for several torch backends (``torch
2.8.0+cpu`` and ``torch 2.8.0+cu128`` under the same marker, told apart only by
``[packages.tool.torchup] backends``): PEP 751 markers cannot say "CUDA 12.8", so that case
runs the same algorithm here with a backend filter first. When packaging refuses a lock, the
same local algorithm runs again to explain why in torchup's words (package, version, machine,
what the lock has instead).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from packaging.markers import Environment, InvalidMarker, Marker
from packaging.tags import Tag
from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from torchup.errors import LockError
from torchup.lock.model import (
    Lock,
    LockedArchive,
    LockedDirectory,
    LockedFile,
    LockedPackage,
    LockedVcs,
)
from torchup.target import Target

__all__ = ["Selected", "ArtifactKind", "select_packages", "select_for_target"]

ArtifactKind = Literal["wheel", "sdist", "archive", "directory", "vcs"]


@dataclass(frozen=True)
class Selected:
    """A package chosen for installation and the one artifact to install it from."""

    package: LockedPackage
    artifact: LockedFile | LockedArchive | LockedDirectory | LockedVcs
    kind: ArtifactKind


def select_for_target(
    lock: Lock,
    target: Target,
    *,
    extras: Collection[str] = (),
    dependency_groups: Collection[str] | None = None,
    allow_sdist: bool = True,
) -> tuple[Selected, ...]:
    """:func:`select_packages` for a :class:`~torchup.target.Target` (its backend included)."""
    return select_packages(
        lock,
        environment=target.environment,
        tags=target.tags,
        extras=extras,
        dependency_groups=dependency_groups,
        backend=target.torch_backend,
        label=str(target),
        allow_sdist=allow_sdist,
    )


def select_packages(
    lock: Lock,
    *,
    environment: Mapping[str, str],
    tags: Sequence[Tag],
    extras: Collection[str] = (),
    dependency_groups: Collection[str] | None = None,
    backend: str | None = None,
    label: str | None = None,
    allow_sdist: bool = True,
) -> tuple[Selected, ...]:
    """The packages of ``lock`` to install on a machine, each with its best artifact.

    ``environment`` is a full PEP 508 marker environment, ``tags`` the machine's wheel tags
    best first. ``dependency_groups=None`` means the lock's default groups. ``backend`` picks
    among per-backend entries (None or ``"auto"``: the lock's own ``torch-backend``).
    ``allow_sdist=False`` turns "only an sdist fits" into an error. Raises LockError naming
    the package and the machine (``label``) when the lock cannot serve it.
    """
    where = label or _describe(environment)
    wanted_backend = _effective_backend(lock, backend)
    has_backends = any(p.backends for p in lock.packages)
    if not has_backends:
        try:
            chosen = _select_with_packaging(lock, environment, tags, extras, dependency_groups)
        except _PackagingRefused as refused:
            # Re-run locally to say what is wrong in torchup's words; if the local algorithm
            # somehow accepts, still refuse with packaging's message.
            _select_locally(
                lock, environment, tags, extras, dependency_groups, None, where, allow_sdist
            )
            raise LockError(
                f"the lock cannot be installed on {where}: {refused}",
                hint="re-create the lock with `torchup lock`",
            ) from None
        if not allow_sdist:
            for item in chosen:
                if item.kind == "sdist":
                    raise _no_wheel(
                        lock,
                        item.package,
                        tags,
                        where,
                        sdist_refused=True,
                        environment=environment,
                    )
        return chosen
    return _select_locally(
        lock, environment, tags, extras, dependency_groups, wanted_backend, where, allow_sdist
    )


# --------------------------------------------------------------------------------------------
# With packaging.pylock
# --------------------------------------------------------------------------------------------


class _PackagingRefused(Exception):
    """packaging.pylock rejected the lock or the environment."""


def _select_with_packaging(
    lock: Lock,
    environment: Mapping[str, str],
    tags: Sequence[Tag],
    extras: Collection[str],
    dependency_groups: Collection[str] | None,
) -> tuple[Selected, ...]:
    from packaging.pylock import Pylock, PylockSelectError, PylockValidationError

    try:
        pylock = Pylock.from_dict(lock.to_dict())
    except PylockValidationError as exc:
        raise LockError(
            f"the lock is not a valid PEP 751 lock: {exc}",
            hint="re-create the lock with `torchup lock`",
        ) from None
    position = {id(p): i for i, p in enumerate(pylock.packages)}
    out: list[Selected] = []
    try:
        for package, artifact in pylock.select(
            environment=cast("Environment", dict(environment)),
            tags=list(tags),
            extras=list(extras),
            dependency_groups=None if dependency_groups is None else list(dependency_groups),
        ):
            ours = lock.packages[position[id(package)]]
            out.append(_ours(ours, type(artifact).__name__, getattr(artifact, "name", None)))
    except PylockSelectError as exc:
        raise _PackagingRefused(str(exc)) from None
    except Exception as exc:  # e.g. a marker naming `extra` in a lock; explained locally
        raise _PackagingRefused(f"{type(exc).__name__}: {exc}") from None
    return tuple(out)


def _ours(package: LockedPackage, kind_name: str, filename: str | None) -> Selected:
    """Translate packaging's (package, artifact) into our objects."""
    if kind_name == "PackageVcs" and package.vcs is not None:
        return Selected(package, package.vcs, "vcs")
    if kind_name == "PackageDirectory" and package.directory is not None:
        return Selected(package, package.directory, "directory")
    if kind_name == "PackageArchive" and package.archive is not None:
        return Selected(package, package.archive, "archive")
    if kind_name == "PackageSdist" and package.sdist is not None:
        return Selected(package, package.sdist, "sdist")
    for wheel in package.wheels:
        if wheel.filename == filename:
            return Selected(package, wheel, "wheel")
    raise LockError(f"internal error: no artifact {filename!r} in {package.name}")


# --------------------------------------------------------------------------------------------
# Locally (backend-aware)
# --------------------------------------------------------------------------------------------


def _select_locally(
    lock: Lock,
    environment: Mapping[str, str],
    tags: Sequence[Tag],
    extras: Collection[str],
    dependency_groups: Collection[str] | None,
    backend: str | None,
    where: str,
    allow_sdist: bool,
) -> tuple[Selected, ...]:
    python = _python_full_version(environment)
    if lock.requires_python is not None and python is not None:
        if not lock.requires_python.contains(python, prereleases=True):
            raise LockError(
                f"the lock needs Python {lock.requires_python}, but {where} has {python}",
                hint="use another interpreter (--python) or change requires-python and re-lock",
            )
    if lock.environments:
        env = dict(environment)
        if not any(_evaluate(m, env, "requirement", "`environments`") for m in lock.environments):
            covered = "; ".join(str(m) for m in lock.environments)
            raise LockError(
                f"the lock was not made for {where} (it covers: {covered})",
                hint="add this environment to `environments` in [tool.uv] or [tool.torchup] "
                "and run `torchup lock`",
            )
    groups = lock.default_groups if dependency_groups is None else tuple(dependency_groups)
    marker_env: dict[str, str | frozenset[str]] = {
        **environment,
        "extras": frozenset(extras),
        "dependency_groups": frozenset(groups),
    }
    chosen: dict[str, tuple[int, LockedPackage]] = {}
    for index, package in enumerate(lock.packages):
        if package.marker is not None and not _evaluate(
            package.marker, marker_env, "lock_file", f"the marker of {_label(package)}"
        ):
            continue
        if backend is not None and package.backends and backend not in package.backends:
            continue
        if package.requires_python is not None and python is not None:
            if not package.requires_python.contains(python, prereleases=True):
                raise LockError(
                    f"{_label(package)} needs Python {package.requires_python}, "
                    f"but {where} has {python}",
                    hint="use another interpreter (--python) or re-lock for this one",
                )
        if package.name in chosen:
            other = chosen[package.name][1]
            hint = "re-create the lock with `torchup lock`"
            if package.backends or other.backends:
                names = sorted({*package.backends, *other.backends})
                hint = "choose a torch backend with --torch-backend (" + ", ".join(names) + ")"
            raise LockError(
                f"the lock has two entries for {package.name} on {where}: "
                f"{_label(other)} and {_label(package)}",
                hint=hint,
            )
        chosen[package.name] = (index, package)
    out: list[Selected] = []
    for _, package in chosen.values():
        out.append(_artifact(lock, package, tags, where, allow_sdist, environment))
    return tuple(out)


def _artifact(
    lock: Lock,
    package: LockedPackage,
    tags: Sequence[Tag],
    where: str,
    allow_sdist: bool,
    environment: Mapping[str, str],
) -> Selected:
    if package.vcs is not None:
        return Selected(package, package.vcs, "vcs")
    if package.directory is not None:
        return Selected(package, package.directory, "directory")
    if package.archive is not None:
        return Selected(package, package.archive, "archive")
    best = _best_wheel(package.wheels, tags)
    if best is not None:
        return Selected(package, best, "wheel")
    if package.sdist is not None and allow_sdist:
        return Selected(package, package.sdist, "sdist")
    raise _no_wheel(
        lock, package, tags, where, sdist_refused=package.sdist is not None, environment=environment
    )


def _best_wheel(wheels: Sequence[LockedFile], tags: Sequence[Tag]) -> LockedFile | None:
    rank = {tag: i for i, tag in enumerate(tags)}
    best: tuple[int, LockedFile] | None = None
    for wheel in wheels:
        try:
            _, _, _, wheel_tags = parse_wheel_filename(wheel.filename)
        except (InvalidWheelFilename, InvalidVersion):
            continue
        ranks = [rank[t] for t in wheel_tags if t in rank]
        if ranks and (best is None or min(ranks) < best[0]):
            best = (min(ranks), wheel)
    return best[1] if best else None


def _no_wheel(
    lock: Lock,
    package: LockedPackage,
    tags: Sequence[Tag],
    where: str,
    *,
    sdist_refused: bool,
    environment: Mapping[str, str],
) -> LockError:
    files = ", ".join(w.filename for w in package.wheels[:4])
    if len(package.wheels) > 4:
        files += f", and {len(package.wheels) - 4} more"
    notes = [
        n.message
        for n in lock.meta.notes_for(package=package.name)
        if _note_applies(n.environment, environment, where)
    ]
    parts = []
    if notes:
        parts.append("; ".join(dict.fromkeys(notes)))
    if files:
        parts.append(f"the lock has: {files}")
    if sdist_refused:
        parts.append("an sdist exists; allow building from source to use it")
    parts.append("add this platform to `required-environments` in [tool.uv] and run `torchup lock`")
    return LockError(
        f"{_label(package)} has no wheel for {where}",
        hint="; ".join(parts),
    )


def _evaluate(marker: Marker, environment: Mapping[str, Any], context: str, what: str) -> bool:
    """Evaluate a marker from a lock; one packaging cannot evaluate is a LockError."""
    try:
        return marker.evaluate(dict(environment), context=context)  # type: ignore[arg-type]
    except Exception as exc:
        raise LockError(
            f"cannot evaluate {what} ({marker}): {exc}",
            hint="lock markers use `'name' in extras` and `'name' in dependency_groups`, "
            "not `extra == ...`; re-create the lock with `torchup lock`",
        ) from None


def _note_applies(note_environment: str, environment: Mapping[str, str], where: str) -> bool:
    """A note's environment is a marker (evaluated here) or a label (compared)."""
    if note_environment == where:
        return True
    try:
        marker = Marker(note_environment)
    except InvalidMarker:
        return False
    try:
        return marker.evaluate({**environment, "extra": ""})
    except Exception:  # an undefined variable in a hand-edited note must not hide the error
        return False


def _label(package: LockedPackage) -> str:
    version = f" {package.version}" if package.version is not None else ""
    index = f" (from {package.index})" if package.index else ""
    return f"{package.name}{version}{index}"


def _effective_backend(lock: Lock, backend: str | None) -> str | None:
    if backend is None or backend == "auto":
        return lock.meta.torch_backend
    return backend


def _python_full_version(environment: Mapping[str, str]) -> Version | None:
    text = environment.get("python_full_version") or environment.get("python_version")
    if not text:
        return None
    # A CPython dev build reports "3.14.0+", which is not a PEP 440 version.
    try:
        return Version(text.rstrip("+"))
    except InvalidVersion:
        return None


def _describe(environment: Mapping[str, str]) -> str:
    system = environment.get("sys_platform", "?")
    machine = environment.get("platform_machine", "?")
    python = environment.get("python_full_version") or environment.get("python_version", "?")
    return f"{system} {machine}, Python {python}"
