"""The shared latent-space panel: every family samples a vector and decodes it — see how."""

from __future__ import annotations

import functools

import gradio as gr
import numpy as np
import torch
from PIL import Image

from playground import plots, weights
from playground.images import grid, tile, to_pil
from playground.latent import IMAGE_MAP_GROUPS, INTERPOLATIONS, LatentMap, image_space_points, interpolate
from playground.models import FAMILY_TITLES, LatentSpace, make_generator
from playground.models.diffusion import INVERSION_STEPS, NOISE_SPACE_STEPS
from playground.models.gan import INVERSION_STEPS as GAN_INVERSION_STEPS
from playground.ui import common, results

LESSON = f"""### One idea, three latent spaces
Every family makes an image the same way: **take a vector from a latent space and decode it**.
The spaces differ: the GAN's `z` and the VAE's code have a few dozen numbers each. Diffusion's sampler reads
the most: its starting noise `x_T`, as large as the image, and fresh noise at each of its
{NOISE_SPACE_STEPS} steps, {(NOISE_SPACE_STEPS + 1) * 28 * 28:,} numbers in all for 28 × 28 images. The maps below squeeze each space to two dimensions (PCA).
**Click anywhere on a map** to decode that point."""


# "Encode three ways" decodes diffusion's DDIM inversion with DDIM itself, unguided.
DDIM_DECODER = {"num_inference_steps": INVERSION_STEPS, "scheduler": "ddim", "guidance_scale": 1.0}


def clear_cache() -> None:
    """Forget the fitted maps and drawn figures (the tests do, when they change the weights)."""
    for cached in (_fitted_map, plain_map, _image_map):
        cached.cache_clear()


def _family(family) -> str:
    if family not in FAMILY_TITLES:
        raise gr.Error(f"unknown family {family!r}; choose one of {', '.join(FAMILY_TITLES)}")
    return family


@functools.cache
def _fitted_map(dataset: str, family: str) -> LatentMap:
    tensors, _ = weights.load_latent_maps(dataset)
    return LatentMap.fit(tensors[f"{family}_latents"], tensors[f"{family}_labels"])


def get_map(dataset: str, family: str) -> tuple[LatentMap, str]:
    """The family's 2-D PCA map (fitted once per dataset and family, then cached)."""
    common.dataset_info(dataset)
    family = _family(family)
    try:
        _, how = weights.load_latent_maps(dataset)
    except weights.WeightsError as exc:
        raise gr.Error(str(exc)) from None
    return _fitted_map(dataset, family), how.get(family, "")


READING = {
    "vae": "These are the codes of the VAE used without a label (its unconditional mode). Not told the class, "
    "its codes still gather by class: the encoder found the classes as the easiest way to compress the images.",
    "gan": "A conditional GAN gets the class as a separate input, so `z` need not carry it: where the map "
    "shows little order, `z` holds the style (slant, thickness) and the class comes from elsewhere.",
    "diffusion": "Diffusion's vectors are noise and nothing else, and the map shows no order by class: no single "
    "direction of all that noise decides the class. It is decided along the way, step by step, as the "
    "sampler turns noise into an image.",
}


def draw_map(dataset: str, family: str, marks=(), path=None) -> tuple[Image.Image, object]:
    m, _ = get_map(dataset, family)
    info = common.dataset_info(dataset)
    share = m.explained()
    share = f"{share:.1%}" if share < 0.1 else f"{share:.0%}"  # diffusion's noise: 0.3 %, not "0 %"
    title = f"{FAMILY_TITLES[family]} latent space: {share} of its variance on these two axes"
    return plots.latent_map(m.points, m.labels, info.class_names, m.extent, title, marks, path)


@functools.cache
def plain_map(dataset: str, family: str) -> tuple[Image.Image, object]:
    """The map without marks, and its axes (drawn once, then cached: a click needs only the axes)."""
    return draw_map(dataset, family)


def marked_map(dataset: str, family: str, marks: list[tuple[float, float, str]]) -> Image.Image:
    """The cached map with stars at `marks` (x, y, text), in map coordinates."""
    image, axes = plain_map(dataset, family)
    return plots.mark_stars(image, axes, marks)


