// Search: the stored chunks nearest in meaning to a query, with their document and pages.

import { request } from "./api.js";

const form = document.getElementById("search-form");
const query = document.getElementById("search-query");
const results = document.getElementById("search-results");

function pages(hit) {
  return hit.page_start === hit.page_end ? `page ${hit.page_start}` : `pages ${hit.page_start}–${hit.page_end}`;
}

function clearButton() {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "clear";
  button.textContent = "Close";
  button.addEventListener("click", () => {
    results.hidden = true;
    results.replaceChildren();
  });
  return button;
}

function show(answer) {
  results.replaceChildren(clearButton());
  const heading = document.createElement("h2");
  heading.textContent = answer.hits.length ? `Results for “${answer.query}”` : `Nothing found for “${answer.query}”`;
  results.append(heading);
  for (const hit of answer.hits) {
    const item = document.createElement("article");
    item.className = "hit";
    const title = document.createElement("h3");
    title.textContent = hit.filename;
    const where = document.createElement("span");
    where.className = "hint";
    where.textContent = ` ${pages(hit)} · score ${hit.score.toFixed(3)}`;
    title.append(where);
    const text = document.createElement("p");
    text.textContent = hit.text;
    item.append(title, text);
    results.append(item);
  }
  results.hidden = false;
}

export function setUpSearch() {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      show(await request(`/search?q=${encodeURIComponent(query.value)}&k=5`));
    } catch (error) {
      results.replaceChildren(clearButton());
      const message = document.createElement("p");
      message.className = "error";
      message.textContent = `Search failed (${error.type}): ${error.message}`;
      results.append(message);
      results.hidden = false;
    }
  });
}
