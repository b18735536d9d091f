"""Build real, installable wheels and sdists from a declarative :class:`DistSpec`.

Contracts
---------
* :func:`build_wheel` writes ``<dist>-<version>-<tags>.whl`` into ``dest_dir`` and returns its path.
  ``<dist>`` is the canonical name with ``-`` replaced by ``_``; ``<version>`` is the normalized
  PEP 440 version, so a local label stays ``+`` (``torch-2.5.1+cpu-cp312-...whl``).
  The archive holds, in this order (dist-info last, as real wheels do, so reading METADATA needs
  the central directory):

  1. ``<import_name>/_payload.bin`` when ``payload_bytes > 0``: one ZIP_STORED member of zeros,
     written *sparsely* (the file has a hole there, so a 600 MB wheel costs ~nothing on disk);
  2. the package files: ``spec.files`` if given, else ``<import_name>/__init__.py`` defining
     ``__version__``;
  3. ``<dist>-<version>.dist-info/{METADATA, WHEEL, entry_points.txt, RECORD}``.

  Builds are deterministic (fixed timestamps), so rebuilding the same spec yields the same bytes.
* :func:`build_sdist` writes ``<dist>-<version>.tar.gz`` containing ``PKG-INFO``, a
  ``pyproject.toml`` with ``build-backend = "_tiny_backend"``, ``backend-path = ["."]`` and
  ``requires = []``, the backend module itself and the package files. The backend implements the
  PEP 517/660 hooks (build_wheel, build_sdist, build_editable, prepare_metadata_for_build_wheel /
  _editable, get_requires_for_build_wheel / _sdist / _editable) with the stdlib only, so building
  is hermetic. Wheels it builds carry no payload (``payload_bytes`` applies to build_wheel only).
* :func:`write_project` writes the same source tree (without PKG-INFO) into a directory, for
  local-path and editable installs.
* :func:`file_sha256` returns a file's sha256, free for big wheels this module built (their hash is
  derived while building; see ``_payload_prefix_hasher``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import re
import struct
import tarfile
import threading
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import Version

__all__ = [
    "DistSpec",
    "build_sdist",
    "build_wheel",
    "dist_name",
    "file_sha256",
    "metadata_text",
    "sdist_filename",
    "wheel_filename",
    "write_project",
]

# A fixed timestamp (2024-01-01 00:00:00) keeps builds byte-for-byte reproducible.
_DOS_TIME = 0
_DOS_DATE = ((2024 - 1980) << 9) | (1 << 5) | 1
_TAR_MTIME = 1704067200

_EXTRA_RE = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


@dataclass(frozen=True)
class DistSpec:
    """A distribution to build.

    ``requires_dist`` holds PEP 508 strings; ``Provides-Extra`` is derived from every
    ``extra == "x"`` marker in them. ``tags`` is a (possibly compressed) tag triple such as
    ``"py3-none-any"`` or ``"cp312-cp312-manylinux_2_28_x86_64"``. ``files`` maps archive paths to
    str/bytes contents and replaces the default ``<import_name>/__init__.py``. ``entry_points``
    maps a group to ``{name: "module:attr"}``. ``sdist`` is a hint for world builders that an
    sdist should be published too; the build functions ignore it.
    """

    name: str
    version: str
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    tags: str = "py3-none-any"
    files: Mapping[str, str | bytes] = field(default_factory=dict, hash=False)
    payload_bytes: int = 0
    entry_points: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False)
    summary: str = ""
    sdist: bool = field(default=False, compare=False)  # a hint, not part of the dist

    def __post_init__(self) -> None:
        # Accept lists for convenience but keep the dataclass immutable and hashable.
        if not isinstance(self.requires_dist, tuple):
            object.__setattr__(self, "requires_dist", tuple(self.requires_dist))
        for req in self.requires_dist:
            Requirement(req)  # fail early on typos in test data
        if self.payload_bytes < 0 or self.payload_bytes >= 0xFFFF_0000:
            raise ValueError("payload_bytes must be in [0, 4 GiB) (no ZIP64)")

    @property
    def normalized_version(self) -> str:
        return str(Version(self.version))

    @property
    def import_name(self) -> str:
        return canonicalize_name(self.name).replace("-", "_")

    @property
    def provides_extra(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for req in self.requires_dist:
            _, _, marker = req.partition(";")
            for extra in _EXTRA_RE.findall(marker):
                seen.setdefault(canonicalize_name(extra), None)
        return tuple(seen)

    @property
    def dist_info(self) -> str:
        return f"{dist_name(self.name)}-{self.normalized_version}.dist-info"


def dist_name(name: str) -> str:
    """The filename form of a project name (PEP 427/625): canonical, with underscores."""
    return canonicalize_name(name).replace("-", "_")


def wheel_filename(spec: DistSpec) -> str:
    return f"{dist_name(spec.name)}-{spec.normalized_version}-{spec.tags}.whl"


def sdist_filename(spec: DistSpec) -> str:
    return f"{dist_name(spec.name)}-{spec.normalized_version}.tar.gz"


def metadata_text(spec: DistSpec, metadata_version: str = "2.1") -> str:
    """The METADATA / PKG-INFO text for ``spec`` (RFC 822 style, as wheels carry it)."""
    lines = [
        f"Metadata-Version: {metadata_version}",
        f"Name: {spec.name}",
        f"Version: {spec.version}",
    ]
    if spec.summary:
        lines.append(f"Summary: {spec.summary}")
    if spec.requires_python:
        lines.append(f"Requires-Python: {spec.requires_python}")
    lines += [f"Provides-Extra: {extra}" for extra in spec.provides_extra]
    lines += [f"Requires-Dist: {req}" for req in spec.requires_dist]
    return "\n".join(lines) + "\n\n"


def _wheel_text(spec: DistSpec) -> str:
    tags = sorted(parse_tag(spec.tags), key=str)
    purelib = all(t.abi == "none" and t.platform == "any" for t in tags)
    lines = [
        "Wheel-Version: 1.0",
        "Generator: torchup-tests (1.0)",
        f"Root-Is-Purelib: {'true' if purelib else 'false'}",
    ]
    lines += [f"Tag: {t}" for t in tags]
    return "\n".join(lines) + "\n"


def _entry_points_text(entry_points: Mapping[str, Mapping[str, str]]) -> str:
    parts = []
    for group, entries in entry_points.items():
        parts.append(f"[{group}]")
        parts += [f"{name} = {target}" for name, target in entries.items()]
        parts.append("")
    return "\n".join(parts)


def _package_files(spec: DistSpec) -> dict[str, bytes]:
    if spec.files:
        return {k: v.encode() if isinstance(v, str) else v for k, v in spec.files.items()}
    return {f"{spec.import_name}/__init__.py": f'__version__ = "{spec.version}"\n'.encode()}


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


# --- minimal ZIP writer -------------------------------------------------------------------------
# zipfile cannot leave a hole for a member's data, so the archive is written by hand. Layout and
# field order follow APPNOTE 4.3.7 / 4.3.12 / 4.3.16 (same structs as CPython's zipfile).

_LOCAL = struct.Struct("<4s2B4HL2L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_EOCD = struct.Struct("<4s4H2LH")
_ZERO_CHUNK = bytes(1 << 20)


@functools.lru_cache(maxsize=16)
def _zeros_crc_sha(size: int) -> tuple[int, str]:
    """CRC32 and RECORD hash of ``size`` zero bytes (computed once per size per process)."""
    crc = 0
    sha = hashlib.sha256()
    full, rest = divmod(size, len(_ZERO_CHUNK))
    for _ in range(full):
        crc = zlib.crc32(_ZERO_CHUNK, crc)
        sha.update(_ZERO_CHUNK)
    crc = zlib.crc32(_ZERO_CHUNK[:rest], crc)
    sha.update(_ZERO_CHUNK[:rest])
    return crc, "sha256=" + base64.urlsafe_b64encode(sha.digest()).rstrip(b"=").decode()


def _local_header(name: bytes, method: int, crc: int, csize: int, usize: int) -> bytes:
    return (
        _LOCAL.pack(
            b"PK\x03\x04", 20, 0, 0, method, _DOS_TIME, _DOS_DATE, crc, csize, usize, len(name), 0
        )
        + name
    )


_PREFIX_HASHERS: dict[tuple[bytes, int], hashlib._Hash] = {}
_PREFIX_LOCK = threading.Lock()


def _payload_prefix_hasher(header: bytes, size: int) -> hashlib._Hash:
    """A sha256 state over ``header + zeros(size)``.

    The payload is the archive's first member, so every wheel with the same payload name and size
    starts with identical bytes: hashing them once and copying the state makes the whole-file hash
    of a 600 MB wheel cost only its small tail.
    """
    key = (header, size)
    with _PREFIX_LOCK:
        hasher = _PREFIX_HASHERS.get(key)
        if hasher is None:
            hasher = hashlib.sha256(header)
            full, rest = divmod(size, len(_ZERO_CHUNK))
            for _ in range(full):
                hasher.update(_ZERO_CHUNK)
            hasher.update(_ZERO_CHUNK[:rest])
            _PREFIX_HASHERS[key] = hasher
        return hasher.copy()


def _write_zip(path: Path, members: Iterable[tuple[str, bytes | int]]) -> str:
    """Write a ZIP of ``(name, data)``; ``data`` as an int is a sparse run of that many zeros.

    Returns the sha256 hex digest of the whole file, computed on the fly.
    """
    central = []
    hasher: hashlib._Hash | None = None
    offset = 0
    with open(path, "wb") as f:
        for index, (name, data) in enumerate(members):
            bname = name.encode()
            if isinstance(data, int):
                crc, _ = _zeros_crc_sha(data)
                header = _local_header(bname, 0, crc, data, data)
                method, csize, usize = 0, data, data
                if index == 0:
                    hasher = _payload_prefix_hasher(header, data)
                else:  # not the first member: hash the zeros the slow way
                    hasher = hasher or hashlib.sha256()
                    hasher.update(header)
                    for _ in range(data // len(_ZERO_CHUNK)):
                        hasher.update(_ZERO_CHUNK)
                    hasher.update(_ZERO_CHUNK[: data % len(_ZERO_CHUNK)])
                f.write(header)
                # Seeking past the data leaves a hole: zeros on read, no blocks on disk.
                f.seek(data, os.SEEK_CUR)
            else:
                crc = zlib.crc32(data)
                compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
                packed = compressor.compress(data) + compressor.flush()
                method, csize, usize = 8, len(packed), len(data)
                header = _local_header(bname, method, crc, csize, usize)
                f.write(header)
                f.write(packed)
                hasher = hasher or hashlib.sha256()
                hasher.update(header)
                hasher.update(packed)
            central.append(
                _CENTRAL.pack(
                    b"PK\x01\x02",
                    20,
                    3,
                    20,
                    0,
                    0,
                    method,
                    _DOS_TIME,
                    _DOS_DATE,
                    crc,
                    csize,
                    usize,
                    len(bname),
                    0,
                    0,
                    0,
                    0,
                    0o100644 << 16,
                    offset,
                )
                + bname
            )
            offset += len(header) + csize
        cd = b"".join(central)
        tail = cd + _EOCD.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(cd), offset, 0)
        f.write(tail)
    hasher = hasher or hashlib.sha256()
    hasher.update(tail)
    digest = hasher.hexdigest()
    st = path.stat()
    with _PREFIX_LOCK:
        _KNOWN_HASHES[_file_key(st)] = digest
    return digest


# --- file hashes --------------------------------------------------------------------------------

_KNOWN_HASHES: dict[tuple[int, int, int, int], str] = {}


def _file_key(st: os.stat_result) -> tuple[int, int, int, int]:
    # Hard links share (dev, ino), so a published hard link reuses the build-time hash.
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def file_sha256(path: Path) -> str:
    """Hex sha256 of ``path``; cached per (inode, size, mtime), free for wheels built here."""
    st = path.stat()
    key = _file_key(st)
    with _PREFIX_LOCK:
        known = _KNOWN_HASHES.get(key)
    if known is not None:
        return known
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
    digest = hasher.hexdigest()
    with _PREFIX_LOCK:
        _KNOWN_HASHES[key] = digest
    return digest


# --- wheels -------------------------------------------------------------------------------------


def build_wheel(spec: DistSpec, dest_dir: Path) -> Path:
    """Build ``spec`` as a wheel in ``dest_dir`` (created if needed); return the wheel's path."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / wheel_filename(spec)
    members: list[tuple[str, bytes | int]] = []
    record: list[str] = []
    if spec.payload_bytes:
        payload_name = f"{spec.import_name}/_payload.bin"
        members.append((payload_name, spec.payload_bytes))
        record.append(
            f"{payload_name},{_zeros_crc_sha(spec.payload_bytes)[1]},{spec.payload_bytes}"
        )
    dist_info = spec.dist_info
    contents = _package_files(spec)
    contents[f"{dist_info}/METADATA"] = metadata_text(spec).encode()
    contents[f"{dist_info}/WHEEL"] = _wheel_text(spec).encode()
    if spec.entry_points:
        contents[f"{dist_info}/entry_points.txt"] = _entry_points_text(spec.entry_points).encode()
    for name, data in contents.items():
        members.append((name, data))
        record.append(f"{name},{_record_hash(data)},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    members.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    tmp = path.with_name(path.name + ".part")
    _write_zip(tmp, members)
    # rename keeps the inode, so the hash recorded by _write_zip stays valid.
    os.replace(tmp, path)
    return path


# --- sdists and source trees --------------------------------------------------------------------

_BACKEND_SOURCE = r'''"""A tiny self-contained PEP 517/660 build backend (stdlib only), for hermetic tests."""

import base64
import hashlib
import json
import os
import tarfile
import zipfile

_HERE = os.path.dirname(os.path.abspath(__file__))
_META_FILES = {"_tiny_backend.py", "_tiny_spec.json", "pyproject.toml", "PKG-INFO"}


def _spec():
    with open(os.path.join(_HERE, "_tiny_spec.json"), encoding="utf-8") as f:
        return json.load(f)


def _sources():
    out = []
    for root, dirs, files in os.walk(_HERE):
        dirs[:] = sorted(d for d in dirs if d not in {"__pycache__", "build", "dist", ".git"}
                         and not d.endswith((".egg-info", ".dist-info")))
        for name in sorted(files):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, _HERE).replace(os.sep, "/")
            if rel not in _META_FILES and not name.endswith(".pyc"):
                out.append((rel, full))
    return out


def _hash(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _dist_info_files(spec):
    files = {"METADATA": spec["metadata"].encode(), "WHEEL": spec["wheel"].encode()}
    if spec["entry_points"]:
        files["entry_points.txt"] = spec["entry_points"].encode()
    return files


def _write_wheel(directory, contents):
    spec = _spec()
    name = spec["dist"] + "-" + spec["version"] + "-" + spec["tags"] + ".whl"
    dist_info = spec["dist"] + "-" + spec["version"] + ".dist-info"
    for key, data in _dist_info_files(spec).items():
        contents.append((dist_info + "/" + key, data))
    record = [f"{n},{_hash(d)},{len(d)}" for n, d in contents] + [dist_info + "/RECORD,,"]
    contents.append((dist_info + "/RECORD", ("\n".join(record) + "\n").encode()))
    with zipfile.ZipFile(os.path.join(directory, name), "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in contents:
            zf.writestr(zipfile.ZipInfo(arcname, (2024, 1, 1, 0, 0, 0)), data)
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    spec = _spec()
    dist_info = spec["dist"] + "-" + spec["version"] + ".dist-info"
    os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
    for key, data in _dist_info_files(spec).items():
        with open(os.path.join(metadata_directory, dist_info, key), "wb") as f:
            f.write(data)
    return dist_info


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    contents = []
    for rel, full in _sources():
        with open(full, "rb") as f:
            contents.append((rel, f.read()))
    return _write_wheel(wheel_directory, contents)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    spec = _spec()
    pth = ("__editable__." + spec["dist"] + "-" + spec["version"] + ".pth").replace("+", "_")
    return _write_wheel(wheel_directory, [(pth, (_HERE + "\n").encode())])


def build_sdist(sdist_directory, config_settings=None):
    spec = _spec()
    base = spec["dist"] + "-" + spec["version"]
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz", format=tarfile.PAX_FORMAT) as tf:
        for rel in sorted(_META_FILES):
            full = os.path.join(_HERE, rel)
            if os.path.exists(full):
                tf.add(full, base + "/" + rel)
        if not os.path.exists(os.path.join(_HERE, "PKG-INFO")):
            data = spec["metadata"].encode()
            info = tarfile.TarInfo(base + "/PKG-INFO")
            info.size = len(data)
            import io
            tf.addfile(info, io.BytesIO(data))
        for rel, full in _sources():
            tf.add(full, base + "/" + rel)
    return name
'''


def _toml_str(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string for our inputs


_TRAILING_EXTRA_RE = re.compile(
    r"""^(?:(?P<rest>.+?)\s+and\s+)?extra\s*==\s*['"](?P<x>[^'"]+)['"]$"""
)


def _pyproject_text(spec: DistSpec) -> str:
    """pyproject.toml with static [project] metadata where it can be expressed, else dynamic."""
    deps: list[str] = []
    optional: dict[str, list[str]] = {}
    expressible = True
    for req in spec.requires_dist:
        head, sep, marker = req.partition(";")
        marker = marker.strip()
        if "extra" not in marker:
            deps.append(req)
            continue
        m = _TRAILING_EXTRA_RE.match(marker)
        if m is None or "extra" in (m.group("rest") or ""):
            expressible = False
            break
        rest = m.group("rest")
        rest = rest.strip() if rest else ""
        entry = head.strip() + (f"; {rest}" if rest else "")
        optional.setdefault(canonicalize_name(m.group("x")), []).append(entry)
    lines = [
        "[build-system]",
        "requires = []",
        'build-backend = "_tiny_backend"',
        'backend-path = ["."]',
        "",
        "[project]",
        f"name = {_toml_str(spec.name)}",
        f"version = {_toml_str(spec.version)}",
    ]
    if spec.summary:
        lines.append(f"description = {_toml_str(spec.summary)}")
    if spec.requires_python:
        lines.append(f"requires-python = {_toml_str(spec.requires_python)}")
    if expressible:
        lines.append("dependencies = [" + ", ".join(_toml_str(d) for d in deps) + "]")
    else:
        lines.append('dynamic = ["dependencies", "optional-dependencies"]')
    for group, entries in spec.entry_points.items():
        if group == "console_scripts":
            lines.append("")
            lines.append("[project.scripts]")
            lines += [f"{_toml_str(k)} = {_toml_str(v)}" for k, v in entries.items()]
    if expressible and optional:
        lines.append("")
        lines.append("[project.optional-dependencies]")
        lines += [
            f"{extra} = [" + ", ".join(_toml_str(d) for d in reqs) + "]"
            for extra, reqs in optional.items()
        ]
    others = {g: e for g, e in spec.entry_points.items() if g != "console_scripts"}
    for group, entries in others.items():
        lines.append("")
        lines.append(f"[project.entry-points.{_toml_str(group)}]")
        lines += [f"{_toml_str(k)} = {_toml_str(v)}" for k, v in entries.items()]
    return "\n".join(lines) + "\n"


def _tree_files(spec: DistSpec) -> dict[str, bytes]:
    tiny_spec = {
        "dist": dist_name(spec.name),
        "version": spec.normalized_version,
        "tags": spec.tags,
        "metadata": metadata_text(spec),
        "wheel": _wheel_text(spec),
        "entry_points": _entry_points_text(spec.entry_points) if spec.entry_points else "",
    }
    files = {
        "pyproject.toml": _pyproject_text(spec).encode(),
        "_tiny_backend.py": _BACKEND_SOURCE.encode(),
        "_tiny_spec.json": (json.dumps(tiny_spec, indent=1) + "\n").encode(),
    }
    files.update(_package_files(spec))
    return files


def write_project(spec: DistSpec, directory: Path) -> Path:
    """Write ``spec``'s source tree (pyproject + in-tree backend + package) into ``directory``.

    The backend takes name, version, tags and the METADATA text from ``_tiny_spec.json`` and
    packages every other file in the tree; to change metadata, call this again with a new spec.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for rel, data in _tree_files(spec).items():
        target = directory / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return directory


def build_sdist(spec: DistSpec, dest_dir: Path) -> Path:
    """Build ``spec`` as an sdist ``.tar.gz`` in ``dest_dir``; return its path."""
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / sdist_filename(spec)
    base = f"{dist_name(spec.name)}-{spec.normalized_version}"
    files = _tree_files(spec)
    files["PKG-INFO"] = metadata_text(spec).encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for rel in sorted(files):
            data = files[rel]
            info = tarfile.TarInfo(f"{base}/{rel}")
            info.size = len(data)
            info.mtime = _TAR_MTIME
            info.mode = 0o644
            tf.addfile(info, io.BytesIO(data))
    # gzip with mtime=0 keeps the sdist reproducible.
    import gzip

    tmp = path.with_name(path.name + ".part")
    with open(tmp, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    os.replace(tmp, path)
    return path
