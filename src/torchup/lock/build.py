"""Build a PEP 751 lock from per-environment resolutions (pure).

torchup locks "for every platform" by resolving once per environment (OS x machine x Python
minor, and torch backend) and merging: a package chosen in every environment gets no marker;
otherwise its marker is the disjunction of the environments that chose it, simplified where a
whole platform (every Python) or every platform of one Python chose it. Each entry lists the
wheels any of those environments can install, so ``Pylock.select`` picks by tags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

__all__ = ["environment_marker", "lock_from_results", "render_lock", "requirement_lines"]

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
    platforms_all: dict[str, set[str | None]] = {}
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
    extras: Sequence[str] = (),
    groups: Sequence[str] = (),
    default_groups: Sequence[str] = (),
    hash_files: Callable[[Sequence[Any]], Mapping[str, Mapping[str, str]]] | None = None,
    all_targets: Sequence[Target] = (),
) -> Lock:
    """Merge resolutions into one :class:`Lock`.

    Each item of ``results`` is a ``ResolveResult`` (always needed in its environment) or a
    pair ``(ResolveResult, condition)`` where ``condition`` is a PEP 751 marker fragment such as
    ``'gpu' in extras`` saying when that resolution applies (an extra or a dependency group).

    PEP 751 requires a hash for every file, but PyTorch nightly pages omit ``#sha256``.
    ``hash_files(files)`` is called once with the locked files that have no sha256 (each URL
    once) and returns ``{url: {"sha256": hex}}`` (the caller downloads them); without it such
    files keep no hash and writing the lock fails validation.
    """
    # Keyed by index too: the same version from two indexes is two different artifacts (torch
    # 2.5.1 for Linux aarch64 is on PyPI and, unlabelled, on whl/cpu with the same filename).
    # Merging them kept one index's files under the other's marker, so `sync --extra cpu` on
    # aarch64 installed PyPI's wheel although the source pins whl/cpu (seed 002).
    entries: dict[tuple[str, Version, str | None], _Entry] = {}
    conditions: dict[tuple[str, Version, str | None], dict[Target, set[str | None]]] = {}
    # Environments that were attempted but failed still count: entries then get markers.
    targets: list[Target] = list(all_targets)
    for item in results:
        result, condition = item if isinstance(item, tuple) else (item, None)
        if result.target not in targets:
            targets.append(result.target)
        for pkg in result.packages:
            index = getattr(pkg.file, "index", None)
            key = (pkg.name, pkg.version, index)
            entry = entries.get(key)
            if entry is None:
                entry = _Entry(pkg.name, pkg.version, {}, [], {}, index)
                entries[key] = entry
            if result.target not in entry.targets:
                entry.targets.append(result.target)
            conditions.setdefault(key, {}).setdefault(result.target, set()).add(condition)
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
    computed: Mapping[str, Mapping[str, str]] = {}
    if hash_files is not None:
        missing = {
            f.url: f
            for entry in entries.values()
            for f in entry.files.values()
            if not (getattr(f, "hashes", None) or {}).get("sha256")
        }
        if missing:
            computed = hash_files(list(missing.values()))
    versions_of: dict[str, list[Version]] = {}
    for name, version, _ in entries:
        if version not in versions_of.setdefault(name, []):
            versions_of[name].append(version)
    packages: list[LockedPackage] = []
    for key, entry in sorted(entries.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")):
        name, version, _ = key
        marker = _entry_marker(conditions[key], targets)
        wheels = []
        sdist = None
        for filename, f in sorted(entry.files.items()):
            lf = LockedFile(
                url=f.url,
                name=filename,
                size=getattr(f, "size", None),
                hashes={**computed.get(f.url, {}), **(getattr(f, "hashes", {}) or {})},
            )
            if getattr(f, "is_wheel", False):
                wheels.append(lf)
            elif sdist is None:
                sdist = lf
        deps = tuple(
            LockedDependency(
                name=d, version=str(versions_of[d][0]) if len(versions_of.get(d, [])) == 1 else None
            )
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
    if extras:
        kwargs["extras"] = tuple(sorted(extras))
    if groups:
        kwargs["dependency_groups"] = tuple(sorted(groups))
    if default_groups:
        kwargs["default_groups"] = tuple(sorted(default_groups))
    return Lock(**kwargs)


def _entry_marker(by_target: dict[Target, set[str | None]], every: Sequence[Target]) -> str | None:
    """Environments where the entry is always needed, or-ed with (environment and condition)."""
    always = [t for t, conds in by_target.items() if None in conds]
    parts: list[str] = []
    if always:
        base = _simplify(always, every)
        if base is None and len(always) == len(every):
            return None
        if base:
            parts.append(base)
    # Group the conditional environments by their condition set.
    by_condition: dict[tuple[str, ...], list[Target]] = {}
    for t, conds in by_target.items():
        if None in conds:
            continue
        key = tuple(sorted(c for c in conds if c))
        by_condition.setdefault(key, []).append(t)
    for cond_names, ts in sorted(by_condition.items()):
        cond = " or ".join(cond_names)
        where = _simplify(ts, every)
        if where is None:
            parts.append(f"({cond})")
        else:
            parts.append(f"(({where}) and ({cond}))")
    return " or ".join(parts) if parts else None


def render_lock(lock: Lock) -> str:
    """The lock as pylock.toml text (deterministic)."""
    from torchup.lock import io

    return io.dumps_lock(lock)


def _requirement(pkg: LockedPackage) -> str:
    """A lock entry as a requirements.txt requirement: a folder as its path (``-e`` when
    editable; relative to the lock, as the lock has it), a git entry as
    ``name @ git+URL@<commit>``, anything else as ``name==version`` from the indexes."""
    if pkg.directory is not None:
        folder = pkg.directory.path
        if pkg.directory.subdirectory:
            folder = f"{folder.rstrip('/')}/{pkg.directory.subdirectory}"
        if not folder.startswith((".", "/")):
            folder = f"./{folder}"  # pip reads a bare `lib` as a project name
        return f"-e {folder}" if pkg.directory.editable else folder
    if pkg.vcs is not None:
        fragment = f"#subdirectory={pkg.vcs.subdirectory}" if pkg.vcs.subdirectory else ""
        return f"{pkg.name} @ git+{pkg.vcs.url or pkg.vcs.path}@{pkg.vcs.commit_id}{fragment}"
    return f"{pkg.name}=={pkg.version}"


def requirement_lines(
    packages: Sequence[LockedPackage], *, hashes: bool, markers: Callable[[str], bool] = bool
) -> list[str]:
    """``packages`` (of a lock) as requirements.txt lines: ``torchup export`` and
    ``pip compile --universal``. A marker is written when ``markers(marker)`` says so (export
    leaves out the lock's extras/groups conditions, which pip cannot evaluate); ``hashes``
    adds every sha256 the lock has for the entry's files (none for folders and git)."""
    lines = []
    for pkg in packages:
        line = _requirement(pkg)
        marker = str(pkg.marker) if pkg.marker is not None else ""
        if marker and markers(marker):
            line += f" ; {marker}"
        if hashes and pkg.directory is None and pkg.vcs is None:
            digests = sorted({h for w in pkg.wheels for h in [w.hashes.get("sha256")] if h})
            if pkg.sdist is not None and pkg.sdist.hashes.get("sha256"):
                digests.append(pkg.sdist.hashes["sha256"])
            line += "".join(f" \\\n    --hash=sha256:{h}" for h in digests)
        lines.append(line)
    return lines
