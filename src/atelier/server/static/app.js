// atelier studio: the web page over the studio's HTTP API (no build step, no framework).
//
//   form   task picker -> inputs (images by drop/file/paste, the inpainting mask painted on the
//          image, the prompt) -> parameters generated from the task's JSON Schema -> seed -> Run
//   job    the current job: progress (Server-Sent Events), cancel/resume, the result (before/after
//          slider, caption, scores, grid) or the training dashboard (loss chart, latest samples)
//   history  the job gallery (thumbnails, downloads) and the training runs
import { api, getBlob, isFinal } from "./api.js";
import { h, fill, $, humanize, ago, duration, figure } from "./dom.js";
import { paramsForm, unwrap } from "./form.js";
import { MaskEditor } from "./mask.js";
import { LossChart } from "./chart.js";
import { compareView, pixelateSmall } from "./compare.js";

const CATEGORY_ORDER = ["edit", "restore", "style", "generate", "describe", "measure", "train"];
const CATEGORY_LABEL = { edit: "Edit", restore: "Restore", style: "Style", generate: "Generate", describe: "Describe", measure: "Measure", train: "Train" };
// /api/models names each model's kind ("sr", "style", ...); which kinds each task's `model` takes.
// Words a task's `model` takes besides model names (from the parameters' descriptions).
const MODEL_WORDS = {
  upscale: [["auto", "the shipped sr-xN for the scale"], ["bicubic", "plain bicubic interpolation"]],
  denoise: [["nlm", "OpenCV non-local means"]],
  stylize: [["optimize", "Gatys' optimisation towards a style image"]],
};
const IMAGE_TYPES = "image/png,image/jpeg,image/webp,image/bmp,image/tiff";
const SAMPLEABLE = ["dcgan", "cgan", "vae", "cvae", "vaegan", "diffusion"];

const state = {
  tasks: [], task: null, ops: [], models: [], datasets: [], runs: [],
  files: {},        // input name -> {file, url, width, height}: kept across tasks
  texts: {},        // input name -> text
  values: {},       // task name -> its parameter values when last left
  form: null,       // the current paramsForm
  slots: {},        // input name -> slot of the current task
  mask: null,       // the MaskEditor (one, reused)
  jobs: [],
  online: true,
  tab: "jobs",
};

// ------------------------------------------------------------------ inputs
class ImageSlot {
  constructor(spec, onchange) {
    this.spec = spec;
    this.onchange = onchange;
    const id = `in-${spec.name}`;
    this.input = h("input", { type: "file", accept: IMAGE_TYPES, id, class: "visually-hidden", "aria-labelledby": `${id}-label ${id}-text`,
      "aria-describedby": spec.help ? `${id}-help` : null });
    this.preview = h("img", { class: "drop-preview", alt: "", hidden: true, draggable: "false" });
    this.text = h("span", { class: "drop-text", id: `${id}-text` });
    this.meta = h("span", { class: "drop-meta mono" });
    this.hint = h("span", { class: "drop-hint" }, "PNG, JPEG, WebP, BMP or TIFF · or paste one with Ctrl+V");
    this.label = h("label", { for: id, class: "drop" }, this.preview, this.text, this.meta, this.hint);
    this.remove = h("button", { type: "button", class: "link-btn", hidden: true }, "Remove");
    this.root = h("div", { class: "field slot", dataset: { input: spec.name } },
      h("div", { class: "slot-head" },
        h("span", { class: "slot-label", id: `${id}-label` }, humanize(spec.name), spec.required ? null : h("span", { class: "muted" }, " (optional)")),
        this.remove),
      this.input, this.label,
      spec.help ? h("small", { class: "help", id: `${id}-help` }, spec.help) : null);
    this.input.addEventListener("change", () => {
      if (this.input.files[0]) this.set(this.input.files[0]);
      this.input.value = "";
    });
    this.remove.addEventListener("click", () => { this.clear(); this.input.focus(); });
    for (const kind of ["dragenter", "dragover"]) {
      this.label.addEventListener(kind, (e) => { e.preventDefault(); this.label.classList.add("dragging"); });
    }
    for (const kind of ["dragleave", "dragend"]) this.label.addEventListener(kind, () => this.label.classList.remove("dragging"));
    this.label.addEventListener("drop", (e) => {
      e.preventDefault();
      this.label.classList.remove("dragging");
      const file = [...(e.dataTransfer?.files || [])].find((f) => f.type.startsWith("image/")) || e.dataTransfer?.files?.[0];
      if (file) this.set(file);
    });
    this.show(state.files[spec.name]);
  }

  async set(file) {
    showError("");
    if (file.type && !file.type.startsWith("image/")) {
      showError(`${file.name} is not an image`);
      return;
    }
    const url = URL.createObjectURL(file);
    let width = 0, height = 0;
    try {
      const probe = new Image();
      probe.src = url;
      await probe.decode();
      width = probe.naturalWidth;
      height = probe.naturalHeight;
    } catch {
      URL.revokeObjectURL(url);
      showError(`${file.name}: this browser cannot read it as an image`);
      return;
    }
    const old = state.files[this.spec.name];
    if (old?.url && !Object.values(state.files).some((f) => f !== old && f.url === old.url)) URL.revokeObjectURL(old.url);
    state.files[this.spec.name] = { file, url, width, height };
    this.show(state.files[this.spec.name]);
    this.onchange?.(this);
  }

  clear() {
    const old = state.files[this.spec.name];
    if (old?.url) URL.revokeObjectURL(old.url);
    delete state.files[this.spec.name];
    this.show(null);
    this.onchange?.(this);
  }

