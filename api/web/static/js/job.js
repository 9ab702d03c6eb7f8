// The job being followed: status, queue position, progress and checkpoints, then the result
// large in its frame with a before/after compare across the whole picture and a full-size view.
// Live from the event stream; polling if it cannot stream. The followed job is kept in the URL
// (#job=<id>) and in this browser, so a reload or a shared link shows it again.
"use strict";

import { FINAL, api, describe, downloadLink, followEvents, setImage } from "./api.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const FOLLOWED_STORAGE = "nst.followedJob";
const STATUS_TEXT = {
  queued: "Waiting for a free worker…",
  running: "Painting…",
  succeeded: "Done.",
  failed: "Failed.",
  cancelled: "Cancelled.",
};

let followed = null;
let onStatusChange = () => {};
let onJobChange = () => {};

/** ``statusChanged`` runs when the followed job's status changes; ``changed`` on every change. */
export function whenJobChanges(statusChanged, changed) {
  onStatusChange = statusChanged;
  onJobChange = changed;
}

export function showError(element, error) {
  element.textContent = error ? describe(error) : "";
  element.hidden = !error;
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

/** The job named in the URL, else the one this browser followed last. */
export function rememberedJob() {
  const match = /(?:^#|&)job=([0-9a-f-]{36})/.exec(location.hash);
  return match ? match[1] : localStorage.getItem(FOLLOWED_STORAGE);
}

function remember(jobId) {
  if (jobId) localStorage.setItem(FOLLOWED_STORAGE, jobId);
  else localStorage.removeItem(FOLLOWED_STORAGE);
  history.replaceState(null, "", jobId ? `#job=${jobId}` : location.pathname + location.search);
}

export async function follow(jobId, { focus = false } = {}) {
  if (followed) followed.controller.abort();
  const state = { id: jobId, job: null, previewIteration: -1, done: false,
                  controller: new AbortController() };  // prettier-ignore
  followed = state;
  remember(jobId);
  for (const id of ["preview-box", "result-box", "download", "full-size", "job-error"]) $(id).hidden = true;
  $("job-progress").value = 0;
  $("job-iteration").textContent = "";
  $("job-status").textContent = "";
  $("job").hidden = false;
  if (focus) $("job").focus({ preventScroll: true });
  try {
    await render(await api(`/v1/jobs/${jobId}`), state);
    if (focus && state === followed) $("job").scrollIntoView({ block: "start" }); // laid out now
    if (!FINAL.has(state.job.status)) await stream(state);
  } catch (error) {
    if (state !== followed) return;
    if (error.code === "job_not_found" && !focus) return forget(); // a remembered job expired
    showError($("job-error"), error);
  }
}

function forget() {
  followed = null;
  remember(null);
  $("job").hidden = true;
  document.title = document.title.replace(/^\(.*?\) /, "");
}

async function stream(state) {
  try {
    await followEvents(state.id, (name, data) => applyEvent(state, name, data),
                       state.controller.signal);  // prettier-ignore
  } catch (error) {
    if (state.controller.signal.aborted || state !== followed) return;
  }
  if (state === followed && !FINAL.has(state.job.status)) poll(state);
}

function applyEvent(state, name, data) {
  if (state !== followed) return true;
  const job = { ...state.job };
  if (name === "status") Object.assign(job, data);
  else if (name === "progress") job.progress = data;
  else if (name === "preview") job.preview_url = data.url;
  else if (FINAL.has(name)) Object.assign(job, data);
  render(job, state);
  return FINAL.has(job.status);
}

async function poll(state) {
  while (state === followed && !FINAL.has(state.job.status)) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    try {
      await render(await api(`/v1/jobs/${state.id}`), state);
    } catch (error) {
      showError($("job-error"), error);
      if (error.code === "job_not_found" || error.code === "unauthorized") return;
    }
  }
}

async function render(job, state) {
  if (state !== followed) return;
  const statusChanged = !state.job || state.job.status !== job.status;
  state.job = job;
  const cancelling = job.cancel_requested && !FINAL.has(job.status);
  $("job-status").textContent = cancelling ? "Stopping at the next checkpoint…" : STATUS_TEXT[job.status];
  $("job-iteration").textContent = progressText(job);
  renderBar(job);
  showError($("job-error"), job.error);
  $("cancel").hidden = FINAL.has(job.status) || cancelling;
  if (statusChanged) onStatusChange(job);
  onJobChange(job);
  showInTitle(job);
  const iteration = job.progress ? job.progress.iteration : -1;
  if (job.preview_url && job.status !== "succeeded" && iteration !== state.previewIteration) {
    state.previewIteration = iteration;
    await setImage($("preview"), job.preview_url);
    if (state === followed && !state.done) $("preview-box").hidden = false;
  }
  if (job.status === "succeeded" && !state.done) {
    state.done = true;
    await showResult(job);
  }
}

/** The tab's title says how the picture is coming along, for whoever is in another tab. */
function showInTitle(job) {
  const name = document.title.replace(/^\(.*?\) /, "");
  const progress = job.progress;
  let state = job.status;
  if (job.status === "running" && progress) state = `${Math.round(progress.percent)}%`;
  if (job.status === "succeeded") state = "done";
  document.title = `(${state}) ${name}`;
}

/** One line for where the job is: its place in the queue, or its iterations; never both. */
function progressText(job) {
  const progress = job.progress;
  if (job.status === "queued" && !job.cancel_requested) {
    const place = job.queue_position ? ` Number ${job.queue_position} in the queue.` : "";
    return `Not started yet.${place}`;
  }
  if (!progress || (job.status === "cancelled" && !progress.iteration)) return "";
  let text = `Iteration ${progress.iteration} / ${progress.total}`;
  if (!FINAL.has(job.status) && progress.eta_seconds != null) {
    text += ` · about ${duration(progress.eta_seconds)} left`;
  }
  if (progress.stopped_early) text += ` · stopped early, ${progress.iterations_saved} saved`;
  if (FINAL.has(job.status) && job.finished_at) {
    text += ` · took ${duration((Date.parse(job.finished_at) - Date.parse(job.created_at)) / 1000)}`;
  }
  return text;
}

function renderBar(job) {
  const progress = job.progress;
  if (!progress) {
    $("job-progress").value = 0;
    return;
  }
  $("job-progress").max = progress.total;
  // A picture that settled early is finished: a full bar, and the line says how many it saved.
  $("job-progress").value = progress.stopped_early ? progress.total : progress.iteration;
}

async function showResult(job) {
  const result = $("result");
  await Promise.all([
    setImage(result, job.result_url),
    setImage($("before"), `/v1/jobs/${job.id}/content`).catch(() => null),
  ]);
  if (!followed || followed.id !== job.id) return; // another job was chosen meanwhile
  // Large, whatever its pixel size: the frame is as wide as the card and at most 75 % of the
  // screen high; the picture fills it at its own aspect (CSS reads --aspect).
  $("compare").style.setProperty("--aspect", String(result.naturalWidth / result.naturalHeight));
  $("result-size").textContent = `${result.naturalWidth} × ${result.naturalHeight} px`;
  $("full-image").src = result.src;
  $("full-size").textContent = `View full size (${result.naturalWidth} × ${result.naturalHeight})`;
  $("compare-slider").value = "0";
  showBefore(0);
  $("preview-box").hidden = true;
  $("result-box").hidden = false;
  $("full-size").hidden = false;
  await downloadLink($("download"), job.result_url, job.id);
}

export function showBefore(percent) {
  $("before").style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
  $("divider").style.left = `${percent}%`;
  $("divider").hidden = percent <= 0 || percent >= 100;
  $("compare-slider").setAttribute("aria-valuetext", `${percent}% of the photo before shown`);
}

export function showFullSize() {
  $("full-view").showModal();
  $("full-close").focus();
}

export function followedId() {
  return followed && followed.id;
}

/** Cancel (POST .../cancel never deletes a picture); errors are shown in ``errorElement``. */
export async function cancelJob(jobId, errorElement) {
  try {
    const job = await api(`/v1/jobs/${jobId}/cancel`, { method: "POST" });
    showError(errorElement, null);
    if (followed && followed.id === jobId) await render(job, followed);
    return job;
  } catch (error) {
    showError(errorElement, error);
    return null;
  }
}
