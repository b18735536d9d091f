"""Security properties: credentials never shown, TLS verified by default, hashes enforced.

The credential tests run torchup as a subprocess at ``-vv`` (debug logging on), because that is
where a URL is most likely to be printed whole, and look for the password in everything the
process printed and everything it wrote (cache, lock file, compiled requirements, venv).
"""

from __future__ import annotations

import hashlib
import http.server
import os
import ssl
import subprocess
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import World
from tests.reliability.helpers import (
    Cli,
    Venv,
    assert_clean_failure,
    assert_consistent,
    run_subprocess,
    subprocess_env,
)
from tests.support.faults import flip_byte
from tests.support.wheels import DistSpec, build_wheel

SECRET = "s3cr3t-t0ken"


def _with_credentials(url: str) -> str:
    return url.replace("http://", f"http://alice:{SECRET}@", 1)


def _files_containing(root: Path, needle: bytes) -> list[str]:
    hits = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            try:
                if not path.is_symlink() and needle in path.read_bytes():
                    hits.append(str(path))
            except OSError:
                continue
    return hits


# --- credentials ---------------------------------------------------------------------------


def test_credentials_never_shown_on_success_at_debug_level(
    world: World, venv: Venv, cache_dir: Path, tmp_path: Path
) -> None:
    index = _with_credentials(world.index)
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir))
    res = run_subprocess("pip", "install", "-vv", "app", "--python", venv.root, "--index-url", index, env=env)
    assert res.rc == 0, res.err
    assert "GET" in res.err  # debug logging really was on
    assert SECRET not in res.text
    # the server did get them (the index may need them)
    assert any("Authorization" in r.headers for r in world.server.requests)
    # nothing written to disk holds them either (lock file, cache, venv)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        'dependencies = ["app"]\n'
    )
    res = run_subprocess("lock", "-vv", "--directory", project, "--default-index", index, env=env)
    assert res.rc == 0, res.err
    assert SECRET not in res.text
    for root in (cache_dir, venv.root, tmp_path):
        assert _files_containing(root, SECRET.encode()) == []


def test_credentials_never_shown_by_pip_compile(world: World, cache_dir: Path, tmp_path: Path) -> None:
    """The header of a compiled file repeats the command line: without its credentials."""
    index = _with_credentials(world.index)
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir))
    reqs = tmp_path / "requirements.in"
    reqs.write_text("app\n")
    out = tmp_path / "requirements.txt"
    res = run_subprocess(
        "pip", "compile", "-vv", reqs, "-o", out, "--index-url", index, "--generate-hashes", env=env
    )
    assert res.rc == 0, res.err
    assert SECRET not in out.read_text()
    assert SECRET not in res.text


@pytest.mark.parametrize(
    "case",
    [
        "503",
        "hash",
        pytest.param("404-file", marks=pytest.mark.slow),
        pytest.param("missing-project", marks=pytest.mark.slow),
        pytest.param("bad-json", marks=pytest.mark.slow),
        pytest.param("redirect-loop", marks=pytest.mark.slow),
        "refused",
        "offline",
    ],
)
def test_credentials_never_shown_on_failure(
    world: World, venv: Venv, cache_dir: Path, tmp_path: Path, case: str
) -> None:
    index = _with_credentials(world.index)
    env = subprocess_env(TORCHUP_CACHE_DIR=str(cache_dir), TORCHUP_HTTP_RETRIES="0")
    package = "app"
    extra: list[str] = []
    if case == "503":
        world.faults.status("/simple/app/", 503, times=-1)
    elif case == "hash":
        world.faults.body("app-2.0-py3-none-any.whl$", mutate=flip_byte(), times=-1)
    elif case == "404-file":
        world.faults.status("app-2.0-py3-none-any.whl$", 404, times=-1)
    elif case == "missing-project":
        package = "nope"
    elif case == "bad-json":
        world.faults.body(
            "/simple/app/", b"{", content_type="application/vnd.pypi.simple.v1+json", times=-1
        )
    elif case == "redirect-loop":
        world.faults.redirect("/simple/app/")
    elif case == "refused":
        import socket

        with socket.socket() as s:  # a port nobody listens on
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        index = f"http://alice:{SECRET}@127.0.0.1:{port}/simple"
    elif case == "offline":
        extra = ["--offline"]
    res = run_subprocess(
        "pip", "install", "-vv", package, "--python", venv.root, "--index-url", index, *extra,
        env=env, timeout=60,
    )
    assert_clean_failure(res)
    assert SECRET not in res.text
    assert _files_containing(cache_dir, SECRET.encode()) == []


