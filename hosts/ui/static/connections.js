// Connections: the saved ones (test, use, remove) and a form per connection type of the
// manifest. An Access Token is checked against Intercom's /me before it is saved; OAuth 2.0
// goes through the real redirect to the consent page and back to this server's callback.
// Secrets are write-only: typed here, never sent back by the server once saved.

import { api } from "./api.js";
import { fill, h } from "./dom.js";
import { field, showProblems } from "./fields.js";
import { checkInputs, store, typeLabel } from "./store.js";

let root = null;
let info = {};
let kind = null;
let onConnections = () => {};

export function mountConnections(element, serverInfo, changedConnections) {
  root = element;
  info = serverInfo;
  onConnections = changedConnections;
  kind = store.manifest.connections[0].key;
}

export async function loadConnections() {
  const answer = await api.get("/api/connections");
  store.connections = answer.connections;
  onConnections();
  return store.connections;
}

function notice(kindName, text) {
  return h("div", { class: ["notice", kindName], role: kindName === "error" ? "alert" : "status" }, text);
}

function workspaceText(w) {
  const who = w.email ? `, as ${w.email}` : "";
  return `Workspace ${w.name || "?"}${w.id_code ? ` (${w.id_code})` : ""}, region ${w.region || "?"}${who}, via ${w.api_base}`;
}

export function renderConnections() {
  if (!root) return;
  fill(root, 
    h("section", { class: "panel connections-list", "aria-labelledby": "saved-title" },
      h("h2", { id: "saved-title" }, "Connections"),
      h("p", { class: "muted" }, "Saved for this user only. Secrets are write-only: once saved, they never come back to this page."),
      sandboxCard(),
      ...store.connections.map(connectionCard),
      store.connections.length ? null : h("p", { class: "muted empty-list" }, "No saved connection yet: add one with the form."),
    ),
    h("section", { class: "panel connection-form", "aria-labelledby": "add-title" },
      h("h2", { id: "add-title" }, "Add a connection"),
      typeSwitch(),
      connectionForm(),
    ),
  );
}

function card(name, subtitle, facts, buttons) {
  const result = h("div", { class: "card-result" });
  return h("article", { class: "connection-card", dataset: { connection: name } },
    h("header", {}, h("strong", { class: "connection-name" }, name), h("span", { class: "badge kind" }, subtitle)),
    h("dl", {}, ...facts.flatMap(([term, value]) => [h("dt", {}, term), h("dd", {}, value)])),
    h("div", { class: "card-buttons" }, ...buttons(result)),
    result,
  );
}

function testButton(name, result) {
  return h("button", {
    type: "button", class: "button test-connection",
    onclick: async (event) => {
      const button = event.currentTarget;
      button.disabled = true;
      result.replaceChildren(notice("info", "Asking Intercom's /me…"));
      try {
        const answer = await api.post("/api/connections/test", { name });
        result.replaceChildren(notice("ok", `Works. ${workspaceText(answer.workspace)}`));
      } catch (error) {
        result.replaceChildren(notice("error", error.message));
      } finally {
        button.disabled = false;
      }
    },
  }, "Test");
}

function useButton(name) {
  const using = store.connection === name;
  return h("button", {
    type: "button", class: ["button", using && "current"], disabled: using,
    onclick: () => document.dispatchEvent(new CustomEvent("designer:connection", { detail: name })),
  }, using ? "Used for runs" : "Use for runs");
}

function sandboxCard() {
  return card("Embedded sandbox", "built in", [["What", "An offline Intercom on this machine, with a demo workspace"]], (result) => [
    testButton("", result),
    useButton(""),
  ]);
}

function connectionCard(connection) {
  const spec = store.manifest.connections.find((c) => c.key === connection.type);
  if (connection.problem) {
    return card(connection.name, typeLabel(connection.type), [["Problem", connection.problem]], () => [removeButton(connection.name)]);
  }
  const labels = Object.fromEntries((spec ? spec.inputs : []).map((i) => [i.key, i.label]));
  const region = spec && spec.inputs.find((i) => i.key === "region");
  const regionOption = region && region.options.find((o) => o.value === connection.region);
  const secrets = connection.secrets.map((key) => labels[key] || inputLabel(key));
  return card(connection.name, spec ? spec.type_label : connection.type, [
    [labels.region || "region", regionOption ? `${regionOption.label} (${connection.region})` : connection.region || ""],
    ["API host", connection.api_base],
    ["Secrets", secrets.length ? `${secrets.join(", ")}: saved, hidden` : "none"],
  ], (result) => [testButton(connection.name, result), useButton(connection.name), removeButton(connection.name)]);
}

