// The console: a hash-routed page per task (documents, alignments, one alignment live, models, chat).
import { alignmentEvents, call, chatChunks, download, session } from "./api.js";
import { beforeAfter, lineChart } from "./charts.js";

const main = document.getElementById("view");
const RUNNING = new Set(["pending", "evaluating"]);
const EXPORTS = ["adapter", "merged", "gguf"];
let leaving = new AbortController(); // aborted when the user leaves a page, to stop its streams and timers

/** Build an element: `on…` attributes become listeners, `class`/`text`/properties are set directly. */
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value == null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name in node && name !== "list") node[name] = value;
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...present(children));
  return node;
}

/** Children to insert: `null`, `undefined` and `false` (from `cond && child`) are left out. */
const present = (children) => children.flat().filter((c) => c != null && c !== false);

/** Replace a node's children, leaving out the absent ones as `h` does. */
function fill(node, ...children) {
  node.replaceChildren(...present(children));
  return node;
}

const card = (title, ...body) => h("section", { class: "card" }, title && h("h2", { text: title }), ...body);
const badge = (value) => h("span", { class: `badge ${value}`, text: value });
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
const pct = (v) => (v == null ? "–" : `${(v * 100).toFixed(1)}%`);

function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
}

function eta(iso) {
  if (!iso) return "";
  const seconds = Math.round((new Date(iso) - Date.now()) / 1000);
  if (seconds <= 0) return "finishing";
  const m = Math.floor(seconds / 60), s = seconds % 60;
  return `about ${m ? `${m} min ` : ""}${s} s left`;
}

function table(headers, rows) {
  return h("table", {}, h("thead", {}, h("tr", {}, headers.map((t) => h("th", { text: t })))), h("tbody", {}, rows));
}

// ---------------------------------------------------------------- sign in

function login(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("sign-out").hidden = true;
  const key = h("input", { type: "password", id: "api-key", autocomplete: "off", placeholder: "da_…" });
  const error = h("p", { class: "err", id: "login-error", text: message || "" });
  const submit = async (event) => {
    event.preventDefault();
    session.set(key.value.trim());
    try {
      await call("GET", "/documents");
      location.hash = "#/documents";
      await route();
    } catch (e) {
      session.clear();
      error.textContent = e.status === 401 ? "That API key is not valid." : e.message;
    }
  };
  main.replaceChildren(h("div", { class: "login card" },
    h("h1", { text: "Sign in" }),
    h("p", { class: "muted", text: "Use an API key from `domalign users create NAME`. It is kept for this browser tab only." }),
    h("form", { onsubmit: submit }, h("label", { for: "api-key", text: "API key" }), key,
      h("p", {}, h("button", { type: "submit", id: "sign-in", text: "Sign in" }))),
    error));
  key.focus();
}

// ---------------------------------------------------------------- documents

