// Datasets: each with its item count, size and label distribution; create and delete.

import { all, api } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import { formatBytes, formatNumber, html, mount } from "../lib/html.js";

function distribution(dataset) {
  const counts = Object.entries(dataset.label_counts || {}).filter(([, n]) => n > 0);
  const labelled = counts.reduce((sum, [, n]) => sum + n, 0);
  const total = Math.max(dataset.item_count || 0, labelled);
  if (!total) return html`<span class="muted">empty</span>`;
  const title = counts.map(([k, n]) => `${k}: ${n}`).join(", ") || "no labels yet";
  return html`<div class="bar" role="img" aria-label="${`Labels: ${title}; ${total - labelled} unlabelled`}" title="${title}">
    ${counts.map(
      ([k, n]) => html`<span style="${`width:${(100 * n) / total}%;background:${colorOf(k, dataset.label_classes)}`}"></span>`,
    )}
  </div><span class="muted">${formatNumber(labelled)} of ${formatNumber(total)} labelled</span>`;
}

export async function render(root, _params, ctx) {
  const datasets = await all("/datasets");
  mount(
    root,
    html`<h1>Datasets</h1>
      ${ctx.can("editor")
        ? html`<form class="row card" id="create">
            <label>Name <input name="name" required maxlength="128"></label>
            <label>Description <input name="description" maxlength="1000"></label>
            <label>Label classes (comma-separated) <input name="classes" placeholder="cat, dog"></label>
            <button class="primary" type="submit">Create dataset</button>
          </form>`
        : ""}
      ${datasets.length
        ? html`<table><thead><tr><th>Name</th><th class="num">Items</th><th class="num">Size</th>
            <th>Labels</th><th>Created</th>${ctx.can("admin") ? html`<th><span class="sr">Actions</span></th>` : ""}</tr></thead>
            <tbody>${datasets.map(
              (d) => html`<tr data-id="${d.id}">
                <td><a href="${`#/datasets/${d.id}`}">${d.name}</a><div class="muted">${d.description}</div></td>
                <td class="num">${formatNumber(d.item_count)}</td><td class="num">${formatBytes(d.bytes)}</td>
                <td>${distribution(d)}</td><td>${d.created_by}<div class="muted">${d.created_at?.slice(0, 10)}</div></td>
                ${ctx.can("admin") ? html`<td><button class="danger" type="button" data-delete="${d.id}" data-name="${d.name}">Delete</button></td>` : ""}
              </tr>`,
            )}</tbody></table>`
        : html`<p class="muted">No datasets yet.${ctx.can("editor") ? " Create one above." : ""}</p>`}`,
  );
  root.querySelector("#create")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const classes = form.classes.value.split(",").map((s) => s.trim()).filter(Boolean);
    try {
      const created = await api("/datasets", {
        method: "POST",
        body: { name: form.name.value.trim(), description: form.description.value.trim(), ...(classes.length ? { label_classes: classes } : {}) },
      });
      ctx.toast(`Dataset “${created.name}” created`);
      ctx.navigate(`#/datasets/${created.id}`);
    } catch (error) {
      ctx.toast(error.message, "error");
    }
  });
  for (const button of root.querySelectorAll("[data-delete]")) {
    button.addEventListener("click", async () => {
      const name = button.dataset.name;
      if (!confirm(`Delete the dataset “${name}” and every item in it? This cannot be undone.`)) return;
      try {
        await api(`/datasets/${button.dataset.delete}`, { method: "DELETE" }); // 202: gone from lists at once
        ctx.toast(`Dataset “${name}” deleted; its files are removed in the background`);
        render(root, _params, ctx);
      } catch (error) {
        ctx.toast(error.message, "error");
      }
    });
  }
}
