// The designer's state: the manifest (what can be designed), the flow being designed (the
// very mapping its YAML holds), the last run's results and the problems found in inputs.

const DRAFT_KEY = "intercom-designer-flow";
export const REFERENCE = /^\s*\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}\s*$/;
const ANY_REFERENCE = /\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}/g;
export const STEP_ID = /^[A-Za-z][A-Za-z0-9_\-]*$/;

export const store = {
  manifest: null,
  actions: new Map(),
  dataSources: new Map(),
  triggers: new Map(),
  connections: [],
  /** the flow's connection, which runs and dropdowns use and its YAML keeps ("" is the
   * embedded sandbox, which the YAML does not name) */
  connection: "",
  /** the event a run of a flow with a trigger starts from here ({inputs: {event}}) */
  testEvent: { inputs: {}, note: "" },
  flow: { name: "", trigger: null, steps: [] },
  /** the flow as last saved (Save YAML) or opened, as JSON: work that differs is unsaved */
  savedAs: null,
  /** step id -> {status, seconds, output, error} of the last run */
  results: {},
  /** step id ("trigger" for the trigger) -> input key -> [problem text] */
  problems: {},
  listeners: new Set(),
};

/** A connection type as the manifest names it ("OAuth 2.0", "Access Token"). */
export function typeLabel(type) {
  const spec = store.manifest && store.manifest.connections.find((c) => c.key === type);
  return spec ? spec.type_label : type || "?";
}

export function setManifest(manifest) {
  store.manifest = manifest;
  store.actions = new Map(manifest.actions.map((a) => [a.key, a]));
  store.dataSources = new Map(manifest.data_sources.map((d) => [d.key, d]));
  store.triggers = new Map(manifest.triggers.map((t) => [t.key, t]));
}

/** Every step's result becomes one of an earlier run (shown greyed): the last run was
 * refused, so none of them is its outcome. Their outputs still serve a step run alone. */
export function markStale() {
  for (const result of Object.values(store.results)) {
    if (result.status !== "running") result.stale = true;
  }
}

/** Tell every view that something changed (`what`: "structure", "results", "problems"). */
export function changed(what) {
  saveDraft();
  for (const listener of store.listeners) listener(what);
}

export function onChange(listener) {
  store.listeners.add(listener);
}

// -- the flow ---------------------------------------------------------------------------

function freshId(base) {
  const taken = new Set(store.flow.steps.map((s) => s.id));
  if (!taken.has(base)) return base;
  let n = 2;
  while (taken.has(`${base}_${n}`)) n += 1;
  return `${base}_${n}`;
}

/** The inputs a new step starts with: none (defaults apply unless set). */
export function addStep(actionKey, index = store.flow.steps.length) {
  const step = { id: freshId(actionKey), action: actionKey, inputs: {} };
  store.flow.steps.splice(index, 0, step);
  changed("structure");
  return step;
}

export function removeStep(id) {
  store.flow.steps = store.flow.steps.filter((s) => s.id !== id);
  delete store.results[id];
  delete store.problems[id];
  changed("structure");
}

export function moveStep(id, index) {
  const from = store.flow.steps.findIndex((s) => s.id === id);
  if (from < 0) return;
  const [step] = store.flow.steps.splice(from, 1);
  const to = Math.max(0, Math.min(index > from ? index - 1 : index, store.flow.steps.length));
  store.flow.steps.splice(to, 0, step);
  changed("structure");
}

/** Rename a step and every reference to it; false when the id is taken or malformed. */
export function renameStep(id, newId) {
  if (id === newId) return true;
  if (!STEP_ID.test(newId) || store.flow.steps.some((s) => s.id === newId)) return false;
  const pattern = new RegExp(`(\\{\\{\\s*steps\\.)${id.replace(/[-]/g, "\\-")}(?=[.\\s}])`, "g");
  const rewrite = (value) => {
    if (typeof value === "string") return value.replace(pattern, `$1${newId}`);
    if (Array.isArray(value)) return value.map(rewrite);
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rewrite(v)]));
    }
    return value;
  };
  for (const step of store.flow.steps) {
    if (step.id === id) step.id = newId;
    step.inputs = rewrite(step.inputs);
  }
  for (const bag of [store.results, store.problems]) {
    if (id in bag) {
      bag[newId] = bag[id];
      delete bag[id];
    }
  }
  changed("structure");
  return true;
}

