"""Open the running app in headless Chromium, use every tab on every dataset, and save screenshots.

    python app.py &                                  # or any running instance
    python scripts/screenshots.py --url http://127.0.0.1:7860 --out artifacts/screenshots
    python scripts/screenshots.py --present      # each tab in presenter mode at 1280x720

Uses Playwright for Python with the system's Chromium (`--chromium /usr/bin/chromium`); it
never downloads a browser.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from playwright.sync_api import Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from playground.images import CAPTION_PX, Tiling
from playground.models import FAMILY_TITLES
from playground.ui.common import IMAGE_SCALE
from playground.ui.compare_tab import COMPARE_COLUMNS
from playground.ui.latent_tab import READING

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]  # fmt: skip


def visible_button(page: Page, name: str):
    return page.get_by_role("button", name=name, exact=True).filter(visible=True).first


def wait_idle(page: Page, timeout_s: float = 60) -> None:
    """Wait until Gradio shows no pending work (no progress bars or spinners)."""
    page.wait_for_timeout(300)
    end = time.time() + timeout_s
    while time.time() < end:
        if page.locator(".progress-text, .eta-bar, .wrap.pending, .generating").filter(visible=True).count() == 0:
            return
        page.wait_for_timeout(200)


def shoot(page: Page, path: Path) -> Path:
    """A full-page screenshot once every visible image has loaded. Gradio marks images lazy, and a
    screenshot does not scroll (nor does it scroll inside a gallery), so load them all first."""
    page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach(i => { i.loading = 'eager'; })")
    try:
        page.wait_for_function(
            "Array.from(document.images).filter(i => i.offsetParent !== null)"
            ".every(i => i.complete && i.naturalWidth > 0)",
            timeout=15_000,
        )
    except PlaywrightTimeout:
        print(f"warning: some images had not loaded for {path.name}", file=sys.stderr)
    page.screenshot(path=path, full_page=True)
    return path


def wait_until(condition, timeout_s: float = 60) -> None:
    end = time.time() + timeout_s
    while not condition():
        if time.time() > end:
            raise TimeoutError(f"gave up waiting after {timeout_s} s")
        time.sleep(0.1)


def choose_dataset(page: Page, title: str) -> None:
    box = page.get_by_label("Dataset (for the whole page)")
    box.click()
    page.get_by_role("option", name=title, exact=True).click()
    wait_idle(page)


def choose_latent_family(page: Page, title: str) -> None:
    """Show `title`'s map on the Latent-space tab and wait until its text (the app's own reading
    of that map, whose opening words have no Markdown in them) says so."""
    key = next(k for k, t in FAMILY_TITLES.items() if t == title)
    page.get_by_label(title, exact=True).filter(visible=True).first.check()
    page.get_by_text(READING[key][:25]).filter(visible=True).wait_for()
    wait_idle(page)


def latent_map_block(page: Page):
    return page.locator(".block").filter(has_text="Latent map — click to decode").filter(visible=True)


def click_map(page: Page, fx: float, fy: float) -> None:
    """Click the latent map at fractions (fx, fy) of its width and height, and wait for the
    decoded point's text to change. The map is scrolled into view first: a mouse click outside
    the viewport reaches nothing (the buttons further down may have scrolled the page)."""
    image = latent_map_block(page).locator("img").first
    image.scroll_into_view_if_needed()
    said = page.locator("#point-text")
    before = said.inner_text()
    box = image.bounding_box()
    page.mouse.click(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
    wait_until(lambda: said.inner_text() not in (before, ""))
    wait_idle(page)


def picture_size(page: Page, selector: str) -> tuple[int, int]:
    """The natural (width, height) of the picture in the image component `selector`."""
    return tuple(page.locator(f"{selector} img").first.evaluate("i => [i.naturalWidth, i.naturalHeight]"))


def click_cell(page: Page, selector: str, i: int, columns: int, size: int = 28, captioned: bool = True) -> None:
    """Click the middle of image `i` in a picture of `size`-px images, `columns` per row (as
    `common.picture` draws it), wherever the page has scaled the picture to."""
    image = page.locator(f"{selector} img").first
    image.scroll_into_view_if_needed()
    box = image.bounding_box()
    width, height = picture_size(page, selector)
    scale = min(box["width"] / width, box["height"] / height)  # shown with object-fit: contain
    left = box["x"] + (box["width"] - width * scale) / 2
    top = box["y"] + (box["height"] - height * scale) / 2
    cell = size * IMAGE_SCALE
    x0, y0, x1, y1 = Tiling(i + 1, columns, cell, cell, caption=CAPTION_PX if captioned else 0).box(i)
    page.mouse.click(left + (x0 + x1) / 2 * scale, top + (y0 + y1) / 2 * scale)


def tour(page: Page, out: Path, dataset_title: str, key: str) -> list[Path]:
    """Use each tab as a visitor would and screenshot it."""
    shots = []
    choose_dataset(page, dataset_title)
    page.get_by_role("tab", name="GAN").click()
    visible_button(page, "Generate").click()
    wait_idle(page)
    visible_button(page, "Ask the discriminator").click()
    wait_idle(page)
    shots.append(shoot(page, out / f"{key}-gan.png"))

    page.get_by_role("tab", name="VAE").click()
    visible_button(page, "Generate").click()
    wait_idle(page)
    visible_button(page, "Encode and decode").click()
    wait_idle(page)
    visible_button(page, "Walk").click()
    wait_idle(page)
    shots.append(shoot(page, out / f"{key}-vae.png"))

    page.get_by_role("tab", name="Diffusion").click()
    visible_button(page, "Denoise").click()
    wait_idle(page, 120)
    shots.append(shoot(page, out / f"{key}-diffusion.png"))

    page.get_by_role("tab", name="Compare").click()
    visible_button(page, "Compare").click()
    wait_idle(page, 120)
    before = page.locator("#nearest-text").inner_text()
    click_cell(page, "#compare-gan", 0, COMPARE_COLUMNS)  # look at one image closely
    wait_until(lambda: page.locator("#nearest-text").inner_text() not in (before, ""))
    wait_idle(page)
    shots.append(shoot(page, out / f"{key}-compare.png"))

    page.get_by_role("tab", name="Latent space").click()
    choose_latent_family(page, "VAE")  # an earlier visit may have left another family chosen
    click_map(page, 0.4, 0.6)
    for name in ("Interpolate", "Decode this seed in all three", "Draw the image-space map", "Encode three ways"):
        visible_button(page, name).click()
        wait_idle(page, 120)
    shots.append(shoot(page, out / f"{key}-latent.png"))

    choose_latent_family(page, "Diffusion")  # diffusion's map, clicked
    click_map(page, 0.55, 0.45)
    shots.append(shoot(page, out / f"{key}-latent-diffusion.png"))
    return shots


def presenter_tour(page: Page, out: Path, key: str) -> list[Path]:
    """Each tab as it opens in presenter mode (the page opened with ?present=1), one screenshot
    of the viewport each: what a projector shows without scrolling."""
    shots = []
    for name in ("GAN", "VAE", "Diffusion", "Compare", "Latent space", "Train it yourself"):
        page.get_by_role("tab", name=name).click()
        wait_idle(page, 120)
        page.evaluate("window.scrollTo(0, 0)")
        path = out / f"{key}-present-{name.split()[0].lower()}.png"
        page.screenshot(path=path)
        shots.append(path)
    return shots


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:7860")
    p.add_argument("--out", default="artifacts/screenshots")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--datasets", nargs="+", default=["MNIST:mnist", "Fashion-MNIST:fashion"], help="title:key pairs")
    p.add_argument("--present", action="store_true", help="each tab in presenter mode at 1280x720, as it opens")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        if args.present:
            for pair in args.datasets:
                key = pair.split(":")[1]
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(f"{args.url.rstrip('/')}/?present=1&dataset={key}")
                page.get_by_role("tab", name="GAN").wait_for()
                for shot in presenter_tour(page, out, key):
                    print(shot)
                page.close()
            browser.close()
            return 0
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(args.url)
        page.get_by_role("tab", name="GAN").wait_for()
        wait_idle(page)
        for pair in args.datasets:
            title, key = pair.split(":")
            for shot in tour(page, out, title, key):
                print(shot)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
