"""Git sources: ``name @ git+https://host/repo.git@rev#subdirectory=sub`` checked out in the cache.

A git direct reference (PEP 508, pip's ``git+`` URL form) names a repository, optionally a
revision (branch, tag or commit) and a subdirectory holding the project. Installing one means
fetching the repository, pinning the revision to a commit, and building the project found at
that commit like any local source tree. The commit is what PEP 610's ``direct_url.json``
records and what ``pip compile`` writes, so the same commit is installed again later.

Layout under the cache's ``git-v1`` bucket (every step is made in a ``.tmp-`` scratch
directory and renamed into place, so a killed run leaves nothing half-made that is used later):

* ``db/<key>``: a bare repository per repository URL, fetched into under a file lock;
* ``checkouts/<key>/<commit>``: one working tree per commit, never changed once made.

git itself does the fetching (``git`` must be on PATH): it knows the user's credentials,
proxies and SSH setup, which no reimplementation would.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from torchup.errors import VcsError

__all__ = ["GitUrl", "GitCheckout", "is_git_url", "fetch_git"]

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SCRATCH_PREFIX = ".tmp-"  # Cache.prune removes scratch directories a killed process left
# Never prompt for a password on a terminal the user may not watch; fail instead, and say so.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def is_git_url(url: str | None) -> bool:
    return bool(url) and url.startswith("git+")  # type: ignore[union-attr]


@dataclass(frozen=True)
class GitUrl:
    """A parsed ``git+`` URL: ``repository`` is what git fetches (``https://...``,
    ``ssh://...``, ``file:///...``), ``revision`` the ``@rev`` as written (None: the remote's
    default branch), ``subdirectory`` the project's folder inside the repository."""

    repository: str
    revision: str | None = None
    subdirectory: str | None = None

    @classmethod
    def parse(cls, url: str) -> GitUrl:
        if not is_git_url(url):
            raise VcsError(
                f"{url} is not a git URL", url=url, hint="write it as git+https://host/repo.git@rev"
            )
        rest, _, fragment = url[len("git+") :].partition("#")
        subdirectory = None
        for part in fragment.split("&") if fragment else ():
            key, _, value = part.partition("=")
            if key == "subdirectory" and value:
                subdirectory = unquote(value).strip("/")
                if any(p in ("..", "") for p in subdirectory.split("/")):
                    raise VcsError(
                        f"the subdirectory {value!r} of {url} leaves the repository",
                        url=url,
                        hint="name a folder inside the repository",
                    )
        parts = urlsplit(rest)
        if not parts.scheme or parts.scheme not in ("https", "http", "ssh", "git", "file"):
            raise VcsError(
                f"{url} does not name a repository git can fetch",
                url=url,
                hint="use git+https://, git+ssh:// or git+file:// followed by the repository",
            )
        # The revision follows the last "@" of the path ("ssh://git@host/repo.git@v1": the
        # first "@" belongs to the host part).
        path, at, revision = parts.path.rpartition("@")
        if not at:
            path, revision = parts.path, ""
        repository = parts._replace(path=path, fragment="").geturl()
        if not path.strip("/"):
            raise VcsError(
                f"{url} names no repository path",
                url=url,
                hint="write git+https://host/owner/repo.git",
            )
        return cls(
            repository=repository, revision=unquote(revision) or None, subdirectory=subdirectory
        )

    @property
    def project_hint(self) -> str:
        """A stand-in project name (the repository's last path part), for a URL given without
        ``name @``; the built metadata's name replaces it."""
        last = self.subdirectory.rsplit("/", 1)[-1] if self.subdirectory else ""
        last = last or urlsplit(self.repository).path.rstrip("/").rsplit("/", 1)[-1]
        last = last[: -len(".git")] if last.endswith(".git") else last
        return re.sub(r"[^A-Za-z0-9._-]+", "-", last).strip("-._") or "project"

    def pinned(self, commit: str) -> str:
        """This URL with its revision replaced by ``commit``: what a lock or compile writes."""
        fragment = f"#subdirectory={self.subdirectory}" if self.subdirectory else ""
        return f"git+{self.repository}@{commit}{fragment}"


@dataclass(frozen=True)
class GitCheckout:
    """``url`` checked out at ``commit`` in ``root`` (read-only by convention: shared by
    every later use of the same commit)."""

    url: GitUrl
    commit: str
    root: Path

    @property
    def source_dir(self) -> Path:
        return self.root / self.url.subdirectory if self.url.subdirectory else self.root

    def direct_url(self) -> dict[str, Any]:
        """PEP 610 ``direct_url.json`` for a distribution built from this checkout."""
        vcs_info: dict[str, Any] = {"vcs": "git", "commit_id": self.commit}
        if self.url.revision:
            vcs_info["requested_revision"] = self.url.revision
        out: dict[str, Any] = {"url": self.url.repository, "vcs_info": vcs_info}
        if self.url.subdirectory:
            out["subdirectory"] = self.url.subdirectory
        return out


