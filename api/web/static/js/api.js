// Talking to the service: the key, JSON calls with typed errors, images behind the key, and a
// job's event stream. What the server defines (error headlines, statuses, limits, parameters)
// comes from GET /v1/meta into META; nothing here copies it.
"use strict";

const KEY_STORAGE = "nst.apiKey";
export let META = { auth: true, errors: {}, statuses: { final: [] }, params: [], limits: {} };
export let FINAL = new Set();

export class ApiError extends Error {
  constructor(code, message, field = null, retryAfter = null) {
    super(message);
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

export const savedKey = () => localStorage.getItem(KEY_STORAGE) || "";
export const saveKey = (key) => localStorage.setItem(KEY_STORAGE, key);

export function authHeaders(key = savedKey()) {
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export async function api(path, options = {}) {
  let response;
  try {
    const headers = { ...authHeaders(options.key), ...options.headers };
    response = await fetch(path, { ...options, headers });
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

export async function loadMeta() {
  META = await api("/v1/meta", { cache: "no-cache" }); // the workers' speed changes
  FINAL = new Set(META.statuses.final);
  return META;
}

export function describe(error) {
  const headline = META.errors[error.code] || "Something went wrong";
  let text = `${headline}: ${error.message || ""}`.trim();
  if (!/[.!?]$/.test(text)) text += ".";
  if (error.retryAfter) text += ` Try again in ${error.retryAfter} seconds.`;
  return text;
}

// --- images: API routes need the key (fetch + blob URL); presigned links are used as they are

const blobUrls = new Map();

function sameOrigin(url) {
  return new URL(url, location.href).origin === location.origin;
}

export async function imageSource(url) {
  if (!sameOrigin(url)) return url;
  const response = await fetch(url, { headers: authHeaders(), cache: "no-store" });
  if (!response.ok) throw new ApiError("storage_unavailable", "the image could not be loaded.");
  return URL.createObjectURL(await response.blob());
}

export async function setImage(img, url) {
  const source = await imageSource(url);
  await new Promise((resolve) => {
    img.onload = img.onerror = resolve;
    img.src = source;
  });
  const old = blobUrls.get(img);
  if (old && old !== source) URL.revokeObjectURL(old);
  if (source.startsWith("blob:")) blobUrls.set(img, source);
}

export async function downloadLink(link, url, jobId) {
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

// --- live updates: GET /v1/jobs/{id}/events read with fetch (EventSource cannot send a key)

export async function followEvents(jobId, onEvent, signal) {
  let lastId = null;
  for (let attempt = 0; attempt < 5 && !signal.aborted; attempt += 1) {
    const headers = { ...authHeaders(), Accept: "text/event-stream" };
    if (lastId) headers["Last-Event-ID"] = lastId;
    const response = await fetch(`/v1/jobs/${jobId}/events`, { headers, signal });
    if (!response.ok || !response.body) throw new Error(`no event stream (HTTP ${response.status})`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
        if (!event) continue;
        lastId = event.id || lastId;
        if (onEvent(event.name, event.data)) return;
      }
    }
  }
}

function parseEvent(block) {
  const fields = {};
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    if (colon > 0) fields[line.slice(0, colon)] = line.slice(colon + 1).replace(/^ /, "");
  }
  if (!("data" in fields)) return null;
  return { id: fields.id, name: fields.event || "message", data: JSON.parse(fields.data) };
}
