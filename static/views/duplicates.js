// Near-duplicates of a dataset: an editor starts a pass at a similarity threshold; its progress shows
// while it runs; then each group's items side by side. Per group, the items to keep are ticked (the
// first by default); the others are its extras, which an editor deletes and a labeler tags in bulk,
// each failure named. A viewer sees the groups only. The pass's id stays in the address.

import { api, query } from "../lib/api.js";
import { colorOf } from "../lib/colors.js";
import { formatNumber, html, mount } from "../lib/html.js";
import { thumbnail } from "../lib/preview.js";
import { embeddingOptions, embeddingsOf, similarityText } from "../lib/similar.js";

const REFRESH_MS = 1000;
const GROUPS_PAGE = 20;
const BULK_CHUNK = 1000; // the API's most per request
const PARALLEL_READS = 6;
const ACTIVE = new Set(["queued", "running"]);
const STORED = "edna.duplicates.";

// The last pass opened per dataset, so coming back shows it (this tab only; storage may refuse).
function stored(datasetId, id) {
  try {
    if (id === undefined) return sessionStorage.getItem(STORED + datasetId) || "";
    if (id) sessionStorage.setItem(STORED + datasetId, id);
    else sessionStorage.removeItem(STORED + datasetId);
  } catch {
    // private mode or full storage: the address still names the pass
  }
  return id ?? "";
}

const extrasText = (n) => `${formatNumber(n)} ${n === 1 ? "extra" : "extras"}`;

// Each id's item (those deleted meanwhile left out), a few requests at a time.
async function readItems(datasetId, ids, known) {
  const queue = ids.filter((id) => !known.has(id));
  async function worker() {
    for (let id = queue.shift(); id; id = queue.shift()) {
      try {
        known.set(id, await api(`/datasets/${datasetId}/items/${id}`));
      } catch (error) {
        if (error.status !== 404) throw error;
        known.set(id, null);
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, queue.length) }, worker));
}

