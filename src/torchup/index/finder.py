"""Which files the configured indexes offer for a project, under an index strategy.

A :class:`Finder` fetches project pages (through :class:`~torchup.index.client.HttpClient`,
concurrently, each page once per run) and applies the index strategy, which is a pure function
(:func:`select_files`) of the pages fetched:

``first-index`` (default, as uv)
    Files come only from the first simple index, in priority order, that has the project at
    all. This is what stops a stray ``torch`` on a later index from winning (dependency
    confusion) and keeps torch's CUDA index authoritative for torch.
``unsafe-first-match``
    Files of every index, ordered index by index: a resolver prefers the first index's
    versions and falls back to later ones.
``unsafe-best-match``
    The union: the best version wins wherever it is. A version listed by several indexes
    keeps only the files of the first of them (never mix artifacts of one version).

Find-links locations are always added to the candidates, whatever the strategy (pip and uv
treat them as flat, extra sources). Priority order is the order sources were given, with
``default`` sources (PyPI) last.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from torchup.index.client import redact_url, strip_credentials
from torchup.index.simple import FileGroup, PageFiles

if TYPE_CHECKING:
    from torchup.index.client import HttpClient
    from torchup.index.simple import DistFile

__all__ = [
    "IndexSource",
    "IndexStrategy",
    "SourceKind",
    "Finder",
    "select_files",
    "select_groups",
    "INDEX_STRATEGIES",
]

SourceKind = Literal["simple", "find-links"]
IndexStrategy = Literal["first-index", "unsafe-first-match", "unsafe-best-match"]
INDEX_STRATEGIES: tuple[IndexStrategy, ...] = (
    "first-index",
    "unsafe-first-match",
    "unsafe-best-match",
)


@dataclass(frozen=True)
class IndexSource:
    """A place to look for distributions.

    ``kind="simple"``: a PEP 503/691 index root (``.../simple``); ``"find-links"``: an HTML
    page or a local directory of files. ``explicit`` sources serve only projects routed to
    them (uv's ``explicit = true``: the PyTorch index for torch packages); ``default`` marks
    the fallback index (PyPI), consulted after all others.
    """

    url: str
    name: str | None = None
    explicit: bool = False
    kind: SourceKind = "simple"
    default: bool = False

    @property
    def label(self) -> str:
        """How messages name this source: its name, else its redacted URL."""
        return self.name or redact_url(self.url)

    @property
    def key(self) -> str:
        """The credential-free URL: what :attr:`DistFile.index` holds for this source's files."""
        return strip_credentials(self.url)

    def project_url(self, project: str) -> str:
        """The PEP 503 page URL for ``project`` (normalized name, trailing slash)."""
        return f"{self.url.rstrip('/')}/{canonicalize_name(project)}/"


def _order(sources: Iterable[IndexSource]) -> list[IndexSource]:
    sources = list(sources)
    return [s for s in sources if not s.default] + [s for s in sources if s.default]


def select_files(
    pages: Sequence[tuple[IndexSource, Sequence[DistFile] | None]],
    strategy: IndexStrategy = "first-index",
) -> list[DistFile]:
    """Apply an index strategy to fetched pages (pure).

    ``pages`` lists, in priority order, each source with the project's files there (None
    when the source does not have the project). For ``first-index`` a caller may stop
    fetching at the first simple source with files; later entries are ignored anyway.
    """
    flat: list[DistFile] = []
    simple: list[tuple[IndexSource, Sequence[DistFile]]] = []
    for source, files in pages:
        if not files:
            continue
        if source.kind == "find-links":
            flat.extend(files)
        else:
            simple.append((source, files))
    if strategy == "first-index":
        chosen = list(simple[0][1]) if simple else []
    elif strategy == "unsafe-first-match":
        chosen = [f for _source, files in simple for f in files]
    elif strategy == "unsafe-best-match":
        owner: dict[Version, str] = {}
        chosen = []
        for source, files in simple:
            for f in files:
                if owner.setdefault(f.version, source.key) == source.key:
                    chosen.append(f)
    else:
        raise ValueError(f"unknown index strategy {strategy!r}")
    return chosen + flat


def select_groups(
    pages: Sequence[tuple[IndexSource, PageFiles | None]],
    strategy: IndexStrategy = "first-index",
) -> dict[Version, FileGroup]:
    """:func:`select_files` over pages grouped by version (pure): the same files, as one
    group per version (versions in order of first appearance in ``select_files``' answer, each
    version's files in that answer's order), without building any file of a lazy page.
    """
    flat: list[dict[Version, FileGroup]] = []
    simple: list[tuple[IndexSource, dict[Version, FileGroup]]] = []
    for source, page in pages:
        if not page:
            continue
        if source.kind == "find-links":
            flat.append(page.groups)
        else:
            simple.append((source, page.groups))
    if strategy == "first-index":
        chosen = [simple[0][1]] if simple else []
    elif strategy == "unsafe-first-match":
        chosen = [groups for _source, groups in simple]
    elif strategy == "unsafe-best-match":
        # select_files decides per file, but every file of a version on one page gets the
        # same answer (the first source listing the version owns it): decide per group.
        owner: dict[Version, str] = {}
        chosen = [
            {v: g for v, g in groups.items() if owner.setdefault(v, source.key) == source.key}
            for source, groups in simple
        ]
    else:
        raise ValueError(f"unknown index strategy {strategy!r}")
    pages_chosen = chosen + flat
    if len(pages_chosen) == 1:
        return dict(pages_chosen[0])  # one page (the usual case): nothing to merge
    parts: dict[Version, list[FileGroup]] = {}
    for groups in pages_chosen:
        for version, group in groups.items():
            parts.setdefault(version, []).append(group)
    return {version: FileGroup.concat(gs) for version, gs in parts.items()}


class Finder:
    """Files per project from index sources. Thread-safe; each page is fetched once per run.

    ``files()`` is what a resolver provider calls (from several threads); ``prefetch()``
    starts fetching pages in the background so that later ``files()`` calls find them ready.
    """

    def __init__(
        self,
        client: HttpClient,
        sources: Sequence[IndexSource],
        *,
        strategy: IndexStrategy = "first-index",
        max_workers: int = 8,
    ) -> None:
        if strategy not in INDEX_STRATEGIES:
            raise ValueError(f"unknown index strategy {strategy!r}")
        self.client = client
        self.sources: tuple[IndexSource, ...] = tuple(_order(sources))
        self.strategy: IndexStrategy = strategy
        self._max_workers = max_workers
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pages: dict[tuple[str, str], Future[PageFiles | None]] = {}
        self._flat: dict[str, Future[tuple[DistFile, ...]]] = {}

    # --- public API -------------------------------------------------------------------

    @property
    def max_workers(self) -> int:
        """How many pages this finder reads at once."""
        return self._max_workers

    def default_sources(self) -> tuple[IndexSource, ...]:
        """The sources used when a call names none: every non-explicit one, by priority."""
        return tuple(s for s in self.sources if not s.explicit)

    def source_for(self, dist: DistFile) -> IndexSource | None:
        """The source a file came from (by :attr:`DistFile.index`)."""
        for source in self.sources:
            if source.key == dist.index:
                return source
        return None

    def files(self, project: str, sources: Sequence[IndexSource] | None = None) -> list[DistFile]:
        """The project's files from ``sources`` (default: :meth:`default_sources`) under the
        strategy; empty when no source has the project. Each file's ``index`` names its
        source. Raises :class:`~torchup.errors.NetworkError` when a source fails."""
        pages = self._pages_for(project, sources)
        return select_files(
            [(source, page.files() if page else None) for source, page in pages], self.strategy
        )

    def file_groups(
        self, project: str, sources: Sequence[IndexSource] | None = None
    ) -> dict[Version, FileGroup]:
        """:meth:`files`, grouped by version (see :func:`select_groups`): what a resolver
        needs, without building the files of versions it never looks at."""
        return select_groups(self._pages_for(project, sources), self.strategy)

    def _pages_for(
        self, project: str, sources: Sequence[IndexSource] | None
    ) -> list[tuple[IndexSource, PageFiles | None]]:
        name = canonicalize_name(project)
        ordered = self._ordered(sources)
        flat = [(s, self._submit(s, name)) for s in ordered if s.kind == "find-links"]
        simple = [s for s in ordered if s.kind == "simple"]
        pages: list[tuple[IndexSource, PageFiles | None]] = []
        if self.strategy == "first-index":
            # In order, stopping at the first index that has the project: later indexes are
            # not even asked (fewer requests, and nothing for a confused index to offer).
            for source in simple:
                page = self._submit(source, name).result()
                pages.append((source, page))
                if page:
                    break
        else:
            futures = [(source, self._submit(source, name)) for source in simple]
            pages.extend((source, future.result()) for source, future in futures)
        pages.extend((source, future.result()) for source, future in flat)
        return pages

    def prefetch(
        self, projects: Iterable[str], sources: Sequence[IndexSource] | None = None
    ) -> None:
        """Start fetching the pages ``files()`` will need for ``projects``; returns at once.

        Errors surface later, from the ``files()`` call that needs the page.
        """
        ordered = self._prefetched_sources(sources)
        for project in projects:
            name = canonicalize_name(project)
            for source in ordered:
                self._submit(source, name)

    def _prefetched_sources(self, sources: Sequence[IndexSource] | None) -> list[IndexSource]:
        ordered = self._ordered(sources)
        if self.strategy == "first-index":
            # Later indexes are asked only when earlier ones lack the project (see files()).
            first = next((s for s in ordered if s.kind == "simple"), None)
            ordered = [s for s in ordered if s.kind == "find-links" or s is first]
        return ordered

    def cached_page_size(self, project: str, sources: Sequence[IndexSource] | None = None) -> int:
        """Bytes of ``project``'s pages that :meth:`prefetch` would fetch, as cached by the last
        run (0 when none is): a guess at how long they take to read, for ordering prefetches."""
        name = canonicalize_name(project)
        return sum(
            self.client.cached_page_size(source.project_url(name)) or 0
            for source in self._prefetched_sources(sources)
            if source.kind == "simple"
        )

    def biggest_first(
        self, requests: Iterable[tuple[str, Sequence[IndexSource] | None]]
    ) -> list[tuple[str, Sequence[IndexSource] | None]]:
        """``(project, sources)`` requests ordered by :meth:`cached_page_size`, biggest first
        (stable: pages never cached keep their order). The order to prefetch in: big pages
        take longest to read and parse, and their projects' wheels (botocore: 2,000 files)
        longest to stage once picked."""
        listed = list(requests)
        if len(listed) < 2:
            return listed
        sizes = [self.cached_page_size(project, sources) for project, sources in listed]
        return [listed[i] for i in sorted(range(len(listed)), key=lambda i: -sizes[i])]

    def close(self) -> None:
        """Stop the background fetch threads (waits for running fetches)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Finder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- fetching ---------------------------------------------------------------------

    def _ordered(self, sources: Sequence[IndexSource] | None) -> list[IndexSource]:
        return _order(sources) if sources is not None else list(self.default_sources())

    def _executor(self) -> ThreadPoolExecutor:
        # Called with self._lock held.
        if self._pool is None:
            self._pool = ThreadPoolExecutor(
                max_workers=self._max_workers, thread_name_prefix="torchup-index"
            )
        return self._pool

    def _submit(self, source: IndexSource, project: NormalizedName) -> Future[PageFiles | None]:
        """The (possibly shared, possibly finished) fetch of ``project``'s files at ``source``."""
        key = (source.url, project)
        with self._lock:
            future = self._pages.get(key)
            if future is None:
                future = self._executor().submit(self._load, source, project)
                self._pages[key] = future
        return future

    def _load(self, source: IndexSource, project: NormalizedName) -> PageFiles | None:
        if source.kind == "find-links":
            files = [f for f in self._flat_files(source) if f.project == project]
            return PageFiles.from_files(files) if files else None
        # Only the project's own files: a page may list files of other projects (pip
        # ignores those too).
        page = self.client.fetch_page_files(
            source.project_url(project), project=project, index=source.key
        )
        return page or None

    def _flat_files(self, source: IndexSource) -> tuple[DistFile, ...]:
        with self._lock:
            future = self._flat.get(source.url)
            owner = future is None
            if future is None:
                future = Future()
                self._flat[source.url] = future
        if owner:
            try:
                future.set_result(tuple(self.client.fetch_find_links(source.url, index=source.key)))
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()
