// One form field per manifest input: its label, comments as help, default, required mark,
// and the widget its type calls for. Any input can instead take an earlier output (mapping).

import { api } from "./api.js";
import { debounce, fill, h, icon } from "./dom.js";
import { arrowKeys, closePicker, describeReference, openPicker, place } from "./mapping.js";
import { REFERENCE, setInput, store } from "./store.js";

/** labels of data source choices seen, by data source and connection: "VIP" for "102" */
const choiceLabels = new Map();

function defaultText(spec) {
  if (!("default" in spec)) return null;
  const value = spec.default;
  if (spec.options && spec.options.length) {
    const option = spec.options.find((o) => o.value === value);
    if (option && option.label !== option.value) return `${option.label} (${value})`;
  }
  return typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * The field of input `spec` of `owner` (a step, the trigger or a connection form: {inputs}):
 * the one form renderer of the designer, for every input the manifest declares. Its label,
 * type, secrecy, help, default and required mark all come from `spec`.
 * ctx: {ownerId, index: the step's position (what it may map from), mappable (default
 * true: a Map button), changed(): after every edit}
 */
export function field(owner, spec, ctx) {
  const id = `in-${ctx.ownerId}-${spec.key}`;
  const mappable = ctx.mappable !== false;
  const wrapper = h("div", {
    class: ["field", `field-${spec.type}`, spec.required && "required"],
    dataset: { input: spec.key },
  });
  const render = () => {
    const value = owner.inputs[spec.key];
    const reference = mappable && typeof value === "string" ? value.match(REFERENCE) : null;
    const label = h(
      "label",
      { class: "field-label", for: id, id: `${id}-label` },
      spec.label,
      spec.required ? h("span", { class: "required-mark", title: "Required", "aria-hidden": "true" }, " *") : null,
      spec.unit ? h("span", { class: "unit" }, ` (${spec.unit})`) : null,
    );
    const mapButton = mappable ? h(
      "button",
      {
        type: "button",
        class: "map-button",
        title: "Take the value from an earlier step's output",
        "aria-label": `Map ${spec.label} from an earlier output`,
        "aria-haspopup": "listbox",
        onclick: (event) => {
          openPicker(event.currentTarget, ctx.index, (ref) => {
            setInput(owner, spec.key, ref);
            rerender();
            wrapper.querySelector(".map-button").focus(); // back on the field picked for
          });
        },
      },
      icon("link"),
      "Map",
    ) : null;
    const widget = reference ? mappedChip(reference[1], owner, spec, rerender) : control(owner, spec, id, ctx);
    const shownDefault = defaultText(spec);
    const help = spec.comments ? h("p", { class: "help", id: `${id}-help`, title: spec.comments }, spec.comments) : null;
    fill(wrapper,
      h("div", { class: "field-head" },
        label,
        h("span", { class: "field-extras" },
          shownDefault !== null ? h("span", { class: "default" }, "default ", h("code", {}, shownDefault)) : null,
          mapButton)),
      widget,
      help,
      h("div", { class: "field-problems", id: `${id}-problems`, "aria-live": "polite" }),
    );
    // Help and problems are read with each control of the field; required is announced.
    const hints = [...wrapper.querySelectorAll(".code-hint")].map((e) => e.id);
    const described = [help && help.id, ...hints, `${id}-problems`].filter(Boolean).join(" ");
    for (const element of controlsOf(wrapper)) {
      element.setAttribute("aria-describedby", described);
      if (spec.required) element.setAttribute("aria-required", "true");
    }
  };
  const rerender = () => {
    render();
    ctx.changed();
  };
  render();
  return wrapper;
}

/** The controls a person types or picks a field's value with (not its buttons). */
function controlsOf(wrapper) {
  return [...wrapper.querySelectorAll("input, select, textarea")].filter((e) => !e.closest(".popover"));
}

