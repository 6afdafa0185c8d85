import time, pytest
from .conftest import act, open_page, runs
@pytest.mark.parametrize("i", range(3))
def test_dbg(page, tmp_path, i):
    page.evaluate("""() => { window.__log = []; const t0 = performance.now();
      new MutationObserver((rs) => { for (const r of rs) window.__log.push([Math.round(performance.now()-t0), r.target.getAttribute('data-test-script-state')]); })
      .observe(document, {subtree: true, attributes: true, attributeFilter: ['data-test-script-state']}); }""")
    open_page(page, "Your image")
    print("after open", runs(page), page.evaluate("window.__log"))
    bad = tmp_path / "broken.png"; bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0"*52)
    t = time.time()
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(bad))
    time.sleep(3)
    print("after upload", runs(page), page.evaluate("window.__log"), page.locator('[data-testid="stFileUploader"]').inner_text())
