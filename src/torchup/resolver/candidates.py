"""Which versions of a project a Target may use, and which file of each (pure).

Takes the files an index listed (``DistFile``) and a :class:`~torchup.target.Target` and answers,
as data, which versions are usable and, for the others, why not: "no wheel for this platform",
"requires Python >=3.12", "yanked", "newer than --exclude-newer". No IO here.

Cost matters: a popular project lists tens of thousands of files, and the resolver looks at a
handful of versions. So grouping by version is the only eager work; the best file of a version
(tag ranking, Requires-Python checks) is chosen the first time that version is asked about. With
files the finder has already grouped (:func:`choices_from_groups`) not even the grouping is
redone, and a version's files are only read (for a JSON page: built) when it is asked about.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from torchup.target import Target

__all__ = [
    "VersionChoice",
    "group_candidates",
    "choices_from_groups",
    "FileGroupLike",
    "BinaryPolicy",
]


class FileGroupLike(Protocol):
    """One version's files (``torchup.index.simple.FileGroup``): ``yanked`` known at once,
    ``files`` possibly built when first read."""

    @property
    def version(self) -> Version: ...

    @property
    def yanked(self) -> bool: ...

    @property
    def files(self) -> Sequence[object]: ...


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
class _Context:
    """What decides whether a file may be used: target, binary policy, upload cutoff;
    ``where`` names the target in messages."""

    target: Target
    binary: BinaryPolicy
    exclude_newer: datetime | None
    where: str


class VersionChoice:
    """One version of a project for one Target: the best file to use, or why none fits.

    ``best`` and ``unavailable`` are worked out on first access (see the module docstring);
    ``yanked`` (every file of the version is yanked) is known at once. ``files`` may be built
    on first access too, when the choice was made from a lazily built group of files.
    """

    __slots__ = (
        "version",
        "yanked",
        "_files",
        "_group",
        "_context",
        "_best",
        "_unavailable",
        "_done",
    )

    def __init__(self, version: Version, files: Sequence[object], context: _Context) -> None:
        self.version = version
        self._files: tuple[object, ...] | None = tuple(files)
        self._group: FileGroupLike | None = None
        self.yanked = all(getattr(f, "yanked", None) is not None for f in self._files)
        self._context = context
        self._best: object | None = None
        self._unavailable: str | None = None
        self._done = False

    @classmethod
    def _from_group(cls, group: FileGroupLike, context: _Context) -> VersionChoice:
        """A choice over ``group``, whose files are only read when first needed."""
        self = cls.__new__(cls)
        self.version = group.version
        self._files = None
        self._group = group
        self.yanked = group.yanked
        self._context = context
        self._best = None
        self._unavailable = None
        self._done = False
        return self

    @property
    def files(self) -> tuple[object, ...]:
        """Every file of this version, in index order."""
        files = self._files
        if files is None:
            assert self._group is not None
            files = self._files = tuple(self._group.files)
        return files

    def _resolve(self) -> None:
        if not self._done:
            self._best, self._unavailable = _choose(self.files, self.yanked, self._context)
            self._done = True

    @property
    def best(self) -> object | None:
        """The DistFile to use (best wheel, else sdist); None when unavailable."""
        self._resolve()
        return self._best

    @property
    def unavailable(self) -> str | None:
        """Why no file fits ("has no wheel for ..."), None when usable."""
        self._resolve()
        return self._unavailable

    @property
    def usable(self) -> bool:
        return self.unavailable is None

    def __repr__(self) -> str:
        return f"VersionChoice({self.version}, {len(self.files)} files)"


@lru_cache(maxsize=4096)
def _python_ok(requires_python: str, python: Version) -> bool | None:
    # A few dozen distinct strings cover tens of thousands of files: parse each once.
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return None  # ignore garbage metadata rather than rejecting a whole version
    return spec.contains(python, prereleases=True)


# Up to this many wheels of a version are named in "has no wheel for ..." (see _choose).
_NAMED_WHEELS = 2


def _wheel_tag_text(filename: str) -> str:
    """``cp39-cp39-win_amd64`` from ``winonly-1.0-cp39-cp39-win_amd64.whl``."""
    return "-".join(filename[: -len(".whl")].rsplit("-", 3)[-3:])


def group_candidates(
    files: Iterable[object],
    target: Target,
    *,
    binary: BinaryPolicy = BinaryPolicy(),
    exclude_newer: datetime | None = None,
    platform_words: str = "",
) -> dict[Version, VersionChoice]:
    """Group index files by version; each version's best file is chosen lazily.

    ``files`` are ``torchup.index.simple.DistFile``-like objects (filename, version, is_wheel,
    wheel_tags, requires_python, yanked, upload_time). Cost: O(files) now, O(files of a version
    x tags) the first time a version is inspected.
    """
    by_version: dict[Version, list[object]] = {}
    for f in files:
        v = getattr(f, "version", None)
        if v is None:
            continue
        group = by_version.get(v)
        if group is None:
            by_version[v] = [f]
        else:
            group.append(f)
    context = _Context(target, binary, exclude_newer, platform_words or str(target))
    return {
        version: VersionChoice(version, group, context) for version, group in by_version.items()
    }


def choices_from_groups(
    groups: Mapping[Version, FileGroupLike],
    target: Target,
    *,
    binary: BinaryPolicy = BinaryPolicy(),
    exclude_newer: datetime | None = None,
    platform_words: str = "",
) -> dict[Version, VersionChoice]:
    """:func:`group_candidates` for files already grouped by version (the finder's
    ``file_groups``): the same choices, without touching any file now. Cost: O(versions);
    a version's files are read (and, from a JSON page, built) the first time it is inspected.
    """
    context = _Context(target, binary, exclude_newer, platform_words or str(target))
    return {v: VersionChoice._from_group(g, context) for v, g in groups.items()}


def _wheel_rank(f: object, target: Target) -> int | None:
    tags = getattr(f, "wheel_tags", None)
    if tags is not None:
        try:
            return target.tag_rank(tags)
        except ValueError:
            return None
    return target.wheel_rank(getattr(f, "filename", ""))


def _choose(
    group: Sequence[object], yanked: bool, ctx: _Context
) -> tuple[object | None, str | None]:
    target = ctx.target
    binary = ctx.binary
    name = getattr(group[0], "project", "")
    live = [f for f in group if getattr(f, "yanked", None) is None]
    pool = live or list(group)
    if ctx.exclude_newer is not None:
        fresh = [f for f in pool if not _newer(f, ctx.exclude_newer)]
        if not fresh:
            return None, f"was published after {ctx.exclude_newer:%Y-%m-%d}"
        pool = fresh
    python = target.python_full_version
    py_reasons: list[str] = []
    ok_py = []
    for f in pool:
        rp = getattr(f, "requires_python", None)
        verdict = _python_ok(rp, python) if rp else None
        if verdict is False:
            py_reasons.append(str(rp))
        else:
            ok_py.append(f)
    if not ok_py:
        need = py_reasons[0] if py_reasons else "another Python"
        return None, f"requires Python {need}, but the target is Python {python}"
    best_wheel = None
    best_rank: int | None = None
    sdist = None
    for f in ok_py:
        if getattr(f, "is_wheel", False):
            if not binary.wheels_allowed(name):
                continue
            rank = _wheel_rank(f, target)
            if rank is not None and (best_rank is None or rank < best_rank):
                best_wheel, best_rank = f, rank
        elif sdist is None and binary.sdists_allowed(name):
            sdist = f
    best = best_wheel or sdist
    if best is None:
        has_wheels = any(getattr(f, "is_wheel", False) for f in ok_py)
        if has_wheels:
            reason = f"has no wheel for {ctx.where}"
            if not any(not getattr(f, "is_wheel", False) for f in ok_py):
                reason += " and no source distribution"
            elif not binary.sdists_allowed(name):
                reason += " (source builds are disabled)"
            wheels = [str(getattr(f, "filename", "")) for f in ok_py if getattr(f, "is_wheel", False)]
            if len(wheels) <= _NAMED_WHEELS:
                # A wheel given by path or URL, or a version with one or two builds: say what
                # they are for, as pip and uv do ("cp39-cp39-win_amd64"), which the target
                # alone does not tell.
                tags = ", ".join(sorted({_wheel_tag_text(w) for w in wheels}))
                reason += f" (its {'wheel is' if len(wheels) == 1 else 'wheels are'} for {tags})"
        else:
            reason = "has only a source distribution, and building is disabled"
        return None, reason
    return best, None


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
