// A collapsible JSON tree, and the same value as text to copy.

import { h } from "./dom.js";

const SHOWN_ITEMS = 100;

export function jsonTree(value, depth = 0, name = null) {
  const key = name === null ? null : h("span", { class: "json-key" }, `${name}: `);
  if (value === null || typeof value !== "object") {
    return h("div", { class: "json-line" }, key, scalar(value));
  }
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  const summary = Array.isArray(value)
    ? `[${entries.length} ${entries.length === 1 ? "item" : "items"}]`
    : `{${entries.length} ${entries.length === 1 ? "field" : "fields"}}`;
  const details = h("details", { class: "json-node", open: depth < 2 });
  details.append(h("summary", {}, key, h("span", { class: "json-summary" }, summary)));
  const body = h("div", { class: "json-children" });
  // children are built when first opened: a Fetch All of thousands of records stays quick
  const build = () => {
    if (body.childElementCount) return;
    for (const [childKey, child] of entries.slice(0, SHOWN_ITEMS)) {
      body.append(jsonTree(child, depth + 1, childKey));
    }
    if (entries.length > SHOWN_ITEMS) {
      body.append(h("div", { class: "json-more" }, `… ${entries.length - SHOWN_ITEMS} more (see JSON)`));
    }
  };
  if (details.open) build();
  details.addEventListener("toggle", build);
  details.append(body);
  return details;
}

function scalar(value) {
  if (value === null) return h("span", { class: "json-null" }, "null");
  if (typeof value === "string") return h("span", { class: "json-string" }, JSON.stringify(value));
  if (typeof value === "number") return h("span", { class: "json-number" }, String(value));
  return h("span", { class: "json-boolean" }, String(value));
}

/** An output panel: the tree, or the JSON text (toggle), collapsible as a whole. */
export function outputPanel(value, heading) {
  let raw = null;
  const tree = h("div", { class: "output-tree" }, jsonTree(value));
  const body = h("div", { class: "output-body" }, tree);
  const toggle = h("button", { type: "button", class: "link-button output-toggle" }, "JSON");
  toggle.addEventListener("click", (event) => {
    event.preventDefault(); // the button sits in the summary: do not fold the panel
    if (!raw) raw = h("pre", { class: "raw" }, JSON.stringify(value, null, 2));
    const showingRaw = body.firstChild === raw;
    body.replaceChildren(showingRaw ? tree : raw);
    toggle.textContent = showingRaw ? "JSON" : "Tree";
  });
  const panel = h("details", { class: "output", open: true });
  panel.append(h("summary", {}, heading, toggle), body);
  return panel;
}
