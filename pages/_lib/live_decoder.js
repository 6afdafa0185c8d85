// VAE Latent Explorer: live decoding in the browser (Streamlit components v2 module).
//
// Two halves:
//  1. A decoder for the "vae-decoder/1" format written by vae/export.py: plain Float32Array
//     loops, no dependencies, nothing fetched. decode(z) -> sigmoid(logits) in (C, H, W) order.
//  2. The component UIs (mode "sliders" and mode "plane"), mounted by pages/_lib/live_decoder.py
//     through st.components.v2. Dragging decodes on every `input` / `pointermove` event and
//     paints the canvas in the same task, so the image follows the pointer with no server trip.
//     Python only hears about the *released* value, as ONE setStateValue("event", {...}) per
//     user action: each setStateValue call triggers a rerun of its own, so an action split over
//     several keys would reach Python half-applied (see "Component state" in live_decoder.py).
//
// Test hooks (set when this module is evaluated):
//   window.__vaeDecode(payload, z)   -> Float32Array (C*H*W, CHW order, sigmoid applied)
//   window.__vaeBench(payload, z, n) -> {mean_ms, median_ms, max_ms, n}
//   window.__vaeTimings              -> number[]: ms from input event to canvas painted
//
// The same file loads in a blank page as <script type="module"> (see
// tests/test_live_decoder_browser.py): the default export is then simply unused.

const FORMAT = "vae-decoder/1";
const MAX_TIMINGS = 5000;
const MAX_CACHED_MODELS = 4;

// ------------------------------------------------------------------------------------------
// 1. Decoder
// ------------------------------------------------------------------------------------------

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** base64 of little-endian float32 -> Float32Array (one copy; views into it stay aligned). */
function base64ToFloat32(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  if (LITTLE_ENDIAN) return new Float32Array(bytes.buffer, 0, bytes.length >> 2);
  // Big-endian hosts are rare, but the format is explicitly little-endian.
  const view = new DataView(bytes.buffer);
  const out = new Float32Array(bytes.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/**
 * Tap table for one spatial axis of a conv written in "gather" form: for each output index o,
 * the (kernel index k, input index i) pairs that contribute. Entries for o live in
 * [start[o], start[o + 1]).
 *   conv2d:            i = o * s - p + k
 *   conv_transpose2d:  i * s = o + p - k   (only when divisible)
 * Both then run the same inner loop, with weights repacked to [k][co][ci].
 */
function tapTable(nOut, nIn, kernel, stride, pad, transposed) {
  const start = new Int32Array(nOut + 1);
  const ks = [];
  const is = [];
  for (let o = 0; o < nOut; o++) {
    start[o] = ks.length;
    for (let k = 0; k < kernel; k++) {
      let i;
      if (transposed) {
        const num = o + pad - k;
        if (num < 0 || num % stride !== 0) continue;
        i = num / stride;
      } else {
        i = o * stride - pad + k;
      }
      if (i >= 0 && i < nIn) {
        ks.push(k);
        is.push(i);
      }
    }
  }
  start[nOut] = ks.length;
  return { start, k: Int32Array.from(ks), i: Int32Array.from(is) };
}

function shapeSize(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

function checkRange(flat, off, n, what) {
  if (off === null || off === undefined) return null;
  if (off < 0 || off + n > flat.length) throw new Error(`${what}: weights out of range`);
  return flat.subarray(off, off + n);
}

// Each step maps an input Float32Array to an output Float32Array. Spatial tensors are kept
// channel-last (H, W, C) so that the conv inner loop is a contiguous dot product over channels.
function linearStep(L, flat) {
  const nin = L.in;
  const nout = L.out;
  const W = checkRange(flat, L.w, nin * nout, "linear");
  const b = checkRange(flat, L.b, nout, "linear bias");
  const y = new Float32Array(nout);
  const n4 = nout - (nout % 4);
  return (x) => {
    // 4 output rows at a time: each x[i] load serves 4 weights (register blocking).
    let o = 0;
    for (; o < n4; o += 4) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      const w0 = o * nin, w1 = w0 + nin, w2 = w1 + nin, w3 = w2 + nin;
      for (let i = 0; i < nin; i++) {
        const xv = x[i];
        s0 += W[w0 + i] * xv;
        s1 += W[w1 + i] * xv;
        s2 += W[w2 + i] * xv;
        s3 += W[w3 + i] * xv;
      }
      if (b) {
        s0 += b[o];
        s1 += b[o + 1];
        s2 += b[o + 2];
        s3 += b[o + 3];
      }
      y[o] = s0;
      y[o + 1] = s1;
      y[o + 2] = s2;
      y[o + 3] = s3;
    }
    for (; o < nout; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0, wi = o * nin; i < nin; i++, wi++) s += W[wi] * x[i];
      y[o] = s;
    }
    return y;
  };
}

function activationStep(L) {
  switch (L.op) {
    case "relu":
      return (x) => {
        for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] = 0;
        return x;
      };
    case "tanh":
      return (x) => {
        for (let i = 0; i < x.length; i++) x[i] = Math.tanh(x[i]);
        return x;
      };
    case "sigmoid":
      return (x) => {
        for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i]));
        return x;
      };
    case "elu": {
      const alpha = L.alpha;
      return (x) => {
        for (let i = 0; i < x.length; i++) if (x[i] <= 0) x[i] = alpha * Math.expm1(x[i]);
        return x;
      };
    }
    case "leaky_relu": {
      const slope = L.slope;
      return (x) => {
        for (let i = 0; i < x.length; i++) if (x[i] < 0) x[i] *= slope;
        return x;
      };
    }
    default:
      return null;
  }
}

