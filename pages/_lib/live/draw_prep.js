// Drawing -> model input, in the browser: the same steps as vae/data/upload.py's
// preprocess_upload for the "digit" and "fashion" styles, on a grey drawing (white ink on
// black, values k/255), so what the encoder sees while you draw is what the server would make
// of the same picture uploaded. Resizing is Pillow's Lanczos on 32-bit float images
// (separable, horizontal pass first, float32 between the passes), as vae.data.images.resize.

const PREP_BLANK_CONTRAST = 8 / 255;
const PREP_CONTENT_FRACTION = 0.05;
const PREP_FASHION_TRIM = 0.05;
const PREP_MNIST_BOX = 20 / 28;
const PREP_STROKE_MIN = 0.06;
const PREP_STROKE_TARGET = 0.12;
const PREP_STROKE_MEASURE = 64;
const PREP_SMALL_TARGET = 12;

/** Python's round(): halves to even. */
function roundHalfEven(v) {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** numpy's median / percentile (linear interpolation) of an array of numbers. */
function percentile(values, q) {
  const a = Float64Array.from(values).sort(); // a typed array sorts numerically, and fast
  const pos = (q / 100) * (a.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(lo + 1, a.length - 1);
  return a[lo] + (a[hi] - a[lo]) * (pos - lo);
}

/** A grey image {h, w, a: Float32Array(h*w)}. */
function grey(h, w, a) {
  return { h, w, a: a || new Float32Array(h * w) };
}

/** The outer ring (2% of the shorter side, at least 1 px), as upload._border lists it. */
function borderValues(img) {
  const { h, w, a } = img;
  const k = Math.max(1, Math.floor(Math.min(h, w) / 50));
  const out = [];
  for (let y = 0; y < k; y++) for (let x = 0; x < w; x++) out.push(a[y * w + x], a[(h - 1 - y) * w + x]);
  for (let y = 0; y < h; y++) for (let x = 0; x < k; x++) out.push(a[y * w + x], a[y * w + w - 1 - x]);
  return out;
}

// Pillow's filters and their supports.
const LANCZOS = {
  support: 3,
  f(x) {
    if (x < -3 || x >= 3) return 0;
    const sinc = (v) => (v === 0 ? 1 : Math.sin(Math.PI * v) / (Math.PI * v));
    return sinc(x) * sinc(x / 3);
  },
};
const BILINEAR = { support: 1, f: (x) => (x < 0 ? (x > -1 ? 1 + x : 0) : x < 1 ? 1 - x : 0) };

/** Pillow's precompute_coeffs for one axis: per output index, [xmin, weights]. */
function resampleCoeffs(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const out = [];
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const k = new Float64Array(Math.max(0, xmax));
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = filter.f((x + xmin - center + 0.5) / filterscale);
      ww += k[x];
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) k[x] /= ww;
    out.push([xmin, k]);
  }
  return out;
}

/** vae.data.images.resize of a grey image to (w, h): Lanczos, then clipped to [0, 1]. */
function resizeGrey(img, w, h) {
  if (img.w === w && img.h === h) return img;
  const out = resampleGrey(img, w, h, LANCZOS);
  for (let i = 0; i < out.a.length; i++) out.a[i] = Math.min(1, Math.max(0, out.a[i]));
  return out;
}

/** Pillow's Image.resize of a mode "F" image: horizontal pass, then vertical, float32. */
function resampleGrey(img, w, h, filter) {
  let src = img;
  if (img.w !== w) {
    const cx = resampleCoeffs(img.w, w, filter);
    const tmp = grey(img.h, w);
    for (let y = 0; y < img.h; y++) {
      for (let x = 0; x < w; x++) {
        const [x0, k] = cx[x];
        let s = 0;
        for (let i = 0; i < k.length; i++) s += img.a[y * img.w + x0 + i] * k[i];
        tmp.a[y * w + x] = s;
      }
    }
    src = tmp;
  }
  const out = grey(h, w);
  if (src.h !== h) {
    const cy = resampleCoeffs(src.h, h, filter);
    for (let y = 0; y < h; y++) {
      const [y0, k] = cy[y];
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let i = 0; i < k.length; i++) s += src.a[(y0 + i) * w + x] * k[i];
        out.a[y * w + x] = s;
      }
    }
  } else out.a.set(src.a);
  return out;
}

