// catvnoncat's page: plain JS, no build step, no library. Every request goes to this
// service; every error shown is the API's own message, next to the control that caused it.
"use strict";

const TOKEN_KEY = "catvnoncat.token";
const EXPLAIN_CHUNK = 8; // images per explained request (the service's limit is CATSVC_MAX_EXPLAIN_BATCH)
let explainChunk = EXPLAIN_CHUNK; // lowered to the service's limit when a 413 names a smaller one
const PRESETS = {
  quick: { recipe: "course", layer_dims: [12288, 7, 1], iterations: 300 },
  course: { recipe: "course" },
  photos: { recipe: "photos" },
};
const $ = (id) => document.getElementById(id);
let auth = { admin: "open", predict: "open" };

// ---------------------------------------------------------------- the API
class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.body = body;
  }
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

async function api(method, path, { json, form } = {}) {
  const headers = {};
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser writes the multipart boundary
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, credentials: "omit", cache: "no-store" });
  } catch (e) {
    throw new ApiError(0, { error: "the service cannot be reached; is it running?", code: "NETWORK" });
  }
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function showError(el, err) {
  if (!err) { el.textContent = ""; return; }
  let text = err.message;
  if (err.code) text += ` (${err.code})`;
  if (err.status === 401 || err.status === 403) text += " — see Tokens above.";
  el.textContent = text;
}

// a 422 that names a field of ``form``: its message beside that field, marked invalid and focused
function showFieldError(form, err) {
  const field = err.body && err.body.field;
  const el = typeof field === "string" ? form.querySelector(`[name="${CSS.escape(field)}"]`) : null;
  if (!el || !el.id) return false;
  const details = el.closest("details");
  if (details) details.open = true;
  const msg = make("span", { class: "error field-error", id: `${el.id}-error`, role: "alert" });
  showError(msg, err);
  el.after(msg);
  el.setAttribute("aria-invalid", "true");
  el.setAttribute("data-describedby", el.getAttribute("aria-describedby") || "");
  el.setAttribute("aria-describedby", msg.id);
  el.focus();
  return true;
}

function clearFieldErrors(form) {
  for (const msg of form.querySelectorAll(".field-error")) msg.remove();
  for (const el of form.querySelectorAll("[aria-invalid]")) {
    el.removeAttribute("aria-invalid");
    const before = el.getAttribute("data-describedby");
    if (before) el.setAttribute("aria-describedby", before); else el.removeAttribute("aria-describedby");
    el.removeAttribute("data-describedby");
  }
}

function make(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "for") el.setAttribute(k, v);
    else el[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

const pct = (p) => `${(100 * p).toFixed(1)}%`;

// ---------------------------------------------------------------- tokens
async function loadAuth() {
  try {
    auth = await api("GET", "/auth");
  } catch (e) {
    $("auth-status").textContent = `Cannot tell which tokens are needed: ${e.message}`;
    return;
  }
  const parts = [];
  if (auth.predict === "token") parts.push("Predict and Compare need the predict token (or the admin token)");
  else parts.push("Predict and Compare need no token");
  if (auth.admin === "token") parts.push("training, cancelling, uploading a data set and activating a version need the admin token");
  else if (auth.admin === "disabled") parts.push("training, uploading and activating are switched off on this service (no admin token is set; see the README, Tokens)");
  else parts.push("training, uploading and activating need no token here (the service listens on loopback only)");
  $("auth-status").textContent = parts.join("; ") + ".";
  if ((auth.predict === "token" || auth.admin === "token") && !token()) {
    $("token-state").textContent = "This service asks for a token: enter one above.";
  }
}

function renderTokenState() {
  $("token-state").textContent = token() ? "A token is set for this tab." : "No token is set.";
}

function setupTokens() {
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("token").value.trim();
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    $("token").value = "";
    renderTokenState();
  });
  $("token-forget").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    renderTokenState();
  });
  renderTokenState();
}

// ---------------------------------------------------------------- predict
function overlay(canvas, saliencyPng) {
  // the grey heat map as red with its value as opacity, drawn over the 64x64 picture
  const img = new Image();
  img.onload = () => {
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, 64, 64);
    const px = data.data;
    for (let i = 0; i < px.length; i += 4) {
      const v = px[i];
      // squared: the few pixels that matter most stand out, the many that barely do fade
      px[i] = 255; px[i + 1] = 32; px[i + 2] = 0; px[i + 3] = Math.round((v * v) / 255 * 0.9);
    }
    ctx.putImageData(data, 0, 0);
  };
  img.src = `data:image/png;base64,${saliencyPng}`;
}

