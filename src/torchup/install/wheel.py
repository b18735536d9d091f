"""Install and uninstall wheels, fast, safely and all-or-nothing.

The pipeline, for each wheel:

1. **Unpack once** (:func:`unpack_wheel`): every archive member is checked (no absolute or
   ``..`` paths, no symlinks, no duplicates, no zip bombs, a RECORD hash that matches) and
   written into a tree. With an ``unpacked_cache`` the tree lives in the cache, keyed by the
   wheel's sha256, so a wheel unpacked once is installed into any number of environments by
   hard links: installing torch a second time costs a few thousand ``link()`` calls.
2. **Stage** (:class:`_StagingDestination`, driven by ``installer.install``): the ``installer``
   library decides what goes where (schemes, ``.data`` directories, console scripts, RECORD,
   INSTALLER, REQUESTED, ``direct_url.json``); our destination links the files into a hidden
   staging directory inside the environment instead of copying them into place.
3. **Commit** (:class:`_Transaction`): an older install of the same distribution is moved to a
   trash directory, then the staged trees are renamed into place (whole new directories in one
   rename). Any failure undoes every step, so the environment is left as it was.

Steps 1-2 are :func:`prepare_wheel` (the environment does not change: many wheels can be
prepared before any is committed), step 3 is :func:`commit_wheels` (several wheels, one
transaction); :func:`install_wheel` is both, for one wheel.

Nothing in this module writes outside the install scheme's directories and the cache.
"""

from __future__ import annotations

import base64
import csv
import errno
import functools
import hashlib
import io
import itertools
import json
import operator
import os
import posixpath
import shutil
import stat
import struct
import subprocess
import tempfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Literal, NamedTuple, cast

from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from torchup.errors import InstallError, InvalidWheelError
from torchup.install.interpreters import Scheme

try:  # for --link-mode clone (_clone_or_copy)
    import fcntl
except ImportError:  # Windows: no ioctl (and no reflinks through this call)
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from installer.records import RecordEntry
    from installer.scripts import LauncherKind, ScriptSection

__all__ = [
    "InstalledWheel",
    "LinkMode",
    "PreparedWheel",
    "UnpackedFile",
    "UnpackedWheel",
    "WheelLimits",
    "commit_wheels",
    "find_dist_info",
    "import_installer",
    "install_wheel",
    "prepare_wheel",
    "recover_interrupted",
    "unpack_wheel",
    "unpack_wheel_cached",
    "uninstall",
]

LinkMode = Literal["hardlink", "copy", "symlink", "clone"]

_MANIFEST = "manifest.json"
_MANIFEST_VERSION = 1
_CHUNK = 1 << 20
# The first field: an UnpackedFile's path, a RECORD row's sort key, a written file's scheme.
# For map() and sort keys over thousands of files: C speed, no Python code per file.
_FIRST = operator.itemgetter(0)
# RECORD hashes weaker than these are refused (PEP 427: "md5 and sha1 are not permitted").
_ALLOWED_HASHES = frozenset({"sha256", "sha384", "sha512", "sha3_256", "sha3_384", "sha3_512"})
_SIGNATURES = frozenset({"RECORD.jws", "RECORD.p7s"})
_SCHEMES = ("purelib", "platlib", "headers", "scripts", "data")
_STAGE_PREFIX = ".torchup-stage-"
_TRASH_PREFIX = ".torchup-trash-"
_JOURNAL = "journal.jsonl"  # in a trash directory; parked entries are named 1, 2, ...
# Staging links a big wheel's files from a few threads (see _StagingDestination.flush): at most
# this many, and each with at least this many links (a thread costs about 100 links).
_LINK_THREADS = min(4, os.cpu_count() or 1)
# Off only in tests, which compare the batch path with installer doing every file.
_LINK_ROOT_FILES_IN_BULK = True
_LINKS_PER_THREAD = 2000
# A big wheel (torch: 12,000 members, 700 MB) is unpacked by a few threads, each with at least
# this many members or bytes; smaller ones by the calling thread (wheels are unpacked in
# parallel with each other already). Creating a file costs about as much as writing this much.
_UNPACK_THREADS = min(4, os.cpu_count() or 1)
_UNPACK_MEMBERS_PER_THREAD = 3000
_UNPACK_BYTES_PER_THREAD = 128 << 20
_CREATE_COST_BYTES = 64 << 10


@dataclass(frozen=True)
class WheelLimits:
    """Zip-bomb guards. A member, or the whole archive, may expand to at most ``max_ratio``
    times its compressed size once it is bigger than the matching ``*_floor`` (small files of
    zeros legitimately compress 1000:1; gigabytes of them do not come in a real wheel)."""

    max_members: int = 500_000
    max_total_size: int = 64 << 30
    max_ratio: float = 200.0
    member_floor: int = 64 << 20
    total_floor: int = 512 << 20


DEFAULT_LIMITS = WheelLimits()


class UnpackedFile(NamedTuple):
    """One file of an unpacked wheel: its archive path, RECORD hash (``algo=b64``) and size."""

    # A NamedTuple, not a frozen dataclass: a warm install of torch reads 12,000 of these from
    # the cache manifest, and map(UnpackedFile._make, rows) builds them in a third of the time
    # (2.5 ms, not 8, more with the garbage collector running); staging's per-file passes
    # read them with operator.itemgetter and tuple unpacking, in C.
    path: str
    hash: str
    size: int
    executable: bool


@dataclass(frozen=True)
class UnpackedWheel:
    """A validated wheel unpacked into ``root`` (archive paths map 1:1 below it)."""

    root: Path
    name: str
    version: str
    dist_info: str
    files: tuple[UnpackedFile, ...]

    @property
    def data_dir(self) -> str:
        return self.dist_info[: -len(".dist-info")] + ".data"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": _MANIFEST_VERSION,
            "name": self.name,
            "dist_version": self.version,
            "dist_info": self.dist_info,
            "files": [list(f) for f in self.files],
        }

    @classmethod
    def from_dict(cls, root: Path, data: Mapping[str, Any]) -> UnpackedWheel:
        if data.get("version") != _MANIFEST_VERSION:
            raise ValueError("unknown manifest version")
        return cls(
            root=root,
            name=data["name"],
            version=data["dist_version"],
            dist_info=data["dist_info"],
            # _make raises TypeError for a row that is not 4 fields (a miss for the cache).
            files=tuple(map(UnpackedFile._make, data["files"])),
        )


@dataclass(frozen=True)
class InstalledWheel:
    """What :func:`install_wheel` did: the new ``.dist-info``, every file it placed, how many
    were hard-linked (shared with the cache) or copied, and the older installs it replaced."""

    name: str
    version: str
    dist_info: Path
    linked: int
    copied: int
    replaced: tuple[Path, ...]
    scheme_dirs: Mapping[str, str] = field(default_factory=dict, hash=False, repr=False)
    written: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def files(self) -> tuple[Path, ...]:
        """Every path placed, RECORD included (built on demand: thousands for torch)."""
        return tuple(Path(self.scheme_dirs[s]) / rel for s, rel in self.written)


# -- validation + unpacking ---------------------------------------------------------------------


def _member_problem(name: str) -> str | None:
    """Why an archive member name is unsafe, or None. Pure; see the tests for the table."""
    if not name or "\x00" in name:
        return "has an empty or NUL-containing name"
    if "\\" in name:
        return "uses a backslash, which Windows reads as a path separator"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    parts = name.split("/")
    if name.endswith("/"):
        parts = parts[:-1]
    for part in parts:
        if part in ("", ".", ".."):
            return "escapes the wheel or has an empty path component"
    return None


def _hash_parts(record_hash: str) -> tuple[str, str]:
    algo, sep, value = record_hash.partition("=")
    if not sep or not value:
        raise ValueError(record_hash)
    return algo.lower(), value


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _read_record(zf: zipfile.ZipFile, filename: str, dist_info: str) -> dict[str, tuple[str, str]]:
    try:
        text = zf.read(f"{dist_info}/RECORD").decode("utf-8")
    except KeyError:
        raise InvalidWheelError(f"{dist_info}/RECORD is missing", filename=filename) from None
    except UnicodeDecodeError:
        raise InvalidWheelError("RECORD is not UTF-8", filename=filename) from None
    except (
        zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error
    ) as exc:
        # A damaged RECORD member (bad CRC, truncated or undecodable deflate data) escaped
        # as an internal error before (found by tests/property/test_fuzz_parsers.py).
        raise InvalidWheelError(f"cannot read {dist_info}/RECORD: {exc}", filename=filename) from exc
    rows: dict[str, tuple[str, str]] = {}
    for row in csv.reader(io.StringIO(text)):
        if not row:
            continue
        if len(row) != 3:
            raise InvalidWheelError(f"RECORD row {row!r} has {len(row)} fields", filename=filename)
        rows[row[0]] = (row[1], row[2])
    return rows


