// What is chosen: the photo and the paintings. Files come from the file inputs, from drag and
// drop, or both; the inputs stay the one place they are kept (jobForm reads them), so a drop
// writes into the input. Built-in paintings and uploads are shown together as the chosen styles.
"use strict";

import { META, api } from "./api.js";

const $ = (id) => document.getElementById(id);
const urls = new Map(); // File -> object URL, revoked when the file is no longer chosen
let onChange = () => {};

/** Wire the drop zones and the inputs; ``changed`` runs after every change of the choice. */
export function setUpPicks(changed) {
  onChange = changed;
  for (const zone of document.querySelectorAll(".drop")) setUpDropZone(zone);
  $("content").addEventListener("change", () => choose("content", [...$("content").files]));
  $("style").addEventListener("change", () => choose("style", [...$("style").files]));
  // A file dropped beside a zone must not replace the page (and the work on it) with the file.
  for (const type of ["dragover", "drop"]) window.addEventListener(type, (e) => e.preventDefault());
  window.addEventListener("paste", pasted);
}

/** An image pasted (Ctrl+V) anywhere but a text field: the photo first, then paintings. */
function pasted(event) {
  if (event.target.closest && event.target.closest("input:not([type=file]), textarea, select")) return;
  const images = [...event.clipboardData.files].filter((file) => file.type.startsWith("image/"));
  if (!images.length) return;
  event.preventDefault();
  if (!$("content").files.length) choose("content", images.slice(0, 1));
  else choose("style", [...$("style").files, ...images]);
}

function setUpDropZone(zone) {
  const input = $(zone.dataset.input);
  zone.addEventListener("click", (event) => {
    if (event.target !== input && !event.target.closest("button")) input.click();
  });
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    const dropped = [...event.dataTransfer.files];
    if (!dropped.length) return;
    if (input.multiple) choose(input.id, [...input.files, ...dropped]);
    else choose(input.id, dropped.slice(0, 1));
  });
}

/** Make ``files`` the input's files (at most the service's style count) and show them. */
function choose(inputId, files) {
  const input = $(inputId);
  const kept = input.multiple ? files.slice(0, META.limits.max_style_images || files.length) : files.slice(0, 1);
  if (kept.length !== input.files.length || kept.some((file, i) => file !== input.files[i])) {
    const transfer = new DataTransfer();
    for (const file of kept) transfer.items.add(file);
    input.files = transfer.files;
  }
  for (const [file, url] of urls) {
    if (![...$("content").files, ...$("style").files].includes(file)) {
      URL.revokeObjectURL(url);
      urls.delete(file);
    }
  }
  showPhoto();
  showChosenStyles();
  onChange();
}

function urlOf(file) {
  if (!urls.has(file)) urls.set(file, URL.createObjectURL(file));
  return urls.get(file);
}

function showPhoto() {
  const file = $("content").files[0];
  const box = $("content-previews");
  $("content-drop").classList.toggle("filled", Boolean(file));
  if (!file) {
    box.replaceChildren();
    return;
  }
  const img = Object.assign(document.createElement("img"), { src: urlOf(file), alt: `Chosen photo ${file.name}` });
  const caption = Object.assign(document.createElement("span"), { className: "file-name", textContent: file.name });
  img.addEventListener("load", () => {
    caption.textContent = `${file.name} · ${img.naturalWidth} × ${img.naturalHeight} px`;
    img.dataset.aspect = String(img.naturalWidth / img.naturalHeight);
    onChange(); // the estimate depends on the photo's shape
  });
  box.replaceChildren(img, caption);
}

/** The photo's width / height once its thumbnail has loaded (null before). */
export function photoAspect() {
  const img = $("content-previews").querySelector("img");
  return img && img.dataset.aspect ? Number(img.dataset.aspect) : null;
}

// --- the chosen styles: uploads and built-in paintings in one strip, each with Remove

export async function loadPresets() {
  const { presets } = await api("/v1/presets");
  $("presets").replaceChildren(...presets.map(presetChoice));
  $("presets-box").hidden = presets.length === 0;
  showChosenStyles();
}

function presetChoice(preset) {
  const label = document.createElement("label");
  label.className = "preset";
  const box = Object.assign(document.createElement("input"), { type: "checkbox", name: "style_preset", value: preset.id });
  box.dataset.title = preset.title;
  box.dataset.thumbnail = preset.thumbnail_url;
  box.addEventListener("change", () => {
    showChosenStyles();
    onChange();
  });
  const img = Object.assign(document.createElement("img"), { src: preset.thumbnail_url, alt: "" });
  const title = Object.assign(document.createElement("span"), { className: "preset-title", textContent: preset.title });
  label.append(box, img, title);
  if (preset.artist) label.append(Object.assign(document.createElement("span"), { className: "artist", textContent: preset.artist }));
  return label;
}

export function chosenPresets() {
  return [...document.querySelectorAll('input[name="style_preset"]:checked')];
}

function showChosenStyles() {
  const uploads = [...$("style").files].map((file) =>
    chosenTile(urlOf(file), file.name, () => {
      choose("style", [...$("style").files].filter((f) => f !== file));
      $("style").focus();
    }),
  );
  const presets = chosenPresets().map((box) =>
    chosenTile(box.dataset.thumbnail, box.dataset.title, () => {
      box.checked = false;
      showChosenStyles();
      onChange();
      box.focus();
    }),
  );
  const tiles = [...presets, ...uploads];
  const strip = $("chosen-styles");
  if (!tiles.length) {
    strip.replaceChildren(Object.assign(document.createElement("p"), { className: "note", textContent: "No painting chosen yet." }));
    return;
  }
  const most = META.limits.max_style_images;
  const count = Object.assign(document.createElement("p"), {
    className: "note chosen-count",
    textContent: `Chosen: ${tiles.length}${most ? ` of at most ${most}` : ""}${tiles.length > 1 ? ", blended" : ""}`,
  });
  strip.replaceChildren(count, ...tiles);
}

function chosenTile(src, name, remove) {
  const tile = document.createElement("figure");
  tile.className = "chosen-tile";
  const img = Object.assign(document.createElement("img"), { src, alt: "" });
  const caption = Object.assign(document.createElement("figcaption"), { textContent: name });
  const button = Object.assign(document.createElement("button"), { type: "button", textContent: "×", className: "remove" });
  button.setAttribute("aria-label", `Remove ${name}`);
  button.addEventListener("click", remove);
  tile.append(img, caption, button);
  return tile;
}
