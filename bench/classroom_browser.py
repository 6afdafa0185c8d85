"""The classroom bench's real-browser students (``--clients browser``): N Chromium contexts."""

from __future__ import annotations

import asyncio
import random
import time

from bench.classroom_student import ACTION_TIMEOUT_S, Stats


async def browser_phase(
    n: int, base: str, stats: Stats, start: float, end_at: float, interval: float,
    images: list[bytes], seed: int, ramp: float,
) -> None:  # fmt: skip
    """N real Chromium contexts (one browser): page load to idle, the sliders page, then
    ArrowRight on a slider of the component (3 of 4) or an upload through the file chooser."""
    from playwright.async_api import async_playwright

    from bench.harness.browser import IDLE, OFF_LOOPBACK, RunTracker, launch_chromium

    async with async_playwright() as p:
        browser = await launch_chromium(p)
        loop = asyncio.get_running_loop()

        async def after_run(page, before: int) -> None:  # noqa: ANN001
            """Until a run finished after ``before`` (websocket messages: the DOM's idle flag
            can miss a quick run), then the page idle."""
            deadline = loop.time() + ACTION_TIMEOUT_S
            while page.vae_runs.finished <= before:
                if loop.time() > deadline:
                    raise TimeoutError("no run finished")
                await page.wait_for_timeout(5)
            await page.wait_for_selector(IDLE, timeout=ACTION_TIMEOUT_S * 1000)

        async def one(idx: int) -> None:
            rng = random.Random(seed * 1000 + idx)
            await asyncio.sleep(max(0.0, start + ramp * idx / max(n, 1) - loop.time()))
            ctx = await browser.new_context(viewport={"width": 1400, "height": 1000})
            await ctx.route(OFF_LOOPBACK, lambda route: route.abort())
            page = await ctx.new_page()
            page.vae_runs = RunTracker()
            page.vae_runs.attach(page)
            who = f"browser {idx}"
            try:
                t0 = time.perf_counter()
                await page.goto(base + "/")
                await page.get_by_text("Model loaded:").wait_for(timeout=ACTION_TIMEOUT_S * 1000)
                await page.wait_for_selector(IDLE)
                stats.page_load.append(time.perf_counter() - t0)

                async def to_sliders() -> None:
                    t = time.perf_counter()
                    await page.locator('[data-testid="stSidebarNavLink"]:has(span[label="Latent sliders"])').click()
                    await page.wait_for_selector('[data-testid=vae-live-sliders][data-ready="true"]', timeout=ACTION_TIMEOUT_S * 1000)
                    await page.wait_for_selector(IDLE)
                    stats.switch.append(time.perf_counter() - t)

                await to_sliders()
                k = 0
                next_at = loop.time() + interval * rng.uniform(0.5, 1.5)
                while True:
                    await asyncio.sleep(max(0.0, next_at - loop.time()))
                    if loop.time() >= end_at:
                        break
                    k += 1
                    if k % 4 == 2:
                        await page.locator('[data-testid="stSidebarNavLink"]:has(span[label="Your image"])').click()
                        await page.wait_for_selector('[data-testid="stFileUploader"] input[type="file"]', state="attached")
                        await page.wait_for_selector(IDLE)
                        t = time.perf_counter()
                        await page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(
                            files=[{"name": f"d{k}.png", "mimeType": "image/png", "buffer": images[(idx * 97 + k) % len(images)]}]
                        )
                        await page.locator("[data-testid=stImageCaption]", has_text="reconstruction decode(m)").wait_for(timeout=ACTION_TIMEOUT_S * 1000)
                        await page.wait_for_selector(IDLE)
                        stats.upload.append(time.perf_counter() - t)
                        await to_sliders()
                    else:
                        code_before = await page.locator("[data-testid=vae-latent-vector]").get_attribute("data-latent")
                        slider = page.locator("input[data-testid=vae-slider]").first
                        await slider.focus()
                        before = page.vae_runs.finished
                        t = time.perf_counter()
                        await page.keyboard.press(rng.choice(("ArrowRight", "ArrowLeft")))
                        await after_run(page, before)  # the released value's rerun
                        stats.release.append(time.perf_counter() - t)
                        if await page.locator("[data-testid=vae-latent-vector]").get_attribute("data-latent") == code_before:
                            stats.error(who, "the slider did not move")
                    if await page.locator('[data-testid="stException"]').count():
                        stats.error(who, "exception element on the page")
                    next_at += interval * rng.uniform(0.5, 1.5)
            except Exception as e:  # noqa: BLE001
                stats.error(who, f"{type(e).__name__}: {e}"[:300])
            finally:
                await ctx.close()

        await asyncio.gather(*(one(i) for i in range(n)))
        await browser.close()