# New files are created with os.open: the mode (umask applied by the kernel) is set in the same
# call, and a small file needs no buffered file object. That also keeps clear of the umask: the
# usual way to read it (installer's make_file_executable does) sets it for a moment, which would
# apply to files other threads create meanwhile. O_EXCL: never write through a file (or symlink)
# that is already there.
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _mkdirs(directory: str, made: set[str]) -> None:
    """Create ``directory`` and its missing parents below a root already in ``made``.

    Only for trees this process is building from empty (the unpacked tree, a staging area): what
    exists is exactly what ``made`` holds, so there is no stat() per level as os.makedirs does.
    Threads building one tree may share ``made``: it gains a directory only once that exists,
    and one that another thread made meanwhile is found to exist, which is accepted.
    """
    if directory in made:
        return
    parent = directory.rpartition("/")[0]
    if not parent:  # not below a known root (cannot happen for validated names): plain makedirs
        os.makedirs(directory, exist_ok=True)
        made.add(directory)
        return
    _mkdirs(parent, made)
    try:
        os.mkdir(directory)
    except FileExistsError:
        if not os.path.isdir(directory):
            raise
    made.add(directory)


def _dist_info_dir(names: Iterable[str], filename: str) -> str:
    tops = {name.split("/", 1)[0] for name in names}
    infos = sorted(t for t in tops if t.endswith(".dist-info"))
    if len(infos) != 1:
        found = ", ".join(infos) or "none"
        raise InvalidWheelError(
            f"a wheel must contain exactly one .dist-info directory (found {found})",
            filename=filename,
        )
    return infos[0]


def _check_identity(dist_info: str, filename: str) -> tuple[str, str]:
    try:
        name, version, _, _ = parse_wheel_filename(filename)
    except InvalidWheelFilename as exc:
        raise InvalidWheelError(f"not a valid wheel filename ({exc})", filename=filename) from None
    info_name, _, info_version = dist_info[: -len(".dist-info")].rpartition("-")
    try:
        same_version = Version(info_version) == version
    except InvalidVersion:
        same_version = False
    if canonicalize_name(info_name) != name or not same_version:
        raise InvalidWheelError(
            f"{dist_info} does not match the file name ({name} {version})", filename=filename
        )
    return info_name, info_version


def _check_metadata_identity(zf: zipfile.ZipFile, dist_info: str, filename: str) -> None:
    """The wheel's METADATA must name the project and version its filename names.

    The resolver trusted the filename (and an index's PEP 658 file); a wheel whose METADATA says
    it is another project or version would install a distribution nobody asked for, under a
    name ``pip list`` would then report. uv and pip refuse such wheels too.
    """
    from email.parser import BytesHeaderParser

    member = f"{dist_info}/METADATA"
    try:
        info = zf.getinfo(member)
    except KeyError:
        raise InvalidWheelError(f"{member} is missing", filename=filename) from None
    if info.file_size > 64 << 20:
        raise InvalidWheelError(f"{member} is implausibly large", filename=filename)
    try:
        headers = BytesHeaderParser().parsebytes(zf.read(member))
    except (
        zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error
    ) as exc:
        raise InvalidWheelError(f"cannot read {member}: {exc}", filename=filename) from exc
    meta_name, meta_version = headers.get("Name"), headers.get("Version")
    name, version, _, _ = parse_wheel_filename(filename)
    try:
        same = (
            meta_name is not None
            and meta_version is not None
            and canonicalize_name(str(meta_name)) == name
            and Version(str(meta_version).strip()) == version
        )
    except InvalidVersion:
        same = False
    if not same:
        raise InvalidWheelError(
            f"its METADATA names {meta_name} {meta_version}, but the file name says "
            f"{name} {version}",
            filename=filename,
            hint="the wheel is mislabelled or was tampered with; nothing was installed",
        )


