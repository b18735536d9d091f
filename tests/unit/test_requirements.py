"""Tests for torchup.requirements: pip's requirements-file format, parsed purely."""

from __future__ import annotations

import os

import pytest

from torchup.errors import RequirementError
from torchup.requirements import (
    ParsedRequirement,
    RequirementsFile,
    dist_name_from_url,
    parse_requirement_string,
    parse_requirements_file,
    parse_requirements_text,
)

TORCH_URL = (
    "https://download.pytorch.org/whl/cu118/torch-2.2.1%2Bcu118-cp311-cp311-linux_x86_64.whl"
    "#sha256=84328a35621cc6a67a182a327baaab67e5f5869981c4b1677ed05f92c15cceb1"
)

# Seed 004 (uv #2541), verbatim including the leading spaces.
SEED_004 = """\
 whisperX @ https://github.com/m-bain/whisperX/archive/befe2b242eb59dcd7a8a122d127614d5c63d36e9.zip
 pyannote-audio @ git+https://github.com/pyannote/pyannote-audio@11b56a137a578db9335efc00298f6ec1932e6317
 torch @ https://download.pytorch.org/whl/cu118/torch-2.2.1%2Bcu118-cp311-cp311-linux_x86_64.whl#sha256=84328a35621cc6a67a182a327baaab67e5f5869981c4b1677ed05f92c15cceb1
 torchaudio @ https://download.pytorch.org/whl/cu118/torchaudio-2.2.1%2Bcu118-cp311-cp311-linux_x86_64.whl#sha256=cd3b1c3582b17792c6d7a367dea0459b123e54d7a4242809ea87ccc10fa220e5
 pytorch_triton @ https://download.pytorch.org/whl/nightly/pytorch_triton-2.1.0%2B7d1a95b046-cp311-cp311-linux_x86_64.whl
"""

SEED_004_INDEX = """\
 certifi==2024.2.2

 --extra-index-url https://download.pytorch.org/whl/cu118

 whisperX @ https://github.com/m-bain/whisperX/archive/befe2b242eb59dcd7a8a122d127614d5c63d36e9.zip
 pyannote-audio @ git+https://github.com/pyannote/pyannote-audio@11b56a137a578db9335efc00298f6ec1932e6317
 torch==2.2.1+cu118
 torchaudio==2.2.1+cu118
 pytorch_triton @ https://download.pytorch.org/whl/nightly/pytorch_triton-2.1.0%2B7d1a95b046-cp311-cp311-linux_x86_64.whl
"""


def parse(text: str, **kwargs: object) -> RequirementsFile:
    return parse_requirements_text(text, "reqs.txt", **kwargs)  # type: ignore[arg-type]


def only(text: str, **kwargs: object) -> ParsedRequirement:
    parsed = parse(text, **kwargs)
    assert len(parsed.requirements) == 1, parsed.requirements
    return parsed.requirements[0]


# -- seeds ------------------------------------------------------------------------------------


def test_seed_004_direct_wheel_urls_get_name_and_version_from_the_filename() -> None:
    parsed = parse(SEED_004)
    by_name = {r.name: r for r in parsed.requirements}
    assert set(by_name) == {"whisperx", "pyannote-audio", "torch", "torchaudio", "pytorch-triton"}
    torch = by_name["torch"]
    assert torch.version == "2.2.1+cu118"
    assert torch.url == TORCH_URL
    assert torch.hashes == (
        "sha256:84328a35621cc6a67a182a327baaab67e5f5869981c4b1677ed05f92c15cceb1",
    )
    assert by_name["torchaudio"].version == "2.2.1+cu118"
    assert by_name["pytorch-triton"].version == "2.1.0+7d1a95b046"
    # A GitHub archive's file name carries no version: none is invented.
    assert by_name["whisperx"].version is None
    assert by_name["pyannote-audio"].url is not None
    assert by_name["pyannote-audio"].url.startswith("git+https://")
    assert [r.source for r in parsed.requirements] == [f"reqs.txt:{n}" for n in range(1, 6)]


def test_seed_004_index_variant() -> None:
    parsed = parse(SEED_004_INDEX)
    assert parsed.extra_index_urls == ("https://download.pytorch.org/whl/cu118",)
    names = [r.name for r in parsed.requirements]
    assert names == [
        "certifi",
        "whisperx",
        "pyannote-audio",
        "torch",
        "torchaudio",
        "pytorch-triton",
    ]
    torch = parsed.requirements[3]
    assert torch.requirement is not None and str(torch.requirement.specifier) == "==2.2.1+cu118"
    assert torch.source == "reqs.txt:7"


