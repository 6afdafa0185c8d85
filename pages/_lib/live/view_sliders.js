// View "sliders": one range input per latent dimension; the image follows every input event.

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

  /** Show data (called by BaseView.update once the model is compiled). */
  apply(data) {
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

registerView("sliders", SlidersView);
