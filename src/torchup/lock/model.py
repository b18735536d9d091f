"""PEP 751 lock data (``pylock.toml``) as frozen values; no TOML, no IO.

The shapes follow ``packaging.pylock`` (which validates what :mod:`torchup.lock.io` reads and
writes) plus torchup's own ``[tool.torchup]`` tables:

* top level: the input hash used to detect a stale lock, the torch backend(s) it was made
  for, the environments resolved, and a note for each environment where a backend has no
  build (e.g. "no CUDA build of torch for macOS: the CPU build is locked");
* per package (``[packages.tool.torchup]``): ``backends``, the torch backends an entry is for
  when one lock holds several (``torch 2.8.0+cpu`` and ``torch 2.8.0+cu128`` side by side).

Values are normalized on construction (packages, wheels and dependencies sorted) so that two
locks with the same content compare equal and serialize byte for byte the same.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass
from datetime import date, datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, is_normalized_name
from packaging.version import InvalidVersion, Version

from torchup.errors import LockError

__all__ = [
    "LOCK_VERSION",
    "TORCHUP_LOCK_SCHEMA",
    "KeyPath",
    "LockDataError",
    "LockedFile",
    "LockedArchive",
    "LockedDirectory",
    "LockedVcs",
    "LockedDependency",
    "LockedPackage",
    "EnvironmentNote",
    "LockMetadata",
    "Lock",
    "input_hash",
]

LOCK_VERSION = "1.0"
# Bumped when the meaning of [tool.torchup] changes; a lock with another schema is re-made.
TORCHUP_LOCK_SCHEMA = 1

KeyPath = tuple[str | int, ...]


class LockDataError(LockError):
    """Lock data is malformed at ``key_path``; :mod:`torchup.lock.io` adds file and line."""

    def __init__(self, reason: str, key_path: KeyPath, *, hint: str | None = None) -> None:
        super().__init__(f"`{_dotted(key_path)}`: {reason}", hint=hint)
        self.reason = reason
        self.key_path = key_path


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


# -- typed getters (raise LockDataError naming the key) --------------------------------------


def _get(d: Mapping[str, Any], key: str, kind: type | tuple[type, ...], at: KeyPath) -> Any:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        expected = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise LockDataError(
            f"expected {expected}, got {type(value).__name__}",
            (*at, key),
            hint="the lock file was edited by hand or written by another tool; re-run `torchup lock`",
        )
    return value


def _required(d: Mapping[str, Any], key: str, kind: type, at: KeyPath) -> Any:
    value = _get(d, key, kind, at)
    if value is None:
        raise LockDataError("missing", (*at, key), hint="re-run `torchup lock`")
    return value


def _str_list(d: Mapping[str, Any], key: str, at: KeyPath) -> tuple[str, ...]:
    items = _get(d, key, list, at) or []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise LockDataError(f"expected str, got {type(item).__name__}", (*at, key, i))
    return tuple(items)


def _table_list(
    d: Mapping[str, Any], key: str, at: KeyPath
) -> list[tuple[KeyPath, Mapping[str, Any]]]:
    items = _get(d, key, list, at) or []
    out = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise LockDataError(f"expected a table, got {type(item).__name__}", (*at, key, i))
        out.append(((*at, key, i), item))
    return out


def _marker(value: str | None, at: KeyPath) -> Marker | None:
    if value is None:
        return None
    try:
        return Marker(value)
    except InvalidMarker as exc:
        raise LockDataError(f"invalid marker {value!r}: {str(exc).splitlines()[0]}", at) from None


def _specifier(value: str | None, at: KeyPath) -> SpecifierSet | None:
    if value is None:
        return None
    try:
        return SpecifierSet(value)
    except InvalidSpecifier:
        raise LockDataError(f"invalid version specifier {value!r}", at) from None


def _hashes(d: Mapping[str, Any], at: KeyPath) -> dict[str, str]:
    raw = _get(d, "hashes", Mapping, at) or {}
    out: dict[str, str] = {}
    for algorithm, digest in raw.items():
        if not isinstance(digest, str):
            raise LockDataError("hash values must be strings", (*at, "hashes", str(algorithm)))
        out[str(algorithm)] = digest
    return dict(sorted(out.items()))


def _drop_none(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


# --------------------------------------------------------------------------------------------
# Artifacts
# --------------------------------------------------------------------------------------------


def _filename_from(url: str | None, path: str | None) -> str | None:
    if path:
        return re.split(r"[\\/]", path)[-1] or None
    if url:
        # Percent-decode: `torch-2.5.1%2Bcpu-...whl` is the file `torch-2.5.1+cpu-...whl`.
        return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or None
    return None


@dataclass(frozen=True)
class LockedFile:
    """A wheel or sdist entry: ``packages.wheels[]`` or ``packages.sdist``.

    ``name`` is the file name (decoded); when not given it is taken from ``path`` or ``url``
    so every entry torchup writes has one (packaging < 26.3 did not decode ``%2B``).
    """

    url: str | None = None
    path: str | None = None
    name: str | None = None
    size: int | None = None
    hashes: Mapping[str, str] = field(default_factory=dict)
    upload_time: datetime | None = None

    def __post_init__(self) -> None:
        if self.name is None:
            object.__setattr__(self, "name", _filename_from(self.url, self.path))
        object.__setattr__(self, "hashes", dict(sorted(self.hashes.items())))

    @property
    def filename(self) -> str:
        """The file name (never empty for a valid entry)."""
        return self.name or ""

    def to_dict(self) -> dict[str, Any]:
        """The PEP 751 table, keys in the spec's order, unset keys left out."""
        return _drop_none(
            {
                "name": self.name,
                "upload-time": self.upload_time,
                "url": self.url,
                "path": self.path,
                "size": self.size,
                "hashes": dict(self.hashes),
            }
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: KeyPath = ()) -> LockedFile:
        """Build from a PEP 751 table; LockDataError names the bad key."""
        item = cls(
            url=_get(d, "url", str, at),
            path=_get(d, "path", str, at),
            name=_get(d, "name", str, at),
            size=_get(d, "size", int, at),
            hashes=_hashes(d, at),
            upload_time=_get(d, "upload-time", datetime, at),
        )
        if not item.url and not item.path:
            raise LockDataError("needs a `url` or a `path`", at)
        return item