  show(entry) {
    this.entry = entry || null;
    const filled = Boolean(entry);
    this.root.classList.toggle("filled", filled);
    this.preview.hidden = !filled;
    this.remove.hidden = !filled;
    this.hint.hidden = filled;
    if (filled) {
      this.preview.src = entry.url;
      this.preview.alt = `${humanize(this.spec.name)}: ${entry.file.name}`;
      this.meta.textContent = `${entry.file.name} · ${entry.width}×${entry.height}`;
      fill(this.text, h("strong", {}, "Replace"), h("span", { class: "drop-more" }, " — choose or drop another image"));
    } else {
      this.preview.removeAttribute("src");
      this.meta.textContent = "";
      fill(this.text, h("strong", {}, "Choose an image"), h("span", {}, " or drop it here"));
    }
  }
}

function textSlot(spec) {
  const id = `in-${spec.name}`;
  const area = h("textarea", {
    id, name: spec.name, rows: "3", required: spec.required, spellcheck: "true",
    placeholder: spec.help || "", "aria-describedby": `${id}-help`,
  });
  area.value = state.texts[spec.name] || "";
  area.addEventListener("input", () => { state.texts[spec.name] = area.value; });
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("#job-form").requestSubmit();
    }
  });
  const root = h("div", { class: "field slot", dataset: { input: spec.name } },
    h("label", { for: id }, humanize(spec.name), spec.required ? null : h("span", { class: "muted" }, " (optional)")),
    area,
    h("small", { class: "help", id: `${id}-help` }, "Enter runs the job, Shift+Enter starts a new line."));
  return { spec, root, area, read: () => area.value.trim() };
}

// ------------------------------------------------------------------ the form
function datalistFor(task, name) {
  if (task.name === "train" && name === "data") {
    return state.datasets.map((d) => ({ value: d.name, label: d.summary }));
  }
  if (task.name === "train" && name === "run") {
    return state.runs.map((r) => ({ value: r.name, label: `${r.model} on ${r.data}, step ${r.step}` }));
  }
  if (name !== "model") return null;
  const models = state.models.filter((m) => (m.tasks || []).includes(task.name));
  const words = (MODEL_WORDS[task.name] || []).map(([value, label]) => ({ value, label }));
  return [...words, ...models.map((m) => ({ value: m.name, label: m.summary }))];
}

function opSnippet(op) {
  const parts = [op.name];
  for (const [key, raw] of Object.entries(op.params || {})) {
    const { schema, nullable } = unwrap(raw);
    if ("default" in raw || nullable) continue;
    let value;
    if (Array.isArray(schema.enum)) value = schema.enum[0];
    else if (schema.type === "boolean") value = "false";
    else if (schema.type === "integer") value = schema.minimum ?? (schema.exclusiveMinimum ?? 0) + 1;
    else if (schema.type === "number") {
      value = 1;
      if (schema.maximum !== undefined && value > schema.maximum) value = schema.maximum;
      if (schema.minimum !== undefined && value < schema.minimum) value = schema.minimum;
    } else value = "?";
    parts.push(`${key}=${value}`);
  }
  return parts.join(" ");
}

function opsPicker(input) {
  const usable = state.ops.filter((op) => !op.takes_files);
  if (!usable.length) return null;
  const describe = h("p", { class: "help op-describe" }, "Click an op to add it to the pipeline.");
  const groups = new Map();
  for (const op of usable) {
    if (!groups.has(op.category)) groups.set(op.category, []);
    groups.get(op.category).push(op);
  }
  const summaryOf = (op) => {
    const params = Object.entries(op.params || {}).map(([k, s]) => (("default" in s) ? `${k}=${JSON.stringify(s.default)}` : k));
    return `${op.name}: ${op.summary.replace(/``/g, "")}${params.length ? ` — ${params.join(", ")}` : ""}`;
  };
  const body = [...groups.entries()].map(([category, ops]) =>
    h("div", { class: "op-group" }, h("span", { class: "op-cat" }, humanize(category)),
      h("div", { class: "op-buttons" }, ops.map((op) => h("button", {
        type: "button", class: "chip", title: summaryOf(op),
        onclick: () => {
          const current = input.value.trim();
          input.value = current ? `${current} | ${opSnippet(op)}` : opSnippet(op);
          input.dispatchEvent(new Event("input"));
          input.focus();
          input.setSelectionRange(input.value.length, input.value.length);
        },
        onfocus: () => { describe.textContent = summaryOf(op); },
        onmouseenter: () => { describe.textContent = summaryOf(op); },
      }, op.name)))));
  return h("details", { class: "ops-picker" }, h("summary", {}, `Ops (${usable.length})`), describe, body);
}

function renderTaskOptions() {
  const select = $("#task");
  const groups = new Map();
  for (const task of state.tasks) {
    if (!groups.has(task.category)) groups.set(task.category, []);
    groups.get(task.category).push(task);
  }
  const order = [...groups.keys()].sort((a, b) => rank(a) - rank(b));
  fill(select, order.map((cat) => h("optgroup", { label: CATEGORY_LABEL[cat] || humanize(cat) },
    groups.get(cat).map((t) => h("option", { value: t.name }, humanize(t.name))))));
}

const rank = (category) => {
  const i = CATEGORY_ORDER.indexOf(category);
  return i < 0 ? CATEGORY_ORDER.length : i;
};