def unpack_wheel(
    wheel_path: Path, dest: Path, *, limits: WheelLimits = DEFAULT_LIMITS
) -> UnpackedWheel:
    """Validate ``wheel_path`` and unpack it into the (new, empty) directory ``dest``.

    Raises :class:`InvalidWheelError` for unsafe member names, symlinks, duplicates, zip bombs
    or a RECORD that is missing, incomplete or does not match; nothing is written outside
    ``dest`` (the caller removes ``dest`` on failure).
    """
    filename = wheel_path.name
    try:
        archive_size = wheel_path.stat().st_size
        zf = zipfile.ZipFile(wheel_path)
    except (
        OSError, zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, struct.error
    ) as exc:
        # NotImplementedError ("zip file version 8.4"), UnicodeDecodeError (a member name
        # flagged UTF-8 that is not) and friends come from a damaged central directory; they
        # escaped as internal errors (found by tests/property/test_fuzz_parsers.py).
        raise InvalidWheelError(f"cannot open the wheel: {exc}", filename=filename) from exc
    with zf:
        infos = zf.infolist()
        _check_members(infos, filename, archive_size, limits)
        dist_info = _dist_info_dir((i.filename for i in infos), filename)
        name, version = _check_identity(dist_info, filename)
        _check_metadata_identity(zf, dist_info, filename)
        _check_data_dirs(infos, dist_info, filename)
        record = _read_record(zf, filename, dist_info)
        # Every member's RECORD row is checked before anything is written.
        jobs: list[tuple[zipfile.ZipInfo, tuple[str, str] | None]] = []
        record_member = f"{dist_info}/RECORD"
        info_prefix = f"{dist_info}/"
        for info in infos:
            member = info.filename
            if member[-1] == "/":  # a directory entry (ZipInfo.is_dir without the call)
                continue
            expected: tuple[str, str] | None = None
            if member != record_member and not (
                member.startswith(info_prefix) and member.rsplit("/", 1)[-1] in _SIGNATURES
            ):
                row = record.get(member)
                if row is None or not row[0]:
                    raise InvalidWheelError(f"{member} has no hash in RECORD", filename=filename)
                try:
                    expected = _hash_parts(row[0])
                except ValueError:
                    raise InvalidWheelError(
                        f"RECORD has a malformed hash for {member}", filename=filename
                    ) from None
                if expected[0] not in _ALLOWED_HASHES:
                    raise InvalidWheelError(
                        f"RECORD uses the weak or unknown hash {expected[0]!r} for {member}",
                        filename=filename,
                    )
            jobs.append((info, expected))
        dest.mkdir(parents=True, exist_ok=True)
        made = {str(dest)}
        total = sum(info.file_size for info, _ in jobs)
        threads = min(_UNPACK_THREADS, max(len(jobs) // _UNPACK_MEMBERS_PER_THREAD, total // _UNPACK_BYTES_PER_THREAD))
        if threads < 2:
            files = _extract(zf, jobs, str(dest), made, filename, None)
        else:
            files = _extract_in_threads(wheel_path, zf, jobs, str(dest), made, threads)
    return UnpackedWheel(dest, name, version, dist_info, tuple(files))


def _extract(
    zf: zipfile.ZipFile,
    jobs: Sequence[tuple[zipfile.ZipInfo, tuple[str, str] | None]],
    dest: str,
    made: set[str],
    filename: str,
    stop: threading.Event | None,
) -> list[UnpackedFile]:
    """Write ``jobs`` (members and their RECORD hashes) below ``dest``, checking each hash."""
    files: list[UnpackedFile] = []
    for info, expected in jobs:
        if stop is not None and stop.is_set():
            break  # another thread failed: the whole tree is thrown away
        member = info.filename
        target = f"{dest}/{member}"
        algo = expected[0] if expected else "sha256"
        executable = bool((info.external_attr >> 16) & 0o111)
        try:
            _mkdirs(target.rpartition("/")[0], made)  # one mkdir per directory, no stat
            hasher = hashlib.sha256() if algo == "sha256" else hashlib.new(algo)
            size = 0
            with zf.open(info) as src:
                # 0o777 / 0o666 less the umask, as the kernel applies it: no chmod after.
                fd = os.open(target, _CREATE, 0o777 if executable else 0o666)
                try:
                    if info.file_size <= _CHUNK:
                        # Most members are small: one read (bounded by the declared size; the
                        # CRC is checked at its end), one write, no chunk loop.
                        data = src.read()
                        hasher.update(data)
                        _write_all(fd, data)
                        size = len(data)
                    else:
                        while chunk := src.read(_CHUNK):
                            hasher.update(chunk)
                            _write_all(fd, chunk)
                            size += len(chunk)
                finally:
                    os.close(fd)
        except (
            OSError,
            zipfile.BadZipFile,
            EOFError,
            RuntimeError,
            NotImplementedError,
            zlib.error,
        ) as exc:
            # A file where a directory must go (or the reverse), a CRC error, a full disk, an
            # encrypted member (RuntimeError), an unknown compression method, or deflate data
            # that does not inflate (zlib.error: it escaped as an internal error).
            raise InvalidWheelError(f"cannot unpack {member}: {exc}", filename=filename) from exc
        actual = _b64(hasher.digest())
        if expected is not None and actual != expected[1]:
            raise InvalidWheelError(
                f"{member} does not match its RECORD hash",
                filename=filename,
                hint="the wheel was modified after it was built; nothing was installed",
            )
        files.append(UnpackedFile(member, f"{algo}={actual}", size, executable))
    return files


def _extract_in_threads(
    wheel_path: Path,
    zf: zipfile.ZipFile,
    jobs: Sequence[tuple[zipfile.ZipInfo, tuple[str, str] | None]],
    dest: str,
    made: set[str],
    threads: int,
) -> list[UnpackedFile]:
    """:func:`_extract` for a big wheel, from a few threads (inflating, hashing and writing
    release the GIL). Each thread takes a run of consecutive members, so mostly whole
    directories of its own, and reads through its own ZipFile: one ZipFile's open-file count is
    not thread-safe. Returns the files in archive order."""
    from concurrent.futures import ThreadPoolExecutor, wait

    filename = wheel_path.name

    weights = [info.file_size + _CREATE_COST_BYTES for info, _ in jobs]
    share = sum(weights) / threads
    runs: list[Sequence[tuple[zipfile.ZipInfo, tuple[str, str] | None]]] = []
    start = acc = 0
    for i, weight in enumerate(weights):
        acc += weight
        if acc >= share * (len(runs) + 1) and len(runs) < threads - 1:
            runs.append(jobs[start : i + 1])
            start = i + 1
    runs.append(jobs[start:])
    stop = threading.Event()

    def run(index: int) -> list[UnpackedFile]:
        try:
            if index == 0:  # the caller's ZipFile, idle meanwhile
                return _extract(zf, runs[0], dest, made, filename, stop)
            try:
                own = zipfile.ZipFile(wheel_path)
            except (OSError, zipfile.BadZipFile) as exc:
                raise InvalidWheelError(f"cannot open the wheel: {exc}", filename=filename) from exc
            with own:
                return _extract(own, runs[index], dest, made, filename, stop)
        except BaseException:
            stop.set()
            raise

    pool = ThreadPoolExecutor(len(runs), thread_name_prefix="torchup-unzip")
    try:
        futures = [pool.submit(run, i) for i in range(len(runs))]
        wait(futures)
    except BaseException:
        stop.set()  # Ctrl-C: the threads stop at their next member; the caller removes dest
        raise
    finally:
        pool.shutdown(wait=True)
    for fut in futures:  # the first failure, in archive order
        if fut.exception() is not None:
            raise cast(BaseException, fut.exception())
    return [f for fut in futures for f in fut.result()]


def _check_members(
    infos: Sequence[zipfile.ZipInfo], filename: str, archive_size: int, limits: WheelLimits
) -> None:
    if len(infos) > limits.max_members:
        raise InvalidWheelError(f"too many members ({len(infos)})", filename=filename)
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        problem = _member_problem(name)
        if problem:
            raise InvalidWheelError(f"member {name!r} {problem}", filename=filename)
        key = name.rstrip("/")
        if key in seen:
            raise InvalidWheelError(f"member {name!r} appears twice", filename=filename)
        seen.add(key)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise InvalidWheelError(f"member {name!r} is a symbolic link", filename=filename)
        kind = stat.S_IFMT(mode)  # 0 when the archiver recorded permissions only
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise InvalidWheelError(f"member {name!r} is not a regular file", filename=filename)
        size = info.file_size
        if size > limits.member_floor and size > limits.max_ratio * max(info.compress_size, 1):
            raise InvalidWheelError(
                f"member {name!r} expands {size // max(info.compress_size, 1)}:1 (a zip bomb?)",
                filename=filename,
            )
        total += size
    if total > limits.max_total_size or (
        total > limits.total_floor and total > limits.max_ratio * max(archive_size, 1)
    ):
        raise InvalidWheelError(
            f"the archive expands to {total} bytes from {archive_size} (a zip bomb?)",
            filename=filename,
        )


def _check_data_dirs(infos: Sequence[zipfile.ZipInfo], dist_info: str, filename: str) -> None:
    data_dir = dist_info[: -len(".dist-info")] + ".data/"
    for info in infos:
        if info.filename.startswith(data_dir) and not info.is_dir():
            scheme, sep, _ = info.filename[len(data_dir) :].partition("/")
            if not sep or scheme not in _SCHEMES:
                raise InvalidWheelError(
                    f"{info.filename} is not in a known .data scheme ({', '.join(_SCHEMES)})",
                    filename=filename,
                )


def _file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def unpack_wheel_cached(
    wheel_path: Path,
    cache_dir: Path,
    *,
    sha256: str | None = None,
    limits: WheelLimits = DEFAULT_LIMITS,
    verify: bool = False,
) -> UnpackedWheel:
    """The unpacked tree of ``wheel_path`` under ``cache_dir/<sha256>/``, unpacking it once.

    ``sha256`` is the wheel's verified hex digest when the caller already knows it (saves
    reading the file). Concurrent callers race safely: each unpacks into a private directory and
    the first rename wins; the others use the winner's tree.

    ``verify`` re-hashes a cached tree against its manifest and unpacks afresh when any file
    differs. Installed files are hard links to the cached ones, so editing a file inside
    site-packages edits the cache too; without this, ``--reinstall`` (the usual cure for a
    damaged install) would link the damaged file straight back.
    """
    digest = sha256 or _file_sha256(wheel_path)
    entry = cache_dir / digest
    manifest = entry / _MANIFEST
    try:
        cached = UnpackedWheel.from_dict(entry / "tree", json.loads(manifest.read_text("utf-8")))
        if not verify or _tree_intact(cached):
            return cached
        # Damaged: move it aside (one rename, so a concurrent reader sees old or nothing).
        # ".tmp-" prefixes: Cache.prune() removes scratch directories a killed process left.
        stale = Path(tempfile.mkdtemp(prefix=".tmp-stale-", dir=cache_dir))
        os.rename(entry, stale / "entry")
        shutil.rmtree(stale, ignore_errors=True)
    except (OSError, ValueError, KeyError, TypeError):
        pass  # not cached yet (or from an older torchup): unpack below
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-unpack-", dir=cache_dir))
    try:
        unpacked = unpack_wheel(wheel_path, tmp / "tree", limits=limits)
        (tmp / _MANIFEST).write_text(json.dumps(unpacked.to_dict()), encoding="utf-8")
        if entry.exists() and not manifest.exists():
            # A stale entry without a manifest (an older torchup, a hand edit). Only such an
            # entry is moved aside, and by one rename: a complete entry may be in use by another
            # process linking from it right now. (This used to rmtree whatever was there, so a
            # process that lost the unpack race deleted the winner's tree mid-install: "No such
            # file" for three installs sharing one cache.)
            aside = Path(tempfile.mkdtemp(prefix=".tmp-stale-", dir=cache_dir))
            try:
                os.rename(entry, aside / "entry")
            except OSError:
                pass  # someone else moved or completed it
            shutil.rmtree(aside, ignore_errors=True)
        try:
            os.rename(tmp, entry)
        except OSError:
            if not manifest.exists():
                raise
            # Another process finished first; its tree is identical, use it.
        return UnpackedWheel.from_dict(
            entry / "tree", json.loads(manifest.read_text(encoding="utf-8"))
        )
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _tree_intact(unpacked: UnpackedWheel) -> bool:
    """Whether every file of a cached tree still has the size and hash it was unpacked with."""
    for f in unpacked.files:
        path = unpacked.root / f.path
        try:
            if path.stat().st_size != f.size:
                return False
            algo, _, expected = f.hash.partition("=")
            hasher = hashlib.new(algo)
            with open(path, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    hasher.update(chunk)
        except (OSError, ValueError):
            return False
        if _b64(hasher.digest()) != expected:
            return False
    return True


# -- the installer source and destination -------------------------------------------------------


class _CachedFile:
    """A file of the unpacked tree, opened only if someone reads it (linking never does).

    Duck-typed as the binary stream installer hands to the destination (``read``,
    ``readline``, ``seek``, ``tell``; only scripts and copies read one): an ``io.RawIOBase``
    subclass cost more to make and close than the link itself, thousands of times for torch.
    """

    __slots__ = ("path", "entry", "_file")

    def __init__(self, path: str, entry: UnpackedFile) -> None:
        self.path = path
        self.entry = entry
        self._file: IO[bytes] | None = None

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self._file = open(self.path, "rb")
        return self._file

    def read(self, size: int = -1) -> bytes:
        return self._open().read(size)

    def readline(self, size: int = -1) -> bytes:
        return self._open().readline(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._open().seek(offset, whence)

    def tell(self) -> int:
        return self._open().tell()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _root_files(unpacked: UnpackedWheel) -> tuple[list[UnpackedFile], list[UnpackedFile]]:
    """The files ``installer`` would place unchanged in the root scheme, and the others
    (in archive order both). The first: everything outside ``*.dist-info/`` and ``*.data/``,
    except files in ``__pycache__`` directories (installer skips those with a warning, so they
    stay on its path).

    For these, installer's per-file loop decides nothing (the scheme is the root scheme, the
    path is the archive path, the RECORD row is the one unpacking verified), yet costs about
    25 us a file: a third of a warm torch install (12,247 files). They are linked in one batch
    instead; installer still handles the WHEEL file, entry points, ``.data`` and dist-info.
    """
    files = unpacked.files
    prefixes = (unpacked.dist_info + "/", unpacked.data_dir + "/")
    # C-speed passes, no Python code per file (torch: 12,000 files, a handful for installer).
    paths = list(map(_FIRST, files))
    for_installer = list(map(str.startswith, paths, itertools.repeat(prefixes)))
    # A wheel rarely has __pycache__ members: one scan of all paths tells (a match cannot span
    # the "\n" joining two paths), and only then is each path tested.
    if "__pycache__/" in "\n".join(paths):
        for i, path in enumerate(paths):
            if "/__pycache__/" in "/" + path:  # anywhere above
                for_installer[i] = True
    return (
        list(itertools.compress(files, map(operator.not_, for_installer))),
        list(itertools.compress(files, for_installer)),
    )


def _make_source(unpacked: UnpackedWheel, files: Sequence[UnpackedFile]) -> Any:
    """An installer source that yields ``files`` (of ``unpacked``: those not staged in bulk)."""
    from installer.sources import WheelSource

    class UnpackedSource(WheelSource):
        """An installer ``WheelSource`` over an unpacked, already validated tree."""

        def __init__(self) -> None:
            super().__init__(unpacked.name, unpacked.version)
            self._data_dir = unpacked.data_dir  # installer asks once per file

        @property
        def dist_info_dir(self) -> str:
            return unpacked.dist_info

        @property
        def data_dir(self) -> str:
            return self._data_dir

        @property
        def dist_info_filenames(self) -> list[str]:
            prefix = unpacked.dist_info + "/"
            return [f.path[len(prefix) :] for f in files if f.path.startswith(prefix)]

        def read_dist_info(self, filename: str) -> str:
            return (unpacked.root / unpacked.dist_info / filename).read_text(encoding="utf-8")

        def validate_record(self) -> None:
            return None  # done while unpacking

        def get_contents(self) -> Iterator[tuple[tuple[str, str, str], BinaryIO, bool]]:
            root = str(unpacked.root) + "/"
            for entry in files:
                stream = _CachedFile(root + entry.path, entry)
                try:
                    yield (entry.path, entry.hash, str(entry.size)), stream, entry.executable  # type: ignore[misc]
                finally:
                    stream.close()  # a no-op unless a script or a copy opened it

    return UnpackedSource()


def _root_scheme(unpacked: UnpackedWheel) -> str:
    """Where the archive root goes, read from WHEEL as installer reads it (installer itself
    checks Wheel-Version and raises before anything is linked: links wait for flush())."""
    from installer.utils import parse_metadata_file

    text = (unpacked.root / unpacked.dist_info / "WHEEL").read_text(encoding="utf-8")
    return "purelib" if parse_metadata_file(text)["Root-Is-Purelib"] == "true" else "platlib"


def _record_text(
    rows: list[tuple[str, str, str, str | int]], files: Sequence[UnpackedFile] = ()
) -> str:
    """RECORD's text, byte for byte what installer's construct_record_file writes: ``rows`` are
    (scheme-relative path, path, hash, size), written in the order of the first (a stable sort,
    as installer's) with csv.writer (delimiter ``,``, quotechar ``"``, lineterminator ``\\n``,
    minimal quoting). ``files`` (the root files staged in bulk) are more rows after ``rows``,
    each ``(f.path, f.path, f.hash, f.size)``.

    csv.writer costs about 2 us a row, most of RECORD's cost for torch (12,000 rows), yet
    quotes almost nothing: only fields holding ``,``, ``"``, ``\\n`` or (Python 3.13+)
    ``\\r``; Python 3.10-3.12 refuse NUL. So the rows are joined plainly and the text is
    checked with a few C-speed scans: such a character in any field shows as an extra ``,``
    or line end, or as one that should not be there at all, and then csv.writer writes every
    row. (Three fields a row: csv's other special case, a row that is a single empty field,
    cannot arise.)
    """
    every = rows + [(path, path, digest, size) for path, digest, size, _ in files]
    every.sort(key=_FIRST)
    text = "".join([f"{path},{digest},{size}\n" for _, path, digest, size in every])
    if (
        text.count(",") == 2 * len(every)
        and text.count("\n") == len(every)
        and '"' not in text
        and "\r" not in text
        and "\x00" not in text
    ):
        return text
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=",", quotechar='"', lineterminator="\n").writerows(
        row[1:] for row in every
    )
    return out.getvalue()


def _safe_relpath(path: str, what: str, filename: str) -> str:
    rel = path.replace(os.sep, "/")
    problem = _member_problem(rel) or (None if rel.strip("/") else "is empty")
    if problem:
        raise InvalidWheelError(f"{what} {path!r} {problem}", filename=filename)
    return rel


class _StagingDestination:
    """An installer ``WheelDestination`` that writes into ``stage/<scheme>/...`` (``stage``
    exists; it is the wheel's work directory).

    RECORD rows and script shebangs name the *final* locations (``scheme_dict``); the commit
    step later renames the staged trees there. Files that come from the unpacked tree are
    linked (or copied, per ``link_mode``) instead of streamed.
    """

    def __init__(
        self,
        *,
        scheme_dict: Mapping[str, str],
        stage: Path,
        interpreter: str,
        script_kind: LauncherKind,
        link_mode: LinkMode,
        filename: str,
    ) -> None:
        self.scheme_dict = dict(scheme_dict)
        self.stage = stage
        self.interpreter = interpreter
        self.script_kind = script_kind
        self.link_mode = link_mode
        self.filename = filename
        self.linked = 0
        self.copied = 0
        self.compile: Callable[[list[tuple[str, Path, str]]], list[tuple[str, str]]] | None = None
        self.written: list[tuple[str, str]] = []  # (scheme, scheme-relative path)
        # The hot path (tens of thousands of files for torch) works on strings and remembers
        # which directories exist: pathlib and repeated stat() calls cost more than link().
        self._stage = str(stage)
        self._seen: set[tuple[str, str]] = set()
        self._made: set[str] = {self._stage}
        self._cannot_link = False
        # Links (and their directories) are made in one batch by flush(), not one per
        # write_file() call: installer's per-file loop is pure Python, the batch is system
        # calls that a few threads can share (see flush()).
        # Sources and targets in two lists, not a list of pairs: no tuple per file to make.
        self._sources: list[str] = []
        self._targets: list[str] = []
        from installer.records import Hash, RecordEntry

        # Bound once: an import statement in write_file() would run once per file.
        self._record_entry = RecordEntry
        self._hash = Hash
        self._root_scheme = ""
        self._root_files: Sequence[UnpackedFile] = ()

    def add_root_files(self, root_scheme: str, root: str, files: Sequence[UnpackedFile]) -> None:
        """Stage ``files`` (see :func:`_root_files`) in ``root_scheme``: linked by flush(),
        recorded by finalize_installation() exactly as installer's write_file() would."""
        self._root_scheme = root_scheme
        self._root_files = files
        # _claim() and _defer_link() for every file, as whole-list operations run by map() and
        # zip() in C (a Python call per file cost about 2 us: 25 ms for torch; a comprehension
        # still about 0.3 us).
        paths = list(map(_FIRST, files))
        keys = list(zip(itertools.repeat(root_scheme), paths))
        claimed = set(keys)
        if len(claimed) != len(keys) or not self._seen.isdisjoint(claimed):
            for key in keys:  # the first path written twice raises, as _claim() says it
                self._claim(*key)
        self._seen |= claimed
        self.written += keys
        stage = f"{self._stage}/{root_scheme}/"
        self._sources += map(root.__add__, paths)
        self._targets += map(stage.__add__, paths)

    def _claim(self, scheme: str, rel: str) -> str:
        """The staged path of ``scheme/rel``, recorded as written; each may be written once."""
        key = (scheme, rel)
        if key in self._seen:
            raise InvalidWheelError(f"{scheme}/{rel} is written twice", filename=self.filename)
        self._seen.add(key)
        self.written.append(key)
        return f"{self._stage}/{scheme}/{rel}"

    def _defer_link(self, scheme: str, rel: str, source: str) -> None:
        """Link ``source`` to ``scheme/rel`` in flush(), with its directory."""
        target = self._claim(scheme, rel)
        self._sources.append(source)
        self._targets.append(target)

    def _target(self, scheme: str, rel: str) -> str:
        """Where a file written now goes (its directory made)."""
        target = self._claim(scheme, rel)
        _mkdirs(target.rpartition("/")[0], self._made)
        return target

    def _link(self, source: str, target: str) -> bool:
        """Link (or copy) one file; True when it was linked."""
        if self.link_mode == "symlink":
            os.symlink(source, target)
            return True
        if self.link_mode == "clone":
            _clone_or_copy(source, target)
            return False  # a clone shares no inode: as independent as a copy
        if self.link_mode == "hardlink" and not self._cannot_link:
            try:
                os.link(source, target)
                return True
            except OSError as exc:
                # Another filesystem, or one without hard links: copy this and every later
                # file. Too many links to one inode (EMLINK) only affects this file.
                if exc.errno in (errno.EXDEV, errno.EPERM, errno.ENOTSUP):
                    self._cannot_link = True
                elif exc.errno != errno.EMLINK:
                    raise
        shutil.copyfile(source, target)
        shutil.copymode(source, target)
        return False

    def _link_many(self, sources: Sequence[str], targets: Sequence[str]) -> tuple[int, int]:
        """Link (or copy) each of ``sources`` to the matching one of ``targets``, making a
        target's directory when it turns out missing."""
        linked = 0
        for source, target in zip(sources, targets, strict=True):
            try:
                done = self._link(source, target)
            except FileNotFoundError:
                # The directory is made on first need (one failed call per directory) rather
                # than beforehand for all: no directory set to build, and threads make theirs
                # in parallel. A missing source fails the same way again below.
                _mkdirs(target.rpartition("/")[0], self._made)
                done = self._link(source, target)
            linked += done
        return linked, len(targets) - linked

    def flush(self) -> None:
        """Make the directories and links that write_file() deferred.

        A big wheel's links are shared by a few threads, each taking a run of consecutive
        paths and making the directories it finds missing: link() and mkdir() release the GIL
        and, in different directories, run in parallel in the kernel (torch: 12,000 links,
        800 directories). Runs share directories at their ends: whichever thread comes second
        finds the directory made (_mkdirs accepts that). Small wheels link inline: a thread
        costs more.
        """
        sources, targets = self._sources, self._targets
        self._sources, self._targets = [], []
        workers = min(_LINK_THREADS, len(targets) // _LINKS_PER_THREAD)
        if workers < 2 or self.link_mode == "copy":
            counts = [self._link_many(sources, targets)]
        else:
            from concurrent.futures import ThreadPoolExecutor

            step = -(-len(targets) // workers)
            starts = range(0, len(targets), step)
            run_sources = [sources[i : i + step] for i in starts]
            run_targets = [targets[i : i + step] for i in starts]
            with ThreadPoolExecutor(workers, thread_name_prefix="torchup-link") as pool:
                counts = list(pool.map(self._link_many, run_sources, run_targets))
        self.linked += sum(n for n, _ in counts)
        self.copied += sum(n for _, n in counts)

    def _write_stream(self, target: str, stream: BinaryIO, executable: bool) -> tuple[str, int]:
        hasher = hashlib.sha256()
        size = 0
        # Created executable in the open() call: installer's make_file_executable sets the
        # process umask to 0 for a moment, which would leak into files other threads create.
        fd = os.open(target, _CREATE, 0o777 if executable else 0o666)
        try:
            while chunk := stream.read(_CHUNK):
                hasher.update(chunk)
                _write_all(fd, chunk)
                size += len(chunk)
        finally:
            os.close(fd)
        self.copied += 1
        return f"sha256={_b64(hasher.digest())}", size

    def _write_bytes(self, target: str, data: bytes, mode: int) -> None:
        fd = os.open(target, _CREATE, mode)  # ``mode`` less the umask, as for _write_stream
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
        self.copied += 1

    def write_file(
        self, scheme: str, path: str | os.PathLike[str], stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        if type(stream) is _CachedFile and scheme != "scripts":
            # A file of the validated tree (its name was checked while unpacking; installer
            # only drops a ".data/<scheme>/" prefix from it): linked later, in flush().
            rel = path if type(path) is str else os.fspath(path)
            self._defer_link(scheme, rel, stream.path)
            entry = stream.entry
            algo, _, value = entry.hash.partition("=")
            return self._record_entry(rel, self._hash(algo, value), entry.size)
        from installer.records import Hash, RecordEntry
        from installer.utils import fix_shebang

        rel = _safe_relpath(os.fspath(path), "path", self.filename)
        target = self._target(scheme, rel)
        if scheme == "scripts":
            with fix_shebang(stream, self.interpreter) as fixed:
                record_hash, size = self._write_stream(target, fixed, is_executable)
        else:
            record_hash, size = self._write_stream(target, stream, is_executable)
        return RecordEntry(rel, Hash.parse(record_hash), size)

    def write_script(
        self, name: str, module: str, attr: str, section: ScriptSection
    ) -> RecordEntry:
        from installer.records import Hash, RecordEntry
        from installer.scripts import Script

        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise InvalidWheelError(
                f"entry point name {name!r} is not a file name", filename=self.filename
            )
        script_name, data = Script(name, module, attr, section).generate(
            self.interpreter, self.script_kind
        )
        rel = _safe_relpath(script_name, "script", self.filename)
        self._write_bytes(self._target("scripts", rel), data, 0o777)
        return RecordEntry(rel, Hash("sha256", _b64(hashlib.sha256(data).digest())), len(data))

    def finalize_installation(
        self, scheme: str, record_file_path: str, records: Iterable[tuple[str, RecordEntry]]
    ) -> None:
        from installer.records import Hash, RecordEntry
        from installer.utils import construct_record_file

        self.flush()
        record_list = list(records)
        if self.compile is not None:
            sources = [
                (s, self.stage / s / r.path, r.path)
                for s, r in record_list
                if s in ("purelib", "platlib") and r.path.endswith(".py")
            ] + [
                (self._root_scheme, self.stage / self._root_scheme / f.path, f.path)
                for f in self._root_files
                if f.path.endswith(".py")
            ]
            for pyc_scheme, pyc_rel in self.compile(sources):
                data = (self.stage / pyc_scheme / pyc_rel).read_bytes()
                digest = Hash("sha256", _b64(hashlib.sha256(data).digest()))
                record_list.append((pyc_scheme, RecordEntry(pyc_rel, digest, len(data))))
                self.written.append((pyc_scheme, pyc_rel))

        def prefix_for(file_scheme: str) -> str | None:
            if file_scheme == scheme:
                return None
            rel = os.path.relpath(self.scheme_dict[file_scheme], self.scheme_dict[scheme])
            return rel.replace(os.sep, "/") + "/"

        if not self._root_files:
            with construct_record_file(record_list, prefix_for) as stream:  # type: ignore[arg-type]
                self.write_file(scheme, record_file_path, stream, False)
            return
        # installer's construct_record_file, for installer's rows plus the batch-linked files:
        # same text, same order (by scheme-relative path), no RecordEntry per file.
        rows: list[tuple[str, str, str, str | int]] = [
            (r.path, *r.to_row(prefix_for(s))) for s, r in record_list
        ]
        text = _record_text(rows, self._root_files)
        # Written as write_file() would, less the hash of the stream (torch: a megabyte) that
        # nothing reads: RECORD's own row has none.
        rel = _safe_relpath(os.fspath(record_file_path), "path", self.filename)
        self._write_bytes(self._target(scheme, rel), text.encode("utf-8"), 0o666)


# -- bytecode -------------------------------------------------------------------------------------

_COMPILE_SCRIPT = r"""
import importlib.util, json, py_compile, sys
out = []
for src, dfile in json.load(sys.stdin):
    cfile = importlib.util.cache_from_source(src)
    try:
        py_compile.compile(src, cfile=cfile, dfile=dfile, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH)
    except Exception:
        continue  # pip and uv skip files that do not compile (py2-only test data, templates)
    out.append([src, cfile])
print(json.dumps(out))
"""


def _bytecode_compiler(
    interpreter: str, scheme_dict: Mapping[str, str], stage: Path
) -> Callable[[list[tuple[str, Path, str]]], list[tuple[str, str]]]:
    def compile_sources(sources: list[tuple[str, Path, str]]) -> list[tuple[str, str]]:
        if not sources:
            return []
        # The target interpreter compiles: .pyc files are specific to its version. Checked-hash
        # pycs stay valid when hard links share (and a later install touches) the source mtime.
        payload = [[str(staged), str(Path(scheme_dict[s]) / rel)] for s, staged, rel in sources]
        proc = subprocess.run(
            [interpreter, "-I", "-c", _COMPILE_SCRIPT],
            input=json.dumps(payload),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise InstallError(f"compiling bytecode failed:\n{proc.stderr[-2000:]}")
        out: list[tuple[str, str]] = []
        by_staged = {str(staged): (s, rel) for s, staged, rel in sources}
        for src, cfile in json.loads(proc.stdout):
            s, rel = by_staged[src]
            pyc_rel = posixpath.join(posixpath.dirname(rel), "__pycache__", os.path.basename(cfile))
            out.append((s, pyc_rel))
        return out

    return compile_sources


# -- transactions ---------------------------------------------------------------------------------


# Linux's FICLONE ioctl (_IOW(0x94, 9, int)): a copy-on-write clone of a whole file on
# filesystems that share extents (btrfs, XFS with reflink, bcachefs, overlayfs over those).
_FICLONE = 0x40049409


def _clone_or_copy(source: str, target: str) -> None:
    """``--link-mode clone``: a copy-on-write clone of ``source`` at ``target`` where the
    filesystem can make one (instant, no extra space, and unlike a hard link, editing one
    leaves the other alone), else a plain copy, as uv falls back."""
    if fcntl is not None:
        # Elsewhere than Linux the request number means nothing: the ioctl fails (ENOTTY)
        # and the file is copied.
        src_fd = os.open(source, os.O_RDONLY)
        try:
            dst_fd = os.open(target, _CREATE, stat.S_IMODE(os.fstat(src_fd).st_mode))
            try:
                fcntl.ioctl(dst_fd, _FICLONE, src_fd)
                return
            except OSError:
                pass  # EOPNOTSUPP, EXDEV, EINVAL: no clones here; copy below
            finally:
                os.close(dst_fd)
            os.unlink(target)
        finally:
            os.close(src_fd)
    shutil.copyfile(source, target)
    shutil.copymode(source, target)


def _move(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(str(src), str(dst))  # across filesystems: copy, then delete


def _remove_any(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


class _Transaction:
    """Renames that can be undone. ``remove`` parks paths in a trash directory (deleted on
    :meth:`commit`), ``place`` renames staged paths into place; :meth:`rollback` reverses all."""

    def __init__(self, trash_parent: Path) -> None:
        self._trash_parent = trash_parent
        self._trash: Path | None = None
        self._undo: list[Callable[[], None]] = []
        self._count = 0

    def _trash_dir(self) -> Path:
        if self._trash is None:
            self._trash_parent.mkdir(parents=True, exist_ok=True)
            self._trash = Path(tempfile.mkdtemp(prefix=_TRASH_PREFIX, dir=self._trash_parent))
        return self._trash

    def journal(self, dist_info: Path, files: Sequence[str]) -> None:
        """Record, before anything of it moves, which files an uninstall is about to remove."""
        entry = json.dumps({"dist_info": str(dist_info), "files": list(files)})
        with open(self._trash_dir() / _JOURNAL, "a", encoding="utf-8") as fh:
            fh.write(entry + "\n")

    def remove(self, path: Path) -> None:
        self._count += 1
        parked = self._trash_dir() / str(self._count)
        _move(path, parked)
        self._undo.append(lambda: _move(parked, path))

    def place(self, src: Path, dst: Path) -> None:
        _move(src, dst)
        self._undo.append(lambda: _remove_any(dst))

    def mkdirs(self, path: Path) -> None:
        missing: list[Path] = []
        probe = path
        while not probe.exists():
            missing.append(probe)
            probe = probe.parent
        for directory in reversed(missing):
            directory.mkdir()
            self._undo.append(functools.partial(_rmdir_quiet, directory))

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            try:
                undo()
            except OSError:
                pass  # best effort: keep undoing the rest
        self._undo.clear()
        self._drop_trash()

    def commit(self) -> None:
        self._undo.clear()
        self._drop_trash()

    def _drop_trash(self) -> None:
        if self._trash is not None:
            shutil.rmtree(self._trash, ignore_errors=True)
            self._trash = None


def _rmdir_quiet(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


class _Roots:
    """Resolved scheme directories: a path is inside the environment when its real path is
    under one of them (a symlinked directory in site-packages must not lead us outside)."""

    def __init__(self, scheme: Scheme) -> None:
        self.real = tuple(os.path.realpath(p) for p in scheme.roots)
        self.lexical = tuple(os.path.abspath(p) for p in scheme.roots)
        self._memo: dict[str, bool] = {}

    @staticmethod
    def _under(path: str, roots: Iterable[str]) -> bool:
        return any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots)

    def contains_dir(self, directory: str | Path) -> bool:
        key = str(directory)
        known = self._memo.get(key)
        if known is None:
            known = self._under(os.path.realpath(key), self.real)
            self._memo[key] = known
        return known

    def contains(self, path: str | Path) -> bool:
        text = os.path.abspath(path)
        return self._under(text, self.lexical) and self.contains_dir(os.path.dirname(text))


def _merge(
    src_dir: Path, dst_dir: Path, tx: _Transaction, roots: _Roots, *, skip: str | None = None
) -> list[Path]:
    """Move the contents of ``src_dir`` (but ``skip``) into ``dst_dir``; whole new subtrees
    in one rename."""
    placed: list[Path] = []
    if not roots.contains_dir(dst_dir):
        raise InstallError(
            f"{dst_dir} leads outside the environment (a symbolic link?); refusing to write there"
        )
    with os.scandir(src_dir) as entries:
        items = sorted((e for e in entries if e.name != skip), key=lambda e: e.name)
    for entry in items:
        placed += _merge_entry(
            Path(entry.path), dst_dir / entry.name, entry.is_dir(follow_symlinks=False), tx, roots
        )
    return placed


def _merge_entry(src: Path, dst: Path, is_dir: bool, tx: _Transaction, roots: _Roots) -> list[Path]:
    dst_exists = os.path.lexists(dst)
    if is_dir:
        if dst_exists and dst.is_dir():
            return _merge(src, dst, tx, roots)
        if dst_exists:
            tx.remove(dst)  # a file where the wheel has a directory
        tx.place(src, dst)
        return [dst]
    if dst_exists:
        if dst.is_dir() and not dst.is_symlink():
            raise InstallError(f"cannot install {dst}: a directory is in the way")
        tx.remove(dst)  # pip and uv overwrite files owned by other distributions
    tx.place(src, dst)
    return [dst]


# -- install / uninstall --------------------------------------------------------------------------


def find_dist_info(site_dirs: Iterable[Path], name: str) -> list[Path]:
    """Every ``*.dist-info`` directory for project ``name`` in ``site_dirs``."""
    return _dist_infos_by_name(site_dirs).get(canonicalize_name(name), [])


def _record_paths(dist_info: Path) -> list[str]:
    """Absolute, normalised paths of the files RECORD lists (strings: there are thousands).
    For a legacy ``.egg-info``: the files its ``installed-files.txt`` lists (pip wrote one for
    each ``setup.py install``; paths relative to the ``.egg-info`` directory)."""
    if dist_info.name.endswith(".egg-link"):
        raise InstallError(
            f"cannot uninstall {dist_info.name}: it is a legacy editable install "
            "(`setup.py develop`), which lists no files",
            hint=f"delete {dist_info} and its line in easy-install.pth beside it, then run "
            "this again",
        )
    if dist_info.name.endswith(".egg-info"):
        try:
            listed = (dist_info / "installed-files.txt").read_text(encoding="utf-8").splitlines()
        except OSError:
            raise InstallError(
                f"cannot uninstall {dist_info.name}: it was installed by distutils or "
                "`setup.py install`, which left no list of its files",
                hint="remove it with the tool that installed it (apt, conda), or delete its "
                "files by hand",
            ) from None
        return [os.path.normpath(os.path.join(dist_info, line)) for line in listed if line.strip()]
    record = dist_info / "RECORD"
    try:
        text = record.read_text(encoding="utf-8")
    except OSError:
        raise InstallError(
            f"cannot uninstall {dist_info.name}: it has no RECORD file",
            hint="it was not installed by a standards-compliant installer; remove it by hand",
        ) from None
    site = str(dist_info.parent)
    return [
        os.path.normpath(os.path.join(site, row[0]))
        for row in csv.reader(io.StringIO(text))
        if row and row[0]
    ]


def _bytecode_of(py_files: Iterable[str]) -> list[str]:
    """``__pycache__/<stem>.*.pyc`` next to each removed module (pip removes them too)."""
    by_dir: dict[str, set[str]] = {}
    for path in py_files:
        head, tail = os.path.split(path)
        by_dir.setdefault(os.path.join(head, "__pycache__"), set()).add(tail[: -len(".py")])
    out: list[str] = []
    for cache_dir, stems in by_dir.items():
        try:
            names = os.listdir(cache_dir)
        except OSError:
            continue
        for name in names:
            if name.endswith(".pyc") and name.split(".", 1)[0] in stems:
                out.append(os.path.join(cache_dir, name))
    return out


def _whole_directories(files: Iterable[str], keep: set[str]) -> tuple[list[str], set[str]]:
    """Directories made only of ``files`` (moved in one rename, as pip does), and the files
    left over. ``keep`` holds directories never moved whole (scheme roots, their parents)."""
    remaining = set(files)
    moved: list[str] = []
    for directory in sorted({os.path.dirname(p) for p in remaining}, key=len):
        if directory in keep or os.path.islink(directory):
            continue
        if any(directory.startswith(m + os.sep) for m in moved):
            continue  # already inside a directory that goes whole
        contents: set[str] = set()
        for dirpath, dirnames, filenames in os.walk(directory):
            contents.update(os.path.join(dirpath, n) for n in filenames)
            for name in dirnames:  # a symlink to a directory is an entry, not a subtree
                if os.path.islink(os.path.join(dirpath, name)):
                    contents.add(os.path.join(dirpath, name))
        if contents <= remaining:
            moved.append(directory)
            remaining -= contents
    return moved, remaining


def _keep_dirs(roots: _Roots) -> set[str]:
    keep: set[str] = set()
    for root in roots.lexical:
        path = Path(root)
        keep.add(str(path))
        keep.update(str(p) for p in path.parents)
    return keep


def _park_distribution(dist_info: Path, tx: _Transaction, roots: _Roots) -> list[Path]:
    """Move every file of one installed distribution to the trash; returns what was removed."""
    recorded = _record_paths(dist_info)
    inside_info = str(dist_info) + os.sep
    files: list[str] = []
    for path in dict.fromkeys([*recorded, *_bytecode_of(p for p in recorded if p.endswith(".py"))]):
        if path.startswith(inside_info):
            continue  # goes with the dist-info directory below
        if not os.path.lexists(path) or not roots.contains(path):
            continue  # already gone, or outside the environment: never touched
        if os.path.isdir(path) and not os.path.islink(path):
            continue  # RECORD lists files; directories go once empty
        files.append(path)
    directories, loose = _whole_directories(files, _keep_dirs(roots))
    # Journal first, then the dist-info, then the files: a process killed part-way leaves a
    # distribution that is no longer installed (no dist-info) plus some of its files, which
    # recover_interrupted() removes on the next run, guided by this journal.
    tx.journal(dist_info, files)
    tx.remove(dist_info)
    for directory in directories:
        tx.remove(Path(directory))
    for path in sorted(loose):
        tx.remove(Path(path))
    return [dist_info, *map(Path, files)]


def _prune_empty_dirs(paths: Iterable[Path], roots: _Roots, stop: Iterable[Path]) -> None:
    keep = {os.path.abspath(p) for p in stop}
    parents = {p.parent for p in paths}
    for directory in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        probe = directory
        while str(probe) not in keep and roots.contains(probe) and probe != probe.parent:
            try:
                probe.rmdir()
            except FileNotFoundError:
                pass  # moved away whole: look at its parent
            except OSError:
                break  # not empty: its parents are not empty either
            probe = probe.parent


def recover_interrupted(scheme: Scheme) -> list[Path]:
    """Finish what a killed torchup process left half-done in this environment.

    ``install_wheel`` and :func:`uninstall` clean up after themselves on any error they see, but
    a SIGKILL (or a power cut) runs no cleanup. What can be left: staging directories
    (``.torchup-stage-*``), trash directories (``.torchup-trash-*``) holding parked files, and,
    when the kill came while an old distribution was being parked, some of its files still in
    place although its ``.dist-info`` is gone (dist-info is parked first, so the distribution is
    already not installed). The trash's journal names those files: they are removed now unless a
    distribution that *is* installed lists them in its RECORD (the new version's files, or
    another distribution's). A journal whose dist-info is still in place means the parking never
    started: nothing is removed.

    Only call this while holding the environment's lock (no live install may own these
    directories). Returns the paths removed.
    """
    roots = _Roots(scheme)
    removed: list[Path] = []
    owned: set[str] | None = None
    for directory in dict.fromkeys([Path(scheme.purelib), Path(scheme.platlib)]):
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name.startswith(_TRASH_PREFIX):
                for dist_info, files in _read_journal(Path(entry.path) / _JOURNAL):
                    if os.path.lexists(dist_info):
                        continue  # parking never started: the distribution is intact
                    if owned is None:
                        owned = _owned_paths(scheme.site_dirs)
                    orphans = [
                        Path(f) for f in files
                        if f not in owned and roots.contains(f) and os.path.lexists(f)
                        and not (os.path.isdir(f) and not os.path.islink(f))
                    ]
                    for orphan in orphans:
                        try:
                            orphan.unlink()
                            removed.append(orphan)
                        except OSError:
                            pass
                    _prune_empty_dirs(orphans, roots, scheme.roots)
            elif not entry.name.startswith(_STAGE_PREFIX):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(Path(entry.path))
    return removed


def _read_journal(path: Path) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            data = json.loads(line)
            out.append((str(data["dist_info"]), [str(f) for f in data["files"]]))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by the kill: that parking had not started
    return out


def _owned_paths(site_dirs: Iterable[Path]) -> set[str]:
    """Every file some installed distribution's RECORD lists (absolute, normalised)."""
    owned: set[str] = set()
    for site in dict.fromkeys(site_dirs):
        try:
            infos = [e for e in os.scandir(site) if e.name.endswith(".dist-info") and e.is_dir()]
        except OSError:
            continue
        for info in infos:
            try:
                owned.update(_record_paths(Path(info.path)))
            except InstallError:
                continue
    return owned


def uninstall(dist_name: str, scheme: Scheme) -> list[Path]:
    """Remove distribution ``dist_name`` from the environment described by ``scheme``.

    Uses the RECORD file (plus the ``__pycache__`` of listed modules); paths outside the
    environment are never touched. Everything is first renamed into a trash directory, so a
    failure part-way puts it all back. Returns the removed paths (empty if not installed).
    """
    dist_infos = find_dist_info(scheme.site_dirs, dist_name)
    if not dist_infos:
        return []
    roots = _Roots(scheme)
    tx = _Transaction(scheme.purelib)
    removed: list[Path] = []
    try:
        for dist_info in dist_infos:
            removed += _park_distribution(dist_info, tx, roots)
    except BaseException as exc:
        tx.rollback()
        if isinstance(exc, OSError):
            raise InstallError(f"cannot uninstall {dist_name}: {exc}") from exc
        raise
    tx.commit()
    _prune_empty_dirs(removed, roots, scheme.roots)
    return sorted(removed)


def _direct_url_bytes(direct_url: Mapping[str, Any]) -> bytes:
    return json.dumps(dict(direct_url), sort_keys=True).encode("utf-8")


# What a local folder's metadata was built from, in the install of that build (uv keeps the
# like in uv_cache.json): torchup's own file, listed in RECORD, removed with the distribution.
SOURCE_FINGERPRINT_FILE = "torchup_source.json"


def _fingerprint_bytes(fingerprint: str) -> bytes:
    return json.dumps({"version": 1, "fingerprint": fingerprint}).encode("utf-8")


def installed_source_fingerprint(dist_info: Path) -> str | None:
    """The source fingerprint an install of a local folder was made with; None when it has
    none (installed by another tool or an older torchup) or the file is unreadable."""
    try:
        data = json.loads((dist_info / SOURCE_FINGERPRINT_FILE).read_bytes())
    except (OSError, ValueError):
        return None
    value = data.get("fingerprint") if isinstance(data, dict) and data.get("version") == 1 else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True)
class PreparedWheel:
    """A wheel validated, unpacked and staged by :func:`prepare_wheel`: every file is in a
    hidden work directory inside the environment, nothing is visible there yet.
    :func:`commit_wheels` puts it in place; :meth:`discard` throws it away."""

    filename: str
    scheme: Scheme = field(repr=False)
    unpacked: UnpackedWheel = field(repr=False)
    work: Path
    scheme_dict: Mapping[str, str] = field(hash=False, repr=False)
    info_scheme: str
    written: tuple[tuple[str, str], ...] = field(repr=False)
    linked: int
    copied: int

    @property
    def name(self) -> str:
        return self.unpacked.name

    @property
    def version(self) -> str:
        return self.unpacked.version

    @property
    def metadata_path(self) -> Path:
        """The wheel's own METADATA file, already validated (in the unpacked tree)."""
        return self.unpacked.root / self.unpacked.dist_info / "METADATA"

    def discard(self) -> None:
        """Remove the work directory (idempotent; :func:`commit_wheels` calls it too)."""
        shutil.rmtree(self.work, ignore_errors=True)


def import_installer() -> None:
    """Import the parts of ``installer`` that :func:`prepare_wheel` runs (about 70 ms on one
    core, most of it email, csv and installer's own module bodies), so that a caller can load
    them in a worker thread before the first wheel is ready."""
    import installer._core
    import installer.destinations
    import installer.records
    import installer.scripts
    import installer.sources
    import installer.utils  # noqa: F401


def prepare_wheel(
    wheel_path: Path,
    scheme: Scheme,
    *,
    interpreter: str | Path,
    installer_name: str = "torchup",
    requested: bool = False,
    direct_url: Mapping[str, Any] | None = None,
    link_mode: LinkMode = "hardlink",
    unpacked_cache: Path | None = None,
    wheel_sha256: str | None = None,
    compile_bytecode: bool = False,
    script_kind: LauncherKind = "posix",
    limits: WheelLimits = DEFAULT_LIMITS,
    verify_cache: bool = False,
    unpacked: UnpackedWheel | None = None,
    source_fingerprint: str | None = None,
) -> PreparedWheel:
    """The first half of :func:`install_wheel` (same arguments): validate and unpack the wheel
    (into ``unpacked_cache`` when given) and stage it in a work directory inside the
    environment. The environment itself is not changed, so any number of wheels can be
    prepared before one is committed. ``unpacked``: the wheel's tree from
    :func:`unpack_wheel_cached`, when the caller unpacked it already (in a thread pool: file
    creation and inflating release the GIL); ``unpacked_cache`` and ``wheel_sha256`` are then
    unused. ``source_fingerprint`` (a wheel built from a local folder) is written to the
    ``.dist-info`` as ``SOURCE_FINGERPRINT_FILE``, see :func:`installed_source_fingerprint`.
    Raises like :func:`install_wheel`, leaving no work directory behind.

    A work directory belongs to the process holding the environment's lock: prepare under it
    (``recover_interrupted`` removes staging directories it finds).
    """
    import installer
    from installer.exceptions import InstallerError

    filename = wheel_path.name
    scheme.purelib.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=_STAGE_PREFIX, dir=scheme.purelib))
    try:
        if unpacked is None and unpacked_cache is not None:
            unpacked = unpack_wheel_cached(
                wheel_path, unpacked_cache, sha256=wheel_sha256, limits=limits,
                verify=verify_cache,
            )
        elif unpacked is None:
            # No cache: unpack next to the environment, so "linking" it into place is free.
            unpacked = unpack_wheel(wheel_path, work / "unpacked", limits=limits)
            if link_mode == "symlink":
                link_mode = "hardlink"  # links into a directory we delete would dangle
        scheme_dict = scheme.for_dist(unpacked.name)
        stage = work  # work/<scheme>/...: the scheme names cannot clash with "unpacked"
        destination = _StagingDestination(
            scheme_dict=scheme_dict,
            stage=stage,
            interpreter=str(interpreter),
            script_kind=script_kind,
            link_mode=link_mode,
            filename=filename,
        )
        if compile_bytecode:
            destination.compile = _bytecode_compiler(str(interpreter), scheme_dict, stage)
        metadata = {"INSTALLER": f"{installer_name}\n".encode()}
        if requested:
            metadata["REQUESTED"] = b""
        if direct_url is not None:
            metadata["direct_url.json"] = _direct_url_bytes(direct_url)
        if source_fingerprint is not None:
            metadata[SOURCE_FINGERPRINT_FILE] = _fingerprint_bytes(source_fingerprint)
        if _LINK_ROOT_FILES_IN_BULK:
            bulk, rest = _root_files(unpacked)
        else:
            bulk, rest = [], list(unpacked.files)
        if bulk:
            destination.add_root_files(_root_scheme(unpacked), str(unpacked.root) + "/", bulk)
        try:
            installer.install(_make_source(unpacked, rest), destination, metadata)  # type: ignore[arg-type]
        except (InstallerError, ValueError, AssertionError, KeyError) as exc:
            # installer raises these for bad WHEEL files, .data dirs and entry points.
            raise InvalidWheelError(f"cannot install: {exc}", filename=filename) from exc
        record_rel = f"{unpacked.dist_info}/RECORD"
        # The bulk files were claimed first and none is in the .dist-info: skipped unread.
        written = itertools.islice(destination.written, len(bulk), None)
        info_scheme = next(s for s, rel in written if rel == record_rel)
    except OSError as exc:
        shutil.rmtree(work, ignore_errors=True)
        raise InstallError(f"cannot install {filename}: {exc}") from exc
    except BaseException:
        # TorchupError, KeyboardInterrupt, bugs: nothing of this wheel stays behind.
        shutil.rmtree(work, ignore_errors=True)
        raise
    return PreparedWheel(
        filename=filename,
        scheme=scheme,
        unpacked=unpacked,
        work=work,
        scheme_dict=scheme_dict,
        info_scheme=info_scheme,
        written=tuple(destination.written),
        linked=destination.linked,
        copied=destination.copied,
    )


def _place(
    prepared: PreparedWheel, replaced: Sequence[Path], tx: _Transaction, roots: _Roots
) -> list[Path]:
    """Park the installed versions ``replaced`` of ``prepared`` and move its staged files into
    place, all inside ``tx``. Returns the paths removed."""
    work, dist_info = prepared.work, prepared.unpacked.dist_info
    removed: list[Path] = []
    for old in replaced:
        removed += _park_distribution(old, tx, roots)
    # The .dist-info directory goes in last, after every other file of every scheme
    # (scripts, data, a module sorting after it): a process killed part-way (SIGKILL, power
    # loss: no rollback runs) then leaves either no .dist-info, so the distribution is simply
    # not installed and the next run installs it, or one whose RECORD files all exist.
    for scheme_name in sorted(set(map(_FIRST, prepared.written))):
        final = Path(prepared.scheme_dict[scheme_name])
        tx.mkdirs(final)
        skip = dist_info if scheme_name == prepared.info_scheme else None
        _merge(work / scheme_name, final, tx, roots, skip=skip)
    info_dir = Path(prepared.scheme_dict[prepared.info_scheme])
    _merge_entry(work / prepared.info_scheme / dist_info, info_dir / dist_info, True, tx, roots)
    return removed


def commit_wheels(prepared: Sequence[PreparedWheel]) -> list[InstalledWheel]:
    """Put prepared wheels (all for one environment) in place, in order, as one transaction:
    each replaces the installed versions of its distribution. A failure (or Ctrl-C) part-way
    undoes every wheel's changes, so the environment is left as it was. Work directories are
    removed either way. Call under the environment's lock."""
    if not prepared:
        return []
    scheme = prepared[0].scheme
    if any(p.scheme != scheme for p in prepared):
        raise ValueError("commit_wheels() takes wheels prepared for one environment")
    tx = _Transaction(scheme.purelib)
    roots = _Roots(scheme)
    removed_old: list[Path] = []
    results: list[InstalledWheel] = []
    current = prepared[0]
    try:
        # One scan of the site directories for every wheel's older installs (not one each).
        installed = _dist_infos_by_name(scheme.site_dirs)
        for current in prepared:
            replaced = installed.get(canonicalize_name(current.name), [])
            removed_old += _place(current, replaced, tx, roots)
            results.append(
                InstalledWheel(
                    name=current.name,
                    version=current.version,
                    dist_info=Path(current.scheme_dict[current.info_scheme])
                    / current.unpacked.dist_info,
                    linked=current.linked,
                    copied=current.copied,
                    replaced=tuple(replaced),
                    scheme_dirs=current.scheme_dict,
                    written=current.written,
                )
            )
    except OSError as exc:
        tx.rollback()
        _discard_all(prepared)
        raise InstallError(f"cannot install {current.filename}: {exc}") from exc
    except BaseException:
        # TorchupError, KeyboardInterrupt, bugs: the environment goes back as it was.
        tx.rollback()
        _discard_all(prepared)
        raise
    tx.commit()
    for p in prepared:
        _remove_emptied(p)
    _prune_empty_dirs(removed_old, roots, scheme.roots)
    return results


def _remove_emptied(prepared: PreparedWheel) -> None:
    """Remove a committed wheel's work directory: its scheme directories are empty now, so a
    few rmdir() calls do (rmtree opens and lists every directory first)."""
    try:
        for scheme_name in set(map(_FIRST, prepared.written)):
            os.rmdir(prepared.work / scheme_name)
        os.rmdir(prepared.work)
    except OSError:
        prepared.discard()  # something else is in there (the no-cache "unpacked" tree)


def _dist_infos_by_name(site_dirs: Iterable[Path]) -> dict[str, list[Path]]:
    """canonical name -> its ``*.dist-info`` directories, and legacy ``*.egg-info`` entries
    (``Name-1.0-py3.11.egg-info``, ``Name.egg-info``), in ``site_dirs`` (sorted): what
    installing or removing that project replaces."""
    found: dict[str, list[Path]] = {}
    for site in dict.fromkeys(site_dirs):
        try:
            entries = list(os.scandir(site))
        except OSError:
            continue
        for entry in entries:
            if entry.name.endswith(".dist-info") and entry.is_dir():
                dist = entry.name[: -len(".dist-info")].rpartition("-")[0]
                found.setdefault(canonicalize_name(dist), []).append(Path(entry.path))
            elif entry.name.endswith((".egg-info", ".egg-link")):
                dist = entry.name.rpartition(".")[0].partition("-")[0]
                found.setdefault(canonicalize_name(dist), []).append(Path(entry.path))
    return {name: sorted(paths) for name, paths in found.items()}


def _discard_all(prepared: Iterable[PreparedWheel]) -> None:
    for p in prepared:
        p.discard()


def install_wheel(
    wheel_path: Path,
    scheme: Scheme,
    *,
    interpreter: str | Path,
    installer_name: str = "torchup",
    requested: bool = False,
    direct_url: Mapping[str, Any] | None = None,
    link_mode: LinkMode = "hardlink",
    unpacked_cache: Path | None = None,
    wheel_sha256: str | None = None,
    compile_bytecode: bool = False,
    script_kind: LauncherKind = "posix",
    limits: WheelLimits = DEFAULT_LIMITS,
    verify_cache: bool = False,
) -> InstalledWheel:
    """Install ``wheel_path`` into ``scheme``, replacing an installed version of it if any:
    :func:`prepare_wheel`, then :func:`commit_wheels`.

    ``interpreter`` goes in console-script shebangs. With ``unpacked_cache`` the wheel is
    unpacked there once (keyed by ``wheel_sha256`` or the file's hash) and its files are
    hard-linked (``link_mode``; copies when linking is impossible). ``requested`` writes
    REQUESTED; ``direct_url`` writes PEP 610 ``direct_url.json``. Raises
    :class:`InvalidWheelError` for a bad or hostile wheel and :class:`InstallError` when the
    environment cannot be written; either way the environment is left as it was.
    ``verify_cache`` re-checks the cached tree first (see :func:`unpack_wheel_cached`).
    """
    prepared = prepare_wheel(
        wheel_path,
        scheme,
        interpreter=interpreter,
        installer_name=installer_name,
        requested=requested,
        direct_url=direct_url,
        link_mode=link_mode,
        unpacked_cache=unpacked_cache,
        wheel_sha256=wheel_sha256,
        compile_bytecode=compile_bytecode,
        script_kind=script_kind,
        limits=limits,
        verify_cache=verify_cache,
    )
    return commit_wheels([prepared])[0]
