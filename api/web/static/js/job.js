// The job being followed: status, queue position, progress, previews, then the result at its
// own size with a before/after compare. Live from the event stream; polling if it cannot stream.
"use strict";

import { FINAL, api, describe, downloadLink, followEvents, setImage } from "./api.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1000;
const STATUS_TEXT = {
  queued: "Waiting for a free worker…",
  running: "Painting…",
  succeeded: "Done.",
  failed: "Failed.",
  cancelled: "Cancelled.",
};

let followed = null;
let onStatusChange = () => {};

export function whenStatusChanges(callback) {
  onStatusChange = callback;
}

export function showError(element, error) {
  element.textContent = error ? describe(error) : "";
  element.hidden = !error;
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

export async function follow(jobId, { focus = false } = {}) {
  if (followed) followed.controller.abort();
  const state = { id: jobId, job: null, previewIteration: -1, done: false,
                  controller: new AbortController() };  // prettier-ignore
  followed = state;
  for (const id of ["preview-box", "result-box", "download", "job-error"]) $(id).hidden = true;
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
    if (state === followed) showError($("job-error"), error);
  }
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
  renderProgress(job);
  showError($("job-error"), job.error);
  $("cancel").hidden = FINAL.has(job.status) || cancelling;
  if (statusChanged) onStatusChange();
  const iteration = job.progress ? job.progress.iteration : -1;
  if (job.preview_url && job.status !== "succeeded" && iteration !== state.previewIteration) {
    state.previewIteration = iteration;
    await setImage($("preview"), job.preview_url);
    $("preview-box").hidden = false;
  }
  if (job.status === "succeeded" && !state.done) {
    state.done = true;
    await showResult(job);
  }
}

function renderProgress(job) {
  const progress = job.progress;
  if (job.status === "queued") {
    const place = job.queue_position ? `Number ${job.queue_position} in the queue.` : "";
    $("job-iteration").textContent = `Not started yet. ${place}`.trim();
  }
  if (!progress) return;
  $("job-progress").max = progress.total;
  // A picture that settled early is finished: a full bar, and the line says how many it saved.
  $("job-progress").value = progress.stopped_early ? progress.total : progress.iteration;
  let text = `Iteration ${progress.iteration} / ${progress.total}`;
  if (!FINAL.has(job.status) && progress.eta_seconds != null) {
    text += ` · about ${duration(progress.eta_seconds)} left`;
  }
  if (progress.stopped_early) text += ` · stopped early, ${progress.iterations_saved} saved`;
  if (FINAL.has(job.status) && job.finished_at) {
    text += ` · took ${duration((Date.parse(job.finished_at) - Date.parse(job.created_at)) / 1000)}`;
  }
  $("job-iteration").textContent = text;
}

async function showResult(job) {
  const result = $("result");
  await Promise.all([
    setImage(result, job.result_url),
    setImage($("before"), `/v1/jobs/${job.id}/content`).catch(() => null),
  ]);
  result.style.width = `${result.naturalWidth}px`; // at its own size: one image pixel, one px
  $("compare").style.width = `${result.naturalWidth}px`;
  $("result-size").textContent = `${result.naturalWidth} × ${result.naturalHeight} px`;
  $("compare-slider").value = "0";
  showBefore(0);
  $("preview-box").hidden = true;
  $("result-box").hidden = false;
  await downloadLink($("download"), job.result_url, job.id);
}

export function showBefore(percent) {
  $("before").style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
  $("compare-slider").setAttribute("aria-valuetext", `${percent}% of the photo before shown`);
}

export function followedId() {
  return followed && followed.id;
}

export async function cancelJob(jobId, errorElement) {
  try {
    await api(`/v1/jobs/${jobId}/cancel`, { method: "POST" }); // never deletes a finished picture
    showError(errorElement, null);
  } catch (error) {
    showError(errorElement, error);
  }
}