# -- single requirement lines -----------------------------------------------------------------

GOOD_LINES = [
    # text, name, version, url, path, extras, marker
    ("torch>=2.4", "torch", None, None, None, set(), None),
    ("Torch_Vision[Extra]==0.20.1", "torch-vision", None, None, None, {"extra"}, None),
    (
        "torch>=2.4 ; sys_platform == 'linux'",
        "torch",
        None,
        None,
        None,
        set(),
        'sys_platform == "linux"',
    ),
    (
        "https://download.pytorch.org/whl/cpu/torch-2.5.1%2Bcpu-cp312-cp312-linux_x86_64.whl",
        "torch",
        "2.5.1+cpu",
        "https://download.pytorch.org/whl/cpu/torch-2.5.1%2Bcpu-cp312-cp312-linux_x86_64.whl",
        None,
        set(),
        None,
    ),
    (
        "https://x.org/foo-1.0-py3-none-any.whl ; python_version >= '3.8'",
        "foo",
        "1.0",
        "https://x.org/foo-1.0-py3-none-any.whl",
        None,
        set(),
        'python_version >= "3.8"',
    ),
    (
        "./dist/foo-1.0-py3-none-any.whl",
        "foo",
        "1.0",
        None,
        "./dist/foo-1.0-py3-none-any.whl",
        set(),
        None,
    ),
    ("./dist/foo_bar-2.0.tar.gz", "foo-bar", "2.0", None, "./dist/foo_bar-2.0.tar.gz", set(), None),
    ("./project[cuda,dev]", None, None, None, "./project", {"cuda", "dev"}, None),
    (".", None, None, None, ".", set(), None),
    (
        "git+https://github.com/a/b@main#egg=bee",
        "bee",
        None,
        "git+https://github.com/a/b@main#egg=bee",
        None,
        set(),
        None,
    ),
    ("foo @ ./local/dir", "foo", None, None, "./local/dir", set(), None),
    (
        "foo @ file:///tmp/foo-1.0-py3-none-any.whl",
        "foo",
        "1.0",
        "file:///tmp/foo-1.0-py3-none-any.whl",
        "/tmp/foo-1.0-py3-none-any.whl",
        set(),
        None,
    ),
    # `/` inside a marker value does not make it a path.
    (
        "foo ; platform_release == '5.4/x'",
        "foo",
        None,
        None,
        None,
        set(),
        'platform_release == "5.4/x"',
    ),
]


@pytest.mark.parametrize("text,name,version,url,path,extras,marker", GOOD_LINES)
def test_requirement_lines(
    text: str,
    name: str | None,
    version: str | None,
    url: str | None,
    path: str | None,
    extras: set[str],
    marker: str | None,
) -> None:
    req = only(text + "\n")
    assert req.name == name
    assert req.version == version
    assert req.url == url
    if path is not None and path.startswith("/"):
        assert req.path == os.path.normpath(path) or req.path == path
    else:
        assert req.path == path
    assert set(req.extras) == extras
    assert (str(req.marker) if req.marker else None) == marker
    assert req.source == "reqs.txt:1"


def test_local_paths_join_working_dir() -> None:
    req = only("./dist/foo-1.0-py3-none-any.whl\n", working_dir="/work/proj")
    assert req.path == os.path.normpath("/work/proj/dist/foo-1.0-py3-none-any.whl")


def test_requirement_for_local_path_carries_no_url() -> None:
    req = only("foo @ ./local/dir\n")
    assert req.requirement is not None and req.requirement.url is None
    assert req.is_direct


# -- options ----------------------------------------------------------------------------------


def test_options_and_hashes() -> None:
    text = """\
# a comment
--index-url https://download.pytorch.org/whl/cu128
--extra-index-url=https://pypi.org/simple  # trailing comment
-f ./wheels
--no-index
--pre
--trusted-host example.org
--only-binary=:all:
--require-hashes
torch==2.8.0+cu128 \\
    --hash=sha256:AA11 \\
    --hash sha256:bb22
-e ./proj
"""
    parsed = parse_requirements_text(text, "sub/reqs.txt")
    assert parsed.index_url == "https://download.pytorch.org/whl/cu128"
    assert parsed.extra_index_urls == ("https://pypi.org/simple",)
    # find-links paths are relative to the file that names them.
    assert parsed.find_links == (os.path.join("sub", "./wheels"),)
    assert parsed.no_index and parsed.pre and parsed.require_hashes
    assert parsed.trusted_hosts == ("example.org",)
    assert parsed.only_binary == (":all:",)
    torch, proj = parsed.requirements
    assert torch.hashes == ("sha256:aa11", "sha256:bb22")
    assert torch.source == "sub/reqs.txt:10"
    assert proj.editable and proj.path == "./proj" and proj.requirement is None
    assert proj.source == "sub/reqs.txt:13"