/** upload._max_filter with pad="edge" on a small grid (g: Float64Array gh*gw); sign -1: min. */
function edgeFilter(g, gh, gw, size, sign) {
  const lo = (size - 1) >> 1, hi = size >> 1;
  const clamp = (v, n) => Math.min(n - 1, Math.max(0, v));
  const tmp = new Float64Array(gh * gw);
  const out = new Float64Array(gh * gw);
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      let m = -Infinity;
      for (let d = -lo; d <= hi; d++) m = Math.max(m, sign * g[y * gw + clamp(x + d, gw)]);
      tmp[y * gw + x] = m;
    }
  }
  for (let y = 0; y < gh; y++) {
    for (let x = 0; x < gw; x++) {
      let m = -Infinity;
      for (let d = -lo; d <= hi; d++) m = Math.max(m, tmp[clamp(y + d, gh) * gw + x]);
      out[y * gw + x] = sign * m;
    }
  }
  return out;
}

/** upload._even_out_background: subtract uneven lighting (coarse white top-hat). */
function evenOutBackground(img) {
  const { h, w } = img;
  if (Math.min(h, w) < 64) return img;
  const cell = Math.max(2, roundHalfEven(Math.max(h, w) / 24));
  const gh = Math.ceil(h / cell), gw = Math.ceil(w / cell);
  const med = new Float64Array(gh * gw);
  const vals = new Array(cell * cell);
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      let n = 0;
      let lo = Infinity, hi = -Infinity;
      for (let y = gy * cell; y < (gy + 1) * cell; y++) {
        for (let x = gx * cell; x < (gx + 1) * cell; x++) {
          const v = img.a[Math.min(y, h - 1) * w + Math.min(x, w - 1)];
          vals[n++] = v;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
      }
      // Most cells of a drawing are one flat value: their median needs no sort.
      med[gy * gw + gx] = lo === hi ? lo : percentile(vals, 50);
    }
  }
  // Opening: min filter, then max filter, 5x5 cells, edges repeated.
  const bg = edgeFilter(edgeFilter(med, gh, gw, 5, -1), gh, gw, 5, 1);
  let rmin = Infinity, rmax = -Infinity;
  for (let gy = 0; gy < gh; gy++) {
    for (let gx = 0; gx < gw; gx++) {
      if (gy !== 0 && gy !== gh - 1 && gx !== 0 && gx !== gw - 1) continue;
      rmin = Math.min(rmin, bg[gy * gw + gx]);
      rmax = Math.max(rmax, bg[gy * gw + gx]);
    }
  }
  if (rmax - rmin < 2 * PREP_BLANK_CONTRAST) return img;
  const full = resampleGrey(grey(gh, gw, Float32Array.from(bg)), gw * cell, gh * cell, BILINEAR);
  const out = grey(h, w);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out.a[y * w + x] = img.a[y * w + x] - full.a[y * full.w + x];
  return out;
}

/** upload._fit: keep the aspect ratio, touch the (bh, bw) box. */
function fitGrey(img, bh, bw) {
  const s = Math.min(bh / img.h, bw / img.w);
  const nh = Math.min(bh, Math.max(1, roundHalfEven(img.h * s)));
  const nw = Math.min(bw, Math.max(1, roundHalfEven(img.w * s)));
  return resizeGrey(img, nw, nh);
}

/** Bounding box [y0, y1, x0, x1) of the pixels where pred(v) holds; null when none. */
function bboxWhere(img, pred) {
  let y0 = img.h, y1 = -1, x0 = img.w, x1 = -1;
  for (let y = 0; y < img.h; y++) {
    for (let x = 0; x < img.w; x++) {
      if (!pred(img.a[y * img.w + x], y, x)) continue;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
    }
  }
  return y1 < 0 ? null : [y0, y1 + 1, x0, x1 + 1];
}

function cropGrey(img, box) {
  const [y0, y1, x0, x1] = box;
  const out = grey(y1 - y0, x1 - x0);
  for (let y = y0; y < y1; y++) out.a.set(img.a.subarray(y * img.w + x0, y * img.w + x1), (y - y0) * out.w);
  return out;
}

/** upload._despeckle of mask (Uint8Array h*w): drop pixels with fewer than 2 of 8 neighbours. */
function despeckle(mask, h, w) {
  if (Math.min(h, w) < 64) return mask;
  const kept = new Uint8Array(h * w);
  let any = 0;
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(0, y - 1), y1 = Math.min(h - 1, y + 1);
    for (let x = 0; x < w; x++) {
      if (!mask[y * w + x]) continue;
      const x0 = Math.max(0, x - 1), x1 = Math.min(w - 1, x + 1);
      let n = -1; // the pixel itself is counted below
      for (let yy = y0; yy <= y1; yy++) for (let xx = x0; xx <= x1; xx++) n += mask[yy * w + xx];
      if (n >= 2) kept[y * w + x] = any = 1;
    }
  }
  return any ? kept : mask;
}

