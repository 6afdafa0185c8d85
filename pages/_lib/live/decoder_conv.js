// Decoder maths, part 2: conv2d / conv_transpose2d as a "gather" over precomputed tap tables,
// with weights repacked so the inner loop runs over contiguous channels (grey and RGB alike:
// channels are just the innermost axis). Used by compileModel (decoder.js).

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

