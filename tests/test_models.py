"""Every family through the one interface, on tiny configs, at both image formats."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import build_tiny, tiny_config
from diffusers import DDPMScheduler, UNet2DModel

from playground.models import FAMILIES, GAN, VAE, Classifier, DiffusionModel
from playground.models.diffusion import (
    DEFAULT_GUIDANCE,
    DEFAULT_SCHEDULER,
    DEFAULT_STEPS,
    LOGSNR_LAST_T,
    LOGSNR_START,
    SAMPLING_FILE,
    SCHEDULERS,
    logsnr_timesteps,
)
from playground.models.gan import DEFAULT_TRUNCATION

SHAPES = [(1, 28), (3, 32)]  # MNIST-like and CIFAR-like
FAST = {"num_inference_steps": 2}  # diffusion options that keep the tests fast


def opts(family: str) -> dict:
    return FAST if family == "diffusion" else {}


@pytest.fixture(
    scope="module", params=[(f, c, s) for f in FAMILIES for c, s in SHAPES], ids=lambda p: f"{p[0]}-{p[1]}x{p[2]}"
)
def model(request):
    family, channels, size = request.param
    return build_tiny(family, channels, size)


def test_shapes_and_range(model):
    images = model.sample(3, seed=0, class_labels=None, **opts(model.family))
    assert images.ndim == 4 and images.shape[0] == 3
    assert images.shape[2] == images.shape[3] in (28, 32)
    assert images.shape[1] in (1, 3)
    assert torch.isfinite(images).all()
    assert images.min() >= 0 and images.max() <= 1
    z = model.sample_latent(5, torch.Generator().manual_seed(0))
    assert z.shape == (5, *model.latent_shape)


def test_same_seed_same_images_other_seed_other_images(model):
    a = model.sample(2, seed=7, class_labels=3, **opts(model.family))
    b = model.sample(2, seed=7, class_labels=3, **opts(model.family))
    c = model.sample(2, seed=8, class_labels=3, **opts(model.family))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_label_changes_output(model):
    a = model.sample(2, seed=1, class_labels=0, **opts(model.family))
    b = model.sample(2, seed=1, class_labels=5, **opts(model.family))
    assert (a - b).abs().max() > 1e-4


def test_sample_is_decode_of_sample_latent(model):
    g = torch.Generator().manual_seed(4)
    z = model.sample_latent(2, g, class_labels=2)
    kw = {"scheduler": "ddim", **FAST} if model.family == "diffusion" else {}
    assert torch.equal(model.decode(z, 2, **kw), model.decode(z.clone(), 2, **kw))
    untruncated = {"truncation": 1.0} if model.family == "gan" else {}  # the GAN's default ψ scales z
    assert torch.equal(model.sample(2, seed=4, class_labels=2, **kw, **untruncated), model.decode(z, 2, **kw))


def test_encode_gives_a_latent(model):
    x = model.sample(2, seed=0, **opts(model.family))
    kw = (
        {"num_steps": 3} if model.family == "gan" else {"num_inference_steps": 2} if model.family == "diffusion" else {}
    )
    z = model.encode(x, **kw)
    assert z.shape == (2, *model.latent_shape)
    assert torch.isfinite(z).all()


def test_the_latent_space_samples_decodes_and_encodes(model):
    """The one interface the latent panel, compare, the CLI and the scripts use: vectors of its shape,
    images in [0, 1] of the dataset's shape, and an encoding of those images of the same shape."""
    space = model.latent_space()
    v = space.sample(2, torch.Generator().manual_seed(0))
    assert v.shape == (2, *space.shape)
    images = space.decode(v)
    assert images.shape[0] == 2 and images.min() >= 0 and images.max() <= 1
    assert torch.equal(images, space.decode(v.clone()))
    assert space.encode(images).shape == v.shape
    assert isinstance(space.decoding, str)


