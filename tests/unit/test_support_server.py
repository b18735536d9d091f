"""The hermetic test index itself: wheels, sdists, the HTTP server and the PyTorch-like world."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile
from packaging.metadata import Metadata
from tests.support.pytorch_index import World
from tests.support.server import IndexServer
from tests.support.wheels import DistSpec, build_sdist, build_wheel, file_sha256

JSON = "application/vnd.pypi.simple.v1+json"


def fetch(
    url: str, path: str = "", method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request without redirects or decoding; headers come back lower-cased."""
    parts = urlsplit(url + path)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, parts.path, headers=headers or {})
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


@pytest.fixture
def demo(index_server: IndexServer, make_wheel) -> tuple[IndexServer, Path]:
    wheel = make_wheel(
        "Demo.Pkg",
        "1.0+cpu",
        requires_python=">=3.9,<4",
        requires_dist=["idna>=3", 'rich; extra == "ui"'],
    )
    index_server.publish("simple", [wheel])
    return index_server, wheel


def file_path(wheel: Path, index: str = "simple") -> str:
    return f"/{index}/{quote(wheel.name)}"


# --- wheels ---------------------------------------------------------------------------------


def test_wheel_filename_and_metadata(make_wheel) -> None:
    wheel = make_wheel(
        "Foo.Bar_baz",
        "2.5.1+cu128",
        requires_dist=[
            "numpy>=1",
            'rich>=13; extra == "UI"',
            'x; python_version<"3.12" and extra=="t"',
        ],
        tags="cp312-cp312-manylinux_2_28_x86_64",
        summary="demo",
    )
    assert wheel.name == "foo_bar_baz-2.5.1+cu128-cp312-cp312-manylinux_2_28_x86_64.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert names[-1] == "foo_bar_baz-2.5.1+cu128.dist-info/RECORD"
        meta = Metadata.from_email(zf.read("foo_bar_baz-2.5.1+cu128.dist-info/METADATA"))
        wheel_txt = zf.read("foo_bar_baz-2.5.1+cu128.dist-info/WHEEL").decode()
    assert meta.name == "Foo.Bar_baz"
    assert str(meta.version) == "2.5.1+cu128"
    assert meta.provides_extra == ["ui", "t"]
    assert [str(r) for r in meta.requires_dist or []][0] == "numpy>=1"
    assert "Root-Is-Purelib: false" in wheel_txt
    assert "Tag: cp312-cp312-manylinux_2_28_x86_64" in wheel_txt


