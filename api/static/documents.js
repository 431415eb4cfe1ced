// The document table: one row per document, kept current by the event stream.

import { request } from "./api.js";

const body = document.querySelector("#documents tbody");
const empty = document.getElementById("empty");
const rows = new Map();
const ACTIVE = new Set(["queued", "running"]);
const LABELS = ["file", "status", "stage", "progress", "pages", "chunks", "error", ""];

function cell(row, name) {
  return row.querySelector(`[data-field="${name}"]`);
}

function newRow(id) {
  const row = document.createElement("tr");
  row.id = `doc-${id}`;
  row.innerHTML =
    '<td data-field="filename"></td><td><span data-field="status"></span></td><td data-field="stage"></td>' +
    '<td><progress data-field="progress" max="1" value="0"></progress> <span data-field="percent"></span></td>' +
    '<td data-field="pages"></td><td data-field="chunks"></td><td data-field="error" class="error"></td>' +
    '<td class="actions"><button type="button" data-action="retry" hidden>Retry</button>' +
    '<button type="button" data-action="cancel" hidden>Cancel</button></td>';
  row.querySelectorAll("td").forEach((td, index) => td.setAttribute("data-label", LABELS[index]));
  row.querySelector('[data-action="retry"]').addEventListener("click", () => act(row, id, "retry"));
  row.querySelector('[data-action="cancel"]').addEventListener("click", () => act(row, id, "cancel"));
  return row;
}

async function act(row, id, action) {
  const button = row.querySelector(`[data-action="${action}"]`);
  button.disabled = true;
  try {
    render(await request(`/documents/${encodeURIComponent(id)}/${action}`, { method: "POST" }));
  } catch (error) {
    cell(row, "error").textContent = `${action} refused: ${error.message}`;
  } finally {
    button.disabled = false;
  }
}

/** Events carry the state but not the file name; a row learns it once from the API. */
async function fetchName(row, id) {
  try {
    const doc = await request(`/documents/${encodeURIComponent(id)}`);
    cell(row, "filename").textContent = doc.filename;
  } catch {
    // The row still shows its id; the next full state will carry the name.
  }
}

/**
 * A list fetched before an event may answer after it, and a cancel's answer may come after the
 * progress event written just before it: never go back to an older state. The document's event id
 * orders them (the database gives it out in commit order); a change without an event of its own (a
 * retry) has a later time.
 */
function older(state, stamp, row) {
  const shown = Number(row.dataset.eventId);
  if (state.last_event_id !== shown) return state.last_event_id < shown;
  return stamp < (row.dataset.stamp || "");
}

/** Show a document's state: a full document from the API, or the data of an event. */
export function render(state) {
  const id = state.document_id || state.id;
  let row = rows.get(id);
  const stamp = state.at || state.updated_at || "";
  if (row && older(state, stamp, row)) return;
  if (!row) {
    row = newRow(id);
    rows.set(id, row);
    body.prepend(row);
    empty.hidden = true;
    cell(row, "filename").textContent = state.filename || id;
    if (!state.filename) fetchName(row, id);
  } else if (state.filename) {
    cell(row, "filename").textContent = state.filename;
  }
  if (stamp) row.dataset.stamp = stamp;
  row.dataset.eventId = state.last_event_id;
  const status = cell(row, "status");
  status.textContent = state.status;
  status.className = `status status-${state.status}`;
  row.dataset.status = state.status;
  cell(row, "stage").textContent = state.stage || "";
  const progress = Math.max(0, Math.min(1, state.progress || 0));
  cell(row, "progress").value = progress;
  cell(row, "percent").textContent = `${Math.round(progress * 100)}%`;
  cell(row, "pages").textContent = `${state.pages_parsed}/${state.pages_total}`;
  cell(row, "chunks").textContent = `${state.chunks_stored}/${state.chunks_total}`;
  const error = state.error || (state.retry_reason ? { ...state.retry_reason, retrying: true } : null);
  cell(row, "error").textContent = error ? `${error.retrying ? "retrying after " : ""}${error.type}: ${error.message}` : "";
  row.querySelector('[data-action="retry"]').hidden = !["failed", "canceled"].includes(state.status);
  row.querySelector('[data-action="cancel"]').hidden = !ACTIVE.has(state.status);
}

export function known(id) {
  return rows.has(id);
}

/** The newest documents, for the first view and to pick up uploads made elsewhere. */
export async function loadRecent(limit = 100) {
  const page = await request(`/documents?limit=${limit}`);
  page.items.reverse().forEach(render);
  return page.items.length;
}
