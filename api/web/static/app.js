// The page's only script: submit a job, follow it, list recent jobs. No build step, no library.
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const KEY_STORAGE = "nst.apiKey";
// The style-strength slider moves in tenths of a power of ten (log scale); its ends and its
// starting point are the style_strength field's range and default from /v1/meta.
const STRENGTH_WORDS = [[0.05, "very light"], [0.3, "light"], [3, "balanced"], [20, "strong"]];
// What the server says about itself (GET /v1/meta): limits, parameters, statuses and the
// headline of every error code. Nothing here copies what the server defines.
let META = { errors: {}, statuses: { final: [] }, params: [] };
let FINAL = new Set(META.statuses.final);
const STATUS_TEXT = {
  queued: "Waiting for a free worker…",
  running: "Painting…",
  succeeded: "Done.",
  failed: "Failed.",
  cancelled: "Cancelled.",
};

class ApiError extends Error {
  constructor(code, message, field = null, retryAfter = null) {
    super(message);
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

function authHeaders() {
  const key = localStorage.getItem(KEY_STORAGE);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...authHeaders(), ...options.headers } });
  } catch {
    throw new ApiError("service_unreachable", "check your connection and try again.");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const error = (body && body.error) || {};
    throw new ApiError(
      error.code || "unknown",
      error.message || `the service answered with HTTP status ${response.status}.`,
      error.field || null,
      response.headers.get("Retry-After"),
    );
  }
  return body;
}

function describe(error) {
  const headline = META.errors[error.code] || "Something went wrong";
  let text = `${headline}: ${error.message || ""}`.trim();
  if (!/[.!?]$/.test(text)) text += ".";
  if (error.retryAfter) text += ` Try again in ${error.retryAfter} seconds.`;
  return text;
}

function showError(element, error) {
  element.textContent = error ? describe(error) : "";
  element.hidden = !error;
}

function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

// --- images: API routes need the key (fetch + blob URL); presigned links are used as they are.

const blobUrls = new Map();

function sameOrigin(url) {
  return new URL(url, location.href).origin === location.origin;
}

async function imageSource(url) {
  if (!sameOrigin(url)) return url;
  const response = await fetch(url, { headers: authHeaders(), cache: "no-store" });
  if (!response.ok) throw new ApiError("storage_unavailable", "the image could not be loaded.");
  return URL.createObjectURL(await response.blob());
}

async function setImage(img, url) {
  const source = await imageSource(url);
  await new Promise((resolve) => {
    img.onload = img.onerror = resolve;
    img.src = source;
  });
  const old = blobUrls.get(img);
  if (old && old !== source) URL.revokeObjectURL(old);
  if (source.startsWith("blob:")) blobUrls.set(img, source);
}

async function offerDownload(link, url, jobId) {
  link.removeAttribute("target");
  link.download = `nst-${jobId}.png`;
  try {
    const response = await fetch(url, { headers: sameOrigin(url) ? authHeaders() : {} });
    if (!response.ok) throw new Error(String(response.status));
    link.href = URL.createObjectURL(await response.blob());
  } catch {
    link.href = url; // a storage link without CORS: open it instead of saving in place
    link.target = "_blank";
  }
  link.hidden = false;
}

// --- the job being followed

let followed = null;

function follow(jobId) {
  if (followed) clearTimeout(followed.timer);
  followed = { id: jobId, timer: null, previewIteration: -1, status: null, done: false };
  for (const id of ["preview-box", "result-box", "download", "job-error"]) $(id).hidden = true;
  $("job-progress").value = 0;
  $("job-iteration").textContent = "";
  $("job").hidden = false;
  poll(followed);
}

async function poll(state) {
  if (state !== followed) return;
  try {
    const job = await api(`/v1/jobs/${state.id}`);
    if (state !== followed) return;
    await render(job, state);
    if (FINAL.has(job.status)) return;
  } catch (error) {
    showError($("job-error"), error);
    if (error.code === "job_not_found" || error.code === "unauthorized") return;
  }
  state.timer = setTimeout(() => poll(state), POLL_MS);
}

async function render(job, state) {
  const cancelling = job.cancel_requested && !FINAL.has(job.status);
  $("job-status").textContent = cancelling ? "Stopping at the next checkpoint…" : STATUS_TEXT[job.status];
  renderProgress(job);
  showError($("job-error"), job.error);
  $("cancel").hidden = FINAL.has(job.status) || cancelling;
  if (job.status !== state.status) {
    state.status = job.status;
    refreshList();
  }
  const iteration = job.progress ? job.progress.iteration : -1;
  if (job.preview_url && job.status !== "succeeded" && iteration !== state.previewIteration) {
    state.previewIteration = iteration;
    await setImage($("preview"), job.preview_url);
    $("preview-box").hidden = false;
  }
  if (job.status === "succeeded" && !state.done) {
    state.done = true;
    await setImage($("result"), job.result_url);
    $("preview-box").hidden = true;
    $("result-box").hidden = false;
    await offerDownload($("download"), job.result_url, job.id);
  }
}