async function documentsView() {
  const list = h("ul", { class: "uploads", id: "uploads" });
  const docs = h("div", { id: "documents" });
  const input = h("input", { type: "file", id: "file-input", multiple: true, hidden: true,
    accept: ".txt,.md,.markdown,.html,.htm,.pdf,.docx", onchange: () => uploadAll([...input.files]) });
  const zone = h("div", { class: "dropzone", id: "dropzone", onclick: () => input.click(),
    ondragover: (e) => { e.preventDefault(); zone.classList.add("over"); },
    ondragleave: () => zone.classList.remove("over"),
    ondrop: (e) => { e.preventDefault(); zone.classList.remove("over"); uploadAll([...e.dataTransfer.files]); } },
  h("strong", { text: "Drop files here" }), h("div", { class: "small", text: "or click to choose · txt, md, html, pdf, docx" }));

  async function uploadOne(file) {
    const status = h("span", { class: "muted", text: "uploading…" });
    list.append(h("li", { "data-file": file.name }, h("strong", { text: file.name }), " — ", status));
    try {
      const form = new FormData();
      form.append("files", file);
      const [id] = (await call("POST", "/documents", { form })).document_ids;
      status.textContent = "processing…";
      for (;;) {
        const doc = await call("GET", `/documents/${id}`);
        if (doc.status === "ready") {
          Object.assign(status, { className: "ok", textContent: `ready · ${doc.chunk_count} chunk${doc.chunk_count === 1 ? "" : "s"}` });
          return;
        }
        if (doc.status === "failed") throw new Error(doc.error || "processing failed");
        await new Promise((r) => setTimeout(r, 400));
      }
    } catch (e) {
      Object.assign(status, { className: "err", textContent: `failed: ${e.message}` });
    }
  }

  async function uploadAll(files) {
    await Promise.all(files.map(uploadOne));
    input.value = "";
    await refresh();
  }

  async function refresh() {
    const { documents } = await call("GET", "/documents");
    docs.replaceChildren(documents.length ? table(["file", "type", "size", "status", "chunks", "uploaded", ""],
      documents.map((d) => h("tr", { "data-id": d.id },
        h("td", {}, h("strong", { text: d.filename }), h("div", { class: "muted small mono", text: d.id })),
        h("td", { text: d.type }), h("td", { text: `${(d.size / 1024).toFixed(1)} KB` }),
        h("td", {}, badge(d.status), d.error && h("div", { class: "err small", text: d.error })),
        h("td", { text: d.chunk_count }), h("td", { text: when(d.upload_date) }),
        h("td", {}, h("button", { class: "danger", text: "Delete", onclick: async () => {
          if (!confirm(`Delete ${d.filename}?`)) return;
          await call("DELETE", `/documents/${d.id}`).catch((e) => toast(e.message));
          await refresh();
        } })))))
      : h("p", { class: "muted", text: "No documents yet." }));
  }

  main.replaceChildren(h("h1", { text: "Documents" }), card("Upload", zone, input, list), card("Your documents", docs));
  await refresh();
}

// ---------------------------------------------------------------- alignments

