// Decoder maths, part 3: a payload of the FORMAT written by vae/app/export.py (FORMAT is
// injected by pages/_lib/live/__init__.py) -> a compiled model whose decode(z) returns
// sigmoid(logits) in (C, H, W) order. Plain Float32Array loops, no dependencies.

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** base64 -> bytes (the test hooks' JSON payloads carry weights_b64; the app sends binary). */
function base64ToBytes(b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** IEEE half (bits) -> number; exact (every float16 is a float32). */
function halfToFloat(h) {
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  const sign = h & 0x8000 ? -1 : 1;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1024 + m) * 2 ** (e - 25);
}

/**
 * The wire weights (little-endian `dtype` values: "float32" or "float16") -> a fresh
 * Float32Array of n values; the decoder always computes in float32.
 */
function weightsToFloat32(bytes, dtype, n) {
  const size = dtype === "float16" ? 2 : 4;
  if (dtype !== "float16" && dtype !== "float32") throw new Error(`live decoder: dtype ${dtype}?`);
  if (bytes.length !== n * size) {
    throw new Error(`live decoder: ${bytes.length} bytes of weights, expected ${n} ${dtype}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  if (size === 4) {
    if (LITTLE_ENDIAN) out.set(new Float32Array(bytes.slice().buffer));
    else for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }
  const table = new Float32Array(65536); // every half once: cheaper than converting n values
  for (let h = 0; h < 65536; h++) table[h] = halfToFloat(h);
  for (let i = 0; i < n; i++) out[i] = table[view.getUint16(2 * i, true)];
  return out;
}

function checkHeader(payload) {
  if (!payload || payload.format !== FORMAT || typeof payload.id !== "string") {
    throw new Error(`live decoder: expected a ${FORMAT} payload, got ${payload && payload.format}`);
  }
}

/**
 * Compile a payload header (the payload minus its weights) and its weights (Float32Array of
 * n_floats) into {id, latentDim, C, H, W, decode(z) -> Float32Array}.
 * Everything that does not depend on z is done here: weight views, repacking, tap tables,
 * and every intermediate buffer, so decode() allocates nothing.
 */
function compileModel(payload, flat) {
  checkHeader(payload);
  if (flat.length !== payload.n_floats) {
    throw new Error(`live decoder: ${flat.length} floats, payload says ${payload.n_floats}`);
  }
  const D = payload.latent_dim;
  const [C, H, W] = payload.output_shape;
  const { steps, shape } = compileSteps(payload.layers, flat, [D], "live decoder");
  if (shape.length !== 3 || shape[0] !== C || shape[1] !== H || shape[2] !== W) {
    throw new Error(`live decoder: final shape ${shape} != output_shape ${payload.output_shape}`);
  }
  const zBuf = new Float32Array(D); // the model sees float32 inputs, like torch
  const out = new Float32Array(C * H * W);
  const hw = H * W;
  let logits = null; // the last decode's logits, channel-last (H, W, C): for the ELBO
  function decode(z) {
    if (z.length !== D) throw new Error(`live decoder: z has ${z.length} values, expected ${D}`);
    for (let i = 0; i < D; i++) zBuf[i] = z[i];
    let x = zBuf;
    for (let s = 0; s < steps.length; s++) x = steps[s](x);
    logits = x;
    // Channel-last logits -> (C, H, W) image in [0, 1].
    for (let p = 0; p < hw; p++) {
      for (let c = 0; c < C; c++) out[c * hw + p] = 1 / (1 + Math.exp(-x[p * C + c]));
    }
    return out;
  }
  const model = { id: payload.id, latentDim: D, C, H, W, decode, logits: () => logits };
  // The encoder half (encoder.js), when the payload carries one (the Draw page's payloads).
  model.encode = payload.encoder ? compileEncoder(payload, flat) : null;
  return model;
}

/**
 * Exported layers -> {steps: [Float32Array -> Float32Array], shape: per-sample output shape},
 * checking each layer's in_shape against the running shape; shared by both halves.
 */
function compileSteps(layers, flat, inShape, what) {
  const steps = [];
  let shape = inShape;
  for (const L of layers) {
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
    if (!step) throw new Error(`${what}: unsupported op ${L.op}`);
    if (L.in_shape && shapeSize(L.in_shape) !== shapeSize(shape)) {
      throw new Error(`${what}: ${L.op} expects ${L.in_shape}, has ${shape}`);
    }
    shape = L.out_shape || shape;
    steps.push(step);
  }
  return { steps, shape };
}