def latent_map(dataset: str, family: str) -> tuple[Image.Image, str]:
    """The family's latent map, points coloured by class, and what it shows."""
    m, how = get_map(dataset, family)
    image, _ = plain_map(dataset, family)
    agree = m.neighbour_agreement()
    info = common.dataset_info(dataset)
    text = (
        f"**What is drawn:** {how}. **What it shows:** {agree:.0%} of each point's 5 nearest neighbours on "
        f"this map share its class (with no order at all: about {1 / info.num_classes:.0%}). {READING[family]}"
    )
    return image, text


@results.remembered()
def latent_decode_point(family: str, dataset: str, x: float, y: float) -> tuple[Image.Image, Image.Image, str]:
    """Decode the point (x, y) of a family's map (in map coordinates): returns the image, the map
    with the point marked, and how the vector was made."""
    family = _family(family)
    m, _ = get_map(dataset, family)
    x0, x1, y0, y1 = m.extent
    x = common.number(x, "x", x0 - (x1 - x0), x1 + (x1 - x0), integer=False)
    y = common.number(y, "y", y0 - (y1 - y0), y1 + (y1 - y0), integer=False)
    space = common.load(dataset, family).latent_space()
    z = m.latent_at(x, y)
    image, ms = common.timed(space.decode, z)
    marked = marked_map(dataset, family, [(x, y, "")])
    text = (
        f"Decoded ({x:.2f}, {y:.2f}) in {ms:.0f} ms. The map has 2 of the {z[0].numel()} numbers of a "
        "vector; the others come from the nearest mapped vector, moved to the clicked point." + space.decoding
    )
    return to_pil(image[0], 6), marked, text


def on_map_select(dataset: str, family: str, evt: gr.SelectData):
    """A click on the map image: pixel → map coordinates → decode."""
    _, axes = plain_map(dataset, family)
    px, py = evt.index
    if not axes.contains(px, py):
        raise gr.Error("Click inside the map's axes.")
    x, y = axes.to_data(px, py)
    return latent_decode_point(family, dataset, x, y)


@results.remembered()
def latent_sample(dataset: str, family: str, seed: float) -> tuple[Image.Image, Image.Image, str]:
    """Draw one vector from the family's prior, show where it lands on the map, and decode it."""
    family = _family(family)
    seed = common.number(seed, "seed", 0, common.MAX_SEED)
    m, _ = get_map(dataset, family)
    space = common.load(dataset, family).latent_space()
    z = space.sample(1, make_generator(seed))
    image = space.decode(z)
    (x, y), norm = m.project(z)[0], z.norm().item()
    marked = marked_map(dataset, family, [(x, y, f"seed {seed}")])
    text = f"A vector from the prior (seed {seed}): {z[0].numel()} numbers, length {norm:.1f}; on the map at ({x:.2f}, {y:.2f})."
    return to_pil(image[0], 6), marked, text


def _endpoint(space: LatentSpace, dataset: str, kind: str, value) -> torch.Tensor:
    if kind == "seed":
        return space.sample(1, make_generator(common.number(value, "seed", 0, common.MAX_SEED)))
    if kind == "test image":
        images, _ = common.examples(dataset)
        return space.encode(images[common.number(value, "test image", 0, len(images) - 1)][None])
    raise gr.Error(f"an endpoint is a 'seed' or a 'test image', not {kind!r}")