function setTask(name, { focus = false } = {}) {
  const task = state.tasks.find((t) => t.name === name) || state.tasks[0];
  if (!task) return;
  if (state.task && state.form) {
    try { state.values[state.task.name] = state.form.read(); } catch { /* keep what parses */ }
  }
  state.task = task;
  $("#task").value = task.name;
  $("#task-summary").textContent = task.summary;
  $("#submit").textContent = task.long ? "Start training" : "Run";
  document.body.dataset.task = task.name;
  try { localStorage.setItem("atelier.task", task.name); } catch { /* private mode */ }

  // inputs
  const inputs = $("#inputs");
  inputs.replaceChildren();
  state.slots = {};
  const imageSlots = [];
  const hasMask = task.inputs.some((i) => i.kind === "mask");
  const maskTarget = hasMask ? task.inputs.find((i) => i.kind === "image") : null;
  for (const spec of task.inputs) {
    if (spec.kind === "text") {
      const slot = textSlot(spec);
      state.slots[spec.name] = slot;
      inputs.append(slot.root);
    } else if (spec.kind === "mask" && maskTarget) {
      state.slots[spec.name] = { spec, mask: true };
    } else {
      const slot = new ImageSlot(spec, (s) => { if (s.spec === maskTarget) syncMask(s); });
      state.slots[spec.name] = slot;
      imageSlots.push(slot);
      inputs.append(slot.root);
      if (spec === maskTarget) {
        slot.root.classList.add("has-editor");
        const editor = ensureMask();
        const maskSpec = task.inputs.find((i) => i.kind === "mask");
        const wrap = h("div", { class: "field slot mask-slot", dataset: { input: maskSpec.name } },
          h("span", { class: "slot-label" }, humanize(maskSpec.name)), editor.root);
        inputs.append(wrap);
        syncMask(slot, true);
      }
    }
  }
  inputs.hidden = task.inputs.length === 0;

  // parameters
  state.form = paramsForm(task, {
    datalist: (name) => datalistFor(task, name),
    extra: (name, input) => (task.name === "edit" && name === "pipeline" ? opsPicker(input) : null),
  });
  if (state.values[task.name]) state.form.write(state.values[task.name]);
  fill($("#params"), state.form.root);
  $("#params-box").hidden = state.form.fields.length === 0;
  if (location.hash.startsWith("#task=") || !location.hash) history.replaceState(null, "", `#task=${task.name}`);
  if (focus) $("#task").focus();
}

function ensureMask() {
  if (!state.mask) {
    state.mask = new MaskEditor();
    state.mask.root.hidden = true;
  }
  return state.mask;
}

function syncMask(slot, keep = false) {
  const editor = ensureMask();
  const entry = state.files[slot.spec.name];
  editor.root.hidden = !entry;
  const wrap = editor.root.closest(".mask-slot");
  if (wrap) wrap.hidden = !entry;
  if (!entry) return;
  if (keep && editor.source === entry.url) return; // same image: keep the painted mask
  editor.source = entry.url;
  editor.setImage(entry.url, entry.width, entry.height);
}

// ------------------------------------------------------------------ submitting
function showError(message) {
  const box = $("#form-error");
  box.textContent = message || "";
  box.hidden = !message;
  if (message) box.scrollIntoView({ block: "nearest", behavior: "smooth" });
}

function readSeed() {
  const text = $("#seed").value.trim();
  if (text === "") return Math.floor(Math.random() * 2 ** 31);
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed >= 2 ** 31) throw new Error("the seed must be a whole number from 0 to 2147483647");
  return seed;
}

async function submit(event) {
  event.preventDefault();
  const task = state.task;
  if (!task || state.submitting) return;
  showError("");
  const form = new FormData();
  try {
    form.append("task", task.name);
    form.append("params", JSON.stringify(state.form.read()));
    form.append("seed", String(readSeed()));
    for (const spec of task.inputs) {
      const slot = state.slots[spec.name];
      if (spec.kind === "text") {
        const text = slot.read();
        if (text) form.append(spec.name, text);
        else if (spec.required) throw new Error(`write the ${spec.name} first`);
      } else if (slot?.mask) {
        const editor = state.mask;
        if (!editor || editor.root.hidden) throw new Error(`add the image, then paint the ${spec.name} on it`);
        if (!editor.hasPaint()) throw new Error(`paint the ${spec.name} over the part of the image to fill`);
        form.append(spec.name, await editor.toBlob(), `${spec.name}.png`);
      } else {
        const entry = state.files[spec.name];
        if (entry) form.append(spec.name, entry.file, entry.file.name || `${spec.name}.png`);
        else if (spec.required) throw new Error(`add an image for ${humanize(spec.name).toLowerCase()}`);
      }
    }
  } catch (exc) {
    showError(exc.message);
    return;
  }
  const button = $("#submit");
  const label = button.textContent;
  state.submitting = true;
  button.disabled = true;
  button.textContent = "Submitting…";
  try {
    const job = await api.submit(form);
    upsertJob(job);
    view.show(job);
  } catch (exc) {
    showError(exc.message);
  } finally {
    state.submitting = false;
    button.disabled = false;
    button.textContent = label;
  }
}

/** Scroll ``el``'s top into view when it is above or below the window. */
function reveal(el) {
  const r = el.getBoundingClientRect();
  if (r.top < 54 || r.top > innerHeight - 80) el.scrollIntoView({ behavior: "smooth", block: "start" });
}

function isVisible(el) {
  const r = el.getBoundingClientRect();
  return r.top < innerHeight && r.bottom > 0;
}

// ------------------------------------------------------------------ the current job
const STATUS_TEXT = { queued: "Queued", running: "Running", done: "Done", failed: "Failed", cancelled: "Cancelled", interrupted: "Interrupted" };

function badge(status, extra = "") {
  return h("span", { class: `badge b-${status}` }, STATUS_TEXT[status] || status, extra);
}

function outputUrl(job, name) {
  return api.outputUrl(job.id, name);
}