/** (C, H, W)-ordered vector -> channel-last (H, W, C) map. */
function unflattenStep(L) {
  const [C, H, W] = L.shape;
  if (C === 1) return (x) => x; // same memory order
  const y = new Float32Array(C * H * W);
  const hw = H * W;
  return (x) => {
    for (let c = 0; c < C; c++) {
      for (let p = 0; p < hw; p++) y[p * C + c] = x[c * hw + p];
    }
    return y;
  };
}

/** channel-last (H, W, C) map -> (C, H, W)-ordered vector, as torch's Flatten reads it. */
function flattenStep(L) {
  const [C, H, W] = L.in_shape;
  if (C === 1) return (x) => x;
  const y = new Float32Array(C * H * W);
  const hw = H * W;
  return (x) => {
    for (let c = 0; c < C; c++) {
      for (let p = 0; p < hw; p++) y[c * hw + p] = x[p * C + c];
    }
    return y;
  };
}

function convStep(L, flat) {
  const transposed = L.op === "conv_transpose2d";
  const Ci = L.in_ch;
  const Co = L.out_ch;
  const [kh, kw] = L.kernel;
  const [Hi, Wi] = L.in_hw;
  const [Ho, Wo] = L.out_hw;
  const W = checkRange(flat, L.w, Ci * Co * kh * kw, L.op);
  const bias = checkRange(flat, L.b, Co, `${L.op} bias`);
  // Repack torch weights, conv2d (Co, Ci, kh, kw) / transposed (Ci, Co, kh, kw), into
  // Wq[ky][kx][ci][co]: the inner loop then reads 4 neighbouring output channels' weights
  // contiguously and reuses each input value 4 times (register blocking), which is what
  // makes a 28x28 conv decoder fit in a few ms of plain JS.
  const Wq = new Float32Array(kh * kw * Ci * Co);
  for (let co = 0; co < Co; co++) {
    for (let ci = 0; ci < Ci; ci++) {
      for (let ky = 0; ky < kh; ky++) {
        for (let kx = 0; kx < kw; kx++) {
          const src = transposed
            ? ((ci * Co + co) * kh + ky) * kw + kx
            : ((co * Ci + ci) * kh + ky) * kw + kx;
          Wq[((ky * kw + kx) * Ci + ci) * Co + co] = W[src];
        }
      }
    }
  }
  const rows = tapTable(Ho, Hi, kh, L.stride[0], L.padding[0], transposed);
  const cols = tapTable(Wo, Wi, kw, L.stride[1], L.padding[1], transposed);
  const rowI = rows.i, rowK = rows.k, colI = cols.i, colK = cols.k;
  const y = new Float32Array(Ho * Wo * Co);
  const zeros = new Float32Array(Co);
  const b = bias || zeros;
  const Co4 = Co - (Co % 4);
  const jobs = pairColumns(cols, Wo);
  const nJobs = jobs.length / 3;

  // One output pixel (oy, ox): 4 output channels at a time, then the remainder.
  function single(x, r0, r1, ox, yb) {
    const c0 = cols.start[ox];
    const c1 = cols.start[ox + 1];
    let co = 0;
    for (; co < Co4; co += 4) {
      let s0 = b[co], s1 = b[co + 1], s2 = b[co + 2], s3 = b[co + 3];
      for (let r = r0; r < r1; r++) {
        const rowBase = rowI[r] * Wi;
        const kyBase = rowK[r] * kw;
        for (let c = c0; c < c1; c++) {
          const xb = (rowBase + colI[c]) * Ci;
          let wb = (kyBase + colK[c]) * Ci * Co + co;
          for (let ci = 0; ci < Ci; ci++, wb += Co) {
            const xv = x[xb + ci];
            s0 += Wq[wb] * xv;
            s1 += Wq[wb + 1] * xv;
            s2 += Wq[wb + 2] * xv;
            s3 += Wq[wb + 3] * xv;
          }
        }
      }
      y[yb + co] = s0;
      y[yb + co + 1] = s1;
      y[yb + co + 2] = s2;
      y[yb + co + 3] = s3;
    }
    for (; co < Co; co++) {
      let s = b[co];
      for (let r = r0; r < r1; r++) {
        const rowBase = rowI[r] * Wi;
        const kyBase = rowK[r] * kw;
        for (let c = c0; c < c1; c++) {
          const xb = (rowBase + colI[c]) * Ci;
          let wb = (kyBase + colK[c]) * Ci * Co + co;
          for (let ci = 0; ci < Ci; ci++, wb += Co) s += Wq[wb] * x[xb + ci];
        }
      }
      y[yb + co] = s;
    }
  }

  // Two output pixels of one row with the same taps, inputs `delta` columns apart: every
  // weight load now serves 2 pixels (4 channels x 2 pixels per inner step).
  function pair(x, r0, r1, ox, yb, yb2, delta) {
    const c0 = cols.start[ox];
    const c1 = cols.start[ox + 1];
    const dx = delta * Ci;
    let co = 0;
    for (; co < Co4; co += 4) {
      let a0 = b[co], a1 = b[co + 1], a2 = b[co + 2], a3 = b[co + 3];
      let e0 = a0, e1 = a1, e2 = a2, e3 = a3;
      for (let r = r0; r < r1; r++) {
        const rowBase = rowI[r] * Wi;
        const kyBase = rowK[r] * kw;
        for (let c = c0; c < c1; c++) {
          const xa = (rowBase + colI[c]) * Ci;
          const xe = xa + dx;
          let wb = (kyBase + colK[c]) * Ci * Co + co;
          for (let ci = 0; ci < Ci; ci++, wb += Co) {
            const va = x[xa + ci];
            const ve = x[xe + ci];
            const w0 = Wq[wb], w1 = Wq[wb + 1], w2 = Wq[wb + 2], w3 = Wq[wb + 3];
            a0 += w0 * va;
            e0 += w0 * ve;
            a1 += w1 * va;
            e1 += w1 * ve;
            a2 += w2 * va;
            e2 += w2 * ve;
            a3 += w3 * va;
            e3 += w3 * ve;
          }
        }
      }
      y[yb + co] = a0;
      y[yb + co + 1] = a1;
      y[yb + co + 2] = a2;
      y[yb + co + 3] = a3;
      y[yb2 + co] = e0;
      y[yb2 + co + 1] = e1;
      y[yb2 + co + 2] = e2;
      y[yb2 + co + 3] = e3;
    }
    for (; co < Co; co++) {
      let sa = b[co];
      let se = sa;
      for (let r = r0; r < r1; r++) {
        const rowBase = rowI[r] * Wi;
        const kyBase = rowK[r] * kw;
        for (let c = c0; c < c1; c++) {
          const xa = (rowBase + colI[c]) * Ci;
          const xe = xa + dx;
          let wb = (kyBase + colK[c]) * Ci * Co + co;
          for (let ci = 0; ci < Ci; ci++, wb += Co) {
            const w = Wq[wb];
            sa += w * x[xa + ci];
            se += w * x[xe + ci];
          }
        }
      }
      y[yb + co] = sa;
      y[yb2 + co] = se;
    }
  }

  return (x) => {
    for (let oy = 0; oy < Ho; oy++) {
      const r0 = rows.start[oy];
      const r1 = rows.start[oy + 1];
      const rowOut = oy * Wo;
      for (let j = 0; j < nJobs; j++) {
        const ox = jobs[3 * j];
        const ox2 = jobs[3 * j + 1];
        if (ox2 < 0) single(x, r0, r1, ox, (rowOut + ox) * Co);
        else pair(x, r0, r1, ox, (rowOut + ox) * Co, (rowOut + ox2) * Co, jobs[3 * j + 2]);
      }
    }
    return y;
  };
}

