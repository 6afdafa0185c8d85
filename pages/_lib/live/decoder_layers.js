// Decoder maths, part 1: the non-conv layer steps (linear, activations, reshapes, crop).
// Each step maps an input Float32Array to an output Float32Array; spatial tensors are kept
// channel-last (H, W, C). Used by compileModel (decoder.js).

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