function downloadLinks(job, { compact = false } = {}) {
  const outputs = job.result?.outputs || [];
  return outputs.map((o) => h("a", {
    class: compact ? "dl" : "btn", href: outputUrl(job, o.name), download: `${job.task}-${job.id}-${o.name}.png`,
    "aria-label": `Download ${o.name} of ${job.task} job ${job.id.slice(0, 6)}`,
  }, compact ? `↓ ${o.name}` : `Download ${o.name}`));
}

class JobView {
  constructor(root) {
    this.root = root;
    this.job = null;
    this.es = null;
    this.showEmpty();
  }

  showEmpty() {
    this.close();
    this.job = null;
    fill(this.root,
      h("div", { class: "empty-state" },
        h("h2", { id: "job-title" }, "Ready when you are"),
        h("p", {}, "Pick a task, add its inputs and press Run. Progress, results and training curves show up here; every job stays in the history below.")));
  }

  close() {
    if (this.es) {
      this.es.close();
      this.es = null;
    }
    this.chart?.resize.disconnect();
    this.chart = null;
  }

  async open(id) {
    try {
      this.show(await api.job(id));
    } catch (exc) {
      this.showEmpty();
      showNotice(`Job ${id}: ${exc.message}`);
    }
  }

  show(job) {
    this.close();
    this.job = job;
    this.done = null;
    this.title = h("h2", { id: "job-title" }, humanize(job.task), h("span", { class: "job-id mono" }, job.id));
    this.badge = h("span", { class: "badge-slot" });
    this.meta = h("p", { class: "job-meta muted" });
    this.bar = h("progress", { id: "job-progress", max: "1", "aria-label": "Progress" });
    this.stage = h("span", { class: "stage" });
    this.count = h("span", { class: "count mono muted" });
    this.live = h("p", { class: "visually-hidden", role: "status", "aria-live": "polite" });
    this.cancelBtn = h("button", { type: "button", class: "btn danger", onclick: () => this.cancel() }, "Cancel");
    this.resumeBtn = h("button", { type: "button", class: "btn", onclick: () => this.resume() }, "Resume");
    this.reuseBtn = h("button", { type: "button", class: "btn ghost", onclick: () => reuse(this.job),
      title: "Put this job's task, settings and seed back in the form" }, "Reuse settings");
    this.useBtn = h("button", { type: "button", class: "btn ghost", onclick: () => useAsInput(this.job),
      title: "Load the result as the image input of the form" }, "Use result as input");
    this.downloads = h("span", { class: "downloads" });
    this.error = h("p", { class: "job-error", role: "alert", hidden: true });
    this.body = h("div", { class: "job-body" });
    fill(this.root,
      h("div", { class: "job-head" }, this.title, this.badge),
      this.meta,
      h("div", { class: "progress-row" }, this.bar, h("div", { class: "progress-text" }, this.stage, this.count)),
      this.live,
      this.error,
      this.body,
      h("div", { class: "job-actions" }, this.cancelBtn, this.resumeBtn, this.useBtn, this.reuseBtn, this.downloads));
    this.root.dataset.jobId = job.id;
    if (job.task === "train") this.setupTraining(job);
    this.lastStatus = null;
    this.update(job);
    if (!isFinal(job)) this.listen(job.id);
    history.replaceState(null, "", `#job=${job.id}`);
    markCurrent();
    reveal(this.root);
  }

  listen(id) {
    const es = api.events(id);
    this.es = es;
    es.addEventListener("progress", (e) => this.update(JSON.parse(e.data)));
    es.addEventListener("log", (e) => this.chart?.add(JSON.parse(e.data)));
    es.addEventListener("sample", (e) => this.setSample(JSON.parse(e.data)));
    const finish = (e) => {
      if (e.data === undefined) { // the connection's own error: the browser retries; the poll covers the gap
        if (es.readyState === EventSource.CLOSED && this.es === es) this.es = null;
        return;
      }
      const job = JSON.parse(e.data);
      es.close();
      if (this.es === es) this.es = null;
      this.update(job);
      upsertJob(job);
      if (job.task === "train") refreshRuns();
    };
    es.addEventListener("done", finish);
    es.addEventListener("error", finish);
  }

  update(job) {
    if (!this.job || job.id !== this.job.id || job.version < this.job.version) return;
    this.job = job;
    const { done, total, stage } = job.progress || {};
    const running = job.status === "running";
    fill(this.badge, badge(job.status));
    this.root.dataset.status = job.status;
    this.root.setAttribute("aria-busy", String(!isFinal(job)));
    if (job.status === "done") { this.bar.max = 1; this.bar.value = 1; }
    else if (total > 0) { this.bar.max = total; this.bar.value = Math.min(done, total); }
    else if (running || job.status === "queued") this.bar.removeAttribute("value"); // indeterminate
    else { this.bar.max = 1; this.bar.value = 0; }
    this.stage.textContent = job.status === "queued" ? "Waiting for a worker…"
      : running ? (job.cancel_requested ? "Stopping…" : stage || "Starting…")
      : job.status === "done" ? `Finished${job.finished && job.started ? ` in ${duration(job.finished - job.started)}` : ""}`
      : STATUS_TEXT[job.status];
    this.count.textContent = total > 0 && !isFinal(job) ? `${figure(done)} / ${figure(total)}` : "";
    const parts = [ago(job.created), `seed ${job.seed}`];
    if (job.attempt > 1) parts.push(`attempt ${job.attempt}`);
    if (job.task === "train") parts.push(`run ${job.params.run}`);
    this.meta.textContent = parts.filter(Boolean).join(" · ");
    this.cancelBtn.hidden = isFinal(job);
    this.cancelBtn.disabled = Boolean(job.cancel_requested);
    this.resumeBtn.hidden = !["interrupted", "failed", "cancelled"].includes(job.status);
    this.resumeBtn.textContent = job.task === "train" ? "Resume training" : "Run again";
    const outputs = job.result?.outputs || [];
    this.useBtn.hidden = !(job.status === "done" && outputs.some((o) => o.name === "image"));
    fill(this.downloads, job.status === "done" ? downloadLinks(job) : null);
    this.error.hidden = !(job.error && job.status !== "done");
    this.error.textContent = job.error ? (job.status === "cancelled" ? `Cancelled: ${job.error}` : job.error) : "";
    if (job.status !== this.lastStatus) {
      this.live.textContent = `${humanize(job.task)} job ${STATUS_TEXT[job.status]?.toLowerCase() || job.status}${job.error && job.status !== "done" ? `: ${job.error}` : ""}`;
      this.lastStatus = job.status;
    }
    if (job.status === "done" && this.done !== `${job.id}:${job.attempt}`) {
      this.done = `${job.id}:${job.attempt}`;
      this.renderResult(job);
    } else if (job.status !== "done" && job.task !== "train" && !this.body.firstChild) {
      this.renderInputs(job);
    }
    if (!isFinal(job) && !this.es) this.listen(job.id);
    if (isFinal(job) && this.es) { this.es.close(); this.es = null; }
  }

