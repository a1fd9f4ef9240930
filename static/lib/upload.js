// Uploads go from the browser straight to storage: request a signed upload, send the bytes with
// XHR (for its progress events), then `complete`. Small files go in batches (one call requests a
// hundred uploads, one completes them); big files alone, multipart: parts in parallel, each retried
// on its own.

import { api } from "./api.js";

const PARALLEL_PARTS = 4;
const PART_TRIES = 3;
const PARALLEL_FILES = 4; // a batch's files in flight at once
export const BATCH = 100; // files per batch: two API calls per hundred files, not per file
export const BATCHED_MAX = 5 * 1024 * 1024; // S3's smallest part: no server sends a file this small in parts

function send(method, url, body, headers, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (event) => onProgress(event.loaded);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) resolve(xhr);
      else reject(new Error(`storage refused the upload (${xhr.status})`));
    };
    xhr.onerror = () => reject(new Error("the upload was interrupted (network)"));
    xhr.send(body);
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function sendParts(upload, file, onProgress) {
  const loaded = new Map();
  const report = () => onProgress([...loaded.values()].reduce((a, b) => a + b, 0));
  const queue = [...upload.parts];
  const done = [];
  async function worker() {
    for (let part = queue.shift(); part; part = queue.shift()) {
      const start = (part.part_number - 1) * upload.part_size;
      const blob = file.slice(start, Math.min(file.size, start + upload.part_size));
      for (let attempt = 1; ; attempt += 1) {
        try {
          const xhr = await send("PUT", part.url, blob, {}, (n) => {
            loaded.set(part.part_number, n);
            report();
          });
          const etag = xhr.getResponseHeader("ETag");
          if (!etag) throw new Error("storage did not return the part's ETag (check the bucket's CORS)");
          done.push({ part_number: part.part_number, etag: etag.replaceAll('"', "") });
          break;
        } catch (error) {
          loaded.set(part.part_number, 0);
          if (attempt >= PART_TRIES) throw new Error(`part ${part.part_number}: ${error.message}`);
          await sleep(500 * 2 ** attempt);
        }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL_PARTS, queue.length) }, worker));
  return done.sort((a, b) => a.part_number - b.part_number);
}

// The bytes to the signed upload the API handed out; the body `complete` needs ({parts} or {}).
export async function toStorage(upload, file, onProgress) {
  const progress = (n) => onProgress(file.size ? Math.min(1, n / file.size) : 1);
  let body = {};
  if (upload.method === "MULTIPART") {
    body = { parts: await sendParts(upload, file, progress) };
  } else if (upload.method === "POST") {
    const form = new FormData();
    for (const [k, v] of Object.entries(upload.fields)) form.append(k, v);
    form.append("file", file);
    await send("POST", upload.url, form, {}, progress);
  } else {
    await send("PUT", upload.url, file, upload.headers, progress);
  }
  onProgress(1);
  return body;
}

// One file into the dataset; onProgress(fraction 0..1). Resolves with the available item.
export async function uploadFile(datasetId, file, onProgress) {
  const { item, upload } = await api(`/datasets/${datasetId}/items`, {
    method: "POST",
    body: { filename: file.name, content_type: file.type || "application/octet-stream", size: file.size },
  });
  const body = await toStorage(upload, file, onProgress);
  return api(`/datasets/${datasetId}/items/${item.id}/complete`, { method: "POST", body });
}

async function eachInPool(values, size, work) {
  const queue = [...values];
  async function worker() {
    for (let value = queue.shift(); value !== undefined; value = queue.shift()) await work(value);
  }
  await Promise.all(Array.from({ length: Math.min(size, queue.length) }, worker));
}

// Small files (each at most BATCHED_MAX) into the dataset in two API calls; onProgress(index, fraction).
// Resolves with one outcome per file: {item} (available) or {error}. An entry the batch refuses as a bad
// request goes alone, so the single route says why.
export async function uploadBatch(datasetId, files, onProgress) {
  const entries = files.map((file) => ({
    filename: file.name,
    content_type: file.type || "application/octet-stream",
    size: file.size,
  }));
  const { results } = await api(`/datasets/${datasetId}/items/bulk`, { method: "POST", body: { items: entries } });
  const outcomes = new Array(files.length);
  const sent = new Map(); // item id -> file index
  await eachInPool(results, PARALLEL_FILES, async (result) => {
    const file = files[result.index];
    const progress = (fraction) => onProgress(result.index, fraction);
    try {
      if (result.status === 400) {
        outcomes[result.index] = { item: await uploadFile(datasetId, file, progress) };
      } else if (result.status !== 201) {
        outcomes[result.index] = { error: new Error(result.error) };
      } else {
        await toStorage(result.upload, file, progress);
        sent.set(result.item.id, result.index);
      }
    } catch (error) {
      outcomes[result.index] = { error };
    }
  });
  if (sent.size) {
    const done = await api(`/datasets/${datasetId}/items/complete`, {
      method: "POST",
      body: { item_ids: [...sent.keys()] },
    });
    for (const result of done.results) {
      const index = sent.get(result.item_id);
      outcomes[index] = result.status === 200 ? { item: result.item } : { error: new Error(result.error) };
    }
  }
  return outcomes;
}
