// "My pictures": the caller's jobs as a gallery of thumbnails, a page at a time, newest first.
// Cards are updated in place (the followed job at once, others every few seconds while any is
// active), so a running job's card shows its progress and checkpoint, and focus stays put.
"use strict";

import { FINAL, api, setImage } from "./api.js";
import { cancelJob, follow, showError } from "./job.js";

const $ = (id) => document.getElementById(id);
const PAGE = 8;
const ACTIVE_REFRESH_MS = 5000;
const pages = [`/v1/jobs?limit=${PAGE}`]; // the pages seen so far; the last is shown
let shownFirst = 0; // how many jobs come before the shown page
let timer = null;

export async function refreshList() {
  clearTimeout(timer);
  try {
    const body = await api(pages[pages.length - 1]);
    showJobs(body.jobs);
    $("newer").disabled = pages.length === 1;
    $("older").disabled = !body.next;
    $("older").dataset.next = body.next || "";
    $("page-note").textContent = body.jobs.length ? `${shownFirst + 1}–${shownFirst + body.jobs.length}` : "";
    showError($("list-error"), null);
    if (body.jobs.some((job) => !FINAL.has(job.status))) timer = setTimeout(refreshList, ACTIVE_REFRESH_MS);
  } catch (error) {
    showError($("list-error"), error);
  }
}

export function turnPage(delta) {
  if (delta > 0 && $("older").dataset.next) {
    shownFirst += $("jobs").children.length;
    pages.push($("older").dataset.next);
  } else if (delta < 0 && pages.length > 1) {
    pages.pop();
    shownFirst = Math.max(0, shownFirst - PAGE);
  }
  refreshList();
}

/** The same jobs as shown: update each card; others: new cards, focus kept on the same job. */
function showJobs(jobs) {
  const list = $("jobs");
  const shown = [...list.querySelectorAll("li[data-job-id]")].map((item) => item.dataset.jobId);
  if (shown.length && shown.join() === jobs.map((job) => job.id).join()) {
    jobs.forEach(updateCard);
    return;
  }
  const focused = document.activeElement && document.activeElement.closest("#jobs li");
  const refocus = focused && [focused.dataset.jobId, document.activeElement.textContent];
  const items = jobs.map(jobItem);
  if (!items.length) items.push(Object.assign(document.createElement("li"), { textContent: "No pictures yet." }));
  list.replaceChildren(...items);
  jobs.forEach(updateCard);
  if (refocus) focusCard(...refocus);
}

function focusCard(jobId, buttonText) {
  const item = $("jobs").querySelector(`li[data-job-id="${jobId}"]`);
  if (!item) return;
  const buttons = [...item.querySelectorAll("button")];
  (buttons.find((b) => b.textContent === buttonText) || buttons[0]).focus();
}

function jobItem(job) {
  const item = document.createElement("li");
  item.dataset.jobId = job.id;
  const created = new Date(job.created_at).toLocaleString();
  const picture = Object.assign(document.createElement("div"), { className: "thumb empty", textContent: "no picture yet" });
  const badge = document.createElement("span");
  const when = Object.assign(document.createElement("span"), { className: "when" });
  item.append(picture, badge, when, button("Show", `Show the picture from ${created}`, () => follow(job.id, { focus: true })));
  item.append(button("Cancel", `Cancel the picture from ${created}`, async () => {
    await cancelJob(job.id, $("list-error"));
    await refreshList();
    focusCard(job.id, "Show");
  }));
  return item;
}

/** Bring a card up to date with ``job``: status, size, progress, picture, whether it can be cancelled. */
export function updateCard(job) {
  const item = $("jobs").querySelector(`li[data-job-id="${job.id}"]`);
  if (!item) return;
  const badge = item.querySelector("span:not(.when)");
  badge.className = `badge ${job.status}`;
  badge.textContent = job.status;
  const created = new Date(job.created_at).toLocaleString();
  const active = !FINAL.has(job.status);
  const percent = job.progress && active ? ` · ${Math.round(job.progress.percent)}%` : "";
  item.querySelector(".when").textContent = `${created} · ${job.params.size} px${percent}`;
  const cancel = [...item.querySelectorAll("button")].find((b) => b.textContent === "Cancel");
  if (cancel) cancel.hidden = !active || job.cancel_requested;
  // A preview's URL stays the same from one checkpoint to the next: the iteration tells them apart.
  const version = job.result_url ? "result" : `preview ${job.progress && job.progress.iteration}`;
  showThumbnail(item, job.result_url || job.preview_url, version, created);
}

async function showThumbnail(item, url, version, created) {
  const current = item.querySelector(".thumb");
  if (!url || current.dataset.version === version) return;
  current.dataset.version = version;
  const img = Object.assign(document.createElement("img"), { className: "thumb", alt: `Picture from ${created}` });
  img.dataset.version = version;
  try {
    await setImage(img, url);
    if (item.querySelector(".thumb") === current && current.dataset.version === version) current.replaceWith(img);
  } catch {
    delete current.dataset.version; // try again on the next update
  }
}

function button(text, label, onClick) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.setAttribute("aria-label", label);
  element.addEventListener("click", onClick);
  return element;
}