@dataclass(frozen=True)
class LockedArchive:
    """``packages.archive``: a direct-URL or local archive (e.g. a GitHub zip)."""

    url: str | None = None
    path: str | None = None
    size: int | None = None
    hashes: Mapping[str, str] = field(default_factory=dict)
    upload_time: datetime | None = None
    subdirectory: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "hashes", dict(sorted(self.hashes.items())))

    def to_dict(self) -> dict[str, Any]:
        """The PEP 751 table."""
        return _drop_none(
            {
                "url": self.url,
                "path": self.path,
                "size": self.size,
                "upload-time": self.upload_time,
                "hashes": dict(self.hashes),
                "subdirectory": self.subdirectory,
            }
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: KeyPath = ()) -> LockedArchive:
        """Build from a PEP 751 table."""
        item = cls(
            url=_get(d, "url", str, at),
            path=_get(d, "path", str, at),
            size=_get(d, "size", int, at),
            hashes=_hashes(d, at),
            upload_time=_get(d, "upload-time", datetime, at),
            subdirectory=_get(d, "subdirectory", str, at),
        )
        if not item.url and not item.path:
            raise LockDataError("needs a `url` or a `path`", at)
        return item


@dataclass(frozen=True)
class LockedDirectory:
    """``packages.directory``: a local project directory (possibly editable)."""

    path: str
    editable: bool | None = None
    subdirectory: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The PEP 751 table."""
        return _drop_none(
            {"path": self.path, "editable": self.editable, "subdirectory": self.subdirectory}
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: KeyPath = ()) -> LockedDirectory:
        """Build from a PEP 751 table."""
        return cls(
            path=_required(d, "path", str, at),
            editable=_get(d, "editable", bool, at),
            subdirectory=_get(d, "subdirectory", str, at),
        )


@dataclass(frozen=True)
class LockedVcs:
    """``packages.vcs``: a VCS checkout pinned to ``commit_id``."""

    type: str
    commit_id: str
    url: str | None = None
    path: str | None = None
    requested_revision: str | None = None
    subdirectory: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The PEP 751 table."""
        return _drop_none(
            {
                "type": self.type,
                "url": self.url,
                "path": self.path,
                "requested-revision": self.requested_revision,
                "commit-id": self.commit_id,
                "subdirectory": self.subdirectory,
            }
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: KeyPath = ()) -> LockedVcs:
        """Build from a PEP 751 table."""
        item = cls(
            type=_required(d, "type", str, at),
            commit_id=_required(d, "commit-id", str, at),
            url=_get(d, "url", str, at),
            path=_get(d, "path", str, at),
            requested_revision=_get(d, "requested-revision", str, at),
            subdirectory=_get(d, "subdirectory", str, at),
        )
        if not item.url and not item.path:
            raise LockDataError("needs a `url` or a `path`", at)
        return item


