// The live page: history from /documents, then every change from the /events stream.

import { setApiKey, whenUnauthorized, withKey } from "./api.js";
import { loadRecent, render } from "./documents.js";
import { setUpSearch } from "./search.js";
import { refreshStats } from "./stats.js";
import { setUpUpload } from "./upload.js";

const connection = document.getElementById("connection");
const keyForm = document.getElementById("api-key-form");
const EVENTS = ["stage", "progress", "retrying", "completed", "failed", "canceled"];
const STATS_EVERY_MS = 2000;
let source = null;

function connect() {
  if (source) source.close();
  source = new EventSource(withKey("/events"));
  source.onopen = () => {
    connection.textContent = "live";
    connection.className = "connection live";
  };
  source.onerror = () => {
    connection.textContent = "reconnecting…";
    connection.className = "connection";
  };
  source.addEventListener("snapshot", (event) => JSON.parse(event.data).documents.forEach(render));
  for (const name of EVENTS) source.addEventListener(name, (event) => render(JSON.parse(event.data)));
}

/** A document queued elsewhere has no event until it starts: the stats show it, the list names it. */
async function watchTotals() {
  let total = null;
  for (;;) {
    const stats = await refreshStats();
    if (stats) {
      const now = Object.values(stats.documents).reduce((sum, count) => sum + count, 0);
      if (total !== null && now !== total) await loadRecent(20).catch(() => {});
      total = now;
    }
    await new Promise((resolve) => setTimeout(resolve, STATS_EVERY_MS));
  }
}

async function start() {
  try {
    await loadRecent();
  } catch {
    return; // 401: the key form is showing; start() runs again once a key is given
  }
  keyForm.hidden = true;
  connect();
}

whenUnauthorized(() => {
  keyForm.hidden = false;
  connection.textContent = "needs an API key";
  connection.className = "connection";
});
keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  setApiKey(new FormData(keyForm).get("api_key"));
  start();
});

setUpUpload();
setUpSearch();
start();
watchTotals();
