// The new-picture form: ranges, accepted types and the upload limit from the server, starting
// values a first picture will not be regretted for, the time estimate before Start, the
// style-strength slider, errors next to their fields.
"use strict";

import { META, describe } from "./api.js";
import { duration } from "./job.js";
import { chosenPresets, photoAspect } from "./picks.js";

const $ = (id) => document.getElementById(id);
// The slider moves in tenths of a power of ten (log scale); its ends and its starting point are
// the style_strength field's range and default from /v1/meta. Words by distance from 1 (the
// balance the server calibrates), in decades, between the slider's steps: "balanced" is 0.79
// to 1.3 (it was 0.32 to 2.5, so the word stood still while the slider moved).
const STRENGTH_WORDS = [[-1.25, "very light"], [-0.45, "light"], [-0.15, "a little light"],
  [0.15, "balanced"], [0.45, "a little strong"], [1.25, "strong"]];  // prettier-ignore
const FIELD_INPUTS = { content: "content", style: "style", style_preset: "style", size: "size", iterations: "iterations" };
// A first picture in about two minutes at most: big and long enough to look like a painting,
// short enough to try another. The schema's defaults (512 px, 300 iterations) took 26 minutes
// on a CPU worker. Larger first where the measured speed allows; the smallest with no measure.
const FIRST_PICTURE_SECONDS = 120;
const FIRST_SETTINGS = [[512, 300], [512, 200], [384, 200], [384, 150], [256, 150], [256, 100]];

export function setUpForm() {
  for (const spec of META.params) {
    if (spec.name === "style_strength") setUpStrength(spec);
    const select = document.querySelector(`#job-form select[name="${spec.name}"]`);
    if (select) setUpChoices(select, spec);
    const input = document.querySelector(`#job-form input[name="${spec.name}"]`);
    if (!input) continue;
    if (spec.minimum != null) input.min = String(spec.minimum);
    if (spec.maximum != null) input.max = String(spec.maximum);
    if (spec.default != null) input.value = String(spec.default);
  }
  const [size, iterations] = firstSettings();
  $("size").value = String(size);
  $("iterations").value = String(iterations);
  restoreSettings();
  const accept = META.image_types.join(",");
  $("content").accept = accept;
  $("style").accept = accept;
  showEstimate();
}

// The settings of the last picture started in this browser: a returning user keeps them.
const SETTINGS_STORAGE = "nst.lastSettings";
const KEPT = ["size", "iterations", "strength", "preserve_color"];

export function keepSettings() {
  localStorage.setItem(SETTINGS_STORAGE, JSON.stringify(Object.fromEntries(KEPT.map((id) => [id, $(id).value]))));
}

function restoreSettings() {
  let kept;
  try {
    kept = JSON.parse(localStorage.getItem(SETTINGS_STORAGE) || "{}") || {};
  } catch {
    return;
  }
  for (const id of KEPT) {
    const input = $(id);
    if (typeof kept[id] !== "string" || kept[id] === "") continue;
    if (input.tagName === "SELECT") {
      if ([...input.options].some((option) => option.value === kept[id])) input.value = kept[id];
    } else if (Number.isFinite(Number(kept[id]))) {
      input.value = String(bounded(input, Number(kept[id]))); // limits may have changed since
    }
  }
  showStrength();
}

function bounded(input, value) {
  const low = input.min === "" ? value : Number(input.min);
  const high = input.max === "" ? value : Number(input.max);
  return Math.min(Math.max(value, low), high);
}

/** The largest of FIRST_SETTINGS that the workers' measured speed makes in the time. */
function firstSettings() {
  const fits = ([size, iterations]) => estimateSeconds(size, iterations) <= FIRST_PICTURE_SECONDS;
  const choice = (META.speed && FIRST_SETTINGS.find(fits)) || FIRST_SETTINGS[FIRST_SETTINGS.length - 1];
  return [bounded($("size"), choice[0]), bounded($("iterations"), choice[1])];
}

