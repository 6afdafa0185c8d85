// View "direction": one slider alpha; the image shows decode(base + alpha * direction) on every
// input event (latent arithmetic: start code + alpha times an attribute vector). Python hears
// only the released alpha. DOM: root [data-testid=vae-live-direction] (data-alpha = the alpha
// painted last), canvas[data-testid=vae-live-canvas], input[data-testid=vae-alpha],
// output[data-testid=vae-alpha-value], [data-testid=vae-latent-vector] (data-latent JSON of t).

class DirectionView extends BaseView {
  constructor(parent) {
    super(parent, "direction");
    this.image = new ImageView("vae-live-canvas", 256);
    this.status = el("div", { className: "vae-status", "data-testid": "vae-live-status", text: "" });
    this.input = el("input", { type: "range", id: "vae-alpha", "data-testid": "vae-alpha", "aria-label": "alpha" });
    this.out = el("output", { className: "vae-value", for: "vae-alpha", "data-testid": "vae-alpha-value" });
    this.label = el("label", { className: "vae-dim-label", for: "vae-alpha", text: "\u03b1" });
    this.row = el("div", { className: "vae-row" }, [this.label, el("div", { className: "vae-range" }, [this.input]), this.out]);
    this.title = el("div", { className: "vae-title" });
    this.vector = el("div", { className: "vae-vector", "data-testid": "vae-latent-vector" });
    this.root = el("div", { className: "vae-live vae-direction", "data-testid": "vae-live-direction" }, [
      el("div", { className: "vae-grid" }, [
        el("div", { className: "vae-image-col" }, [this.image.frame, this.status]),
        el("div", { className: "vae-controls" }, [this.title, this.row, this.vector]),
      ]),
    ]);
    parent.appendChild(this.root);
    this.alpha = 0;
    this.appliedCmd = null;
    this.input.addEventListener("input", () => this.onInput());
    this.input.addEventListener("change", () => this.onRelease());
    this.input.addEventListener("pointerdown", () => this.row.classList.add("vae-active"));
    this.input.addEventListener("pointerup", () => this.row.classList.remove("vae-active"));
  }

  apply(data) {
    const D = this.model.latentDim;
    if (!Array.isArray(data.base) || data.base.length !== D || !Array.isArray(data.direction) || data.direction.length !== D) {
      this.showError(`base and direction must have ${D} numbers`);
      return;
    }
    this.base = Float64Array.from(data.base);
    this.dir = Float64Array.from(data.direction);
    this.z = new Float64Array(D);
    // A new command (another start, direction or a button) sets alpha; otherwise the user's wins.
    if (data.cmd !== this.appliedCmd) {
      this.alpha = data.alpha;
      this.appliedCmd = data.cmd;
    }
    const r = data.range;
    this.input.min = String(-r);
    this.input.max = String(r);
    this.input.step = String(data.step);
    this.input.value = String(this.alpha);
    this.image.setShape(this.model.C, this.model.H, this.model.W, data.image_px || 256);
    this.title.textContent = data.title || "";
    this.title.hidden = !data.title;
    this.timed(performance.now(), () => this.render(), false);
  }

  render() {
    for (let i = 0; i < this.z.length; i++) this.z[i] = this.base[i] + this.alpha * this.dir[i];
    this.image.paint(this.model, this.model.decode(this.z), this.data.invert);
    this.out.textContent = fmt(this.alpha);
    this.out.dataset.value = String(this.alpha);
    this.root.dataset.alpha = String(this.alpha);
    this.vector.dataset.latent = JSON.stringify(Array.from(this.z));
    const r = this.data.range;
    const pos = ((Math.max(-r, Math.min(r, this.alpha)) + r) / (2 * r)) * 100;
    this.input.style.setProperty("--lo", `${Math.min(50, pos)}%`);
    this.input.style.setProperty("--hi", `${Math.max(50, pos)}%`);
  }

  onInput() {
    const t0 = performance.now();
    if (!this.model || !this.z) return;
    this.alpha = Number(this.input.value);
    this.timed(t0, () => this.render());
  }

  onRelease() {
    if (!this.model || !this.z) return;
    this.row.classList.remove("vae-active");
    this.report("release", { alpha: this.alpha, latent: Array.from(this.z), cmd: this.appliedCmd });
  }
}

registerView("direction", DirectionView);
