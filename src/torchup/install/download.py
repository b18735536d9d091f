"""Fetch distribution files into the archive cache, in parallel, verifying hashes while streaming.

A file with a known sha256 is stored once under ``archives-v1/<sha256>/<filename>`` and reused
by every later install; a file without one (nightly pages omit hashes) is keyed by its URL.
Local ``file://`` files are used in place.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

__all__ = ["Artifact", "fetch_artifacts", "hash_unhashed"]


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
    that failed verification are never left in the cache.
    """

    def one(artifact: Artifact) -> Path:
        parsed = urlparse(artifact.url)
        if parsed.scheme == "file":
            path = Path(unquote(parsed.path))
            _verify_local(path, artifact)
            if on_done:
                on_done(artifact, path, True)
            return path
        dest = _cache_slot(cache_dir, artifact)
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


def _verify_local(path: Path, artifact: Artifact) -> None:
    from torchup.errors import HashMismatchError, InstallError

    if not path.exists():
        raise InstallError(f"the file {path} does not exist", hint="check the path or URL")
    expected = artifact.hashes.get("sha256")
    if expected:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != expected:
            raise HashMismatchError(url=str(path), expected=expected, actual=digest.hexdigest())


def hash_unhashed(client: Any, cache_dir: Path, files: Sequence[Any]) -> dict[str, dict[str, str]]:
    """``url -> {"sha256": hex}`` for files whose index gave no hash (nightly pages, local
    find-links folders): PEP 751 requires a hash per locked file.

    Remote files are downloaded once into the archive cache (the URL-keyed slot) and linked
    into their sha256 slot, so a later install does not download them again; local files are
    hashed in place. Files that already have a sha256 should not be passed.
    """
    import os

    arts = [Artifact(name=f.url, url=f.url, filename=f.filename, size=getattr(f, "size", None)) for f in files]
    paths = fetch_artifacts(client, cache_dir, arts)
    out: dict[str, dict[str, str]] = {}
    for art in arts:
        path = paths[art.name]
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                digest.update(chunk)
        sha = digest.hexdigest()
        out[art.url] = {"sha256": sha}
        slot = _cache_slot(cache_dir, Artifact(art.name, art.url, art.filename, {"sha256": sha}))
        if not slot.exists() and path.is_relative_to(cache_dir):
            slot.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, slot)
            except OSError:
                pass  # another process linked it first, or no hardlinks here: harmless
    return out
