"""Against the real PyPI (opt-in: ``pytest -m network``): torch's METADATA by HTTP Range.

PyPI does not advertise PEP 658 here (NOTES.md), so without the Range path a resolver would
download this ~900 MB wheel to learn torch's dependencies.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from torchup.cache import Cache
from torchup.index.client import HttpClient
from torchup.index.metadata import MetadataFetcher

pytestmark = pytest.mark.network

WHEEL = "torch-2.9.1-cp311-cp311-manylinux_2_28_x86_64.whl"


def test_torch_metadata_by_range_matches_pypi_metadata_file(tmp_path: Path) -> None:
    cache = Cache(tmp_path / "cache")
    client = HttpClient(cache)
    page = client.fetch_page("https://pypi.org/simple/torch/")
    assert page is not None
    [dist] = [f for f in page.files if f.filename == WHEEL]
    assert dist.size is None or dist.size > 500_000_000

    fetcher = MetadataFetcher(client, cache)
    metadata = fetcher.fetch(dist)
    assert metadata is not None
    assert (metadata.name, str(metadata.version)) == ("torch", "2.9.1")
    stats = fetcher.stats()
    assert stats["range"] == 1, stats  # not PEP 658 (unadvertised), not a download
    assert stats["bytes"] < 1_000_000, stats

    served = client.fetch_bytes(dist.metadata_url)
    assert served is not None
    ours = cache.read("metadata-v1", MetadataFetcher.cache_key(dist))
    assert ours is not None
    assert hashlib.sha256(ours).hexdigest() == hashlib.sha256(served).hexdigest()
    assert any(str(r).startswith("nvidia-") for r in metadata.requires_dist or [])