@results.remembered(heavy=True)
def latent_interpolate(
    dataset: str, family: str, kind_a: str, a, kind_b: str, b, steps: float, method: str
) -> tuple[Image.Image, Image.Image, Image.Image, str]:
    """Interpolate between two endpoints (a seed's sample or an encoded test image) in every family's
    latent space. Returns a strip per family, the norm along the path, the path on `family`'s map."""
    _family(family)
    steps = common.number(steps, "steps", 2, 16)
    if method not in INTERPOLATIONS:
        raise gr.Error(f"method must be lerp or slerp, not {method!r}")
    strips, titles, norms = [], [], {}
    for fam in FAMILY_TITLES:
        space = common.load(dataset, fam).latent_space()
        za, zb = _endpoint(space, dataset, kind_a, a), _endpoint(space, dataset, kind_b, b)
        path = interpolate(za[0], zb[0], steps, method)
        images = space.decode(path)
        strips.append(grid(images, nrow=steps, scale=2))
        titles.append(f"{FAMILY_TITLES[fam]} ({method})")
        d = path[0].numel()
        norms[f"{FAMILY_TITLES[fam]} (÷ √{d})"] = (list(range(steps)), (path.flatten(1).norm(dim=1) / d**0.5).tolist())
        if fam == family:
            m, _ = get_map(dataset, family)
            on_map = m.project(path)
    norm_plot = plots.line_plot(
        norms,
        title="Length of the vector along the path (1 = typical for the prior)",
        xlabel="step",
        ylabel="‖z‖ / √dimensions",
    )
    marked, _ = draw_map(dataset, family, marks=[(*on_map[0], "A"), (*on_map[-1], "B")], path=on_map)
    text = (
        "Prior samples of a d-dimensional standard normal have length close to √d. A straight line (**lerp**) "
        "between two of them passes closer to the centre, where the prior puts almost no samples; "
        "**slerp** follows the sphere and keeps the length. Diffusion's lengths run above 1 from an encoded test "
        "image: the noise that carries the sampler to one particular image is larger than chance."
    )
    return tile(strips, 1, titles)[0], norm_plot, marked, text


@results.remembered(heavy=True)
def same_seed(dataset: str, class_name: str, seed: float) -> tuple[Image.Image, str]:
    """One seed through all three families, decoded side by side."""
    r = common.request(dataset, class_name, 1, seed)
    out, captions, lines = [], [], []
    for fam, title in FAMILY_TITLES.items():
        model = common.load(dataset, fam)
        image, ms = common.timed(model.sample, 1, seed=r.seed, class_labels=r.labels)  # each at its defaults
        cost = model.cost(class_labels=r.labels)
        out.append(to_pil(image[0], 6))
        captions.append(f"{title}: {ms:.0f} ms, {cost.nfe} evaluations")
        lines.append(f"{title}: a vector of {int(np.prod(model.latent_shape))} numbers")
    text = (
        f"Seed {r.seed} starts the same random stream for all three ({r.caption}); "
        f"each reads as many numbers as its latent space has — {'; '.join(lines)} — so the images differ, "
        "but each family gives this seed the same image every time."
    )
    return tile(out, len(out), captions)[0], text


FAMILY_COLORS = {"real": "#9ca3af", "gan": "#db2777", "vae": "#059669", "diffusion": "#4f46e5"}


def shipped_image_points(dataset: str) -> dict[str, np.ndarray] | None:
    """The image-space map's points as scripts/precompute_maps.py shipped them, or None."""
    try:
        tensors, _ = weights.load_latent_maps(dataset)
    except weights.WeightsError:
        return None
    keys = [*IMAGE_MAP_GROUPS, "path", "explained"]
    if not all(f"image_map_{k}" in tensors for k in keys):
        return None
    return {k: tensors[f"image_map_{k}"].double().numpy() for k in keys}


@functools.cache
def _image_map(dataset: str) -> dict:
    """The image-space map's groups of points, the diffusion path and the axes' extent."""
    points = shipped_image_points(dataset)
    if points is None:
        real, _ = common.examples(dataset)
        points = image_space_points(real, {fam: common.load(dataset, fam) for fam in FAMILY_TITLES})
    titles = {"real": "real test images", **{fam: f"{title} samples" for fam, title in FAMILY_TITLES.items()}}
    groups = [(titles[g], points[g], FAMILY_COLORS[g]) for g in IMAGE_MAP_GROUPS]
    pts = np.concatenate([g[1] for g in groups] + [points["path"]])
    lo, hi = pts.min(0), pts.max(0)
    pad = (hi - lo) * 0.08
    extent = (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])
    return {"groups": groups, "path": points["path"], "extent": extent, "explained": float(points["explained"][0])}