def test_a_misspelled_sampling_option_fails_loudly(model):
    """No model swallows an option it does not know (no `**_`): a typo is a TypeError, not ignored."""
    with pytest.raises(TypeError):
        model.sample(1, seed=0, num_inference_step=2)
    with pytest.raises(TypeError):
        model.cost(truncaton=0.5)
    assert set(model.sampling_options()) == set(model.SAMPLING_OPTIONS)
    assert isinstance(model.describe_sampling(), str)


def test_save_load_round_trip(model, tmp_path):
    model.save_pretrained(tmp_path)
    loaded = type(model).from_pretrained(tmp_path)
    a = model.sample(2, seed=3, class_labels=1, **opts(model.family))
    b = loaded.sample(2, seed=3, class_labels=1, **opts(model.family))
    assert torch.allclose(a, b, atol=1e-5)  # diffusers may pick another (equivalent) attention kernel


def test_cost(model):
    cost = model.cost(**opts(model.family), class_labels=1)
    assert cost.parameters > 0
    assert cost.nfe == (2 * 2 if model.family == "diffusion" else 1)  # guidance doubles the passes


@pytest.mark.parametrize("bad", [10, -1, [0, 99]])
def test_out_of_range_label_is_refused(bad):
    m = build_tiny("gan")
    with pytest.raises(ValueError, match="class labels"):
        m.sample(2, seed=0, class_labels=bad)


def test_seed_must_be_a_non_negative_integer():
    m = build_tiny("vae")
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="seed"):
            m.sample(1, seed=bad)


# --- diffusion ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def diffusion():
    return build_tiny("diffusion")


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
def test_each_scheduler_samples_deterministically(diffusion, scheduler):
    a = diffusion.sample(2, seed=0, class_labels=4, scheduler=scheduler, num_inference_steps=3)
    b = diffusion.sample(2, seed=0, class_labels=4, scheduler=scheduler, num_inference_steps=3)
    assert torch.equal(a, b)
    assert a.shape == (2, 1, 8, 8) and a.min() >= 0 and a.max() <= 1
    assert diffusion.cost(num_inference_steps=3, class_labels=4).nfe == 6
    assert diffusion.cost(num_inference_steps=3, class_labels=None).nfe == 3


@pytest.mark.parametrize("scheduler", ["ddpm", "sde-dpm++"])
def test_the_stochastic_samplers_draw_their_noise_from_the_generator(diffusion, scheduler):
    """Same x_T, same generator: same image (the app's seeds hold); another generator: another image."""
    z = diffusion.sample_latent(2, torch.Generator().manual_seed(0))
    kw = {"class_labels": 4, "scheduler": scheduler, "num_inference_steps": 3}
    a = diffusion.decode(z, generator=torch.Generator().manual_seed(1), **kw)
    b = diffusion.decode(z, generator=torch.Generator().manual_seed(1), **kw)
    c = diffusion.decode(z, generator=torch.Generator().manual_seed(2), **kw)
    assert torch.equal(a, b)
    assert (a - c).abs().max() > 1e-4


def test_the_noise_space_fixes_the_image(diffusion):
    """x_T and every step's noise, given: the same vector gives the same image alone or in a batch,
    and the noise of a middle step changes it (so the sampler reads it)."""
    v = diffusion.sample_noise_space(3, torch.Generator().manual_seed(0), num_inference_steps=3)
    assert v.shape == (3, 4, 1, 8, 8) == (3, *diffusion.noise_space_shape(3))
    a = diffusion.decode_noise_space(v)
    assert torch.allclose(a[2], diffusion.decode_noise_space(v[2:])[0], atol=1e-5)
    w = v.clone()
    w[:, 2] = torch.randn(w[:, 2].shape, generator=torch.Generator().manual_seed(1))
    assert (diffusion.decode_noise_space(w) - a).abs().max() > 1e-3
    assert a.shape == (3, 1, 8, 8) and a.min() >= 0 and a.max() <= 1


