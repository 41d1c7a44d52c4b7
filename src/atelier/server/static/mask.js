// The inpainting mask, painted over the image: brush, eraser, undo, clear, invert.
// The canvas has the image's own size; the exported mask is a PNG of that size, white where to
// fill and black (transparent) where to keep: the server reads an RGBA mask's alpha and an RGB
// mask's brightness, and this PNG says the same either way.
import { h } from "./dom.js";

const UNDO_LIMIT = 20;

export class MaskEditor {
  constructor() {
    this.brush = 28; // in screen pixels
    this.erasing = false;
    this.undo = [];
    this.drawing = null;
    this.painted = false;
    this.onchange = null;

    this.size = h("input", { type: "range", min: "4", max: "160", step: "1", value: String(this.brush), id: "mask-brush" });
    this.sizeOut = h("output", { for: "mask-brush", class: "mono" }, String(this.brush));
    this.eraser = h("button", { type: "button", class: "tool", "aria-pressed": "false", title: "Eraser (E)" }, "Eraser");
    this.undoBtn = h("button", { type: "button", class: "tool", title: "Undo (Ctrl+Z)", disabled: true }, "Undo");
    this.clearBtn = h("button", { type: "button", class: "tool", title: "Clear the mask", disabled: true }, "Clear");
    this.invertBtn = h("button", { type: "button", class: "tool", title: "Invert the mask" }, "Invert");
    this.file = h("input", { type: "file", accept: "image/png,image/jpeg,image/webp,image/bmp", class: "visually-hidden", id: "mask-file", tabindex: "-1" });
    this.loadBtn = h("button", { type: "button", class: "tool", title: "Load a mask image (white: fill), e.g. made in another program" }, "Load mask…");
    this.img = h("img", { class: "mask-image", alt: "The image to inpaint", draggable: "false" });
    this.canvas = h("canvas", {
      class: "mask-canvas", tabindex: "0", id: "mask-canvas",
      "aria-label": "Mask: drag over the image to paint where to fill. [ and ] change the brush, E toggles the eraser, Ctrl+Z undoes.",
    });
    this.cursor = h("div", { class: "brush-cursor", "aria-hidden": "true" });
    this.stage = h("div", { class: "mask-stage" }, this.img, this.canvas, this.cursor);
    this.status = h("span", { class: "mask-status muted", "aria-live": "polite" }, "Nothing painted yet");
    this.root = h("div", { class: "mask-editor", id: "mask-editor" },
      h("div", { class: "mask-toolbar", role: "toolbar", "aria-label": "Mask tools" },
        h("div", { class: "brush-size" }, h("label", { for: "mask-brush" }, "Brush"), this.size, this.sizeOut),
        h("div", { class: "mask-tools" }, this.eraser, this.undoBtn, this.clearBtn, this.invertBtn, this.loadBtn, this.file)),
      this.stage,
      h("p", { class: "help" }, "Paint over what to remove or replace. ", this.status));
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.bind();
  }

