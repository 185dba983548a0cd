// Deploy and Runs (docs/flows.md): the flow on the canvas deployed to a Temporal cluster, and
// the runs of deployed flows, step by step. The cluster is this page's setting (kept in
// this browser), else the server's $INTERCOM_TEMPORAL_ADDRESS.

import { api } from "./api.js";
import { h, fill } from "./dom.js";
import { flowDocument, store, typeLabel } from "./store.js";

const SETTINGS_KEY = "intercom-designer-temporal";
const $ = (selector) => document.querySelector(selector);
let defaults = { address: "", namespace: "default", task_queue: "intercom-connector" };

function cluster() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") || {};
  } catch (error) {
    saved = {};
  }
  return { ...defaults, ...Object.fromEntries(Object.entries(saved).filter(([, v]) => v)) };
}

function remember(address) {
  try {
    localStorage.setItem(SETTINGS_KEY, JSON.stringify({ ...cluster(), address }));
  } catch (error) {
    // storage unavailable: the setting lasts for this page only
  }
  for (const input of document.querySelectorAll(".cluster-address")) input.value = address;
}

function addressInput(id) {
  return h("input", {
    id, class: "cluster-address", value: cluster().address, placeholder: "HOST:PORT",
    "aria-describedby": id === "deploy-address" ? "deploy-message" : "runs-message", "aria-required": "true",
    autocomplete: "off", spellcheck: "false",
    onchange: (event) => remember(event.target.value.trim()),
  });
}

// -- Deploy -----------------------------------------------------------------------------------

function deployDialog() {
  const message = h("p", { id: "deploy-message", class: "deploy-message", role: "status" });
  const dialog = h("dialog", { id: "deploy-dialog", "aria-labelledby": "deploy-title" },
    h("header", {}, h("h2", { id: "deploy-title" }, "Deploy this flow"),
      h("button", { type: "button", class: "button", onclick: () => dialog.close() }, "Close")),
    h("p", { class: "muted" }, "It then runs on its trigger, on the cluster's workers, until undeployed (",
      h("code", {}, "intercom-connector undeploy NAME"), ")."),
    h("label", { for: "deploy-address" }, "Temporal cluster", addressInput("deploy-address")),
    h("label", { for: "deploy-name" }, "Deployment name",
      h("input", { id: "deploy-name", autocomplete: "off", "aria-describedby": "deploy-message" })),
    h("label", { for: "deploy-every" }, "Check every (seconds, polling triggers)",
      h("input", { id: "deploy-every", type: "number", min: "1", value: "60", "aria-describedby": "deploy-message" })),
    h("p", { class: "muted", id: "deploy-connection" }),
    h("div", { class: "dialog-actions" },
      h("button", { type: "button", class: "button primary", id: "deploy-go", onclick: () => deploy(message) }, "Deploy")),
    message,
  );
  document.body.append(dialog);
  return dialog;
}

function openDeploy() {
  const dialog = $("#deploy-dialog") || deployDialog();
  const flow = flowDocument();
  $("#deploy-name").value = (flow.name || "flow").replace(/[^A-Za-z0-9_.-]+/g, "-").replace(/^[-.]+|[-.]+$/g, "") || "flow";
  $("#deploy-address").value = cluster().address;
  const saved = store.connections.find((c) => c.name === store.connection);
  $("#deploy-connection").textContent = store.connection
    ? `Connection: ${store.connection}${saved ? `, ${typeLabel(saved.type)}` : ""} (each worker uses its own saved connection of that name)`
    : "Connection: the workers' INTERCOM_* settings";
  fill($("#deploy-message"));
  dialog.showModal();
}

async function deploy(message) {
  const address = $("#deploy-address").value.trim();
  remember(address);
  $("#deploy-go").disabled = true;
  message.className = "deploy-message";
  message.textContent = "Deploying…";
  markFields([]);
  try {
    const done = await api.post("/api/temporal/deploy", {
      ...cluster(), address, flow: flowDocument(), name: $("#deploy-name").value.trim(),
      every: $("#deploy-every").value, connection: store.connection || "",
    });
    message.classList.add("ok");
    message.textContent = `Deployed ${done.name}: ${done.flow} on ${done.trigger} (${done.how}).`;
  } catch (error) {
    message.classList.add("error");
    message.textContent = error.message;
    markFields(error.problems);
  } finally {
    $("#deploy-go").disabled = false;
  }
}

/** The dialog's fields a refusal names (by the server's problem keys), marked invalid; the
 * message describes each field (aria-describedby), so a screen reader reads why. */
const FIELDS = { address: "#deploy-address", name: "#deploy-name", every: "#deploy-every" };

function markFields(problems) {
  const named = new Set((problems || []).map((p) => FIELDS[p.key]).filter(Boolean));
  for (const selector of Object.values(FIELDS)) {
    if (named.has(selector)) $(selector).setAttribute("aria-invalid", "true");
    else $(selector).removeAttribute("aria-invalid");
  }
  const first = [...named][0];
  if (first) $(first).focus();
}

// -- Runs -------------------------------------------------------------------------------------

