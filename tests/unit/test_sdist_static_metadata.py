"""Reading an sdist's dependencies without a build (PEP 643 static PKG-INFO), for pip compile."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_sdist

from torchup.cli.resolve_cmd import _sdist_metadata_reader, _static_sdist_metadata
from torchup.index.client import HttpClient
from torchup.index.simple import DistFile


def _sdist(dest: Path, pkg_info: str) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "demo-1.0.tar.gz"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name, text in [("demo-1.0/PKG-INFO", pkg_info), ("demo-1.0/pyproject.toml", "")]:
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(raw.getvalue()))
    return path


def _dist(server: IndexServer, path: Path) -> DistFile:
    server.publish("simple", [path])
    return DistFile(filename=path.name, url=server.file_url("simple", path.name))


_STATIC = "Metadata-Version: 2.3\nName: demo\nVersion: 1.0\nRequires-Python: >=3.9\n"


def test_static_pkg_info_is_used(index_server: IndexServer, tmp_path: Path) -> None:
    path = _sdist(tmp_path, _STATIC + "Requires-Dist: idna>=3\n\n")
    meta = _static_sdist_metadata(HttpClient(), _dist(index_server, path))
    assert meta is not None
    assert [str(r) for r in meta.requires_dist] == ["idna>=3"]
    assert str(meta.requires_python) == ">=3.9"


def test_dynamic_requires_dist_needs_a_build(index_server: IndexServer, tmp_path: Path) -> None:
    path = _sdist(tmp_path, _STATIC + "Dynamic: Requires-Dist\n\n")
    dist = _dist(index_server, path)
    assert _static_sdist_metadata(HttpClient(), dist) is None
    built: list[DistFile] = []
    reader = _sdist_metadata_reader(HttpClient(), lambda d: built.append(d) or "built")
    assert reader(dist) == "built" and built == [dist]


def test_old_metadata_version_is_not_trusted(index_server: IndexServer, tmp_path: Path) -> None:
    # Before 2.2 an sdist's PKG-INFO may differ from the wheel it builds.
    path = build_sdist(DistSpec("demo", "1.0", requires_dist=["idna"]), tmp_path)
    assert _static_sdist_metadata(HttpClient(), _dist(index_server, path)) is None


def test_pkg_info_is_cached_by_file_hash(index_server: IndexServer, tmp_path: Path) -> None:
    import hashlib

    path = _sdist(tmp_path, _STATIC + "Requires-Dist: idna>=3\n\n")
    plain = _dist(index_server, path)
    dist = DistFile(
        filename=plain.filename,
        url=plain.url,
        hashes={"sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
    )
    client = HttpClient(retries=0)
    assert _static_sdist_metadata(client, dist) is not None
    index_server.fail(path.name, status=500, times=5)
    meta = _static_sdist_metadata(client, dist)  # no download: the PKG-INFO is cached
    assert meta is not None and [str(r) for r in meta.requires_dist] == ["idna>=3"]
