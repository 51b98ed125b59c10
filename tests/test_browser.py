"""The launched app in a real browser (Playwright driving the system's Chromium), used the way
a visitor uses it: every tab, a generated grid, a click on a latent map, a drawing made with the
mouse, a streamed diffusion run. Any console error, or any request to a host other than the
app's own, fails the test. Screenshots go to artifacts/browser/ (git-ignored).

Needs Debian's chromium (`apt-get install chromium`; .ci/run installs it)."""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from conftest import ROOT, served_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts" / "browser"
# The images with pixels in the open tab (an empty gr.Image has no <img>), as a JavaScript array.
SHOWN = (
    "[...document.querySelectorAll('.image-frame img')]"
    ".filter(i => i.offsetParent !== null && i.complete && i.naturalWidth > 0)"
)

playwright = pytest.importorskip("playwright.sync_api")
if not shutil.which(CHROMIUM) and not Path(CHROMIUM).is_file():
    pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium", allow_module_level=True)

from playground.images import CAPTION_PX, Tiling  # noqa: E402
from playground.ui.compare_tab import COMPARE_COLUMNS  # noqa: E402
from scripts.screenshots import (  # noqa: E402
    CHROMIUM_ARGS,
    choose_dataset,
    choose_latent_family,
    click_cell,
    click_map,
    latent_map_block,
    picture_size,
    tour,
    visible_button,
    wait_idle,
)


@pytest.fixture(scope="module")
def app_url(tiny_weights_both):
    with served_app(tiny_weights_both) as demo:
        yield demo.local_url


