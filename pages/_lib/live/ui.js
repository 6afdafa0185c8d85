// Helpers shared by every view: DOM building, latent names and numbers, the decoded-image
// canvas (grey or RGB), timings, and BaseView (model bookkeeping + reporting to Python).
// A view is a BaseView subclass in a view_<mode>.js file that ends with registerView(mode, cls).

const MAX_TIMINGS = 5000;
const MAX_WEIGHT_TRIES = 3;
const VIEW_CLASSES = new Map(); // data.mode -> BaseView subclass

/** Make a view available as data.mode === mode (called once at the end of each view file). */
function registerView(mode, cls) {
  VIEW_CLASSES.set(mode, cls);
}

/** Grayscale (C=1) or RGB (C=3) image (C, H, W) in [0, 1] -> RGBA ImageData. Other C: first channel. */
function fillImageData(imageData, img, C, hw, invert) {
  const px = imageData.data;
  const g = C === 3 ? hw : 0;
  const b = C === 3 ? 2 * hw : 0;
  for (let p = 0, q = 0; p < hw; p++, q += 4) {
    let r = img[p];
    let gg = img[g + p];
    let bb = img[b + p];
    if (invert) {
      r = 1 - r;
      gg = 1 - gg;
      bb = 1 - bb;
    }
    px[q] = r * 255 + 0.5;
    px[q + 1] = gg * 255 + 0.5;
    px[q + 2] = bb * 255 + 0.5;
    px[q + 3] = 255;
  }
}

function recordTiming(ms) {
  const t = window.__vaeTimings;
  t.push(ms);
  if (t.length > MAX_TIMINGS) t.splice(0, t.length - MAX_TIMINGS);
}

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k === "className") node.className = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) node.append(c);
  return node;
}

const MINUS = "\u2212";
const SUBSCRIPT_DIGITS = "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089";

/** The lecture's name for latent dimension d (0-based index): t\u2081, t\u2082, ... (t = m + s \u2299 \u03b5). */
function tName(d) {
  return `t${String(d + 1).replace(/\d/g, (c) => SUBSCRIPT_DIGITS[c])}`;
}

function fmt(v, digits = 2) {
  const s = Math.abs(v).toFixed(digits);
  return (v < 0 && Number(s) !== 0 ? MINUS : "+") + s;
}

/** A crisp, pixelated view of the decoded image: native-size canvas, scaled by CSS. */
class ImageView {
  constructor(testid, px) {
    this.canvas = el("canvas", { "data-testid": testid, className: "vae-image", width: 1, height: 1 });
    this.frame = el("div", { className: "vae-image-frame" }, [this.canvas]);
    this.ctx = this.canvas.getContext("2d");
    this.px = px;
    this.shape = null;
    this.decodes = 0;
  }

  setShape(C, H, W, px) {
    const key = `${C}x${H}x${W}@${px}`;
    if (this.shape === key) return;
    this.shape = key;
    this.px = px;
    this.canvas.width = W;
    this.canvas.height = H;
    this.imageData = this.ctx.createImageData(W, H);
    // Integer upscaling keeps every latent pixel the same size on screen.
    const scale = Math.max(1, Math.floor(px / Math.max(H, W)));
    // Only the width: CSS max-width may shrink it, and height follows the intrinsic ratio.
    this.canvas.style.width = `${W * scale}px`;
  }

  paint(model, img, invert) {
    fillImageData(this.imageData, img, model.C, model.H * model.W, invert);
    this.ctx.putImageData(this.imageData, 0, 0);
    this.decodes += 1;
    this.canvas.dataset.decodeCount = String(this.decodes);
  }
}

function statusText(ms) {
  return `decoded in your browser \u00b7 ${ms < 10 ? ms.toFixed(1) : ms.toFixed(0)} ms`;
}

