// The canvas and the inspector. The canvas holds a trigger slot and the ordered steps, each a
// compact node with its status and time; actions are dropped onto it from the palette, and
// steps are dragged (or moved with their buttons) to reorder. The inspector shows the
// selected step: the form its manifest inputs describe, and its output after a run.

import { api } from "./api.js";
import { fill, h, icon } from "./dom.js";
import { draggable } from "./drag.js";
import { field, showProblems } from "./fields.js";
import { outputPanel } from "./jsonview.js";
import { describeReference } from "./mapping.js";
import {
  REFERENCE,
  addStep,
  checkInputs,
  moveStep,
  removeStep,
  renameStep,
  saveDraft,
  setInput,
  setTrigger,
  store,
} from "./store.js";

let root = null;
let inspector = null;
let handlers = {};
/** the step shown in the inspector ("trigger" for the trigger), or null */
let selected = null;

/** Mount the canvas and the inspector; `on.runStep(id)` runs one step. */
export function mountCanvas(canvasElement, inspectorElement, on) {
  root = canvasElement;
  inspector = inspectorElement;
  handlers = on;
}

export function selectedStep() {
  return selected;
}

// -- drop targets -------------------------------------------------------------------------

const indicator = h("li", { class: "drop-indicator", "aria-hidden": "true" });

function insertionIndex(y) {
  let index = 0;
  for (const node of root.querySelectorAll(".steps > .step")) {
    const box = node.getBoundingClientRect();
    if (y > box.top + box.height / 2) index += 1;
  }
  return index;
}

function showIndicator(index) {
  const list = root.querySelector(".steps");
  const nodes = [...list.children].filter((c) => c.classList.contains("step"));
  root.classList.add("drop-active");
  if (index < nodes.length) list.insertBefore(indicator, nodes[index]);
  else list.append(indicator);
}

/** The canvas as a drop target: actions from the palette, steps being reordered. */
export const canvasTarget = {
  element: () => root,
  over(x, y, payload) {
    if (payload.kind !== "action" && payload.kind !== "step") return false;
    showIndicator(insertionIndex(y));
    return true;
  },
  leave() {
    indicator.remove();
    root.classList.remove("drop-active");
  },
  drop(x, y, payload) {
    const index = insertionIndex(y);
    if (payload.kind === "action") select(addStep(payload.key, index).id);
    else moveStep(payload.id, index);
  },
};

/** The trigger slot as a drop target: triggers from the palette. */
export const triggerTarget = {
  element: () => root && root.querySelector(".trigger-slot"),
  over(x, y, payload) {
    if (payload.kind !== "trigger") return false;
    root.querySelector(".trigger-slot").classList.add("drop-here");
    return true;
  },
  leave() {
    const slot = root && root.querySelector(".trigger-slot");
    if (slot) slot.classList.remove("drop-here");
  },
  drop(x, y, payload) {
    setTrigger(payload.key);
    select("trigger");
  },
};

/** Show a step (or "trigger") in the inspector, and bring its node into view. */
export function select(id, { focus = true } = {}) {
  selected = id;
  for (const node of root.querySelectorAll("[data-node]")) {
    const on = node.dataset.node === id;
    node.classList.toggle("selected", on);
    node.setAttribute("aria-current", on ? "step" : "false");
  }
  renderInspector();
  if (focus) {
    requestAnimationFrame(() => {
      const node = root.querySelector(`[data-node="${CSS.escape(id)}"]`);
      if (node) node.scrollIntoView({ block: "nearest", behavior: "smooth" });
      const title = inspector.querySelector(".inspector-title");
      if (title) title.focus({ preventScroll: true });
    });
  }
}

// -- the canvas ---------------------------------------------------------------------------------

export function renderCanvas() {
  if (selected && selected !== "trigger" && !store.flow.steps.some((s) => s.id === selected)) selected = null;
  if (selected === "trigger" && !store.flow.trigger) selected = null;
  if (!selected && store.flow.steps.length) selected = store.flow.steps[store.flow.steps.length - 1].id;
  const steps = h("ol", { class: "steps", "aria-label": "Steps" });
  store.flow.steps.forEach((step, index) => steps.append(stepNode(step, index)));
  const empty = store.flow.steps.length === 0;
  fill(root, 
    triggerSlot(),
    steps,
    h(
      "div",
      { class: ["drop-end", empty && "empty"] },
      empty
        ? [h("strong", {}, "Drag an action here"), h("br"), h("span", {}, "or select one in the palette and press Enter")]
        : "Drop an action here to add a step",
    ),
  );
  renderInspector();
}