@dataclass(frozen=True)
class LockedDependency:
    """An entry of ``packages.dependencies``: enough keys to find the package it points to.

    PEP 751 matches these key by key against ``[[packages]]``; torchup writes the name, the
    version, and the index when two entries of a name share a version (cpu vs. PyPI torch).
    """

    name: str
    version: str | None = None
    index: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The PEP 751 table."""
        return _drop_none({"name": self.name, "version": self.version, "index": self.index})

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: KeyPath = ()) -> LockedDependency:
        """Build from a PEP 751 table (keys other than these three are dropped)."""
        return cls(
            name=_required(d, "name", str, at),
            version=_get(d, "version", str, at),
            index=_get(d, "index", str, at),
        )

    def matches(self, package: LockedPackage) -> bool:
        """Whether ``package`` is the entry this dependency points to."""
        return (
            canonicalize_name(self.name) == package.name
            and (self.version is None or Version(self.version) == package.version)
            and (self.index is None or self.index == package.index)
        )


# --------------------------------------------------------------------------------------------
# Packages
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LockedPackage:
    """One ``[[packages]]`` entry.

    Exactly one source: ``wheels`` and/or ``sdist`` (from an index, ``index`` says which),
    or one of ``directory``, ``archive``, ``vcs``. ``backends`` (torchup's, stored under
    ``[packages.tool.torchup]``) limits the entry to those torch backends; empty = any.
    """

    name: str
    version: Version | None = None
    marker: Marker | None = None
    requires_python: SpecifierSet | None = None
    index: str | None = None
    wheels: tuple[LockedFile, ...] = ()
    sdist: LockedFile | None = None
    directory: LockedDirectory | None = None
    archive: LockedArchive | None = None
    vcs: LockedVcs | None = None
    dependencies: tuple[LockedDependency, ...] = ()
    attestation_identities: tuple[Mapping[str, Any], ...] = ()
    backends: tuple[str, ...] = ()
    tool: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not is_normalized_name(self.name):
            object.__setattr__(self, "name", str(canonicalize_name(self.name)))
        if isinstance(self.version, str):
            object.__setattr__(self, "version", Version(self.version))
        if isinstance(self.marker, str):
            object.__setattr__(self, "marker", Marker(self.marker))
        if isinstance(self.requires_python, str):
            object.__setattr__(self, "requires_python", SpecifierSet(self.requires_python))
        object.__setattr__(self, "wheels", tuple(sorted(self.wheels, key=lambda w: w.filename)))
        object.__setattr__(
            self,
            "dependencies",
            tuple(
                sorted(
                    set(self.dependencies), key=lambda d: (d.name, d.version or "", d.index or "")
                )
            ),
        )
        object.__setattr__(self, "backends", tuple(sorted(set(self.backends))))

    @property
    def sort_key(self) -> tuple[str, Any, str, str]:
        """Order of entries in the file: name, version, marker, index."""
        version_key = (0, self.version) if self.version is not None else (1, Version("0"))
        return (self.name, version_key, str(self.marker or ""), self.index or "")

    @property
    def is_direct(self) -> bool:
        """Whether this comes from a URL, path or VCS rather than an index."""
        return not (self.wheels or self.sdist)

    def to_dict(self) -> dict[str, Any]:
        """The PEP 751 table (``[packages.tool.torchup]`` holds ``backends``)."""
        tool = {k: v for k, v in self.tool.items() if k != "torchup"}
        if self.backends:
            tool["torchup"] = {"backends": list(self.backends)}
        return _drop_none(
            {
                "name": self.name,
                "version": str(self.version) if self.version is not None else None,
                "marker": str(self.marker) if self.marker is not None else None,
                "requires-python": (
                    str(self.requires_python) if self.requires_python is not None else None
                ),
                "dependencies": [d.to_dict() for d in self.dependencies] or None,
                "vcs": self.vcs.to_dict() if self.vcs else None,
                "directory": self.directory.to_dict() if self.directory else None,
                "archive": self.archive.to_dict() if self.archive else None,
                "index": self.index,
                "sdist": self.sdist.to_dict() if self.sdist else None,
                "wheels": [w.to_dict() for w in self.wheels] or None,
                "attestation-identities": [dict(a) for a in self.attestation_identities] or None,
                "tool": tool or None,
            }
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: KeyPath = ()) -> LockedPackage:
        """Build from a PEP 751 table; LockDataError names the bad key."""
        name = _required(d, "name", str, at)
        if not is_normalized_name(name):
            raise LockDataError(
                f"name {name!r} is not normalized (expected {canonicalize_name(name)!r})",
                (*at, "name"),
            )
        version_text = _get(d, "version", str, at)
        version = None
        if version_text is not None:
            try:
                version = Version(version_text)
            except InvalidVersion:
                raise LockDataError(f"invalid version {version_text!r}", (*at, "version")) from None
        tool = dict(_get(d, "tool", Mapping, at) or {})
        torchup = tool.pop("torchup", None) or {}
        if not isinstance(torchup, Mapping):
            raise LockDataError("expected a table", (*at, "tool", "torchup"))
        backends = _str_list(torchup, "backends", (*at, "tool", "torchup"))

        def sub(key: str, kind: Any) -> Any:
            table = _get(d, key, Mapping, at)
            return kind.from_dict(table, (*at, key)) if table is not None else None

        attestations = _table_list(d, "attestation-identities", at)
        package = cls(
            name=name,
            version=version,
            marker=_marker(_get(d, "marker", str, at), (*at, "marker")),
            requires_python=_specifier(
                _get(d, "requires-python", str, at), (*at, "requires-python")
            ),
            index=_get(d, "index", str, at),
            wheels=tuple(LockedFile.from_dict(w, k) for k, w in _table_list(d, "wheels", at)),
            sdist=sub("sdist", LockedFile),
            directory=sub("directory", LockedDirectory),
            archive=sub("archive", LockedArchive),
            vcs=sub("vcs", LockedVcs),
            dependencies=tuple(
                LockedDependency.from_dict(x, k) for k, x in _table_list(d, "dependencies", at)
            ),
            attestation_identities=tuple(dict(a) for _, a in attestations),
            backends=backends,
            tool=tool,
        )
        sources = sum(x is not None for x in (package.directory, package.archive, package.vcs))
        if (package.wheels or package.sdist) and sources:
            raise LockDataError("has both index files and a direct source", at)
        if not (package.wheels or package.sdist) and sources != 1:
            raise LockDataError("needs wheels/sdist or exactly one of vcs, directory, archive", at)
        return package


# --------------------------------------------------------------------------------------------
# The lock
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvironmentNote:
    """Why an environment got what it got, e.g. no CUDA build of torch on macOS."""

    environment: str
    message: str
    backend: str | None = None
    package: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """TOML-shaped mapping."""
        return _drop_none(
            {
                "environment": self.environment,
                "backend": self.backend,
                "package": self.package,
                "message": self.message,
            }
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: KeyPath = ()) -> EnvironmentNote:
        """Build from :meth:`to_dict` output."""
        return cls(
            environment=_required(d, "environment", str, at),
            message=_required(d, "message", str, at),
            backend=_get(d, "backend", str, at),
            package=_get(d, "package", str, at),
        )


@dataclass(frozen=True)
class LockMetadata:
    """torchup's ``[tool.torchup]`` table of a lock."""

    input_hash: str | None = None
    torch_backend: str | None = None
    torch_backends: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    notes: tuple[EnvironmentNote, ...] = ()
    schema: int = TORCHUP_LOCK_SCHEMA

    def notes_for(
        self, environment: str | None = None, package: str | None = None
    ) -> tuple[EnvironmentNote, ...]:
        """The notes about ``environment`` and/or ``package`` (None matches any)."""
        return tuple(
            n
            for n in self.notes
            if (environment is None or n.environment == environment)
            and (package is None or n.package in (None, canonicalize_name(package)))
        )

    def to_dict(self) -> dict[str, Any]:
        """TOML-shaped mapping."""
        return _drop_none(
            {
                "schema": self.schema,
                "input-hash": self.input_hash,
                "torch-backend": self.torch_backend,
                "torch-backends": list(self.torch_backends) or None,
                "environments": list(self.environments) or None,
                "notes": [n.to_dict() for n in self.notes] or None,
            }
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], at: KeyPath = ("tool", "torchup")) -> LockMetadata:
        """Build from :meth:`to_dict` output."""
        schema = _get(d, "schema", int, at)
        return cls(
            input_hash=_get(d, "input-hash", str, at),
            torch_backend=_get(d, "torch-backend", str, at),
            torch_backends=_str_list(d, "torch-backends", at),
            environments=_str_list(d, "environments", at),
            notes=tuple(EnvironmentNote.from_dict(n, k) for k, n in _table_list(d, "notes", at)),
            schema=TORCHUP_LOCK_SCHEMA if schema is None else schema,
        )


