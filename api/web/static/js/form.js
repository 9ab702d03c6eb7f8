// The new-picture form: ranges, accepted types and the upload limit from the server, presets,
// the style-strength slider, errors next to their fields.
"use strict";

import { META, api, describe } from "./api.js";

const $ = (id) => document.getElementById(id);
// The slider moves in tenths of a power of ten (log scale); its ends and its starting point are
// the style_strength field's range and default from /v1/meta.
const STRENGTH_WORDS = [[0.05, "very light"], [0.3, "light"], [3, "balanced"], [20, "strong"]];
const FIELD_INPUTS = { content: "content", style: "style", style_preset: "style", size: "size", iterations: "iterations" };

export function setUpForm() {
  for (const spec of META.params) {
    if (spec.name === "style_strength") setUpStrength(spec);
    const input = document.querySelector(`#job-form input[name="${spec.name}"]`);
    if (!input) continue;
    if (spec.minimum != null) input.min = String(spec.minimum);
    if (spec.maximum != null) input.max = String(spec.maximum);
    if (spec.default != null) input.value = String(spec.default);
  }
  const accept = META.image_types.join(",");
  $("content").accept = accept;
  $("style").accept = accept;
}

export async function loadPresets() {
  const { presets } = await api("/v1/presets");
  $("presets").replaceChildren(...presets.map(presetChoice));
  $("presets-box").hidden = presets.length === 0;
}

function presetChoice(preset) {
  const label = document.createElement("label");
  label.className = "preset";
  const box = Object.assign(document.createElement("input"), { type: "checkbox", name: "style_preset", value: preset.id });
  const img = Object.assign(document.createElement("img"), { src: preset.thumbnail_url, alt: "" });
  label.append(box, img, document.createTextNode(preset.title));
  return label;
}

function strengthValue() {
  return Number((10 ** Number($("strength").value)).toPrecision(2));
}

export function showStrength() {
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

export function showThumbnails(input, box) {
  box.replaceChildren(
    ...[...input.files].map((file) => {
      const img = document.createElement("img");
      img.src = URL.createObjectURL(file);
      img.alt = `Chosen image ${file.name}`;
      return img;
    }),
  );
}

/** The form as multipart data, or a field error found before anything is sent. */
export function jobForm() {
  const content = $("content").files[0];
  const styles = [...$("style").files];
  const presets = [...document.querySelectorAll('input[name="style_preset"]:checked')].map((box) => box.value);
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
  return true;
}

export function clearFieldErrors() {
  for (const note of document.querySelectorAll(".field-error")) {
    note.textContent = "";
    note.hidden = true;
  }
  for (const input of document.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}