function maskBbox(mask, h, w) {
  return bboxWhere({ h, w, a: mask }, (v) => v > 0);
}

/** upload._max_filter (size x size, centred, zeros outside) of a grey image. */
function maxFilter(img, size) {
  const lo = (size - 1) >> 1, hi = size >> 1;
  const { h, w } = img;
  const tmp = new Float32Array(h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let m = 0;
      for (let xx = Math.max(0, x - lo); xx <= Math.min(w - 1, x + hi); xx++) m = Math.max(m, img.a[y * w + xx]);
      tmp[y * w + x] = m;
    }
  }
  const out = grey(h, w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let m = 0;
      for (let yy = Math.max(0, y - lo); yy <= Math.min(h - 1, y + hi); yy++) m = Math.max(m, tmp[yy * w + x]);
      out.a[y * w + x] = m;
    }
  }
  return out;
}

function padGrey(img, top, bottom, left, right) {
  const out = grey(img.h + top + bottom, img.w + left + right);
  for (let y = 0; y < img.h; y++) out.a.set(img.a.subarray(y * img.w, (y + 1) * img.w), (y + top) * out.w + left);
  return out;
}

/** upload._stroke_width: 2 * area / boundary length of a mask. */
function strokeWidth(mask, h, w) {
  let area = 0, boundary = 0;
  const at = (y, x) => (y >= 0 && y < h && x >= 0 && x < w ? mask[y * w + x] : 0);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!mask[y * w + x]) continue;
      area++;
      if (!(at(y - 1, x) && at(y + 1, x) && at(y, x - 1) && at(y, x + 1))) boundary++;
    }
  }
  return (2 * area) / Math.max(1, boundary);
}

/** upload._thicken_strokes: dilate strokes much thinner than MNIST's. */
function thickenStrokes(img) {
  let long = Math.max(img.h, img.w);
  if (long < 16) return img;
  const small = long > PREP_STROKE_MEASURE ? fitGrey(img, PREP_STROKE_MEASURE, PREP_STROKE_MEASURE) : img;
  const mask = Uint8Array.from(small.a, (v) => (v > 0.5 ? 1 : 0));
  if (!mask.some((v) => v)) return img;
  const rel = strokeWidth(mask, small.h, small.w) / Math.max(small.h, small.w);
  if (rel >= PREP_STROKE_MIN) return img;
  let x = img;
  const f = Math.floor(long / 128);
  if (f >= 2) {
    const p = padGrey(x, 0, (f - (x.h % f)) % f, 0, (f - (x.w % f)) % f);
    const pooled = grey(p.h / f, p.w / f);
    for (let y = 0; y < pooled.h; y++) {
      for (let xx = 0; xx < pooled.w; xx++) {
        let m = -Infinity;
        for (let i = 0; i < f; i++) for (let j = 0; j < f; j++) m = Math.max(m, p.a[(y * f + i) * p.w + xx * f + j]);
        pooled.a[y * pooled.w + xx] = m;
      }
    }
    x = pooled;
    long = Math.max(x.h, x.w);
  }
  const t = Math.min(rel * long, PREP_STROKE_TARGET * long);
  const size = Math.ceil((PREP_STROKE_TARGET * long - t) / (1 - PREP_STROKE_TARGET)) + 1;
  x = maxFilter(padGrey(x, size, size, size, size), size);
  const box = bboxWhere(x, (v) => v > PREP_CONTENT_FRACTION);
  return box ? cropGrey(x, box) : x;
}

/** Paste img into an h x w black frame at (top, left). */
function pasteGrey(img, h, w, top, left) {
  const out = grey(h, w);
  for (let y = 0; y < img.h; y++) out.a.set(img.a.subarray(y * img.w, (y + 1) * img.w), (y + top) * w + left);
  return out;
}

/** upload._mnist_digit: fit into 20x20 (x H/28), centre of mass at the centre. */
function mnistDigit(img, h, w) {
  const bh = Math.max(1, roundHalfEven(h * PREP_MNIST_BOX));
  const bw = Math.max(1, roundHalfEven(w * PREP_MNIST_BOX));
  const y = fitGrey(img, bh, bw);
  let mass = 0, my = 0, mx = 0;
  for (let r = 0; r < y.h; r++) {
    for (let c = 0; c < y.w; c++) {
      const v = y.a[r * y.w + c];
      mass += v;
      my += v * r;
      mx += v * c;
    }
  }
  const cy = mass > 0 ? my / mass : (y.h - 1) / 2;
  const cx = mass > 0 ? mx / mass : (y.w - 1) / 2;
  const top = Math.floor(h / 2 - cy + 0.5);
  const left = Math.floor(w / 2 - cx + 0.5);
  return pasteGrey(y, h, w, Math.min(Math.max(top, 0), h - y.h), Math.min(Math.max(left, 0), w - y.w));
}