/** The label the manifest gives a connection field in any connection type (an OAuth 2.0
 * connection holds the Access Token its login produced). */
function inputLabel(key) {
  for (const spec of store.manifest.connections) {
    const found = spec.inputs.find((i) => i.key === key);
    if (found) return found.label;
  }
  return key;
}

function removeButton(name) {
  let armed = false;
  const button = h("button", { type: "button", class: "button danger remove-connection" }, "Remove");
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = "Click again to remove";
      setTimeout(() => {
        armed = false;
        button.textContent = "Remove";
      }, 4000);
      return;
    }
    try {
      await api.post("/api/connections/remove", { name });
      if (store.connection === name) document.dispatchEvent(new CustomEvent("designer:connection", { detail: "" }));
      await loadConnections();
      renderConnections();
    } catch (error) {
      button.after(notice("error", error.message));
    }
  });
  return button;
}

function typeSwitch() {
  const group = h("div", { class: "segmented", role: "tablist", "aria-label": "Connection type" });
  for (const spec of store.manifest.connections) {
    group.append(h("button", {
      type: "button", role: "tab", class: ["segment", spec.key === kind && "active"],
      "aria-selected": String(spec.key === kind), dataset: { type: spec.key },
      onclick: () => {
        kind = spec.key;
        renderConnections();
      },
    }, spec.type_label));
  }
  return group;
}

/** Required inputs and choices come first; the other optional settings fold away. */
function shownFirst(spec) {
  return spec.required || spec.type === "select";
}

/** The form's values, as the fields rendered them (text trimmed; a secret as typed). */
function values(owner, spec) {
  const fields = {};
  for (const inputSpec of spec.inputs) {
    let value = owner.inputs[inputSpec.key];
    if (typeof value === "string" && !inputSpec.secret) value = value.trim();
    if (value === undefined || value === "") continue;
    fields[inputSpec.key] = value;
  }
  return fields;
}