def test_env_var_expansion_uses_the_given_mapping_only() -> None:
    text = "--index-url ${INDEX}/simple\nfoo==${VERSION}\nbar==${UNSET_VAR}\n"
    with pytest.raises(RequirementError, match=r"reqs.txt:3: invalid requirement"):
        parse(text, env={"INDEX": "https://example.org", "VERSION": "1.0"})
    parsed = parse(
        text.replace("bar==${UNSET_VAR}\n", ""), env={"INDEX": "https://e.org", "VERSION": "1.0"}
    )
    assert parsed.index_url == "https://e.org/simple"
    assert str(parsed.requirements[0].requirement) == "foo==1.0"


def test_continuation_keeps_first_line_number() -> None:
    text = "\n\nfoo\\\n>=1.0\nbar\n"
    parsed = parse(text)
    assert [(str(r.requirement), r.source) for r in parsed.requirements] == [
        ("foo>=1.0", "reqs.txt:3"),
        ("bar", "reqs.txt:5"),
    ]


def test_url_fragment_is_not_a_comment() -> None:
    req = only("https://x.org/foo-1.0-py3-none-any.whl#sha256=abcd  # real comment\n")
    assert req.hashes == ("sha256:abcd",)


# -- nested files -----------------------------------------------------------------------------


def files_reader(files: dict[str, str]):  # type: ignore[no-untyped-def]
    def read(location: str) -> str:
        key = os.path.normpath(location)
        if key not in files:
            raise FileNotFoundError(2, "No such file or directory", location)
        return files[key]

    return read


def test_nested_requirements_and_constraints_are_relative_to_the_including_file() -> None:
    files = {
        "reqs.txt": "-r sub/base.txt\n-c constraints.txt\ntorch\n",
        os.path.normpath("sub/base.txt"): "numpy\n-r more.txt\n",
        os.path.normpath("sub/more.txt"): "pillow\n",
        "constraints.txt": "numpy<2\n",
    }
    parsed = parse_requirements_file("reqs.txt", read_file=files_reader(files))
    assert [r.name for r in parsed.requirements] == ["numpy", "pillow", "torch"]
    assert [r.name for r in parsed.constraints] == ["numpy"]
    assert parsed.constraints[0].is_constraint
    assert parsed.constraints[0].source == "constraints.txt:1"
    assert parsed.requirements[1].source == f"{os.path.join('sub', 'more.txt')}:1"
    assert len(parsed.files) == 4


def test_cycle_is_an_error_naming_the_chain() -> None:
    files = {"a.txt": "foo\n-r b.txt\n", "b.txt": "-r a.txt\n"}
    with pytest.raises(RequirementError) as info:
        parse_requirements_file("a.txt", read_file=files_reader(files))
    assert str(info.value).startswith(
        "b.txt:1: requirements file includes itself: a.txt -> b.txt -> a.txt"
    )


def test_missing_nested_file_names_the_including_line() -> None:
    files = {"a.txt": "foo\n\n-r missing.txt\n"}
    with pytest.raises(
        RequirementError, match=r"^a.txt:3: could not read included file missing.txt"
    ):
        parse_requirements_file("a.txt", read_file=files_reader(files))


def test_missing_top_file() -> None:
    with pytest.raises(RequirementError, match=r"^nope.txt: could not read requirements file"):
        parse_requirements_file("nope.txt", read_file=files_reader({}))


def test_reads_from_disk(tmp_path: object) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    (root / "sub").mkdir()
    (root / "reqs.txt").write_text("\ufeff-r sub/other.txt\ntorch\n", encoding="utf-8")
    (root / "sub" / "other.txt").write_text("numpy\n", encoding="utf-8")
    parsed = parse_requirements_file(root / "reqs.txt")
    assert [r.name for r in parsed.requirements] == ["numpy", "torch"]


# -- errors -----------------------------------------------------------------------------------