  async cancel() {
    this.cancelBtn.disabled = true;
    try { this.update(await api.cancel(this.job.id)); } catch (exc) { this.showProblem(exc.message); }
  }

  async resume() {
    this.resumeBtn.disabled = true;
    try {
      const job = await api.resume(this.job.id);
      this.done = null;
      upsertJob(job);
      this.update(job);
    } catch (exc) {
      this.showProblem(exc.message);
    } finally {
      this.resumeBtn.disabled = false;
    }
  }

  showProblem(message) {
    this.error.hidden = false;
    this.error.textContent = message;
  }

  /** While a job waits or runs: its input images, so the page shows what is being worked on. */
  renderInputs(job) {
    const images = (job.inputs || []).filter((name) => name !== "prompt" && name !== "text");
    if (!images.length) return;
    fill(this.body, h("div", { class: "result-grid inputs-preview" }, images.map((name) =>
      h("figure", {}, pixelateSmall(h("img", { src: api.inputUrl(job.id, name), alt: `Input ${name}`, loading: "lazy" })),
        h("figcaption", { class: "muted" }, `input ${name}`)))));
  }

  renderResult(job) {
    if (job.task === "train") {
      const samples = (job.result?.outputs || []).find((o) => o.name === "samples");
      if (samples) this.setSampleUrl(outputUrl(job, "samples"), `final samples, step ${job.result?.data?.steps ?? ""}`);
      this.trainSummary(job);
      return;
    }
    const result = job.result || {};
    const outputs = result.outputs || [];
    const blocks = [];
    const spec = state.tasks.find((t) => t.name === job.task);
    const takesImage = (job.inputs || []).includes("image") && spec?.inputs.some((i) => i.name === "image" && i.kind === "image");
    const main = outputs.find((o) => o.name === "image");
    if (main && takesImage) {
      blocks.push(h("figure", { class: "result-main" }, compareView(api.inputUrl(job.id, "image"), outputUrl(job, "image")),
        h("figcaption", { class: "muted" }, `Result ${main.width}×${main.height} · drag the divider to compare with the input`)));
    }
    for (const o of outputs) {
      if (o === main && takesImage) continue;
      const wide = o.width > 4 * o.height; // a strip (the caption's attention): scrolls sideways
      const img = pixelateSmall(h("img", { src: outputUrl(job, o.name), alt: `${humanize(o.name)} of the ${job.task} job`,
        class: wide ? "strip-img" : `result-img out-${o.name}`, width: o.width, height: o.height }));
      blocks.push(h("figure", { class: `result-main out-${o.name}` },
        wide ? h("div", { class: "strip-scroll", tabindex: "0", role: "region", "aria-label": `${humanize(o.name)}, scrolls sideways` }, img) : img,
        h("figcaption", { class: "muted" }, `${humanize(o.name)} · ${o.width}×${o.height}${wide ? " · scroll sideways" : ""}`)));
    }
    if (job.task === "caption" && result.text) {
      const alts = Array.isArray(result.data?.alternatives) ? result.data.alternatives : [];
      blocks.unshift(h("div", { class: "caption-box" },
        h("p", { class: "caption-text" }, `“${result.text}”`),
        typeof result.data?.score === "number" ? h("p", { class: "muted" }, `score ${figure(result.data.score)} · log-probability ${figure(result.data.log_prob)}`) : null,
        alts.length ? h("details", {}, h("summary", {}, `Other candidates (${alts.length})`),
          h("ol", { class: "alts" }, alts.map((a) => h("li", {}, a.caption, h("span", { class: "muted mono" }, `  ${figure(a.score)}`))))) : null));
    } else if (job.task === "compare") {
      const d = result.data || {};
      const tile = (label, value, unit, hint) => h("div", { class: "score" },
        h("span", { class: "score-label" }, label), h("span", { class: "score-value mono" }, value === undefined ? "–" : figure(value), unit ? h("small", {}, ` ${unit}`) : null),
        h("span", { class: "muted score-hint" }, hint));
      blocks.unshift(h("div", { class: "scores", "aria-label": "Scores" },
        tile("PSNR", d.psnr, "dB", "higher is closer"), tile("SSIM", d.ssim, "", "1 is identical"), tile("MSE", d.mse, "", "0 is identical")));
      blocks.push(h("div", { class: "result-grid" },
        ["image", "reference"].filter((n) => (job.inputs || []).includes(n)).map((n) =>
          h("figure", {}, pixelateSmall(h("img", { src: api.inputUrl(job.id, n), alt: humanize(n) })), h("figcaption", { class: "muted" }, humanize(n))))));
    } else if (result.text) {
      blocks.unshift(h("p", { class: "result-text" }, result.text));
    }
    const scalars = Object.entries(result.data || {}).filter(([k, v]) =>
      ["number", "string", "boolean"].includes(typeof v) && !(job.task === "compare") && !(job.task === "caption"));
    if (scalars.length) {
      blocks.push(h("dl", { class: "data-list" }, scalars.map(([k, v]) => [h("dt", {}, humanize(k)), h("dd", { class: "mono" }, typeof v === "number" ? figure(v) : String(v))])));
    }
    if (!blocks.length) blocks.push(h("p", { class: "muted" }, "The job finished without images."));
    fill(this.body, blocks);
  }