function resultCard(p, version, synthetic) {
  const canvas = make("canvas", { width: 64, height: 64, "aria-hidden": "true" });
  overlay(canvas, p.saliency_png);
  const pictures = make("div", { class: "pictures" },
    make("img", { src: `data:image/png;base64,${p.image_png}`, alt: `the 64x64 picture the model saw of ${p.filename || "the image"}`, width: 64, height: 64 }),
    canvas);
  const bar = make("div", { class: "bar", "aria-hidden": "true" }, make("span"));
  bar.firstChild.style.width = pct(p.probability);
  const li = make("li", { class: "result", "data-label": p.label, "data-version": String(version) },
    pictures,
    make("p", { class: "label", text: p.label === "cat" ? "Cat" : "Not a cat" }),
    make("p", { class: "name", text: p.filename || "" }),
    make("p", { class: "probability", text: `P(cat) ${pct(p.probability)}` }),
    bar,
    make("p", { class: "help version", text: `answered by version ${version}${synthetic ? " (trained on synthetic drawings)" : ""}` }));
  if (!$("show-saliency").checked) li.classList.add("plain");
  return li;
}

async function predictFiles(files) {
  const list = Array.from(files).filter((f) => f.size > 0 || f.name);
  if (!list.length) return;
  showError($("predict-error"), null);
  $("results").replaceChildren();
  for (let i = 0; i < list.length;) {
    const batch = list.slice(i, i + explainChunk);
    const form = new FormData();
    for (const f of batch) form.append("file", f, f.name || "photo");
    try {
      const answer = await api("POST", "/predict?explain=true", { form });
      for (const p of answer.predictions) $("results").append(resultCard(p, answer.version, answer.synthetic));
      i += batch.length;
    } catch (e) {
      // a service whose CATSVC_MAX_EXPLAIN_BATCH is below ours: its 413 names the limit; send fewer
      const limit = e.body && e.body.limit;
      if (e.code === "BATCH_TOO_LARGE" && Number.isInteger(limit) && limit >= 1 && limit < batch.length) {
        explainChunk = limit;
        continue;
      }
      showError($("predict-error"), e);
      return;
    }
  }
}

function setupPredict() {
  const drop = $("drop");
  for (const id of ["photos", "camera"]) {
    $(id).addEventListener("change", (ev) => { predictFiles(ev.target.files); ev.target.value = ""; });
  }
  drop.addEventListener("click", () => $("photos").click());
  drop.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); $("photos").click(); }
  });
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    predictFiles(ev.dataTransfer.files);
  });
  $("show-saliency").addEventListener("change", (ev) => {
    for (const li of document.querySelectorAll(".result")) li.classList.toggle("plain", !ev.target.checked);
  });
}

// ---------------------------------------------------------------- data sets
async function loadDatasets(select) {
  let listing;
  try {
    listing = await api("GET", "/datasets");
  } catch (e) {
    showError($("train-error"), e);
    return;
  }
  for (const el of [$("dataset"), $("compare-dataset")]) {
    const keep = select || el.value || listing.default;
    el.replaceChildren(...listing.datasets.map((d) => make("option", {
      value: d.id, text: `${d.id} (${d.kind}, ${d.m} images, ${d.cats} cats${d.dev ? `, dev: ${d.dev}` : ""})`,
    })));
    if (listing.datasets.some((d) => d.id === keep)) el.value = keep;
  }
  $("dataset-help").textContent = `${listing.datasets.length} data sets; the default is ${listing.default}.`;
}

async function uploadDataset() {
  const file = $("upload").files[0];
  showError($("upload-error"), null);
  if (!file) { $("upload-error").textContent = "Choose a file to upload first."; return; }
  const form = new FormData();
  form.append("file", file, file.name);
  try {
    const info = await api("POST", "/datasets", { form });
    await loadDatasets(info.id);
    $("dataset-help").textContent = `Uploaded: ${info.id}, ${info.m} images, ${info.cats} cats.`;
  } catch (e) {
    showError($("upload-error"), e);
  }
}

// ---------------------------------------------------------------- train
const SVGNS = "http://www.w3.org/2000/svg";
let points = [];
let source = null;
let currentJob = null;

