// View "plane": a 2-D slice of latent space; hover decodes, click pins.

const DEFAULT_COLORS = [
  "#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b",
  "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac",
];

class PlaneView extends BaseView {
  constructor(parent) {
    super(parent, "plane");
    this.canvas = el("canvas", { className: "vae-plane", "data-testid": "vae-plane-canvas", tabindex: 0 });
    this.ctx = this.canvas.getContext("2d");
    this.image = new ImageView("vae-plane-decoded", 200);
    this.coords = el("div", { className: "vae-coords", "data-testid": "vae-plane-coords" });
    this.pinnedText = el("div", { className: "vae-pinned", "data-testid": "vae-plane-pinned" });
    this.status = el("div", { className: "vae-status", "data-testid": "vae-live-status" });
    this.legend = el("div", { className: "vae-legend", "data-testid": "vae-plane-legend" });
    this.root = el("div", { className: "vae-live vae-plane-view", "data-testid": "vae-live-plane" }, [
      el("div", { className: "vae-grid" }, [
        el("div", { className: "vae-plane-col" }, [
          el("div", { className: "vae-plane-frame" }, [this.canvas]),
          this.legend,
        ]),
        el("div", { className: "vae-image-col" }, [
          this.image.frame,
          this.coords,
          this.pinnedText,
          this.status,
        ]),
      ]),
    ]);
    parent.appendChild(this.root);
    this.appliedCmd = null;
    this.probe = null; // [x, y] under the pointer (latent units)
    this.pinned = null; // [x, y] pinned by a click
    this.background = null; // offscreen canvas with the static scatter
    this.bgKey = null;
    this.z = null;
    this.canvas.addEventListener("pointermove", (e) => this.onPointer(e));
    this.canvas.addEventListener("pointerdown", (e) => this.onPointer(e));
    this.canvas.addEventListener("pointerleave", () => this.onLeave());
    this.canvas.addEventListener("click", (e) => this.onClick(e));
    this.canvas.addEventListener("keydown", (e) => this.onKey(e));
  }

  /** Show data (called by BaseView.update once the model is compiled). */
  apply(data) {
    const D = this.model.latentDim;
    this.z = new Float64Array(D);
    if (Array.isArray(data.base_latent) && data.base_latent.length === D) {
      for (let i = 0; i < D; i++) this.z[i] = data.base_latent[i];
    }
    if (data.cmd !== this.appliedCmd) {
      this.appliedCmd = data.cmd;
      this.pinned = Array.isArray(data.pinned_xy) ? data.pinned_xy.slice(0, 2) : null;
    }
    const [x0, x1, y0, y1] = data.extent;
    this.canvas.dataset.extent = JSON.stringify(data.extent);
    this.canvas.dataset.dims = JSON.stringify(data.dims);
    const px = data.plane_px || 420;
    const aspect = (y1 - y0) / (x1 - x0);
    this.cssW = px;
    this.cssH = Math.round(px * Math.min(1.5, Math.max(0.5, aspect)));
    this.image.setShape(this.model.C, this.model.H, this.model.W, data.image_px || 200);
    this.buildLegend(data);
    this.drawBackground();
    const at = this.probe || this.pinned || [this.z[data.dims[0]], this.z[data.dims[1]]];
    this.timed(performance.now(), () => this.show(at), false);
    this.renderPinned();
  }

  colorOf(label) {
    const c = this.data.label_colors;
    if (c && c[String(label)] !== undefined) return c[String(label)];
    return DEFAULT_COLORS[((label % DEFAULT_COLORS.length) + DEFAULT_COLORS.length) % DEFAULT_COLORS.length];
  }

  buildLegend(data) {
    this.legend.replaceChildren();
    const seen = [...new Set(data.point_labels || [])].sort((a, b) => a - b);
    for (const lab of seen) {
      const name = (data.label_names && data.label_names[String(lab)]) || String(lab);
      this.legend.appendChild(
        el("span", { className: "vae-legend-item", "data-label": lab }, [
          el("span", { className: "vae-swatch", style: `background:${this.colorOf(lab)}` }),
          el("span", { text: name }),
        ]),
      );
    }
    this.legend.hidden = seen.length === 0;
  }

  toPx(x, y) {
    const [x0, x1, y0, y1] = this.data.extent;
    return [((x - x0) / (x1 - x0)) * this.cssW, ((y1 - y) / (y1 - y0)) * this.cssH];
  }