def test_given_noise_must_fit_the_sampler(diffusion):
    z = diffusion.sample_latent(2, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="takes no given noise"):
        diffusion.decode(z, scheduler="ddpm", num_inference_steps=3, noises=torch.zeros(2, 3, 1, 8, 8))
    with pytest.raises(ValueError, match="noises should have shape"):
        diffusion.decode(z, scheduler="sde-dpm++", num_inference_steps=3, noises=torch.zeros(2, 2, 1, 8, 8))


def test_the_noise_space_inversion_reaches_every_step(diffusion):
    """Decoding the inversion of an image passes through the noisy images the inversion drew, so
    all but the last step land where they should; the final image is the image (up to that last,
    deterministic step's error, measured on the shipped models in tests/test_shipped.py)."""
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    v = diffusion.encode_noise_space(x, torch.Generator().manual_seed(0), num_inference_steps=4)
    assert v.shape == (2, *diffusion.noise_space_shape(4)) and torch.isfinite(v).all()
    assert torch.equal(v, diffusion.encode_noise_space(x, torch.Generator().manual_seed(0), num_inference_steps=4))
    assert torch.equal(v[:, -1], torch.zeros_like(v[:, -1]))  # the last step adds no noise
    frames = list(diffusion.trajectory(v[:, 0], None, 4, "sde-dpm++", 1.0, noises=v[:, 1:]))
    g = torch.Generator().manual_seed(0)  # the inversion's draws of q(x_t | x_0), again
    s = diffusion.make_scheduler("sde-dpm++", 4)
    abar = diffusion.scheduler.alphas_cumprod
    targets = [abar[int(t)].sqrt() * (x * 2 - 1) + (1 - abar[int(t)]).sqrt() * torch.randn(x.shape, generator=g)
               for t in s.timesteps]  # fmt: skip
    for frame, target in zip(frames[:-1], targets[1:], strict=True):
        assert torch.allclose(frame["x_t"], (target.clamp(-1, 1) + 1) / 2, atol=1e-4)


def test_schedulers_are_diffusers_own(diffusion):
    s = diffusion.make_scheduler("dpm++", 5)
    assert type(s).__module__.startswith("diffusers.")
    assert s.config.algorithm_type == "dpmsolver++"
    assert len(s.timesteps) == 5
    assert diffusion.make_scheduler("sde-dpm++", 5).config.algorithm_type == "sde-dpmsolver++"


@pytest.mark.parametrize("steps", [1, 2, 3, 10, 30, 100, 999, 1000])
def test_the_log_snr_grid_has_as_many_distinct_decreasing_steps_as_asked(steps):
    abar = DDPMScheduler(beta_schedule="squaredcos_cap_v2").alphas_cumprod
    ts = logsnr_timesteps(abar, steps)
    assert len(ts) == steps and ts[0] == 999 and ts[-1] >= 0
    assert all(a > b for a, b in zip(ts[:-1], ts[1:], strict=True))


def test_the_log_snr_grid_is_even_in_log_snr_after_its_first_step():
    abar = DDPMScheduler(beta_schedule="squaredcos_cap_v2").alphas_cumprod.double()
    ts = logsnr_timesteps(abar, 10)
    logsnr = 0.5 * torch.log(abar[ts[1:]] / (1 - abar[ts[1:]]))
    gaps = logsnr.diff()
    assert ts[-1] == LOGSNR_LAST_T and logsnr[0].item() == pytest.approx(LOGSNR_START, abs=0.05)
    assert gaps.max() - gaps.min() < 0.1  # even, up to whole timesteps
    trailing = [999 - 100 * i for i in range(10)]  # the steps it replaces: its last is t = 99
    assert ts != trailing


