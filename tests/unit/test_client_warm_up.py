"""HttpClient.warm_up: the TLS context is built once, in the background, errors left to the
first request (which reports them as a NetworkError, not a thread traceback)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from torchup.cache import Cache
from torchup.errors import NetworkError
from torchup.index.client import HttpClient


def _wait_for_warm_up() -> None:
    for thread in threading.enumerate():
        if thread.name == "torchup-tls":
            thread.join(timeout=30)


def test_warm_up_builds_the_context_once_and_pools_share_it() -> None:
    client = HttpClient(Cache(None), proxy_url="http://127.0.0.1:9", no_proxy="localhost")
    client.warm_up()
    _wait_for_warm_up()
    built = client._tls
    assert built is not None
    direct = client._manager("localhost")
    proxied = client._manager("example.org")
    assert direct is not proxied
    assert client._shared_ssl_context() is built
    assert direct.connection_pool_kw["ssl_context"] is built
    client.close()


def test_warm_up_error_surfaces_on_first_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = HttpClient(Cache(None), ssl_cert_file=tmp_path / "missing.pem")
    client.warm_up()
    _wait_for_warm_up()
    assert client._tls is None
    assert "Traceback" not in capsys.readouterr().err
    with pytest.raises(NetworkError, match="missing.pem"):
        client.fetch_bytes("https://127.0.0.1:9/x")


def test_offline_client_starts_no_thread() -> None:
    client = HttpClient(Cache(None), offline=True)
    before = {t.ident for t in threading.enumerate()}
    client.warm_up()
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name == "torchup-tls"]


def test_a_cert_file_that_is_the_default_bundle_is_not_loaded_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SSL_CERT_FILE naming the bundle OpenSSL's defaults load anyway (this machine sets it to
    the system bundle) is not parsed a second time; any other file still is."""
    import ssl

    from torchup.index.client import _is_default_cafile

    default = ssl.get_default_verify_paths().cafile
    if default is None:
        pytest.skip("no default CA file on this machine")
    assert _is_default_cafile(default, default)
    copy = tmp_path / "copy.pem"
    copy.write_bytes(Path(default).read_bytes())
    assert not _is_default_cafile(str(copy), default)
    assert not _is_default_cafile(str(tmp_path / "missing.pem"), default)
    client = HttpClient(Cache(None), ssl_cert_file=default)
    assert client._ssl_context(full=True).cert_store_stats() == ssl.create_default_context().cert_store_stats()
    # Which files are parsed: the real loader, counted (ssl.SSLContext is a Python subclass).
    loaded: list[str] = []
    real_load = ssl.SSLContext.load_verify_locations

    def counting_load(self: ssl.SSLContext, cafile: object = None, *args: object, **kwargs: object) -> None:
        loaded.append(str(cafile))
        real_load(self, cafile, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting_load)
    HttpClient(Cache(None), ssl_cert_file=default)._ssl_context(full=True)
    assert loaded == []
    HttpClient(Cache(None), ssl_cert_file=copy)._ssl_context()  # another file: never lazy
    assert loaded == [str(copy)]
