"""resolver/provider.py ``_VERSION_ORDER``: sorting by it gives exactly the order of
``Version.__lt__`` (the provider sorts thousands of versions per page with it)."""

from __future__ import annotations

import random

from packaging.version import Version

from torchup.resolver.provider import _VERSION_ORDER

SPELLINGS = [
    "1.0", "1.0.0", "1.0.post1", "1.0.post1.dev2", "1.0a1", "1.0b2", "1.0rc1", "1.0.dev0",
    "1.0+cpu", "1.0+cu128", "1.0+cu128.1", "1.0+5", "1!0.1", "2!0.0.1", "0.9", "0.10", "0.9.9",
    "10.0", "1.0.1", "1.1.dev1", "1.1a1.dev1", "1.1a1.post1", "1.1.post0", "2.13.0+cpu", "2.13.0",
]


def test_sorting_by_the_key_matches_version_comparisons() -> None:
    assert _VERSION_ORDER is not None  # this packaging caches its comparison key
    rng = random.Random(7)
    versions = [Version(s) for s in SPELLINGS] * 3
    for _ in range(20):
        rng.shuffle(versions)
        for reverse in (False, True):
            plain = sorted(versions, reverse=reverse)
            keyed = sorted(versions, key=_VERSION_ORDER, reverse=reverse)
            # Equal versions (1.0 and 1.0.0) keep their input order in both: same objects.
            assert [id(v) for v in keyed] == [id(v) for v in plain]