@results.remembered(heavy=True)
def image_space_map(dataset: str) -> tuple[Image.Image, str]:
    """One PCA fitted on real images, shared by all: real test images and each family's samples drawn
    together, and one diffusion run drawn as a path from noise into the data. The points ship with
    the weights (scripts/precompute_maps.py); without them they are computed here, once."""
    info = common.dataset_info(dataset)
    cached = _image_map(dataset)
    image, _ = plots.scatter_map(
        cached["groups"], cached["extent"], f"{info.title} images, PCA of pixels ({cached['explained']:.0%} of variance)",
        marks=[(*cached["path"][-1], "end")], path=cached["path"],
    )  # fmt: skip
    text = (
        "Every point is a whole image, placed by the two directions along which real images vary most. Where a "
        "family's samples cover the grey cloud, it makes the variety of real data; a family bunched in one part "
        "would be missing modes. The black line is one diffusion run: it starts as noise (clipped to the pixel "
        "range) and walks into the cloud of real images."
    )
    return image, text


@results.remembered(heavy=True)
def encode_three_ways(dataset: str, source: str, drawing, example: float) -> tuple[Image.Image, Image.Image, str]:
    """One image encoded by the VAE's encoder, by DDIM inversion and by GAN inversion, each decoded back."""
    x = common.input_image(dataset, source, drawing, example)
    results, captions, lines = [], [], []
    ways = {
        "vae": ("VAE encoder (one pass)", {}, {}),
        "diffusion": (f"DDIM inversion ({INVERSION_STEPS} steps)", {}, DDIM_DECODER),
        "gan": (f"GAN inversion ({GAN_INVERSION_STEPS} optimisation steps)", {}, {}),
    }  # fmt: skip
    for fam, (title, enc_kw, dec_kw) in ways.items():
        model = common.load(dataset, fam)
        (z, ms) = common.timed(model.encode, x, **enc_kw)
        back = model.decode(z, None, **dec_kw)
        err = (back - x).pow(2).mean().item()
        results.append(to_pil(back[0], 6))
        captions.append(f"{FAMILY_TITLES[fam]}: error {err:.4f}")
        lines.append(f"**{FAMILY_TITLES[fam]}** — {title}, {ms:.0f} ms, mean squared error {err:.4f}")
    text = "  \n".join(lines) + (
        "  \nA VAE has an encoder; diffusion runs its deterministic sampler backwards; a GAN has no way back "
        "at all, so we *search* for the `z` whose image is closest."
    )
    return to_pil(x[0], 6), tile(results, len(results), captions)[0], text


def build_map(dataset: gr.Dropdown) -> tuple:
    """The family's latent map, a click on it, and a vector from the prior."""
    with gr.Row():
        family = gr.Radio([(t, k) for k, t in FAMILY_TITLES.items()], value="vae", label="Latent space of")
        seed = gr.Number(0, precision=0, minimum=0, maximum=common.MAX_SEED, label="Seed")
        sample = gr.Button("Sample a vector from the prior")
    with gr.Row():
        the_map = gr.Image(
            format=common.IMAGE_FORMAT, label="Latent map — click to decode", type="pil", interactive=False, height=540
        )
        with gr.Column():
            decoded = gr.Image(format=common.IMAGE_FORMAT, label="Decoded", type="pil", height=200)
            map_text = gr.Markdown()
            point_text = gr.Markdown(elem_id="point-text")
    show = (latent_map, [dataset, family], [the_map, map_text])
    family.change(*show, api_name=False)
    the_map.select(on_map_select, [dataset, family], [decoded, the_map, point_text], api_name=False)
    sample.click(latent_sample, [dataset, family, seed], [decoded, the_map, point_text], api_name="latent_sample")
    hidden_x, hidden_y = gr.Number(visible=False), gr.Number(visible=False)
    gr.Button(visible=False).click(  # the API for a point in map coordinates
        latent_decode_point,
        [family, dataset, hidden_x, hidden_y],
        [decoded, the_map, point_text],
        api_name="latent_decode_point",
    )
    gr.Button(visible=False).click(latent_map, [dataset, family], [the_map, map_text], api_name="latent_map")
    return family, seed, show


