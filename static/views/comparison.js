// A comparison: the leaderboard, accuracy and macro-F1 per model as an SVG bar chart on an axis
// that spans just the values (close models stay apart), a confusion matrix per model whose cells
// open the items they count, precision and recall per class, and the labelled items where the
// models disagree.

import { api } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import { escape, formatNumber, html, mount, raw } from "../lib/html.js";
import { thumbnail } from "../lib/preview.js";

const REFRESH_MS = 1500;
const METRICS = [["accuracy", "#2358c4", "accuracy"], ["macro_f1", "#d9480f", "macro-F1"]];
const pct = (v, digits = 1) => (v == null ? "" : `${(100 * v).toFixed(digits)} %`);

// The axis: the values' range with padding on both sides, on round ticks, within 0..1; never
// from 0, so that two models 0.3 points apart do not look the same.
export function axisRange(values) {
  const present = values.filter((v) => v != null && Number.isFinite(v));
  if (!present.length) return { lo: 0, hi: 1, ticks: [0, 0.5, 1], digits: 0 };
  const min = Math.min(...present);
  const max = Math.max(...present);
  const span = Math.max(max - min, 0.002);
  const rough = span / 3;
  const step = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25].find((s) => s >= rough) ?? 0.25;
  const lo = Math.max(0, Math.floor((min - span * 0.5) / step) * step);
  const hi = Math.min(1, Math.ceil((max + span * 0.5) / step) * step);
  const ticks = [];
  for (let t = lo; t <= hi + step / 2; t += step) ticks.push(Number(t.toFixed(6)));
  const digits = step >= 0.1 ? 0 : step >= 0.01 ? 0 : step >= 0.001 ? 1 : 2;
  return { lo, hi, ticks, digits };
}

function barChart(rows) {
  const group = 180;
  const bar = 56;
  const height = 220;
  const width = 70 + rows.length * group;
  const { lo, hi, ticks, digits } = axisRange(rows.flatMap((r) => METRICS.map(([k]) => r[k])));
  const y = (v) => 20 + height - ((Math.min(hi, Math.max(lo, v)) - lo) / (hi - lo)) * height;
  const shown = Math.max(1, digits + 1); // a digit more than the ticks, so close values read apart
  let bars = "";
  rows.forEach((row, i) => {
    METRICS.forEach(([key, color], k) => {
      const v = row[key];
      if (v == null) return;
      const x = 60 + i * group + k * (bar + 4);
      const top = y(v);
      bars += `<rect x="${x}" y="${top}" width="${bar}" height="${20 + height - top}" fill="${color}"><title>${escape(row.model_name)} ${key}: ${pct(v, shown + 1)}</title></rect>`;
      bars += `<text x="${x + bar / 2}" y="${top - 6}" text-anchor="middle" font-size="12">${(100 * v).toFixed(shown)}</text>`;
    });
    bars += `<text x="${60 + i * group + bar}" y="${height + 40}" text-anchor="middle" font-size="12">${escape(row.model_name.slice(0, 28))}</text>`;
  });
  const axis = ticks
    .map((t) => `<text x="50" y="${y(t) + 4}" text-anchor="end" font-size="10">${(100 * t).toFixed(digits)}%</text><line x1="54" x2="${width}" y1="${y(t)}" y2="${y(t)}" stroke="#d9dee5"/>`)
    .join("");
  const legend = METRICS.map(
    ([, color, label], k) => `<rect x="${60 + k * 110}" y="0" width="10" height="10" fill="${color}"/><text x="${74 + k * 110}" y="9" font-size="11">${label}</text>`,
  ).join("");
  const note = lo > 0 ? `<text x="54" y="${height + 56}" font-size="10" fill="#5c6878">The axis starts at ${(100 * lo).toFixed(digits)} %, not 0.</text>` : "";
  const summary = rows.map((r) => `${r.model_name}: accuracy ${pct(r.accuracy, 2)}, macro-F1 ${pct(r.macro_f1, 2)}`).join("; ");
  return raw(
    `<svg role="img" aria-label="${escape(`Accuracy and macro-F1 per model. ${summary}`)}" width="${width}" height="${height + 62}" viewBox="0 0 ${width} ${height + 62}">${legend}${axis}${bars}${note}</svg>`,
  );
}

