// Export the dataset's manifest in each format the API streams (CSV, JSON lines, COCO).

import { api } from "../lib/api.js";
import { html, mount } from "../lib/html.js";

const FORMATS = [
  ["csv", "CSV", "csv"],
  ["jsonl", "JSONL", "jsonl"],
  ["coco", "COCO", "json"],
];

export function exportMenu(holder, dataset, toast) {
  mount(
    holder,
    html`<span class="export-links" role="group" aria-label="Export the dataset">${FORMATS.map(
      ([format, name]) =>
        html`<a class="button" href="${`/api/datasets/${dataset.id}/export?format=${format}`}" data-format="${format}" download>Export ${name}</a> `,
    )}</span>`,
  );
  // The export needs the token, so it is fetched and saved rather than followed as a plain link.
  holder.addEventListener("click", async (event) => {
    const link = event.target.closest("[data-format]");
    if (!link) return;
    event.preventDefault();
    const [format, , extension] = FORMATS.find(([f]) => f === link.dataset.format);
    try {
      const response = await api(`/datasets/${dataset.id}/export?format=${format}`, { raw: true });
      const url = URL.createObjectURL(await response.blob());
      const a = Object.assign(document.createElement("a"), { href: url, download: `${dataset.name}.${extension}` });
      a.click();
      URL.revokeObjectURL(url);
    } catch (error) {
      toast(error.message, "error");
    }
  });
}
