// The palette: every action, trigger and data source of the manifest, grouped by the
// resource it acts on, searchable by label. Drag an action onto the canvas, or press Enter
// on it to add it at the end; drag a trigger onto the trigger slot.

import { h, icon } from "./dom.js";
import { draggable } from "./drag.js";
import { canvasTarget, select, triggerTarget } from "./canvas.js";
import { previewChoices } from "./fields.js";
import { addStep, setTrigger, store } from "./store.js";

export function renderPalette(element) {
  const manifest = store.manifest;
  const search = h("input", {
    id: "palette-search",
    type: "search",
    placeholder: "Search by label",
    "aria-label": "Search actions, triggers and data sources by label",
    autocomplete: "off",
  });
  const groups = h("div", { class: "palette-groups" });
  const none = h("p", { class: "muted palette-none", hidden: true }, "Nothing has that label.");
  const order = manifest.resources.map((r) => r.key);
  const labelOf = Object.fromEntries(manifest.resources.map((r) => [r.key, r.label]));
  const byGroup = new Map(order.map((key) => [key, []]));
  const other = [];
  const entries = [
    ...manifest.actions.map((a) => ({ kind: "action", item: a })),
    ...manifest.triggers.map((t) => ({ kind: "trigger", item: t })),
    ...manifest.data_sources.map((d) => ({ kind: "data_source", item: d })),
  ];
  for (const entry of entries) (byGroup.get(entry.item.resource) || other).push(entry);
  const rank = { trigger: 0, action: 1, data_source: 2 };
  const sections = [...byGroup.entries(), ["", other]]
    .filter(([, list]) => list.length)
    .map(([key, list]) => {
      list.sort((a, b) => rank[a.kind] - rank[b.kind] || a.item.label.localeCompare(b.item.label));
      const items = h("ul", { class: "palette-items" });
      for (const entry of list) items.append(h("li", {}, paletteItem(entry)));
      const title = key ? labelOf[key] : manifest.label;
      return h("section", { class: "palette-group", dataset: { resource: key } },
        h("h3", {}, title, h("span", { class: "count" }, String(list.length))),
        items,
      );
    });
  groups.append(...sections, none);
  // The items are one tab stop (a roving tabindex): Tab enters at the last one used, arrow
  // keys, Home and End move inside, Tab again leaves the palette.
  const visible = () => [...groups.querySelectorAll(".palette-item")].filter((i) => !i.closest("[hidden]"));
  const rove = (item) => {
    for (const other of groups.querySelectorAll(".palette-item")) other.tabIndex = other === item ? 0 : -1;
  };
  const keepReachable = () => {
    const current = groups.querySelector('.palette-item[tabindex="0"]');
    if (!current || current.closest("[hidden]")) rove(visible()[0] || null);
  };
  groups.addEventListener("focusin", (event) => {
    if (event.target.classList.contains("palette-item")) rove(event.target);
  });
  search.addEventListener("input", () => {
    const wanted = search.value.trim().toLowerCase();
    let shown = 0;
    for (const section of sections) {
      let inSection = 0;
      for (const item of section.querySelectorAll(".palette-item")) {
        const match = !wanted || item.dataset.label.toLowerCase().includes(wanted);
        item.parentElement.hidden = !match;
        inSection += match ? 1 : 0;
      }
      section.hidden = inSection === 0;
      shown += inSection;
    }
    none.hidden = shown > 0;
    keepReachable();
  });
  search.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown") {
      const [first] = visible();
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  });
  groups.addEventListener("keydown", (event) => {
    const items = visible();
    const at = items.indexOf(document.activeElement);
    if (at < 0) return;
    const next = {
      ArrowDown: items[at + 1],
      ArrowUp: at === 0 ? search : items[at - 1],
      Home: items[0],
      End: items[items.length - 1],
    }[event.key];
    if (!(event.key in { ArrowDown: 1, ArrowUp: 1, Home: 1, End: 1 })) return;
    event.preventDefault();
    if (next) next.focus();
  });
  groups.setAttribute("role", "group");
  groups.setAttribute("aria-label", "Actions, triggers and data sources (arrow keys move)");
  element.replaceChildren(
    h("div", { class: "palette-search" }, icon("search"), search),
    h("p", { class: "palette-hint" }, "Drag onto the canvas, or press Enter to add. Arrow keys move."),
    groups,
  );
  keepReachable();
}

function paletteItem({ kind, item }) {
  const badge = {
    action: h("span", { class: ["effect-dot", `effect-${item.effect}`], title: `Effect: ${item.effect}`, "aria-label": `effect ${item.effect}` }),
    trigger: h("span", { class: "badge kind" }, `trigger · ${item.kind}`),
    data_source: h("span", { class: "badge kind" }, "dropdown"),
  }[kind];
  const what = { action: "Add to the canvas", trigger: "Start the flow with this trigger", data_source: "Show its choices" }[kind];
  const button = h(
    "button",
    {
      type: "button",
      class: ["palette-item", `palette-${kind}`],
      title: `${item.description}\n${what}`,
      dataset: { kind, key: item.key, label: item.label },
    },
    h("span", { class: "item-icon" }, icon(kind === "trigger" ? "bolt" : kind === "data_source" ? "dropdown" : item.kind === "list" ? "list" : "plus")),
    h("span", { class: "item-label" }, item.label),
    badge,
  );
  button.addEventListener("click", () => {
    if (kind === "action") select(addStep(item.key).id);
    else if (kind === "trigger") {
      setTrigger(item.key);
      select("trigger");
    }
    else previewChoices(button, item);
  });
  if (kind !== "data_source") {
    draggable(button, {
      label: () => item.label,
      payload: () => ({ kind, key: item.key }),
      targets: kind === "action" ? [canvasTarget] : [triggerTarget],
    });
  }
  return button;
}