def test_the_log_snr_samplers_run_on_that_grid(diffusion):
    for name in ("dpm++-logsnr", "sde-dpm++-logsnr"):
        s = diffusion.make_scheduler(name, 6)
        assert s.timesteps.tolist() == logsnr_timesteps(diffusion.scheduler.alphas_cumprod, 6)
        assert (
            s.config.algorithm_type == diffusion.make_scheduler(name.removesuffix("-logsnr"), 6).config.algorithm_type
        )


def test_guidance_scale_changes_the_sample(diffusion):
    a = diffusion.sample(2, seed=0, class_labels=4, num_inference_steps=3, guidance_scale=1.0)
    b = diffusion.sample(2, seed=0, class_labels=4, num_inference_steps=3, guidance_scale=4.0)
    assert (a - b).abs().max() > 1e-4


def test_a_model_samples_with_its_own_sampler_unless_told(diffusion, tmp_path):
    own = DiffusionModel(diffusion.unet, diffusion.scheduler, 3.0, "ddim", 3)
    own.save_pretrained(tmp_path)
    loaded = DiffusionModel.from_pretrained(tmp_path)
    assert (loaded.guidance_scale, loaded.sampler, loaded.num_inference_steps) == (3.0, "ddim", 3)
    run = {"seed": 0, "class_labels": 4}
    told = {"num_inference_steps": 3, "scheduler": "ddim", "guidance_scale": 3.0}
    assert torch.equal(loaded.sample(2, **run), loaded.sample(2, **run, **told))
    assert not torch.equal(loaded.sample(2, **run), loaded.sample(2, **run, **{**told, "guidance_scale": 1.0}))
    assert not torch.equal(loaded.sample(2, **run), loaded.sample(2, **run, **{**told, "scheduler": "ddpm"}))
    assert len(list(loaded.trajectory(loaded.sample_latent(1, torch.Generator())))) == 3
    assert loaded.cost(class_labels=4).nfe == 6
    assert loaded.cost(class_labels=4, num_inference_steps=5, guidance_scale=1.0).nfe == 5
    (tmp_path / SAMPLING_FILE).write_text('{"guidance_scale": 2.0}')  # saved before it named a sampler
    older = DiffusionModel.from_pretrained(tmp_path)
    assert (older.guidance_scale, older.sampler, older.num_inference_steps) == (2.0, DEFAULT_SCHEDULER, DEFAULT_STEPS)
    (tmp_path / SAMPLING_FILE).unlink()  # weights saved before the file existed
    assert DiffusionModel.from_pretrained(tmp_path).guidance_scale == DEFAULT_GUIDANCE


@pytest.mark.parametrize(
    "text",
    [
        '{"guidance_scale": -1}', '{"guidance_scale": "high"}', '{"scheduler": "euler"}', '{"num_inference_steps": 0}',
        '{"num_inference_steps": 2.5}', '{"num_inference_steps": "20"}', '{"guidance": 2}', "[1.5]", "not json",
    ],
)  # fmt: skip
def test_a_bad_sampling_file_is_a_clear_error(diffusion, tmp_path, text):
    diffusion.save_pretrained(tmp_path)
    (tmp_path / SAMPLING_FILE).write_text(text)
    with pytest.raises(ValueError, match="should hold"):
        DiffusionModel.from_pretrained(tmp_path)


def test_trajectory_streams_every_step(diffusion):
    z = diffusion.sample_latent(2, torch.Generator().manual_seed(0))
    frames = list(diffusion.trajectory(z, 1, num_inference_steps=4, scheduler="ddim"))
    assert [f["step"] for f in frames] == [1, 2, 3, 4]
    assert frames[-1]["last"] and not frames[0]["last"]
    assert all(f["x0"].shape == f["x_t"].shape == (2, 1, 8, 8) for f in frames)
    assert torch.equal(frames[-1]["x_t"], diffusion.decode(z, 1, num_inference_steps=4, scheduler="ddim"))


