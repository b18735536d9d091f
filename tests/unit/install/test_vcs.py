"""GitUrl: pip's ``git+`` URL form read into repository, revision and subdirectory."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchup.errors import VcsError
from torchup.install.vcs import GitCheckout, GitUrl, is_git_url


@pytest.mark.parametrize(
    ("url", "repository", "revision", "subdirectory"),
    [
        (
            "git+https://github.com/pypa/sampleproject.git",
            "https://github.com/pypa/sampleproject.git",
            None,
            None,
        ),
        (
            "git+https://github.com/pypa/sampleproject.git@main",
            "https://github.com/pypa/sampleproject.git",
            "main",
            None,
        ),
        # the user part's "@" is not a revision; the path's last "@" is
        ("git+ssh://git@github.com/o/r.git", "ssh://git@github.com/o/r.git", None, None),
        ("git+ssh://git@github.com/o/r.git@v1.2", "ssh://git@github.com/o/r.git", "v1.2", None),
        ("git+https://h/o/r@refs/pull/1/head", "https://h/o/r", "refs/pull/1/head", None),
        (
            "git+file:///srv/repo@" + "a" * 40 + "#subdirectory=pkgs/one&egg=one",
            "file:///srv/repo",
            "a" * 40,
            "pkgs/one",
        ),
        ("git+https://h/o/r.git#egg=r", "https://h/o/r.git", None, None),
    ],
)
def test_parse(url: str, repository: str, revision: str | None, subdirectory: str | None) -> None:
    parsed = GitUrl.parse(url)
    assert (parsed.repository, parsed.revision, parsed.subdirectory) == (
        repository,
        revision,
        subdirectory,
    )


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("https://h/o/r.git", "is not a git URL"),
        ("git+ftp://h/o/r.git", "does not name a repository git can fetch"),
        ("git+h/o/r.git", "does not name a repository git can fetch"),
        ("git+https://h/o/r.git#subdirectory=../x", "leaves the repository"),
        ("git+https://h", "names no repository path"),
    ],
)
def test_parse_refuses_with_words(url: str, words: str) -> None:
    with pytest.raises(VcsError) as info:
        GitUrl.parse(url)
    assert words in str(info.value) and "hint:" in str(info.value)


def test_stand_in_name_pinned_url_and_direct_url() -> None:
    url = GitUrl.parse("git+https://github.com/pytorch/vision.git@v0.20.0")
    assert url.project_hint == "vision"
    assert GitUrl.parse("git+file:///r#subdirectory=libs/my_pkg").project_hint == "my_pkg"
    commit = "0123456789abcdef0123456789abcdef01234567"
    assert url.pinned(commit) == f"git+https://github.com/pytorch/vision.git@{commit}"
    sub = GitUrl.parse("git+file:///r@v1#subdirectory=a/b")
    assert sub.pinned(commit) == f"git+file:///r@{commit}#subdirectory=a/b"
    checkout = GitCheckout(url=sub, commit=commit, root=Path("/cache/x"))
    assert checkout.source_dir == Path("/cache/x/a/b")
    assert checkout.direct_url() == {
        "url": "file:///r",
        "vcs_info": {"vcs": "git", "commit_id": commit, "requested_revision": "v1"},
        "subdirectory": "a/b",
    }
    assert is_git_url("git+https://h/r") and not is_git_url("https://h/r") and not is_git_url(None)