function renderProgress(job) {
  const bar = $("job-progress");
  const progress = job.progress;
  if (!progress) {
    $("job-iteration").textContent = job.status === "queued" ? "Not started yet." : "";
    return;
  }
  bar.max = progress.total;
  bar.value = progress.iteration;
  let text = `Iteration ${progress.iteration} / ${progress.total}`;
  if (!FINAL.has(job.status) && progress.eta_seconds != null) {
    text += ` · about ${duration(progress.eta_seconds)} left`;
  }
  $("job-iteration").textContent = text;
}

async function cancelJob(jobId) {
  try {
    await api(`/v1/jobs/${jobId}`, { method: "DELETE" });
    showError($("list-error"), null);
  } catch (error) {
    showError($("list-error"), error);
  }
  refreshList();
  if (followed && followed.id === jobId) poll(followed);
}

// --- recent jobs

async function refreshList() {
  try {
    const body = await api("/v1/jobs?limit=10");
    const items = body.jobs.map(jobItem);
    if (!items.length) items.push(Object.assign(document.createElement("li"), { textContent: "No jobs yet." }));
    $("jobs").replaceChildren(...items);
    showError($("list-error"), null);
  } catch (error) {
    showError($("list-error"), error);
  }
}

function jobItem(job) {
  const item = document.createElement("li");
  item.dataset.jobId = job.id;
  const badge = document.createElement("span");
  badge.className = `badge ${job.status}`;
  badge.textContent = job.status;
  const when = document.createElement("span");
  when.className = "when";
  const created = new Date(job.created_at).toLocaleString();
  const percent = job.progress && !FINAL.has(job.status) ? ` · ${Math.round(job.progress.percent)}%` : "";
  when.textContent = `${created} · ${job.params.size} px · ${job.params.iterations} iterations${percent}`;
  const show = button("Show", `Show job from ${created}`, () => follow(job.id));
  item.append(badge, when, show);
  if (!FINAL.has(job.status)) {
    item.append(button("Cancel", `Cancel job from ${created}`, () => cancelJob(job.id)));
  }
  return item;
}

function button(text, label, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.setAttribute("aria-label", label);
  element.addEventListener("click", onClick);
  return element;
}

// --- the form

function showThumbnails(input, box) {
  box.replaceChildren(
    ...[...input.files].map((file) => {
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = `Chosen image ${file.name}`;
      return img;
    }),
  );
}

function strengthValue() {
  return Number((10 ** Number($("strength").value)).toPrecision(2));
}

function showStrength() {
  const value = strengthValue();
  const word = (STRENGTH_WORDS.find(([below]) => value < below) || [0, "very strong"])[1];
  $("strength-text").textContent = `${value} (${word})`;
  $("strength").setAttribute("aria-valuetext", `${value}, ${word}`);
}

function setUpStrength(spec) {
  const slider = $("strength");
  slider.min = String(Math.log10(spec.minimum));
  slider.max = String(Math.log10(spec.maximum));
  slider.step = "0.1";
  slider.value = String(Math.log10(spec.default));
  showStrength();
}

function jobForm() {
  const form = new FormData();
  form.append("content", $("content").files[0]);
  for (const file of $("style").files) form.append("style", file);
  for (const name of ["size", "iterations", "preserve_color"]) form.append(name, $(name).value);
  form.append("style_strength", String(strengthValue()));
  return form;
}

async function submitJob(event) {
  event.preventDefault();
  const submit = $("submit");
  submit.disabled = true;
  showError($("form-error"), null);
  try {
    const job = await api("/v1/jobs", { method: "POST", body: jobForm() });
    follow(job.id);
    refreshList();
  } catch (error) {
    showError($("form-error"), error);
    const field = error.field && $(error.field);
    if (field) field.focus();
  } finally {
    submit.disabled = false;
  }
}

function saveKey(event) {
  event.preventDefault();
  localStorage.setItem(KEY_STORAGE, $("api-key").value.trim());
  $("key-note").textContent = "Key saved in this browser.";
  refreshList();
}

async function loadMeta() {
  try {
    META = await api("/v1/meta");
  } catch (error) {
    showError($("form-error"), error);
    return;
  }
  FINAL = new Set(META.statuses.final);
  for (const spec of META.params) {
    if (spec.name === "style_strength") setUpStrength(spec);
    const input = document.querySelector(`#job-form input[name="${spec.name}"]`);
    if (!input) continue;
    if (spec.minimum != null) input.min = String(spec.minimum);
    if (spec.maximum != null) input.max = String(spec.maximum);
    if (spec.default != null) input.value = String(spec.default);
  }
}

async function start() {
  $("api-key").value = localStorage.getItem(KEY_STORAGE) || "";
  $("key-form").addEventListener("submit", saveKey);
  $("job-form").addEventListener("submit", submitJob);
  $("content").addEventListener("change", () => showThumbnails($("content"), $("content-previews")));
  $("style").addEventListener("change", () => showThumbnails($("style"), $("style-previews")));
  $("strength").addEventListener("input", showStrength);
  $("cancel").addEventListener("click", () => followed && cancelJob(followed.id));
  $("refresh").addEventListener("click", refreshList);
  showStrength();
  await loadMeta();
  refreshList();
}

start();