/**
 * Group output columns into pairs that use the same kernel taps on inputs a constant
 * `delta` apart (interior columns: ox, ox + 1 for stride-1 convs; ox, ox + 2 for stride-2
 * transposed convs), as flat triples [ox, partner or -1, delta].
 */
function pairColumns(cols, nOut) {
  const used = new Uint8Array(nOut);
  const jobs = [];
  const same = (a, b) => {
    const na = cols.start[a + 1] - cols.start[a];
    if (na === 0 || cols.start[b + 1] - cols.start[b] !== na) return null;
    const d = cols.i[cols.start[b]] - cols.i[cols.start[a]];
    for (let t = 0; t < na; t++) {
      const ia = cols.start[a] + t;
      const ib = cols.start[b] + t;
      if (cols.k[ia] !== cols.k[ib] || cols.i[ib] - cols.i[ia] !== d) return null;
    }
    return d;
  };
  for (let a = 0; a < nOut; a++) {
    if (used[a]) continue;
    used[a] = 1;
    let partner = -1;
    let delta = 0;
    for (let b = a + 1; b < Math.min(nOut, a + 5); b++) {
      if (used[b]) continue;
      const d = same(a, b);
      if (d !== null) {
        partner = b;
        delta = d;
        used[b] = 1;
        break;
      }
    }
    jobs.push(a, partner, delta);
  }
  return Int32Array.from(jobs);
}