async function alignmentsView() {
  const [{ models }, { documents }, { benchmarks }, listing] = await Promise.all([
    call("GET", "/models/base"), call("GET", "/documents"), call("GET", "/benchmark/list"),
    call("GET", "/alignment", { params: { limit: 100 } })]);
  const ready = documents.filter((d) => d.status === "ready");
  const name = h("input", { type: "text", id: "align-name", required: true, placeholder: "Support handbook" });
  const base = h("select", { id: "base-model" }, models.map((m) => h("option", {
    value: m.id, disabled: !m.alignment_ready, text: `${m.name}${m.alignment_ready ? "" : " (not available)"}` })));
  const picks = ready.map((d) => h("input", { type: "checkbox", value: d.id, checked: true }));
  const bench = h("select", { id: "benchmark" }, h("option", { value: "", text: "Generate one from the documents" }),
    benchmarks.filter((b) => b.status === "completed").map((b) => h("option", { value: b.id, text: `${b.name} (${b.item_count} items)` })));
  const minutes = h("input", { type: "number", id: "train-minutes", min: 1, step: "any", placeholder: "no limit" });
  const epochs = h("input", { type: "number", id: "epochs", min: 0.1, step: "any", value: 3 });
  const steps = h("input", { type: "number", id: "max-steps", min: 1, step: 1, placeholder: "from epochs" });
  const questions = h("input", { type: "number", id: "bench-questions", min: 1, step: 1, placeholder: "default" });

  const submit = async (event) => {
    event.preventDefault();
    const training = { epochs: Number(epochs.value) };
    if (minutes.value) training.max_time_s = Number(minutes.value) * 60;
    if (steps.value) training.max_steps = Number(steps.value);
    const body = { name: name.value.trim(), base_model: base.value, training,
      document_ids: picks.filter((p) => p.checked).map((p) => p.value) };
    if (bench.value) body.benchmark_id = bench.value;
    else if (questions.value) body.synthesis = { num_benchmark_questions: Number(questions.value) };
    try {
      const { id } = await call("POST", "/alignment/create", { json: body });
      location.hash = `#/alignments/${id}`;
    } catch (e) { toast(e.message); }
  };

  const form = h("form", { id: "create-alignment", onsubmit: submit },
    h("div", { class: "row" },
      h("div", { class: "grow" }, h("label", { for: "align-name", text: "Name" }), name),
      h("div", { class: "grow" }, h("label", { for: "base-model", text: "Base model" }), base)),
    h("label", { text: `Documents (${ready.length} ready)` }),
    ready.length ? h("div", { class: "checklist" }, ready.map((d, i) => h("label", {}, picks[i], d.filename)))
      : h("p", { class: "muted" }, "Upload documents first: ", h("a", { href: "#/documents", text: "Documents" })),
    h("div", { class: "row" },
      h("div", { class: "grow" }, h("label", { for: "benchmark", text: "Benchmark" }), bench),
      h("div", {}, h("label", { for: "bench-questions", text: "Generated questions" }), questions),
      h("div", {}, h("label", { for: "epochs", text: "Epochs" }), epochs),
      h("div", {}, h("label", { for: "max-steps", text: "Max steps" }), steps),
      h("div", {}, h("label", { for: "train-minutes", text: "Training budget (min)" }), minutes)),
    h("p", {}, h("button", { type: "submit", id: "create", disabled: !ready.length, text: "Align" })));

  const rows = listing.alignment_projects.map((a) => h("tr", { class: "clickable", "data-id": a.id,
    onclick: () => { location.hash = `#/alignments/${a.id}`; } },
  h("td", {}, h("strong", { text: a.name }), h("div", { class: "muted small mono", text: a.id })),
  h("td", {}, badge(a.status.toLowerCase())), h("td", { text: a.stage || "–" }),
  h("td", { text: a.progress == null ? "–" : `${Math.round(a.progress)}%` }),
  h("td", { text: a.performance_metrics?.accuracy_after == null ? "–"
    : `${pct(a.performance_metrics.accuracy_before)} → ${pct(a.performance_metrics.accuracy_after)}` }),
  h("td", { text: when(a.created_date) })));
  main.replaceChildren(h("h1", { text: "Alignments" }), card("New alignment", form),
    card("All alignments", rows.length ? table(["name", "status", "stage", "progress", "accuracy", "created"], rows)
      : h("p", { class: "muted", text: "None yet." })));
}