# --- TLS -------------------------------------------------------------------------------------


def test_tls_verification_is_on_by_default() -> None:
    from torchup.index.client import HttpClient

    client = HttpClient()
    context = client._ssl_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is True
    # the connection pools really use it
    manager = client._manager("example.org")
    used = manager.connection_pool_kw["ssl_context"]
    assert used.verify_mode == ssl.CERT_REQUIRED and used.check_hostname is True
    # and so does the proxy path
    proxied = HttpClient(proxy_url="http://127.0.0.1:9")._manager("example.org")
    used = proxied.connection_pool_kw["ssl_context"]
    assert used.verify_mode == ssl.CERT_REQUIRED and used.check_hostname is True


def _make_cert(directory: Path, san: str) -> tuple[Path, Path]:
    cert, key = directory / f"cert-{san.replace(':', '-')}.pem", directory / "key.pem"
    proc = subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=torchup-test",
            "-addext", f"subjectAltName={san}",
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"openssl cannot make a test certificate: {proc.stderr[-200:]}")
    return cert, key


@pytest.fixture
def https_index(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate (SAN IP:127.0.0.1)."""
    import shutil

    if shutil.which("openssl") is None:
        pytest.skip("no openssl to make a test certificate")
    root = tmp_path / "https-root"
    (root / "simple" / "app").mkdir(parents=True)
    (root / "simple" / "app" / "index.html").write_text(
        '<a href="/simple/app-1.0-py3-none-any.whl">app-1.0-py3-none-any.whl</a>'
    )
    build_wheel(DistSpec("app", "1.0"), root / "simple")  # the file that link names
    cert, key = _make_cert(tmp_path, "IP:127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory=str(root), **kwargs)  # type: ignore[arg-type]

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True  # a handler stuck on a dead TLS handshake must not block exit
        block_on_close = False

    httpd = Server(("127.0.0.1", 0), Quiet)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/simple", cert
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_self_signed_certificate_is_refused(https_index: tuple[str, Path]) -> None:
    from torchup.errors import NetworkError
    from torchup.index.client import HttpClient

    url, _cert = https_index
    with pytest.raises(NetworkError, match="TLS verification failed") as info:
        HttpClient(retries=0).fetch_page(url + "/app/")
    assert "SSL_CERT_FILE" in str(info.value)


def test_trusted_certificate_is_accepted_and_the_host_name_checked(
    https_index: tuple[str, Path], tmp_path: Path
) -> None:
    from torchup.errors import NetworkError
    from torchup.index.client import HttpClient

    url, cert = https_index
    page = HttpClient(retries=0, ssl_cert_file=cert).fetch_page(url + "/app/")
    assert page is not None and [f.filename for f in page.files] == ["app-1.0-py3-none-any.whl"]
    # trusting *a* certificate is not enough: it must name the host
    (tmp_path / "other").mkdir()
    other, _ = _make_cert(tmp_path / "other", "DNS:other.example")
    with pytest.raises(NetworkError, match="TLS verification failed"):
        HttpClient(retries=0, ssl_cert_file=other).fetch_page(url + "/app/")


def test_tls_failure_from_the_cli_is_one_clear_paragraph(
    https_index: tuple[str, Path], cli: Cli, venv: Venv
) -> None:
    url, _cert = https_index
    res = cli("pip", "install", "app", "--python", venv.root, "--index-url", url)
    assert_clean_failure(
        res, "TLS verification failed", url + "/app/", "SSL_CERT_FILE", "--allow-insecure-host"
    )


def _hashed_dir(directory: Path, linked: list[Path], bundled: list[Path]) -> Path:
    """A c_rehash-style trust directory: ``linked`` under their subject-hash names, and a
    bundle of ``bundled`` inside it (Debian's layout)."""
    directory.mkdir()
    for cert in linked:
        digest = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", str(cert)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        (directory / f"{digest}.0").symlink_to(cert)
    (directory / "bundle.pem").write_text("".join(c.read_text() for c in bundled))
    return directory


def _system_store(monkeypatch: pytest.MonkeyPatch, directory: Path) -> str:
    """Make ``directory`` (and its bundle) what OpenSSL's defaults load in this process."""
    bundle = str(directory / "bundle.pem")
    monkeypatch.setenv("SSL_CERT_DIR", str(directory))
    monkeypatch.setenv("SSL_CERT_FILE", bundle)
    return bundle


def test_a_hashed_trust_directory_is_read_as_needed(
    https_index: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No certificate is parsed up front (the system bundle cost ~30 ms of CPU a command);
    the server's CA is found by its hash when the handshake needs it."""
    from torchup.index.client import HttpClient

    url, cert = https_index
    bundle = _system_store(monkeypatch, _hashed_dir(tmp_path / "certs", [cert], [cert]))
    client = HttpClient(retries=0, ssl_cert_file=bundle)  # as the CLI passes SSL_CERT_FILE
    context = client._shared_ssl_context()
    assert client._tls_is_partial and context.cert_store_stats()["x509_ca"] == 0
    page = client.fetch_page(url + "/app/")
    assert page is not None and [f.filename for f in page.files] == ["app-1.0-py3-none-any.whl"]
    assert client._tls is context and context.cert_store_stats()["x509_ca"] == 1


def test_a_ca_only_in_the_bundle_is_still_trusted(
    https_index: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bundle holding more than its directory (a CA added by hand): the failed verification
    is retried once with the full trust store, which has it."""
    from torchup.index.client import HttpClient

    url, cert = https_index
    (tmp_path / "other").mkdir()
    other, _ = _make_cert(tmp_path / "other", "DNS:other.example")
    bundle = _system_store(monkeypatch, _hashed_dir(tmp_path / "certs", [other], [other, cert]))
    client = HttpClient(retries=0, ssl_cert_file=bundle)
    page = client.fetch_page(url + "/app/")
    assert page is not None and [f.filename for f in page.files] == ["app-1.0-py3-none-any.whl"]
    assert not client._tls_is_partial
    assert client._shared_ssl_context().cert_store_stats()["x509_ca"] == 2


def test_an_untrusted_server_is_refused_by_the_full_store_too(
    https_index: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchup.errors import NetworkError
    from torchup.index.client import HttpClient

    url, _cert = https_index
    (tmp_path / "other").mkdir()
    other, _ = _make_cert(tmp_path / "other", "DNS:other.example")
    bundle = _system_store(monkeypatch, _hashed_dir(tmp_path / "certs", [other], [other]))
    client = HttpClient(retries=0, ssl_cert_file=bundle)
    with pytest.raises(NetworkError, match="TLS verification failed"):
        client.fetch_page(url + "/app/")
    assert not client._tls_is_partial  # the full store was tried before giving up


def test_a_failure_with_the_partial_store_is_retried_once_by_every_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests failing with the partial store at once: the first replaces it, the
    second sees it replaced and retries too; a failure with the full store stands."""
    from torchup.index.client import HttpClient

    (tmp_path / "other").mkdir()
    other, _ = _make_cert(tmp_path / "other", "DNS:other.example")
    bundle = _system_store(monkeypatch, _hashed_dir(tmp_path / "certs", [other], [other]))
    client = HttpClient(retries=0, ssl_cert_file=bundle)
    partial = client._shared_ssl_context()
    assert client._tls_is_partial
    assert client._trust_everything(partial)  # the first thread: replaces it
    full = client._shared_ssl_context()
    assert full is not partial and not client._tls_is_partial
    assert client._trust_everything(partial)  # the second: already replaced, retry
    assert not client._trust_everything(full)  # failed with the full store: reported
    assert client._shared_ssl_context() is full


def test_which_trust_stores_are_read_lazily(tmp_path: Path) -> None:
    from torchup.index.client import _hashed_trust_dir

    hashed = tmp_path / "hashed"
    hashed.mkdir()
    (hashed / "ca-certificates.crt").write_text("")
    (hashed / "5ad8a5d6.0").write_text("")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "ca-bundle.crt").write_text("")
    (plain / "README").write_text("")
    linked = tmp_path / "linked"
    linked.symlink_to(hashed)
    assert _hashed_trust_dir(str(hashed / "ca-certificates.crt"), str(hashed)) == str(hashed)
    assert _hashed_trust_dir(None, str(linked)) == str(hashed)
    assert _hashed_trust_dir(str(linked / "ca-certificates.crt"), str(hashed)) == str(hashed)
    # the bundle lives elsewhere (Fedora), no hashed names, no directory: load everything
    assert _hashed_trust_dir(str(plain / "ca-bundle.crt"), str(hashed)) is None
    assert _hashed_trust_dir(None, str(plain)) is None
    assert _hashed_trust_dir(None, None) is None
    assert _hashed_trust_dir(None, str(tmp_path / "missing")) is None


def test_insecure_host_is_matched_by_host_or_host_and_port(https_index: tuple[str, Path]) -> None:
    from urllib.parse import urlsplit

    from torchup.errors import NetworkError
    from torchup.index.client import HttpClient

    url, _cert = https_index
    port = urlsplit(url).port
    for allowed in (["127.0.0.1"], [f"127.0.0.1:{port}"]):
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            page = HttpClient(retries=0, insecure_hosts=allowed).fetch_page(url + "/app/")
        assert page is not None and [f.filename for f in page.files] == ["app-1.0-py3-none-any.whl"]
        # asked for by name: no urllib3 InsecureRequestWarning on every request
        assert [w for w in seen if "Unverified HTTPS" in str(w.message)] == []
    # another port of the same host, or another host, is still checked
    for other in ([f"127.0.0.1:{port + 1 if port != 65535 else 1}"], ["localhost"]):
        with pytest.raises(NetworkError, match="TLS verification failed"):
            HttpClient(retries=0, insecure_hosts=other).fetch_page(url + "/app/")


def test_insecure_host_does_not_extend_to_where_it_redirects(
    https_index: tuple[str, Path], tmp_path: Path
) -> None:
    """A redirect from an --allow-insecure-host host to another host is followed through the
    pool that host gets: checked, unless it is allowed too (urllib3 would have fetched it
    through the unverified pool)."""
    from urllib.parse import urlsplit

    from torchup.errors import NetworkError
    from torchup.index.client import HttpClient

    target, _ = https_index
    (tmp_path / "redirector").mkdir()
    cert, key = _make_cert(tmp_path / "redirector", "IP:127.0.0.1")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(302)
            self.send_header("Location", target + "/app/")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        block_on_close = False

    httpd = Server(("127.0.0.1", 0), Redirect)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        start = f"https://127.0.0.1:{httpd.server_address[1]}/simple/app/"
        only_first = [f"127.0.0.1:{httpd.server_address[1]}"]
        with pytest.raises(NetworkError, match="TLS verification failed") as info:
            HttpClient(retries=0, insecure_hosts=only_first).fetch_page(start)
        assert str(urlsplit(target).port) in str(info.value)  # it was the redirect target
        page = HttpClient(retries=0, insecure_hosts=["127.0.0.1"]).fetch_page(start)
        assert page is not None and [f.filename for f in page.files] == ["app-1.0-py3-none-any.whl"]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("how", ["--allow-insecure-host", "UV_INSECURE_HOST", "--cert"])
def test_self_signed_index_is_used_with_allow_insecure_host_or_cert(
    https_index: tuple[str, Path], cli: Cli, venv: Venv, how: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """uv's flags for a private index with its own certificate: the page and the wheel both
    come over TLS from the self-signed server."""
    url, cert = https_index
    extra: list[str] = []
    if how == "--allow-insecure-host":
        extra = ["--allow-insecure-host", "127.0.0.1"]
    elif how == "UV_INSECURE_HOST":
        monkeypatch.setenv("UV_INSECURE_HOST", "example.org 127.0.0.1")
    else:
        extra = ["--cert", str(cert), "--system-certs"]
    res = cli.ok("pip", "install", "app", "--python", venv.root, "--index-url", url, *extra)
    assert "+ app==1.0" in res.err
    assert venv.versions() == {"app": "1.0"}


# --- hashes ----------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_require_hashes_refuses_requirements_without_hashes(
    cli: Cli, venv: Venv, world: World, tmp_path: Path
) -> None:
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("app==2.0\ndep==2.0\n")
    before = venv.snapshot()
    res = cli("pip", "install", "-r", reqs, "--require-hashes", "--python", venv.root, "--index-url", world.index)
    assert_clean_failure(res, "--require-hashes", "has no --hash")
    assert venv.snapshot() == before


def test_require_hashes_refuses_a_wrong_hash_and_accepts_the_right_one(
    cli: Cli, venv: Venv, world: World, tmp_path: Path, cache_dir: Path
) -> None:
    app, dep = world.wheels["app-2.0"], world.wheels["dep-2.0"]
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"app==2.0 --hash=sha256:{'0' * 64}\ndep==2.0 --hash=sha256:{_sha256(dep)}\n")
    before = venv.snapshot()
    args = ("pip", "install", "-r", reqs, "--require-hashes", "--python", venv.root, "--index-url", world.index)
    assert_clean_failure(cli(*args), "app-2.0-py3-none-any.whl", "0" * 64)
    assert venv.snapshot() == before
    reqs.write_text(f"app==2.0 --hash=sha256:{_sha256(app)}\ndep==2.0 --hash=sha256:{_sha256(dep)}\n")
    cli.ok(*args)
    assert venv.versions() == {"app": "2.0", "dep": "2.0"}
    assert_consistent(venv, cache_dir)


def test_given_hash_checked_against_the_download_when_the_index_lists_none(
    cli: Cli, venv: Venv, world: World, tmp_path: Path, cache_dir: Path
) -> None:
    # The index gives no hash to compare with; the file is swapped in transit. The hash in the
    # requirements file is all that stands between the user and the swapped file.
    world.server.configure("simple", hashes=False)
    world.faults.body("dep-2.0-py3-none-any.whl$", mutate=flip_byte(), times=-1)
    app, dep = world.wheels["app-2.0"], world.wheels["dep-2.0"]
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(f"app==2.0 --hash=sha256:{_sha256(app)}\ndep==2.0 --hash=sha256:{_sha256(dep)}\n")
    before = venv.snapshot()
    res = cli("pip", "install", "-r", reqs, "--require-hashes", "--python", venv.root, "--index-url", world.index)
    assert_clean_failure(res, "dep-2.0-py3-none-any.whl", _sha256(dep))
    assert venv.snapshot() == before
    assert_consistent(venv, cache_dir)


def test_locked_hash_is_checked_by_sync(
    cli: Cli, world: World, tmp_path: Path, cache_dir: Path
) -> None:
    """`torchup sync` installs from pylock.toml: a file that no longer matches the locked hash
    (changed on the index after locking) is refused."""
    import sys

    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        'dependencies = ["app==2.0"]\n'
    )
    index = ("--default-index", world.index)
    cli.ok("lock", "--directory", project, *index)
    world.faults.body("app-2.0-py3-none-any.whl$", mutate=flip_byte(), times=-1)
    res = cli("sync", "--directory", project, *index, "--frozen", "-p", sys.executable)
    assert_clean_failure(res, "app-2.0-py3-none-any.whl", "sha256")
    venv = Venv(project / ".venv")
    assert "app" not in venv.versions()
    assert_consistent(venv, cache_dir)
    # and `pip sync pylock.toml` checks it the same way
    res = cli("pip", "sync", project / "pylock.toml", "--python", venv.root)
    assert_clean_failure(res, "app-2.0-py3-none-any.whl", "sha256")
    assert "app" not in venv.versions()
