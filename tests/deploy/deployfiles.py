"""Read the deployment files and the code they point at, without importing that code.

The deploy tests check that docker-compose.yml, the Dockerfiles and deploy/k8s name things
that exist (modules, app objects, routes, settings). The modules they name may import
TensorFlow or Redis, so they are read with ``ast``, never imported.
"""

from __future__ import annotations

import ast
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from shared.settings import ENV_PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
API_DOCKERFILE = DEPLOY / "Dockerfile.api"
WORKER_DOCKERFILE = DEPLOY / "Dockerfile.worker"

# A SIGTERM'd worker writes a checkpoint, uploads it and requeues its job; the stop grace
# (compose stop_grace_period, k8s terminationGracePeriodSeconds) must cover one checkpoint
# interval plus the upload. deploy/README.md ("Stopping a worker") documents this number.
MIN_STOP_GRACE_SECONDS = 300

# Environment variables the deployment may set besides NST_* settings, read by libraries:
# boto3's credentials and the CUDA kernel cache location.
NON_SETTINGS_ENV = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "CUDA_CACHE_PATH"}


def settings_env_names() -> set[str]:
    """Every environment variable name shared.settings.Settings reads."""
    return {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}


def settings_default(name: str) -> Any:
    """The default of one Settings field, e.g. ``settings_default("queue")``."""
    return Settings.model_fields[name].default


def tool(name: str) -> str:
    """Path of a console script installed next to this interpreter, or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    assert found, f"{name} is not installed: pip install -e '.[dev]'"
    return found


def load_compose() -> dict[str, Any]:
    """docker-compose.yml as plain data, YAML anchors and merge keys resolved."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def compose_environment(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment, whether written as a mapping or a list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: str(value) for key, value in env.items()}


def k8s_documents() -> list[tuple[Path, dict[str, Any]]]:
    """Every YAML document under deploy/k8s with the file it came from."""
    return [
        (path, doc)
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def k8s_objects(kind: str) -> dict[str, dict[str, Any]]:
    """The deploy/k8s objects of one kind, by metadata.name."""
    return {doc["metadata"]["name"]: doc for _, doc in k8s_documents() if doc.get("kind") == kind}


def option_value(args: list[str], option: str) -> str:
    """The value after ``option`` in an argv list (``--opt value`` or ``--opt=value``)."""
    for i, arg in enumerate(args):
        if arg == option and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(option + "="):
            return arg.split("=", 1)[1]
    raise AssertionError(f"{option} missing from {args}")


def parse_duration(text: str | int) -> float:
    """Seconds in a compose duration such as ``300s``, ``5m`` or ``1m30s``."""
    if isinstance(text, int):
        return float(text)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


# --- the code the deployment points at ---------------------------------------------------


def module_file(module: str) -> Path:
    """The source file of a project module, e.g. ``api.app`` -> api/app.py."""
    base = REPO.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    raise AssertionError(f"module {module} not found at {base}.py")


def top_level_names(path: Path) -> dict[str, type[ast.AST]]:
    """Names a module defines at top level, with the kind of statement defining them.

    A module-level ``__getattr__`` (PEP 562) that names an attribute as a string literal,
    as in ``if name == "app"``, defines that attribute lazily: it counts as an assignment.
    """
    names: dict[str, type[ast.AST]] = {}
    for node in ast.parse(path.read_text(), filename=str(path)).body:
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
            for inner in ast.walk(node):
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                    names.setdefault(inner.value, ast.Assign)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = type(node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    names[target.id] = ast.Assign
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names[node.target.id] = ast.Assign
    return names


def assert_target_defined(target: str) -> None:
    """Check a ``module:name`` or ``module:factory()`` target, as gunicorn/celery read it."""
    module, _, attr = target.partition(":")
    assert attr, f"{target!r} is not module:attribute"
    is_call = attr.endswith("()")
    attr = attr.removesuffix("()")
    defined = top_level_names(module_file(module))
    assert attr in defined, f"{module} does not define {attr} at top level"
    if is_call:
        assert defined[attr] is ast.FunctionDef, f"{module}.{attr} is called but not a function"


@cache
def string_constants(package: str) -> frozenset[str]:
    """Every string literal in a package's Python files (routes, metric names)."""
    found: set[str] = set()
    for path in (REPO / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                found.add(node.value)
    return frozenset(found)


# --- Dockerfiles --------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, continuation lines joined."""

    keyword: str
    args: str


def dockerfile_instructions(path: Path) -> list[Instruction]:
    """The instructions of a Dockerfile in order, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line}" if pending else line
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        keyword, _, args = pending.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
        pending = ""
    return instructions


def final_stage(path: Path) -> list[Instruction]:
    """The instructions of the last build stage: what the image runs."""
    instructions = dockerfile_instructions(path)
    last_from = max(i for i, ins in enumerate(instructions) if ins.keyword == "FROM")
    return instructions[last_from:]


def dockerfile_env(instructions: list[Instruction]) -> dict[str, str]:
    """Variables set by ENV instructions (``KEY=value`` form)."""
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "ENV":
            for match in re.finditer(r'(\w+)=("[^"]*"|\S*)', ins.args):
                env[match.group(1)] = match.group(2).strip('"')
    return env


def exec_form(args: str) -> list[str]:
    """The argv of a JSON-form CMD/HEALTHCHECK CMD."""
    parsed = yaml.safe_load(args)
    assert isinstance(parsed, list), f"not exec form: {args}"
    return [str(item) for item in parsed]


def copy_sources(path: Path) -> Iterator[str]:
    """Build-context paths that COPY instructions read (``--from`` copies excluded)."""
    for ins in dockerfile_instructions(path):
        if ins.keyword != "COPY" or "--from=" in ins.args:
            continue
        words = [w for w in ins.args.split() if not w.startswith("--")]
        yield from words[:-1]