  // ------------------------------------------------ training dashboard
  setupTraining(job) {
    this.run = job.params?.run;
    this.chart = new LossChart();
    this.sampleImg = pixelateSmall(h("img", { class: "sample-img", alt: "Latest sample grid", hidden: true }));
    this.sampleCaption = h("figcaption", { class: "muted" }, "No samples yet");
    this.trainInfo = h("p", { class: "train-info muted" },
      `${job.params.model} on ${job.params.data} · ${job.params.steps} steps${job.params.settings ? ` · ${job.params.settings}` : ""}`);
    this.trainExtra = h("div", { class: "train-extra" });
    fill(this.body, h("div", { class: "train-dash" },
      h("div", { class: "train-chart" }, this.trainInfo, this.chart.root),
      h("figure", { class: "sample-card" }, h("div", { class: "sample-frame" }, this.sampleImg), this.sampleCaption)),
    this.trainExtra);
    if (this.run) {
      const chart = this.chart;
      api.run(this.run).then((run) => {
        if (chart !== this.chart) return;
        chart.addAll(run.log);
        if (run.samples?.length && this.sampleImg.hidden) this.setSample({ run: run.name, file: run.samples[run.samples.length - 1] });
      }).catch(() => { /* the run folder is made when the job starts */ });
    }
  }

  setSample(event) {
    if (!event?.file || !this.sampleImg) return;
    const step = /step-0*(\d+)/.exec(event.file)?.[1];
    this.setSampleUrl(api.sampleUrl(event.run, event.file), step ? `samples at step ${step}` : event.file);
  }

  setSampleUrl(url, caption) {
    if (!this.sampleImg) return;
    this.sampleImg.hidden = false;
    this.sampleImg.src = url;
    this.sampleCaption.textContent = caption;
  }

  trainSummary(job) {
    const run = job.result?.data?.run || this.run;
    const model = job.result?.data?.model || job.params.model;
    fill(this.trainExtra, h("div", { class: "train-done" },
      h("p", {}, `Trained run `, h("strong", { class: "mono" }, run), ` to step ${job.result?.data?.steps ?? job.params.steps}.`),
      SAMPLEABLE.includes(model) ? h("button", { type: "button", class: "btn", onclick: () => sampleFrom(run, model) }, "Sample from this run") : null,
      h("button", { type: "button", class: "btn ghost", onclick: () => continueRun({ name: run, model, data: job.params.data, steps: job.params.steps }) }, "Train it further")));
  }

  // ------------------------------------------------ a run without its job
  async showRun(name) {
    this.close();
    this.job = null;
    let run;
    try { run = await api.run(name); } catch (exc) { showNotice(exc.message); return; }
    this.chart = new LossChart();
    const samples = run.samples || [];
    this.sampleImg = pixelateSmall(h("img", { class: "sample-img", alt: "Sample grid", hidden: true }));
    this.sampleCaption = h("figcaption", { class: "muted" }, samples.length ? "" : "No samples yet");
    const strip = samples.length > 1 ? h("div", { class: "sample-strip", role: "group", "aria-label": "Samples over training" },
      samples.map((file) => h("button", { type: "button", class: "chip", onclick: () => this.setSample({ run: name, file }) }, /step-0*(\d+)/.exec(file)?.[1] || file))) : null;
    fill(this.root,
      h("div", { class: "job-head" }, h("h2", { id: "job-title" }, "Run ", h("span", { class: "job-id mono" }, name)),
        run.exported ? h("span", { class: "badge b-done" }, "model exported") : h("span", { class: "badge b-queued" }, "no model yet")),
      h("p", { class: "job-meta muted" }, `${run.model} on ${run.data} · step ${run.step} of ${run.steps}`),
      h("div", { class: "train-dash" },
        h("div", { class: "train-chart" }, this.chart.root),
        h("figure", { class: "sample-card" }, h("div", { class: "sample-frame" }, this.sampleImg), this.sampleCaption, strip)),
      h("div", { class: "job-actions" },
        run.exported && SAMPLEABLE.includes(run.model) ? h("button", { type: "button", class: "btn", onclick: () => sampleFrom(name, run.model) }, "Sample from this run") : null,
        h("button", { type: "button", class: "btn ghost", onclick: () => continueRun(run) }, "Train it further")));
    this.root.dataset.jobId = "";
    this.root.dataset.status = "";
    this.chart.addAll(run.log);
    if (samples.length) this.setSample({ run: name, file: samples[samples.length - 1] });
    history.replaceState(null, "", `#run=${name}`);
    markCurrent();
    reveal(this.root);
  }
}

function reuse(job) {
  setTask(job.task);
  state.form.write(job.params);
  $("#seed").value = String(job.seed);
  for (const [name, text] of Object.entries(job.texts || {})) {
    if (state.slots[name]?.area) {
      state.slots[name].area.value = text;
      state.texts[name] = text;
    }
  }
  $("#task").focus();
  if (!isVisible($("#job-form"))) $("#job-form").scrollIntoView({ behavior: "smooth" });
}

