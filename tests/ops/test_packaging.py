"""The deploy files agree with each other: Dockerfile, README (Space front matter, two commands), CI, requirements."""
from __future__ import annotations

import re

from tests.conftest import REPO


def test_readme_has_space_front_matter_and_two_commands():
    text = (REPO / "README.md").read_text()
    front = text.split("---")[1]
    assert re.search(r"^sdk: gradio$", front, re.M) and re.search(r"^app_file: app.py$", front, re.M)
    gradio_pin = re.search(r"^gradio==([\d.]+)$", (REPO / "requirements.txt").read_text(), re.M).group(1)
    assert f"sdk_version: {gradio_pin}" in front
    assert "./run.sh " in text and "./run.sh test" in text


def test_dockerfile_installs_requirements_and_serves_app_on_7860():
    docker = (REPO / "Dockerfile").read_text()
    assert "pip install -r requirements.txt" in docker
    assert 'CMD ["python", "app.py", "--host", "0.0.0.0", "--port", "7860"]' in docker
    assert "EXPOSE 7860" in docker


def test_run_sh_starts_the_same_app_and_ci_runs_the_readme_test_command():
    run = (REPO / "run.sh").read_text()
    assert 'app.py "$@"' in run and "-r \"$1\"" in run
    ci = (REPO / ".ci" / "run").read_text()
    assert "./run.sh test" in ci and "chromium" in ci


def test_app_refuses_a_missing_bundle_with_the_build_command(tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "app.py", "--bundle", str(tmp_path / "nowhere")], cwd=REPO, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2
    assert "python -m backend build demo" in r.stderr and "Traceback" not in r.stderr
