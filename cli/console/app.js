// The Strata console: the environments, one environment as its layered component graph
// (live while an operation runs), its resources, drift, images, inventory and history, the
// plan of an edited spec, and the actions. Everything goes through /api/, which the strata
// CLI signs and forwards to the API; nothing here holds a credential.
"use strict";

// The session token comes in the URL strata console prints; kept for this tab.
const params = new URLSearchParams(location.search);
function stored() {
  try { return sessionStorage.getItem("strata-token"); } catch (_) { return null; }
}
const token = params.get("token") || stored() || "";
try { sessionStorage.setItem("strata-token", token); } catch (_) { /* private mode */ }
const main = document.getElementById("main");
let graph = null;
let timer = null;
// Whether the environment shown has an operation running (the page then follows it).
let running = false;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(method, path, body, contentType) {
  const headers = { "x-strata-console": token };
  if (body !== undefined) headers["content-type"] = contentType || "application/json";
  const response = await fetch("/api" + path, { method, headers, body });
  let json = null;
  try { json = await response.json(); } catch (_) { json = null; }
  return { status: response.status, json };
}

function errorText(answer) {
  const e = answer.json && answer.json.error;
  if (!e) return "HTTP " + answer.status;
  const fields = (e.fields || []).map((f) => f.path + ": " + f.message).join("; ");
  return e.code + ": " + e.message + (fields ? " (" + fields + ")" : "");
}

function when(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString().replace(".000Z", "Z") : "-";
}

function badge(state) {
  return el("span", { class: "state state-" + (state || "none"), id: "state" }, state || "never run");
}

function pairs(map) {
  return Object.entries(map || {}).map(([k, v]) => el("div", { class: "mono" }, k + " = " + v));
}

function notice(text, isError) {
  return el("div", { class: "notice" + (isError ? " error" : ""), id: "notice" }, text);
}

async function showList() {
  const answer = await api("GET", "/environments?limit=100");
  if (answer.status !== 200) { main.replaceChildren(notice(errorText(answer), true)); return; }
  const rows = answer.json.items.map((item) =>
    el("tr", { "data-environment": item.name },
      el("td", {}, el("a", { href: "#/env/" + item.name }, item.name)),
      el("td", {}, badge(item.state)),
      el("td", {}, item.generation),
      el("td", {}, when(item.updatedAt)),
      el("td", {}, item.message || "")));
  main.replaceChildren(
    el("h1", {}, "Environments"),
    rows.length
      ? el("table", { id: "environments" },
          el("tr", {}, ["Name", "State", "Generation", "Updated", "Message"].map((h) => el("th", {}, h))),
          rows)
      : el("p", { class: "muted", id: "environments" }, "No environments yet: strata apply -f spec.yaml"));
}

function drawGraph(view, radius) {
  const status = view.status || {};
  const components = status.components || {};
  const started = status.operation ? status.operation.startedAt : null;
  const stages = graph.stages.map((stage) => el("div", { class: "stage" }, stage.map((node) => {
    const c = components[node.component];
    const phase = c ? c.phase : "none";
    const took = c && started && c.updatedAt >= started ? (c.updatedAt - started) + " s into the run" : "";
    return el("div", {
      class: "node phase-" + phase + (node.stateful ? " stateful" : "") + (radius && radius.has(node.component) ? " radius" : ""),
      "data-component": node.component, "data-phase": phase,
    },
      el("div", { class: "name" }, node.component),
      el("div", { class: "meta" }, node.layer + (node.stateful ? " · holds data" : "")),
      el("div", { class: "meta" }, phase + (c && c.lastError ? " — " + c.lastError.error : "")),
      el("div", { class: "meta muted" }, took));
  })));
  const withArrows = [];
  stages.forEach((s, i) => { if (i) withArrows.push(el("div", { class: "stage-arrow" }, "→")); withArrows.push(s); });
  return el("div", { class: "graph", id: "graph" }, withArrows);
}

function action(label, name, question, method, path, body, danger) {
  return el("button", {
    class: danger ? "danger" : "", "data-action": label.toLowerCase(),
    onclick: async () => {
      const extra = label === "Extend TTL" ? prompt("Extend the TTL of " + name + " by (10m to 30d):", "24h") : "";
      if (extra === null) return;
      if (!confirm(question)) return;
      const sent = label === "Extend TTL" ? JSON.stringify({ extendBy: extra }) : body;
      const answer = await api(method, path, sent);
      document.getElementById("notice").replaceWith(
        answer.status < 300 ? notice(label + ": " + (answer.json.message || answer.json.execution || "done")) : notice(errorText(answer), true));
      refresh();
    },
  }, label);
}

