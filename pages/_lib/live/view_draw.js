// View "draw": draw a digit (or paint on a test image) and the whole VAE runs in the browser
// on every pointer move, once per animation frame: preprocess (draw_prep.js) -> encode ->
// decode(m) and 8 samples decode(m + s * eps) -> the posterior q(t|x) and the ELBO.
// Python hears ONE event per finished stroke (pen lift), undo or clear: {action: "lift", x,
// mu, std, ...}. Without a model header (an unexportable model) the pad still draws and the
// pen lift sends the drawing as a PNG for the server to encode.

const DRAW_PX = 280; // the pad's pixels in "draw" mode (10x MNIST)
const N_SAMPLES = 8;
const MAX_UNDO = 30;
const POST_PX = 260;

/** Seeded uniform PRNG (mulberry32): the same seed replays the same samples. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n x D standard normal draws (Box-Muller) from seed. */
function seededNormals(seed, n, D) {
  const u = mulberry32(seed);
  const out = new Float64Array(n * D);
  for (let i = 0; i < out.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const a = 2 * Math.PI * u();
    out[i] = r * Math.cos(a);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

/** Bernoulli NLL of image x (C, H, W) under channel-last logits, nats (summed over pixels). */
function bernoulliNll(logits, x, C, hw) {
  let s = 0;
  for (let p = 0; p < hw; p++) {
    for (let c = 0; c < C; c++) {
      const l = logits[p * C + c];
      s += Math.max(l, 0) - l * x[c * hw + p] + Math.log1p(Math.exp(-Math.abs(l)));
    }
  }
  return s;
}

/** Principal axes of a 2x2 covariance [[a, b], [b, d]]: [r1, r2, angle] (r = sqrt eigenvalue). */
function ellipseAxes(a, b, d) {
  const tr = (a + d) / 2;
  const det = Math.sqrt(Math.max(0, ((a - d) / 2) ** 2 + b * b));
  return [Math.sqrt(Math.max(0, tr + det)), Math.sqrt(Math.max(0, tr - det)), 0.5 * Math.atan2(2 * b, a - d)];
}

class DrawView extends BaseView {
  constructor(parent) {
    super(parent, "draw");
    this.pad = el("canvas", { className: "vae-draw-pad", "data-testid": "vae-draw-canvas", width: DRAW_PX, height: DRAW_PX });
    this.pctx = this.pad.getContext("2d", { willReadFrequently: true });
    this.width = el("input", { type: "range", min: 6, max: 48, step: 1, value: 22, "aria-label": "pen width", "data-testid": "vae-draw-width" });
    this.color = el("input", { type: "color", value: "#ffffff", "aria-label": "paint colour", "data-testid": "vae-draw-color" });
    const button = (text, testid) => el("button", { type: "button", className: "vae-draw-btn", "data-testid": testid, text });
    this.penBtn = button("Pen", "vae-draw-pen");
    this.eraserBtn = button("Eraser", "vae-draw-eraser");
    this.undoBtn = button("Undo", "vae-draw-undo");
    this.clearBtn = button("Clear", "vae-draw-clear");
    this.tools = el("div", { className: "vae-draw-tools" }, [
      this.penBtn, this.eraserBtn, this.undoBtn, this.clearBtn,
      el("label", { className: "vae-draw-width" }, ["width ", this.width]),
      this.color,
    ]);
    this.input = new ImageView("vae-draw-input", 112);
    this.recon = new ImageView("vae-draw-recon", 112);
    this.samples = new ImageView("vae-draw-samples", 240);
    this.post = el("canvas", { className: "vae-draw-post", "data-testid": "vae-draw-posterior" });
    this.bars = el("canvas", { className: "vae-draw-bars", "data-testid": "vae-draw-bars" });
    this.numbers = el("div", { className: "vae-draw-numbers", "data-testid": "vae-draw-elbo" });
    this.status = el("div", { className: "vae-status", "data-testid": "vae-live-status" });
    const caption = (text) => el("div", { className: "vae-draw-caption", text });
    this.postCaption = caption("");
    this.legend = el("div", { className: "vae-legend vae-draw-legend", "data-testid": "vae-draw-legend" });
    this.barsCaption = caption("m \u00b1 2s per dimension (grey: the prior's \u00b12)");
    this.root = el("div", { className: "vae-live vae-draw", "data-testid": "vae-live-draw" }, [
      el("div", { className: "vae-draw-grid" }, [
        el("div", { className: "vae-draw-col" }, [el("div", { className: "vae-draw-frame" }, [this.pad]), this.tools, this.status]),
        el("div", { className: "vae-draw-col" }, [
          el("div", { className: "vae-draw-pair" }, [
            el("figure", {}, [this.input.frame, caption("model input x")]),
            el("figure", {}, [this.recon.frame, caption("decode(m)")]),
          ]),
          el("figure", {}, [this.samples.frame, caption(`${N_SAMPLES} samples decode(m + s \u2299 \u03b5)`)]),
          this.numbers,
        ]),
        el("div", { className: "vae-draw-col" }, [this.post, this.legend, this.postCaption, this.bars, this.barsCaption]),
      ]),
    ]);
    parent.appendChild(this.root);
    this.erasing = false;
    this.undo = [];
    this.stroke = null; // {last: [x, y]} while the pen is down
    this.pending = null; // timeStamp of the oldest pointer event not yet shown
    this.frame = 0;
    this.appliedStart = null;
    this.bgKey = null;
    this.result = null;
    this.pad.addEventListener("pointerdown", (e) => this.onDown(e));
    this.pad.addEventListener("pointermove", (e) => this.onMove(e));
    this.pad.addEventListener("pointerup", (e) => this.onUp(e));
    this.pad.addEventListener("pointercancel", (e) => this.onUp(e));
    this.penBtn.addEventListener("click", () => this.setEraser(false));
    this.eraserBtn.addEventListener("click", () => this.setEraser(true));
    this.undoBtn.addEventListener("click", () => this.onUndo());
    this.clearBtn.addEventListener("click", () => this.onClear());
    this.setEraser(false);
    if (!Array.isArray(window.__vaeDrawTimings)) window.__vaeDrawTimings = [];
    if (!Array.isArray(window.__vaeDrawStages)) window.__vaeDrawStages = [];
  }

  update(data, api) {
    if (data.model) {
      super.update(data, api);
      return;
    }
    // No browser model: drawing only; the server encodes at each pen lift.
    this.api = api;
    this.data = data;
    this.model = null;
    this.root.dataset.key = data.key || "";
    this.root.dataset.ready = "true";
    this.setup(data);
    this.status.textContent = "this model runs on the server: lift the pen to encode";
  }

  apply(data) {
    this.setup(data);
    const m = this.model;
    this.input.setShape(m.C, m.H, m.W, 112);
    this.recon.setShape(m.C, m.H, m.W, 112);
    const cols = N_SAMPLES / 2;
    this.samples.setShape(m.C, 2 * m.H + 1, cols * m.W + cols - 1, 240);
    this.samples.tile = new Float32Array(m.C * (2 * m.H + 1) * (cols * m.W + cols - 1)).fill(1);
    this.eps = seededNormals(Number(data.seed) || 0, N_SAMPLES, m.latentDim);
    this.bars.hidden = this.barsCaption.hidden = false;
    this.run(); // a repaint for new data, not a pointer event: not timed
    this.status.textContent = "encoded and decoded in your browser as you draw";
  }

  /** Pad size and mode, the start image (a new command from Python), the tools. */
  setup(data) {
    const [C, H, W] = data.image_shape;
    const paint = data.pad === "paint";
    const k = paint ? Math.max(1, Math.floor(DRAW_PX / Math.max(H, W))) : 1;
    const pw = paint ? W * k : DRAW_PX;
    const ph = paint ? H * k : DRAW_PX;
    this.k = k;
    if (this.pad.width !== pw || this.pad.height !== ph || this.modeNow !== data.pad) {
      this.pad.width = pw;
      this.pad.height = ph;
      this.modeNow = data.pad;
      this.undo = [];
      this.clearPad();
      this.width.value = paint ? String(Math.max(2, Math.round(1.5 * k))) : "22";
    }
    this.color.hidden = !paint;
    this.root.dataset.mode = data.pad;
    if (data.start && data.start.cmd !== this.appliedStart) {
      this.appliedStart = data.start.cmd;
      this.pushUndo();
      this.drawStart(data.start, C, H, W);
    }
  }

  clearPad() {
    this.pctx.globalCompositeOperation = "source-over";
    this.pctx.fillStyle = "#000";
    this.pctx.fillRect(0, 0, this.pad.width, this.pad.height);
  }

  /** A test image (uint8, C*H*W) scaled onto the pad: smooth in draw mode, blocks in paint. */
  drawStart(start, C, H, W) {
    const img = new ImageData(W, H);
    const hw = H * W;
    for (let p = 0; p < hw; p++) {
      for (let c = 0; c < 3; c++) img.data[4 * p + c] = start.pixels[(C === 3 ? c * hw : 0) + p];
      img.data[4 * p + 3] = 255;
    }
    const small = document.createElement("canvas");
    small.width = W;
    small.height = H;
    small.getContext("2d").putImageData(img, 0, 0);
    this.clearPad();
    this.pctx.imageSmoothingEnabled = this.modeNow !== "paint";
    this.pctx.drawImage(small, 0, 0, this.pad.width, this.pad.height);
  }

  setEraser(on) {
    this.erasing = on;
    this.penBtn.classList.toggle("vae-on", !on);
    this.eraserBtn.classList.toggle("vae-on", on);
    this.penBtn.setAttribute("aria-pressed", String(!on));
    this.eraserBtn.setAttribute("aria-pressed", String(on));
  }

  pushUndo() {
    this.undo.push(this.pctx.getImageData(0, 0, this.pad.width, this.pad.height));
    if (this.undo.length > MAX_UNDO) this.undo.shift();
    this.undoBtn.disabled = false;
  }

  padXY(e) {
    const r = this.pad.getBoundingClientRect();
    return [((e.clientX - r.left) * this.pad.width) / r.width, ((e.clientY - r.top) * this.pad.height) / r.height];
  }

  ink() {
    if (this.erasing) return "#000";
    return this.modeNow === "paint" ? this.color.value : "#fff";
  }

  onDown(e) {
    if (e.button !== 0 || (this.data && this.data.model && !this.model)) return;
    e.preventDefault();
    this.pad.setPointerCapture(e.pointerId);
    this.pushUndo();
    const [x, y] = this.padXY(e);
    const g = this.pctx;
    g.fillStyle = this.ink();
    g.beginPath();
    g.arc(x, y, Number(this.width.value) / 2, 0, 2 * Math.PI);
    g.fill();
    this.stroke = { last: [x, y], id: e.pointerId };
    this.schedule(e.timeStamp);
  }

  onMove(e) {
    if (!this.stroke || e.pointerId !== this.stroke.id) return;
    e.preventDefault();
    const g = this.pctx;
    g.strokeStyle = this.ink();
    g.lineWidth = Number(this.width.value);
    g.lineCap = "round";
    g.lineJoin = "round";
    g.beginPath();
    g.moveTo(this.stroke.last[0], this.stroke.last[1]);
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const [x, y] = this.padXY(ev);
      g.lineTo(x, y);
      this.stroke.last = [x, y];
    }
    g.stroke();
    this.schedule(e.timeStamp);
  }

  onUp(e) {
    if (!this.stroke || e.pointerId !== this.stroke.id) return;
    this.stroke = null;
    this.flush();
    this.reportDrawing();
  }

  onUndo() {
    const snap = this.undo.pop();
    if (!snap) return;
    this.pctx.putImageData(snap, 0, 0);
    this.undoBtn.disabled = this.undo.length === 0;
    this.schedule(performance.now());
    this.flush();
    this.reportDrawing();
  }

  onClear() {
    this.pushUndo();
    this.clearPad();
    this.schedule(performance.now());
    this.flush();
    this.reportDrawing();
  }

  /** Show the drawing at the next animation frame (many pointer events, one frame of work). */
  schedule(timeStamp) {
    if (this.pending === null) this.pending = timeStamp;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  flush() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    if (this.pending === null || !this.model) {
      this.pending = null;
      return;
    }
    const t0 = this.pending;
    this.pending = null;
    this.run();
    const ms = performance.now() - t0;
    const t = window.__vaeDrawTimings;
    t.push(ms);
    if (t.length > MAX_TIMINGS) t.splice(0, t.length - MAX_TIMINGS);
    this.root.dataset.lastMs = ms.toFixed(3);
    this.status.textContent = `encoded and decoded in your browser \u00b7 ${ms < 10 ? ms.toFixed(1) : ms.toFixed(0)} ms`;
  }

  /** The pad -> the model input x (C, H, W) in [0, 1]. */
  modelInput() {
    const m = this.model;
    const { width: w, height: h } = this.pad;
    const px = this.pctx.getImageData(0, 0, w, h).data;
    if (this.modeNow !== "paint") {
      const values = new Float32Array(w * h);
      for (let i = 0; i < values.length; i++) values[i] = px[4 * i] / 255;
      return prepareDrawing(values, h, w, this.data.style, m.H, m.W);
    }
    // Painting: the pad is the image k times larger; average each k x k block.
    const k = this.k;
    const hw = m.H * m.W;
    const x = new Float32Array(m.C * hw);
    const luma = [0.299, 0.587, 0.114];
    for (let y = 0; y < m.H; y++) {
      for (let xx = 0; xx < m.W; xx++) {
        const acc = [0, 0, 0];
        for (let i = 0; i < k; i++) {
          for (let j = 0; j < k; j++) {
            const q = 4 * ((y * k + i) * w + xx * k + j);
            for (let c = 0; c < 3; c++) acc[c] += px[q + c];
          }
        }
        const p = y * m.W + xx;
        const n = 255 * k * k;
        if (m.C === 3) for (let c = 0; c < 3; c++) x[c * hw + p] = acc[c] / n;
        else x[p] = (luma[0] * acc[0] + luma[1] * acc[1] + luma[2] * acc[2]) / n;
      }
    }
    return { x, blank: false };
  }

  /** Preprocess, encode, decode m and the samples, and paint everything. */
  run() {
    const m = this.model;
    const D = m.latentDim;
    const t0 = performance.now();
    const prep = this.modelInput();
    const t1 = performance.now();
    const { mu, logvar } = m.encode(prep.x);
    const t2 = performance.now();
    const muD = Float64Array.from(mu);
    const lvD = Float64Array.from(logvar);
    const std = this.data.deterministic ? new Float64Array(D) : lvD.map((v) => Math.exp(0.5 * v));
    this.input.paint(m, prep.x, false);
    this.recon.paint(m, m.decode(Array.from(muD)), false);
    const hw = m.H * m.W;
    const bern = this.data.likelihood === "bernoulli";
    let nll = 0;
    const t = new Float64Array(D);
    const tile = this.samples.tile;
    const cols = N_SAMPLES / 2;
    const TW = cols * m.W + cols - 1;
    const THW = (2 * m.H + 1) * TW;
    for (let s = 0; s < N_SAMPLES; s++) {
      for (let i = 0; i < D; i++) t[i] = muD[i] + std[i] * this.eps[s * D + i];
      const img = m.decode(t);
      if (bern) nll += bernoulliNll(m.logits(), prep.x, m.C, hw);
      const oy = Math.floor(s / cols) * (m.H + 1);
      const ox = (s % cols) * (m.W + 1);
      for (let c = 0; c < m.C; c++) {
        for (let y = 0; y < m.H; y++) {
          tile.set(img.subarray(c * hw + y * m.W, c * hw + (y + 1) * m.W), c * THW + (oy + y) * TW + ox);
        }
      }
    }
    this.samples.paint({ C: m.C, H: 2 * m.H + 1, W: TW }, tile, false);
    const t3 = performance.now();
    let kl = 0;
    for (let i = 0; i < D; i++) kl += 0.5 * (muD[i] ** 2 + std[i] ** 2 - 1 - (this.data.deterministic ? 0 : lvD[i]));
    this.result = {
      x: prep.x,
      blank: prep.blank,
      mu: Array.from(muD),
      std: Array.from(std),
      logvar: Array.from(lvD),
      recon: bern ? nll / N_SAMPLES : null,
      kl: this.data.deterministic ? null : kl,
    };
    this.post.dataset.mu = JSON.stringify(this.result.mu);
    this.post.dataset.std = JSON.stringify(this.result.std);
    this.drawPosterior(muD, std);
    this.drawBars(muD, std);
    this.showNumbers();
    // Where the time goes (bench/live_draw.py): preprocess, encode, 9 decodes, panels.
    const st = window.__vaeDrawStages;
    st.push([t1 - t0, t2 - t1, t3 - t2, performance.now() - t3]);
    if (st.length > MAX_TIMINGS) st.splice(0, st.length - MAX_TIMINGS);
  }

  /** The (projected) posterior mean and covariance: [px, py, cxx, cxy, cyy]. */
  project(mu, std) {
    const pr = this.data.projection;
    if (!pr) return [mu[0], mu[1], std[0] ** 2, 0, std[1] ** 2];
    const [c0, c1] = pr.components;
    let px = 0, py = 0, a = 0, b = 0, d = 0;
    for (let i = 0; i < mu.length; i++) {
      const v = std[i] ** 2;
      px += c0[i] * (mu[i] - pr.mean[i]);
      py += c1[i] * (mu[i] - pr.mean[i]);
      a += c0[i] * c0[i] * v;
      b += c0[i] * c1[i] * v;
      d += c1[i] * c1[i] * v;
    }
    return [px, py, a, b, d];
  }

  /** Which colour is which label (the test points' classes), rebuilt when they change. */
  buildLegend() {
    const d = this.data;
    const key = JSON.stringify([d.label_names, d.label_colors]);
    if (key === this.legendKey) return;
    this.legendKey = key;
    const names = d.label_names || [];
    this.legend.replaceChildren(
      ...names.map((name, i) =>
        el("span", { className: "vae-legend-item" }, [
          el("span", { className: "vae-swatch", style: `background:${d.label_colors[String(i)] || "#4c78a8"}` }),
          el("span", { text: name }),
        ]),
      ),
    );
    this.legend.hidden = names.length === 0;
  }

  /** Static layer: encoded test points (+ the prior's circles on a 2-D model). */
  background(style) {
    const d = this.data;
    const dpr = window.devicePixelRatio || 1;
    const key = JSON.stringify([dpr, d.points_hash, d.extent, !!d.projection]);
    if (this.bgKey === key) return this.bg;
    this.bgKey = key;
    const bg = document.createElement("canvas");
    bg.width = bg.height = Math.round(POST_PX * dpr);
    const g = bg.getContext("2d");
    g.scale(dpr, dpr);
    g.fillStyle = style.bg;
    g.fillRect(0, 0, POST_PX, POST_PX);
    const pts = d.points_xy || [];
    g.globalAlpha = 0.55;
    for (let i = 0; i < pts.length; i += 2) {
      const lab = d.point_labels ? d.point_labels[i >> 1] : 0;
      g.fillStyle = (d.label_colors && d.label_colors[String(lab)]) || "#4c78a8";
      const [x, y] = this.toPost(pts[i], pts[i + 1]);
      g.fillRect(x - 1.2, y - 1.2, 2.4, 2.4);
    }
    g.globalAlpha = 0.7;
    g.strokeStyle = style.text;
    g.fillStyle = style.text;
    g.font = `600 12px ${style.font}`;
    if (!d.projection) {
      g.setLineDash([5, 4]);
      for (const s of [1, 2]) {
        const [cx, cy] = this.toPost(0, 0);
        const [ex] = this.toPost(s, 0);
        g.beginPath();
        g.arc(cx, cy, ex - cx, 0, 2 * Math.PI);
        g.stroke();
      }
      g.setLineDash([]);
    }
    const [xName, yName] = d.projection ? ["PC 1", "PC 2"] : [tName(0), tName(1)];
    g.textAlign = "right";
    g.fillText(`${xName} \u2192`, POST_PX - 6, POST_PX - 6);
    g.textAlign = "left";
    g.fillText(`\u2191 ${yName}`, 6, 16);
    g.globalAlpha = 1;
    this.bg = bg;
    return bg;
  }

  toPost(x, y) {
    const [x0, x1, y0, y1] = this.data.extent;
    return [((x - x0) / (x1 - x0)) * POST_PX, ((y1 - y) / (y1 - y0)) * POST_PX];
  }

  themeStyle() {
    const cs = getComputedStyle(this.root);
    const get = (name, dflt) => cs.getPropertyValue(name).trim() || dflt;
    return { text: get("--vae-text", "#31333f"), bg: get("--vae-bg", "#ffffff"), font: get("--vae-font", "sans-serif"), accent: get("--vae-accent", "#ff4b4b") };
  }

  drawPosterior(mu, std) {
    const dpr = window.devicePixelRatio || 1;
    const style = this.themeStyle();
    const size = Math.round(POST_PX * dpr);
    if (this.post.width !== size) {
      this.post.width = this.post.height = size;
      this.post.style.width = `${POST_PX}px`;
    }
    const g = this.post.getContext("2d");
    g.setTransform(1, 0, 0, 1, 0, 0);
    g.drawImage(this.background(style), 0, 0);
    this.buildLegend();
    g.scale(dpr, dpr);
    const [px, py, a, b, d] = this.project(mu, std);
    const [r1, r2, ang] = ellipseAxes(a, b, d);
    const [cx, cy] = this.toPost(px, py);
    const [x0, x1] = this.data.extent;
    const unit = POST_PX / (x1 - x0);
    g.strokeStyle = style.accent;
    g.fillStyle = style.accent;
    for (const k of [2, 1]) {
      g.globalAlpha = k === 1 ? 0.35 : 0.15;
      g.beginPath();
      g.ellipse(cx, cy, Math.max(0.5, k * r1 * unit), Math.max(0.5, k * r2 * unit), -ang, 0, 2 * Math.PI);
      g.fill();
      g.globalAlpha = 1;
      g.lineWidth = 2;
      g.stroke();
    }
    g.beginPath();
    g.arc(cx, cy, 4, 0, 2 * Math.PI);
    g.fill();
    this.postCaption.textContent = this.data.projection
      ? "q(t|x): the mean and its 1\u03c3 / 2\u03c3 ellipses, projected with the Latent map's PCA, over the encoded test images"
      : "q(t|x): 1\u03c3 and 2\u03c3 ellipses over the encoded test images (dashed: the prior)";
  }

  drawBars(mu, std) {
    const D = mu.length;
    const dpr = window.devicePixelRatio || 1;
    const W = POST_PX;
    const H = 120;
    if (this.bars.width !== Math.round(W * dpr)) {
      this.bars.width = Math.round(W * dpr);
      this.bars.height = Math.round(H * dpr);
      this.bars.style.width = `${W}px`;
    }
    const style = this.themeStyle();
    const g = this.bars.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    const lim = 4;
    const yOf = (v) => H / 2 - (Math.max(-lim, Math.min(lim, v)) / lim) * (H / 2 - 4);
    const step = W / D;
    g.fillStyle = style.text;
    g.globalAlpha = 0.1;
    g.fillRect(0, yOf(2), W, yOf(-2) - yOf(2));
    g.globalAlpha = 0.5;
    g.fillRect(0, yOf(0), W, 1);
    g.globalAlpha = 1;
    g.fillStyle = style.accent;
    for (let i = 0; i < D; i++) {
      const x = i * step + step * 0.2;
      const top = yOf(mu[i] + 2 * std[i]);
      g.globalAlpha = 0.4;
      g.fillRect(x, top, step * 0.6, Math.max(1, yOf(mu[i] - 2 * std[i]) - top));
      g.globalAlpha = 1;
      g.fillRect(x, yOf(mu[i]) - 1, step * 0.6, 2);
    }
  }

  showNumbers() {
    const r = this.result;
    const f1 = (v) => Math.abs(v).toFixed(1);
    const ctx = this.data.elbo_context;
    const parts = [];
    if (r.recon !== null && r.kl !== null) {
      const elbo = -(r.recon + r.kl);
      parts.push(el("div", { className: "vae-draw-elbo" }, [
        el("b", { text: `ELBO \u2248 ${elbo < 0 ? MINUS : ""}${f1(elbo)} nats` }),
        ` = ${MINUS}(reconstruction ${f1(r.recon)} + KL ${f1(r.kl)})`,
      ]));
      this.numbers.dataset.elbo = String(elbo);
    } else {
      parts.push(el("div", { text: "The ELBO of this model is computed on the server when you lift the pen." }));
    }
    if (ctx) parts.push(el("div", { className: "vae-draw-context", text: ctx }));
    this.numbers.replaceChildren(...parts);
  }

  /** ONE event for Python: the finished drawing (model input + posterior), or its PNG. */
  reportDrawing() {
    this.strokes = (this.strokes || 0) + 1;
    if (!this.model) {
      this.report("lift", { png: this.pad.toDataURL("image/png"), n: this.strokes });
      return;
    }
    const r = this.result;
    const x = Array.from(r.x, (v) => Math.round(v * 1e4) / 1e4);
    this.report("lift", { x, blank: r.blank, mu: r.mu, std: r.std, logvar: r.logvar, recon: r.recon, kl: r.kl, n: this.strokes });
  }
}

registerView("draw", DrawView);