function heatmap(datasetId, modelId, modelName, confusion) {
  const { class_names: names, matrix } = confusion;
  const max = Math.max(1, ...matrix.flat());
  const link = (params) => `#/datasets/${encodeURIComponent(datasetId)}?${new URLSearchParams({ ...params, model: modelId })}`;
  return html`<figure class="card"><figcaption><strong>${modelName}</strong>: true class (rows) × predicted (columns); a cell opens its items</figcaption>
    <table class="heatmap" aria-label="${`Confusion matrix of ${modelName}`}"><thead><tr><th scope="col"><span class="sr">true \\ predicted</span></th>
      ${names.map((n) => html`<th scope="col">${n}</th>`)}</tr></thead><tbody>
      ${matrix.map(
        (row, i) => html`<tr><th scope="row">${names[i]}</th>${row.map((v, j) => {
          const a = v / max;
          const color = i === j ? `rgba(30,123,60,${0.1 + 0.9 * a})` : `rgba(179,38,30,${a ? 0.15 + 0.85 * a : 0})`;
          const style = `background:${color};color:${a > 0.55 ? "#fff" : "inherit"}`;
          return v
            ? html`<td class="cell-link" style="${style}"><a href="${link({ label: names[i], predicted: names[j] })}"
                aria-label="${`${v} items labelled ${names[i]} that ${modelName} predicts ${names[j]}`}">${v}</a></td>`
            : html`<td style="${style}"></td>`;
        })}</tr>`,
      )}</tbody></table></figure>`;
}

// Precision, recall and F1 per class from a confusion matrix, as the engine computes them.
export function perClass(confusion) {
  const { class_names: names, matrix } = confusion;
  return Object.fromEntries(
    names.map((name, i) => {
      const tp = matrix[i][i];
      const support = matrix[i].reduce((a, b) => a + b, 0);
      const predicted = matrix.reduce((a, row) => a + row[i], 0);
      const precision = predicted ? tp / predicted : 0;
      const recall = support ? tp / support : 0;
      return [name, { precision, recall, f1: support + predicted ? (2 * tp) / (support + predicted) : 0, support }];
    }),
  );
}

function perClassTable(rows, confusion) {
  const models = rows.filter((r) => confusion[r.model_id]);
  if (!models.length) return "";
  const tables = Object.fromEntries(models.map((r) => [r.model_id, r.per_class || perClass(confusion[r.model_id])]));
  const names = confusion[models[0].model_id].class_names;
  return html`<div class="scroll-x"><table id="per-class" aria-label="Precision and recall per class">
    <thead><tr><th scope="col" rowspan="2">Class</th><th scope="col" rowspan="2" class="num">Items</th>
      ${models.map((r) => html`<th scope="colgroup" colspan="3">${r.model_name}</th>`)}</tr>
      <tr>${models.map(() => html`<th scope="col" class="num">Precision</th><th scope="col" class="num">Recall</th><th scope="col" class="num">F1</th>`)}</tr></thead>
    <tbody>${names.map((name) => {
      const best = Math.max(...models.map((r) => tables[r.model_id][name]?.f1 ?? 0));
      return html`<tr><th scope="row">${name}</th><td class="num">${formatNumber(tables[models[0].model_id][name]?.support)}</td>
        ${models.map((r) => {
          const m = tables[r.model_id][name] || {};
          return html`<td class="num">${pct(m.precision)}</td><td class="num">${pct(m.recall)}</td>
            <td class="${`num${models.length > 1 && m.f1 === best ? " best" : ""}`}">${pct(m.f1)}</td>`;
        })}</tr>`;
    })}</tbody></table></div>`;
}

export async function render(root, { comparisonId }) {
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
            (r, i) => html`<tr><td>${i + 1}</td><td>${r.job_id ? html`<a href="${`#/jobs/${r.job_id}`}">${r.model_name}</a>` : r.model_name}</td>
              <td class="num">${pct(r.accuracy, 2)}</td><td class="num">${pct(r.macro_f1, 2)}</td>
              <td class="num">${r.items_per_second ? formatNumber(Math.round(r.items_per_second)) : ""}</td>
              <td class="num">${r.evaluated != null ? formatNumber(r.evaluated) : ""}</td><td class="${`status-${r.status}`}">${r.status}</td></tr>`,
          )}</tbody></table>
        ${done
          ? html`<h2>Accuracy and macro-F1</h2><div class="card scroll-x">${barChart(c.leaderboard)}</div>
            <h2>Confusion matrices</h2>
            <div class="charts">${Object.entries(c.confusion).map(([id, m]) => heatmap(c.dataset_id, id, names[id] ?? id, m))}</div>
            <h2>Precision and recall per class</h2>
            ${perClassTable(c.leaderboard, c.confusion)}
            <h2>Where the models disagree on labelled items (${formatNumber(c.disagreement_count)})</h2>
            ${c.disagreements.length
              ? html`<div class="gallery">${c.disagreements.map(
                  (d) => html`<a href="${`#/datasets/${c.dataset_id}/items/${d.item_id}`}">
                    ${thumbnail(d)}
                    <div>${d.filename ?? d.item_id}</div><div>label <strong>${d.label ?? "none"}</strong></div>
                    ${Object.entries(d.predictions).map(([m, p]) => html`<div><span class="swatch" style="${`background:${colorOf(p)}`}" aria-hidden="true"></span> ${names[m] ?? m}: ${p}</div>`)}
                  </a>`,
                )}</div>`
              : html`<p class="muted">The models agree on every labelled item.</p>`}`
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