function triggerSlot() {
  const trigger = store.flow.trigger && store.triggers.get(store.flow.trigger.key);
  if (!trigger) {
    const some = store.triggers.size > 0;
    return h("section", { class: "trigger-slot", "aria-label": "Trigger" },
      h("div", { class: "trigger-icon" }, icon("bolt")),
      h("div", {},
        h("strong", {}, "Starts when you press Run"),
        h("p", { class: "muted" }, some
          ? "Drag a trigger here to start the flow from Intercom instead."
          : "This connector declares no triggers: the flow runs on demand."),
      ),
    );
  }
  const slot = h("section", {
    class: ["trigger-slot", "filled", selected === "trigger" && "selected"],
    "aria-label": "Trigger",
    tabindex: "0",
    dataset: { node: "trigger" },
  },
    h("div", { class: "trigger-icon" }, icon("bolt")),
    h("div", { class: "node-text" },
      h("strong", {}, trigger.label), " ", h("span", { class: "badge kind" }, trigger.kind),
      h("p", { class: "muted node-summary" }, summary(trigger, store.flow.trigger.inputs))),
    h("button", { type: "button", class: "icon-button no-drag", "aria-label": "Remove the trigger", onclick: (e) => { e.stopPropagation(); setTrigger(null); } }, icon("close")),
  );
  slot.addEventListener("click", () => select("trigger"));
  slot.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && event.target === slot) select("trigger");
  });
  return slot;
}

function effectBadge(action) {
  return h("span", { class: ["badge", `effect-${action.effect}`], title: `Effect: ${action.effect}` }, action.effect);
}

function statusPill(result, problems) {
  // a failure Intercom gave about one input marks it, and the step still reads Failed
  if (problems && !(result && result.status === "failed" && !result.stale)) {
    return h("span", { class: "status status-failed" }, `${problems} to fix`);
  }
  if (!result) return h("span", { class: "status status-ready" }, "Not run");
  if (result.status === "running") return h("span", { class: "status status-running" }, "Running…");
  if (result.stale) return h("span", { class: "status status-stale", title: "From a run before the last one, which was refused" }, "Earlier run");
  const time = typeof result.seconds === "number" ? ` · ${formatSeconds(result.seconds)}` : "";
  const words = { ok: "OK", failed: "Failed", skipped: "Skipped" }[result.status] || result.status;
  return h("span", { class: ["status", `status-${result.status}`] }, words + (result.status === "skipped" ? "" : time));
}

export function formatSeconds(seconds) {
  return seconds < 1 ? `${Math.max(1, Math.round(seconds * 1000))} ms` : `${seconds.toFixed(2)} s`;
}

/** What a step is set to, in one line: "Role User · Email ada@example.com · Tag ID ← 1 · …". */
function summary(operation, inputs) {
  const parts = [];
  for (const spec of operation.inputs) {
    const value = inputs[spec.key];
    if (value === undefined || spec.type === "connection") continue;
    let shown;
    const reference = typeof value === "string" ? value.match(REFERENCE) : null;
    if (reference) shown = `← ${describeReference(reference[1]).filter(Boolean).join(" › ")}`;
    else if (spec.options && spec.options.length) shown = (spec.options.find((o) => o.value === value) || { label: value }).label;
    else if (typeof value === "object") shown = Array.isArray(value) ? `${value.length} items` : "{…}";
    else if (spec.type === "timestamp" && typeof value === "number") shown = new Date(value * 1000).toISOString().slice(0, 16).replace("T", " ");
    else shown = String(value);
    parts.push(`${spec.label} ${shown}`);
  }
  return parts.length ? parts.join(" · ") : "No inputs set yet";
}

function problemCount(id) {
  return Object.keys(store.problems[id] || {}).length;
}