@pytest.mark.parametrize("kw", [{"scheduler": "euler"}, {"num_inference_steps": 0}, {"num_inference_steps": 1001}])
def test_bad_sampler_options_are_refused(diffusion, kw):
    with pytest.raises(ValueError):
        diffusion.sample(1, seed=0, **kw)


def test_forward_process_noises_more_with_time(diffusion):
    x = torch.full((1, 1, 8, 8), 0.8)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    early, late = diffusion.add_noise(x, 10, g()), diffusion.add_noise(x, 900, g())
    assert (early - x).abs().mean() < (late - x).abs().mean()


def test_diffusers_loads_our_weights_by_itself(diffusion, tmp_path):
    diffusion.save_pretrained(tmp_path)
    unet = UNet2DModel.from_pretrained(tmp_path, subfolder="unet")
    scheduler = DDPMScheduler.from_pretrained(tmp_path, subfolder="scheduler")
    assert scheduler.config.beta_schedule == "squaredcos_cap_v2"
    x = torch.zeros(1, 1, 8, 8)
    y = torch.tensor([3])
    assert torch.allclose(unet(x, 5, class_labels=y).sample, diffusion.unet(x, 5, class_labels=y).sample, atol=1e-5)


# --- GAN, VAE and classifier specifics ------------------------------------------------------------


@pytest.mark.parametrize("depth", [2, 3])
def test_gan_discriminator_gives_probabilities(depth):
    m = GAN(dataclasses.replace(tiny_config("gan"), disc_depth=depth))
    convs = [layer for layer in m.discriminator.net if isinstance(layer, torch.nn.Conv2d)]
    assert len(convs) == depth
    p = m.discriminate(torch.rand(3, 1, 8, 8), class_labels=2)
    assert p.shape == (3,) and ((p > 0) & (p < 1)).all()


def test_gan_discriminator_needs_two_layers():
    with pytest.raises(ValueError, match="disc_depth"):
        GAN(dataclasses.replace(tiny_config("gan"), disc_depth=1))


def test_gan_inversion_lowers_the_error():
    m: GAN = build_tiny("gan")
    target = m.sample(2, seed=5, class_labels=1)
    start = m.decode(m.sample_latent(2, torch.Generator().manual_seed(0)), 1)
    z = m.encode(target, class_labels=1, num_steps=60, seed=0)
    assert (m.decode(z, 1) - target).pow(2).mean() < (start - target).pow(2).mean()


def test_vae_is_class_conditional():
    """The class goes to the decoder (and the encoder), not into z: the same z decodes differently
    per class, and with no class (the null label) differently again."""
    m: VAE = build_tiny("vae")
    g = torch.Generator().manual_seed(0)
    z = m.sample_latent(3, g, class_labels=9)
    assert torch.equal(z, m.sample_latent(3, torch.Generator().manual_seed(0)))
    a, b, none = m.decode(z, 9), m.decode(z, 2), m.decode(z)
    assert not torch.allclose(a, b) and not torch.allclose(a, none)
    x = m.decode(z, 9)
    assert not torch.allclose(m.encode(x, 9), m.encode(x))
    with torch.no_grad():
        logits, mean, _ = m(x, torch.tensor([9, 9, 10]))  # training's labels: 10 is the null class
    assert torch.allclose(mean[2], m.encode(x[2:])[0], atol=1e-6) and logits.shape == x.shape


def test_classifier_outputs():
    m: Classifier = build_tiny("classifier", 3, 32)
    x = torch.rand(5, 3, 32, 32)
    assert m.features(x).shape == (5, 8)
    p = m.predict_proba(x)
    assert p.shape == (5, 10) and torch.allclose(p.sum(1), torch.ones(5))


def test_diffusion_model_reports_its_classes(diffusion):
    assert isinstance(diffusion, DiffusionModel) and diffusion.num_classes == 10