function cropStep(L) {
  const [C, Hi, Wi] = L.in_shape;
  const Hc = L.height;
  const Wc = L.width;
  const y = new Float32Array(C * Hc * Wc);
  const rowLen = Wc * C;
  return (x) => {
    // Top-left crop in (H, W, C): each kept row is one contiguous run.
    for (let h = 0; h < Hc; h++) y.set(x.subarray(h * Wi * C, h * Wi * C + rowLen), h * rowLen);
    return y;
  };
}

/**
 * Compile a payload into {id, latentDim, C, H, W, decode(z) -> Float32Array}.
 * Everything that does not depend on z is done here: weight views, repacking, tap tables,
 * and every intermediate buffer, so decode() allocates nothing.
 */
function compileModel(payload) {
  if (!payload || payload.format !== FORMAT) {
    throw new Error(`live decoder: expected a ${FORMAT} payload, got ${payload && payload.format}`);
  }
  if (typeof payload.weights_b64 !== "string") {
    throw new Error("live decoder: payload has no weights_b64");
  }
  const flat = base64ToFloat32(payload.weights_b64);
  if (flat.length !== payload.n_floats) {
    throw new Error(`live decoder: ${flat.length} floats, payload says ${payload.n_floats}`);
  }
  const D = payload.latent_dim;
  const [C, H, W] = payload.output_shape;
  const steps = [];
  let shape = [D];
  for (const L of payload.layers) {
    let step;
    switch (L.op) {
      case "linear":
        step = linearStep(L, flat);
        break;
      case "unflatten":
        step = unflattenStep(L);
        break;
      case "flatten":
        step = flattenStep(L);
        break;
      case "conv2d":
      case "conv_transpose2d":
        step = convStep(L, flat);
        break;
      case "crop2d":
        step = cropStep(L);
        break;
      default:
        step = activationStep(L);
    }
    if (!step) throw new Error(`live decoder: unsupported op ${L.op}`);
    if (L.in_shape && shapeSize(L.in_shape) !== shapeSize(shape)) {
      throw new Error(`live decoder: ${L.op} expects ${L.in_shape}, has ${shape}`);
    }
    shape = L.out_shape || shape;
    steps.push(step);
  }
  if (shape.length !== 3 || shape[0] !== C || shape[1] !== H || shape[2] !== W) {
    throw new Error(`live decoder: final shape ${shape} != output_shape ${payload.output_shape}`);
  }
  const zBuf = new Float32Array(D); // the model sees float32 inputs, like torch
  const out = new Float32Array(C * H * W);
  const hw = H * W;
  function decode(z) {
    if (z.length !== D) throw new Error(`live decoder: z has ${z.length} values, expected ${D}`);
    for (let i = 0; i < D; i++) zBuf[i] = z[i];
    let x = zBuf;
    for (let s = 0; s < steps.length; s++) x = steps[s](x);
    // Channel-last logits -> (C, H, W) image in [0, 1].
    for (let p = 0; p < hw; p++) {
      for (let c = 0; c < C; c++) out[c * hw + p] = 1 / (1 + Math.exp(-x[p * C + c]));
    }
    return out;
  }
  return { id: payload.id, latentDim: D, C, H, W, decode };
}