function stepNode(step, index) {
  const action = store.actions.get(step.action);
  const result = store.results[step.id];
  const last = index === store.flow.steps.length - 1;
  const node = h("li", {
    class: ["step", result && (result.stale ? "result-stale" : `result-${result.status}`), problemCount(step.id) && "has-problems", selected === step.id && "selected"],
    dataset: { step: step.id, node: step.id, action: step.action },
    tabindex: "0",
    "aria-label": `Step ${index + 1}: ${action.label}`,
    "aria-current": selected === step.id ? "step" : "false",
  },
    h("span", { class: "grip", title: "Drag to reorder", "aria-hidden": "true" }, icon("grip")),
    h("span", { class: "step-number" }, String(index + 1)),
    h("div", { class: "node-text" },
      h("div", { class: "node-title" },
        h("span", { class: "step-title-text" }, action.label),
        effectBadge(action),
        action.kind === "list" ? h("span", { class: "badge kind", title: "Pages through results" }, "list") : null),
      h("p", { class: "node-summary" }, h("code", {}, step.id), " · ", summary(action, step.inputs)),
    ),
    statusPill(result, problemCount(step.id)),
    h("div", { class: "step-buttons no-drag" },
      h("button", { type: "button", class: "icon-button run-step", title: "Run this step", "aria-label": `Run step ${index + 1}, ${action.label}`, onclick: (e) => { e.stopPropagation(); handlers.runStep(step.id); } }, icon("play")),
      h("button", { type: "button", class: "icon-button", title: "Move up", "aria-label": `Move step ${index + 1} up`, disabled: index === 0, onclick: (e) => { e.stopPropagation(); moveStep(step.id, index - 1); focusNode(step.id); } }, icon("up")),
      h("button", { type: "button", class: "icon-button", title: "Move down", "aria-label": `Move step ${index + 1} down`, disabled: last, onclick: (e) => { e.stopPropagation(); moveStep(step.id, index + 2); focusNode(step.id); } }, icon("down")),
      h("button", { type: "button", class: "icon-button remove-step", title: "Remove", "aria-label": `Remove step ${index + 1}, ${action.label}`, onclick: (e) => { e.stopPropagation(); removeStep(step.id); } }, icon("close")),
    ),
  );
  node.addEventListener("click", () => select(step.id));
  node.addEventListener("keydown", (event) => {
    if ((event.key === "Enter" || event.key === " ") && event.target === node) {
      event.preventDefault();
      select(step.id);
    }
  });
  draggable(node, {
    label: () => `${index + 1} · ${action.label}`,
    payload: () => ({ kind: "step", id: step.id }),
    targets: [canvasTarget],
  });
  return node;
}

function focusNode(id) {
  requestAnimationFrame(() => {
    const node = root.querySelector(`[data-node="${CSS.escape(id)}"]`);
    if (node) node.focus();
  });
}

// -- the inspector ------------------------------------------------------------------------------

function renderInspector() {
  if (!inspector) return;
  if (selected === "trigger" && store.flow.trigger) return inspectTrigger();
  const index = store.flow.steps.findIndex((s) => s.id === selected);
  if (index < 0) {
    inspector.removeAttribute("data-step");
    fill(inspector, h("div", { class: "inspector-empty" },
      h("strong", {}, store.flow.steps.length ? "Select a step to set its inputs" : "No step yet"),
      h("p", { class: "muted" }, store.flow.steps.length
        ? "Each step's inputs, their help and defaults, and its output after a run show here."
        : "Drag an action from the palette onto the canvas; its inputs show here.")));
    return;
  }
  const step = store.flow.steps[index];
  const action = store.actions.get(step.action);
  inspector.dataset.step = step.id;
  const idInput = h("input", {
    class: "step-id-input",
    value: step.id,
    "aria-label": "Step id (how later steps refer to it)",
    spellcheck: "false",
  });
  idInput.addEventListener("change", () => {
    if (!renameStep(step.id, idInput.value.trim())) {
      idInput.value = step.id;
      idInput.setCustomValidity("A unique id of letters, digits, _ or -, starting with a letter");
      idInput.reportValidity();
    } else {
      select(idInput.value.trim(), { focus: false });
    }
  });
  const form = h("div", { class: "step-form" });
  const ctx = { index, ownerId: step.id, changed: () => edited(step.id, action, step, index) };
  for (const spec of valueInputs(action)) form.append(field(step, spec, ctx));
  fill(inspector, 
    h("header", { class: "inspector-head" },
      h("span", { class: "step-number" }, String(index + 1)),
      h("div", { class: "inspector-heading" },
        h("h2", { class: "inspector-title", tabindex: "-1" }, action.label, " ", effectBadge(action)),
        h("p", { class: "muted" }, action.description)),
      h("button", { type: "button", class: "button run-step", onclick: () => handlers.runStep(step.id) }, icon("play"), "Run step"),
    ),
    h("div", { class: "inspector-meta" },
      h("label", { class: "step-id" }, h("span", {}, "Step id"), idInput),
      h("code", { class: "action-key", title: "The action's key" }, action.key)),
    runsOn(),
    rulesNote(action),
    form,
    h("div", { class: "inspector-result" }, resultView(store.results[step.id])),
  );
  applyProblems(inspector, step.id);
}

