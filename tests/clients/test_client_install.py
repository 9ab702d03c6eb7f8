"""A client-only install (``pip install nst-service``, no extras) runs ``nst`` and the client.

The base dependencies are the client's; Celery, boto3, Flask, Pillow, NumPy and TensorFlow
belong to the server extras. A subprocess whose imports of those fail stands in for a machine
that lacks them: the service commands must work there, and ``nst run`` must say what it needs.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from tests.helpers import free_port

REPO = Path(__file__).resolve().parents[2]
SERVER_ONLY = [
    "celery",
    "kombu",
    "redis",
    "flask",
    "werkzeug",
    "boto3",
    "botocore",
    "tensorflow",
    "keras",
    "jax",
    "PIL",
    "numpy",
    "pydantic_settings",
    "gunicorn",
    "gevent",
    "tenacity",
    "h5py",
    "standardwebhooks",
    "swagger_ui",
]
WITHOUT_SERVER_LIBRARIES = f"""
import sys
from importlib.abc import MetaPathFinder
BLOCKED = {set(SERVER_ONLY)!r}
class Blocker(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not installed (client-only install)")
sys.meta_path.insert(0, Blocker())
from cli import main
main(sys.argv[1:], prog_name="nst")
"""


def nst_without_server_libraries(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_SERVER_LIBRARIES, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_base_dependencies_are_the_clients_only() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {Requirement(line).name.lower() for line in project["dependencies"]}
    assert names == {"pydantic", "requests", "click", "tqdm"}


def test_service_commands_run_without_server_libraries() -> None:
    help_text = nst_without_server_libraries("submit", "--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "--style-weight" in help_text.stdout
    down = nst_without_server_libraries("jobs", "--api", f"127.0.0.1:{free_port()}")
    assert down.returncode == 3, down.stderr  # reached the client, which found no service
    assert down.stderr.startswith("nst: error: cannot reach the service")


def test_nst_run_without_the_engine_says_what_to_install(tmp_path: Path) -> None:
    result = nst_without_server_libraries("run", "a.jpg", "b.jpg", "-o", str(tmp_path / "o.png"))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "nst: error: nst run needs the engine, which is not installed: pip install "
        "'nst-service[engine]' (or submit the job to a service with nst submit)"
    ]