async function alignmentView(id, signal) {
  const header = h("div", { id: "alignment-header" });
  const lossChart = h("div", { class: "chart", id: "loss-chart" });
  const log = h("tbody", { id: "event-log" });
  const result = h("div", { id: "result" });
  const losses = [], validation = [];
  let resultShown = false;

  main.replaceChildren(h("p", {}, h("a", { href: "#/alignments", text: "← Alignments" })), card(null, header),
    card("Training loss", lossChart),
    card("Events", h("div", { class: "events" }, h("table", {}, h("thead", {}, h("tr", {},
      ["time", "stage", "event", "details"].map((t) => h("th", { text: t })))), log))),
    result);

  const drawLoss = () => lossChart.replaceChildren(lineChart([
    { name: "train loss", color: "#3056d3", points: losses },
    { name: "validation", color: "#b54708", points: validation }], { xLabel: "step", yLabel: "loss" }));
  drawLoss();

  function addEvent(e) {
    if (e.type === "train_metrics") losses.push([e.data.step, e.data.loss]);
    if (e.data.validation_loss != null) { // checks during training, and the last one when it ends
      const step = e.data.step ?? e.data.steps ?? losses.at(-1)?.[0] ?? 0;
      validation.push([step, e.data.validation_loss]);
    }
    if (e.type === "train_metrics" || e.data.validation_loss != null) drawLoss();
    const details = Object.entries(e.data).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join("  ");
    log.prepend(h("tr", { "data-type": e.type }, h("td", { class: "small", text: new Date(e.created_at).toLocaleTimeString() }),
      h("td", { text: e.stage || "" }), h("td", {}, badge(e.type === "error" ? "error" : e.type)),
      h("td", { class: "small mono", text: details })));
  }

  async function refresh() {
    const s = await call("GET", `/alignment/status/${id}`, { signal });
    const d = s.data;
    const running = RUNNING.has(s.status) && !s.end_time;
    fill(header,
      h("div", { class: "row" }, h("h1", { class: "grow", text: d.name }), badge(s.status),
        running && h("button", { class: "danger", id: "cancel", text: "Cancel", onclick: async () => {
          await call("POST", `/alignment/${id}/cancel`).catch((e) => toast(e.message));
          await refresh();
        } })),
      h("p", { class: "muted small" }, `${d.base_model} · ${d.document_count} documents · started ${when(s.start_time)}`,
        s.end_time ? ` · ended ${when(s.end_time)}` : ""),
      h("div", { class: "row" }, h("span", { id: "stage", text: `stage: ${d.stage || "queued"}` }),
        d.queue_position != null && h("span", { class: "muted", text: `queue position ${d.queue_position}` }),
        h("span", { class: "grow" }),
        h("span", { class: "muted", id: "eta", text: running ? eta(d.estimated_completion) : "" }),
        h("strong", { id: "progress-text", text: `${Math.round(d.progress ?? 0)}%` })),
      h("div", { class: "progress" }, h("div", { id: "progress-bar", style: `width:${d.progress ?? 0}%` })),
      d.error && h("p", { class: "err", id: "alignment-error", text: d.error }));
    if (!running && d.performance_metrics?.accuracy_after != null && !resultShown) {
      resultShown = true;
      await showResult(d);
    }
    return running;
  }

  async function showResult(d) {
    const m = d.performance_metrics;
    const charts = h("div", { class: "metrics", id: "metric-charts" },
      h("div", { class: "chart" }, beforeAfter("accuracy", m.accuracy_before, m.accuracy_after, { percent: true })),
      h("div", { class: "chart" }, beforeAfter("uncertainty", m.uncertainty_before, m.uncertainty_after, { better: "lower" })),
      h("div", { class: "chart" }, beforeAfter("domain violations", m.domain_violations_before, m.domain_violations_after, { better: "lower" })));
    const model = d.model_id;
    const deploy = h("div", { id: "deployment" });
    fill(result, card("Result", charts,
      h("p", { class: "muted small", text: `${d.evaluation_results?.total_questions ?? "?"} benchmark questions` +
        ` · accuracy ${pct(m.accuracy_before)} → ${pct(m.accuracy_after)}` }),
      model && h("div", { class: "row" }, h("span", { text: "Download:" }), EXPORTS.map((fmt) => h("button", {
        class: "secondary", "data-format": fmt, text: fmt, onclick: async (e) => {
          e.target.disabled = true;
          e.target.textContent = `${fmt}…`;
          try { await download(`/models/${model}/download`, { format: fmt }, `${model}.${fmt}`); } catch (err) { toast(err.message); }
          e.target.disabled = false;
          e.target.textContent = fmt;
        } })), h("span", { class: "grow" }), deploy)),
    card("Per-question changes", await flips(d.evaluation_id)));
    if (model) await deploymentControls(model, deploy);
  }

  try {
    if (await refresh()) { // progress and ETA move between events, so poll the status while it runs
      const timer = setInterval(async () => { if (!(await refresh().catch(() => true))) clearInterval(timer); }, 2000);
      signal.addEventListener("abort", () => clearInterval(timer));
    }
    for await (const event of alignmentEvents(id, signal)) addEvent(JSON.parse(event.data));
    await refresh();
  } catch (e) {
    if (e.name !== "AbortError") throw e;
  }
}