/** The inputs a step's form shows: all but its connection, which is the flow's. */
function valueInputs(operation) {
  return operation.inputs.filter((spec) => spec.type !== "connection");
}

/** The flow's one connection, named where each step's would be (chosen at the top). */
function runsOn() {
  const name = store.connection ? `connection ${store.connection}` : "the embedded sandbox";
  return h("p", { class: "runs-on muted" }, "Runs on ", h("strong", {}, name),
    ": the flow's connection, for every step (change it at the top; Save YAML keeps it).");
}

function inspectTrigger() {
  const trigger = store.triggers.get(store.flow.trigger.key);
  inspector.dataset.step = "trigger";
  const form = h("div", { class: "step-form" });
  const ctx = { index: 0, ownerId: "trigger", changed: () => edited("trigger", trigger, store.flow.trigger, 0) };
  for (const spec of valueInputs(trigger)) form.append(field(store.flow.trigger, spec, ctx));
  fill(inspector, 
    h("header", { class: "inspector-head" },
      h("div", { class: "trigger-icon" }, icon("bolt")),
      h("div", { class: "inspector-heading" },
        h("h2", { class: "inspector-title", tabindex: "-1" }, trigger.label, " ", h("span", { class: "badge kind" }, trigger.kind)),
        h("p", { class: "muted" }, trigger.description))),
    runsOn(),
    form,
    testEventSection(trigger),
  );
  applyProblems(inspector, "trigger");
}

/** The event Run starts the flow from here: fetched (the latest real one, or a sample of
 * the trigger's output schema) and editable as JSON. */
function testEventSection(trigger) {
  const note = h("p", { class: "muted test-event-note", role: "status" }, store.testEvent.note || "");
  const spec = {
    key: "event",
    label: "Test event",
    type: "code",
    comments: "What Run starts the flow from here: {id, topic, occurred_at, data}; steps read it as {{ trigger.<path> }}. Not saved in the YAML.",
  };
  const holder = h("div", {});
  // A problem shown at the editor goes once the JSON is valid again (the run checks the rest).
  const changed = () => {
    saveDraft();
    const bag = store.problems.trigger;
    if (bag && bag.event && typeof store.testEvent.inputs.event !== "string") {
      delete bag.event;
      applyProblems(inspector, "trigger");
    }
  };
  const draw = () => holder.replaceChildren(field(store.testEvent, spec, { ownerId: "test-event", index: 0, mappable: false, changed }));
  const get = h("button", { type: "button", class: "button", id: "get-test-event" }, icon("bolt"), "Get a test event");
  get.addEventListener("click", async () => {
    get.disabled = true;
    note.textContent = `Asking ${store.connection ? `connection ${store.connection}` : "the embedded sandbox"}…`;
    try {
      const answer = await api.post("/api/trigger/event", { trigger: store.flow.trigger, connection: store.connection });
      setInput(store.testEvent, "event", answer.event);
      if (store.problems.trigger) delete store.problems.trigger.event;
      store.testEvent.note = answer.source === "latest"
        ? `The latest real event: ${answer.note}. Edit it as you like.`
        : `A sample made from the ${trigger.label} output schema (${answer.note}). Edit it as you like.`;
      note.textContent = store.testEvent.note;
      draw();
    } catch (error) {
      note.textContent = error.message;
    } finally {
      get.disabled = false;
    }
  });
  draw();
  return h("section", { class: "test-event", "aria-label": "Test event" }, h("div", { class: "test-event-head" }, get), note, holder);
}

