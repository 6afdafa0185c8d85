// Encoder maths: the payload's `encoder` half (vae/app/export.py, encoder=True) -> a function
// encode(x) with x the image (C, H, W) in [0, 1] returning {mu, logvar} (Float32Array D each),
// as model.encode does. Same layer steps as the decoder (compileSteps in decoder.js); the
// last exported layer is one linear whose output is concat(mu, logvar).

function compileEncoder(payload, flat) {
  const enc = payload.encoder;
  const D = payload.latent_dim;
  const [C, H, W] = enc.input_shape;
  const { steps, shape } = compileSteps(enc.layers, flat, [C, H, W], "live encoder");
  if (shape.length !== 1 || shape[0] !== 2 * D) {
    throw new Error(`live encoder: output shape ${shape}, expected [${2 * D}]`);
  }
  const hw = H * W;
  const xBuf = new Float32Array(C * hw); // channel-last copy: the layer steps' layout
  const mu = new Float32Array(D);
  const logvar = new Float32Array(D);
  return function encode(x) {
    if (x.length !== C * hw) throw new Error(`live encoder: x has ${x.length} values, not ${C * hw}`);
    for (let c = 0; c < C; c++) {
      for (let p = 0; p < hw; p++) xBuf[p * C + c] = x[c * hw + p];
    }
    let h = xBuf;
    for (let s = 0; s < steps.length; s++) h = steps[s](h);
    for (let i = 0; i < D; i++) {
      mu[i] = h[i];
      logvar[i] = h[D + i];
    }
    return { mu, logvar };
  };
}