@pytest.fixture(scope="module")
def browser():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def open_page(browser, url: str, width: int = 1280, height: int = 900):
    """A new page at `url` that records console errors and requests to other hosts in `.problems`."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.problems = []
    own = urlparse(url).netloc
    page.on("console", lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"))
    page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
    page.on(
        "request",
        lambda r: urlparse(r.url).netloc not in ("", own) and not r.url.startswith(("data:", "blob:"))
        and page.problems.append(f"request to another host: {r.url}"),
    )  # fmt: skip
    page.goto(url)
    page.get_by_role("tab", name="GAN").wait_for()
    return page


@pytest.fixture(scope="module")
def page(app_url, browser):
    page = open_page(browser, app_url)
    wait_idle(page)
    yield page
    page.close()


@pytest.fixture
def own_page(app_url, browser):
    """A page for one test. The drawing tests take one: a drawn Sketchpad makes Gradio's editor read
    its canvas back (readPixels, slow without a GPU) on later page-wide updates, and on the shared
    page that left a tab click waiting 30 s in CI after a dataset change."""
    page = open_page(browser, app_url)
    wait_idle(page)
    yield page
    assert page.problems == []
    page.close()


def shot(page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


TABS = ["GAN", "VAE", "Diffusion", "Compare", "Latent space", "Train it yourself"]


def shown_images(page) -> int:
    """Images with pixels in the open tab (an empty gr.Image has no <img>)."""
    return page.evaluate(f"() => ({SHOWN}).length")


def test_every_tab_opens_with_images(app_url, browser):
    """At 1280x720, opening / shows results on every tab without pressing any button."""
    page = open_page(browser, app_url, 1280, 720)
    try:
        for name in TABS:
            page.get_by_role("tab", name=name).click()
            page.wait_for_function(f"() => ({SHOWN}).length > 0", timeout=60_000)
            wait_idle(page)
            expected = {"GAN": 3, "VAE": 4, "Diffusion": 4, "Compare": 3, "Train it yourself": 2}.get(name, 4)
            # An image the server has sent may still be downloading once the page is idle (a slow
            # machine: one CI run counted 3 of the VAE tab's 4): give the browser time to finish.
            with contextlib.suppress(playwright.TimeoutError):
                page.wait_for_function(f"() => ({SHOWN}).length >= {expected}", timeout=30_000)
            assert shown_images(page) >= expected, name
            page.screenshot(path=ARTIFACTS / f"opened-{name.split()[0].lower()}.png", full_page=True)
        assert page.problems == []
    finally:
        page.close()


def test_a_deep_link_opens_its_view_in_presenter_mode(app_url, browser):
    url = app_url.rstrip("/") + "/?dataset=fashion&tab=diffusion&class=Sneaker&seed=3&steps=4&present=1"
    page = open_page(browser, url, 1280, 720)
    try:
        page.get_by_text("4 steps").filter(visible=True).wait_for(timeout=60_000)  # the run the link names
        assert page.get_by_role("tab", name="Diffusion", selected=True).count() == 1
        assert page.get_by_label("Dataset (for the whole page)").input_value() == "Fashion-MNIST"
        assert page.get_by_label("Class", exact=True).filter(visible=True).first.input_value() == "Sneaker"
        assert page.get_by_label("Seed", exact=True).filter(visible=True).first.input_value() == "3"
        assert page.evaluate("() => document.body.classList.contains('present')")
        assert page.locator(".lesson").filter(visible=True).count() == 0  # lessons folded away
        assert page.get_by_label("Presenter mode").is_checked()
        wait_idle(page)
        assert shown_images(page) >= 4
        page.screenshot(path=ARTIFACTS / "deep-link-presenter.png", full_page=True)
        # the control gives this view's link back, at the address the page was opened at
        page.get_by_label("Presenter mode").uncheck()
        assert not page.evaluate("() => document.body.classList.contains('present')")
        visible_button(page, "Link to this view").click()
        link = page.locator("#view-link textarea, #view-link input").first
        page.wait_for_function("() => document.querySelector('#view-link textarea, #view-link input')?.value")
        value = link.input_value()
        assert value.startswith(app_url.rstrip("/") + "/?"), value
        for part in ("dataset=fashion", "tab=diffusion", "class=Sneaker", "seed=3", "steps=4"):
            assert part in value, value
        assert "present" not in value
        assert page.problems == []
    finally:
        page.close()


def test_a_bad_deep_link_opens_the_defaults_and_says_why(app_url, browser):
    page = open_page(browser, app_url.rstrip("/") + "/?tab=nowhere&seed=-4&dataset=mnist")
    try:
        page.get_by_text("tab must be one of").wait_for(timeout=30_000)
        assert page.get_by_role("tab", name="GAN", selected=True).count() == 1
        assert page.get_by_label("Seed", exact=True).filter(visible=True).first.input_value() == "0"
    finally:
        page.close()


def test_gan_tab_generates(page):
    page.get_by_role("tab", name="GAN").click()
    visible_button(page, "Generate").click()
    wait_idle(page)
    page.get_by_text("GAN generator (").filter(visible=True).wait_for()
    assert picture_size(page, "#gan-samples") == Tiling(16, 8, 112, 112).size  # 16 images in one picture
    visible_button(page, "Ask the discriminator").click()
    wait_idle(page)
    page.get_by_text("Mean probability of").wait_for()
    shot(page, "gan")


def draw_a_one(page) -> None:
    """Choose "drawing" in the open tab and draw a vertical stroke with the mouse."""
    page.get_by_label("drawing", exact=True).filter(visible=True).first.check()
    page.get_by_role("button", name="Brush", exact=True).filter(visible=True).first.click()  # the pen
    canvas = page.locator("canvas").filter(visible=True).first
    canvas.wait_for()
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.8, steps=12)
    page.mouse.up()


def test_vae_drawing_with_the_mouse(own_page):
    page = own_page
    page.get_by_role("tab", name="VAE").click()
    draw_a_one(page)
    visible_button(page, "Encode and decode").click()
    wait_idle(page)
    page.get_by_text("Reconstruction error").filter(visible=True).wait_for()
    shot(page, "vae-drawing")


def test_a_drawing_encoded_three_ways(own_page):
    page = own_page
    page.get_by_role("tab", name="Latent space").click()
    draw_a_one(page)
    visible_button(page, "Encode three ways").click()
    wait_idle(page, 120)
    result = page.locator(".prose").filter(has_text="mean squared error").filter(visible=True).first
    result.wait_for()
    text = result.inner_text()
    assert all(way in text for way in ("VAE encoder", "DDIM inversion", "GAN inversion")), text
    assert page.get_by_text("The drawing is empty").count() == 0
    shot(page, "latent-drawing")


def test_diffusion_streams(page):
    page.get_by_role("tab", name="Diffusion").click()
    steps = page.get_by_label("number input for Steps", exact=True).filter(visible=True)
    steps.fill("19")  # not the model's own 20: the page opened with that run, from the results cache
    steps.press("Enter")
    # Every progress line the page shows, recorded in the page as it changes: the tiny test model
    # runs faster than a test could poll. It reads the changed nodes' textContent (the page's
    # innerText lays the whole page out on every change) and is disconnected after the run, so
    # the later tests on this shared page do not pay for it.
    page.evaluate("""() => {
        window.stepsSeen = new Set();
        window.stepsObserver = new MutationObserver(records => {
            for (const r of records)
                for (const m of (r.target.textContent || '').matchAll(/Step (\\d+) of 19/g)) window.stepsSeen.add(m[1]);
        });
        window.stepsObserver.observe(document.body, {subtree: true, childList: true, characterData: true});
    }""")
    try:
        visible_button(page, "Denoise").click()
        page.get_by_text("19 steps").filter(visible=True).wait_for()
    finally:
        seen = page.evaluate("() => { window.stepsObserver.disconnect(); return [...window.stepsSeen]; }")
    assert seen, "no intermediate step was shown while the run streamed"
    shot(page, "diffusion")


def test_latent_map_click_decodes(page):
    page.get_by_role("tab", name="Latent space").click()
    latent_map_block(page).locator("img").first.wait_for()
    choose_latent_family(page, "VAE")
    click_map(page, 0.5, 0.5)
    assert page.locator("#point-text").inner_text().startswith("Decoded (")
    shot(page, "latent-click")
    # diffusion's map: its own points, and a click decodes through the noise space
    choose_latent_family(page, "Diffusion")
    page.get_by_text("prior samples (seed 0) of the noise space").filter(visible=True).wait_for()
    click_map(page, 0.5, 0.5)
    assert "each step's noise read from the vector" in page.locator("#point-text").inner_text()
    shot(page, "latent-click-diffusion")


def test_compare_then_look_at_one_image(page):
    page.get_by_role("tab", name="Compare").click()
    visible_button(page, "Compare").click()
    page.get_by_text("Measured now, on this machine").filter(visible=True).wait_for()
    wait_idle(page)
    shot(page, "compare-grids")
    assert picture_size(page, "#compare-diffusion") == Tiling(8, 4, 112, 112, caption=CAPTION_PX).size
    click_cell(page, "#compare-vae", 2, COMPARE_COLUMNS)
    page.locator("#nearest-text").get_by_text("nearest of").wait_for()
    wait_idle(page)
    assert picture_size(page, "#nearest") == Tiling(6, 6, 112, 112, caption=2 * CAPTION_PX).size
    assert page.locator("#nearest-text").inner_text().count(", distance ") == 6
    shot(page, "compare")


def test_every_tab_on_the_other_dataset(page):
    shots = tour(page, ARTIFACTS, "Fashion-MNIST", "fashion")
    assert len(shots) == 6 and all(s.stat().st_size > 10_000 for s in shots)
    page.get_by_role("tab", name="GAN").click()
    page.get_by_label("Class", exact=True).filter(visible=True).first.click()
    assert page.get_by_role("option", name="Ankle boot", exact=True).count() == 1
    page.keyboard.press("Escape")
    assert sampler_shown(page) == ("DDPM", "7", "2.5")  # the Fashion-MNIST models' own (tests/conftest.py)
    student = page.locator("#diffusion-scheduler label").filter(has_text="Distilled student")
    assert student.count() == 0  # this model has no distilled student
    assert truncation_shown(page) == "0.5"
    choose_dataset(page, "MNIST")
    assert sampler_shown(page) == ("SDE-DPM-Solver++", "20", "1.5")
    student.click()  # choosing MNIST's student sets the steps and guidance it was distilled for
    page.wait_for_function("() => [...document.querySelectorAll('input[aria-label=\"number input for Steps\"]')]"
                           ".some(e => e.offsetParent && e.value === '2')")  # fmt: skip
    assert sampler_shown(page) == ("Distilled student", "2", "1.5")
    assert truncation_shown(page) == "0.9"


def truncation_shown(page) -> str:
    """The GAN tab's ψ: it opens at the dataset's GAN's own."""
    page.get_by_role("tab", name="GAN").click()
    return page.get_by_label("number input for Truncation ψ", exact=True).filter(visible=True).input_value()


