// The page's entry point: wire the key, the form, the followed job and the gallery together.
// Plain ES modules, no build step, no library.
"use strict";

import { ApiError, META, api, loadMeta, saveKey, savedKey } from "./js/api.js";
import { clearFieldErrors, jobForm, keepSettings, setUpForm, showEstimate, showFieldError, showStrength } from "./js/form.js";
import { refreshList, turnPage, updateCard } from "./js/gallery.js";
import { cancelJob, follow, followedId, rememberedJob, showBefore, showError, showFullSize, whenJobChanges } from "./js/job.js";
import { loadPresets, setUpPicks } from "./js/picks.js";

const $ = (id) => document.getElementById(id);

async function submitJob(event) {
  event.preventDefault();
  const submit = $("submit");
  showError($("form-error"), null);
  clearFieldErrors();
  const { form, error } = jobForm();
  if (error) {
    if (!showFieldError(error)) showError($("form-error"), new ApiError(error.code, error.message));
    return;
  }
  submit.disabled = true;
  try {
    const job = await api("/v1/jobs", { method: "POST", body: form });
    keepSettings();
    refreshList();
    follow(job.id, { focus: true });
  } catch (failure) {
    if (!showFieldError(failure)) {
      showError($("form-error"), failure);
      submit.focus();
    }
  } finally {
    submit.disabled = false;
  }
}

/** Keep the key only once the server has taken it: a wrong key is said so, not "saved". */
async function checkKey(event) {
  event.preventDefault();
  const key = $("api-key").value.trim();
  $("key-note").textContent = "Checking the key…";
  try {
    await api("/v1/jobs?limit=1", { key });
  } catch (error) {
    $("key-note").textContent = "";
    showError($("list-error"), error);
    $("api-key").setAttribute("aria-invalid", "true");
    $("api-key").focus();
    return;
  }
  $("api-key").removeAttribute("aria-invalid");
  saveKey(key);
  $("key-note").textContent = "Key saved in this browser.";
  refreshList();
  if (!followedId() && rememberedJob()) follow(rememberedJob());
}

async function cancelFollowed() {
  const jobId = followedId();
  if (!jobId) return;
  $("cancel").disabled = true;
  await cancelJob(jobId, $("job-error"));
  $("cancel").disabled = false;
  $("job").focus(); // the button is gone: focus the card, whose status now says so
}

function wire() {
  $("api-key").value = savedKey();
  $("key-form").addEventListener("submit", checkKey);
  $("job-form").addEventListener("submit", submitJob);
  setUpPicks(showEstimate);
  for (const id of ["size", "iterations"]) $(id).addEventListener("input", showEstimate);
  $("strength").addEventListener("input", showStrength);
  $("compare-slider").addEventListener("input", (e) => showBefore(Number(e.target.value)));
  $("full-size").addEventListener("click", showFullSize);
  $("full-close").addEventListener("click", () => $("full-view").close());
  $("full-view").addEventListener("close", () => $("full-size").focus());
  $("cancel").addEventListener("click", cancelFollowed);
  $("refresh").addEventListener("click", refreshList);
  $("newer").addEventListener("click", () => turnPage(-1));
  $("older").addEventListener("click", () => turnPage(1));
  whenJobChanges(refreshList, updateCard);
  window.addEventListener("hashchange", () => {
    const jobId = rememberedJob();
    if (jobId && jobId !== followedId()) follow(jobId, { focus: true });
  });
}

async function start() {
  wire();
  try {
    await loadMeta();
  } catch (error) {
    showError($("form-error"), error);
    return;
  }
  $("key-card").hidden = !META.auth;
  setUpForm();
  loadPresets().catch(() => ($("presets-box").hidden = true));
  refreshList();
  if (rememberedJob() && (!META.auth || savedKey())) follow(rememberedJob());
}

start();