def test_a_gan_samples_with_its_own_truncation_unless_told(tmp_path):
    m = GAN(dataclasses.replace(tiny_config("gan"), truncation=0.5))
    m.save_pretrained(tmp_path)
    loaded = GAN.from_pretrained(tmp_path)
    assert loaded.config.truncation == 0.5
    z = loaded.sample_latent(4, torch.Generator().manual_seed(0))
    assert torch.equal(loaded.sample(4, seed=0, class_labels=1), loaded.decode(0.5 * z, 1))
    assert torch.equal(loaded.sample(4, seed=0, class_labels=1, truncation=1.0), loaded.decode(z, 1))
    with pytest.raises(ValueError, match="truncation must be in"):
        GAN(dataclasses.replace(tiny_config("gan"), truncation=1.5))


def test_gan_truncation_pulls_samples_towards_the_centre():
    m = build_tiny("gan")
    full, trunc = (
        m.sample(4, seed=0, class_labels=1, truncation=1.0),
        m.sample(4, seed=0, class_labels=1, truncation=0.5),
    )
    z = m.sample_latent(4, torch.Generator().manual_seed(0))
    assert torch.equal(trunc, m.decode(0.5 * z, 1)) and not torch.equal(full, trunc)
    assert torch.equal(m.sample(4, seed=0, class_labels=1), m.decode(DEFAULT_TRUNCATION * z, 1))  # the default ψ
    with pytest.raises(ValueError, match="truncation"):
        m.sample(1, seed=0, truncation=0.0)


def test_gan_subpixel_upsampling_starts_as_nearest_neighbour():
    """ICNR: at initialisation the four sub-pixels of each output block are equal, i.e. the layer is
    a convolution followed by nearest-neighbour upsampling (no checkerboard to unlearn)."""
    from playground.models.gan import subpixel_conv

    torch.manual_seed(0)
    layer = subpixel_conv(6, 3)
    y = layer(torch.randn(2, 6, 5, 5))
    assert y.shape == (2, 3, 10, 10)
    blocks = y.unflatten(2, (5, 2)).unflatten(4, (5, 2))  # (N, C, 5, 2, 5, 2)
    assert torch.allclose(blocks, blocks[:, :, :, :1, :, :1].expand_as(blocks), atol=1e-6)
    assert y.std() > 0.1  # and not trivially zero


@pytest.mark.slow
def test_gan_batchnorm_refit_matches_the_statistics_of_the_weights_it_has():
    """After refit_batchnorm, eval mode normalises as a large batch of the generator's own samples
    would in training mode: the statistics belong to the current weights, not to earlier ones."""
    m = build_tiny("gan")
    with torch.no_grad():
        for p in m.generator.parameters():  # weights other than those the statistics came from
            p.mul_(1.5).add_(0.1)
    bn = m.generator.fc[1]
    seen = {}
    bn.register_forward_hook(lambda mod, inp, out: seen.update(x=inp[0]))
    z = torch.randn(16384, m.config.latent_dim, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(2)
    y = torch.randint(0, m.num_classes, (16384,), generator=g)  # the label mix of training: the null class 20 %
    y = torch.where(torch.rand(16384, generator=g) < m.config.null_class_prob, m.num_classes, y)
    with torch.no_grad():
        m.generator.eval()
        m.generator(z, y)
    batch_mean, batch_var = seen["x"].mean(0), seen["x"].var(0)
    assert not torch.allclose(bn.running_mean, batch_mean, atol=0.05)  # stale: the initial statistics
    m.refit_batchnorm(num_samples=16384, seed=0)
    assert not m.generator.training and bn.momentum == 0.1  # left as it was found, in eval mode
    assert torch.allclose(bn.running_mean, batch_mean, atol=0.05)
    assert torch.allclose(bn.running_var, batch_var, rtol=0.05)
    stats = bn.running_mean.clone()
    m.refit_batchnorm(num_samples=16384, seed=0)
    assert torch.equal(bn.running_mean, stats)  # the same seed, the same statistics