  toLatent(px, py) {
    const [x0, x1, y0, y1] = this.data.extent;
    return [x0 + (px / this.cssW) * (x1 - x0), y1 - (py / this.cssH) * (y1 - y0)];
  }

  /** The static layer (grid, prior circles, points), drawn once per data change. */
  drawBackground() {
    const dpr = window.devicePixelRatio || 1;
    const d = this.data;
    const key = JSON.stringify([this.cssW, this.cssH, dpr, d.extent, d.points_xy.length, d.points_hash, d.dims]);
    this.canvas.width = Math.round(this.cssW * dpr);
    this.canvas.height = Math.round(this.cssH * dpr);
    this.canvas.style.width = `${this.cssW}px`;
    if (key === this.bgKey && this.background) return;
    this.bgKey = key;
    const bg = document.createElement("canvas");
    bg.width = this.canvas.width;
    bg.height = this.canvas.height;
    const g = bg.getContext("2d");
    g.scale(dpr, dpr);
    // Canvas needs plain colours: read the theme once; tints come from globalAlpha.
    const style = getComputedStyle(this.root);
    const text = style.getPropertyValue("--vae-text").trim() || "#31333f";
    const font = style.getPropertyValue("--vae-font").trim() || "sans-serif";
    const bgColor = style.getPropertyValue("--vae-bg").trim() || "#ffffff";
    this.accent = style.getPropertyValue("--vae-accent").trim() || "#ff4b4b";
    const [x0, x1, y0, y1] = d.extent;
    // Integer grid lines (latent units are prior standard deviations).
    g.lineWidth = 1;
    g.strokeStyle = text;
    g.globalAlpha = 0.08;
    for (let v = Math.ceil(x0); v <= Math.floor(x1); v++) {
      const [px] = this.toPx(v, 0);
      g.beginPath();
      g.moveTo(Math.round(px) + 0.5, 0);
      g.lineTo(Math.round(px) + 0.5, this.cssH);
      g.stroke();
    }
    for (let v = Math.ceil(y0); v <= Math.floor(y1); v++) {
      const [, py] = this.toPx(0, v);
      g.beginPath();
      g.moveTo(0, Math.round(py) + 0.5);
      g.lineTo(this.cssW, Math.round(py) + 0.5);
      g.stroke();
    }
    g.globalAlpha = 1;
    // Points: the encoded test set, coloured by label.
    const pts = d.points_xy;
    const labels = d.point_labels;
    const r = pts.length > 4000 ? 1.6 : 2.2;
    g.globalAlpha = 0.75;
    let lastColor = null;
    for (let i = 0; i < pts.length; i += 2) {
      const color = labels ? this.colorOf(labels[i >> 1]) : DEFAULT_COLORS[0];
      if (color !== lastColor) {
        g.fillStyle = color;
        lastColor = color;
      }
      const [px, py] = this.toPx(pts[i], pts[i + 1]);
      g.beginPath();
      g.arc(px, py, r, 0, 2 * Math.PI);
      g.fill();
    }
    g.globalAlpha = 1;
    // Prior N(0, I): contours at 1 and 2 standard deviations.
    const [cx, cy] = this.toPx(0, 0);
    g.strokeStyle = text;
    g.setLineDash([6, 5]);
    g.lineWidth = 1.5;
    for (const s of [1, 2]) {
      const [ex] = this.toPx(s, 0);
      const [, ey] = this.toPx(0, s);
      g.beginPath();
      g.ellipse(cx, cy, Math.abs(ex - cx), Math.abs(cy - ey), 0, 0, 2 * Math.PI);
      g.stroke();
      g.setLineDash([]);
      // Label on a halo of the page background so it stays legible over the points.
      g.font = `700 13px ${font}`;
      const [lx, ly] = this.toPx(s * Math.SQRT1_2, s * Math.SQRT1_2);
      g.lineWidth = 4;
      g.strokeStyle = bgColor;
      g.strokeText(`${s}\u03c3`, lx + 4, ly - 4);
      g.fillStyle = text;
      g.fillText(`${s}\u03c3`, lx + 4, ly - 4);
      g.strokeStyle = text;
      g.lineWidth = 1.5;
      g.setLineDash([6, 5]);
    }
    g.setLineDash([]);
    // Axis names, in the corners where points rarely are.
    g.fillStyle = text;
    g.globalAlpha = 0.65;
    g.font = `600 13px ${font}`;
    g.textAlign = "right";
    g.fillText(`${tName(d.dims[0])} \u2192`, this.cssW - 8, this.cssH - 8);
    g.textAlign = "left";
    g.fillText(`\u2191 ${tName(d.dims[1])}`, 8, 18);
    g.globalAlpha = 1;
    this.background = bg;
  }