/** upload._small_digit (scikit-learn's 8x8 digits): 4x4 blocks of a 4H x 4W bitmap. */
function smallDigit(img, h, w) {
  const f = 4;
  const y = fitGrey(img, Math.max(1, f * h - 2), Math.max(1, f * w - 2));
  const big = pasteGrey(y, f * h, f * w, (f * h - y.h) >> 1, (f * w - y.w) >> 1);
  const out = grey(h, w);
  let m = 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      let s = 0;
      for (let i = 0; i < f; i++) for (let j = 0; j < f; j++) s += big.a[(r * f + i) * big.w + c * f + j];
      out.a[r * w + c] = s / (f * f);
      m = Math.max(m, out.a[r * w + c]);
    }
  }
  if (m > 0) for (let i = 0; i < out.a.length; i++) out.a[i] /= m;
  return out;
}

/** Invert when the border is light (upload._invert_if_light). */
function invertIfLight(img) {
  if (percentile(borderValues(img), 50) <= 0.5) return img;
  return grey(img.h, img.w, Float32Array.from(img.a, (v) => 1 - v));
}

function digitStyle(img, h, w) {
  img = evenOutBackground(invertIfLight(img));
  const b = borderValues(img);
  const bg = percentile(b, 50);
  const sigma = 1.4826 * percentile(b.map((v) => Math.abs(v - bg)), 50);
  const lo = bg + 3 * sigma;
  const ink = [];
  for (let i = 0; i < img.a.length; i++) if (img.a[i] > lo) ink.push(img.a[i]);
  if (!ink.length) return null;
  const hi = percentile(ink, 95);
  if (hi - lo < PREP_BLANK_CONTRAST || hi < bg + 5 * sigma) return null;
  const x = grey(img.h, img.w);
  let top = 0;
  for (let i = 0; i < x.a.length; i++) {
    const v = Math.min(1, Math.max(0, (img.a[i] - lo) / (hi - lo)));
    x.a[i] = v;
    if (v > top) top = v;
  }
  const mask = new Uint8Array(x.a.length);
  const cut = PREP_CONTENT_FRACTION * top;
  for (let i = 0; i < mask.length; i++) mask[i] = x.a[i] > cut ? 1 : 0;
  const box = maskBbox(despeckle(mask, x.h, x.w), x.h, x.w);
  if (!box) return null;
  const digit = thickenStrokes(cropGrey(x, box));
  return Math.max(h, w) <= PREP_SMALL_TARGET ? smallDigit(digit, h, w) : mnistDigit(digit, h, w);
}

function fashionStyle(img, h, w) {
  img = invertIfLight(img);
  const bg = percentile(borderValues(img), 50);
  const mask = Uint8Array.from(img.a, (v) => (Math.abs(v - bg) > PREP_FASHION_TRIM ? 1 : 0));
  const box = maskBbox(despeckle(mask, img.h, img.w), img.h, img.w);
  if (!box) return null;
  let x = cropGrey(img, box);
  if (bg > 1 / 255 && bg < 0.25) x = grey(x.h, x.w, Float32Array.from(x.a, (v) => Math.min(1, Math.max(0, (v - bg) / (1 - bg)))));
  const y = fitGrey(x, h, w);
  return pasteGrey(y, h, w, (h - y.h) >> 1, (w - y.w) >> 1);
}

/**
 * A grey drawing (Float32Array of h*w values in [0, 1]) -> {x: Float32Array(H*W) the model
 * input, blank: nothing drawn}, for style "digit" or "fashion" and a (1, H, W) model.
 */
function prepareDrawing(values, h, w, style, H, W) {
  const img = grey(h, w, values);
  let lo = Infinity, hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  let out = null;
  if (hi - lo >= PREP_BLANK_CONTRAST) out = style === "fashion" ? fashionStyle(img, H, W) : digitStyle(img, H, W);
  if (!out) return { x: new Float32Array(H * W), blank: true };
  for (let i = 0; i < out.a.length; i++) if (!(out.a[i] >= 0)) out.a[i] = 0; // NaN -> 0
  return { x: out.a, blank: false };
}
