"""The on-disk cache: versioned buckets, atomic writes, file locks.

Layout: ``<root>/<bucket>/<kk>/<key-digest>`` where ``bucket`` carries a version
(``simple-v1``, ``metadata-v1``, ...). Bumping a bucket's version is how a format change
invalidates old entries; :meth:`Cache.prune` removes buckets of other versions.

Safety across processes: every write goes to a temporary file in the same directory and is
moved into place with ``os.replace`` (atomic on POSIX and Windows), under a ``filelock`` lock
for the entry, so a reader sees either the old entry or the new one, never a torn file.

``Cache(None)`` is a throw-away cache in a temporary directory (``--no-cache``): everything works
within one run and the directory is removed by :meth:`Cache.close` or at interpreter exit.
The caller (the CLI) picks the persistent root (``platformdirs.user_cache_dir("torchup")``);
nothing here reads environment variables.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal, get_args

__all__ = [
    "BUCKETS",
    "Bucket",
    "Cache",
    "PageEntry",
    "PruneStats",
]

Bucket = Literal[
    "simple-v1",
    "simple-parsed-v1",
    "metadata-v1",
    "wheels-v1",
    "archives-v1",
    "builds-v1",
    "interpreters-v1",
    "git-v1",
]
BUCKETS: tuple[Bucket, ...] = get_args(Bucket)

_TMP_PREFIX = ".tmp-"
_LOCK_SUFFIX = ".lock"
# A temp file younger than this may belong to a writer that is still running.
_TMP_GRACE_SECONDS = 3600.0
_PAGE_MAGIC = b"torchup-page-v1\n"


@dataclass(frozen=True)
class PageEntry:
    """A cached index page: the decoded body plus what revalidation needs.

    ``url`` is the URL the body was served from (no credentials), which relative links in the
    body resolve against. ``fetched_at`` is a Unix time, refreshed on every 304.
    """

    url: str
    body: bytes
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    cache_control: str | None = None
    fetched_at: float = 0.0

    def to_bytes(self) -> bytes:
        header = {k: v for k, v in asdict(self).items() if k != "body"}
        return _PAGE_MAGIC + json.dumps(header).encode() + b"\n" + self.body

    @classmethod
    def from_bytes(cls, data: bytes) -> PageEntry | None:
        """Decode :meth:`to_bytes` output; None for anything else (treated as a miss)."""
        if not data.startswith(_PAGE_MAGIC):
            return None
        header_end = data.find(b"\n", len(_PAGE_MAGIC))
        if header_end < 0:
            return None
        try:
            header = json.loads(data[len(_PAGE_MAGIC) : header_end])
            return cls(
                url=str(header["url"]),
                body=data[header_end + 1 :],
                content_type=header.get("content_type"),
                etag=header.get("etag"),
                last_modified=header.get("last_modified"),
                cache_control=header.get("cache_control"),
                fetched_at=float(header.get("fetched_at", 0.0)),
            )
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class PruneStats:
    """What :meth:`Cache.prune` / :meth:`Cache.clean` removed."""

    files: int = 0
    bytes: int = 0


def _key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Cache:
    """Versioned cache buckets under one root directory. Safe for threads and processes."""

    def __init__(self, root: Path | None) -> None:
        self._temporary = root is None
        if root is None:
            root = Path(tempfile.mkdtemp(prefix="torchup-cache-"))
            # The throw-away cache must not outlive the process, even without close().
            self._finalizer: Callable[[], object] | None = weakref.finalize(
                self, shutil.rmtree, str(root), ignore_errors=True
            )
        else:
            self._finalizer = None
        self._root = Path(root)

    # --- locations ------------------------------------------------------------------------

    @property
    def dir(self) -> Path:
        """The cache root (a temporary directory for ``Cache(None)``)."""
        return self._root

    @property
    def persistent(self) -> bool:
        """False for ``Cache(None)``: nothing survives this process."""
        return not self._temporary

    def bucket(self, bucket: Bucket) -> Path:
        """The directory of ``bucket`` (created on demand)."""
        path = self._bucket_dir(bucket)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _bucket_dir(self, bucket: Bucket) -> Path:
        if bucket not in BUCKETS:
            raise ValueError(f"unknown cache bucket {bucket!r}")
        return self._root / bucket

    def path(self, bucket: Bucket, key: str) -> Path:
        """Where the entry for ``key`` (any string: URL, ``sha256:<hex>``) lives. No IO: the
        file and its directories may not exist. Every writer (:meth:`lock`,
        :meth:`atomic_path`, :meth:`entry_dir`) makes the directories it needs; a reader finds
        nothing, a miss. (This used to create the bucket, a mkdir() that failed with EEXIST
        plus a stat() on every cache read: ~200 of each in a warm install.)"""
        digest = _key_digest(key)
        return self._bucket_dir(bucket) / digest[:2] / digest

    def entry_dir(self, bucket: Bucket, key: str) -> Path:
        """A directory owned by ``key`` for multi-file entries (a wheel under its own filename,
        an unpacked build); created on demand. Fill it under :meth:`lock`."""
        path = self.path(bucket, key)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # --- entries --------------------------------------------------------------------------

    def read(self, bucket: Bucket, key: str) -> bytes | None:
        """The entry's bytes, or None when absent. Lock-free: writes are atomic renames."""
        try:
            return self.path(bucket, key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write(self, bucket: Bucket, key: str, data: bytes) -> Path:
        """Store ``data`` as the entry for ``key`` atomically; returns the entry's path."""
        target = self.path(bucket, key)
        with self.lock(bucket, key), self.atomic_path(target) as tmp:
            tmp.write_bytes(data)
        return target

    def remove(self, bucket: Bucket, key: str) -> bool:
        """Delete the entry; True if it existed."""
        target = self.path(bucket, key)
        with self.lock(bucket, key):
            try:
                target.unlink()
                return True
            except FileNotFoundError:
                return False

    @contextlib.contextmanager
    def lock(self, bucket: Bucket, key: str, timeout: float = -1) -> Iterator[None]:
        """Hold the inter-process lock of one entry (``timeout`` seconds, -1 = wait forever).

        Use it around check-then-create sequences (download a wheel once, not twice).
        """
        from filelock import FileLock  # ~20 ms import; only writers pay it

        target = self.path(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target) + _LOCK_SUFFIX, timeout=timeout):
            yield

    @contextlib.contextmanager
    def atomic_path(self, target: Path) -> Iterator[Path]:
        """Yield a temporary path next to ``target``; on success it replaces ``target``
        atomically, on error it is removed. The caller writes the file at the yielded path."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        try:
            yield tmp
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    # --- index pages ----------------------------------------------------------------------

    def read_page(self, url: str) -> PageEntry | None:
        """The cached page for ``url`` (credential-free), or None. Corrupt entries are misses."""
        data = self.read("simple-v1", url)
        return PageEntry.from_bytes(data) if data is not None else None

    def write_page(self, url: str, entry: PageEntry, *, previous: PageEntry | None = None) -> None:
        """Store ``entry`` as the page cached for ``url``.

        ``previous`` is the entry the caller read before revalidating, passed when a new
        ``fetched_at`` alone is not worth storing (the page has no ``max-age``): if ``entry``
        differs from it in nothing else, the file (up to megabytes for a popular project,
        re-downloaded on every run from an index that sends no validators) is not rewritten,
        only its modification time renewed, which is what :meth:`prune` reads as use.
        """
        if previous is not None and entry == replace(previous, fetched_at=entry.fetched_at):
            try:
                os.utime(self.path("simple-v1", url))
                return
            except FileNotFoundError:
                pass  # removed since it was read (cache clean): write it again
        self.write("simple-v1", url, entry.to_bytes())

    # --- maintenance ----------------------------------------------------------------------

    def clean(self, bucket: Bucket | None = None) -> PruneStats:
        """Remove every entry (of one bucket, or of all, including other versions)."""
        target = self._root / bucket if bucket else self._root
        stats = _tree_stats(target)
        if bucket:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for child in self._root.iterdir() if self._root.exists() else ():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        return stats

    def prune(self, *, older_than: float | None = None, now: float | None = None) -> PruneStats:
        """Remove what no current torchup uses: buckets of other versions, temporary files and
        scratch directories (``.tmp-*``) left by killed writers (older than an hour), and, with ``older_than`` (seconds), entries not
        modified or read within that time (by access time where the filesystem records it)."""
        now = time.time() if now is None else now
        files = size = 0
        if not self._root.exists():
            return PruneStats()
        for child in self._root.iterdir():
            if child.name not in BUCKETS and child.is_dir():
                stats = _tree_stats(child)
                files += stats.files
                size += stats.bytes
                shutil.rmtree(child, ignore_errors=True)
        for bucket in BUCKETS:
            root = self._root / bucket
            if not root.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(root):
                for name in list(dirnames):
                    # Scratch directories (tempfile.TemporaryDirectory) of killed processes.
                    path = Path(dirpath) / name
                    if name.startswith(_TMP_PREFIX) and _age(path, now) > _TMP_GRACE_SECONDS:
                        stats = _tree_stats(path)
                        files += stats.files
                        size += stats.bytes
                        shutil.rmtree(path, ignore_errors=True)
                        dirnames.remove(name)
                for name in filenames:
                    path = Path(dirpath) / name
                    try:
                        st = path.stat()
                    except FileNotFoundError:
                        continue
                    last_use = max(st.st_mtime, st.st_atime)
                    stale_tmp = name.startswith(_TMP_PREFIX) and now - last_use > _TMP_GRACE_SECONDS
                    unused = (
                        older_than is not None
                        # A git database or checkout is one whole: a file of it is never
                        # stale alone (git objects are read without changing their times).
                        and bucket != "git-v1"
                        and not name.endswith(_LOCK_SUFFIX)
                        and not name.startswith(_TMP_PREFIX)
                        and now - last_use > older_than
                    )
                    if stale_tmp or unused:
                        with contextlib.suppress(FileNotFoundError):
                            path.unlink()
                            files += 1
                            size += st.st_size
        return PruneStats(files, size)

    def close(self) -> None:
        """Remove a temporary cache now; a persistent cache is left as it is."""
        if self._finalizer is not None:
            self._finalizer()

    def __repr__(self) -> str:
        kind = "temporary" if self._temporary else "persistent"
        return f"Cache({str(self._root)!r}, {kind})"


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _tree_stats(root: Path) -> PruneStats:
    files = size = 0
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            with contextlib.suppress(OSError):
                size += (Path(dirpath) / name).stat().st_size
                files += 1
    return PruneStats(files, size)
