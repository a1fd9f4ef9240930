// A list of one dataset's items under one filter and sort, read page by page with the API's cursor.
// The last list the grid showed is kept while the app runs (and its filters for a reload), so the
// item page can walk it: previous and next follow the same filter and sort as the grid.

import { api, query } from "./api.js";

const STORED = "edna.list.";

export class ItemList {
  constructor(datasetId, params = {}, pageSize = 200) {
    this.datasetId = datasetId;
    this.params = clean(params);
    this.pageSize = pageSize;
    this.items = [];
    this.positions = new Map(); // item id -> index
    this.cursor = null;
    this.more = true;
    this.loading = null;
    this.total = null; // the exact number of matches once counted (GET /items/count)
  }

  get path() {
    return `/datasets/${this.datasetId}/items`;
  }

  // One more page; the same promise to everyone asking while it is on its way.
  loadMore() {
    if (this.loading || !this.more) return this.loading ?? Promise.resolve([]);
    this.loading = (async () => {
      try {
        const page = await api(`${this.path}${query({ ...this.params, limit: this.pageSize, cursor: this.cursor })}`);
        const added = [];
        for (const item of page.items) {
          if (this.positions.has(item.id)) continue; // a label changed under an offset cursor: seen already
          this.positions.set(item.id, this.items.length);
          this.items.push(item);
          added.push(item);
        }
        this.cursor = page.next_cursor;
        this.more = Boolean(page.next_cursor);
        return added;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  // Whether `index` exists, reading pages until it does or the list ends.
  async ensure(index) {
    while (index >= this.items.length && this.more) await this.loadMore();
    return index < this.items.length;
  }

  indexOf(id) {
    return this.positions.get(id) ?? -1;
  }

  // The item's position, reading up to `maxPages` more pages to find it; -1 when not found.
  async find(id, maxPages = 10) {
    for (let n = 0; this.indexOf(id) < 0 && this.more && n < maxPages; n += 1) await this.loadMore();
    return this.indexOf(id);
  }

  // Put a changed item in place (after a label was saved, say).
  update(item) {
    const i = this.indexOf(item.id);
    if (i >= 0) this.items[i] = { ...this.items[i], ...item };
  }
}

function clean(params) {
  return Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
}

let current = null;

// The grid's list becomes the one the item page walks.
export function remember(list) {
  current = list;
  try {
    sessionStorage.setItem(STORED + list.datasetId, JSON.stringify(list.params));
  } catch {
    // private mode or full storage: only this tab's memory keeps the list
  }
}

// The list last shown for this dataset (after a reload: its filters, read again from the start).
export function recall(datasetId) {
  if (current?.datasetId === datasetId) return current;
  let params = {};
  try {
    params = JSON.parse(sessionStorage.getItem(STORED + datasetId) || "{}");
  } catch {
    params = {};
  }
  current = new ItemList(datasetId, params);
  return current;
}

// Filters as words, for "item 4 of 120+ · label 3, model …".
export function describe(params, modelNames = {}) {
  const words = [];
  if (params.q) words.push(`“${params.q}”`);
  if (params.label) words.push(`label ${params.label}`);
  if (params.unlabeled) words.push("unlabelled");
  if (params.model) words.push(`model ${modelNames[params.model] ?? params.model}`);
  if (params.predicted) words.push(`predicted ${params.predicted}`);
  if (params.disagrees) words.push("disagreeing");
  if (params.min_score || params.max_score) words.push(`score ${params.min_score || 0}–${params.max_score || 1}`);
  if (params.sort) words.push(`sorted by ${params.sort}`);
  return words.join(", ");
}
