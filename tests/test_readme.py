"""The README is part of the product: its front matter, its commands, and CI running its test command."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

import gradio
from conftest import ROOT, endpoints

from playground import cli

README = (ROOT / "README.md").read_text()


def block(marker: str) -> list[str]:
    m = re.search(rf"<!-- {marker} -->\n```\n(.*?)```\n<!-- /{marker} -->", README, re.S)
    assert m, f"README has no {marker} block"
    return m.group(1).strip().splitlines()


def test_spaces_front_matter():
    front = README.split("---\n")[1]
    fields = dict(line.split(": ", 1) for line in front.strip().splitlines())
    assert fields["sdk"] == "gradio" and fields["sdk_version"] == gradio.__version__
    assert fields["app_file"] == "app.py" and fields["python_version"] == '"3.11"'
    assert len(fields["short_description"]) <= 60
    assert fields["license"]


def test_requirements_pin_torch():
    reqs = (ROOT / "requirements.txt").read_text().split()
    assert "torch==2.14.1" in reqs and "torchvision==0.29.1" in reqs


def test_ci_runs_exactly_the_readme_test_command():
    (command,) = block("test-command")
    script = (ROOT / ".ci" / "run").read_text()
    extract = re.search(r"cmd=\$\((.*)\)\n", script).group(1)
    out = subprocess.run(["bash", "-c", extract], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == command
    assert command.endswith("python -m pytest")


def test_run_command_starts_the_app():
    (command,) = block("run-command")
    assert command.endswith("pip install -r requirements.txt && python app.py")


def test_cli_examples_work(use_weights, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for line in block("cli-example"):
        argv = shlex.split(line)
        assert argv[:3] == ["python", "-m", "playground"]
        assert cli.main(argv[3:]) == 0, line
    assert (tmp_path / "sevens.png").is_file() and (tmp_path / "gan.npz").is_file()


def test_metrics_table_is_generated_from_metrics_json():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "metrics_table.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_readme_lists_every_api_endpoint(use_weights):
    from playground.ui import build_app

    served = set(endpoints(build_app()))
    listed = set(re.findall(r"`(\w+)`", README.split("Every action is also an API endpoint:")[1].split("```")[0]))
    assert served == listed