function rulesNote(action) {
  const labels = Object.fromEntries(action.inputs.map((i) => [i.key, i.label]));
  const lines = (action.rules || []).map((rule) => {
    if (rule.text) return rule.text; // a rule across inputs ("when"), said by the manifest export
    const names = rule.inputs.map((k) => labels[k] || k).join(", ");
    return rule.type === "at_least_one_of" ? `Give at least one of: ${names}.` : `Give only one of: ${names}.`;
  });
  return lines.length ? h("p", { class: "rules" }, lines.join(" ")) : null;
}

function resultView(result) {
  if (!result) return null;
  if (result.status === "running") return h("p", { class: "notice info" }, "Running…");
  if (result.status === "ok") {
    const panel = outputPanel(result.output, h("span", {}, result.stale ? "Output of an earlier run" : "Output", h("span", { class: "muted" }, ` · ${formatSeconds(result.seconds)}`)));
    if (result.stale) panel.classList.add("stale");
    return panel;
  }
  if (result.stale) return h("p", { class: "notice stale" }, "From an earlier run: the last run was refused before it started.");
  if (result.status === "skipped") return h("p", { class: "notice" }, "Skipped: a step before it failed.");
  return h("div", { class: "notice error step-error", role: "alert" }, result.error ? result.error.message : "Failed");
}

/** After an edit: the node's summary, and (if it shows problems) the check again. */
function edited(id, operation, owner, index) {
  if (store.problems[id]) {
    const earlier = store.flow.steps.slice(0, index).map((s) => s.id);
    const found = checkInputs(operation, owner.inputs, earlier, Boolean(store.flow.trigger));
    if (Object.keys(found).length) store.problems[id] = found;
    else delete store.problems[id];
    applyProblems(inspector, id);
  }
  refreshNode(id);
}

function refreshNode(id) {
  if (id === "trigger") {
    const slot = root.querySelector(".trigger-slot.filled .node-summary");
    if (slot) slot.textContent = summary(store.triggers.get(store.flow.trigger.key), store.flow.trigger.inputs);
    return;
  }
  const node = root.querySelector(`.step[data-step="${CSS.escape(id)}"]`);
  const step = store.flow.steps.find((s) => s.id === id);
  if (!node || !step) return;
  const action = store.actions.get(step.action);
  node.querySelector(".node-summary").replaceChildren(h("code", {}, step.id), " · ", summary(action, step.inputs));
  node.querySelector(".status").replaceWith(statusPill(store.results[id], problemCount(id)));
  node.classList.toggle("has-problems", problemCount(id) > 0);
}

function applyProblems(panel, id) {
  const problems = store.problems[id] || {};
  for (const wrapper of panel.querySelectorAll(".field")) showProblems(wrapper, problems[wrapper.dataset.input]);
}

/** Re-draw every node's problem count and the inspector's problems (after a check). */
export function showAllProblems() {
  for (const step of store.flow.steps) refreshNode(step.id);
  if (selected) applyProblems(inspector, selected);
}

/** The first step (or the trigger) with a problem, or null. */
export function firstWithProblems() {
  if (store.problems.trigger) return "trigger";
  const step = store.flow.steps.find((s) => store.problems[s.id]);
  return step ? step.id : null;
}

/** Re-draw one step's status and output (during and after a run). */
export function showResult(id) {
  const node = root.querySelector(`.step[data-step="${CSS.escape(id)}"]`);
  if (!node) return;
  const result = store.results[id];
  node.classList.remove("result-ok", "result-failed", "result-skipped", "result-running", "result-stale");
  if (result) node.classList.add(result.stale ? "result-stale" : `result-${result.status}`);
  refreshNode(id);
  if (selected === id) {
    const area = inspector.querySelector(".inspector-result");
    if (area) area.replaceChildren(...[resultView(result)].filter(Boolean));
  }
}