async function useAsInput(job) {
  try {
    const blob = await getBlob(outputUrl(job, "image"));
    const file = new File([blob], `${job.task}-${job.id}.png`, { type: "image/png" });
    const target = state.task?.inputs.some((i) => i.name === "image" && i.kind === "image") ? state.task.name : "edit";
    if (target !== state.task?.name) setTask(target);
    await state.slots.image.set(file);
    state.slots.image.input.focus();
    if (!isVisible($("#inputs"))) $("#inputs").scrollIntoView({ behavior: "smooth" });
  } catch (exc) {
    showNotice(exc.message);
  }
}

function sampleFrom(run, model) {
  setTask("sample");
  state.form.write({ model: run, n: model === "diffusion" ? 16 : 64 });
  $("#submit").focus();
}

function continueRun(run) {
  setTask("train");
  state.form.write({ model: run.model, data: run.data, run: run.name, steps: (run.steps || 1000) * 2 });
  $("#task").focus();
  if (!isVisible($("#job-form"))) $("#job-form").scrollIntoView({ behavior: "smooth" });
}

// ------------------------------------------------------------------ history
function thumbFor(job) {
  const outputs = job.result?.outputs || [];
  const pick = outputs.find((o) => o.name === "image") || outputs[0];
  const main = outputs.find((o) => o.name === "image");
  if (job.status === "done" && main) return { url: outputUrl(job, main.name), alt: "" };
  if ((job.inputs || []).includes("image")) return { url: api.inputUrl(job.id, "image"), alt: "" };
  if (job.status === "done" && pick) return { url: outputUrl(job, pick.name), alt: "" };
  return null;
}

const cards = new Map(); // job id -> {key, el}
const thumbs = new Map(); // url -> <img>: a card made again keeps its loaded thumbnail

function thumbImage(url) {
  let img = thumbs.get(url);
  if (!img) {
    img = pixelateSmall(h("img", { src: url, alt: "", loading: "lazy", decoding: "async" }));
    thumbs.set(url, img);
    if (thumbs.size > 300) thumbs.delete(thumbs.keys().next().value);
  }
  return img;
}

function jobCard(job) {
  const thumb = thumbFor(job);
  const pct = job.status === "running" && job.progress?.total ? ` ${Math.floor((100 * job.progress.done) / job.progress.total)} %` : "";
  const when = [ago(job.created), job.finished && job.started && job.status === "done" ? duration(job.finished - job.started) : ""].filter(Boolean).join(" · ");
  const open = h("button", {
    type: "button", class: "job-open",
    "aria-label": `${humanize(job.task)} job ${job.id.slice(0, 6)}: ${STATUS_TEXT[job.status] || job.status}${pct}, ${ago(job.created)}`,
    onclick: () => view.show(job),
  },
  h("span", { class: "thumb" }, thumb ? thumbImage(thumb.url)
    : h("span", { class: "thumb-letter", "aria-hidden": "true" }, job.task.slice(0, 2))),
  h("span", { class: "job-line" }, h("span", { class: "job-task" }, humanize(job.task)), badge(job.status, pct)),
  h("span", { class: "job-when muted" }, when || "\u00a0"));
  const links = downloadLinks(job, { compact: true });
  return h("li", { class: "job-card", dataset: { jobId: job.id, status: job.status } }, open,
    links.length ? h("div", { class: "job-links" }, links) : null);
}

function renderJobs() {
  const list = $("#jobs-list");
  const seen = new Set();
  const items = state.jobs.map((job) => {
    seen.add(job.id);
    const key = `${job.version}:${ago(job.created)}`;
    const old = cards.get(job.id);
    if (old && old.key === key) return old.el;
    const el = jobCard(job);
    cards.set(job.id, { key, el });
    return el;
  });
  for (const id of [...cards.keys()]) if (!seen.has(id)) cards.delete(id);
  const current = [...list.children];
  if (current.length !== items.length || current.some((el, i) => el !== items[i])) list.replaceChildren(...items);
  $("#jobs-empty").hidden = state.jobs.length > 0;
  $("#jobs-count").textContent = state.jobs.length ? String(state.jobs.length) : "";
  markCurrent();
}

function markCurrent() {
  const id = view?.job?.id;
  for (const li of $("#jobs-list").children) {
    const open = li.querySelector(".job-open");
    if (li.dataset.jobId === id) open.setAttribute("aria-current", "true"); else open.removeAttribute("aria-current");
  }
}

function upsertJob(job) {
  const i = state.jobs.findIndex((j) => j.id === job.id);
  if (i >= 0) { if (state.jobs[i].version <= job.version) state.jobs[i] = job; }
  else state.jobs.unshift(job);
  renderJobs();
}

function renderRuns() {
  const list = $("#runs-list");
  fill(list, state.runs.length ? state.runs.slice().reverse().map((run) => {
    const last = run.samples?.[run.samples.length - 1];
    return h("li", { class: "run-card", dataset: { run: run.name } },
      h("button", { type: "button", class: "job-open run-open", onclick: () => view.showRun(run.name),
        "aria-label": `Run ${run.name}: ${run.model} on ${run.data}, step ${run.step} of ${run.steps}` },
      h("span", { class: "thumb" }, last ? pixelateSmall(h("img", { src: api.sampleUrl(run.name, last), alt: "", loading: "lazy" }))
        : h("span", { class: "thumb-letter", "aria-hidden": "true" }, run.model?.slice(0, 2) || "?")),
      h("span", { class: "job-line" }, h("span", { class: "job-task mono" }, run.name)),
      h("span", { class: "job-when muted" }, `${run.model} · ${run.data} · ${run.step}/${run.steps}`),
      run.exported ? h("span", { class: "badge b-done" }, "exported") : null));
  }) : h("li", { class: "muted empty-line" }, "No training runs yet: pick the task Train to start one."));
}

