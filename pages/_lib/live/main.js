// The live component's code (st.components.v2 module), joined by pages/_lib/live/__init__.py
// from the files of this folder (decoder maths, model cache, shared UI, every view_<mode>.js,
// then this file). It reaches the browser ONCE per tab, in the sidebar's code element
// (pages/_lib/navigation.py, ``browser_code``, which adds the default export): that element's
// message never changes, so Streamlit's message cache replaces it by a 40-byte reference on
// every later run. Evaluating it publishes ``globalThis.__vaeLive``, which the component's small
// per-run entry (mount.js) calls; mounts that came first wait in ``globalThis.__vaeLiveWaiting``.
//
// Dragging decodes on every `input` / `pointermove` event and paints the canvas in the same
// task, so the image follows the pointer with no server trip. Python only hears about the
// *released* value, as ONE setStateValue("event", {...}) per user action: each setStateValue
// call triggers a rerun of its own, so an action split over several keys would reach Python
// half-applied (see "Component state" in live_decoder.py).
//
// Test hooks (set when this module is evaluated):
//   window.__vaeDecode(payload, z)   -> Float32Array (C*H*W, CHW order, sigmoid applied)
//   window.__vaeEncode(payload, x)   -> {mu, logvar} (arrays of D; x is C*H*W, CHW order)
//   window.__vaePrepare(values, h, w, style, H, W) -> {x: number[H*W], blank} (draw_prep.js)
//   window.__vaeBench(payload, z, n) -> {mean_ms, median_ms, max_ms, n}
//   window.__vaeTimings              -> number[]: ms from input event to canvas painted
//
// The joined module also loads in a blank page (tests/test_live_decoder_browser.py).

if (typeof window !== "undefined") {
  if (!Array.isArray(window.__vaeTimings)) window.__vaeTimings = [];
  window.__vaeDecode = (payload, z) => Float32Array.from(payloadModel(payload).decode(z));
  window.__vaePrepare = (values, h, w, style, H, W) => {
    const out = prepareDrawing(Float32Array.from(values), h, w, style, H, W);
    return { x: Array.from(out.x), blank: out.blank };
  };
  window.__vaeEncode = (payload, x) => {
    const { mu, logvar } = payloadModel(payload).encode(x);
    return { mu: Array.from(mu), logvar: Array.from(logvar) };
  };
  window.__vaeBench = (payload, z, n = 50) => {
    const m = payloadModel(payload);
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

// Streamlit calls the entry again (same parentElement) whenever `data` changes; only the
// cleanup returned by the latest call runs, on unmount. Keep one view per parentElement.
const VIEWS = new WeakMap();

/** The views' style sheet (live.css, LIVE_CSS), once per shadow root (or page). */
function ensureStyles(parentElement) {
  const root = parentElement.getRootNode ? parentElement.getRootNode() : document;
  const host = typeof ShadowRoot !== "undefined" && root instanceof ShadowRoot ? root : document.head;
  if (host.querySelector("style[data-vae-live]")) return;
  const style = document.createElement("style");
  style.setAttribute("data-vae-live", "");
  style.textContent = LIVE_CSS;
  host.appendChild(style);
}

// Test points arrive as base64 (float32 coordinates, int32 labels: component.py wire_points);
// decoded once per points_hash, as the same points come with every run of a page.
const POINTS = new Map(); // points_hash -> {xy: Float32Array, labels: Int32Array | null}

function bytesOf(b64) {
  const raw = atob(b64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out.buffer;
}

/** `data` with its points as typed arrays (plain arrays, as tests send them, pass through). */
function withPoints(data) {
  if (!data || typeof data.points_xy !== "string") return data;
  let pts = POINTS.get(data.points_hash);
  if (!pts) {
    pts = {
      xy: new Float32Array(bytesOf(data.points_xy)),
      labels: typeof data.point_labels === "string" ? new Int32Array(bytesOf(data.point_labels)) : null,
    };
    if (POINTS.size >= 8) POINTS.delete(POINTS.keys().next().value);
    POINTS.set(data.points_hash, pts);
  }
  return { ...data, points_xy: pts.xy, point_labels: pts.labels };
}

function liveDecoder(component) {
  const { parentElement } = component;
  ensureStyles(parentElement);
  let { data } = component;
  const envelope = unpackEnvelope(data);
  let weightsError = null;
  if (envelope) {
    // This run carries the weights this browser asked for: compile and store them first.
    data = envelope.data;
    try {
      receiveWeights(data.model, envelope.weights);
    } catch (err) {
      weightsError = String(err && err.message ? err.message : err);
    }
  }
  data = withPoints(data);
  let view = VIEWS.get(parentElement);
  if (!view || view.mode !== data.mode) {
    if (view) view.destroy();
    const View = VIEW_CLASSES.get(data.mode);
    if (!View) throw new Error(`live decoder: unknown view ${data.mode}`);
    view = new View(parentElement);
    VIEWS.set(parentElement, view);
  }
  view.update(data, component);
  if (weightsError) view.showError(weightsError);
  return () => {
    view.destroy();
    VIEWS.delete(parentElement);
  };
}

if (typeof globalThis !== "undefined") {
  globalThis.__vaeLive = liveDecoder;
  const waiting = globalThis.__vaeLiveWaiting || [];
  globalThis.__vaeLiveWaiting = [];
  for (const start of waiting) start();
}
