// Uploads on a dataset's page: a drop zone and a file picker, a row per file with its own progress
// bar and, on failure, its reason and a retry.

import { formatBytes, html, mount } from "../lib/html.js";
import { uploadFile } from "../lib/upload.js";

export function uploads(root, datasetId, onUploaded) {
  const list = root.querySelector("#uploads");
  const dropzone = root.querySelector("#dropzone");
  if (!dropzone) return;

  async function upload(file, row) {
    const bar = row.querySelector("progress");
    const status = row.querySelector(".upload-status");
    row.querySelector("button")?.remove();
    status.textContent = "uploading";
    status.className = "upload-status";
    try {
      const item = await uploadFile(datasetId, file, (fraction) => {
        bar.value = Math.round(fraction * 100);
        bar.textContent = `${bar.value}%`;
      });
      status.textContent = "done";
      status.className = "upload-status ok";
      onUploaded(item);
    } catch (error) {
      status.textContent = `failed: ${error.message}`;
      status.className = "upload-status error";
      const retry = document.createElement("button");
      retry.type = "button";
      retry.textContent = "Retry";
      retry.addEventListener("click", () => upload(file, row));
      row.append(retry);
    }
  }

  function addFiles(files) {
    for (const file of files) {
      const row = document.createElement("li");
      mount(
        row,
        html`<span>${file.name} <span class="muted">${formatBytes(file.size)}</span></span>
          <progress max="100" value="0" aria-label="${`Upload of ${file.name}`}">0%</progress>
          <span class="upload-status" aria-live="polite">waiting</span>`,
      );
      list.append(row);
      upload(file, row);
    }
  }

  root.querySelector("#files").addEventListener("change", (event) => addFiles([...event.target.files]));
  dropzone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  });
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("over");
    addFiles([...event.dataTransfer.files]);
  });
}