/** Show the problems `texts` (or none) at a field, and mark its controls invalid. */
export function showProblems(wrapper, texts) {
  const box = wrapper.querySelector(".field-problems");
  const invalid = Boolean(texts && texts.length);
  wrapper.classList.toggle("has-problem", invalid);
  box.replaceChildren(...(texts || []).map((t) => h("p", { class: "problem" }, t)));
  const marked = controlsOf(wrapper);
  // a mapped value has no control: its chip's button carries the mark
  if (!marked.length) marked.push(...wrapper.querySelectorAll(".unmap"));
  for (const element of marked) {
    if (invalid) element.setAttribute("aria-invalid", "true");
    else element.removeAttribute("aria-invalid");
  }
}

function mappedChip(ref, owner, spec, rerender) {
  const [source, path] = describeReference(ref);
  return h(
    "div",
    { class: "mapped", title: `{{ ${ref} }}` },
    icon("link"),
    h("span", { class: "mapped-source" }, source),
    path ? h("span", { class: "mapped-path" }, path) : null,
    h(
      "button",
      {
        type: "button",
        class: "icon-button unmap",
        "aria-label": `Stop mapping ${spec.label}`,
        onclick: () => {
          setInput(owner, spec.key, undefined);
          rerender();
        },
      },
      icon("close"),
    ),
  );
}

function control(owner, spec, id, ctx) {
  const value = owner.inputs[spec.key];
  const set = (v) => {
    setInput(owner, spec.key, v);
    ctx.changed();
  };
  if (spec.secret) {
    return h("input", { id, type: "password", autocomplete: "new-password", value: value ?? "", oninput: (e) => set(e.target.value) });
  }
  switch (spec.type) {
    case "select":
      return selectControl(spec, id, value, set);
    case "boolean":
      return booleanControl(spec, id, value, set);
    case "integer":
    case "number":
      return numberControl(spec, id, value, set);
    case "timestamp":
      return timestampControl(spec, id, value, set);
    case "code":
      return codeControl(spec, id, value, set);
    case "key_value_list":
      return keyValueControl(spec, id, value, set);
    case "value_list":
      return valueListControl(spec, id, value, set);
    case "text":
      return h("textarea", { id, rows: 3, value: value ?? "", oninput: (e) => set(e.target.value) });
    default:
      if (spec.data_source) return dataSourceControl(spec, id, value, set);
      return h("input", {
        id,
        type: "text",
        value: value ?? "",
        placeholder: spec.example ? `e.g. ${spec.example}` : "",
        oninput: (e) => set(e.target.value),
      });
  }
}

function selectControl(spec, id, value, set) {
  const select = h("select", { id, onchange: (e) => set(e.target.value) });
  const unset = "default" in spec ? `Default (${defaultText(spec)})` : spec.required ? "Choose…" : "Not set";
  select.append(h("option", { value: "" }, unset));
  for (const option of spec.options) {
    select.append(h("option", { value: option.value }, option.label === option.value ? option.value : `${option.label}`));
  }
  select.value = value ?? "";
  return select;
}

function booleanControl(spec, id, value, set) {
  const select = h("select", {
    id,
    onchange: (e) => set(e.target.value === "" ? undefined : e.target.value === "true"),
  });
  const unset = "default" in spec ? `Default (${spec.default ? "yes" : "no"})` : "Not set";
  select.append(h("option", { value: "" }, unset), h("option", { value: "true" }, "Yes (true)"), h("option", { value: "false" }, "No (false)"));
  select.value = value === true ? "true" : value === false ? "false" : "";
  return select;
}

function numberControl(spec, id, value, set) {
  const schema = spec.schema || {};
  const bounds = [];
  if (schema.minimum !== undefined) bounds.push(`from ${schema.minimum.toLocaleString()}`);
  if (schema.maximum !== undefined) bounds.push(`to ${schema.maximum.toLocaleString()}`);
  const input = h("input", {
    id,
    type: "number",
    inputmode: spec.type === "integer" ? "numeric" : "decimal",
    step: spec.type === "integer" ? "1" : "any",
    min: schema.minimum,
    max: schema.maximum,
    placeholder: "default" in spec ? String(spec.default) : "",
    value: value ?? "",
    oninput: (e) => {
      const text = e.target.value;
      set(text === "" ? undefined : Number(text));
    },
  });
  return h("div", { class: "with-suffix" }, input, bounds.length ? h("span", { class: "suffix" }, bounds.join(" ")) : null);
}

