// "My pictures": the caller's jobs as a gallery of thumbnails, a page at a time, newest first.
"use strict";

import { FINAL, api, setImage } from "./api.js";
import { cancelJob, follow, showError } from "./job.js";

const $ = (id) => document.getElementById(id);
const PAGE = 8;
let offset = 0;

export async function refreshList() {
  try {
    const body = await api(`/v1/jobs?limit=${PAGE}&offset=${offset}`);
    const items = body.jobs.map(jobItem);
    if (!items.length) items.push(Object.assign(document.createElement("li"), { textContent: "No pictures yet." }));
    $("jobs").replaceChildren(...items);
    $("newer").disabled = offset === 0;
    $("older").disabled = !body.next;
    $("page-note").textContent = body.jobs.length ? `${offset + 1}–${offset + body.jobs.length}` : "";
    showError($("list-error"), null);
    body.jobs.forEach((job, index) => thumbnail(job, items[index]));
  } catch (error) {
    showError($("list-error"), error);
  }
}

export function turnPage(delta) {
  offset = Math.max(0, offset + delta * PAGE);
  refreshList();
}

function jobItem(job) {
  const item = document.createElement("li");
  item.dataset.jobId = job.id;
  const created = new Date(job.created_at).toLocaleString();
  const picture = document.createElement("img");
  picture.alt = `Picture from ${created}`;
  picture.className = "thumb";
  const badge = document.createElement("span");
  badge.className = `badge ${job.status}`;
  badge.textContent = job.status;
  const when = document.createElement("span");
  when.className = "when";
  const percent = job.progress && !FINAL.has(job.status) ? ` · ${Math.round(job.progress.percent)}%` : "";
  when.textContent = `${created} · ${job.params.size} px${percent}`;
  item.append(picture, badge, when, button("Show", `Show the picture from ${created}`, () => follow(job.id, { focus: true })));
  if (!FINAL.has(job.status)) {
    item.append(button("Cancel", `Cancel the picture from ${created}`, async () => {
      await cancelJob(job.id, $("list-error"));
      refreshList();
    }));
  }
  return item;
}

async function thumbnail(job, item) {
  const url = job.result_url || job.preview_url;
  const img = item.querySelector("img.thumb");
  if (!img) return;
  if (!url) {
    img.replaceWith(Object.assign(document.createElement("div"), { className: "thumb empty", textContent: "no picture yet" }));
    return;
  }
  try {
    await setImage(img, url);
  } catch {
    img.remove();
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