/** What every view shares: model bookkeeping, reporting to Python, status and timing. */
class BaseView {
  constructor(parent, mode) {
    this.parent = parent;
    this.mode = mode;
    this.model = null;
    this.modelId = null;
    this.api = null;
    this.lastEvent = null; // the last event reported to Python
  }

  /** New data from Python (every rerun that changed it): resolve the model, then apply(). */
  update(data, api) {
    this.api = api;
    this.data = data;
    this.root.dataset.key = data.key || "";
    if (this.resolveModel(data)) this.apply(data);
  }

  /** Subclasses: show `data` with this.model (compiled, ready). */
  apply(data) {
    throw new Error(`live decoder: view ${this.mode} lacks apply(${typeof data})`);
  }

  /** Report one user action to Python: a single state value, hence a single rerun. */
  report(action, fields) {
    this.lastEvent = { action, ...fields, model_id: this.modelId };
    this.api.setStateValue("event", this.lastEvent);
  }

  /**
   * Resolve data.model (the payload header) into this.model. True when it is ready now; else
   * the view shows "loading" and update() runs again once IndexedDB or Python delivered it.
   */
  resolveModel(data) {
    const header = data.model;
    let model = null;
    try {
      checkHeader(header);
      // The model this view already compiled survives cache eviction: reuse it by id.
      model = this.model && this.modelId === header.id ? this.model : memoryModel(header.id);
    } catch (err) {
      this.model = null;
      this.showError(String(err && err.message ? err.message : err));
      return false;
    }
    if (!model) {
      this.model = null;
      this.setBusy("loading model\u2026");
      this.findModel(data);
      return false;
    }
    this.weightsAsked = null;
    this.model = model;
    this.modelId = header.id;
    this.root.dataset.modelId = header.id;
    this.root.dataset.ready = "true";
    this.root.classList.remove("vae-busy");
    if (this.status) this.status.classList.remove("vae-error");
    return true;
  }

  /** Not in memory: look in IndexedDB (once per model), then ask Python for the weights. */
  findModel(data) {
    const id = data.model.id;
    if (this.weightsAsked && this.weightsAsked.id === id) {
      // Python served our request but the weights never arrived (a newer run replaced that
      // one before it was shown): ask again, a bounded number of times.
      if (data.served === this.weightsAsked.req && this.weightsAsked.tries < MAX_WEIGHT_TRIES) {
        this.requestWeights(id, this.weightsAsked.tries + 1);
      }
      return;
    }
    if (this.lookingUp === id) return;
    this.lookingUp = id;
    storedModel(data.model).then((m) => {
      this.lookingUp = null;
      const now = this.data && this.data.model;
      if (!now || now.id !== id || this.model) return; // moved on meanwhile
      if (m) this.update(this.data, this.api);
      else this.requestWeights(id, 1);
    });
  }

  /**
   * Ask Python for the weights: ONE event (a rerun), keeping the last action's fields so the
   * widget's value does not change; `req` is new each time, so Python serves each ask once.
   */
  requestWeights(id, tries) {
    const req = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    this.weightsAsked = { id, req, tries };
    const ev = { ...(this.lastEvent || {}), action: "weights", need: id, req, model_id: null };
    this.api.setStateValue("event", ev);
  }

  setBusy(text) {
    this.root.dataset.ready = "false";
    this.root.classList.add("vae-busy");
    if (this.status) this.status.textContent = text;
  }

  showError(text) {
    this.root.dataset.ready = "false";
    if (this.status) {
      this.status.textContent = `live decoding unavailable: ${text}`;
      this.status.classList.add("vae-error");
    }
  }

  /** Run fn (decode + paint), show its time; record=false for non-input repaints (mounts). */
  timed(t0, fn, record = true) {
    fn();
    const ms = performance.now() - t0;
    if (record) recordTiming(ms);
    this.root.dataset.lastMs = ms.toFixed(3);
    if (this.status) this.status.textContent = statusText(ms);
  }

  destroy() {
    if (this.root && this.root.parentNode) this.root.parentNode.removeChild(this.root);
  }
}

