// Mapping: an input takes an earlier step's (or the trigger's) output. The picker lists the
// paths of that output, read from the output schema the manifest exports, and writes the
// reference the flow runner reads: {{ steps.<id>.data.<path> }}.

import { h, icon } from "./dom.js";
import { store } from "./store.js";

const MAX_DEPTH = 4;
const MAX_PATHS = 400;

function typeName(schema) {
  const type = Array.isArray(schema.type) ? schema.type.filter((t) => t !== "null")[0] : schema.type;
  if (type) return type;
  if (schema.properties) return "object";
  if (schema.items) return "array";
  return "";
}

/** The object branches of a schema merged (anyOf / oneOf / allOf), as one property map. */
function properties(schema) {
  const merged = { ...(schema.properties || {}) };
  for (const group of ["allOf", "anyOf", "oneOf"]) {
    for (const branch of schema[group] || []) Object.assign(merged, properties(branch));
  }
  return merged;
}

function itemsOf(schema) {
  if (schema.items) return schema.items;
  for (const group of ["anyOf", "oneOf", "allOf"]) {
    for (const branch of schema[group] || []) if (branch.items) return branch.items;
  }
  return null;
}

/** Every path of a schema: [{path, type, description}], lists by their first item (".0"). */
export function schemaPaths(schema, prefix, depth = 0, out = []) {
  if (!schema || out.length >= MAX_PATHS) return out;
  out.push({ path: prefix, type: typeName(schema), description: schema.description || "" });
  if (depth >= MAX_DEPTH) return out;
  const props = properties(schema);
  for (const [name, child] of Object.entries(props)) schemaPaths(child, `${prefix}.${name}`, depth + 1, out);
  const items = itemsOf(schema);
  if (items) schemaPaths(items, `${prefix}.0`, depth + 1, out);
  return out;
}

/** The sources an input of step number `index` may take: this run, the trigger, earlier steps. */
export function sourcesBefore(index) {
  const sources = [
    {
      title: "This run",
      entries: [
        { ref: "run.id", type: "string", description: "Unique to each run" },
        { ref: "run.started_at", type: "integer", description: "When the run started (unix seconds)" },
      ],
    },
  ];
  const trigger = store.flow.trigger && store.triggers.get(store.flow.trigger.key);
  if (trigger) {
    sources.push({
      title: `Trigger · ${trigger.label}`,
      entries: schemaPaths(trigger.output_schema, "trigger").slice(1).map((p) => ({ ...p, ref: p.path })),
    });
  }
  store.flow.steps.slice(0, index).forEach((step, number) => {
    const action = store.actions.get(step.action);
    const paths = schemaPaths(action.output_schema, `steps.${step.id}.data`);
    sources.push({
      title: `${number + 1} · ${action.label}`,
      subtitle: step.id,
      entries: paths.map((p) => ({ ...p, ref: p.path })),
    });
  });
  return sources;
}

let open = null;

export function closePicker() {
  if (open) {
    open.remove();
    open = null;
  }
}

/** Open the picker under `anchor`; `choose(reference)` gets "{{ ... }}". */
export function openPicker(anchor, index, choose) {
  closePicker();
  const search = h("input", {
    type: "search",
    class: "picker-search",
    placeholder: "Find a field, e.g. id or email",
    "aria-label": "Find a field",
  });
  const list = h("div", { class: "picker-list", role: "listbox" });
  const sources = sourcesBefore(index);
  const render = () => {
    const wanted = search.value.trim().toLowerCase();
    list.replaceChildren();
    let shown = 0;
    for (const source of sources) {
      const entries = source.entries.filter(
        (e) => !wanted || e.ref.toLowerCase().includes(wanted) || e.description.toLowerCase().includes(wanted),
      );
      if (!entries.length) continue;
      list.append(
        h("div", { class: "picker-group" }, source.title, source.subtitle ? h("code", {}, source.subtitle) : null),
      );
      for (const entry of entries) {
        shown += 1;
        const short = entry.ref.replace(/^steps\.[^.]+\./, "");
        list.append(
          h(
            "button",
            {
              type: "button",
              class: "picker-option",
              role: "option",
              dataset: { ref: entry.ref },
              title: entry.description,
              onclick: () => {
                closePicker();
                choose(`{{ ${entry.ref} }}`);
              },
            },
            h("span", { class: "picker-path" }, short),
            entry.type ? h("span", { class: "picker-type" }, entry.type) : null,
            entry.description ? h("span", { class: "picker-description" }, entry.description) : null,
          ),
        );
      }
    }
    if (!shown) list.append(h("p", { class: "muted" }, index === 0 && !store.flow.trigger
      ? "Nothing to map yet: this is the first step. Add steps before it to take their outputs."
      : "No field matches."));
  };
  search.addEventListener("input", render);
  arrowKeys(search, list);
  const popover = h(
    "div",
    { class: "popover picker", role: "dialog", "aria-label": "Take a value from an earlier output" },
    h("div", { class: "popover-head" }, icon("link"), h("strong", {}, "Take a value from"),
      h("button", { type: "button", class: "icon-button", "aria-label": "Close", onclick: closePicker }, icon("close"))),
    search,
    list,
  );
  popover.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      closePicker();
      anchor.focus();
    }
  });
  render();
  place(popover, anchor);
  open = popover;
  search.focus();
}

/** Arrow keys through a popover's options: Down from the search to the first, Up and Down
 * between them (Up from the first back to the search), Home and End; Enter picks. */
export function arrowKeys(search, list) {
  const options = () => [...list.querySelectorAll(".picker-option")];
  search.addEventListener("keydown", (event) => {
    const [first] = options();
    if (event.key === "ArrowDown" && first) {
      event.preventDefault();
      first.focus();
    }
  });
  list.addEventListener("keydown", (event) => {
    const all = options();
    const at = all.indexOf(document.activeElement);
    if (at < 0) return;
    const next = {
      ArrowDown: all[Math.min(at + 1, all.length - 1)],
      ArrowUp: at === 0 ? search : all[at - 1],
      Home: all[0],
      End: all[all.length - 1],
    }[event.key];
    if (next) {
      event.preventDefault();
      next.focus();
    }
  });
}

/** Put a popover under (or above, near the bottom) an anchor, inside the window. */
export function place(popover, anchor) {
  document.body.append(popover);
  const box = anchor.getBoundingClientRect();
  const width = Math.min(420, window.innerWidth - 24);
  popover.style.width = `${width}px`;
  const left = Math.max(12, Math.min(box.right - width, window.innerWidth - width - 12));
  popover.style.left = `${left + window.scrollX}px`;
  const below = window.innerHeight - box.bottom;
  if (below < 320 && box.top > below) {
    popover.style.top = `${box.top + window.scrollY - 6}px`;
    popover.style.transform = "translateY(-100%)";
  } else {
    popover.style.top = `${box.bottom + window.scrollY + 6}px`;
  }
}

document.addEventListener("pointerdown", (event) => {
  if (open && !open.contains(event.target) && !event.target.closest(".map-button")) closePicker();
});

/** How a reference reads: "1 · Create Contact › data.id". */
export function describeReference(ref) {
  const parts = ref.split(".");
  if (parts[0] === "steps") {
    const index = store.flow.steps.findIndex((s) => s.id === parts[1]);
    const step = store.flow.steps[index];
    const name = step ? `${index + 1} · ${store.actions.get(step.action).label}` : `step ${parts[1]} (missing)`;
    return [name, parts.slice(2).join(".")];
  }
  if (parts[0] === "trigger") return ["Trigger", parts.slice(1).join(".")];
  return ["This run", parts.slice(1).join(".")];
}
