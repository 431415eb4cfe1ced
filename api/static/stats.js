// The header: documents by status, messages waiting in the queues, live workers.

import { request } from "./api.js";

const fields = document.querySelectorAll("[data-stat]");

/** Reads /stats and shows it; returns the stats (or null when the API refused). */
export async function refreshStats() {
  let stats;
  try {
    stats = await request("/stats");
  } catch {
    return null;
  }
  const values = {
    ...stats.documents,
    queue_depth: Object.values(stats.queues).reduce((sum, queue) => sum + queue.ready + queue.delayed, 0),
    workers: stats.workers ?? "?",
  };
  fields.forEach((field) => (field.textContent = values[field.dataset.stat] ?? "–"));
  return stats;
}