function pad(n) {
  return String(n).padStart(2, "0");
}

function localInputValue(seconds) {
  const d = new Date(seconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function zone() {
  const minutes = -new Date().getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  return `UTC${sign}${pad(Math.floor(Math.abs(minutes) / 60))}:${pad(Math.abs(minutes) % 60)}`;
}

function timestampControl(spec, id, value, set) {
  let seconds = null;
  if (typeof value === "number") seconds = value;
  else if (typeof value === "string" && value.trim()) {
    const parsed = /^\d+$/.test(value.trim()) ? Number(value) * 1000 : Date.parse(value);
    if (!Number.isNaN(parsed)) seconds = Math.floor(parsed / 1000);
  }
  const shown = h("span", { class: "suffix timestamp-seconds" });
  const show = (s) => (shown.textContent = s === null ? `your local time (${zone()})` : `${s} unix seconds (${zone()})`);
  const input = h("input", {
    id,
    type: "datetime-local",
    step: "1",
    value: seconds === null ? "" : localInputValue(seconds),
  });
  input.addEventListener("input", () => {
    if (!input.value) {
      show(null);
      set(undefined);
      return;
    }
    const ms = new Date(input.value).getTime(); // a datetime-local value is local time
    const s = Number.isNaN(ms) ? null : Math.floor(ms / 1000);
    show(s);
    set(s === null ? input.value : s);
  });
  show(seconds);
  return h("div", { class: "with-suffix" }, input, shown);
}

function codeControl(spec, id, value, set) {
  const text = value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value, null, 2);
  const status = h("span", { class: "code-status" });
  const area = h("textarea", {
    id,
    class: "code",
    rows: Math.min(10, Math.max(3, text.split("\n").length + 1)),
    spellcheck: "false",
    placeholder: spec.example || "{ }",
    value: text,
  });
  const check = () => {
    const current = area.value;
    if (!current.trim()) {
      status.textContent = "";
      status.className = "code-status";
      set(undefined);
      return;
    }
    try {
      const parsed = JSON.parse(current);
      status.textContent = "Valid JSON";
      status.className = "code-status ok";
      set(parsed);
    } catch (error) {
      status.textContent = jsonError(error, current);
      status.className = "code-status bad";
      set(current); // kept as typed: the check before a run names it
    }
  };
  area.addEventListener("input", check);
  // Tab indents here, as in a code editor; Esc first lets the next Tab move on (the hint
  // under the editor says so), and Shift+Tab always moves back.
  let leaving = false;
  const hint = h("span", { class: "code-hint", id: `${id}-keys` }, "Tab indents · Esc, then Tab, moves on");
  area.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      leaving = true;
      hint.classList.add("armed");
      return;
    }
    if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !leaving) {
      event.preventDefault();
      area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
      check();
    }
    if (event.key !== "Tab") {
      leaving = false;
      hint.classList.remove("armed");
    }
  });
  area.addEventListener("blur", () => {
    leaving = false;
    hint.classList.remove("armed");
  });
  const format = h("button", {
    type: "button",
    class: "link-button",
    "aria-label": `Format ${spec.label}`,
    onclick: () => {
      try {
        area.value = JSON.stringify(JSON.parse(area.value), null, 2);
        check();
      } catch (error) {
        check();
      }
    },
  }, "Format");
  if (text) queueMicrotask(() => {
    try {
      JSON.parse(text);
      status.textContent = "Valid JSON";
      status.className = "code-status ok";
    } catch (error) {
      status.textContent = jsonError(error, text);
      status.className = "code-status bad";
    }
  });
  return h("div", { class: "code-editor" }, area, h("div", { class: "code-bar" }, status, hint, format));
}