/** Set (or, with undefined / "", clear) one input of a step or of the trigger. */
export function setInput(owner, key, value) {
  if (value === undefined || value === "" || value === null) delete owner.inputs[key];
  else owner.inputs[key] = value;
  saveDraft();
}

export function setTrigger(key) {
  store.flow.trigger = key ? { key, inputs: {} } : null;
  store.testEvent = { inputs: {}, note: "" };
  changed("structure");
}

/** A flow opened or started anew; its connection becomes the one runs use when it is
 * saved here (returns the name of one that is not, else null). */
export function replaceFlow(flow) {
  const known = !flow.connection || store.connections.some((c) => c.name === flow.connection && !c.problem);
  store.connection = known ? flow.connection || "" : "";
  store.testEvent = { inputs: {}, note: "" };
  store.flow = {
    name: flow.name || "",
    trigger: flow.trigger ? { key: flow.trigger.key, inputs: flow.trigger.inputs || {} } : null,
    steps: (flow.steps || []).map((s) => ({ id: s.id, action: s.action, inputs: s.inputs || {} })),
  };
  store.results = {};
  store.problems = {};
  changed("structure");
  return known ? null : flow.connection;
}

/** The whole design (flow, connection, test event, results), to put back with `restore`. */
export function snapshot() {
  return JSON.parse(JSON.stringify({ flow: store.flow, connection: store.connection, testEvent: store.testEvent, results: store.results, savedAs: store.savedAs }));
}

/** The flow as it is now is saved (downloaded) or was just opened. */
export function markSaved() {
  store.savedAs = JSON.stringify(flowDocument());
  saveDraft();
}

/** Whether leaving the page would lose work: a flow with steps or a trigger that differs
 * from the one last saved or opened. */
export function unsaved() {
  if (!store.flow.steps.length && !store.flow.trigger) return false;
  return JSON.stringify(flowDocument()) !== store.savedAs;
}

export function restore(saved) {
  Object.assign(store, JSON.parse(JSON.stringify(saved)));
  store.problems = {};
  changed("structure");
}

/** The flow as its YAML holds it (a trigger only when there is one). */
export function flowDocument() {
  const document = { name: store.flow.name || "Untitled flow" };
  if (store.connection) document.connection = store.connection;
  if (store.flow.trigger) document.trigger = store.flow.trigger;
  document.steps = store.flow.steps.map((s) => ({ id: s.id, action: s.action, inputs: s.inputs }));
  return document;
}

export function saveDraft() {
  try {
    sessionStorage.setItem(DRAFT_KEY, JSON.stringify({ flow: store.flow, connection: store.connection, testEvent: store.testEvent, savedAs: store.savedAs }));
  } catch (error) {
    // a full or unavailable storage only loses the draft across reloads
  }
}

export function restoreDraft() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(DRAFT_KEY) || "null");
    if (!saved || !saved.flow) return;
    const known = (saved.flow.steps || []).filter((s) => store.actions.has(s.action));
    store.flow = { ...saved.flow, steps: known };
    if (store.flow.trigger && !store.triggers.has(store.flow.trigger.key)) store.flow.trigger = null;
    store.connection = saved.connection || "";
    if (saved.testEvent && saved.testEvent.inputs) store.testEvent = saved.testEvent;
    if (typeof saved.savedAs === "string") store.savedAs = saved.savedAs;
  } catch (error) {
    // an unreadable draft is simply not restored
  }
}

// -- checking inputs as the runtime will ----------------------------------------------------

export function isAbsent(value) {
  return value === undefined || value === null || value === "";
}

