"""Build every image the stand-in stack names, locally, with the classic builder.

Run by `make images`. The list of images, their Dockerfiles, contexts and build arguments is
read from the compose files themselves (`docker compose config`), so this script holds no
copy of them. Builds use `DOCKER_BUILDKIT=0` (BuildKit would pull its Dockerfile frontend from
a registry) and `--network host` (pip and apt reach their indexes through the host). Docker's
layer cache makes a rebuild that changes nothing take seconds.

    python3 deploy/offline/images.py                 # base image, then the stack's images
    python3 deploy/offline/images.py --gpu           # also the CUDA workers (JAX, TensorFlow)

Standard library only: it runs before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILES = ["docker-compose.yml", "docker-compose.standins.yml"]
PROFILES = ["sentinel", "monitoring"]
BASE_IMAGE = os.environ.get("NST_BASE_IMAGE", "nst-python:3.11-bookworm")
# The GPU images (built, never run here): the production worker on each backend. Weights
# "mounted": this machine reaches no Keras download; baked in they add 80 MB.
GPU_VARIANTS = {
    "nst-worker:jax-cuda": {"BACKEND": "jax", "DEVICE": "cuda"},
    "nst-worker:tensorflow-cuda": {"BACKEND": "tensorflow", "DEVICE": "cuda"},
}


def compose_builds() -> dict[str, dict[str, object]]:
    """image name -> the service's build section, one per image (services may share one)."""
    command = ["docker", "compose"]
    for name in COMPOSE_FILES:
        command += ["-f", name]
    for profile in PROFILES:
        command += ["--profile", profile]
    config = json.loads(
        subprocess.run(
            [*command, "config", "--format", "json"],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    builds: dict[str, dict[str, object]] = {}
    for service in config["services"].values():
        if "build" in service:
            builds.setdefault(service["image"], service["build"])
    return builds


def image_field(
    image: str, template: str, tool: str = "docker", env: dict[str, str] | None = None
) -> str | None:
    """One field of a local image (``{{.Id}}``, ``{{.Size}}``), or None if there is no such
    image. ``tool`` is ``docker`` or ``podman`` (same command line); ``env`` is the tool's
    environment (podman reads its configuration from CONTAINERS_CONF)."""
    result = subprocess.run(
        [tool, "image", "inspect", "-f", template, image],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def build(image: str, context: str, dockerfile: str, args: dict[str, str]) -> None:
    """One classic-builder build, timed; its output goes to a log unless it fails."""
    command = ["docker", "build", "--network", "host", "-f", dockerfile, "-t", image]
    for key, value in sorted(args.items()):
        command += ["--build-arg", f"{key}={value}"]
    log = REPO / ".run" / "images" / (image.replace("/", "_").replace(":", "_") + ".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as out:
        result = subprocess.run(
            [*command, context],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "DOCKER_BUILDKIT": "0"},
        )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        sys.stdout.write(log.read_text()[-4000:])
        sys.exit(f"building {image} failed after {seconds:.0f} s (log: {log})")
    size = image_field(image, "{{.Size}}")
    assert size is not None, f"{image} built but docker does not list it"
    print(f"{image:40} built in {seconds:6.1f} s, {int(size) / 1e9:5.2f} GB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gpu", action="store_true", help="also build the CUDA worker images")
    options = parser.parse_args()
    subprocess.run([str(REPO / "deploy/offline/base-image.sh"), BASE_IMAGE], check=True)
    builds = compose_builds()
    # The API image first: the stand-in createbucket runs it.
    for image in sorted(builds, key=lambda name: not name.startswith("nst-api")):
        spec = builds[image]
        context = str(spec["context"])
        dockerfile = str(Path(context) / str(spec.get("dockerfile", "Dockerfile")))
        build(image, context, dockerfile, dict(spec.get("args") or {}))  # type: ignore[call-overload]
    if options.gpu:
        for image, args in GPU_VARIANTS.items():
            build(
                image,
                str(REPO),
                "deploy/Dockerfile.worker",
                {"PYTHON_IMAGE": BASE_IMAGE, "VGG19_WEIGHTS_SOURCE": "mounted", **args},
            )


if __name__ == "__main__":
    main()