function jsonError(error, text) {
  const match = /position (\d+)/.exec(error.message);
  if (!match) return `Not valid JSON: ${error.message}`;
  const before = text.slice(0, Number(match[1]));
  const line = before.split("\n").length;
  const column = before.length - before.lastIndexOf("\n");
  return `Not valid JSON at line ${line}, column ${column}: ${error.message.replace(/ in JSON at position \d+.*$/, "").replace(/ \(line \d+ column \d+\)$/, "")}`;
}

function keyValueControl(spec, id, value, set) {
  const rows = Array.isArray(value) ? value.map((p) => ({ key: p.key ?? "", value: p.value ?? "" })) : [];
  if (!rows.length) rows.push({ key: "", value: "" });
  const list = h("div", { class: "kv-list", id });
  // an empty row is not a value: it stays on screen, and out of the flow, until filled in
  const commit = () => {
    const kept = rows.filter((r) => r.key !== "" || r.value !== "");
    set(kept.length ? kept.map((r) => ({ key: r.key, value: r.value })) : undefined);
  };
  const draw = (focusLast = false) => {
    list.replaceChildren();
    rows.forEach((row, n) => {
      const edit = (name) => (event) => {
        row[name] = event.target.value;
        commit();
      };
      list.append(
        h("div", { class: "kv-row" },
          h("input", { type: "text", placeholder: "Key", "aria-label": `${spec.label}: key ${n + 1}`, value: row.key, oninput: edit("key") }),
          h("input", { type: "text", placeholder: "Value", "aria-label": `${spec.label}: value ${n + 1}`, value: row.value, oninput: edit("value") }),
          h("button", {
            type: "button", class: "icon-button", "aria-label": `${spec.label}: remove row ${n + 1}`,
            onclick: () => {
              rows.splice(n, 1);
              if (!rows.length) rows.push({ key: "", value: "" });
              commit();
              draw();
            },
          }, icon("close")),
        ),
      );
    });
    list.append(h("button", {
      type: "button", class: "link-button",
      onclick: () => {
        rows.push({ key: "", value: "" });
        draw(true);
      },
    }, icon("plus"), "Add a row"));
    if (focusLast) list.querySelectorAll(".kv-row")[rows.length - 1].querySelector("input").focus();
  };
  draw();
  return list;
}

function valueListControl(spec, id, value, set) {
  const items = Array.isArray(value) ? value.map(String) : [];
  const list = h("div", { class: "kv-list", id });
  const commit = () => set(items.length ? [...items] : undefined);
  const draw = () => {
    list.replaceChildren();
    items.forEach((item, n) => {
      list.append(h("div", { class: "kv-row single" },
        h("input", { type: "text", value: item, "aria-label": `${spec.label} ${n + 1}`, oninput: (e) => { items[n] = e.target.value; commit(); } }),
        h("button", { type: "button", class: "icon-button", "aria-label": `${spec.label}: remove ${n + 1}`, onclick: () => { items.splice(n, 1); commit(); draw(); } }, icon("close")),
      ));
    });
    const next = h("input", { type: "text", placeholder: "Add a value and press Enter", "aria-label": `${spec.label}: new value` });
    next.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && next.value) {
        event.preventDefault();
        items.push(next.value);
        commit();
        draw();
        list.lastChild.focus();
      }
    });
    list.append(next);
  };
  draw();
  return list;
}

// -- dropdowns filled from a data source ----------------------------------------------------

function labelsFor(sourceKey) {
  const cacheKey = `${sourceKey}@${store.connection}`;
  if (!choiceLabels.has(cacheKey)) choiceLabels.set(cacheKey, new Map());
  return choiceLabels.get(cacheKey);
}

