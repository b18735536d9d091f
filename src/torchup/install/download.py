"""Fetch distribution files into the archive cache, in parallel, verifying hashes while streaming.

A file with a known sha256 is stored once under ``archives-v1/<sha256>/<filename>`` and reused
by every later install; a file without one (nightly pages omit hashes) is keyed by its URL.
Local ``file://`` files are used in place.

Hashing a local file (a ``--find-links`` folder, a built wheel: 190 MB for torch) is done once:
:func:`local_sha256` remembers the digest under ``archives-v1/local-sha256/``, keyed by the
file's path and its stat (size, mtime, inode, ctime, device), as uv keys local wheels by path
and mtime. Any change to the file changes its ctime, so a changed file is hashed again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from torchup.requirements import file_url_path

__all__ = ["Artifact", "cached_size", "fetch_artifacts", "hash_unhashed", "local_sha256"]

_LOCAL_HASHES = "local-sha256"
# A file written less than this long before it is hashed is not remembered: file times have
# coarse (clock tick) resolution, so a second write of the same size within the same tick would
# leave the stat unchanged ("racily clean", as git calls it).
_RACY_NS = 2_000_000_000


@dataclass(frozen=True)
class Artifact:
    """One file to obtain: where from, its name and the hashes it must have."""

    name: str
    url: str
    filename: str
    hashes: Mapping[str, str] = field(default_factory=dict, hash=False)
    size: int | None = None


def _cache_slot(cache_dir: Path, artifact: Artifact) -> Path:
    sha = artifact.hashes.get("sha256")
    key = sha or "url-" + hashlib.sha256(artifact.url.encode()).hexdigest()[:32]
    return cache_dir / key / artifact.filename


def _location(cache_dir: Path, artifact: Artifact) -> tuple[Path, bool]:
    """Where ``artifact``'s file is or will be: (the file itself, True) for a ``file:`` URL,
    else (its slot in the archive cache, False)."""
    if urlparse(artifact.url).scheme == "file":
        return Path(file_url_path(artifact.url)), True
    return _cache_slot(cache_dir, artifact), False


def cached_size(cache_dir: Path, artifact: Artifact) -> int | None:
    """The size of ``artifact``'s file in the cache (or of a local file), None if absent."""
    path, _local = _location(cache_dir, artifact)
    try:
        return path.stat().st_size
    except OSError:
        return None


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _stat_key(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns, st.st_dev]


def local_sha256(path: Path, cache_dir: Path | None) -> str:
    """The sha256 (hex) of the local file ``path``, read from ``cache_dir`` (the archive cache)
    while the file's stat is unchanged since it was hashed; hashed (and remembered) otherwise.

    The entry is a small JSON file written atomically (temporary file, then rename): concurrent
    processes may both hash and write, the last rename wins and both entries are right.
    """
    full = os.path.abspath(path)
    st = os.stat(full)
    entry: Path | None = None
    if cache_dir is not None:
        name = hashlib.sha256(full.encode("utf-8", "surrogateescape")).hexdigest()[:40]
        entry = cache_dir / _LOCAL_HASHES / f"{name}.json"
        try:
            data = json.loads(entry.read_bytes())
            sha = data["sha256"]
            if (
                data["path"] == full
                and data["stat"] == _stat_key(st)
                and isinstance(sha, str)
                and len(sha) == 64
            ):
                return sha
        except (OSError, ValueError, KeyError, TypeError):
            pass  # not remembered (or a damaged entry): hash below
    sha = _hash_file(Path(full))
    if entry is not None and time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS:
        try:
            if _stat_key(os.stat(full)) == _stat_key(st):  # unchanged while it was read
                _write_atomic(entry, json.dumps({"path": full, "stat": _stat_key(st), "sha256": sha}))
        except OSError:
            pass  # a read-only cache: the hash is still right, just not remembered
    return sha


def _write_atomic(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # ".tmp-": `torchup cache prune` removes what a killed process leaves.
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def fetch_artifacts(
    client: Any,
    cache_dir: Path,
    artifacts: Sequence[Artifact],
    *,
    workers: int = 8,
    on_progress: Callable[[str, int, int | None], None] | None = None,
    on_done: Callable[[Artifact, Path, bool], None] | None = None,
) -> dict[str, Path]:
    """Paths of every artifact's file (name -> path), downloading what the cache lacks.

    Raises the first error (HashMismatchError, NetworkError) after all transfers end; files
    that failed verification are never left in the cache. ``on_done(artifact, path, cached)``
    is called from a worker thread as soon as each file is ready (``cached``: no transfer was
    needed), so a caller can start using it while others still download.
    """

    def one(artifact: Artifact) -> Path:
        dest, local = _location(cache_dir, artifact)
        if local:
            _verify_local(dest, artifact, cache_dir)
            if on_done:
                on_done(artifact, dest, True)
            return dest
        if dest.exists() and (artifact.size is None or dest.stat().st_size == artifact.size):
            if on_done:
                on_done(artifact, dest, True)
            return dest

        def progress(done: int, total: int | None) -> None:
            if on_progress:
                on_progress(artifact.name, done, total)

        client.download(artifact.url, dest, hashes=dict(artifact.hashes), on_progress=progress)
        if on_done:
            on_done(artifact, dest, False)
        return dest

    results: dict[str, Path] = {}
    if not artifacts:
        return results
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(artifacts)))) as pool:
        futures = {a.name: pool.submit(one, a) for a in artifacts}
    first_error: BaseException | None = None
    for name, fut in futures.items():
        exc = fut.exception()
        if exc is not None:
            first_error = first_error or exc
        else:
            results[name] = fut.result()
    if first_error is not None:
        raise first_error
    return results


def _verify_local(path: Path, artifact: Artifact, cache_dir: Path | None) -> None:
    from torchup.errors import HashMismatchError, InstallError

    if not path.exists():
        raise InstallError(f"the file {path} does not exist", hint="check the path or URL")
    expected = artifact.hashes.get("sha256")
    if expected:
        actual = local_sha256(path, cache_dir)
        if actual != expected.lower():
            raise HashMismatchError(url=str(path), expected=expected, actual=actual)


def hash_unhashed(client: Any, cache_dir: Path, files: Sequence[Any]) -> dict[str, dict[str, str]]:
    """``url -> {"sha256": hex}`` for files whose index gave no hash (nightly pages, local
    find-links folders): PEP 751 requires a hash per locked file.

    Remote files are downloaded once into the archive cache (the URL-keyed slot) and linked
    into their sha256 slot, so a later install does not download them again; local files are
    hashed in place. Files that already have a sha256 should not be passed.
    """
    arts = [Artifact(name=f.url, url=f.url, filename=f.filename, size=getattr(f, "size", None)) for f in files]
    paths = fetch_artifacts(client, cache_dir, arts)
    out: dict[str, dict[str, str]] = {}
    for art in arts:
        path = paths[art.name]
        sha = local_sha256(path, cache_dir)
        out[art.url] = {"sha256": sha}
        slot = _cache_slot(cache_dir, Artifact(art.name, art.url, art.filename, {"sha256": sha}))
        if not slot.exists() and path.is_relative_to(cache_dir):
            slot.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, slot)
            except OSError:
                pass  # another process linked it first, or no hardlinks here: harmless
    return out
