"""Which versions of a project a Target may use, and which file of each (pure).

Takes the files an index listed (``DistFile``) and a :class:`~torchup.target.Target` and answers,
as data, which versions are usable and, for the others, why not: "no wheel for this platform",
"requires Python >=3.12", "yanked", "newer than --exclude-newer". No IO here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from torchup.target import Target

__all__ = ["VersionChoice", "group_candidates", "BinaryPolicy"]


@dataclass(frozen=True)
class BinaryPolicy:
    """--no-build / --no-binary / --only-binary, reduced to per-package answers."""

    no_build: bool = False
    no_binary: frozenset[str] = frozenset()  # ":all:" means every package
    only_binary: frozenset[str] = frozenset()

    def wheels_allowed(self, name: str) -> bool:
        return not ({name, ":all:"} & self.no_binary)

    def sdists_allowed(self, name: str) -> bool:
        return not self.no_build and not ({name, ":all:"} & self.only_binary)


@dataclass(frozen=True)
class VersionChoice:
    """One version of a project for one Target: the best file to use, or why none fits."""

    version: Version
    best: object | None  # the DistFile to use (best wheel, else sdist); None when unavailable
    files: tuple[object, ...] = field(default=(), repr=False)
    unavailable: str | None = None  # human reason ("has no wheel for ..."), None when usable
    yanked: bool = False

    @property
    def usable(self) -> bool:
        return self.unavailable is None


def _python_ok(requires_python: str | None, target: Target) -> bool | None:
    if not requires_python:
        return None
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return None  # ignore garbage metadata rather than rejecting a whole version
    return spec.contains(target.python_full_version, prereleases=True)


def group_candidates(
    files: Iterable[object],
    target: Target,
    *,
    binary: BinaryPolicy = BinaryPolicy(),
    exclude_newer: datetime | None = None,
    platform_words: str = "",
) -> dict[Version, VersionChoice]:
    """Group index files by version and pick the best file of each for ``target``.

    ``files`` are ``torchup.index.simple.DistFile``-like objects (filename, version, is_wheel,
    requires_python, yanked, upload_time). Cost: O(files * tags per file).
    """
    by_version: dict[Version, list[object]] = {}
    for f in files:
        v = getattr(f, "version", None)
        if v is None:
            continue
        by_version.setdefault(v, []).append(f)
    where = platform_words or str(target)
    out: dict[Version, VersionChoice] = {}
    for version, group in by_version.items():
        out[version] = _choose(version, group, target, binary, exclude_newer, where)
    return out


def _choose(
    version: Version,
    group: Sequence[object],
    target: Target,
    binary: BinaryPolicy,
    exclude_newer: datetime | None,
    where: str,
) -> VersionChoice:
    name = getattr(group[0], "project", "")
    live = [f for f in group if getattr(f, "yanked", None) is None]
    yanked = not live
    pool = live or list(group)
    if exclude_newer is not None:
        fresh = [f for f in pool if not _newer(f, exclude_newer)]
        if not fresh:
            return VersionChoice(
                version, None, tuple(group), f"was published after {exclude_newer:%Y-%m-%d}"
            )
        pool = fresh
    py_reasons: list[str] = []
    ok_py = []
    for f in pool:
        verdict = _python_ok(getattr(f, "requires_python", None), target)
        if verdict is False:
            py_reasons.append(str(getattr(f, "requires_python", "")))
        else:
            ok_py.append(f)
    if not ok_py:
        need = py_reasons[0] if py_reasons else "another Python"
        return VersionChoice(
            version,
            None,
            tuple(group),
            f"requires Python {need}, but the target is Python {target.python_full_version}",
            yanked,
        )
    best_wheel = None
    best_rank: int | None = None
    sdist = None
    for f in ok_py:
        if getattr(f, "is_wheel", False):
            if not binary.wheels_allowed(name):
                continue
            rank = target.wheel_rank(getattr(f, "filename", ""))
            if rank is not None and (best_rank is None or rank < best_rank):
                best_wheel, best_rank = f, rank
        elif sdist is None and binary.sdists_allowed(name):
            sdist = f
    best = best_wheel or sdist
    if best is None:
        has_wheels = any(getattr(f, "is_wheel", False) for f in ok_py)
        if has_wheels:
            reason = f"has no wheel for {where}"
            if not any(not getattr(f, "is_wheel", False) for f in ok_py):
                reason += " and no source distribution"
            elif not binary.sdists_allowed(name):
                reason += " (source builds are disabled)"
        else:
            reason = "has only a source distribution, and building is disabled"
        return VersionChoice(version, None, tuple(group), reason, yanked)
    return VersionChoice(version, best, tuple(group), None, yanked)


def _newer(f: object, limit: datetime) -> bool:
    stamp = getattr(f, "upload_time", None)
    if not stamp:
        return False
    if isinstance(stamp, str):
        try:
            stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        except ValueError:
            return False
    assert isinstance(stamp, datetime)
    if stamp.tzinfo is None or limit.tzinfo is None:
        stamp = stamp.replace(tzinfo=None)
        limit = limit.replace(tzinfo=None)
    return stamp > limit
