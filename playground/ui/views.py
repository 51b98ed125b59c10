"""Deep links: a view of the page (dataset, tab, class, seed, settings, presenter mode) as a URL
query, and back. `?dataset=fashion&tab=diffusion&class=Sneaker&seed=3&steps=4` opens that view.

A query is read leniently: a value that is not allowed is left at its default, and the reason is
returned for the page to show, so an old or mistyped link still opens the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from urllib.parse import urlencode

from playground.data import DATASETS
from playground.limits import MAX_GUIDANCE, MAX_IMAGES, MAX_SEED, MAX_STEPS, check_number
from playground.models import FAMILY_TITLES
from playground.models.diffusion import SCHEDULER_NAMES
from playground.ui.gan_tab import MIN_TRUNCATION

TABS = ("gan", "vae", "diffusion", "compare", "latent", "train")
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class View:
    """What a link names. None: the tab's own default (for the sampler: the dataset's model's own)."""

    dataset: str | None = None
    tab: str = "gan"
    class_name: str | None = None  # "any", a class name, or "unconditional"
    seed: int | None = None
    n: int | None = None
    steps: int | None = None  # diffusion
    guidance: float | None = None  # diffusion
    sampler: str | None = None  # diffusion
    truncation: float | None = None  # GAN
    family: str | None = None  # latent space
    present: bool = False


# query key -> View field, for the keys whose names differ
KEYS = {"class": "class_name"}
LIMITS = {  # field: (low, high, whole number), as the page's controls allow
    "seed": (0, MAX_SEED, True),
    "n": (1, MAX_IMAGES, True),
    "steps": (1, MAX_STEPS, True),
    "guidance": (0.0, MAX_GUIDANCE, False),
    "truncation": (MIN_TRUNCATION, 1.0, False),
}


def _number(name: str, raw: str) -> int | float:
    low, high, whole = LIMITS[name]
    try:
        float(raw)
    except ValueError:
        raise ValueError(f"{name}: not a number") from None
    return check_number(raw, name, low, high, integer=whole)


def _class(dataset: str | None, raw: str) -> str:
    names = DATASETS[dataset].class_names if dataset in DATASETS else []
    for choice in ["any", *names, "unconditional"]:
        if raw.strip().lower() == choice.lower():
            return choice
    raise ValueError(f"class must be any, unconditional or one of {', '.join(names) or 'the classes'}")


def parse_view(query: Mapping[str, str], datasets: list[str]) -> tuple[View, list[str]]:
    """The view a URL query names, and what in it was not understood (left at its default)."""
    view, problems = View(dataset=datasets[0] if datasets else None), []
    known = {f.name for f in fields(View)}
    raw = {KEYS.get(k, k): str(v) for k, v in query.items()}
    if "dataset" in raw:  # first: the class names depend on it
        if raw["dataset"] in datasets:
            view = replace(view, dataset=raw["dataset"])
        else:
            problems.append(f"dataset must be one of {', '.join(datasets) or '(none installed)'}")
    for name, value in raw.items():
        if name == "dataset" or name.startswith("__"):  # Spaces add their own (__theme, __sign)
            continue
        try:
            if name not in known:
                raise ValueError(f"{name} is not a setting a link can choose")
            if name == "tab":
                if value not in TABS:
                    raise ValueError(f"tab must be one of {', '.join(TABS)}")
                parsed = value
            elif name == "class_name":
                parsed = _class(view.dataset, value)
            elif name == "sampler":
                if value not in SCHEDULER_NAMES:
                    raise ValueError(f"sampler must be one of {', '.join(SCHEDULER_NAMES)}")
                parsed = value
            elif name == "family":
                if value not in FAMILY_TITLES:
                    raise ValueError(f"family must be one of {', '.join(FAMILY_TITLES)}")
                parsed = value
            elif name == "present":
                if value.lower() not in TRUE + FALSE:
                    raise ValueError("present must be 1 or 0")
                parsed = value.lower() in TRUE
            else:
                parsed = _number(name, value)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        view = replace(view, **{name: parsed})
    return view, problems


def view_query(view: View) -> str:
    """The URL query ("?dataset=…&tab=…") that opens `view`: only what differs from the defaults."""
    pairs = {}
    for f in fields(View):
        value = getattr(view, f.name)
        if value is None or value is False:
            continue
        key = next((k for k, v in KEYS.items() if v == f.name), f.name)
        pairs[key] = 1 if value is True else (f"{value:g}" if isinstance(value, float) else value)
    return "?" + urlencode(pairs)
