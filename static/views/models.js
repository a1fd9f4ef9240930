// Models: register an ONNX classifier with its preprocessing (the file goes to storage with a
// progress bar), and the list with each model's state.

import { all, api } from "../lib/api.js";
import { formatBytes, html, mount } from "../lib/html.js";
import { toStorage } from "../lib/upload.js";

const EXAMPLE_INPUT = { width: 8, height: 8, channels: 1, scale: 0.0627, mean: [0], std: [1], layout: "flat", resample: "box" };

export async function render(root, params, ctx) {
  const models = await all("/models");
  mount(
    root,
    html`<h1>Models</h1>
      ${ctx.can("editor")
        ? html`<form class="card" id="register"><h2>Register a model</h2>
            <div class="row">
              <label>ONNX file <input type="file" name="file" accept=".onnx" required></label>
              <label>Name <input name="name" required maxlength="128"></label>
              <label>Class names (comma-separated, in output order) <input name="classes" required size="40"></label>
            </div>
            <label>Preprocessing (JSON: width, height, channels, scale, mean, std, layout, resample)
              <textarea name="input" rows="3" cols="90" spellcheck="false">${JSON.stringify(EXAMPLE_INPUT)}</textarea></label>
            <div class="row"><button class="primary" type="submit">Upload and register</button>
              <progress id="model-progress" max="100" value="0" hidden aria-label="Model upload">0%</progress>
              <span id="model-state" aria-live="polite"></span></div>
          </form>`
        : ""}
      ${models.length
        ? html`<table><thead><tr><th>Name</th><th>Classes</th><th>Input</th><th class="num">Size</th><th>State</th>
            ${ctx.can("editor") ? html`<th><span class="sr">Actions</span></th>` : ""}</tr></thead><tbody>
            ${models.map(
              (m) => html`<tr><td>${m.name}<div class="muted">${m.created_by}</div></td>
                <td>${m.class_names.join(", ")}</td>
                <td>${m.input.width}×${m.input.height}×${m.input.channels} ${m.input.layout}</td>
                <td class="num">${formatBytes(m.size)}</td>
                <td class="${m.status === "available" ? "ok" : m.status === "invalid" ? "error" : ""}">${m.status}
                  ${m.errors?.length ? html`<div class="error">${m.errors.join("; ")}</div>` : ""}</td>
                ${ctx.can("editor") ? html`<td><button class="danger" type="button" data-delete="${m.id}" data-name="${m.name}">Delete</button></td>` : ""}
              </tr>`,
            )}</tbody></table>`
        : html`<p class="muted">No models yet.</p>`}`,
  );
  const form = root.querySelector("#register");
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = form.file.files[0];
    const bar = root.querySelector("#model-progress");
    const note = root.querySelector("#model-state");
    let input;
    try {
      input = JSON.parse(form.input.value);
    } catch {
      note.textContent = "The preprocessing is not valid JSON.";
      note.className = "error";
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    bar.hidden = false;
    note.className = "";
    note.textContent = "uploading";
    try {
      const { model, upload } = await api("/models", {
        method: "POST",
        body: {
          name: form.name.value.trim(),
          class_names: form.classes.value.split(",").map((s) => s.trim()).filter(Boolean),
          input,
          size: file.size,
        },
      });
      const body = await toStorage(upload, file, (f) => {
        bar.value = Math.round(f * 100);
      });
      note.textContent = "checking the model";
      await api(`/models/${model.id}/complete`, { method: "POST", body });
      ctx.toast(`Model “${model.name}” is available`);
      render(root, params, ctx);
    } catch (error) {
      note.textContent = `Not registered: ${error.message}`;
      note.className = "error";
      button.disabled = false;
    }
  });
  for (const button of root.querySelectorAll("[data-delete]")) {
    button.addEventListener("click", async () => {
      if (!confirm(`Delete the model “${button.dataset.name}”?`)) return;
      try {
        await api(`/models/${button.dataset.delete}`, { method: "DELETE" });
        render(root, params, ctx);
      } catch (error) {
        ctx.toast(error.message, "error");
      }
    });
  }
}
