"""Local files' sha256 is remembered by path and stat, and re-computed when the file changes."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from torchup.errors import HashMismatchError
from torchup.install import download
from torchup.install.download import Artifact, fetch_artifacts, local_sha256


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every file actually read to hash it; and no "racily clean" wait for fresh test files."""
    calls: list[Path] = []
    real = download._hash_file

    def counting(path: Path) -> str:
        calls.append(Path(path))
        return real(path)

    monkeypatch.setattr(download, "_hash_file", counting)
    monkeypatch.setattr(download, "_RACY_NS", -(10**18))
    return calls


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_unchanged_file_is_hashed_once(tmp_path: Path, hashed: list[Path]) -> None:
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"one")
    cache = tmp_path / "archives"
    assert local_sha256(wheel, cache) == _sha(b"one")
    assert local_sha256(wheel, cache) == _sha(b"one")
    assert hashed == [wheel]
    # a small JSON entry, written atomically (no temporary file left)
    entries = list((cache / "local-sha256").iterdir())
    assert len(entries) == 1 and entries[0].suffix == ".json"
    assert json.loads(entries[0].read_text())["sha256"] == _sha(b"one")


def test_a_changed_file_is_hashed_again(tmp_path: Path, hashed: list[Path]) -> None:
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"one")
    cache = tmp_path / "archives"
    before = wheel.stat()
    assert local_sha256(wheel, cache) == _sha(b"one")
    # Same size, same mtime (put back by hand), same inode: only the ctime tells.
    with open(wheel, "r+b") as fh:
        fh.write(b"two")
    os.utime(wheel, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = wheel.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        before.st_size, before.st_mtime_ns, before.st_ino
    )
    if after.st_ctime_ns == before.st_ctime_ns:
        pytest.skip("this filesystem's ctime did not move")
    assert local_sha256(wheel, cache) == _sha(b"two")
    assert len(hashed) == 2


def test_a_replaced_file_is_hashed_again(tmp_path: Path, hashed: list[Path]) -> None:
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"one")
    cache = tmp_path / "archives"
    assert local_sha256(wheel, cache) == _sha(b"one")
    other = tmp_path / "new.whl"
    other.write_bytes(b"uno")
    os.replace(other, wheel)  # another inode under the same path
    assert local_sha256(wheel, cache) == _sha(b"uno")
    assert len(hashed) == 2


def test_a_just_written_file_is_not_remembered(
    tmp_path: Path, hashed: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written within the clock tick of being hashed: a second write in the same tick could keep
    # the stat unchanged, so the hash is not trusted later.
    monkeypatch.setattr(download, "_RACY_NS", 3600 * 10**9)
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"one")
    cache = tmp_path / "archives"
    local_sha256(wheel, cache)
    local_sha256(wheel, cache)
    assert len(hashed) == 2
    assert not (cache / "local-sha256").exists()


def test_a_damaged_entry_is_a_miss(tmp_path: Path, hashed: list[Path]) -> None:
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"one")
    cache = tmp_path / "archives"
    local_sha256(wheel, cache)
    (entry,) = (cache / "local-sha256").iterdir()
    entry.write_text("{not json")
    assert local_sha256(wheel, cache) == _sha(b"one")
    data = json.loads(entry.read_text())
    data["sha256"] = "0" * 63  # not a digest
    entry.write_text(json.dumps(data))
    assert local_sha256(wheel, cache) == _sha(b"one")
    assert len(hashed) == 3


def test_without_a_cache_the_file_is_hashed_each_time(tmp_path: Path, hashed: list[Path]) -> None:
    wheel = tmp_path / "w.whl"
    wheel.write_bytes(b"one")
    assert local_sha256(wheel, None) == local_sha256(wheel, None) == _sha(b"one")
    assert len(hashed) == 2


def test_a_local_file_with_a_known_hash_is_verified_from_the_remembered_hash(
    tmp_path: Path, hashed: list[Path]
) -> None:
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    wheel.write_bytes(b"wheel bytes")
    cache = tmp_path / "archives"
    good = Artifact("pkg", wheel.as_uri(), wheel.name, {"sha256": _sha(b"wheel bytes")})
    for _ in range(2):
        assert fetch_artifacts(None, cache, [good]) == {"pkg": wheel}
    assert hashed == [wheel]
    bad = Artifact("pkg", wheel.as_uri(), wheel.name, {"sha256": "0" * 64})
    with pytest.raises(HashMismatchError):
        fetch_artifacts(None, cache, [bad])
    # and once the file changes, the new content is what gets checked
    wheel.write_bytes(b"tampered!!!")
    with pytest.raises(HashMismatchError):
        fetch_artifacts(None, cache, [good])