function connectionForm() {
  const spec = store.manifest.connections.find((c) => c.key === kind);
  // The fields are the designer's one form renderer's, as a step's are (no mapping here).
  const owner = { inputs: {} };
  const ctx = { ownerId: "conn", index: 0, mappable: false, changed: () => {} };
  const input = (inputSpec) => field(owner, inputSpec, ctx);
  const status = h("div", { class: "form-status" });
  const named = { inputs: {} };
  const nameSpec = {
    key: "name",
    label: "Save as",
    type: "string",
    required: true,
    example: "work",
    comments: "The name you pick this connection by (letters, digits, '.', '_' or '-').",
  };
  const name = { get value() { return named.inputs.name || ""; } };
  const form = h("form", { class: "connection-fields", dataset: { type: spec.key }, novalidate: true },
    h("p", { class: "muted" }, spec.description),
    field(named, nameSpec, ctx),
    ...spec.inputs.filter(shownFirst).map(input),
    h("details", { class: "more-settings" },
      h("summary", {}, `More settings (${spec.inputs.filter((i) => !shownFirst(i)).length}): `,
        h("span", { class: "muted" }, spec.inputs.filter((i) => !shownFirst(i)).map((i) => i.label).join(", "))),
      h("div", { class: "connection-fields" }, ...spec.inputs.filter((i) => !shownFirst(i)).map(input))),
  );
  const show = (kindName, text) => status.replaceChildren(notice(kindName, text));
  // A problem is shown at its field (aria-invalid, described by it) before anything is
  // sent, as in a step's form; one the server finds is put at the field its text names.
  const mark = (found) => {
    for (const wrapper of form.querySelectorAll(".field")) showProblems(wrapper, found[wrapper.dataset.input]);
    const first = form.querySelector(".field.has-problem input, .field.has-problem select, .field.has-problem textarea");
    if (first) {
      const more = first.closest("details");
      if (more) more.open = true;
      first.focus();
    }
    return Object.keys(found).length;
  };
  const problems = (withName) => {
    const found = checkInputs(spec, owner.inputs, [], false);
    if (withName) {
      const given = name.value.trim();
      if (!given) found.name = ["Save as is required"];
      else if (!/^[A-Za-z0-9._-]+$/.test(given)) found.name = ["Save as must be letters, digits, '.', '_' or '-'"];
    }
    const count = mark(found);
    if (count) show("error", `Fix ${count} ${count === 1 ? "field" : "fields"}: ${count === 1 ? "it is" : "they are"} marked above. Nothing was sent.`);
    return count;
  };
  const refused = (error) => {
    const text = error.message;
    const found = {};
    for (const inputSpec of spec.inputs) if (text.includes(inputSpec.label)) found[inputSpec.key] = [text];
    if (/connection name|connection named/i.test(text)) found.name = [text];
    mark(found);
    show("error", text);
  };
  form.addEventListener("input", (event) => {
    const wrapper = event.target.closest(".field");
    if (wrapper && wrapper.classList.contains("has-problem")) showProblems(wrapper, null);
  });
  if (spec.kind === "oauth2") {
    const redirect = info.redirect_uri;
    const connect = h("button", { type: "submit", class: "button primary", id: "oauth-connect" }, "Connect with Intercom");
    form.prepend(h("div", { class: "notice info redirect" },
      "Add this redirect URL to your Intercom app (Authentication › Redirect URLs): ",
      h("code", { id: "redirect-uri" }, redirect)));
    form.append(h("div", { class: "form-buttons" }, connect), status);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (problems(true)) return;
      // Opened now, in the click: a window opened after an await would be blocked.
      const popup = window.open("", "intercom-oauth", "popup,width=620,height=760");
      connect.disabled = true;
      show("info", "Waiting for Intercom's consent page…");
      try {
        const started = await api.post("/api/oauth/start", { name: name.value.trim(), fields: values(owner, spec) });
        if (popup) popup.location.href = started.url;
        else window.location.href = started.url; // no popup allowed: go there in this tab
        await waitForLogin(started.login, show);
      } catch (error) {
        if (popup) popup.close();
        refused(error);
      } finally {
        connect.disabled = false;
      }
    });
  } else {
    const check = h("button", { type: "button", class: "button", id: "check-connection" }, "Check");
    const save = h("button", { type: "submit", class: "button primary", id: "save-connection", disabled: true }, "Save connection");
    form.append(h("div", { class: "form-buttons" }, check, save), status);
    const invalidate = () => (save.disabled = true);
    form.addEventListener("input", invalidate);
    check.addEventListener("click", async () => {
      if (problems(false)) return;
      check.disabled = true;
      show("info", "Asking Intercom's /me with these values…");
      try {
        const answer = await api.post("/api/connections/check", { type: spec.key, fields: values(owner, spec) });
        show("ok", `Works. ${workspaceText(answer.workspace)}. Save it?`);
        save.disabled = false;
      } catch (error) {
        refused(error);
      } finally {
        check.disabled = false;
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (problems(true)) return;
      save.disabled = true;
      try {
        const answer = await api.post("/api/connections", { name: name.value.trim(), type: spec.key, fields: values(owner, spec) });
        await loadConnections();
        renderConnections();
        root.querySelector(".connection-form .form-status").replaceChildren(
          notice("ok", `Saved ${answer.connection.name}. ${workspaceText(answer.workspace)}.`));
      } catch (error) {
        refused(error);
      }
    });
  }
  return form;
}

async function waitForLogin(login, show) {
  const deadline = Date.now() + 15 * 60 * 1000;
  const done = new Promise((resolve) => {
    const listener = (event) => {
      if (event.origin === window.location.origin && event.data && event.data.type === "intercom-oauth") resolve();
    };
    window.addEventListener("message", listener, { once: true });
  });
  while (Date.now() < deadline) {
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 700))]);
    const status = await api.get(`/api/oauth/status?login=${encodeURIComponent(login)}`);
    if (status.status === "saved") {
      await loadConnections();
      renderConnections();
      root.querySelector(".connection-form .form-status").replaceChildren(notice("ok", status.message));
      return;
    }
    if (status.status === "failed") throw new Error(status.message);
  }
  throw new Error("No answer from Intercom's consent page within 15 minutes: start again.");
}

