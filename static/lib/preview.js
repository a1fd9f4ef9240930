// An item's thumbnail, or a placeholder that says why there is none (the API's `preview_note`:
// "not an image", "too large for a thumbnail", "thumbnail on its way"...), never a blank tile.

import { html } from "./html.js";

export function thumbnail(item, { alt = "", lazy = false } = {}) {
  if (item?.thumbnail_url) {
    return html`<img src="${item.thumbnail_url}" alt="${alt}" decoding="async" ${lazy ? html`loading="lazy"` : ""}>`;
  }
  return html`<span class="placeholder"><span class="note">${item?.preview_note || "no preview"}</span></span>`;
}