  bind() {
    this.size.addEventListener("input", () => this.setBrush(Number(this.size.value)));
    this.eraser.addEventListener("click", () => this.setEraser(!this.erasing));
    this.undoBtn.addEventListener("click", () => this.popUndo());
    this.clearBtn.addEventListener("click", () => { this.pushUndo(); this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height); this.changed(false); });
    this.invertBtn.addEventListener("click", () => this.invert());
    this.loadBtn.addEventListener("click", () => this.file.click());
    this.file.addEventListener("change", () => {
      const file = this.file.files[0];
      this.file.value = "";
      if (file) this.load(file).catch(() => { this.status.textContent = `${file.name} cannot be read as an image`; });
    });
    const c = this.canvas;
    c.addEventListener("pointerdown", (e) => this.start(e));
    c.addEventListener("pointermove", (e) => { this.moveCursor(e); if (this.drawing) this.move(e); });
    c.addEventListener("pointerup", (e) => this.end(e));
    c.addEventListener("pointercancel", (e) => this.end(e));
    c.addEventListener("pointerleave", () => this.stage.classList.remove("show-cursor"));
    c.addEventListener("pointerenter", () => this.stage.classList.add("show-cursor"));
    c.addEventListener("keydown", (e) => this.key(e));
  }

  key(e) {
    if (e.key === "[" || e.key === "]") {
      this.setBrush(Math.max(4, Math.min(160, this.brush + (e.key === "]" ? 4 : -4))));
    } else if (e.key === "e" || e.key === "E") {
      this.setEraser(!this.erasing);
    } else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
      this.popUndo();
    } else return;
    e.preventDefault();
  }

  setBrush(size) {
    this.brush = size;
    this.size.value = String(size);
    this.sizeOut.textContent = String(size);
    this.stage.style.setProperty("--brush", `${size}px`);
  }

  setEraser(on) {
    this.erasing = on;
    this.eraser.setAttribute("aria-pressed", String(on));
    this.stage.classList.toggle("erasing", on);
  }

  /** Show ``url`` (natural size ``width`` x ``height``) with an empty mask. */
  setImage(url, width, height) {
    this.img.src = url;
    this.canvas.width = width;
    this.canvas.height = height;
    this.stage.style.setProperty("--aspect", `${width} / ${height}`);
    this.undo = [];
    this.changed(false);
    this.setBrush(this.brush);
  }

  get width() { return this.canvas.width; }
  get height() { return this.canvas.height; }

  scale() {
    const rect = this.canvas.getBoundingClientRect();
    return { rect, sx: this.canvas.width / rect.width, sy: this.canvas.height / rect.height };
  }

  point(e) {
    const { rect, sx, sy } = this.scale();
    return [(e.clientX - rect.left) * sx, (e.clientY - rect.top) * sy, sx];
  }

  moveCursor(e) {
    const rect = this.canvas.getBoundingClientRect();
    this.stage.style.setProperty("--x", `${e.clientX - rect.left}px`);
    this.stage.style.setProperty("--y", `${e.clientY - rect.top}px`);
  }

  start(e) {
    if (e.button !== 0 && e.pointerType === "mouse") return;
    e.preventDefault();
    this.canvas.focus({ preventScroll: true });
    this.canvas.setPointerCapture?.(e.pointerId);
    this.pushUndo();
    const [x, y, s] = this.point(e);
    this.drawing = { x, y, s };
    const ctx = this.ctx;
    ctx.globalCompositeOperation = this.erasing ? "destination-out" : "source-over";
    ctx.fillStyle = ctx.strokeStyle = this.colour();
    ctx.lineCap = ctx.lineJoin = "round";
    ctx.lineWidth = this.brush * s;
    ctx.beginPath();
    ctx.arc(x, y, (this.brush * s) / 2, 0, Math.PI * 2);
    ctx.fill();
  }

  move(e) {
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    const ctx = this.ctx;
    for (const ev of events.length ? events : [e]) {
      const [x, y] = this.point(ev);
      ctx.beginPath();
      ctx.moveTo(this.drawing.x, this.drawing.y);
      ctx.lineTo(x, y);
      ctx.stroke();
      this.drawing.x = x;
      this.drawing.y = y;
    }
  }

  end() {
    if (!this.drawing) return;
    this.drawing = null;
    this.ctx.globalCompositeOperation = "source-over";
    this.changed(this.coverage() > 0);
  }

  /** The strokes' colour (only their alpha counts: the exported mask is made from it). */
  colour() {
    return getComputedStyle(this.stage).getPropertyValue("--mask").trim() || "#ff3d6e";
  }

  rgb() {
    const probe = document.createElement("canvas").getContext("2d");
    probe.fillStyle = this.colour();
    probe.fillRect(0, 0, 1, 1);
    return probe.getImageData(0, 0, 1, 1).data;
  }

  pushUndo() {
    if (!this.canvas.width) return;
    this.undo.push(this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height));
    if (this.undo.length > UNDO_LIMIT) this.undo.shift();
  }

  popUndo() {
    const last = this.undo.pop();
    if (!last) return;
    this.ctx.putImageData(last, 0, 0);
    this.changed(this.coverage() > 0);
  }

  invert() {
    if (!this.canvas.width) return;
    this.pushUndo();
    const data = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
    const p = data.data;
    const [r, g, b] = this.rgb();
    for (let i = 0; i < p.length; i += 4) {
      const on = p[i + 3] > 0;
      p[i] = r; p[i + 1] = g; p[i + 2] = b;
      p[i + 3] = on ? 0 : 255;
    }
    this.ctx.putImageData(data, 0, 0);
    this.changed(this.coverage() > 0);
  }

  /** Paint from a mask image: its bright (or, with transparency, opaque) pixels, resized to the image. */
  async load(file) {
    if (!this.canvas.width) return;
    const bitmap = await createImageBitmap(file);
    const { width, height } = this.canvas;
    const tmp = document.createElement("canvas");
    tmp.width = width;
    tmp.height = height;
    const tctx = tmp.getContext("2d", { willReadFrequently: true });
    tctx.drawImage(bitmap, 0, 0, width, height);
    const src = tctx.getImageData(0, 0, width, height).data;
    let transparent = false;
    for (let i = 3; i < src.length; i += 4) if (src[i] < 255) { transparent = true; break; }
    this.pushUndo();
    const out = this.ctx.createImageData(width, height);
    const p = out.data;
    const [r, g, b] = this.rgb();
    for (let i = 0; i < p.length; i += 4) {
      const on = transparent ? src[i + 3] > 127 : Math.max(src[i], src[i + 1], src[i + 2]) > 127;
      p[i] = r; p[i + 1] = g; p[i + 2] = b; p[i + 3] = on ? 255 : 0;
    }
    this.ctx.putImageData(out, 0, 0);
    this.changed(this.coverage() > 0);
  }

  /** The fraction of the image painted (0..1). */
  coverage() {
    if (!this.canvas.width) return 0;
    const p = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height).data;
    let on = 0;
    for (let i = 3; i < p.length; i += 4) if (p[i] > 0) on++;
    return on / (p.length / 4);
  }

  changed(painted) {
    this.painted = painted;
    this.undoBtn.disabled = this.undo.length === 0;
    this.clearBtn.disabled = !painted;
    const cover = painted ? this.coverage() : 0;
    this.status.textContent = painted ? `${(cover * 100).toFixed(cover < 0.01 ? 2 : 1)} % of the image masked` : "Nothing painted yet";
    this.canvas.dataset.coverage = cover.toFixed(5);
    if (this.onchange) this.onchange(painted);
  }

  hasPaint() {
    return this.painted;
  }

  /** The mask as a PNG blob (the image's size): white where to fill, transparent black elsewhere. */
  toBlob() {
    const { width, height } = this.canvas;
    const out = document.createElement("canvas");
    out.width = width;
    out.height = height;
    const octx = out.getContext("2d");
    const src = this.ctx.getImageData(0, 0, width, height).data;
    const img = octx.createImageData(width, height);
    const p = img.data;
    for (let i = 0; i < p.length; i += 4) {
      const v = src[i + 3] > 0 ? 255 : 0;
      p[i] = p[i + 1] = p[i + 2] = v;
      p[i + 3] = v;
    }
    octx.putImageData(img, 0, 0);
    return new Promise((resolve, reject) =>
      out.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("could not encode the mask"))), "image/png"));
  }
}