function dataSourceControl(spec, id, value, set) {
  const source = store.dataSources.get(spec.data_source);
  const input = h("input", {
    id,
    type: "text",
    autocomplete: "off",
    value: value ?? "",
    placeholder: spec.example ? `Choose, or type an ID (e.g. ${spec.example})` : "Choose, or type an ID",
  });
  const chosen = h("p", { class: "chosen" });
  const showChosen = () => {
    const label = labelsFor(spec.data_source).get(input.value);
    chosen.textContent = label ? `✓ ${label}` : "";
  };
  input.addEventListener("input", () => {
    set(input.value);
    showChosen();
  });
  const button = h(
    "button",
    {
      type: "button",
      class: "choices-button",
      "aria-haspopup": "listbox",
      "aria-label": `Choose ${spec.label}`,
      title: source ? source.description : "",
      onclick: () => openChoices(button, spec, source, (choice) => {
        labelsFor(spec.data_source).set(choice.key, choice.label);
        input.value = choice.key;
        set(choice.key);
        showChosen();
        input.focus();
      }),
    },
    icon("dropdown"),
    "Choose",
  );
  showChosen();
  return h("div", {}, h("div", { class: "combo" }, input, button), chosen);
}

let openChoicesPopover = null;

function closeChoices() {
  if (openChoicesPopover) {
    openChoicesPopover.remove();
    openChoicesPopover = null;
  }
}

document.addEventListener("pointerdown", (event) => {
  if (openChoicesPopover && !openChoicesPopover.contains(event.target) && !event.target.closest(".choices-button")) {
    closeChoices();
  }
});

function openChoices(anchor, spec, source, choose) {
  closeChoices();
  closePicker();
  // A data source that takes text (such as a search) is asked again as the person types.
  const queryInput = source ? source.inputs.find((i) => i.type === "string") : null;
  const search = h("input", {
    type: "search",
    class: "picker-search",
    placeholder: queryInput ? `${queryInput.label}: type to search` : "Filter the choices",
    "aria-label": queryInput ? queryInput.label : "Filter the choices",
  });
  const list = h("div", { class: "picker-list", role: "listbox", "aria-label": source ? source.label : spec.label });
  const where = store.connection ? `connection ${store.connection}` : "the embedded sandbox";
  let choices = [];
  let asked = 0;
  const show = () => {
    const wanted = queryInput ? "" : search.value.trim().toLowerCase();
    const shown = choices.filter((c) => !wanted || c.label.toLowerCase().includes(wanted) || c.key.toLowerCase().includes(wanted));
    list.replaceChildren(
      ...shown.map((choice) =>
        h(
          "button",
          {
            type: "button",
            class: "choice picker-option",
            role: "option",
            dataset: { key: choice.key },
            onclick: () => {
              closeChoices();
              choose(choice);
            },
          },
          h("span", { class: "picker-path" }, choice.label),
          h("span", { class: "picker-type" }, choice.key),
        ),
      ),
    );
    if (!shown.length) list.append(h("p", { class: "muted" }, `No choices on ${where}.`));
  };
  const load = async () => {
    const number = ++asked;
    list.replaceChildren(h("p", { class: "muted loading" }, `Loading from ${where}…`));
    const inputs = { limit: 50 };
    if (queryInput && search.value.trim()) inputs[queryInput.key] = search.value.trim();
    try {
      const answer = await api.post("/api/data-source", { key: spec.data_source, connection: store.connection, inputs });
      if (number !== asked) return; // a later search answered first
      choices = answer.result;
      for (const choice of choices) labelsFor(spec.data_source).set(choice.key, choice.label);
      show();
    } catch (error) {
      if (number !== asked) return;
      list.replaceChildren(h("p", { class: "problem" }, error.message));
    }
  };
  search.addEventListener("input", queryInput ? debounce(load, 250) : show);
  arrowKeys(search, list);
  const popover = h(
    "div",
    { class: "popover choices", role: "dialog", "aria-label": source ? source.label : spec.label },
    h("div", { class: "popover-head" }, icon("dropdown"), h("strong", {}, source ? source.label : spec.label),
      h("span", { class: "muted" }, ` · ${where}`),
      h("button", { type: "button", class: "icon-button", "aria-label": "Close", onclick: closeChoices }, icon("close"))),
    search,
    list,
  );
  popover.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      closeChoices();
      anchor.focus();
    }
  });
  place(popover, anchor);
  openChoicesPopover = popover;
  search.focus();
  load();
}


/** A data source's choices on the run's connection, as the palette previews them. */
export function previewChoices(anchor, source) {
  openChoices(anchor, { data_source: source.key, label: source.label }, source, () => {});
}