async function refreshRuns() {
  try {
    state.runs = await api.runs();
    renderRuns();
  } catch { /* offline: the poll says so */ }
}

function setTab(tab) {
  state.tab = tab;
  for (const t of ["jobs", "runs"]) {
    const button = $(`#tab-${t}`);
    button.setAttribute("aria-selected", String(t === tab));
    button.tabIndex = t === tab ? 0 : -1;
    $(`#panel-${t}`).hidden = t !== tab;
  }
  if (tab === "runs") refreshRuns();
}

// ------------------------------------------------------------------ polling and status
let pollTimer = null;

async function poll() {
  clearTimeout(pollTimer);
  let active = false;
  try {
    const [jobs, health] = await Promise.all([api.jobs(50), api.health()]);
    state.jobs = jobs;
    setOnline(true, health);
    renderJobs();
    const current = view.job && jobs.find((j) => j.id === view.job.id);
    if (current) view.update(current);
    active = jobs.some((j) => !isFinal(j));
    if (active && state.tab === "runs" && jobs.some((j) => j.task === "train" && j.status === "running")) refreshRuns();
  } catch {
    setOnline(false);
    active = true;
  }
  const delay = document.hidden ? 15000 : active ? 2000 : 8000;
  pollTimer = setTimeout(poll, delay);
}

function setOnline(online, health) {
  const pill = $("#server-status");
  pill.classList.toggle("offline", !online);
  if (!online) {
    if (state.online) pill.textContent = "Server unreachable — retrying";
    state.online = false;
    return;
  }
  const q = health?.queue || {};
  const parts = [`${health.workers} worker${health.workers === 1 ? "" : "s"}`];
  if (q.running) parts.push(`${q.running} running`);
  if (q.queued) parts.push(`${q.queued} queued`);
  const text = parts.join(" · ");
  if (pill.textContent !== text) pill.textContent = text; // a live region: no repeats
  pill.title = `atelier ${health.version}`;
  if (!state.online) showNotice(health.recovered ? `Reconnected. The server restarted and took back ${health.recovered} unfinished job${health.recovered === 1 ? "" : "s"}.` : "Reconnected to the server.");
  state.online = true;
}

let noticeTimer = null;
function showNotice(message) {
  const box = $("#notice");
  box.textContent = message;
  box.hidden = !message;
  clearTimeout(noticeTimer);
  if (message) noticeTimer = setTimeout(() => { box.hidden = true; }, 8000);
}

// ------------------------------------------------------------------ start
let view;

async function boot() {
  // opened as /?token=...: the server has set its cookie; keep the token out of the address bar
  const query = new URLSearchParams(location.search);
  if (query.has("token")) {
    query.delete("token");
    const rest = query.toString();
    history.replaceState(null, "", `${location.pathname}${rest ? `?${rest}` : ""}${location.hash}`);
  }
  view = new JobView($("#job"));
  window.addEventListener("hashchange", () => {
    const hash = new URLSearchParams(location.hash.slice(1));
    if (hash.get("job") && hash.get("job") !== view.job?.id) view.open(hash.get("job"));
    else if (hash.get("run")) view.showRun(hash.get("run"));
    else if (hash.get("task") && hash.get("task") !== state.task?.name) setTask(hash.get("task"));
  });
  $("#job-form").addEventListener("submit", submit);
  $("#task").addEventListener("change", (e) => setTask(e.target.value));
  $("#seed-dice").addEventListener("click", () => { $("#seed").value = String(Math.floor(Math.random() * 2 ** 31)); });
  $("#seed-clear").addEventListener("click", () => { $("#seed").value = ""; $("#seed").focus(); });
  $("#refresh").addEventListener("click", () => { poll(); if (state.tab === "runs") refreshRuns(); });
  for (const t of ["jobs", "runs"]) $(`#tab-${t}`).addEventListener("click", () => setTab(t));
  $("#tabs").addEventListener("keydown", (e) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const next = state.tab === "jobs" ? "runs" : "jobs";
    setTab(next);
    $(`#tab-${next}`).focus();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); $("#job-form").requestSubmit(); }
  });
  document.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (!file) return;
    const slots = Object.values(state.slots).filter((s) => s instanceof ImageSlot);
    const slot = slots.find((s) => !s.entry) || slots[0];
    if (!slot) return;
    e.preventDefault();
    slot.set(file);
  });
  // dropping an image anywhere on the page (not on a drop zone) must not navigate away from it
  for (const kind of ["dragover", "drop"]) window.addEventListener(kind, (e) => { if (!e.defaultPrevented) e.preventDefault(); });

  await load();
}

async function load() {
  try {
    state.tasks = await api.tasks();
  } catch (exc) {
    showError(`Cannot load the tasks: ${exc.message}`);
    setOnline(false);
    setTimeout(load, 3000);
    return;
  }
  showError("");
  const [ops, models, datasets, runs] = await Promise.allSettled([api.ops(), api.models(), api.datasets(), api.runs()]);
  state.ops = ops.value || [];
  state.models = models.value || [];
  state.datasets = datasets.value || [];
  state.runs = runs.value || [];
  renderTaskOptions();
  renderRuns();
  const hash = new URLSearchParams(location.hash.slice(1));
  let stored = null;
  try { stored = localStorage.getItem("atelier.task"); } catch { /* private mode */ }
  setTask(hash.get("task") || stored || "edit");
  document.body.classList.add("ready");
  await poll();
  if (hash.get("job")) view.open(hash.get("job"));
  else if (hash.get("run")) view.showRun(hash.get("run"));
}

boot();