def test_wheel_installs_with_installer(make_wheel, tmp_path: Path) -> None:
    wheel = make_wheel(
        "demo-cli",
        "1.2.3",
        files={
            "demo_cli/__init__.py": "__version__ = '1.2.3'\n",
            "demo_cli/cli.py": "def main():\n    print('hi')\n",
        },
        entry_points={"console_scripts": {"demo": "demo_cli.cli:main"}},
    )
    target = tmp_path / "env"
    scheme = {k: str(target / k) for k in ("purelib", "platlib", "headers", "scripts", "data")}
    dest = SchemeDictionaryDestination(scheme, interpreter=sys.executable, script_kind="posix")
    with WheelFile.open(wheel) as source:
        source.validate_record()
        install(source, dest, {"INSTALLER": b"test"})
    assert (target / "purelib/demo_cli/cli.py").exists()
    assert (target / "scripts/demo").exists()
    out = subprocess.run(
        [sys.executable, "-c", "import demo_cli; print(demo_cli.__version__)"],
        env={"PYTHONPATH": str(target / "purelib")},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "1.2.3"
    installed_meta = (target / "purelib/demo_cli-1.2.3.dist-info/METADATA").read_bytes()
    assert Metadata.from_email(installed_meta).name == "demo-cli"


def test_big_sparse_wheel_is_fast_small_and_valid(tmp_path: Path) -> None:
    spec = DistSpec("bigpkg", "1.0", payload_bytes=600_000_000, tags="py3-none-any")
    start = time.monotonic()
    wheel = build_wheel(spec, tmp_path)
    assert time.monotonic() - start < 5
    st = wheel.stat()
    assert st.st_size > 600_000_000
    assert st.st_blocks * 512 < 16 * 1024 * 1024  # a hole, not 600 MB of zeros
    with zipfile.ZipFile(wheel) as zf:
        infos = zf.infolist()
        assert infos[0].filename == "bigpkg/_payload.bin"
        assert infos[0].compress_type == zipfile.ZIP_STORED
        assert infos[0].file_size == 600_000_000
        assert infos[-1].filename.endswith(".dist-info/RECORD")
        # METADATA sits after the payload: only the central directory finds it cheaply.
        meta_info = zf.getinfo("bigpkg-1.0.dist-info/METADATA")
        assert meta_info.header_offset > 600_000_000
        assert Metadata.from_email(zf.read(meta_info)).version is not None
        with zf.open(infos[0]) as payload:  # CRC check of the tail end of the payload
            payload.seek(600_000_000 - 10)
            assert payload.read() == bytes(10)
    # The whole-file hash computed while building matches a real read.
    digest = hashlib.sha256()
    with open(wheel, "rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    assert file_sha256(wheel) == digest.hexdigest()


def test_sdist_builds_through_in_tree_backend(tmp_path: Path) -> None:
    spec = DistSpec(
        "Tiny-Src",
        "0.3",
        requires_dist=("idna",),
        requires_python=">=3.8",
        entry_points={"console_scripts": {"tiny": "tiny_src:main"}},
    )
    sdist = build_sdist(spec, tmp_path / "dist")
    assert sdist.name == "tiny_src-0.3.tar.gz"
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
        assert "tiny_src-0.3/PKG-INFO" in names
        pyproject = tf.extractfile("tiny_src-0.3/pyproject.toml").read().decode()  # type: ignore[union-attr]
        tf.extractall(tmp_path / "src", filter="data")
    assert 'build-backend = "_tiny_backend"' in pyproject and 'backend-path = ["."]' in pyproject
    out = tmp_path / "out"
    (out / "ed").mkdir(parents=True)
    script = textwrap.dedent(
        f"""
        import json, sys
        sys.path.insert(0, ".")  # backend-path
        import _tiny_backend as b
        print(json.dumps({{
            "req": b.get_requires_for_build_wheel(),
            "meta": b.prepare_metadata_for_build_wheel({str(out)!r}),
            "wheel": b.build_wheel({str(out)!r}),
            "editable": b.build_editable({str(out / "ed")!r}),
            "sdist": b.build_sdist({str(out)!r}),
        }}))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path / "src" / "tiny_src-0.3",
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout)
    assert result["req"] == []
    assert result["wheel"] == "tiny_src-0.3-py3-none-any.whl"
    assert result["meta"] == "tiny_src-0.3.dist-info"
    assert result["sdist"] == "tiny_src-0.3.tar.gz"
    meta = Metadata.from_email((out / result["meta"] / "METADATA").read_bytes())
    assert meta.name == "Tiny-Src" and [str(r) for r in meta.requires_dist or []] == ["idna"]
    with WheelFile.open(out / result["wheel"]) as source:
        source.validate_record()
        assert "tiny_src/__init__.py" in [rec[0] for rec, _, _ in source.get_contents()]
    with zipfile.ZipFile(out / "ed" / result["editable"]) as zf:
        pth = [n for n in zf.namelist() if n.endswith(".pth")]
        assert pth and zf.read(pth[0]).decode().strip().endswith("tiny_src-0.3")


# --- server ---------------------------------------------------------------------------------


def test_range_suffix_and_unsatisfiable(demo) -> None:
    server, wheel = demo
    data = wheel.read_bytes()
    path = file_path(wheel)
    status, headers, body = fetch(server.url, path, headers={"Range": "bytes=0-9"})
    assert (status, body) == (206, data[:10])
    assert headers["content-range"] == f"bytes 0-9/{len(data)}"
    assert headers["accept-ranges"] == "bytes"
    assert fetch(server.url, path, headers={"Range": "bytes=10-"})[2] == data[10:]
    status, headers, body = fetch(server.url, path, headers={"Range": "bytes=-22"})
    assert (status, body) == (206, data[-22:])
    assert headers["content-range"] == f"bytes {len(data) - 22}-{len(data) - 1}/{len(data)}"
    status, headers, _ = fetch(server.url, path, headers={"Range": f"bytes={len(data)}-"})
    assert status == 416 and headers["content-range"] == f"bytes */{len(data)}"
    server.configure("simple", range=False)
    status, headers, body = fetch(server.url, path, headers={"Range": "bytes=0-9"})
    assert (status, body) == (200, data) and "accept-ranges" not in headers


def test_head_and_byte_accounting(demo) -> None:
    server, wheel = demo
    server.reset_stats()
    status, headers, body = fetch(server.url, file_path(wheel), method="HEAD")
    assert status == 200 and body == b"" and int(headers["content-length"]) == wheel.stat().st_size
    fetch(server.url, file_path(wheel))
    fetch(server.url, file_path(wheel), headers={"Range": "bytes=-100"})
    assert [(r.method, r.status, r.bytes_sent) for r in server.requests] == [
        ("HEAD", 200, 0),
        ("GET", 200, wheel.stat().st_size),
        ("GET", 206, 100),
    ]
    assert server.requests[2].headers["Range"] == "bytes=-100"
    assert server.bytes_sent(".whl") == wheel.stat().st_size + 100
    assert server.bytes_sent("nothing-like-this") == 0
    server.reset_stats()
    assert server.requests == [] and server.bytes_sent() == 0


def test_etag_and_last_modified_give_304(demo) -> None:
    server, wheel = demo
    for path in (file_path(wheel), "/simple/demo-pkg/", "/simple/"):
        status, headers, _ = fetch(server.url, path)
        assert status == 200 and headers["etag"] and headers["last-modified"]
        assert fetch(server.url, path, headers={"If-None-Match": headers["etag"]})[0] == 304
        assert fetch(server.url, path, headers={"If-None-Match": '"other"'})[0] == 200
        ims = {"If-Modified-Since": headers["last-modified"]}
        assert fetch(server.url, path, headers=ims)[0] == 304
    assert server.requests[-1].bytes_sent == 0


def test_html_and_json_negotiation(demo) -> None:
    server, wheel = demo
    status, headers, body = fetch(server.url, "/simple/demo-pkg/")
    assert headers["content-type"].startswith("text/html")
    html = body.decode()
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert f'href="/simple/demo_pkg-1.0%2Bcpu-py3-none-any.whl#sha256={sha}"' in html
    assert 'data-requires-python="&gt;=3.9,&lt;4"' in html

    status, headers, body = fetch(server.url, "/simple/demo-pkg/", headers={"Accept": JSON})
    assert headers["content-type"] == JSON
    doc = json.loads(body)
    (entry,) = doc["files"]
    assert doc["name"] == "demo-pkg" and doc["meta"]["api-version"].startswith("1.")
    assert entry["hashes"] == {"sha256": sha}
    assert entry["requires-python"] == ">=3.9,<4"
    assert entry["yanked"] is False and entry["size"] == wheel.stat().st_size
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", entry["upload-time"])
    assert entry["core-metadata"]["sha256"]
    listing = json.loads(fetch(server.url, "/simple/", headers={"Accept": JSON})[2])
    assert listing["projects"] == [{"name": "demo-pkg"}]

    prefer_html = {"Accept": f"{JSON};q=0.2, text/html;q=0.9"}
    assert fetch(server.url, "/simple/demo-pkg/", headers=prefer_html)[1][
        "content-type"
    ].startswith("text/html")
    server.json = False
    assert fetch(server.url, "/simple/demo-pkg/", headers={"Accept": JSON})[1][
        "content-type"
    ].startswith("text/html")


def test_pep658_switch(demo) -> None:
    server, wheel = demo
    meta_path = file_path(wheel) + ".metadata"
    html = fetch(server.url, "/simple/demo-pkg/")[2].decode()
    status, _, meta = fetch(server.url, meta_path)
    assert status == 200 and Metadata.from_email(meta).name == "Demo.Pkg"
    assert f'data-core-metadata="sha256={hashlib.sha256(meta).hexdigest()}"' in html
    assert "data-dist-info-metadata=" in html

    server.configure("simple", pep658=False)
    html = fetch(server.url, "/simple/demo-pkg/")[2].decode()
    assert "data-core-metadata" not in html and "data-dist-info-metadata" not in html
    assert fetch(server.url, meta_path)[0] == 404
    doc = json.loads(fetch(server.url, "/simple/demo-pkg/", headers={"Accept": JSON})[2])
    assert doc["files"][0]["core-metadata"] is False

    server.configure("simple", pep658="unadvertised")  # what the PyPI these machines reach does
    assert "data-core-metadata" not in fetch(server.url, "/simple/demo-pkg/")[2].decode()
    assert fetch(server.url, meta_path)[0] == 200


def test_missing_redirects_yank_and_hashes(demo) -> None:
    server, wheel = demo
    assert fetch(server.url, "/simple/nope/")[0] == 404
    assert fetch(server.url, "/nowhere/")[0] == 404
    server.configure("simple", missing_status=403)
    assert fetch(server.url, "/simple/nope/")[0] == 403
    status, headers, _ = fetch(server.url, "/simple/Demo.Pkg/")
    assert status == 301 and headers["location"] == "/simple/demo-pkg/"
    assert fetch(server.url, "/simple/demo-pkg")[1]["location"] == "/simple/demo-pkg/"

    server.yank("simple", wheel.name, reason="broken <build>")
    assert (
        'data-yanked="broken &lt;build&gt;"' in fetch(server.url, "/simple/demo-pkg/")[2].decode()
    )
    doc = json.loads(fetch(server.url, "/simple/demo-pkg/", headers={"Accept": JSON})[2])
    assert doc["files"][0]["yanked"] == "broken <build>"
    server.configure("simple", hashes=False)
    assert "#sha256=" not in fetch(server.url, "/simple/demo-pkg/")[2].decode()


def test_concurrent_clients_and_fault_injection(demo) -> None:
    server, wheel = demo
    data = wheel.read_bytes()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: fetch(server.url, file_path(wheel))[2], range(48)))
    assert all(r == data for r in results)
    server.fail(".whl", status=503, times=1)
    assert fetch(server.url, file_path(wheel))[0] == 503
    assert fetch(server.url, file_path(wheel))[0] == 200
    server.truncate(".whl", after_bytes=10)
    with pytest.raises(http.client.IncompleteRead):
        fetch(server.url, file_path(wheel))
    assert fetch(server.url, file_path(wheel))[2] == data


# --- the PyTorch-like world ------------------------------------------------------------------


def test_pytorch_world_layout(pytorch_world: World) -> None:
    w = pytorch_world
    server = w.server
    assert w.url("cu128") == server.index_url("whl/cu128") == w.urls["whl/cu128"]
    assert w.url("pypi") == server.index_url("pypi")
    cpu = w.files("cpu", "torch")
    assert "torch-2.5.1+cpu-cp312-cp312-linux_x86_64.whl" in cpu
    assert "torch-2.9.1+cpu-cp312-cp312-manylinux_2_28_x86_64.whl" in cpu
    assert "torch-2.9.1-cp312-cp312-macosx_11_0_arm64.whl" in cpu  # macOS: no label
    assert "torch-2.5.1-cp312-cp312-manylinux2014_aarch64.whl" in cpu  # old aarch64: no label
    assert "torch-2.9.1+cpu-cp312-cp312-win_amd64.whl" in cpu
    assert w.versions("rocm6.4", "torch") == ["2.8.0+rocm6.4", "2.9.1+rocm6.4"]
    assert "2.9.1+cu130" in w.versions("cu130", "torch")
    assert not w.files("cu130", "pytorch-triton") and w.files("nightly/cu128", "pytorch-triton")
    assert w.versions("pypi", "pytorch-triton") == ["0.0.1"]
    assert w.versions("pypi", "pytorch-triton-rocm") == ["2.1.0"]
    assert "Jinja2-3.1.4-py3-none-any.whl" in w.files("cu128", "jinja2")

    # download.pytorch.org behaviour: HTML only, no PEP 658, 403 for missing projects.
    status, headers, body = fetch(w.url("cu128"), "/torch/", headers={"Accept": JSON})
    assert status == 200 and headers["content-type"].startswith("text/html")
    assert b"data-core-metadata" not in body and b"%2Bcu128" in body
    assert fetch(w.url("cu128"), "/no-such-project/")[0] == 403
    assert fetch(w.url("pypi"), "/no-such-project/")[0] == 404
    assert b"#sha256=" not in fetch(w.url("nightly/cpu"), "/torch/")[2]

    # Exact pairing and GPU deps, read through PEP 658 on the PyPI-like index.
    def metadata(filename: str) -> Metadata:
        status, _, body = fetch(w.url("pypi"), f"/{quote(filename)}.metadata")
        assert status == 200
        return Metadata.from_email(body)

    vision = metadata("torchvision-0.20.1-cp312-cp312-manylinux1_x86_64.whl")
    assert "torch==2.5.1" in [str(r) for r in vision.requires_dist or []]
    torch = [
        str(r)
        for r in metadata("torch-2.8.0-cp312-cp312-manylinux_2_28_x86_64.whl").requires_dist or []
    ]
    assert (
        'nvidia-cublas-cu12==12.8.4.1; platform_system == "Linux" and platform_machine == "x86_64"'
        in torch
    )
    assert 'triton==3.4.0; platform_system == "Linux" and platform_machine == "x86_64"' in torch

    with w.configured("cu128", pep658=True):
        assert b"data-core-metadata" in fetch(w.url("cu128"), "/torch/")[2]
    assert b"data-core-metadata" not in fetch(w.url("cu128"), "/torch/")[2]


def test_pytorch_world_hashes_match_downloads(pytorch_world: World) -> None:
    html = fetch(pytorch_world.url("cpu"), "/torchvision/")[2].decode()
    href, sha = re.search(r'href="([^"#]+)#sha256=([0-9a-f]{64})"', html).groups()  # type: ignore[union-attr]
    status, _, body = fetch(pytorch_world.server.url, href)
    assert status == 200 and hashlib.sha256(body).hexdigest() == sha


@pytest.mark.slow
def test_big_world_whole_download_is_visible(pytorch_world_big: World) -> None:
    w = pytorch_world_big
    name = "torch-2.9.1+cu128-cp312-cp312-manylinux_2_28_x86_64.whl"
    assert name in w.files("cu128", "torch")
    w.server.reset_stats()
    status, headers, _ = fetch(w.url("cu128"), f"/{quote(name)}", method="HEAD")
    size = int(headers["content-length"])
    assert size > 600_000_000
    # A tail read is cheap; it contains the central directory with METADATA's entry.
    _, _, tail = fetch(w.url("cu128"), f"/{quote(name)}", headers={"Range": "bytes=-65536"})
    assert b"torch-2.9.1+cu128.dist-info/METADATA" in tail
    assert w.server.bytes_sent(".whl") == 65536