def build_interpolation(dataset: gr.Dropdown, family: gr.Radio) -> tuple:
    gr.Markdown("### Interpolate\nWalk from A to B in each latent space, straight (lerp) or along the sphere (slerp).")
    with gr.Row():
        kind_a = gr.Radio(["seed", "test image"], value="seed", label="A is")
        a = gr.Number(1, precision=0, minimum=0, label="A (seed or test image number)")
        kind_b = gr.Radio(["seed", "test image"], value="seed", label="B is")
        b = gr.Number(2, precision=0, minimum=0, label="B (seed or test image number)")
    with gr.Row():
        steps = gr.Slider(2, 16, value=8, step=1, label="Steps")
        method = gr.Radio(["lerp", "slerp"], value="slerp", label="Interpolation")
        go = gr.Button("Interpolate", variant="primary")
    strips = gr.Image(
        format=common.IMAGE_FORMAT, label="Decoded along the path", type="pil", elem_id="interpolation-strips"
    )
    with gr.Row():
        norms = gr.Image(format=common.IMAGE_FORMAT, label="Vector length along the path", type="pil")
        path_map = gr.Image(format=common.IMAGE_FORMAT, label="The path on the chosen map", type="pil")
    interp_text = gr.Markdown()
    inputs, outputs = [dataset, family, kind_a, a, kind_b, b, steps, method], [strips, norms, path_map, interp_text]
    go.click(latent_interpolate, inputs, outputs, api_name="latent_interpolate", **common.HEAVY)
    return (latent_interpolate, inputs, outputs)


def build_encode(dataset: gr.Dropdown) -> tuple:
    gr.Markdown("### Encode three ways\nFrom image back to latent: each family has its own way (or none).")
    with gr.Row():
        with gr.Column():
            source = gr.Radio(["test image", "drawing"], value="test image", label="Image to encode")
            example = gr.Slider(0, 999, value=3, step=1, label="Test image number")
            sketch = common.sketchpad()
            enc = gr.Button("Encode three ways", variant="primary")
        with gr.Column():
            enc_input = gr.Image(format=common.IMAGE_FORMAT, label="Input", type="pil", height=200)
            enc_out = gr.Image(format=common.IMAGE_FORMAT, label="Decoded back", type="pil", elem_id="decoded-back")
            enc_text = gr.Markdown()
    outputs = [enc_input, enc_out, enc_text]
    enc.click(
        encode_three_ways, [dataset, source, sketch, example], outputs, api_name="encode_three_ways", **common.HEAVY
    )
    return (opening_encode, [dataset, example], outputs)


def build(dataset: gr.Dropdown) -> dict:
    gr.Markdown(LESSON, elem_classes=["lesson"])
    family, seed, show = build_map(dataset)
    interpolation = build_interpolation(dataset, family)

    gr.Markdown("### One seed, three families")
    with gr.Row():
        cls = gr.Dropdown(common.class_choices(dataset.value), value="any", label="Class")
        same = gr.Button("Decode this seed in all three")
    trio = gr.Image(format=common.IMAGE_FORMAT, label="The same seed", type="pil", elem_id="same-seed")
    trio_text = gr.Markdown()
    same.click(same_seed, [dataset, cls, seed], [trio, trio_text], api_name="same_seed", **common.HEAVY)

    gr.Markdown("### Image space: does each family cover the data?")
    space_go = gr.Button("Draw the image-space map")
    space = gr.Image(
        format=common.IMAGE_FORMAT, label="Real images and samples in one PCA of pixels", type="pil", height=540
    )
    space_text = gr.Markdown()
    space_go.click(image_space_map, [dataset], [space, space_text], api_name="image_space_map", **common.HEAVY)

    encode = build_encode(dataset)
    return {
        "classes": [cls],
        "controls": {"family": family, "seed": seed, "class_name": cls},
        "opening": [
            interpolation,
            (same_seed, [dataset, cls, seed], [trio, trio_text]),
            (image_space_map, [dataset], [space, space_text]),
            encode,
        ],
        "map": show,
    }


def opening_encode(dataset: str, example: float):
    """What "Encode three ways" shows for a test image: the page opens with it (and so from the cache)."""
    return encode_three_ways(dataset, "test image", None, example)


opening_encode.heavy = results.is_heavy(encode_three_ways)  # it computes only through it