const MODELS = new Map(); // id -> compiled model, least recently used first

function cachedModel(id) {
  const m = MODELS.get(id);
  if (m) {
    MODELS.delete(id);
    MODELS.set(id, m);
  }
  return m || null;
}

/** The compiled model for a payload; compiles (and caches by id) when it carries weights. */
function getModel(payload) {
  const hit = payload.id ? cachedModel(payload.id) : null;
  if (hit) return hit;
  if (typeof payload.weights_b64 !== "string") return null;
  const m = compileModel(payload);
  if (payload.id) {
    MODELS.set(payload.id, m);
    while (MODELS.size > MAX_CACHED_MODELS) MODELS.delete(MODELS.keys().next().value);
  }
  return m;
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

if (typeof window !== "undefined") {
  if (!Array.isArray(window.__vaeTimings)) window.__vaeTimings = [];
  window.__vaeDecode = (payload, z) => Float32Array.from(getModel(payload).decode(z));
  window.__vaeBench = (payload, z, n = 50) => {
    const m = getModel(payload);
    m.decode(z); // warm-up: JIT + caches
    const ts = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      m.decode(z);
      ts.push(performance.now() - t0);
    }
    const sorted = [...ts].sort((a, b) => a - b);
    return {
      n,
      mean_ms: ts.reduce((a, b) => a + b, 0) / n,
      median_ms: sorted[n >> 1],
      max_ms: sorted[n - 1],
    };
  };
}

// ------------------------------------------------------------------------------------------
// 2. Component UIs
// ------------------------------------------------------------------------------------------

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

/** Shared model bookkeeping for both views. */
class BaseView {
  constructor(parent, mode) {
    this.parent = parent;
    this.mode = mode;
    this.model = null;
    this.modelId = null;
    this.api = null;
    this.lastEvent = null; // the last event reported to Python
  }

  /** Report one user action to Python: a single state value, hence a single rerun. */
  report(action, fields) {
    this.lastEvent = { action, ...fields, model_id: this.modelId };
    this.api.setStateValue("event", this.lastEvent);
  }