/** The benchmark questions whose answer changed from wrong to right (or back) with alignment. */
async function flips(evaluationId) {
  if (!evaluationId) return h("p", { class: "muted", text: "No evaluation." });
  let questions;
  try {
    ({ questions } = await call("GET", `/evaluations/${evaluationId}/download`));
  } catch (e) {
    return h("p", { class: "muted", text: `Per-question results are not available (${e.message}).` });
  }
  const changed = questions.filter((q) => q.flip);
  const gained = changed.filter((q) => q.flip === "wrong_to_right").length;
  return h("div", { id: "flips" },
    h("p", {}, h("span", { class: "ok", text: `${gained} wrong → right` }), " · ",
      h("span", { class: "err", text: `${changed.length - gained} right → wrong` }), ` · ${questions.length} questions`),
    changed.length ? table(["", "question", "expected", "before", "after"], changed.map((q) => h("tr", { class: q.flip },
      h("td", { class: q.flip === "wrong_to_right" ? "ok" : "err", text: q.flip === "wrong_to_right" ? "✓" : "✗" }),
      h("td", { text: q.question }), h("td", { text: q.expected }), h("td", { text: q.answer }), h("td", { text: q.answer_2 }))))
      : h("p", { class: "muted", text: "No question changed." }));
}

async function deploymentControls(modelId, box) {
  const { models } = await call("GET", "/models/aligned");
  const model = models.find((m) => m.id === modelId);
  if (!model) return;
  const deployed = model.deployment_status === "DEPLOYED";
  const action = deployed ? "undeploy" : "deploy";
  const button = h("button", { "data-action": action, class: deployed ? "danger" : "", text: deployed ? "Undeploy" : "Deploy",
    disabled: model.deployment_status.endsWith("ING"), onclick: async () => {
      button.disabled = true;
      button.textContent = deployed ? "Undeploying…" : "Deploying…";
      try {
        let op = await call("POST", `/models/${action}-model/${modelId}`);
        while (op.status === "PENDING") {
          await new Promise((r) => setTimeout(r, 500));
          op = await call("GET", `/models/${action}-model/${modelId}/status`);
        }
        if (op.status === "FAILED") toast(`${action} failed: ${JSON.stringify(op.result)}`);
      } catch (e) { toast(e.message); }
      await deploymentControls(modelId, box);
    } });
  fill(box, badge(model.deployment_status), " ", button,
    deployed && h("a", { href: `#/chat/${modelId}`, class: "open-chat", text: " Chat with it →" }));
}

// ---------------------------------------------------------------- models

async function modelsView() {
  const { models } = await call("GET", "/models/aligned");
  const rows = models.map((m) => {
    const box = h("span");
    const row = h("tr", { "data-id": m.id }, h("td", {}, h("strong", { class: "mono", text: m.id }),
      h("div", { class: "small" }, h("a", { href: `#/alignments/${m.alignment_id}`, text: "alignment" }))),
    h("td", { text: m.base_model }), h("td", {}, box),
    h("td", {}, EXPORTS.map((fmt) => h("button", { class: "secondary", text: fmt, onclick: () =>
      download(`/models/${m.id}/download`, { format: fmt }, `${m.id}.${fmt}`).catch((e) => toast(e.message)) }))));
    deploymentControls(m.id, box).catch((e) => toast(e.message));
    return row;
  });
  main.replaceChildren(h("h1", { text: "Aligned models" }), card(null, rows.length
    ? table(["model", "base", "deployment", "download"], rows)
    : h("p", { class: "muted" }, "No aligned model yet: ", h("a", { href: "#/alignments", text: "create an alignment" }))));
}

// ---------------------------------------------------------------- chat