export function references(value) {
  const found = [];
  const walk = (v) => {
    if (typeof v === "string") for (const m of v.matchAll(ANY_REFERENCE)) found.push(m[1]);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(value);
  return found;
}

export function isMapped(value) {
  const texts = [];
  const walk = (v) => {
    if (typeof v === "string") texts.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") Object.values(v).forEach(walk);
  };
  walk(value);
  return texts.some((t) => t.includes("{{"));
}

function given(value) {
  return !isAbsent(value) && value !== false;
}

function sentence(label, problem) {
  return /^(is|must|takes|needs) /.test(problem) ? `${label} ${problem}` : `${label}: ${problem}`;
}

/** Problems of one operation's inputs: required, bounds, JSON, references, the rules. */
export function checkInputs(operation, inputs, earlierIds, hasTrigger) {
  const problems = {};
  const add = (key, text) => (problems[key] = problems[key] || []).push(text);
  const specs = operation.inputs.filter((s) => s.type !== "connection");
  const labels = Object.fromEntries(specs.map((s) => [s.key, s.label]));
  for (const spec of specs) {
    const value = inputs[spec.key];
    if (isAbsent(value)) {
      if (spec.required && !("default" in spec)) add(spec.key, sentence(spec.label, "is required"));
      continue;
    }
    for (const ref of references(value)) {
      const [head, second] = ref.split(".");
      const ok =
        (head === "run" && ["id", "started_at"].includes(second) && ref.split(".").length === 2) ||
        (head === "trigger" && hasTrigger) ||
        (head === "steps" && earlierIds.includes(second));
      if (!ok) {
        const what = head === "steps" ? `step '${second}' is not before this one` : `'${ref}' names nothing a flow has`;
        add(spec.key, sentence(spec.label, `takes {{ ${ref} }}, but ${what}`));
      }
    }
    if (isMapped(value)) continue;
    if (spec.type === "integer" || spec.type === "number" || spec.type === "timestamp") {
      const number = typeof value === "number" ? value : Number(value);
      if (typeof value === "string" && spec.type === "timestamp" && Number.isNaN(number)) {
        if (Number.isNaN(Date.parse(value))) add(spec.key, sentence(spec.label, "must be a date and time"));
      } else if (!Number.isFinite(number) || ((spec.type !== "number") && !Number.isInteger(number))) {
        add(spec.key, sentence(spec.label, "must be a whole number"));
      } else {
        const schema = spec.schema || {};
        if (schema.minimum !== undefined && number < schema.minimum) add(spec.key, sentence(spec.label, `must be at least ${schema.minimum}`));
        if (schema.maximum !== undefined && number > schema.maximum) add(spec.key, sentence(spec.label, `must be at most ${schema.maximum}`));
      }
    }
    if (spec.type === "code" && typeof value === "string") {
      try {
        JSON.parse(value);
      } catch (error) {
        add(spec.key, sentence(spec.label, `is not valid JSON (${error.message})`));
      }
    }
  }
  for (const rule of operation.rules || []) {
    const present = rule.inputs.filter((k) => given(inputs[k]));
    const names = rule.inputs.map((k) => labels[k] || k).join(", ");
    if (rule.type === "at_least_one_of" && present.length === 0) {
      for (const key of rule.inputs) add(key, `Give at least one of ${names}`);
    }
    if (rule.type === "at_most_one_of" && present.length > 1) {
      const shown = present.map((k) => labels[k] || k).join(", ");
      for (const key of present) add(key, `Give only one of ${shown}`);
    }
  }
  return problems;
}

/** Check every step and the trigger, or with `only` the one step a run of that step alone
 * sends (the others keep the problems shown); returns how many inputs have a problem. */
export function checkFlow(only = null) {
  if (only) delete store.problems[only];
  else store.problems = {};
  let count = 0;
  const hasTrigger = Boolean(store.flow.trigger);
  if (!only && store.flow.trigger && store.triggers.has(store.flow.trigger.key)) {
    const found = checkInputs(store.triggers.get(store.flow.trigger.key), store.flow.trigger.inputs, [], false);
    if (Object.keys(found).length) store.problems.trigger = found;
    count += Object.keys(found).length;
  }
  store.flow.steps.forEach((step, index) => {
    if (only && step.id !== only) return;
    const earlier = store.flow.steps.slice(0, index).map((s) => s.id);
    const found = checkInputs(store.actions.get(step.action), step.inputs, earlier, hasTrigger);
    if (Object.keys(found).length) store.problems[step.id] = found;
    count += Object.keys(found).length;
  });
  // The test event goes with every run of a flow with a trigger: JSON left as typed (not
  // valid) is a problem at its editor.
  if (store.problems.trigger) delete store.problems.trigger.event;
  if (hasTrigger && typeof store.testEvent.inputs.event === "string") {
    const bag = (store.problems.trigger = store.problems.trigger || {});
    bag.event = ["Test event is not valid JSON: correct it, or press Get a test event"];
    count += 1;
  }
  if (store.problems.trigger && !Object.keys(store.problems.trigger).length) delete store.problems.trigger;
  return count;
}

/** Problems the server found (`[{step, key, label, problem}]`), shown at their inputs. */
export function setServerProblems(list) {
  store.problems = {};
  for (const p of list) {
    const bag = (store.problems[p.step] = store.problems[p.step] || {});
    (bag[p.key] = bag[p.key] || []).push(sentence(p.label, p.problem));
  }
}