function sections(view, history) {
  const status = view.status || {};
  const components = status.components || {};
  const resources = Object.entries(components).map(([name, c]) =>
    el("tr", {}, el("td", {}, name), el("td", {}, pairs(c.resourceIds)), el("td", {}, pairs(c.outputs))));
  const drift = (status.drift || []).map((d) => el("tr", {},
    el("td", {}, d.component), el("td", {}, d.drift),
    el("td", {}, (d.fields || []).map((f) => el("div", { class: "mono" }, f.path + ": expected " + f.expected + ", observed " + f.observed)),
      (d.resources || []).map((r) => el("div", { class: "mono" }, "missing " + r)), d.reason || "")));
  const kinds = {};
  for (const item of status.inventory || []) kinds[item.resourceType] = (kinds[item.resourceType] || 0) + 1;
  return [
    el("h2", {}, "Resources and outputs"),
    el("table", { id: "resources" }, el("tr", {}, el("th", {}, "Component"), el("th", {}, "Resource ids"), el("th", {}, "Outputs")), resources),
    el("h2", {}, "Ingress"),
    el("ul", { id: "ingress" }, (status.ingressUrls || []).map((u) => el("li", {}, el("a", { href: u, target: "_blank", rel: "noopener" }, u)))),
    el("h2", {}, "Credentials (references, never values)"),
    el("ul", { id: "credentials" }, (status.credentials || []).map((c) => el("li", { class: "mono" }, c.name + ": " + c.arn))),
    el("h2", {}, "Drift"),
    drift.length ? el("table", { id: "drift" }, drift) : el("p", { class: "muted", id: "drift" }, "None recorded."),
    el("h2", {}, "Image updates"),
    el("ul", { id: "updates" }, (status.imageUpdates || []).map((u) => el("li", {}, u.service + ": " + u.deployed + " → " + u.available))),
    el("h2", {}, "Cost of what runs"),
    costTable(view.cost, "cost"),
    el("h2", {}, "Inventory"),
    el("p", { id: "inventory" }, ((status.inventory || []).length + (status.inventoryOmitted || 0)) + " resources: " +
      Object.entries(kinds).map(([k, n]) => k + " " + n).join(", ")),
    el("h2", {}, "History"),
    el("table", { id: "history" }, el("tr", {}, ["At", "Event", "By", "Message"].map((h) => el("th", {}, h))),
      (history.items || []).map((e) => el("tr", {}, el("td", {}, when(e.at)), el("td", {}, e.kind), el("td", { class: "mono" }, e.actor), el("td", {}, e.message)))),
  ];
}

// An estimate as a table: each component's monthly figure and what it is made of.
function costTable(estimate, id) {
  if (!estimate) return el("p", { class: "muted", id }, "Nothing runs yet.");
  const money = (usd) => "$" + usd.toFixed(2);
  return el("table", { id },
    el("tr", {}, ["Component", "USD a month", "Priced"].map((h) => el("th", {}, h))),
    estimate.components.map((c) => el("tr", {}, el("td", {}, c.component), el("td", { class: "money" }, money(c.monthlyUsd)),
      el("td", {}, c.lines.map((l) => l.quantity + (l.unit === "hour" ? " × " : " GiB ") + l.item + " at $" + l.unitUsd + (l.unit === "hour" ? "/h" : "/GiB-month")).join("; ")))),
    el("tr", {}, el("th", {}, "total"), el("th", { class: "money", "data-total": "" }, money(estimate.monthlyUsd)),
      el("td", { class: "muted" }, "list prices of " + estimate.pricesOf + ", " + estimate.region +
        ((estimate.unpriced || []).length ? "; not priced: " + estimate.unpriced.join(", ") : ""))));
}

