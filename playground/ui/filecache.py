"""Output images reach the browser whole, however many visitors ask for the same one.

Gradio (6.31) saves each output image into its cache at a path named by the hash of the image's
bytes, and when that file is there already it rewrites it in place
(`gradio.processing_utils.save_pil_to_cache`: `Path.write_bytes`, which truncates first). Two
visitors who get the same image (same seed, same settings: common in a classroom) then race: the
file route answers one with the file's size, the other request truncates the file, and the
download ends early ("Too little data for declared Content-Length" on the server, a broken image
in the browser). Gradio's own `save_file_to_cache` already writes under a temporary name and
renames into place; `install` makes image saving do the same, so a reader always sees a whole file.

It also encodes each image once: a result answered from the results cache is the same PIL object
as before, and its file is still there, so it is not encoded again (under a room's load PNG
encoding had been a fifth of the server's time).
"""

from __future__ import annotations

import os
import tempfile
import threading
import weakref
from pathlib import Path

from gradio import processing_utils
from PIL import Image

_saved: dict[int, dict] = {}  # id(image) -> {(folder, name, format): path}, while the image lives
_lock = threading.Lock()


def save_pil_to_cache(img: Image.Image, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """Gradio's `save_pil_to_cache` (same path, same bytes), written atomically, and encoded
    once per image object while its file exists."""
    key = (str(cache_dir), name, format)
    with _lock:
        known = _saved.get(id(img), {}).get(key)
    if known and os.path.exists(known):
        return known
    path = _write(img, cache_dir, name, format)
    with _lock:
        if id(img) not in _saved:  # PIL images are unhashable: keyed by id, forgotten when collected
            _saved[id(img)] = {}
            weakref.finalize(img, _forget, id(img))
        _saved[id(img)][key] = path
    return path


def _forget(key: int) -> None:
    with _lock:
        _saved.pop(key, None)


def _write(img: Image.Image, cache_dir: str, name: str, format: str) -> str:
    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    path = (folder / f"{name}.{format}").resolve()
    fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(staging, 0o644)  # as `write_bytes` would leave it (mkstemp makes it private)
        os.replace(staging, path)
    except BaseException:
        Path(staging).unlink(missing_ok=True)
        raise
    return str(path)


def install() -> None:
    """Route gradio's image saving (gr.Image, gr.Gallery, numpy arrays too) through the atomic
    writer. Idempotent."""
    processing_utils.save_pil_to_cache = save_pil_to_cache