def _git(args: list[str], *, cwd: Path | None, url: GitUrl, what: str) -> str:
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env={**os.environ, **_GIT_ENV},
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise VcsError(
            f"cannot {what} {url.repository}: git is not installed",
            url=url.repository,
            hint="install git, or install the project from a wheel or sdist",
        ) from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise VcsError(
            f"cannot {what} {url.repository}: {detail[-1] if detail else f'git exited with {proc.returncode}'}",
            url=url.repository,
            hint="check the URL and revision, and that `git fetch` works for it here",
        )
    return proc.stdout.strip()


def _make_dir_atomically(final: Path, make: Any) -> None:
    """Run ``make(scratch)`` on a fresh scratch directory and rename it to ``final``; a
    concurrent maker that finishes first wins and this one's work is dropped."""
    final.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH_PREFIX, dir=final.parent))
    try:
        made = scratch / "made"
        make(made)
        try:
            os.rename(made, final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _known_commit(db: Path, url: GitUrl, revision: str) -> str | None:
    """The commit ``revision`` names in ``db``, or None when ``db`` does not have it."""
    try:
        return _git(
            ["rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}"],
            cwd=db,
            url=url,
            what="read",
        )
    except VcsError:
        return None


def _resolve_commit(db: Path, url: GitUrl) -> str:
    """The commit ``url.revision`` (or the default branch) names, fetched into ``db`` unless
    it is a full commit hash ``db`` already has (a commit never moves)."""
    revision = url.revision
    if revision and _COMMIT_RE.match(revision):
        known = _known_commit(db, url, revision)
        if known:
            return known
    commit = _fetch_commit(db, url)
    # A ref keeps the commit from git's automatic garbage collection in the database
    # (fetched by hash or through FETCH_HEAD, nothing else points at it).
    _git(
        ["update-ref", f"refs/torchup/{commit}", commit], cwd=db, url=url, what="record a commit of"
    )
    return commit


def _fetch_commit(db: Path, url: GitUrl) -> str:
    """Fetch ``url.revision`` (or the default branch) into ``db``; its commit."""
    revision = url.revision
    fetch = ["fetch", "--quiet", "--force", url.repository]
    try:
        _git([*fetch, revision or "HEAD"], cwd=db, url=url, what="fetch")
        return _git(["rev-parse", "--verify", "FETCH_HEAD^{commit}"], cwd=db, url=url, what="read")
    except VcsError as first:
        if not revision:
            raise
        # A short commit hash (or a server refusing to send a commit by hash): fetch every
        # branch and tag, then look the revision up.
        everything = ["+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"]
        _git([*fetch, *everything], cwd=db, url=url, what="fetch")
        known = _known_commit(db, url, revision)
        if known is None:
            raise VcsError(
                f"{url.repository} has no branch, tag or commit {revision!r}",
                url=url.repository,
                hint="check the revision after @ in the URL",
            ) from first
        return known


def fetch_git(url: GitUrl, cache_dir: Path) -> GitCheckout:
    """Check ``url`` out at its revision under ``cache_dir`` (the ``git-v1`` bucket); the
    commit is looked up on the remote each time unless the revision is a full commit hash
    already fetched (a branch moves; a commit does not)."""
    from filelock import FileLock

    key = hashlib.sha256(url.repository.encode()).hexdigest()[:24]
    db = cache_dir / "db" / key
    (cache_dir / "db").mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_dir / "db" / f"{key}.lock")):
        if not (db / "HEAD").is_file():
            _make_dir_atomically(
                db,
                lambda d: _git(
                    ["init", "--quiet", "--bare", str(d)],
                    cwd=None,
                    url=url,
                    what="create a repository for",
                ),
            )
        commit = _resolve_commit(db, url)
        root = cache_dir / "checkouts" / key / commit
        if not root.is_dir():

            def checkout(work: Path) -> None:
                _git(
                    ["clone", "--quiet", "--shared", "--no-checkout", str(db), str(work)],
                    cwd=None,
                    url=url,
                    what="check out",
                )
                _git(
                    ["checkout", "--quiet", "--detach", commit], cwd=work, url=url, what="check out"
                )
                if (work / ".gitmodules").is_file():
                    _git(
                        ["submodule", "update", "--quiet", "--init", "--recursive"],
                        cwd=work,
                        url=url,
                        what="fetch the submodules of",
                    )

            _make_dir_atomically(root, checkout)
    checkout_ = GitCheckout(url=url, commit=commit, root=root)
    if not checkout_.source_dir.is_dir():
        raise VcsError(
            f"{url.repository} at {commit[:12]} has no folder {url.subdirectory!r}",
            url=url.repository,
            hint="check #subdirectory= in the URL",
        )
    return checkout_
