"""ChoiceMemo: providers of one process (one per environment x backend x variant in
`torchup lock`) share each page's per-target choices instead of rebuilding them."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from packaging.version import Version

from torchup.index.simple import DistFile, PageFiles
from torchup.resolver.provider import ChoiceMemo, IndexProvider, ProviderOptions
from torchup.target import Target

_FILES = [
    DistFile(filename=f"demo-{v}-{tag}.whl", url=f"https://x.test/demo-{v}-{tag}.whl", hashes={})
    for v in ("1.0", "1.1", "2.0")
    for tag in ("py3-none-any", "cp312-cp312-win_amd64")
] + [DistFile(filename="demo-3.0-cp312-cp312-win_amd64.whl", url="https://x.test/d3.whl", hashes={})]


class _Finder:
    """A finder whose pages are grouped once; counts how often the provider asks."""

    def __init__(self) -> None:
        self.calls = 0
        self.lock = threading.Lock()
        self.page = PageFiles.from_files(_FILES)

    def files(self, project: str, sources: Sequence[Any] | None = None) -> list[Any]:
        raise AssertionError("file_groups is preferred")

    def file_groups(self, project: str, sources: Sequence[Any] | None = None) -> Any:
        with self.lock:
            self.calls += 1
        return dict(self.page.groups)


class _Fetcher:
    def fetch(self, dist: Any) -> Any:
        return None


def _universe(target: Target, memo: ChoiceMemo | None, finder: _Finder, **opts: Any) -> Any:
    provider = IndexProvider(
        target, finder, _Fetcher(), options=ProviderOptions(**opts), choice_memo=memo
    )
    try:
        return provider._universe("demo")
    finally:
        provider.close()


def test_backends_of_one_environment_share_the_choices() -> None:
    finder, memo = _Finder(), ChoiceMemo()
    linux = Target.for_platform("3.12", "linux")
    first = _universe(linux.with_backend("cpu"), memo, finder)
    second = _universe(linux.with_backend("cu128"), memo, finder)
    assert finder.calls == 1
    assert second.choices is first.choices
    assert first.order == [Version("3.0"), Version("2.0"), Version("1.1"), Version("1.0")]
    assert not first.choices[Version("3.0")].usable  # a Windows-only version, on Linux


def test_other_targets_and_options_get_their_own_entry() -> None:
    finder, memo = _Finder(), ChoiceMemo()
    linux = Target.for_platform("3.12", "linux")
    windows = Target.for_platform("3.12", "windows")
    a = _universe(linux, memo, finder)
    b = _universe(windows, memo, finder)
    c = _universe(linux, memo, finder, resolution="lowest")
    assert finder.calls == 3
    assert a.choices[Version("3.0")].usable is False
    assert b.choices[Version("3.0")].usable is True
    assert c.order == list(reversed(a.order))


def test_a_preference_does_not_change_the_shared_order() -> None:
    finder, memo = _Finder(), ChoiceMemo()
    linux = Target.for_platform("3.12", "linux")
    pinned = _universe(linux, memo, finder, preferences={"demo": Version("1.1")})
    plain = _universe(linux, memo, finder)
    assert pinned.order[0] == Version("1.1")
    assert plain.order == [Version("3.0"), Version("2.0"), Version("1.1"), Version("1.0")]
    assert finder.calls == 1


def test_the_memo_gives_what_a_provider_without_it_gives() -> None:
    linux = Target.for_platform("3.12", "linux")
    for opts in ({}, {"resolution": "lowest"}, {"preferences": {"demo": Version("2.0")}}):
        memo = ChoiceMemo()
        with_memo = [_universe(linux, memo, _Finder(), **opts) for _ in range(2)]
        without = _universe(linux, None, _Finder(), **opts)
        for got in with_memo:
            assert got.order == without.order
            assert got.yanked == without.yanked
            assert {v: c.best for v, c in got.choices.items()} == {
                v: c.best for v, c in without.choices.items()
            }
