// The canvas: a trigger slot and the ordered steps, each with the form its manifest inputs
// describe, its status, time and output. Actions are dropped onto it from the palette;
// steps are dragged (or moved with their buttons) to reorder.

import { h, icon } from "./dom.js";
import { draggable } from "./drag.js";
import { field, showProblems } from "./fields.js";
import { outputPanel } from "./jsonview.js";
import {
  addStep,
  changed,
  checkInputs,
  moveStep,
  removeStep,
  renameStep,
  setTrigger,
  store,
} from "./store.js";

let root = null;
let handlers = {};
const collapsed = new Set();

/** Mount the canvas in `element`; `on.runStep(id)` runs one step. */
export function mountCanvas(element, on) {
  root = element;
  handlers = on;
}

// -- drop targets -------------------------------------------------------------------------

const indicator = h("div", { class: "drop-indicator", "aria-hidden": "true" });

function insertionIndex(y) {
  const cards = [...root.querySelectorAll(".steps > .step")];
  let index = 0;
  for (const card of cards) {
    const box = card.getBoundingClientRect();
    if (y > box.top + box.height / 2) index += 1;
  }
  return index;
}

function showIndicator(index) {
  const list = root.querySelector(".steps");
  const cards = [...list.children].filter((c) => c.classList.contains("step"));
  root.classList.add("drop-active");
  if (index < cards.length) list.insertBefore(indicator, cards[index]);
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
    if (payload.kind === "action") focusStep(addStep(payload.key, index).id);
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
  },
};

export function focusStep(id) {
  requestAnimationFrame(() => {
    const card = root.querySelector(`.step[data-step="${CSS.escape(id)}"]`);
    if (card) {
      card.scrollIntoView({ block: "nearest", behavior: "smooth" });
      card.querySelector(".step-title-text").focus({ preventScroll: true });
    }
  });
}

// -- rendering ------------------------------------------------------------------------------

export function renderCanvas() {
  const steps = h("ol", { class: "steps", "aria-label": "Steps" });
  store.flow.steps.forEach((step, index) => steps.append(stepCard(step, index)));
  const empty = store.flow.steps.length === 0;
  root.replaceChildren(
    triggerSlot(),
    steps,
    h(
      "div",
      { class: ["drop-end", empty && "empty"] },
      empty
        ? [h("strong", {}, "Drag an action here"), h("span", {}, " — or select one in the palette and press Enter")]
        : "Drop here to add a step at the end",
    ),
  );
}

function triggerSlot() {
  const trigger = store.flow.trigger && store.triggers.get(store.flow.trigger.key);
  const slot = h("section", { class: ["trigger-slot", trigger && "filled"], "aria-label": "Trigger" });
  if (!trigger) {
    const some = store.triggers.size > 0;
    slot.append(
      h("div", { class: "trigger-icon" }, icon("bolt")),
      h("div", {},
        h("strong", {}, "Starts when you press Run"),
        h("p", { class: "muted" }, some
          ? "Drag a trigger here to start the flow from Intercom instead."
          : "This connector declares no triggers: the flow runs on demand."),
      ),
    );
    return slot;
  }
  const owner = store.flow.trigger;
  const form = h("div", { class: "step-form" });
  for (const spec of trigger.inputs) {
    form.append(field(owner, spec, { index: 0, ownerId: "trigger", changed: () => refresh(slot, trigger, owner, 0, "trigger") }));
  }
  slot.append(
    h("header", { class: "step-head" },
      h("div", { class: "trigger-icon" }, icon("bolt")),
      h("div", { class: "step-title" },
        h("span", { class: "step-title-text", tabindex: "-1" }, trigger.label),
        h("span", { class: "badge kind" }, trigger.kind)),
      h("button", { type: "button", class: "icon-button", "aria-label": "Remove the trigger", onclick: () => setTrigger(null) }, icon("close")),
    ),
    h("p", { class: "step-description" }, trigger.description),
    form,
  );
  applyProblems(slot, "trigger");
  return slot;
}

function effectBadge(action) {
  return h("span", { class: ["badge", `effect-${action.effect}`], title: `Effect: ${action.effect}` }, action.effect);
}

function statusPill(result) {
  if (!result) return h("span", { class: "status status-ready" }, "Not run");
  if (result.status === "running") return h("span", { class: "status status-running" }, "Running…");
  const time = typeof result.seconds === "number" ? ` · ${formatSeconds(result.seconds)}` : "";
  const words = { ok: "OK", failed: "Failed", skipped: "Skipped" }[result.status] || result.status;
  return h("span", { class: ["status", `status-${result.status}`] }, words + (result.status === "skipped" ? "" : time));
}

export function formatSeconds(seconds) {
  return seconds < 1 ? `${Math.max(1, Math.round(seconds * 1000))} ms` : `${seconds.toFixed(2)} s`;
}

function rulesNote(action) {
  const labels = Object.fromEntries(action.inputs.map((i) => [i.key, i.label]));
  const lines = (action.rules || []).map((rule) => {
    const names = rule.inputs.map((k) => labels[k] || k).join(", ");
    return rule.type === "at_least_one_of" ? `Give at least one of: ${names}.` : `Give only one of: ${names}.`;
  });
  return lines.length ? h("p", { class: "rules" }, lines.join(" ")) : null;
}