function runsView() {
  const view = h("main", { id: "view-runs", class: "runs-view", hidden: true },
    h("div", { class: "runs-head" },
      h("label", { for: "runs-address" }, "Temporal cluster", addressInput("runs-address")),
      h("button", { type: "button", class: "button", id: "runs-refresh", onclick: refresh }, "Refresh")),
    h("p", { class: "muted" }, "Temporal's own web UI lists the same runs: workflows of type IntercomFlow."),
    h("div", { id: "runs-message", class: "banner", hidden: true }),
    h("section", { "aria-labelledby": "deployments-title" }, h("h2", { id: "deployments-title" }, "Deployments"),
      h("div", { id: "deployments-list" })),
    h("section", { "aria-labelledby": "runs-title" }, h("h2", { id: "runs-title" }, "Runs"),
      h("div", { id: "runs-list" })),
    h("section", { id: "run-detail", "aria-live": "polite" }),
  );
  $("#app").append(view);
  return view;
}

function table(columns, rows, onRow) {
  const line = (row) => h("tr", {
    class: ["run-row", row.status && `status-${row.status}`],
    dataset: row.id ? { runId: row.id } : {},
    tabindex: onRow ? "0" : null,
    onclick: onRow ? () => onRow(row) : null,
    onkeydown: onRow ? (event) => { if (event.key === "Enter") onRow(row); } : null,
  }, columns.map(([key]) => h("td", { class: `col-${key}` }, row[key] ?? "")));
  return h("table", { class: "runs-table" },
    h("thead", {}, h("tr", {}, columns.map(([, label]) => h("th", {}, label)))),
    h("tbody", {}, rows.map(line)),
  );
}

function say(text) {
  const box = $("#runs-message");
  box.hidden = !text;
  box.className = text ? "banner error" : "banner";
  box.textContent = text || "";
}

async function refresh() {
  remember($("#runs-address").value.trim());
  say(null);
  const body = cluster();
  $("#runs-list").dataset.loading = "true";
  try {
    const [deployed, listed] = await Promise.all([
      api.post("/api/temporal/deployments", body),
      api.post("/api/temporal/runs", body),
    ]);
    fill($("#deployments-list"), deployed.deployments.length
      ? table([["name", "Name"], ["flow", "Flow"], ["trigger", "Trigger"], ["connection", "Connection"],
        ["last_run", "Last run"], ["failures", "Failures"]], deployed.deployments)
      : h("p", { class: "muted" }, "No flow is deployed on this cluster."));
    fill($("#runs-list"), listed.runs.length
      ? table([["id", "Run"], ["deployment", "Deployment"], ["flow", "Flow"], ["status", "Status"],
        ["started", "Started"], ["failed_step", "Failed step"], ["error", "Error"]], listed.runs, showRun)
      : h("p", { class: "muted" }, "No runs yet."));
  } catch (error) {
    say(error.message);
  } finally {
    delete $("#runs-list").dataset.loading;
  }
}

function json(value) {
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

async function showRun(row) {
  const detail = $("#run-detail");
  fill(detail, h("p", { class: "muted" }, `Loading ${row.id}…`));
  try {
    const run = await api.post("/api/temporal/run", { ...cluster(), id: row.id });
    fill(detail,
      h("h2", {}, `Run ${run.id}`),
      h("p", { class: "muted" }, `${run.flow || ""} · ${run.status} · started ${run.started}`),
      run.steps.map((step) => h("article", { class: ["runs-step", `status-${step.status}`], dataset: { step: step.id } },
        h("header", {}, h("strong", {}, step.id), " ", h("code", {}, step.action || ""), " ",
          h("span", { class: "step-status" }, step.status)),
        step.inputs !== undefined ? [h("h3", {}, "Inputs"), json(step.inputs)] : null,
        step.output !== undefined ? [h("h3", {}, "Output"), json(step.output)] : null,
        step.error ? [h("h3", {}, "Error"), h("p", { class: "step-error" }, step.error.message || "")] : null,
      )),
    );
  } catch (error) {
    fill(detail, h("p", { class: "banner error" }, error.message));
  }
}

function showRuns(visible) {
  const view = $("#view-runs") || runsView();
  view.hidden = !visible;
  const tab = $("#tab-runs");
  tab.classList.toggle("active", visible);
  tab.setAttribute("aria-selected", String(visible));
  if (!visible) return;
  for (const name of ["designer", "connections"]) {
    $(`#view-${name}`).hidden = true;
    $(`#tab-${name}`).classList.remove("active");
    $(`#tab-${name}`).setAttribute("aria-selected", "false");
  }
  document.body.dataset.view = "runs";
  refresh();
}

async function mount() {
  const tabs = $("nav.tabs");
  const group = $(".designer-only.toolbar-group");
  if (!tabs || !group) return;
  tabs.append(h("button", { type: "button", role: "tab", id: "tab-runs", class: "tab", "aria-selected": "false",
    onclick: () => showRuns(true) }, "Runs"));
  group.append(h("button", { type: "button", class: "button", id: "deploy-flow",
    title: "Deploy this flow to a Temporal cluster: it runs on its trigger", onclick: openDeploy }, "Deploy…"));
  for (const name of ["designer", "connections"]) {
    $(`#tab-${name}`).addEventListener("click", () => showRuns(false));
  }
  try {
    defaults = { ...defaults, ...(await api.get("/api/temporal")) };
  } catch (error) {
    // no token yet (the page says how to open it): the defaults stay
  }
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
else mount();