function svg(tag, attrs, text) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function drawCurve() {
  const box = $("curve");
  const [W, H, L, R, T, B] = [480, 240, 52, 12, 14, 30];
  box.replaceChildren(svg("title", { id: "curve-title" }, `cost curve: ${points.length} points`));
  box.setAttribute("data-points", String(points.length));
  box.append(svg("path", { class: "axis", d: `M${L} ${T}V${H - B}H${W - R}` }));
  if (!points.length) return;
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const sx = (x) => L + ((x - x0) / (x1 - x0 || 1)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / (y1 - y0 || 1)) * (H - T - B);
  box.append(svg("polyline", { points: points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ") }));
  box.append(svg("text", { x: L - 4, y: T + 10, "text-anchor": "end" }, y1.toPrecision(3)));
  box.append(svg("text", { x: L - 4, y: H - B, "text-anchor": "end" }, y0.toPrecision(3)));
  box.append(svg("text", { x: L, y: H - 10 }, String(x0)));
  box.append(svg("text", { x: W - R, y: H - 10, "text-anchor": "end" }, String(x1)));
}

function eta(seconds) {
  if (seconds === null || seconds === undefined) return "ETA: estimating";
  if (seconds < 60) return `ETA ${seconds.toFixed(0)} s`;
  return `ETA ${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

function trainingFields() {
  const fields = { ...PRESETS[$("recipe").value] };
  for (const el of document.querySelectorAll("#advanced [name]")) {
    const v = el.value.trim();
    if (!v) continue;
    if (el.name === "layer_dims") fields.layer_dims = v.split(",").map((n) => Number(n.trim()));
    else if (el.name === "architecture") {
      try { fields.architecture = JSON.parse(v); } catch (e) { throw new ApiError(0, { error: "architecture: not valid JSON", code: "INVALID_CONFIG", field: "architecture" }); }
    }
    else if (el.type === "number") fields[el.name] = Number(v);
    else fields[el.name] = v;
  }
  if (fields.epochs !== undefined && !document.querySelector("#advanced [name=iterations]").value) delete fields.iterations;
  fields.dataset = $("dataset").value;
  fields.activate = $("activate").checked;
  return fields;
}

function showProgress(d) {
  $("job-progress").value = d.percent;
  $("job-status").textContent = `Job ${currentJob}: ${d.status}, ${d.unit} ${d.iteration} of ${d.total} (${d.percent.toFixed(1)}%)` +
    (d.status === "running" ? `, ${eta(d.eta_seconds)}` : "") + (d.cost !== null ? `, cost ${d.cost.toFixed(4)}` : "");
}

function finish(job) {
  if (source) { source.close(); source = null; }
  $("cancel").disabled = true;
  $("start").disabled = false;
  points = job.costs.slice();
  drawCurve();
  $("job-progress").value = job.status === "succeeded" ? 100 : $("job-progress").value;
  const m = job.metrics || {};
  const acc = (v) => (v === null || v === undefined ? "n/a" : pct(v));
  let text = `Job ${job.id} ${job.status}`;
  if (job.status === "succeeded") {
    text += `: version ${job.model_version}, train accuracy ${acc(m.train_accuracy)}, dev accuracy ${acc(m.dev_accuracy)}.`;
  } else if (job.message) {
    text += `: ${job.message}`;
  }
  $("job-result").textContent = text;
  $("job").setAttribute("data-status", job.status);
  loadVersions();
}

function watch(jobId) {
  currentJob = jobId;
  points = [];
  drawCurve();
  $("job").hidden = false;
  $("job").setAttribute("data-status", "queued");
  $("job-result").textContent = "";
  source = new EventSource(`/train/${encodeURIComponent(jobId)}/events`);
  // every stream, a reconnected one too, starts again from the first point
  source.addEventListener("open", () => { points = []; });
  source.addEventListener("progress", (ev) => {
    const d = JSON.parse(ev.data);
    points.push(...d.costs);
    drawCurve();
    showProgress(d);
    $("job").setAttribute("data-status", d.status);
  });
  source.addEventListener("end", (ev) => finish(JSON.parse(ev.data)));
  source.onerror = () => {
    // the stream closes after its end event; otherwise EventSource reconnects by itself,
    // and a refused stream (503) falls back to polling the job
    if (source && source.readyState === EventSource.CLOSED) { source = null; poll(jobId); }
  };
}

async function poll(jobId) {
  while (currentJob === jobId) {
    try {
      const job = await api("GET", `/train/${encodeURIComponent(jobId)}`);
      points = job.costs.slice();
      drawCurve();
      showProgress({ ...job.progress, status: job.status });
      if (["succeeded", "failed", "cancelled"].includes(job.status)) { finish(job); return; }
    } catch (e) {
      showError($("train-error"), e);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

function setupTrain() {
  $("upload-button").addEventListener("click", uploadDataset);
  $("train-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError($("train-error"), null);
    clearFieldErrors($("train-form"));
    $("start").disabled = true;
    try {
      const fields = trainingFields();
      if (fields.architecture) delete fields.layer_dims; // the net of layers sets its own
      const job = await api("POST", "/train", { json: fields });
      $("cancel").disabled = false;
      watch(job.id);
    } catch (e) {
      $("start").disabled = false;
      if (!showFieldError($("train-form"), e)) showError($("train-error"), e);
    }
  });
  $("cancel").addEventListener("click", async () => {
    if (!currentJob) return;
    try {
      await api("DELETE", `/train/${encodeURIComponent(currentJob)}`);
    } catch (e) {
      showError($("train-error"), e);
    }
  });
}

// ---------------------------------------------------------------- versions
function metricsText(m) {
  if (!m) return "";
  const parts = [];
  if (typeof m.train_accuracy === "number") parts.push(`train ${pct(m.train_accuracy)}`);
  if (typeof m.dev_accuracy === "number") parts.push(`dev ${pct(m.dev_accuracy)}`);
  return parts.join(", ");
}

async function activate(version, button) {
  showError($("versions-error"), null);
  try {
    await api("POST", `/models/${version}/activate`);
    await loadVersions();
  } catch (e) {
    showError($("versions-error"), e);
    button.focus();
  }
}

async function loadVersions() {
  let listing;
  try {
    listing = await api("GET", "/models");
  } catch (e) {
    showError($("versions-error"), e);
    return;
  }
  const rows = listing.models.map((m) => {
    const name = m.dataset && typeof m.dataset === "object" ? (m.dataset.name || m.dataset.id || "") : "";
    const activeCell = m.active
      ? make("td", {}, make("span", { class: "active-mark", text: "active" }))
      : make("td", {}, make("button", { type: "button", class: "activate", text: `Activate ${m.version}`,
          "aria-label": `Activate version ${m.version} (admin)`, onclick: (ev) => activate(m.version, ev.target) }));
    const tr = make("tr", { class: m.active ? "is-active" : "", "data-version": String(m.version) },
      make("td", {}, make("input", { type: "checkbox", class: "pick", value: String(m.version),
        "aria-label": `Compare version ${m.version}`, disabled: !!m.unreadable })),
      make("th", { scope: "row", text: String(m.version) }),
      make("td", { text: m.unreadable ? `unreadable: ${m.reason}` : name }),
      make("td", { text: m.recipe || (m.source && m.source.kind === "upload" ? "uploaded" : "") }),
      make("td", { text: metricsText(m.metrics) }),
      make("td", {}, m.unreadable ? null : make("img", { src: `/models/${m.version}/cost.svg`, alt: `cost curve of version ${m.version}`, loading: "lazy", width: 120, height: 68 })),
      activeCell);
    return tr;
  });
  document.querySelector("#versions-table tbody").replaceChildren(...rows);
}

function comparisonTable(r) {
  const c = r.confusion;
  const row = (k, v) => make("tr", {}, make("th", { scope: "row", text: k }), make("td", { text: v }));
  return make("table", { "data-version": String(r.version) },
    make("caption", { text: `Version ${r.version} on ${r.dataset} (${r.m} images)` }),
    make("tbody", {},
      row("accuracy", pct(r.accuracy)), row("precision", pct(r.precision)), row("recall", pct(r.recall)),
      row("F1", r.f1.toFixed(3)),
      row("cats called cats (tp)", String(c.tp)), row("non-cats called cats (fp)", String(c.fp)),
      row("cats called non-cats (fn)", String(c.fn)), row("non-cats called non-cats (tn)", String(c.tn))));
}

function setupVersions() {
  $("compare-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError($("compare-error"), null);
    const picked = Array.from(document.querySelectorAll(".pick:checked")).map((el) => Number(el.value)).sort((a, b) => a - b);
    if (picked.length !== 2) {
      $("compare-error").textContent = `Tick exactly two versions to compare (${picked.length} ticked).`;
      return;
    }
    const dataset = $("compare-dataset").value;
    try {
      const results = await Promise.all(picked.map((v) => api("POST", `/models/${v}/evaluate`, { json: { dataset } })));
      $("comparison").replaceChildren(make("div", { class: "comparison" }, ...results.map(comparisonTable)));
    } catch (e) {
      showError($("compare-error"), e);
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setupTokens();
  setupPredict();
  setupTrain();
  setupVersions();
  loadAuth();
  loadDatasets();
  loadVersions();
});