def sampler_shown(page) -> tuple[str, str, str]:
    """The Diffusion tab's scheduler, steps and guidance scale: they open at the dataset's model's own."""
    page.get_by_role("tab", name="Diffusion").click()
    scheduler = page.locator("#diffusion-scheduler label").filter(has=page.locator("input:checked")).inner_text()
    steps, guidance = (
        page.get_by_label(f"number input for {label}", exact=True).filter(visible=True).input_value()
        for label in ("Steps", "Guidance scale (with a class)")
    )
    return scheduler.strip(), steps, guidance


def test_no_console_errors_and_no_other_hosts(page):
    assert page.problems == []


def test_a_live_training_changes_its_samples_pauses_and_leaves_the_other_tabs_serving(own_page):
    """Train it yourself: press Train, and the samples change at least 5 times in 10 s; Pause stops
    them where they are; the GAN tab still answers."""
    page = own_page
    page.get_by_role("tab", name="Train it yourself").click()
    wait_idle(page)
    samples = page.locator("#live-samples img")
    visible_button(page, "Train").click()
    seen, end = set(), time.time() + 10
    while time.time() < end:
        if samples.count():
            seen.add(samples.first.get_attribute("src"))
        page.wait_for_timeout(100)
    assert len(seen) >= 6, f"the samples changed {len(seen) - 1} times in 10 s"
    assert "step" in page.locator("#live-status").inner_text()
    visible_button(page, "Pause").click()
    page.wait_for_function("() => document.querySelector('#live-status').innerText.includes('Paused at step')")
    page.wait_for_timeout(1500)  # an update already on its way may still arrive
    paused = samples.first.get_attribute("src")
    page.wait_for_timeout(2000)
    assert samples.first.get_attribute("src") == paused, "the samples still change after Pause"
    shot(page, "live-training")
    page.get_by_role("tab", name="GAN").click()
    visible_button(page, "Generate").click()
    wait_idle(page)
    assert shown_images(page) >= 3
