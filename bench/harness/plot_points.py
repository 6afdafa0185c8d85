"""Where a Plotly scatter's points are on screen, for clicking real points in a browser (the
Latent map's tests and ``bench/latent_map.py``). Works for SVG and WebGL traces alike: the
positions come from Plotly's own axes, not from the DOM."""

from __future__ import annotations

# Points of the first Plotly chart in the page, in page pixels, with their customdata (the
# test image number) and the plot area: [{c, i, cd, px, py, left, top, w, h}, ...].
POINTS_JS = """
() => {
  const gd = document.querySelector('[data-testid=stPlotlyChart] .js-plotly-plot');
  if (!gd || !gd._fullLayout || !gd._fullData) return null;
  const fl = gd._fullLayout, r = gd.getBoundingClientRect(), out = [];
  const xa = fl.xaxis, ya = fl.yaxis;
  gd._fullData.forEach((tr, c) => {
    if (!tr.customdata || tr.visible !== true) return;
    for (let i = 0; i < tr.x.length; i++) {
      const cd = tr.customdata[i];
      out.push({c, i, cd: Array.isArray(cd) ? cd[0] : cd,
                px: r.left + xa._offset + xa.l2p(tr.x[i]), py: r.top + ya._offset + ya.l2p(tr.y[i]),
                left: r.left + xa._offset, top: r.top + ya._offset, w: xa._length, h: ya._length});
    }
  });
  return out;
}
"""


def inside(points: list[dict], margin: float = 15) -> list[dict]:
    """The points at least ``margin`` px inside the plot area."""
    return [
        p for p in points
        if p["left"] + margin < p["px"] < p["left"] + p["w"] - margin
        and p["top"] + margin < p["py"] < p["top"] + p["h"] - margin
    ]  # fmt: skip


def isolated(points: list[dict], k: int, min_px: float = 6, seed: int = 0) -> list[dict]:
    """Up to ``k`` points inside the plot with no other point within ``min_px``, in random order."""
    import numpy as np

    if not points:
        return []
    xy = np.array([[p["px"], p["py"]] for p in points])
    ok = []
    for p in inside(points):
        d = np.hypot(xy[:, 0] - p["px"], xy[:, 1] - p["py"])
        if np.sort(d)[1] > min_px:  # [0] is the point itself
            ok.append(p)
    order = np.random.default_rng(seed).permutation(len(ok))
    return [ok[j] for j in order[:k]]
