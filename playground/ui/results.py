"""Finished results, kept: the same request gives the same result, so it is computed once.

Seeds are local generators, so an action's output is a function of its inputs (and of the weights
it loads). A room pressing Generate at the defaults then costs one computation: the first request
computes, requests that arrive meanwhile with the same inputs wait for it, and later ones are
answered from a bounded LRU (cachetools), which forgets the least recently used results beyond
MAX_BYTES. Inputs that are not plain values (an uploaded image, a drawing, a click) are not cached.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import threading
from collections.abc import Callable

import cachetools
from PIL import Image

from playground import weights

MAX_BYTES = 48 * 2**20  # of decoded pixels: a few hundred results at the defaults
# One heavy computation at a time (many network passes: the diffusion views, GAN inversion). It is
# taken only to compute, so a heavy view's answer from the cache does not wait behind one being
# computed (README, "Speed and load").
HEAVY_LOCK = threading.Lock()
FROM_CACHE = " · *answered from the results cache: computed once, with the cost above*"


def _nbytes(value) -> int:
    """Roughly what a result holds in memory: its images' pixels, and a little for the rest."""
    if isinstance(value, Image.Image):
        return value.width * value.height * len(value.getbands())
    if isinstance(value, list | tuple):
        return 64 + sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return 64 + sum(_nbytes(v) for v in value.values())
    return 64 + (len(value) if isinstance(value, str | bytes) else 0)


_cache = cachetools.LRUCache(maxsize=MAX_BYTES, getsizeof=_nbytes)
_pending: set = set()
_condition = threading.Condition()
stats = {"hits": 0, "misses": 0}


def _plain(value):
    """`value` as part of a cache key, with 3 and 3.0 the same; TypeError for what is not plain."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return int(value) if math.isfinite(value) and value == int(value) else float(value)
    raise TypeError(f"not a plain value: {type(value).__name__}")


def _key(fn: Callable, args: tuple, kw: dict) -> tuple:
    plain = tuple(_plain(a) for a in args) + tuple((k, _plain(v)) for k, v in sorted(kw.items()))
    return (fn.__module__, fn.__qualname__, str(weights.weights_root()), *plain)


_MISS = object()


def _claim(key: tuple):
    """The cached value for `key`, or _MISS with the key now the caller's to compute: the same
    request arriving meanwhile waits for it. The caller then calls _release (with the value or not)."""
    with _condition:
        while key in _pending:  # the same request is being computed: wait for it
            _condition.wait()
        if key in _cache:
            stats["hits"] += 1
            return _cache[key]
        _pending.add(key)
        stats["misses"] += 1
        return _MISS


def _release(key: tuple, value=_MISS) -> None:
    """Keep `value` (unless it failed, or is larger than the whole cache) and wake the waiters."""
    with _condition:
        if value is not _MISS:
            try:
                _cache[key] = value
            except ValueError:  # larger than the whole cache: answered, not kept
                pass
        _pending.discard(key)
        _condition.notify_all()


def _noted(value, note_at: int | None):
    """A cached result with its text output (at `note_at`) saying where it came from."""
    if note_at is None or not isinstance(value, tuple) or not isinstance(value[note_at], str):
        return value
    out = list(value)
    out[note_at] += FROM_CACHE
    return tuple(out)


def remembered(note_at: int | None = -1, heavy: bool = False):
    """Cache an action's finished results, keyed by every input. `note_at`: which output is its
    text (the cost line), to say that a result came from the cache; None for none. A generator
    (a streamed action) computes once and streams its steps; from the cache it gives its last.
    `heavy`: it computes holding HEAVY_LOCK (an answer from the cache does not take it)."""

    def wrap(fn: Callable) -> Callable:
        from playground.ui.common import user_errors  # (common imports this module's users)

        fn = user_errors(fn)
        turn = (lambda: HEAVY_LOCK) if heavy else contextlib.nullcontext
        if inspect.isgeneratorfunction(fn):

            def computed(*args, **kw):  # the lock is held across the steps, whichever thread asks for the next
                with turn():
                    yield from fn(*args, **kw)

            @functools.wraps(fn)
            def streamed(*args, **kw):
                try:
                    key = _key(fn, args, kw)
                except TypeError:
                    yield from computed(*args, **kw)
                    return
                value = _claim(key)
                if value is not _MISS:
                    yield _noted(value, note_at)
                    return
                last, done = _MISS, False
                try:
                    for last in computed(*args, **kw):
                        yield last
                    done = True
                finally:  # a visitor who leaves mid-stream keeps nothing: the next one computes
                    _release(key, last if done else _MISS)

            streamed.heavy = heavy
            return streamed

        @functools.wraps(fn)
        def plain(*args, **kw):
            try:
                key = _key(fn, args, kw)
            except TypeError:
                with turn():
                    return fn(*args, **kw)
            value = _claim(key)
            if value is not _MISS:
                return _noted(value, note_at)
            try:
                with turn():
                    value = fn(*args, **kw)
            finally:
                _release(key, value)
            return value

        plain.heavy = heavy
        return plain

    return wrap


def is_heavy(fn: Callable) -> bool:
    """Whether `fn` computes holding HEAVY_LOCK (`remembered(heavy=True)`): its event takes a heavy
    slot (common.HEAVY), at start too (the warm start computes it after the light ones)."""
    return getattr(fn, "heavy", False)


def clear() -> None:
    """Forget every result (the tests do, when they change the weights under a path)."""
    with _condition:
        _cache.clear()
        stats.update(hits=0, misses=0)