BAD = [
    ("--foo\n", "reqs.txt:1: unknown option --foo"),
    ("torch\n--indx-url https://x\n", "reqs.txt:2: unknown option --indx-url"),
    ("torch --index-url https://x\n", "reqs.txt:1: option --index-url cannot follow a requirement"),
    ("-r\n", "reqs.txt:1: option -r needs a value"),
    ("--hash=sha256:abcd\n", "reqs.txt:1: option --hash must follow a requirement"),
    ("torch --hash=md5:abcd\n", "reqs.txt:1: invalid --hash 'md5:abcd'"),
    ("torch --hash=sha256:xyz\n", "reqs.txt:1: invalid --hash 'sha256:xyz'"),
    ("\n\nfoo==\n", "reqs.txt:3: invalid requirement 'foo=='"),
    ("--no-index=1\n", "reqs.txt:1: option --no-index takes no value"),
    ("--index-url not-a-url\n", "reqs.txt:1: --index-url needs a URL"),
    (
        "torch @ https://x.org/tortch-1.0-py3-none-any.whl\n",
        "reqs.txt:1: requirement names 'torch' but the wheel 'tortch-1.0-py3-none-any.whl' is for 'tortch'",
    ),
    ("foo @ https://x.org/foo-1.0.whl; python_version>'3'\n", "reqs.txt:1: invalid requirement"),
    (
        "-e ./dist/foo-1.0-py3-none-any.whl\n",
        "reqs.txt:1: cannot install ./dist/foo-1.0-py3-none-any.whl as editable",
    ),
    (
        "-e https://x.org/foo\n",
        "reqs.txt:1: editable requirements need a local directory or a VCS URL",
    ),
    ("--index-url 'unterminated\n", "reqs.txt:1: cannot split options"),
    ("./proj[b@d]\n", "reqs.txt:1: invalid extra name 'b@d'"),
]


@pytest.mark.parametrize("text,message", BAD)
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(RequirementError) as info:
        parse(text)
    assert str(info.value).startswith(message), str(info.value)
    assert info.value.hint  # every error says how to fix it
    assert info.value.path == "reqs.txt"


def test_constraints_must_be_named_and_not_editable() -> None:
    with pytest.raises(RequirementError, match="constraints must name a project"):
        parse(".\n", constraint=True)
    with pytest.raises(RequirementError, match="editable requirements are not allowed"):
        parse("-e git+https://x.org/r#egg=r\n", constraint=True)


def test_unknown_option_suggests_the_closest() -> None:
    with pytest.raises(RequirementError) as info:
        parse("--extra-index https://x\n--extra-idx-url https://x\n")
    assert info.value.hint == "did you mean --extra-index-url?"


# -- helpers ----------------------------------------------------------------------------------

DIST_NAMES = [
    (TORCH_URL, ("torch", "2.2.1+cu118")),
    (
        "https://x/pytorch_triton-2.1.0%2B7d1a95b046-cp311-cp311-linux_x86_64.whl",
        ("pytorch-triton", "2.1.0+7d1a95b046"),
    ),
    ("./dist/Foo_Bar-1.0.tar.gz", ("foo-bar", "1.0")),
    ("C:\\wheels\\foo-1.0-py3-none-any.whl", ("foo", "1.0")),
    ("https://github.com/a/b/archive/befe2b242eb59dcd7a8a122d127614d5c63d36e9.zip", None),
    ("https://x/not-a-wheel.whl", None),
    ("https://x/simple/torch/", None),
    ("", None),
]


@pytest.mark.parametrize("url,expected", DIST_NAMES)
def test_dist_name_from_url(url: str, expected: tuple[str, str] | None) -> None:
    assert dist_name_from_url(url) == expected


def test_parse_requirement_string_labels_errors() -> None:
    req = parse_requirement_string("torch>=2.4", "command line")
    assert req.name == "torch" and req.source == "command line"
    with pytest.raises(RequirementError, match=r"^pyproject.toml:7: invalid requirement"):
        parse_requirement_string("torch>=", "pyproject.toml:7")


def test_round_trip_to_dict() -> None:
    parsed = parse(SEED_004 + "-e ./proj[dev]\n--pre\n")
    assert RequirementsFile.from_dict(parsed.to_dict()) == parsed


def test_file_url_path_decodes_once() -> None:
    from torchup.requirements import file_url_path

    assert file_url_path("file:///tmp/dists/a%2541-1.0-py3-none-any.whl") == "/tmp/dists/a%41-1.0-py3-none-any.whl"
    assert file_url_path("file:///tmp/with%20space/x.whl") == "/tmp/with space/x.whl"
    assert file_url_path("file://localhost/tmp/x.whl") == "/tmp/x.whl"
