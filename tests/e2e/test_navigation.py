"""Every page of the app opens from the sidebar navigation in a real browser and shows its own
content, with no error element."""

from __future__ import annotations

import pytest

from .conftest import assert_no_error, nav_titles, open_page, screenshot

pytestmark = pytest.mark.e2e

# Navigation label -> a word its title (h1) must contain. Same order as app.py's PAGES.
PAGES = {
    "Home": "VAE Latent Explorer",
    "Lesson: 45 minutes": "Lesson",
    "Latent sliders": "sliders",
    "2-D latent plane": "plane",
    "Latent map": "Latent map",
    "Watch it learn": "Watch it learn",
    "Compare models": "Compare models",
    "Your image": "Your image",
    "Latent arithmetic": "Latent arithmetic",
    "Draw it yourself": "Draw",
    "Noise ε: the reparameterization trick": "Noise",
    "Gradient estimators": "Gradient",
    "Autoencoder vs VAE": "Autoencoder",
    "ELBO vs log p(x)": "ELBO",
    "Infinite mixture: generation": "generation",
    "Interpolation": "Interpolation",
    "Train a model": "Train",
}
PLACEHOLDER = "This page is being built."


def test_every_page_opens_from_the_navigation(page) -> None:  # noqa: ANN001
    assert nav_titles(page) == list(PAGES), "sidebar navigation differs from app.py's pages"
    problems = []
    visited = set()
    # Start from the second link: the home page is already open; then come back to it.
    for title in [*list(PAGES)[1:], "Home"]:
        open_page(page, title)
        main = page.locator("[data-testid=stMain]")
        heading = main.locator("h1").first.inner_text(timeout=10_000)
        screenshot(page, f"page-{title}")
        if PAGES[title].lower() not in heading.lower():
            problems.append(f"{title}: title is {heading!r}")
        text = main.inner_text()
        if PLACEHOLDER in text:
            problems.append(f"{title}: still the placeholder")
        # Each page shows more than a title: text blocks, images, charts or widgets.
        blocks = main.locator(
            "[data-testid=stMarkdownContainer], [data-testid=stImage], "
            "[data-testid=stPlotlyChart], [data-testid=stMetric], [data-testid=stCustomComponentV1], "
            "[data-testid=stBidiComponent], input, canvas"
        ).count()
        if blocks < 3:
            problems.append(f"{title}: only {blocks} content elements")
        try:
            assert_no_error(page, title)
        except AssertionError as e:
            problems.append(str(e))
        visited.add(page.url)
    assert len(visited) == len(PAGES), f"{len(visited)} distinct URLs for {len(PAGES)} pages"
    assert not problems, "\n".join(problems)


def test_the_app_requests_nothing_outside_this_machine(page) -> None:  # noqa: ANN001
    """Every request a page makes goes to the app's own server (the fixture aborts and records
    any other before it leaves the browser)."""
    open_page(page, "Latent map")
    page.wait_for_timeout(500)
    assert page.vae_blocked == []
