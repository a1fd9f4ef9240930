// Uploads on a dataset's page: a drop zone and a file picker, a row per file with its own progress
// bar and, on failure, its reason and a retry.

import { formatBytes, html, mount } from "../lib/html.js";
import { BATCH, BATCHED_MAX, uploadBatch, uploadFile } from "../lib/upload.js";

export function uploads(root, datasetId, onUploaded) {
  const list = root.querySelector("#uploads");
  const dropzone = root.querySelector("#dropzone");
  if (!dropzone) return;

  function progress(row, fraction) {
    const bar = row.querySelector("progress");
    bar.value = Math.round(fraction * 100);
    bar.textContent = `${bar.value}%`;
  }

  function uploading(row) {
    const status = row.querySelector(".upload-status");
    row.querySelector("button")?.remove();
    status.textContent = "uploading";
    status.className = "upload-status";
  }

  function settled(file, row, outcome) {
    const status = row.querySelector(".upload-status");
    if (outcome.item) {
      status.textContent = "done";
      status.className = "upload-status ok";
      onUploaded(outcome.item);
      return;
    }
    status.textContent = `failed: ${outcome.error.message}`;
    status.className = "upload-status error";
    const retry = document.createElement("button");
    retry.type = "button";
    retry.textContent = "Retry";
    retry.addEventListener("click", () => upload(file, row)); // alone, by the single route
    row.append(retry);
  }

  async function upload(file, row) {
    uploading(row);
    try {
      settled(file, row, { item: await uploadFile(datasetId, file, (fraction) => progress(row, fraction)) });
    } catch (error) {
      settled(file, row, { error });
    }
  }

  async function uploadSmall(batch) {
    for (const [, row] of batch) uploading(row);
    let outcomes;
    try {
      outcomes = await uploadBatch(
        datasetId,
        batch.map(([file]) => file),
        (index, fraction) => progress(batch[index][1], fraction),
      );
    } catch (error) {
      outcomes = batch.map(() => ({ error }));
    }
    batch.forEach(([file, row], index) => settled(file, row, outcomes[index]));
  }

  async function addFiles(files) {
    const small = [];
    for (const file of files) {
      const row = document.createElement("li");
      mount(
        row,
        html`<span>${file.name} <span class="muted">${formatBytes(file.size)}</span></span>
          <progress max="100" value="0" aria-label="${`Upload of ${file.name}`}">0%</progress>
          <span class="upload-status" aria-live="polite">waiting</span>`,
      );
      list.append(row);
      if (file.size > 0 && file.size <= BATCHED_MAX) small.push([file, row]);
      else upload(file, row);
    }
    for (let first = 0; first < small.length; first += BATCH) await uploadSmall(small.slice(first, first + BATCH));
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
