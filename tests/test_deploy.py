"""scripts/deploy_space.py, offline: the repository as it is passes the dry run (every file within
the Hub's limits, large and binary files covered by .gitattributes, front matter that matches the
requirements), and made-up folders that break each rule are refused with the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import ROOT

from scripts import deploy_space


def test_the_repository_passes_the_dry_run(capsys):
    assert deploy_space.main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    listed = {line.split()[-1] for line in out.splitlines()[1:-2]}
    assert {"app.py", "README.md", "requirements.txt", ".gitattributes"} <= listed
    assert any(p.startswith("weights/") and p.endswith(".safetensors") for p in listed)
    assert not any(p.startswith(("tests/", "candidates/", "checkpoints/", ".venv/", "data/")) for p in listed)
    big = [e for e in deploy_space.files(ROOT) if e.size > deploy_space.MAX_PLAIN_BYTES]
    assert big and all(e.lfs for e in big)  # the Fashion-MNIST UNet is over 10 MB


@pytest.fixture
def space(tmp_path) -> Path:
    """A minimal Space folder that passes (not a git checkout: every file under INCLUDE counts)."""
    for name in ("README.md", "requirements.txt", ".gitattributes"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "app.py").write_text("print('hello')\n")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.safetensors").write_bytes(b"\0" * 100)
    assert deploy_space.main(["--dry-run", "--root", str(tmp_path)]) == 0
    return tmp_path


def refused(space: Path, capsys) -> str:
    assert deploy_space.main(["--dry-run", "--root", str(space)]) == 1
    return capsys.readouterr().err


def test_a_large_file_outside_lfs_is_refused(space, capsys):
    (space / "weights" / "huge.dat").write_text("x" * (deploy_space.MAX_PLAIN_BYTES + 1))
    assert "weights/huge.dat: 10.0 MB, over 10 MB, and no LFS pattern" in refused(space, capsys)


def test_a_binary_file_outside_lfs_is_refused(space, capsys):
    (space / "weights" / "table.dat").write_bytes(b"\x89\0\1\2")
    assert "weights/table.dat: a binary file" in refused(space, capsys)


def test_without_gitattributes_the_weights_are_refused(space, capsys):
    (space / ".gitattributes").unlink()
    assert "weights/model.safetensors: a binary file, and no LFS pattern" in refused(space, capsys)


def test_front_matter_must_match_the_requirements(space, capsys):
    readme = space / "README.md"
    readme.write_text(readme.read_text().replace("sdk_version: ", "sdk_version: 0.", 1))
    assert "is not the gradio==" in refused(space, capsys)
    readme.write_text("# no front matter\n")
    assert "README.md has no front matter" in refused(space, capsys)


def test_the_app_file_must_be_uploaded(space, capsys):
    (space / "app.py").unlink()
    assert "app_file 'app.py' is not among the uploaded files" in refused(space, capsys)


@pytest.mark.parametrize(
    ("path", "pattern", "expected"),
    [
        ("weights/mnist/vae/model.safetensors", "*.safetensors", True),
        ("model.safetensors", "*.safetensors", True),
        ("weights/a.png", "weights/*.png", True),
        ("weights/mnist/a.png", "weights/*.png", False),
        ("weights/mnist/a.png", "weights/**/*.png", True),
        ("weights/a.png", "weights/**/*.png", True),
        ("readme.md", "*.safetensors", False),
    ],
)
def test_gitattributes_patterns_match_as_git_does(path, pattern, expected):
    assert deploy_space.matches(path, pattern) is expected


def test_an_upload_needs_a_repo_id(capsys):
    with pytest.raises(SystemExit):
        deploy_space.main([])
    with pytest.raises(SystemExit):
        deploy_space.main(["--repo-id", "not a repo id"])