@dataclass(frozen=True)
class Lock:
    """A whole ``pylock.toml``: PEP 751 fields, packages, and torchup's metadata.

    ``tool`` keeps other tools' top-level tables so that rewriting a lock does not lose them.
    """

    packages: tuple[LockedPackage, ...] = ()
    lock_version: str = LOCK_VERSION
    created_by: str = "torchup"
    environments: tuple[Marker, ...] = ()
    requires_python: SpecifierSet | None = None
    extras: tuple[str, ...] = ()
    dependency_groups: tuple[str, ...] = ()
    default_groups: tuple[str, ...] = ()
    meta: LockMetadata = field(default_factory=LockMetadata)
    tool: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "packages", tuple(sorted(self.packages, key=lambda p: p.sort_key)))
        object.__setattr__(
            self,
            "environments",
            tuple(Marker(m) if isinstance(m, str) else m for m in self.environments),
        )
        if isinstance(self.requires_python, str):
            object.__setattr__(self, "requires_python", SpecifierSet(self.requires_python))

    def is_stale(self, current_input_hash: str) -> bool:
        """Whether the inputs changed since this lock was made (or it is another schema)."""
        return self.meta.input_hash != current_input_hash or self.meta.schema != TORCHUP_LOCK_SCHEMA

    def packages_named(self, name: str) -> tuple[LockedPackage, ...]:
        """Every entry for ``name`` (several when markers or backends split it)."""
        wanted = canonicalize_name(name)
        return tuple(p for p in self.packages if p.name == wanted)

    def to_dict(self) -> dict[str, Any]:
        """The PEP 751 document as a mapping (what ``Pylock.from_dict`` validates)."""
        tool = {k: v for k, v in self.tool.items() if k != "torchup"}
        tool["torchup"] = self.meta.to_dict()
        return _drop_none(
            {
                "lock-version": self.lock_version,
                "environments": [str(m) for m in self.environments] or None,
                "requires-python": (
                    str(self.requires_python) if self.requires_python is not None else None
                ),
                "extras": list(self.extras),
                "dependency-groups": list(self.dependency_groups),
                "default-groups": list(self.default_groups),
                "created-by": self.created_by,
                "packages": [p.to_dict() for p in self.packages],
                "tool": tool,
            }
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Lock:
        """Build from a parsed ``pylock.toml``; LockDataError names the bad key."""
        version = _required(d, "lock-version", str, ())
        try:
            parsed = Version(version)
        except InvalidVersion:
            raise LockDataError(f"invalid lock version {version!r}", ("lock-version",)) from None
        if not Version("1") <= parsed < Version("2"):
            raise LockDataError(
                f"lock version {version} is not supported (torchup reads 1.x)",
                ("lock-version",),
                hint="re-create the lock with `torchup lock`",
            )
        tool = dict(_get(d, "tool", Mapping, ()) or {})
        meta_table = tool.pop("torchup", None) or {}
        if not isinstance(meta_table, Mapping):
            raise LockDataError("expected a table", ("tool", "torchup"))
        environments = tuple(
            _marker(m, ("environments", i)) for i, m in enumerate(_str_list(d, "environments", ()))
        )
        extras = _str_list(d, "extras", ())
        for i, extra in enumerate(extras):
            if not is_normalized_name(extra):
                raise LockDataError(f"extra {extra!r} is not normalized", ("extras", i))
        return cls(
            packages=tuple(
                LockedPackage.from_dict(p, k) for k, p in _table_list(d, "packages", ())
            ),
            lock_version=version,
            created_by=_required(d, "created-by", str, ()),
            environments=tuple(m for m in environments if m is not None),
            requires_python=_specifier(_get(d, "requires-python", str, ()), ("requires-python",)),
            extras=extras,
            dependency_groups=_str_list(d, "dependency-groups", ()),
            default_groups=_str_list(d, "default-groups", ()),
            meta=LockMetadata.from_dict(meta_table),
            tool=tool,
        )


# --------------------------------------------------------------------------------------------
# Staleness
# --------------------------------------------------------------------------------------------


def input_hash(*parts: Any) -> str:
    """``"sha256:<hex>"`` of a canonical encoding of ``parts``, for lock staleness checks.

    Dicts are key-sorted, sets sorted, dataclasses taken through ``to_dict()`` when they have
    one, and packaging objects (Requirement, Marker, Version, SpecifierSet) through ``str``, so
    the hash depends on content only (not on formatting or dict order). Pass everything that
    changes a resolution: ``ProjectConfig.resolution_inputs()``, CLI and env settings, the
    torch backend(s) and the environments.
    """
    payload = json.dumps(
        _canonical(parts), sort_keys=True, separators=(",", ":"), ensure_ascii=True
    )
    return "sha256:" + hashlib.sha256(payload.encode("ascii")).hexdigest()


def _canonical(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)  # nan/inf are not JSON; repr is stable
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Requirement, Marker, Version, SpecifierSet, PurePath)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        items = [_canonical(v) for v in value]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, (list, tuple)) or (
        isinstance(value, Iterable)
        and not isinstance(value, (bytes, bytearray))
        and isinstance(value, Sequence)
    ):
        return [_canonical(v) for v in value]
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _canonical(to_dict())
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return str(value)