function planSection(view) {
  const text = el("textarea", { id: "spec", spellcheck: "false" }, JSON.stringify(view.spec, null, 2));
  const result = el("div", { id: "plan" });
  const file = el("input", { type: "file", accept: ".yaml,.yml,.json", onchange: async (e) => {
    const f = e.target.files[0]; if (f) text.value = await f.text();
  } });
  const run = el("button", { "data-action": "plan", onclick: async () => {
    const body = text.value;
    const type = body.trim().startsWith("{") ? "application/json" : "application/yaml";
    const answer = await api("POST", "/environments/" + view.name + "/plan", body, type);
    if (answer.status !== 200) { result.replaceChildren(notice(errorText(answer), true)); return; }
    const p = answer.json;
    const changed = p.plan.components.filter((c) => c.action !== "noOp");
    const radius = new Set(changed.map((c) => c.component));
    document.getElementById("graph").replaceWith(drawGraph(view, radius));
    result.replaceChildren(
      el("p", {}, p.summary + (p.deployOnly ? " — only the application layer changes" : "")),
      el("table", {}, changed.map((c) => el("tr", { "data-planned": c.component },
        el("td", {}, c.component), el("td", {}, c.action + ((c.becauseOf || []).length ? " (because of " + c.becauseOf.join(", ") + ")" : "")),
        el("td", {}, (c.changes || []).map((ch) => el("div", { class: "mono" }, ch.field + ": " + ch.from + " → " + ch.to + " (" + ch.effect + ": " + ch.why + ")")))))),
      p.refused.length
        ? el("p", { class: "refused", id: "refused" }, "Refused: applying would recreate or delete " + p.refused.join(", ") +
            " and lose its data; apply with --allow-recreate " + p.refused.join(",") + " to go ahead.")
        : null,
      el("p", { id: "cost-change" }, "Cost: $" + (p.cost.before ? p.cost.before.monthlyUsd : 0).toFixed(2) + " → $" +
        p.cost.after.monthlyUsd.toFixed(2) + " a month (" + (p.cost.changeUsd >= 0 ? "+" : "") + p.cost.changeUsd.toFixed(2) + ")"),
      p.cost.overBudget ? el("p", { class: "refused", id: "over-budget" }, "Refused: " + p.cost.overBudget) : null,
      costTable(p.cost.after, "plan-cost"));
  } }, "Plan");
  return [el("h2", {}, "Plan an edited or uploaded spec"), text, el("div", { class: "actions" }, file, run), result];
}

async function showEnvironment(name) {
  if (!graph) graph = (await api("GET", "/graph")).json;
  const [answer, history] = await Promise.all([
    api("GET", "/environments/" + name),
    api("GET", "/environments/" + name + "/history?limit=20"),
  ]);
  if (answer.status !== 200) { main.replaceChildren(notice(errorText(answer), true)); return; }
  const view = answer.json;
  const status = view.status || {};
  running = Boolean(view.runningExecution) || status.state === "Progressing" || status.state === "Deleting";
  const keep = document.getElementById("spec");
  const edited = keep && keep.dataset.edited ? keep : null;
  main.replaceChildren(
    el("h1", {}, view.name, " ", badge(status.state || (view.runningExecution ? "Starting" : null))),
    el("p", { id: "message" }, status.message || ""),
    el("p", { class: "muted" }, "generation " + view.generation + " (observed " + (status.observedGeneration || 0) + ")" +
      (view.runningExecution ? " · running " + view.runningExecution : "")),
    el("div", { class: "actions" },
      action("Sync", name, "Sync " + name + " now: read its live resources, report drift and newer images, and act as its sync policy says (repair or roll out).", "POST", "/environments/" + name + "/sync"),
      action("Rollback", name, "Roll back " + name + ": switch every blueGreen service back to its previous colour.", "POST", "/environments/" + name + "/rollback"),
      action("Extend TTL", name, "Push the TTL expiry of " + name + " back; its warnings start over.", "POST", "/environments/" + name + "/ttl"),
      action("Cancel", name, "Cancel the running operation on " + name + ": it stops, its steps act on nothing more, and the environment shows Cancelled until the next apply or delete.", "POST", "/environments/" + name + "/cancel"),
      action("Delete", name, "Delete " + name + ": every resource goes as its onDelete policies say (database: final snapshot unless retained; buckets kept when retained). This cannot be undone.", "DELETE", "/environments/" + name, undefined, true)),
    notice("", false),
    drawGraph(view, null),
    ...sections(view, history.json || {}),
    ...planSection(view));
  if (edited) document.getElementById("spec").replaceWith(edited);
  document.getElementById("spec").addEventListener("input", (e) => { e.target.dataset.edited = "1"; });
}

async function refresh() {
  clearTimeout(timer);
  const route = location.hash.replace(/^#/, "") || "/";
  const match = route.match(/^\/env\/([a-z0-9-]+)$/);
  try {
    if (match) await showEnvironment(match[1]);
    else await showList();
  } catch (e) {
    main.replaceChildren(notice(String(e), true));
  }
  // Live while an operation runs (every 2 s); the list every 5 s; an idle environment's
  // page stays as it is (an edited spec and its plan are not redrawn away).
  if (!match) timer = setTimeout(refresh, 5000);
  else if (running) timer = setTimeout(refresh, 2000);
}

window.addEventListener("hashchange", refresh);
refresh();