export async function render(root, { datasetId, query: asked = {} }, ctx) {
  const [dataset, sets] = await Promise.all([api(`/datasets/${datasetId}`), embeddingsOf(datasetId)]);
  const classes = dataset.label_classes || [];
  const canDelete = ctx.can("editor");
  const canTag = ctx.can("labeler");
  const state = { groups: [], cursor: null, items: new Map(), keep: new Map(), timer: 0, stopped: false };
  let runId = asked.run || stored(datasetId);

  mount(
    root,
    html`<p><a href="${`#/datasets/${datasetId}`}">← ${dataset.name}</a></p>
      <h1>Near-duplicates in “${dataset.name}”</h1>
      ${!sets.length
        ? html`<p class="muted">Near-duplicates are found by an embedding model: run one over this dataset (Jobs), then come back.</p>`
        : canDelete
          ? html`<form class="row card" id="dup-form">
              ${sets.length > 1 ? html`<label>Embedding model <select name="model">${embeddingOptions(sets, sets[0].model_id)}</select></label>` : ""}
              <label>Similarity at least <input type="number" name="threshold" min="0.8" max="1" step="0.005" value="0.95"
                inputmode="decimal" aria-describedby="dup-threshold-hint"></label>
              <button class="primary" type="submit">Find near-duplicates</button>
              <p class="muted" id="dup-threshold-hint">From 0.8 to 1: 1 finds exact copies only, lower finds looser look-alikes.</p>
            </form>`
          : html`<p class="muted">An editor starts a pass; its groups show here.</p>`}
      <div id="dup-run" aria-live="polite"></div>
      <div class="row" id="dup-actions" hidden>
        ${canTag
          ? html`<label>Tag name <input id="tag-key" value="duplicate" maxlength="128"></label>
              <label>Tag value <input id="tag-value" value="yes" maxlength="256"></label>
              <button type="button" id="tag-extras">Tag extras</button>`
          : ""}
        ${canDelete ? html`<button type="button" class="danger" id="delete-extras">Delete extras</button>` : ""}
      </div>
      <div id="dup-outcome" role="status"></div>
      <div id="dup-groups"></div>
      <button type="button" id="dup-more" hidden>Show more groups</button>`,
  );
  const $ = (selector) => root.querySelector(selector);
  const runBox = $("#dup-run");
  const groupsBox = $("#dup-groups");
  const outcome = $("#dup-outcome");

  // The extras: every shown item that is not ticked to keep.
  function extras() {
    const out = [];
    state.groups.forEach((group, g) => {
      for (const id of group.item_ids) if (!state.keep.get(g).has(id)) out.push(id);
    });
    return out;
  }

  function showActions() {
    const n = extras().length;
    $("#dup-actions").hidden = !state.groups.length || !(canDelete || canTag);
    const del = $("#delete-extras");
    const tag = $("#tag-extras");
    if (del) {
      del.textContent = `Delete ${extrasText(n)}`;
      del.disabled = !n;
    }
    if (tag) {
      tag.textContent = `Tag ${extrasText(n)}`;
      tag.disabled = !n;
    }
  }

  function groupView(group, g) {
    const keep = state.keep.get(g);
    return html`<section class="dup-group" aria-label="${`Group ${g + 1}: ${group.item_ids.length} items`}" data-group="${g}">
      <h2>Group ${g + 1} <span class="muted">· ${group.item_ids.length} items · at least ${similarityText(group.similarity)} similar</span></h2>
      <ul class="dup-items">${group.item_ids.map((id) => {
        const item = state.items.get(id);
        const kept = keep.has(id);
        return html`<li class="${kept ? "" : "extra"}" data-id="${id}">
          <a href="${`#/datasets/${datasetId}/items/${id}`}">
            ${thumbnail(item, { alt: item?.filename })}
            <span class="caption">${item?.filename ?? id}</span></a>
          <span class="caption" style="${`color:${item?.label ? colorOf(item.label, classes) : "var(--muted)"}`}">${item?.label ?? "unlabelled"}</span>
          ${canDelete || canTag
            ? html`<label class="inline"><input type="checkbox" data-keep="${id}" ${kept ? "checked" : ""}> Keep</label>`
            : ""}
        </li>`;
      })}</ul></section>`;
  }

  function showGroups() {
    mount(groupsBox, state.groups.map(groupView));
    $("#dup-more").hidden = !state.cursor;
    showActions();
  }

  // A page of groups, with their items read; groups whose items are gone (but one) drop out.
  async function addGroups(groups) {
    await readItems(datasetId, groups.flatMap((g) => g.item_ids), state.items);
    for (const group of groups) {
      const live = group.item_ids.filter((id) => state.items.get(id));
      if (live.length < 2) continue;
      state.keep.set(state.groups.length, new Set([live[0]]));
      state.groups.push({ ...group, item_ids: live });
    }
  }

  function showRun(run) {
    const { done = 0, total = 0 } = run.progress || {};
    const percent = total ? Math.round((100 * done) / total) : 0;
    mount(
      runBox,
      html`<p id="dup-status"><span class="${`status-${run.status}`}">${run.status}</span>
        ${ACTIVE.has(run.status) ? html` · ${formatNumber(done)} of ${formatNumber(total)} items` : ""}
        ${run.status === "succeeded" ? html` · ${formatNumber(run.group_count)} groups at similarity ≥ ${run.threshold}` : ""}</p>
        ${ACTIVE.has(run.status) ? html`<progress id="dup-progress" max="100" value="${percent}" aria-label="Pass progress">${percent}%</progress>` : ""}
        ${run.error ? html`<p class="error" role="alert">${run.error}</p>` : ""}
        ${run.status === "succeeded" && !run.group_count ? html`<p class="muted">No near-duplicates at this threshold.</p>` : ""}`,
    );
  }

  async function follow() {
    if (state.stopped || !runId) return;
    let page;
    try {
      page = await api(`/datasets/${datasetId}/duplicates/${runId}${query({ limit: GROUPS_PAGE })}`);
    } catch (error) {
      if (error.status === 404 && !asked.run) {
        stored(datasetId, ""); // remembered from an earlier visit, and gone since: nothing to show
        history.replaceState(null, "", `#/datasets/${datasetId}/duplicates`);
        return;
      }
      mount(runBox, html`<p class="error" role="alert">${error.message}</p>`);
      return;
    }
    if (state.stopped || page.id !== runId) return;
    showRun(page);
    if (ACTIVE.has(page.status)) {
      state.timer = setTimeout(follow, REFRESH_MS);
      return;
    }
    Object.assign(state, { groups: [], keep: new Map(), cursor: page.next_cursor });
    try {
      await addGroups(page.groups);
    } catch (error) {
      ctx.toast(error.message, "error");
    }
    showGroups();
  }

  function open(id) {
    clearTimeout(state.timer);
    runId = stored(datasetId, id);
    history.replaceState(null, "", `#/datasets/${datasetId}/duplicates?run=${encodeURIComponent(id)}`);
    Object.assign(state, { groups: [], keep: new Map(), cursor: null });
    outcome.replaceChildren();
    showGroups();
    follow();
  }

  $("#dup-form")?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const threshold = Number(form.threshold.value);
    if (!(threshold >= 0.8 && threshold <= 1)) {
      mount(runBox, html`<p class="error" role="alert">The threshold is a similarity from 0.8 to 1.</p>`);
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const run = await api(`/datasets/${datasetId}/duplicates`, {
        method: "POST",
        body: { threshold, ...(form.model ? { model_id: form.model.value } : {}) },
      });
      open(run.id);
    } catch (error) {
      mount(runBox, html`<p class="error" role="alert">${error.message}</p>`);
    } finally {
      button.disabled = false;
    }
  });

  $("#dup-more").addEventListener("click", async () => {
    try {
      const page = await api(`/datasets/${datasetId}/duplicates/${runId}${query({ limit: GROUPS_PAGE, cursor: state.cursor })}`);
      state.cursor = page.next_cursor;
      await addGroups(page.groups);
    } catch (error) {
      ctx.toast(error.message, "error");
    }
    showGroups();
  });

  groupsBox.addEventListener("change", (event) => {
    const id = event.target.dataset.keep;
    if (!id) return;
    const keep = state.keep.get(Number(event.target.closest("[data-group]").dataset.group));
    if (event.target.checked) keep.add(id);
    else keep.delete(id);
    event.target.closest("li").classList.toggle("extra", !event.target.checked);
    showActions();
  });

  // One bulk route over the extras, a chunk at a time; each entry's own failure is listed by name.
  // Resolves with the ids no longer in the dataset's way: done, or (for a delete) already gone.
  async function bulk(route, body, verb) {
    const ids = extras();
    const failed = [];
    let ok = 0;
    for (let i = 0; i < ids.length; i += BULK_CHUNK) {
      try {
        const answer = await api(`/datasets/${datasetId}/bulk/${route}`, { method: "POST", body: { ...body, item_ids: ids.slice(i, i + BULK_CHUNK) } });
        for (const r of answer.results) {
          if (r.status < 300) ok += 1;
          else failed.push(r);
        }
      } catch (error) {
        failed.push(...ids.slice(i).map((item_id) => ({ item_id, error: error.message })));
        break;
      }
    }
    const name = (id) => state.items.get(id)?.filename ?? id;
    mount(
      outcome,
      html`<p class="${failed.length ? "error" : "ok"}">${extrasText(ok)} ${verb}${failed.length ? `; ${formatNumber(failed.length)} failed:` : "."}</p>
        ${failed.length ? html`<ul class="dup-failures">${failed.map((r) => html`<li>${name(r.item_id)}: ${r.error}</li>`)}</ul>` : ""}`,
    );
    const stuck = new Set(failed.filter((r) => !(route === "delete" && r.status === 404)).map((r) => r.item_id));
    return new Set(ids.filter((id) => !stuck.has(id)));
  }

  $("#delete-extras")?.addEventListener("click", async (event) => {
    const n = extras().length;
    const groups = state.groups.length;
    if (!confirm(`Delete ${extrasText(n)} of ${groups} ${groups === 1 ? "group" : "groups"}? This cannot be undone.`)) return;
    event.target.disabled = true;
    const gone = await bulk("delete", {}, "deleted");
    for (const id of gone) state.items.set(id, null);
    // A group left with one item is resolved; the others keep what was ticked.
    const before = state.groups.map((group, g) => [group, state.keep.get(g)]);
    Object.assign(state, { groups: [], keep: new Map() });
    for (const [group, keep] of before) {
      const live = group.item_ids.filter((id) => state.items.get(id));
      if (live.length < 2) continue;
      const kept = new Set(live.filter((id) => keep.has(id)));
      state.keep.set(state.groups.length, kept.size ? kept : new Set([live[0]]));
      state.groups.push({ ...group, item_ids: live });
    }
    showGroups();
  });

  $("#tag-extras")?.addEventListener("click", async (event) => {
    const key = $("#tag-key").value.trim();
    if (!key) {
      mount(outcome, html`<p class="error">Name the tag first.</p>`);
      return;
    }
    event.target.disabled = true;
    await bulk("tags", { tags: { [key]: $("#tag-value").value } }, `tagged ${key}=${$("#tag-value").value}`);
    showActions();
  });

  if (runId) open(runId);
  return () => {
    state.stopped = true;
    clearTimeout(state.timer);
  };
}
