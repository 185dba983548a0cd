// The designer's page: loads the manifest and connections, then wires the palette, the
// canvas, the connections view and the toolbar (connection to run on, open, save, run).

import { api, takeToken } from "./api.js";
import {
  firstWithProblems,
  formatSeconds,
  mountCanvas,
  renderCanvas,
  select,
  selectedStep,
  showAllProblems,
  showResult,
} from "./canvas.js";
import { loadConnections, mountConnections, renderConnections } from "./connections.js";
import { h } from "./dom.js";
import { renderPalette } from "./palette.js";
import {
  checkFlow,
  flowDocument,
  markSaved,
  markStale,
  onChange,
  replaceFlow,
  restore,
  restoreDraft,
  saveDraft,
  setManifest,
  setServerProblems,
  snapshot,
  store,
  typeLabel,
  unsaved,
} from "./store.js";

const $ = (selector) => document.querySelector(selector);
/** what the server told of itself (/api/info): the OAuth callback, its --config-dir */
let info = {};

function banner(kind, ...text) {
  const box = $("#banner");
  if (!kind) {
    box.replaceChildren();
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.replaceChildren(h("div", { class: ["notice", kind], role: kind === "error" ? "alert" : "status" }, ...text));
}

function connectionName(name) {
  return name ? `connection ${name}` : "the embedded sandbox";
}

function fillConnectionSelect() {
  const select = $("#run-connection");
  select.replaceChildren(h("option", { value: "" }, "Embedded sandbox"));
  for (const c of store.connections.filter((c) => !c.problem)) {
    select.append(h("option", { value: c.name }, `${c.name} (${typeLabel(c.type)}, ${c.region || "?"})`));
  }
  if (![...select.options].some((o) => o.value === store.connection)) store.connection = "";
  select.value = store.connection;
}

function useConnection(name) {
  store.connection = name;
  saveDraft();
  fillConnectionSelect();
  renderCanvas(); // each step's "Runs on" line
  if (!$("#view-connections").hidden) renderConnections();
}

// -- running ------------------------------------------------------------------------------

async function run(stepId = null) {
  banner(null);
  // A step run alone sends that step only: the others' inputs are not its business.
  const count = checkFlow(stepId);
  showAllProblems();
  if (!store.flow.steps.length) {
    banner("info", "Add a step first: drag an action from the palette onto the canvas.");
    return;
  }
  if (count) {
    refused();
    banner("error", `Fix ${count} ${count === 1 ? "input" : "inputs"} before running: ${count === 1 ? "it is" : "they are"} marked below. Nothing was sent.`);
    focusFirstProblem(stepId);
    return;
  }
  const ids = stepId ? [stepId] : store.flow.steps.map((s) => s.id);
  // What these steps showed before: a run refused by the server puts it back, greyed.
  const before = Object.fromEntries(ids.filter((id) => store.results[id]).map((id) => [id, store.results[id]]));
  const putBack = () => {
    for (const id of ids) {
      if (before[id]) store.results[id] = before[id];
      else delete store.results[id];
    }
    refused();
  };
  for (const id of ids) {
    store.results[id] = { status: "running" };
    showResult(id);
  }
  setRunning(true);
  // A step run alone maps the last outputs of the steps before it (as n8n does).
  const outputs = Object.fromEntries(
    Object.entries(store.results).filter(([, r]) => r.status === "ok").map(([id, r]) => [id, r.output]),
  );
  const event = store.flow.trigger ? store.testEvent.inputs.event : undefined;
  const started = performance.now();
  try {
    const answer = await api.post("/api/flow/run", {
      flow: flowDocument(),
      connection: store.connection,
      step: stepId,
      outputs: stepId ? outputs : undefined,
      event,
    });
    if (answer.problems) {
      putBack();
      setServerProblems(answer.problems);
      showAllProblems();
      banner("error", `Fix ${answer.problems.length} ${answer.problems.length === 1 ? "input" : "inputs"} before running: marked below. Nothing was sent.`);
      focusFirstProblem(stepId);
      return;
    }
    for (const result of answer.steps) {
      store.results[result.id] = result;
      showResult(result.id);
    }
    const failed = answer.steps.find((s) => s.status === "failed");
    const took = formatSeconds((performance.now() - started) / 1000);
    if (failed) {
      const problems = (failed.error && failed.error.problems) || [];
      if (problems.length) {
        setServerProblems(problems.map((p) => ({ ...p, step: failed.id })));
        showAllProblems();
      }
      select(failed.id, { focus: false });
      banner("error", `Step ${failed.id} failed on ${connectionName(store.connection)}: ${failed.error.message}`);
    } else {
      const what = stepId ? `Step ${stepId} ran` : `${answer.steps.length} ${answer.steps.length === 1 ? "step" : "steps"} ran`;
      banner("ok", `${what} on ${connectionName(store.connection)} in ${took}.`);
    }
  } catch (error) {
    putBack();
    if (error.problems && error.problems.length) {
      setServerProblems(error.problems.filter((p) => p.step));
      showAllProblems();
    }
    banner("error", error.message);
  } finally {
    setRunning(false);
  }
}

/** A run refused before it started: every result shown is now one of an earlier run. */
function refused() {
  markStale();
  for (const step of store.flow.steps) showResult(step.id);
}

/** The first input with a problem (of step `stepId` when it ran alone) takes the focus. */
function focusFirstProblem(stepId = null) {
  const id = stepId && store.problems[stepId] ? stepId : firstWithProblems();
  if (!id) return;
  if (selectedStep() !== id) select(id, { focus: false });
  const first = document.querySelector("#inspector .field.has-problem");
  if (first) {
    first.scrollIntoView({ block: "center", behavior: "smooth" });
    const control = first.querySelector("input, select, textarea, button");
    if (control) control.focus({ preventScroll: true });
  }
}

function setRunning(running) {
  document.body.classList.toggle("running", running);
  $("#run-flow").disabled = running;
  for (const button of document.querySelectorAll(".run-step")) button.disabled = running;
}

// -- saving and opening ---------------------------------------------------------------------

function fileName() {
  const base = (store.flow.name || "flow").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  return `${base || "flow"}.yaml`;
}

async function yamlText() {
  return (await api.post("/api/flow/yaml", flowDocument())).yaml;
}

async function save() {
  try {
    const text = await yamlText();
    const link = h("a", { href: URL.createObjectURL(new Blob([text], { type: "application/yaml" })), download: fileName() });
    document.body.append(link);
    link.click();
    link.remove();
    markSaved();
    const event = store.flow.trigger ? store.testEvent.inputs.event : undefined;
    const eventFile = event && typeof event === "object" ? fileName().replace(/\.yaml$/, ".event.json") : null;
    const [command, where] = runCommand(fileName(), eventFile);
    const rest = !store.flow.trigger ? "."
      : eventFile ? [" (", eventLink(event, eventFile), ")."]
      : [", EVENT.json holding the trigger's event (Get a test event at the trigger, then save it from here)."];
    banner("ok", `Saved ${fileName()}: run it ${where} with `, h("code", { id: "run-command" }, command), ...[rest].flat());
  } catch (error) {
    banner("error", error.message);
  }
}

/** A link that downloads the test event as the file the command's --event names. */
function eventLink(event, file) {
  const text = JSON.stringify(event, null, 2) + "\n";
  return h("a", {
    id: "save-event",
    href: URL.createObjectURL(new Blob([text], { type: "application/json" })),
    download: file,
  }, `save the test event as ${file}`);
}

/** The command that runs the saved file where the designer runs it: on the flow's
 * connection (with this designer's --config-dir, if it was given one), or on the sandbox;
 * with a trigger, on an event file (the test event's, when there is one). [command, where in
 * words] */
function runCommand(file, eventFile = null) {
  const quote = (text) => (/^[A-Za-z0-9_.\/:@%+=-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`);
  const words = ["intercom-connector"];
  if (info.config_dir && store.connection) words.push("--config-dir", quote(info.config_dir));
  words.push("flow", "run", quote(file));
  words.push(...(store.connection ? ["--connection", quote(store.connection)] : ["--sandbox"]));
  if (store.flow.trigger) words.push("--event", eventFile ? quote(eventFile) : "EVENT.json");
  const where = store.connection ? `on connection ${store.connection}` : "on the embedded sandbox";
  return [words.join(" "), where];
}

async function showYaml() {
  try {
    const text = await yamlText();
    $("#yaml-text").textContent = text;
    $("#yaml-dialog").showModal();
  } catch (error) {
    banner("error", error.message);
  }
}

async function open(file) {
  try {
    const text = await file.text();
    const answer = await api.post("/api/flow/load", { yaml: text, file: file.name });
    const before = snapshot();
    const missing = replaceFlow(answer.flow);
    markSaved();
    fillConnectionSelect();
    $("#flow-name").value = store.flow.name;
    const steps = `${store.flow.steps.length} ${store.flow.steps.length === 1 ? "step" : "steps"}`;
    if (missing) {
      banner("error", `Opened ${file.name}: ${steps}. It runs on connection ${missing}, which is not saved here: add it (Connections) or choose another; for now it runs on the embedded sandbox. `, undoButton(before));
    } else {
      banner("ok", `Opened ${file.name}: ${steps} on ${connectionName(store.connection)}. `, undoButton(before));
    }
  } catch (error) {
    banner("error", `${file.name} could not be opened: ${error.message}`);
  }
}

/** A button that puts back the design as it was (`before`, a snapshot). */
function undoButton(before) {
  const name = before.flow.name || "the flow before";
  return h("button", {
    type: "button",
    class: "button undo",
    onclick: () => {
      restore(before);
      fillConnectionSelect();
      $("#flow-name").value = store.flow.name;
      banner("ok", `Back to ${name}: ${store.flow.steps.length} ${store.flow.steps.length === 1 ? "step" : "steps"}.`);
    },
  }, `Undo (back to ${name})`);
}

// -- views ------------------------------------------------------------------------------------

function show(view) {
  for (const name of ["designer", "connections"]) {
    $(`#view-${name}`).hidden = name !== view;
    const tab = $(`#tab-${name}`);
    tab.classList.toggle("active", name === view);
    tab.setAttribute("aria-selected", String(name === view));
  }
  document.body.dataset.view = view;
  if (view === "connections") renderConnections();
}

async function start() {
  const token = takeToken();
  info = {};
  if (!token) {
    $("#app").replaceChildren(h("div", { class: "panel gate" },
      h("h1", {}, "Open the designer with its token"),
      h("p", {}, "This page needs the URL that ", h("code", {}, "intercom-connector ui"), " printed in the terminal: it carries this run's token."),
    ));
    return;
  }
  try {
    let manifest;
    [info, manifest] = await Promise.all([api.get("/api/info"), api.get("/api/manifest")]);
    setManifest(manifest);
    document.title = `${manifest.label} flow designer`;
    $("#product").textContent = manifest.label;
    restoreDraft();
    await loadConnections();
    mountConnections($("#view-connections"), info, fillConnectionSelect);
    mountCanvas($("#canvas"), $("#inspector"), { runStep: (id) => run(id) });
    renderPalette($("#palette"));
    renderCanvas();
    fillConnectionSelect();
    $("#flow-name").value = store.flow.name;
  } catch (error) {
    banner("error", error.message);
    return;
  }
  onChange((what) => {
    if (what === "structure") renderCanvas();
  });
  $("#flow-name").addEventListener("input", (event) => {
    store.flow.name = event.target.value;
  });
  $("#run-connection").addEventListener("change", (event) => useConnection(event.target.value));
  document.addEventListener("designer:connection", (event) => useConnection(event.detail));
  $("#run-flow").addEventListener("click", () => run());
  $("#save-yaml").addEventListener("click", save);
  $("#view-yaml").addEventListener("click", showYaml);
  $("#open-flow").addEventListener("click", () => $("#open-file").click());
  $("#open-file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) open(file);
    event.target.value = "";
  });
  $("#new-flow").addEventListener("click", () => {
    // Nothing is lost: the flow left behind comes back with Undo.
    const before = snapshot();
    const had = store.flow.steps.length || store.flow.trigger || store.flow.name;
    replaceFlow({ name: "", steps: [], connection: store.connection });
    $("#flow-name").value = "";
    if (had) banner("info", "Started a new flow. ", undoButton(before));
    else banner(null);
  });
  // Closing or leaving the tab with unsaved work asks first, as n8n and Prismatic do (the
  // draft outlives a reload in this tab, but not the tab).
  window.addEventListener("beforeunload", (event) => {
    if (!unsaved()) return;
    event.preventDefault();
    event.returnValue = "";
  });
  $("#tab-designer").addEventListener("click", () => show("designer"));
  $("#tab-connections").addEventListener("click", () => show("connections"));
  $("#yaml-close").addEventListener("click", () => $("#yaml-dialog").close());
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      run();
    }
  });
  show("designer");
}

start();
