"""Built-in styles: paintings a user picks by id instead of uploading one.

The operator points NST_PRESETS_DIR at a folder of paintings (JPEG, PNG or WebP; ``make up``
offers the paintings of ../shared/images beside the checkout, else the two of examples/) and
may list the ones to offer in NST_PRESETS (file names without extension; default all). Each
is decoded once with the same rules as an upload, stored once in object storage under
``presets/{id}.jpg`` the first time a job asks for it, and referenced by id from every job that
uses it: no job copies it.

Each preset has a title and an artist for people to read: from ``presets.json`` in the folder
(``{"id": {"title": ..., "artist": ...}}``) where the operator wrote one, else from the
paintings this project ships or suggests (``KNOWN_PAINTINGS``), else from the file name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps

from contract.errors import ConfigError, InvalidParams
from shared.images import decode_image, encode_input, encode_jpeg

SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
STORED_LONG_SIDE = 1024  # the largest style a job can ask for at NST_MAX_SIZE's default
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
LABELS_FILE = "presets.json"
KNOWN_PAINTINGS: dict[str, tuple[str, str]] = {
    "starry_night": ("The Starry Night", "Vincent van Gogh"),
    "the_scream": ("The Scream", "Edvard Munch"),
    "shipwreck": ("The Shipwreck", "J. M. W. Turner"),
    "woman-with-hat-matisse": ("Woman with a Hat", "Henri Matisse"),
}


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    path: Path
    artist: str | None = None

    @property
    def key(self) -> str:
        """Where the preset's image lives in object storage."""
        return preset_key(self.id)


def preset_key(preset_id: str) -> str:
    return f"presets/{preset_id}.jpg"


class PresetCatalog:
    """The presets a deployment offers, read from its folder once at start-up."""

    def __init__(self, folder: str | None, chosen: tuple[str, ...] = ()) -> None:
        self.presets: dict[str, Preset] = {}
        if folder is None:
            return
        root = Path(folder)
        if not root.is_dir():
            raise ConfigError(f"NST_PRESETS_DIR: no folder at {folder}")
        labels = {**KNOWN_PAINTINGS, **_labels(root)}
        for path in sorted(p for p in root.iterdir() if p.suffix.lower() in SUFFIXES):
            preset_id = path.stem.lower()
            if _ID.match(preset_id) and (not chosen or preset_id in chosen):
                title, artist = labels.get(preset_id, (_title(preset_id), None))
                self.presets[preset_id] = Preset(preset_id, title, path, artist)
        missing = sorted(set(chosen) - set(self.presets))
        if missing:
            raise ConfigError(f"NST_PRESETS: no image for {', '.join(missing)} in {folder}")

    def get(self, preset_id: str) -> Preset:
        """The preset, or InvalidParams naming the ones there are."""
        if preset_id not in self.presets:
            offered = ", ".join(self.presets) or "none on this service"
            raise InvalidParams(
                f"unknown style preset {shown_id(preset_id)} (offered: {offered})",
                field="style_preset",
            )
        return self.presets[preset_id]

    def image(self, preset: Preset, max_pixels: int) -> bytes:
        """The preset as stored for jobs: decoded like an upload, at most 1024 px, JPEG."""
        decoded = decode_image(preset.path.read_bytes(), max_pixels, preset.id, STORED_LONG_SIDE)
        decoded.thumbnail((STORED_LONG_SIDE, STORED_LONG_SIDE))
        return encode_input(decoded)

    def size(self, preset: Preset) -> tuple[int, int]:
        """The painting's (width, height), upright, for the aspect check at submit."""
        with Image.open(preset.path) as image:
            return tuple(ImageOps.exif_transpose(image).size)  # type: ignore[return-value]

    def thumbnail(self, preset: Preset, max_pixels: int, side: int = 160) -> bytes:
        decoded = decode_image(preset.path.read_bytes(), max_pixels, preset.id, side)
        decoded.thumbnail((side, side))
        return encode_jpeg(decoded, quality=80)


def shown_id(preset_id: str, limit: int = 40) -> str:
    """An id as an error message may quote it: cut to ``limit`` characters, never echoed whole.

    The id comes from the request; a 100 KB one must not come back in the answer.
    """
    if len(preset_id) <= limit:
        return repr(preset_id)
    return f"{preset_id[:limit]!r}… ({len(preset_id)} characters)"


def _title(preset_id: str) -> str:
    return re.sub(r"[-_]+", " ", preset_id).strip().capitalize()


def _labels(root: Path) -> dict[str, tuple[str, str | None]]:
    """Titles and artists from the folder's ``presets.json``; ConfigError if it is unreadable."""
    path = root / LABELS_FILE
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {
            str(preset_id): (str(entry["title"]), entry.get("artist") and str(entry["artist"]))
            for preset_id, entry in entries.items()
        }
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"NST_PRESETS_DIR: {LABELS_FILE} must map ids to {{title, artist}}: {exc}"
        ) from None