function stepCard(step, index) {
  const action = store.actions.get(step.action);
  const result = store.results[step.id];
  const card = h("li", {
    class: ["step", result && `result-${result.status}`, collapsed.has(step.id) && "collapsed"],
    dataset: { step: step.id, action: step.action },
  });
  const grip = h("span", { class: "grip", title: "Drag to reorder", "aria-hidden": "true" }, icon("grip"));
  const idInput = h("input", {
    class: "step-id-input",
    value: step.id,
    "aria-label": `Step ${index + 1} id (how later steps refer to it)`,
    spellcheck: "false",
  });
  idInput.addEventListener("change", () => {
    if (!renameStep(step.id, idInput.value.trim())) {
      idInput.value = step.id;
      idInput.setCustomValidity("A unique id of letters, digits, _ or -, starting with a letter");
      idInput.reportValidity();
    }
  });
  const last = index === store.flow.steps.length - 1;
  const head = h(
    "header",
    { class: "step-head" },
    grip,
    h("span", { class: "step-number" }, String(index + 1)),
    h("div", { class: "step-title" },
      h("span", { class: "step-title-text", tabindex: "-1" }, action.label),
      effectBadge(action),
      action.kind === "list" ? h("span", { class: "badge kind", title: "Pages through results" }, "list") : null,
      h("label", { class: "step-id" }, h("span", {}, "id"), idInput),
    ),
    statusPill(result),
    h("div", { class: "step-buttons no-drag" },
      h("button", { type: "button", class: "icon-button run-step", title: "Run this step", "aria-label": `Run step ${index + 1}, ${action.label}`, onclick: () => handlers.runStep(step.id) }, icon("play")),
      h("button", { type: "button", class: "icon-button", title: "Move up", "aria-label": `Move step ${index + 1} up`, disabled: index === 0, onclick: () => { moveStep(step.id, index - 1); focusStep(step.id); } }, icon("up")),
      h("button", { type: "button", class: "icon-button", title: "Move down", "aria-label": `Move step ${index + 1} down`, disabled: last, onclick: () => { moveStep(step.id, index + 2); focusStep(step.id); } }, icon("down")),
      h("button", {
        type: "button", class: "icon-button fold", title: "Fold", "aria-expanded": String(!collapsed.has(step.id)), "aria-label": `Fold step ${index + 1}`,
        onclick: () => {
          if (collapsed.has(step.id)) collapsed.delete(step.id);
          else collapsed.add(step.id);
          card.classList.toggle("collapsed");
        },
      }, icon("chevron")),
      h("button", { type: "button", class: "icon-button remove-step", title: "Remove", "aria-label": `Remove step ${index + 1}, ${action.label}`, onclick: () => removeStep(step.id) }, icon("close")),
    ),
  );
  draggable(card, {
    handle: head,
    label: () => `${index + 1} · ${action.label}`,
    payload: () => ({ kind: "step", id: step.id }),
    targets: [canvasTarget],
  });
  const form = h("div", { class: "step-form" });
  const ctx = { index, ownerId: step.id, changed: () => refresh(card, action, step, index, step.id) };
  for (const spec of action.inputs) form.append(field(step, spec, ctx));
  card.append(
    head,
    h("div", { class: "step-body" },
      h("p", { class: "step-description" }, action.description, h("code", { class: "action-key" }, action.key)),
      rulesNote(action),
      form,
      resultView(result),
    ),
  );
  applyProblems(card, step.id);
  return card;
}

function resultView(result) {
  if (!result || result.status === "running") return null;
  if (result.status === "ok") {
    return outputPanel(result.output, h("span", {}, "Output", h("span", { class: "muted" }, ` · ${formatSeconds(result.seconds)}`)));
  }
  if (result.status === "skipped") return h("p", { class: "notice" }, "Skipped: a step before it failed.");
  return h("div", { class: "notice error step-error", role: "alert" }, result.error ? result.error.message : "Failed");
}

/** After an edit: if the step shows problems, check it again as the runtime will. */
function refresh(card, operation, owner, index, id) {
  if (!store.problems[id]) return;
  const earlier = store.flow.steps.slice(0, index).map((s) => s.id);
  const found = checkInputs(operation, owner.inputs, earlier, Boolean(store.flow.trigger));
  if (Object.keys(found).length) store.problems[id] = found;
  else delete store.problems[id];
  applyProblems(card, id);
}

function applyProblems(card, id) {
  const problems = store.problems[id] || {};
  for (const wrapper of card.querySelectorAll(".field")) showProblems(wrapper, problems[wrapper.dataset.input]);
  card.classList.toggle("has-problems", Object.keys(problems).length > 0);
}

/** Re-draw the problems of every step (after a check) without rebuilding the forms. */
export function showAllProblems() {
  for (const card of root.querySelectorAll(".steps > .step")) applyProblems(card, card.dataset.step);
  const slot = root.querySelector(".trigger-slot.filled");
  if (slot) applyProblems(slot, "trigger");
}

/** Re-draw one step's status and output (during and after a run). */
export function showResult(id) {
  const card = root.querySelector(`.step[data-step="${CSS.escape(id)}"]`);
  if (!card) return;
  const result = store.results[id];
  card.querySelector(".status").replaceWith(statusPill(result));
  card.classList.remove("result-ok", "result-failed", "result-skipped", "result-running");
  if (result) card.classList.add(`result-${result.status}`);
  const body = card.querySelector(".step-body");
  const old = body.querySelector(".output, .notice");
  if (old) old.remove();
  const view = resultView(result);
  if (view) body.append(view);
}

export { changed };
