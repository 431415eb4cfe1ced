// Uploading: several PDFs at once, from the file picker or dropped on the page.

import { request } from "./api.js";
import { render } from "./documents.js";

const zone = document.getElementById("upload-form");
const input = document.getElementById("file-input");
const status = document.getElementById("upload-status");

async function upload(files) {
  const pdfs = [...files];
  if (pdfs.length === 0) return;
  const form = new FormData();
  pdfs.forEach((file) => form.append("files", file, file.name));
  status.textContent = `Uploading ${pdfs.length} file${pdfs.length > 1 ? "s" : ""}…`;
  status.className = "hint";
  try {
    const answer = await request("/documents", { method: "POST", body: form });
    const documents = answer.documents || [answer];
    documents.forEach(render);
    status.textContent = `Uploaded ${documents.length} document${documents.length > 1 ? "s" : ""}.`;
  } catch (error) {
    status.textContent = `Upload refused (${error.type}): ${error.message}`;
    status.className = "hint error";
  }
}

export function setUpUpload() {
  input.addEventListener("change", () => {
    upload(input.files).finally(() => (input.value = ""));
  });
  for (const name of ["dragenter", "dragover"]) {
    document.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "dragend"]) {
    document.addEventListener(name, () => zone.classList.remove("dragging"));
  }
  document.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    upload(event.dataTransfer.files);
  });
}
