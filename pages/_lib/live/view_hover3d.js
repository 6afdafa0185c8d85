// View "hover3d": the image of the point under the mouse on the Latent map's 3-D chart. Plotly's
// hover labels hold text only, so this view listens to the page's 3-D Plotly chart itself
// (its plotly_hover events; the chart is in the same document) and decodes the hovered point's
// latent mean here, with no server trip. A 3-D latent's point IS its mean (x, y, z); a projected
// one (PCA to 3) looks its test number (the trace's customdata) up in data.means: float16,
// base64, (N, D) row-major.
// DOM: root [data-testid=vae-live-hover3d] (data-hooked = "true" once listening to a chart,
// data-hovered = the test number painted last), canvas[data-testid=vae-live-canvas],
// [data-testid=vae-hover-caption], [data-testid=vae-latent-vector] (data-latent: JSON of t).

/** IEEE half floats (little-endian bytes of a base64 string) -> Float64Array. */
function halfFloats(b64) {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const out = new Float64Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) {
    const h = bytes[2 * i] | (bytes[2 * i + 1] << 8);
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const f = h & 0x3ff;
    if (e === 0) out[i] = sign * f * 2 ** -24;
    else if (e === 31) out[i] = f ? NaN : sign * Infinity;
    else out[i] = sign * (1 + f / 1024) * 2 ** (e - 15);
  }
  return out;
}

/** Plotly trace names carry HTML entities (display.plot_text): their plain text, inertly. */
function plainText(s) {
  return new DOMParser().parseFromString(String(s || ""), "text/html").documentElement.textContent;
}

const HOOK_MS = 400; // how often to look for a (re)mounted 3-D chart

class Hover3dView extends BaseView {
  constructor(parent) {
    super(parent, "hover3d");
    this.image = new ImageView("vae-live-canvas", 160);
    this.caption = el("div", { className: "vae-title", "data-testid": "vae-hover-caption", text: "" });
    this.status = el("div", { className: "vae-status", "data-testid": "vae-live-status", text: "" });
    this.vector = el("div", { className: "vae-vector", "data-testid": "vae-latent-vector" });
    this.root = el("div", { className: "vae-live vae-hover3d", "data-testid": "vae-live-hover3d" }, [
      this.image.frame, this.caption, this.status, this.vector,
    ]);
    parent.appendChild(this.root);
    this.means = null;
    this.meansId = null;
    this.timer = setInterval(() => this.hook(), HOOK_MS);
  }

  apply(data) {
    const D = this.model.latentDim;
    if (data.means_id !== this.meansId) {
      this.means = data.means ? halfFloats(data.means) : null;
      this.meansId = data.means_id;
    }
    if (this.means ? this.means.length % D !== 0 : D !== 3) {
      this.showError(`the chart's points do not carry ${D}-D means`);
      return;
    }
    this.image.setShape(this.model.C, this.model.H, this.model.W, data.image_px || 160);
    if (!this.root.dataset.hovered) this.caption.textContent = data.hint || "";
    this.hook();
  }

  /** Listen to every 3-D Plotly chart in the page not yet heard (Streamlit remounts charts). */
  hook() {
    for (const gd of document.querySelectorAll(".js-plotly-plot")) {
      if (gd.__vaeHover3d === this || typeof gd.on !== "function" || !Array.isArray(gd._fullData)) continue;
      if (!gd._fullData.some((t) => t.type === "scatter3d")) continue;
      gd.__vaeHover3d = this;
      gd.on("plotly_hover", (ev) => {
        if (gd.__vaeHover3d === this) this.onHover(ev);
      });
      this.root.dataset.hooked = "true";
    }
  }

  onHover(ev) {
    const t0 = performance.now();
    const p = ev && ev.points && ev.points[0];
    if (!p || !this.model || p.customdata === undefined || p.customdata === null) return;
    const row = Number(Array.isArray(p.customdata) ? p.customdata[0] : p.customdata);
    const D = this.model.latentDim;
    let z;
    if (this.means) {
      if (!(row >= 0 && (row + 1) * D <= this.means.length)) return;
      z = this.means.slice(row * D, (row + 1) * D);
    } else {
      z = Float64Array.from([p.x, p.y, p.z]);
    }
    this.timed(t0, () => {
      this.image.paint(this.model, this.model.decode(z), false);
      this.caption.textContent = `test image #${row} (${plainText(p.data && p.data.name)}): decode(m)`;
      this.vector.dataset.latent = JSON.stringify(Array.from(z));
      this.root.dataset.hovered = String(row);
    });
  }

  destroy() {
    clearInterval(this.timer);
    super.destroy();
  }
}

registerView("hover3d", Hover3dView);