  /** Resolve data.model into a compiled model; asks Python for the weights when needed. */
  resolveModel(data) {
    const payload = data.model;
    let model = null;
    try {
      // The model this view already compiled survives cache eviction: reuse it by id.
      model = this.model && payload && this.modelId === payload.id ? this.model : getModel(payload);
    } catch (err) {
      this.model = null;
      this.showError(String(err && err.message ? err.message : err));
      return false;
    }
    if (!model) {
      this.model = null;
      // Python left the weights out because this browser said it had them, but it doesn't
      // (reload, cache eviction): clearing model_id makes the next run send them again. The
      // last action's values stay in the event, so Python's result does not change.
      this.setBusy("loading model\u2026");
      if (!this.requestedWeights) {
        this.requestedWeights = true;
        this.api.setStateValue("event", { ...(this.lastEvent || {}), action: "weights", model_id: null });
      }
      return false;
    }
    this.requestedWeights = false;
    this.model = model;
    this.modelId = payload.id;
    this.root.dataset.modelId = payload.id || "";
    this.root.dataset.ready = "true";
    this.root.classList.remove("vae-busy");
    if (this.status) this.status.classList.remove("vae-error");
    return true;
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

// ----- mode "sliders" ----------------------------------------------------------------------

class SlidersView extends BaseView {
  constructor(parent) {
    super(parent, "sliders");
    this.image = new ImageView("vae-live-canvas", 256);
    this.status = el("div", { className: "vae-status", "data-testid": "vae-live-status", text: "" });
    this.list = el("div", { className: "vae-slider-list", "data-testid": "vae-slider-list" });
    this.moreList = el("div", { className: "vae-slider-list" });
    this.moreSummary = el("summary", { text: "" });
    this.more = el("details", { className: "vae-more", "data-testid": "vae-collapsed-dims" }, [
      this.moreSummary,
      this.moreList,
    ]);
    this.vector = el("div", { className: "vae-vector", "data-testid": "vae-latent-vector" });
    this.title = el("div", { className: "vae-title" });
    this.root = el("div", { className: "vae-live vae-sliders", "data-testid": "vae-live-sliders" }, [
      el("div", { className: "vae-grid" }, [
        el("div", { className: "vae-image-col" }, [this.image.frame, this.status]),
        el("div", { className: "vae-controls" }, [
          this.title,
          this.list,
          this.more,
          el("div", { className: "vae-vector-head" }, ["latent vector ", el("span", { className: "vae-sym", text: "t" })]),
          this.vector,
        ]),
      ]),
    ]);
    parent.appendChild(this.root);
    this.z = null;
    this.layoutKey = null;
    this.appliedCmd = null;
    this.rows = new Map(); // dim -> {input, out, row}
    this.chips = [];
  }

  update(data, api) {
    this.api = api;
    this.data = data;
    this.root.dataset.key = data.key || "";
    if (!this.resolveModel(data)) return;
    const D = this.model.latentDim;
    if (!this.z || this.z.length !== D) {
      this.z = new Float64Array(D);
      this.appliedCmd = null;
    }
    // A new command from Python (first mount, "sample from prior", "reset", ...) replaces the
    // values; otherwise the user's current drag state wins over whatever Python echoes back.
    if (data.cmd !== this.appliedCmd && Array.isArray(data.values) && data.values.length === D) {
      for (let i = 0; i < D; i++) this.z[i] = data.values[i];
      this.appliedCmd = data.cmd;
    }
    this.image.setShape(this.model.C, this.model.H, this.model.W, data.image_px || 256);
    const layoutKey = JSON.stringify([D, data.dims, data.collapsed, data.labels, data.range_sd, data.step]);
    if (layoutKey !== this.layoutKey) {
      this.layoutKey = layoutKey;
      this.buildSliders(data, D);
    }
    this.title.textContent = data.title || "";
    this.title.hidden = !data.title;
    this.syncSliders();
    this.timed(performance.now(), () => this.render(-1), false);
  }

  buildSliders(data, D) {
    this.list.replaceChildren();
    this.moreList.replaceChildren();
    this.rows.clear();
    const r = data.range_sd;
    const addRow = (dim, list) => {
      const id = `vae-${data.key || "live"}-z${dim}`.replace(/[^A-Za-z0-9_-]/g, "_");
      const label = (data.labels && data.labels[dim]) || tName(dim);
      const input = el("input", {
        type: "range",
        id,
        min: -r,
        max: r,
        step: data.step,
        "data-testid": "vae-slider",
        "data-dim": dim,
        "aria-label": label,
      });
      const out = el("output", { className: "vae-value", for: id, "data-testid": "vae-slider-value", "data-dim": dim });
      const row = el("div", { className: "vae-row", "data-dim": dim }, [
        el("label", { className: "vae-dim-label", for: id, title: label, text: label }),
        el("div", { className: "vae-range" }, [input]),
        out,
      ]);
      input.addEventListener("input", (ev) => this.onInput(ev, dim, input));
      input.addEventListener("change", () => this.onRelease());
      input.addEventListener("pointerdown", () => row.classList.add("vae-active"));
      const clear = () => row.classList.remove("vae-active");
      input.addEventListener("pointerup", clear);
      input.addEventListener("blur", clear);
      list.appendChild(row);
      this.rows.set(dim, { input, out, row });
    };
    for (const d of data.dims) addRow(d, this.list);
    for (const d of data.collapsed) addRow(d, this.moreList);
    this.alignLabels();
    // Web fonts may arrive after the first measurement.
    if (document.fonts && document.fonts.status !== "loaded") {
      document.fonts.ready.then(() => this.alignLabels());
    }
    const n = data.collapsed.length;
    this.more.hidden = n === 0;
    this.moreSummary.textContent = `${n} more dimension${n === 1 ? "" : "s"}`;
    this.vector.replaceChildren();
    this.chips = [];
    for (let d = 0; d < D; d++) {
      const chip = el("span", { className: "vae-chip", "data-dim": d }, [
        el("span", { className: "vae-chip-dim", text: tName(d) }),
        el("span", { className: "vae-chip-val" }),
      ]);
      this.chips.push(chip);
      this.vector.appendChild(chip);
    }
  }

  /**
   * One label width for every row, including the rows inside the closed <details> (they have
   * no layout yet), so all tracks start at the same x: measure the label texts in their font.
   */
  alignLabels() {
    const labels = this.root.querySelectorAll(".vae-dim-label");
    if (!labels.length) return;
    const style = getComputedStyle(labels[0]);
    const ctx = document.createElement("canvas").getContext("2d");
    ctx.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    let widest = 0;
    for (const l of labels) widest = Math.max(widest, ctx.measureText(l.textContent).width);
    // +2px: canvas and layout may round text widths differently; CSS caps it (max-width).
    this.root.style.setProperty("--vae-label-w", `${Math.ceil(widest) + 2}px`);
  }

  /** Move every slider thumb / readout to this.z (after a command or a rebuild). */
  syncSliders() {
    for (const [dim, row] of this.rows) {
      row.input.value = String(this.z[dim]);
      this.paintRow(dim, row);
    }
  }

  paintRow(dim, row) {
    const r = this.data.range_sd;
    const v = this.z[dim];
    row.out.textContent = fmt(v);
    row.out.dataset.value = String(v);
    // Fill from 0 (the prior mean) to the thumb, so the sign reads at a glance.
    const pos = ((Math.max(-r, Math.min(r, v)) + r) / (2 * r)) * 100;
    row.input.style.setProperty("--lo", `${Math.min(50, pos)}%`);
    row.input.style.setProperty("--hi", `${Math.max(50, pos)}%`);
  }

  render(activeDim) {
    const img = this.model.decode(this.z);
    this.image.paint(this.model, img, this.data.invert);
    const r = this.data.range_sd;
    for (let d = 0; d < this.chips.length; d++) {
      const chip = this.chips[d];
      const v = this.z[d];
      chip.lastChild.textContent = fmt(v);
      chip.style.setProperty("--mag", String(Math.min(1, Math.abs(v) / r)));
      chip.classList.toggle("vae-neg", v < 0);
      chip.classList.toggle("vae-active", d === activeDim);
    }
    this.vector.dataset.latent = JSON.stringify(Array.from(this.z));
  }

  onInput(ev, dim, input) {
    const t0 = performance.now();
    if (!this.model) return;
    this.z[dim] = Number(input.value);
    this.timed(t0, () => {
      this.paintRow(dim, this.rows.get(dim));
      this.render(dim);
    });
  }

  onRelease() {
    if (!this.model) return;
    for (const c of this.chips) c.classList.remove("vae-active");
    for (const row of this.rows.values()) row.row.classList.remove("vae-active");
    this.report("release", { latent: Array.from(this.z), cmd: this.appliedCmd });
  }
}

// ----- mode "plane" ------------------------------------------------------------------------

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

  update(data, api) {
    this.api = api;
    this.data = data;
    this.root.dataset.key = data.key || "";
    if (!this.resolveModel(data)) return;
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

// ------------------------------------------------------------------------------------------
// Streamlit entry point
// ------------------------------------------------------------------------------------------

// Streamlit calls the default export again (same parentElement) whenever `data` changes; only
// the cleanup returned by the latest call runs, on unmount. Keep one view per parentElement.
const VIEWS = new WeakMap();

export default function liveDecoder(component) {
  const { data, parentElement } = component;
  let view = VIEWS.get(parentElement);
  if (!view || view.mode !== data.mode) {
    if (view) view.destroy();
    view = data.mode === "plane" ? new PlaneView(parentElement) : new SlidersView(parentElement);
    VIEWS.set(parentElement, view);
  }
  view.update(data, component);
  return () => {
    view.destroy();
    VIEWS.delete(parentElement);
  };
}