  drawOverlay() {
    const dpr = window.devicePixelRatio || 1;
    const c = this.ctx;
    c.setTransform(1, 0, 0, 1, 0, 0);
    c.clearRect(0, 0, this.canvas.width, this.canvas.height);
    c.drawImage(this.background, 0, 0);
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    const accent = this.accent;
    if (this.probe) {
      const [px, py] = this.toPx(this.probe[0], this.probe[1]);
      c.strokeStyle = accent;
      c.globalAlpha = 0.55;
      c.lineWidth = 1;
      c.beginPath();
      c.moveTo(px, 0);
      c.lineTo(px, this.cssH);
      c.moveTo(0, py);
      c.lineTo(this.cssW, py);
      c.stroke();
      c.globalAlpha = 1;
      c.beginPath();
      c.arc(px, py, 5, 0, 2 * Math.PI);
      c.stroke();
    }
    if (this.pinned) {
      const [px, py] = this.toPx(this.pinned[0], this.pinned[1]);
      c.fillStyle = accent;
      c.strokeStyle = "#fff";
      c.lineWidth = 2;
      c.beginPath();
      c.arc(px, py, 7, 0, 2 * Math.PI);
      c.fill();
      c.stroke();
    }
  }

  latentAt(xy) {
    const z = Float64Array.from(this.z);
    z[this.data.dims[0]] = xy[0];
    z[this.data.dims[1]] = xy[1];
    return z;
  }

  show(xy) {
    const z = this.latentAt(xy);
    this.image.paint(this.model, this.model.decode(z), this.data.invert);
    const [a, b] = this.data.dims;
    this.coords.innerHTML = "";
    this.coords.append(
      el("span", { className: "vae-coord", text: `${tName(a)} ${fmt(xy[0])}` }),
      el("span", { className: "vae-coord", text: `${tName(b)} ${fmt(xy[1])}` }),
    );
    this.coords.dataset.latent = JSON.stringify(Array.from(z));
    this.drawOverlay();
  }

  eventXY(e) {
    const rect = this.canvas.getBoundingClientRect();
    const px = ((e.clientX - rect.left) / rect.width) * this.cssW;
    const py = ((e.clientY - rect.top) / rect.height) * this.cssH;
    return this.toLatent(px, py);
  }

  onPointer(e) {
    const t0 = performance.now();
    if (!this.model) return;
    this.probe = this.eventXY(e);
    this.timed(t0, () => this.show(this.probe));
  }

  onLeave() {
    if (!this.model) return;
    this.probe = null;
    const t0 = performance.now();
    const at = this.pinned || [this.z[this.data.dims[0]], this.z[this.data.dims[1]]];
    this.timed(t0, () => this.show(at));
  }

  onClick(e) {
    if (!this.model) return;
    this.pin(this.eventXY(e));
  }

  onKey(e) {
    if (!this.model) return;
    const [x0, x1, y0, y1] = this.data.extent;
    const step = (e.shiftKey ? 0.25 : 0.05) * Math.max(1, (x1 - x0) / 8);
    const at = this.probe || this.pinned || [0, 0];
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, step], ArrowDown: [0, -step] };
    if (moves[e.key]) {
      e.preventDefault();
      const t0 = performance.now();
      this.probe = [
        Math.min(x1, Math.max(x0, at[0] + moves[e.key][0])),
        Math.min(y1, Math.max(y0, at[1] + moves[e.key][1])),
      ];
      this.timed(t0, () => this.show(this.probe));
    } else if ((e.key === "Enter" || e.key === " ") && this.probe) {
      e.preventDefault();
      this.pin(this.probe);
    }
  }

  pin(xy) {
    this.pinned = [xy[0], xy[1]];
    this.drawOverlay();
    this.renderPinned();
    this.report("pin", { pinned: Array.from(this.latentAt(xy)), pinned_xy: this.pinned, cmd: this.appliedCmd });
  }

  renderPinned() {
    const [a, b] = this.data.dims;
    if (this.pinned) {
      this.pinnedText.textContent = `pinned: ${tName(a)} ${fmt(this.pinned[0])}, ${tName(b)} ${fmt(this.pinned[1])}`;
      this.pinnedText.dataset.pinned = JSON.stringify(this.pinned);
    } else {
      this.pinnedText.textContent = "click the plane to pin a point";
      delete this.pinnedText.dataset.pinned;
    }
  }
}

registerView("plane", PlaneView);
