// A comparison: the leaderboard, accuracy and macro-F1 per model as an SVG bar chart, a
// confusion-matrix heatmap per model, and the items where the models disagree.

import { api } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import { formatNumber, html, mount, raw, escape } from "../lib/html.js";

const REFRESH_MS = 1500;
const pct = (v) => (v == null ? "" : `${(100 * v).toFixed(1)} %`);

// Grouped bars: one group per model, a bar per metric, on a 0..1 axis.
function barChart(rows) {
  const metrics = [["accuracy", "#2358c4"], ["macro_f1", "#d9480f"]];
  const group = 180;
  const bar = 56;
  const height = 220;
  const width = 60 + rows.length * group;
  let bars = "";
  rows.forEach((row, i) => {
    metrics.forEach(([key, color], k) => {
      const v = row[key] ?? 0;
      const x = 50 + i * group + k * (bar + 4);
      const h = v * height;
      bars += `<rect x="${x}" y="${20 + height - h}" width="${bar}" height="${h}" fill="${color}"><title>${escape(row.model_name)} ${key}: ${pct(row[key])}</title></rect>`;
      bars += `<text x="${x + bar / 2}" y="${14 + height - h}" text-anchor="middle" font-size="12">${v ? (100 * v).toFixed(1) : ""}</text>`;
    });
    bars += `<text x="${50 + i * group + bar}" y="${height + 36}" text-anchor="middle" font-size="12">${escape(row.model_name.slice(0, 28))}</text>`;
  });
  const axis = [0, 0.5, 1]
    .map((t) => `<text x="40" y="${24 + height - t * height}" text-anchor="end" font-size="10">${t * 100}%</text><line x1="44" x2="${width}" y1="${20 + height - t * height}" y2="${20 + height - t * height}" stroke="#d9dee5"/>`)
    .join("");
  const legend = metrics
    .map(([key, color], k) => `<rect x="${60 + k * 110}" y="0" width="10" height="10" fill="${color}"/><text x="${74 + k * 110}" y="9" font-size="11">${key === "macro_f1" ? "macro-F1" : "accuracy"}</text>`)
    .join("");
  const summary = rows.map((r) => `${r.model_name}: accuracy ${pct(r.accuracy)}, macro-F1 ${pct(r.macro_f1)}`).join("; ");
  return raw(
    `<svg role="img" aria-label="${escape(`Accuracy and macro-F1 per model. ${summary}`)}" width="${width}" height="${height + 50}" viewBox="0 0 ${width} ${height + 50}">${legend}${axis}${bars}</svg>`,
  );
}

function heatmap(modelName, confusion) {
  const { class_names: names, matrix } = confusion;
  const max = Math.max(1, ...matrix.flat());
  return html`<figure class="card"><figcaption><strong>${modelName}</strong>: true class (rows) × predicted (columns)</figcaption>
    <table class="heatmap" aria-label="${`Confusion matrix of ${modelName}`}"><thead><tr><th scope="col"><span class="sr">true \\ predicted</span></th>
      ${names.map((n) => html`<th scope="col">${n}</th>`)}</tr></thead><tbody>
      ${matrix.map(
        (row, i) => html`<tr><th scope="row">${names[i]}</th>${row.map((v, j) => {
          const a = v / max;
          const color = i === j ? `rgba(30,123,60,${0.1 + 0.9 * a})` : `rgba(179,38,30,${a ? 0.15 + 0.85 * a : 0})`;
          return html`<td style="${`background:${color};color:${a > 0.55 ? "#fff" : "inherit"}`}">${v || ""}</td>`;
        })}</tr>`,
      )}</tbody></table></figure>`;
}

export async function render(root, { comparisonId }, ctx) {
  let timer = 0;
  let stopped = false;
  async function draw() {
    const c = await api(`/comparisons/${comparisonId}`);
    if (stopped) return;
    const names = Object.fromEntries(c.leaderboard.map((r) => [r.model_id, r.model_name]));
    const done = c.status === "succeeded";
    mount(
      root,
      html`<p><a href="#/jobs">← Jobs and comparisons</a></p>
        <h1>Comparison</h1>
        <p>Status: <strong class="${`status-${c.status}`}" id="comparison-status">${c.status}</strong>
          <progress max="100" value="${c.progress.total ? Math.round((100 * c.progress.done) / c.progress.total) : 0}" aria-label="Comparison progress"></progress>
          <span class="muted">${formatNumber(c.progress.done)} / ${formatNumber(c.progress.total)} items</span></p>
        <h2>Leaderboard</h2>
        <table id="leaderboard"><thead><tr><th>#</th><th>Model</th><th class="num">Accuracy</th><th class="num">Macro-F1</th>
          <th class="num">Items / s</th><th class="num">Evaluated</th><th>Status</th></tr></thead><tbody>
          ${c.leaderboard.map(
            (r, i) => html`<tr><td>${i + 1}</td><td>${r.model_name}</td><td class="num">${pct(r.accuracy)}</td>
              <td class="num">${pct(r.macro_f1)}</td><td class="num">${r.items_per_second ? formatNumber(Math.round(r.items_per_second)) : ""}</td>
              <td class="num">${r.evaluated != null ? formatNumber(r.evaluated) : ""}</td><td class="${`status-${r.status}`}">${r.status}</td></tr>`,
          )}</tbody></table>
        ${done
          ? html`<h2>Accuracy and macro-F1</h2><div class="card">${barChart(c.leaderboard)}</div>
            <h2>Confusion matrices</h2>
            <div class="charts">${Object.entries(c.confusion).map(([id, m]) => heatmap(names[id] ?? id, m))}</div>
            <h2>Where the models disagree (${formatNumber(c.disagreement_count)} items)</h2>
            <div class="gallery">${c.disagreements.map(
              (d) => html`<a href="${`#/datasets/${c.dataset_id}/items/${d.item_id}`}">
                ${d.thumbnail_url ? html`<img src="${d.thumbnail_url}" alt="">` : ""}
                <div>${d.filename ?? d.item_id}</div><div>label <strong>${d.label ?? "none"}</strong></div>
                ${Object.entries(d.predictions).map(([m, p]) => html`<div style="${`color:${colorOf(p)}`}">${names[m] ?? m}: ${p}</div>`)}
              </a>`,
            )}</div>`
          : html`<p class="muted">Charts appear when every job has finished.</p>`}`,
    );
    if (!done && c.status !== "failed" && c.status !== "cancelled") timer = setTimeout(draw, REFRESH_MS);
  }
  await draw();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