async function chatView(preselect, signal) {
  const [{ models: aligned }, { models: bases }] = await Promise.all([call("GET", "/models/aligned"), call("GET", "/models/base")]);
  const deployed = aligned.filter((m) => m.deployment_status === "DEPLOYED");
  const pick = h("select", { id: "chat-model" },
    deployed.map((m) => h("option", { value: m.id, selected: m.id === preselect, text: `${m.id} (aligned)` })),
    bases.filter((b) => b.alignment_ready).map((b) => h("option", { value: b.id, text: `${b.name} (base)` })));
  const grounded = h("input", { type: "checkbox", id: "grounded" });
  const logBox = h("div", { class: "chat-log", id: "chat-log" });
  const input = h("textarea", { id: "chat-input", rows: 2, placeholder: "Ask about your documents…" });
  const send = h("button", { type: "submit", id: "send", text: "Send" });
  const history = [];

  async function ask(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    history.push({ role: "user", content: text });
    logBox.append(h("div", { class: "msg user", text }));
    const body = h("span", { class: "content" });
    const meta = h("div", { class: "meta" });
    const bubble = h("div", { class: "msg assistant" }, body, meta);
    logBox.append(bubble);
    send.disabled = true;
    try {
      for await (const chunk of chatChunks({ model: pick.value, messages: history, grounded: grounded.checked, max_tokens: 256 }, signal)) {
        const choice = chunk.choices[0];
        if (choice?.delta?.content) body.textContent += choice.delta.content;
        if (chunk.confidence_score != null) meta.append(h("span", { class: "confidence", text: `confidence ${chunk.confidence_score.toFixed(0)}/100` }));
        for (const c of chunk.citations ?? []) {
          meta.append(h("div", { class: "citation" }, h("div", { class: "muted small mono", text: `${c.document_id} · ${c.chunk_id} · score ${c.score.toFixed(2)}` }), c.text));
        }
        logBox.scrollTop = logBox.scrollHeight;
      }
      history.push({ role: "assistant", content: body.textContent });
    } catch (e) {
      if (e.name === "AbortError") return;
      history.pop();
      bubble.classList.add("err");
      body.textContent = e.message;
    } finally {
      send.disabled = false;
    }
  }

  main.replaceChildren(h("h1", { text: "Chat" }), card(null,
    h("div", { class: "row" }, h("div", { class: "grow" }, h("label", { for: "chat-model", text: "Model" }), pick),
      h("label", {}, grounded, " grounded: answer from retrieved passages, with citations"),
      h("button", { class: "secondary", id: "new-chat", text: "New chat", onclick: () => { history.length = 0; logBox.replaceChildren(); } })),
    deployed.length ? null : h("p", { class: "muted small", text: "No aligned model is deployed; deploy one from Models to chat with it." }),
    logBox,
    h("form", { onsubmit: ask, class: "row" }, h("div", { class: "grow" }, input), send)));
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) ask(e); });
}

// ---------------------------------------------------------------- routing

const VIEWS = { documents: documentsView, alignments: alignmentsView, models: modelsView, chat: chatView };

async function route() {
  leaving.abort();
  leaving = new AbortController();
  const signal = leaving.signal;
  if (!session.key) return login();
  document.getElementById("nav").hidden = false;
  document.getElementById("sign-out").hidden = false;
  const [name = "documents", arg] = location.hash.replace(/^#\/?/, "").split("/");
  for (const link of document.querySelectorAll("nav a")) link.classList.toggle("active", link.dataset.view === name);
  main.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  try {
    if (name === "alignments" && arg) await alignmentView(decodeURIComponent(arg), signal);
    else await (VIEWS[name] ?? documentsView)(arg && decodeURIComponent(arg), signal);
  } catch (e) {
    if (signal.aborted) return;
    if (e.status === 401) {
      session.clear();
      return login("Your API key was refused; sign in again.");
    }
    main.replaceChildren(card("Something went wrong", h("p", { class: "err", id: "view-error", text: e.message })));
  }
}

document.getElementById("sign-out").addEventListener("click", () => { session.clear(); location.hash = ""; login(); });
window.addEventListener("hashchange", route);
route();
