"""Build a PEP 751 lock from per-environment resolutions (pure).

torchup locks "for every platform" by resolving once per environment (OS x machine x Python
minor, and torch backend) and merging: a package chosen in every environment gets no marker;
otherwise its marker is the disjunction of the environments that chose it, simplified where a
whole platform (every Python) or every platform of one Python chose it. Each entry lists the
wheels any of those environments can install, so ``Pylock.select`` picks by tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from packaging.markers import Marker
from packaging.utils import canonicalize_name
from packaging.version import Version

from torchup.lock.model import (
    Lock,
    LockedDependency,
    LockedFile,
    LockedPackage,
    LockMetadata,
)
from torchup.target import Target

__all__ = ["environment_marker", "lock_from_results", "render_lock"]

_PLATFORM_KEYS = ("sys_platform", "platform_machine")


def _platform_clause(target: Target) -> str:
    env = target.environment
    return " and ".join(f"{k} == '{env[k]}'" for k in _PLATFORM_KEYS if env.get(k))


def environment_marker(target: Target) -> str:
    """The marker that picks out ``target``'s environment in a lock."""
    py = target.environment.get("python_version")
    clause = _platform_clause(target)
    return f"{clause} and python_version == '{py}'" if py else clause


@dataclass
class _Entry:
    name: str
    version: Version
    files: dict[str, Any]
    targets: list[Target]
    requires: dict[str, None]
    index: str | None


def _simplify(chosen: Sequence[Target], every: Sequence[Target]) -> str | None:
    """A compact marker for the environments in ``chosen`` out of ``every``."""
    if len(chosen) == len(every):
        return None
    platforms_all = {}
    for t in every:
        platforms_all.setdefault(_platform_clause(t), set()).add(t.environment.get("python_version"))
    platforms_chosen: dict[str, set[str | None]] = {}
    for t in chosen:
        platforms_chosen.setdefault(_platform_clause(t), set()).add(t.environment.get("python_version"))
    parts = []
    for clause, pys in sorted(platforms_chosen.items()):
        if pys == platforms_all[clause]:
            parts.append(f"({clause})")
        else:
            ors = " or ".join(f"python_version == '{p}'" for p in sorted(pys, key=str))
            parts.append(f"({clause} and ({ors}))")
    return " or ".join(parts)


def lock_from_results(
    results: Sequence[Any],
    *,
    created_by: str = "torchup",
    requires_python: str | None = None,
    meta: LockMetadata | None = None,
    environments: Sequence[str] = (),
) -> Lock:
    """Merge ``ResolveResult`` objects (one per environment) into one :class:`Lock`."""
    entries: dict[tuple[str, Version], _Entry] = {}
    targets = [r.target for r in results]
    for result in results:
        for pkg in result.packages:
            key = (pkg.name, pkg.version)
            entry = entries.get(key)
            if entry is None:
                entry = _Entry(pkg.name, pkg.version, {}, [], {}, getattr(pkg.file, "index", None))
                entries[key] = entry
            entry.targets.append(result.target)
            for req in pkg.requires:
                entry.requires[canonicalize_name(req.name)] = None
            candidates = list(pkg.all_files) or ([pkg.file] if pkg.file is not None else [])
            for f in candidates:
                if f is None or getattr(f, "yanked", None) is not None:
                    continue
                if getattr(f, "is_wheel", False):
                    if result.target.wheel_rank(f.filename) is None:
                        continue
                entry.files[f.filename] = f
    versions_of: dict[str, list[Version]] = {}
    for name, version in entries:
        versions_of.setdefault(name, []).append(version)
    packages: list[LockedPackage] = []
    for (name, version), entry in sorted(entries.items()):
        marker = _simplify(entry.targets, targets)
        wheels = []
        sdist = None
        for filename, f in sorted(entry.files.items()):
            lf = LockedFile(
                url=f.url,
                name=filename,
                size=getattr(f, "size", None),
                hashes=dict(getattr(f, "hashes", {}) or {}),
            )
            if getattr(f, "is_wheel", False):
                wheels.append(lf)
            elif sdist is None:
                sdist = lf
        deps = tuple(
            LockedDependency(name=d, version=str(versions_of[d][0]) if len(versions_of.get(d, [])) == 1 else None)
            for d in sorted(entry.requires)
            if d in versions_of
        )
        packages.append(
            LockedPackage(
                name=name,
                version=version,
                marker=Marker(marker) if marker else None,
                index=entry.index,
                wheels=tuple(wheels),
                sdist=sdist,
                dependencies=deps,
            )
        )
    kwargs: dict[str, Any] = {"packages": tuple(packages), "created_by": created_by}
    if environments:
        kwargs["environments"] = tuple(Marker(e) for e in environments)
    if requires_python:
        from packaging.specifiers import SpecifierSet

        kwargs["requires_python"] = SpecifierSet(requires_python)
    if meta is not None:
        kwargs["meta"] = meta
    return Lock(**kwargs)


def render_lock(lock: Lock) -> str:
    """The lock as pylock.toml text (deterministic)."""
    from torchup.lock import io

    return io.dumps_lock(lock)