/** Seconds once a worker has it: the start, then iterations at the measured pace per pixel. */
export function estimateSeconds(size, iterations, aspect = null) {
  const speed = META.speed;
  const pixels = (size * size) / 1e6;
  // The pace is measured per size*size pixels of jobs whose photos were mostly 4:3 (their
  // aspect is not recorded): a photo of another shape scales it by its share of the square.
  const short = aspect == null ? 0.75 : Math.min(aspect, 1 / aspect);
  const shape = short / 0.75;
  return speed.startup_seconds + iterations * pixels * speed.seconds_per_megapixel_iteration * shape;
}

export function showEstimate() {
  const size = Number($("size").value);
  const iterations = Number($("iterations").value);
  const note = $("estimate");
  if (!META.speed) {
    note.textContent = "No time estimate yet: no picture has been made on this service.";
    return;
  }
  if (!(size > 0 && iterations > 0)) {
    note.textContent = "";
    return;
  }
  const seconds = estimateSeconds(size, iterations, photoAspect());
  const jobs = META.speed.jobs_measured;
  const waiting = META.queue ? META.queue.queued : 0;
  note.textContent =
    `About ${duration(seconds)} once a worker takes it, at the pace of the last ` +
    `${jobs === 1 ? "picture" : `${jobs} pictures`} here; less if it settles early.` +
    (waiting ? ` ${waiting === 1 ? "1 picture is" : `${waiting} pictures are`} waiting for a worker now.` : "");
}

function strengthValue() {
  return Number((10 ** Number($("strength").value)).toPrecision(2));
}

export function showStrength() {
  const value = strengthValue();
  const decades = Number($("strength").value);
  const word = (STRENGTH_WORDS.find(([below]) => decades < below) || [0, "very strong"])[1];
  $("strength-text").textContent = `${value} (${word})`;
  $("strength").setAttribute("aria-valuetext", `${value}, ${word}`);
}

// A choice field's options, their words and the one first selected, from /v1/meta: the page
// lists no choice of its own, so a choice added to the schema appears here.
function setUpChoices(select, spec) {
  const labels = spec.choice_labels || [];
  select.replaceChildren(...(spec.choices || []).map((value, i) => new Option(labels[i] || value, value)));
  if (spec.default != null) select.value = String(spec.default);
}

function setUpStrength(spec) {
  const slider = $("strength");
  slider.min = String(Math.log10(spec.minimum));
  slider.max = String(Math.log10(spec.maximum));
  slider.step = "0.1";
  slider.value = String(Math.log10(spec.default));
  showStrength();
}

/** The form as multipart data, or a field error found before anything is sent. */
export function jobForm() {
  const content = $("content").files[0];
  const styles = [...$("style").files];
  const presets = chosenPresets().map((box) => box.value);
  if (!content) return { error: fieldError("content", "choose a photo.") };
  if (!styles.length && !presets.length) return { error: fieldError("style", "choose a painting, or a built-in one.") };
  const total = [content, ...styles].reduce((sum, file) => sum + file.size, 0);
  if (total > META.limits.max_upload_bytes) {
    const limit = (META.limits.max_upload_bytes / 1048576).toFixed(0);
    return { error: fieldError(styles.length ? "style" : "content", `the files are ${(total / 1048576).toFixed(1)} MB together; the limit is ${limit} MB.`, "upload_too_large") };
  }
  const form = new FormData();
  form.append("content", content);
  for (const file of styles) form.append("style", file);
  if (presets.length) form.append("style_preset", presets.join(","));
  for (const name of ["size", "iterations", "preserve_color"]) form.append(name, $(name).value);
  form.append("style_strength", String(strengthValue()));
  return { form };
}

function fieldError(field, message, code = "invalid_params") {
  return { code, message, field };
}

/** Mark the field an error is about (aria-invalid, its message) and focus it; clear the rest. */
export function showFieldError(error) {
  clearFieldErrors();
  const inputId = error && FIELD_INPUTS[error.field];
  if (!inputId) return false;
  const input = $(inputId);
  const note = $(`${inputId}-error`);
  input.setAttribute("aria-invalid", "true");
  note.textContent = describe(error);
  note.hidden = false;
  input.focus();
  input.closest(".pick, label").scrollIntoView({ block: "nearest" });
  return true;
}

export function clearFieldErrors() {
  for (const note of document.querySelectorAll(".field-error")) {
    note.textContent = "";
    note.hidden = true;
  }
  for (const input of document.querySelectorAll("#job-form [aria-invalid]")) input.removeAttribute("aria-invalid");
}
