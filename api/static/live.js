// The live document table: history from /documents, then every change from the /events stream.
"use strict";

const rows = new Map();
// With PDFLINE_API_KEYS set, open the page as /?api_key=<key>; the key goes along to the API.
const apiKey = new URLSearchParams(window.location.search).get("api_key");
const withKey = (url) => (apiKey ? `${url}${url.includes("?") ? "&" : "?"}api_key=${encodeURIComponent(apiKey)}` : url);
const body = document.querySelector("#documents tbody");
const connection = document.getElementById("connection");

function cell(row, name) {
  return row.querySelector(`[data-field="${name}"]`);
}

function ensureRow(id, needsName) {
  let row = rows.get(id);
  if (!row) {
    row = document.createElement("tr");
    row.id = `doc-${id}`;
    row.innerHTML =
      '<td data-field="filename"></td><td data-field="status"></td><td data-field="stage"></td>' +
      '<td><progress data-field="progress" max="1" value="0"></progress></td>' +
      '<td data-field="pages"></td><td data-field="chunks"></td><td data-field="error" class="error"></td>';
    body.prepend(row);
    rows.set(id, row);
    if (!needsName) return row;
    fetch(withKey(`/documents/${encodeURIComponent(id)}`))
      .then((response) => (response.ok ? response.json() : null))
      .then((doc) => doc && (cell(row, "filename").textContent = doc.filename));
  }
  return row;
}

function render(state) {
  const id = state.document_id || state.id;
  const row = ensureRow(id, !state.filename);
  if (state.filename) cell(row, "filename").textContent = state.filename;
  const status = cell(row, "status");
  status.textContent = state.status;
  status.className = `status-${state.status}`;
  cell(row, "stage").textContent = state.stage || "";
  cell(row, "progress").value = state.progress;
  cell(row, "pages").textContent = `${state.pages_parsed}/${state.pages_total}`;
  cell(row, "chunks").textContent = `${state.chunks_stored}/${state.chunks_total}`;
  cell(row, "error").textContent = state.error ? `${state.error.type}: ${state.error.message}` : "";
}

async function start() {
  const history = await fetch(withKey("/documents?limit=100")).then((response) => response.json());
  history.items.reverse().forEach(render);
  const source = new EventSource(withKey("/events"));
  source.onopen = () => {
    connection.textContent = "live";
    connection.className = "connection live";
  };
  source.onerror = () => {
    connection.textContent = "reconnecting…";
    connection.className = "connection";
  };
  source.addEventListener("snapshot", (event) => JSON.parse(event.data).documents.forEach(render));
  for (const name of ["stage", "progress", "retrying", "completed", "failed", "canceled"]) {
    source.addEventListener(name, (event) => render(JSON.parse(event.data)));
  }
}

start();
