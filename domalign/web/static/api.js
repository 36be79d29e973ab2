// The console's only way to the server: the public JSON API, with the API key kept for this browser session.

const KEY = "domalign.apiKey";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

function headers(extra = {}) {
  return { Authorization: `Bearer ${session.key}`, ...extra };
}

async function fail(response) {
  let detail = response.statusText;
  try {
    const body = await response.json();
    detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail ?? body);
  } catch { /* not JSON: keep the status text */ }
  throw new ApiError(response.status, `${response.status}: ${detail}`);
}

/** One JSON call under /api/v3; `json` is sent as the body, `form` as multipart. */
export async function call(method, path, { json, form, params, signal } = {}) {
  const query = params ? `?${new URLSearchParams(params)}` : "";
  const init = { method, headers: headers(), signal };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.body = form;
  }
  const response = await fetch(`/api/v3${path}${query}`, init);
  if (!response.ok) await fail(response);
  return response.status === 204 ? null : response.json();
}

/** Server-sent events read with fetch (EventSource cannot send the Authorization header). */
export async function* serverEvents(url, { body, signal, accept = "text/event-stream" } = {}) {
  const init = { headers: headers({ Accept: accept }), signal };
  if (body !== undefined) {
    Object.assign(init, { method: "POST", body: JSON.stringify(body) });
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  if (!response.ok) await fail(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = { event: "message", id: null, data: [] };
      for (const line of block.split("\n")) {
        const [field, ...rest] = line.split(":");
        const text = rest.join(":").replace(/^ /, "");
        if (field === "data") event.data.push(text);
        else if (field === "event") event.event = text;
        else if (field === "id") event.id = text;
      }
      if (event.data.length) yield { ...event, data: event.data.join("\n") };
    }
  }
}

/** The alignment's events, live until the job stops. */
export function alignmentEvents(id, signal) {
  return serverEvents(`/api/v3/alignment/${encodeURIComponent(id)}/events`, { signal });
}

/** OpenAI-shaped streamed chat chunks (parsed JSON), ending before `[DONE]`. */
export async function* chatChunks(body, signal) {
  for await (const event of serverEvents("/api/v3/inference/chat/completions", { body: { ...body, stream: true }, signal })) {
    if (event.data === "[DONE]") return;
    yield JSON.parse(event.data);
  }
}

/** Fetch a file with the API key and hand it to the browser as a download. */
export async function download(path, params, fallbackName) {
  const response = await fetch(`/api/v3${path}?${new URLSearchParams(params)}`, { headers: headers() });
  if (!response.ok) await fail(response);
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (disposition.match(/filename="?([^";]+)"?/) || [])[1] || fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return name;
}
