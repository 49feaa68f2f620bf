// Seatflow's operations dashboard: signs in with the operator token (kept in sessionStorage,
// sent as a Bearer header) and polls /api/v1/dashboard. No build step: plain browser JavaScript.
"use strict";

const TOKEN_KEY = "seatflow.operatorToken";
const POLL_MS = 3000;
const WINDOW_MS = 15 * 60 * 1000;

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });
const $ = (selector) => document.querySelector(selector);

function formatCount(n) { return n == null ? "–" : integer.format(n); }
function formatRate(n) { return n == null ? "–" : decimal.format(n); }
function formatMillis(ms) {
  if (ms == null) return "–";
  if (ms < 1000) return integer.format(ms) + " ms";
  if (ms < 60000) return decimal.format(ms / 1000) + " s";
  return integer.format(Math.floor(ms / 60000)) + " min " + integer.format(Math.round(ms / 1000) % 60) + " s";
}
function formatAgo(iso) {
  if (!iso) return "never";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return "under a minute ago";
  if (seconds < 3600) return integer.format(Math.floor(seconds / 60)) + " min ago";
  if (seconds < 86400) return integer.format(Math.floor(seconds / 3600)) + " h ago";
  return new Date(iso).toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

function setMetric(name, text) {
  const node = document.querySelector(`[data-metric="${name}"]`);
  if (node) node.textContent = text;
}

// A small line chart of the last 15 minutes: one polyline per series, scaled to the largest value.
const SVG_NS = "http://www.w3.org/2000/svg";
function drawChart(name, samples, series) {
  const box = document.querySelector(`[data-chart="${name}"]`);
  const width = 300, height = 70, top = 12;
  const end = samples.length ? Date.parse(samples[samples.length - 1].at) : Date.now();
  const start = end - WINDOW_MS;
  let max = 0;
  for (const s of samples) for (const line of series) max = Math.max(max, line.value(s) ?? 0);
  const scale = max > 0 ? max : 1;
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", `${name}, last 15 minutes, peak ${decimal.format(max)}`);
  const axis = document.createElementNS(SVG_NS, "line");
  Object.entries({ x1: 0, y1: height - 0.5, x2: width, y2: height - 0.5, class: "axis" })
    .forEach(([k, v]) => axis.setAttribute(k, v));
  svg.appendChild(axis);
  for (const line of series) {
    const points = samples
      .filter((s) => line.value(s) != null)
      .map((s) => {
        const x = ((Date.parse(s.at) - start) / WINDOW_MS) * width;
        const y = height - 1 - (line.value(s) / scale) * (height - top - 1);
        return `${x.toFixed(1)},${y.toFixed(1)}`;
      });
    if (points.length === 0) continue;
    const path = document.createElementNS(SVG_NS, "polyline");
    path.setAttribute("points", points.join(" "));
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", `var(--${line.colour})`);
    path.setAttribute("stroke-width", "2");
    path.setAttribute("vector-effect", "non-scaling-stroke");
    svg.appendChild(path);
  }
  const peak = document.createElementNS(SVG_NS, "text");
  peak.setAttribute("x", "2");
  peak.setAttribute("y", "9");
  peak.textContent = `peak ${decimal.format(max)} · 15 min`;
  svg.appendChild(peak);
  box.replaceChildren(svg);
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderLicenses(licenses) {
  const body = $("#licenses tbody");
  if (licenses.length === 0) {
    const row = document.createElement("tr");
    const td = cell("No licenses yet.", "empty");
    td.colSpan = 5;
    row.appendChild(td);
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(...licenses.map((license) => {
    const row = document.createElement("tr");
    row.dataset.license = license.id;
    row.appendChild(cell(license.name));
    const seats = cell("");
    const label = document.createElement("span");
    label.dataset.field = "seats";
    label.textContent = `${formatCount(license.seats_used)} / ${formatCount(license.seats)}`;
    const bar = document.createElement("div");
    const share = license.seats > 0 ? Math.min(1, license.seats_used / license.seats) : 0;
    bar.className = share >= 1 ? "bar full" : "bar";
    bar.setAttribute("role", "progressbar");
    bar.setAttribute("aria-valuemin", "0");
    bar.setAttribute("aria-valuemax", String(license.seats));
    bar.setAttribute("aria-valuenow", String(license.seats_used));
    bar.setAttribute("aria-label", `${license.name} seats used`);
    const fill = document.createElement("span");
    fill.style.width = `${(share * 100).toFixed(1)}%`;
    bar.appendChild(fill);
    seats.append(label, bar);
    row.appendChild(seats);
    const blocked = cell(formatCount(license.blocked), "num");
    blocked.dataset.field = "blocked";
    const pending = cell(formatCount(license.pending_events), "num");
    pending.dataset.field = "pending";
    const last = cell(formatAgo(license.last_scim_request_at));
    last.dataset.field = "last-scim";
    row.append(blocked, pending, last);
    return row;
  }));
}

function renderDeadLetters(letters, licenses) {
  const names = new Map(licenses.map((l) => [l.id, l.name]));
  const body = $("#dead-letters tbody");
  if (letters.length === 0) {
    const row = document.createElement("tr");
    const td = cell("No dead letters.", "empty");
    td.colSpan = 6;
    row.appendChild(td);
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(...letters.map((letter) => {
    const row = document.createElement("tr");
    row.dataset.deadLetter = String(letter.id);
    const action = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Replay";
    button.setAttribute("aria-label", `Replay event ${letter.id}`);
    button.addEventListener("click", () => replay(letter.id, button));
    action.appendChild(button);
    row.append(
      cell(formatCount(letter.id), "num"),
      cell(names.get(letter.license_id) ?? letter.license_id),
      cell(formatCount(letter.attempts), "num"),
      cell(letter.last_error ?? "", "error-text"),
      cell(formatAgo(letter.updated_at)),
      action,
    );
    return row;
  }));
}

function render(data) {
  const samples = data.samples;
  const now = samples.length ? samples[samples.length - 1] : null;
  setMetric("scim-2xx-rate", formatRate(now?.scim_per_sec["2xx"]));
  setMetric("scim-4xx-rate", formatRate(now?.scim_per_sec["4xx"]));
  setMetric("scim-5xx-rate", formatRate(now?.scim_per_sec["5xx"]));
  setMetric("scim-2xx-total", formatCount(data.scim_requests_total["2xx"]));
  setMetric("scim-4xx-total", formatCount(data.scim_requests_total["4xx"]));
  setMetric("scim-5xx-total", formatCount(data.scim_requests_total["5xx"]));
  setMetric("enqueued-rate", formatRate(now?.enqueued_per_sec));
  setMetric("applied-rate", formatRate(now?.applied_per_sec));
  setMetric("queue-source", data.mode === "rabbitmq" ? "RabbitMQ" : "outbox");
  setMetric("queue-work", formatCount(now?.queue?.work));
  setMetric("queue-delay", formatCount(now?.queue?.delay));
  setMetric("queue-parking", formatCount(now?.queue?.parking));
  setMetric("lag-p50", formatMillis(now?.lag_p50_ms));
  setMetric("lag-p95", formatMillis(now?.lag_p95_ms));
  setMetric("oldest-pending", now?.oldest_pending_secs == null ? "none" : formatMillis(now.oldest_pending_secs * 1000));
  setMetric("retries-rate", formatRate(now?.retries_per_min));
  setMetric("dead-rate", formatRate(now?.dead_letters_per_min));
  setMetric("dead-count", formatCount(data.dead_letter_count));
  const hooks = now?.webhooks;
  setMetric("webhook-delivered-rate", formatCount(hooks?.deliveries_per_min.delivered));
  setMetric("webhook-failed-rate", formatCount(hooks?.deliveries_per_min.failed));
  setMetric("webhook-no-answer-rate", formatCount(hooks?.deliveries_per_min.no_answer));
  setMetric("webhook-delivered-hour", formatCount(data.webhook_deliveries_last_hour.delivered));
  setMetric("webhook-failed-hour", formatCount(data.webhook_deliveries_last_hour.failed));
  setMetric("webhook-no-answer-hour", formatCount(data.webhook_deliveries_last_hour.no_answer));
  setMetric("webhook-lag", hooks == null ? "–" : hooks.lag_secs == null ? "none" : formatMillis(hooks.lag_secs * 1000));
  setMetric("webhook-failing", formatCount(hooks?.endpoints_failing));
  drawChart("scim", samples, [
    { value: (s) => s.scim_per_sec["2xx"], colour: "ok" },
    { value: (s) => s.scim_per_sec["4xx"], colour: "warn" },
    { value: (s) => s.scim_per_sec["5xx"], colour: "bad" },
  ]);
  drawChart("events", samples, [
    { value: (s) => s.enqueued_per_sec, colour: "c1" },
    { value: (s) => s.applied_per_sec, colour: "c2" },
  ]);
  drawChart("queue", samples, [
    { value: (s) => s.queue?.work, colour: "c1" },
    { value: (s) => s.queue?.delay, colour: "c3" },
    { value: (s) => s.queue?.parking, colour: "bad" },
  ]);
  drawChart("lag", samples, [
    { value: (s) => s.lag_p50_ms, colour: "c1" },
    { value: (s) => s.lag_p95_ms, colour: "c3" },
  ]);
  drawChart("failures", samples, [
    { value: (s) => s.retries_per_min, colour: "warn" },
    { value: (s) => s.dead_letters_per_min, colour: "bad" },
  ]);
  drawChart("webhook-deliveries", samples, [
    { value: (s) => s.webhooks.deliveries_per_min.delivered, colour: "ok" },
    { value: (s) => s.webhooks.deliveries_per_min.failed, colour: "warn" },
    { value: (s) => s.webhooks.deliveries_per_min.no_answer, colour: "bad" },
  ]);
  drawChart("webhook-lag", samples, [
    { value: (s) => s.webhooks.lag_secs ?? 0, colour: "c3" },
    { value: (s) => s.webhooks.endpoints_failing, colour: "bad" },
  ]);
  renderLicenses(data.licenses);
  renderDeadLetters(data.dead_letters, data.licenses);
  $("#status").textContent = `${data.mode === "rabbitmq" ? "RabbitMQ" : "Embedded"} mode · updated ${new Date().toLocaleTimeString("en-GB")}`;
}

async function api(method, path) {
  const response = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` },
  });
  if (response.status === 401) {
    signOut("The operator token was not accepted.");
    throw new Error("unauthorized");
  }
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

let timer = null;
async function poll() {
  try {
    render(await api("GET", "/api/v1/dashboard"));
    $("#board").hidden = false;
    $("#sign-in").hidden = true;
    $("#sign-out").hidden = false;
  } catch (error) {
    if (error.message !== "unauthorized") $("#status").textContent = `Update failed (${error.message}); retrying`;
  }
}

async function replay(id, button) {
  button.disabled = true;
  button.textContent = "Replaying…";
  try {
    await api("POST", `/api/v1/dead-letters/${id}/replay`);
    await poll();
  } catch (error) {
    button.disabled = false;
    button.textContent = "Replay";
    $("#status").textContent = `Replay of event ${id} failed (${error.message})`;
  }
}

function start() {
  clearInterval(timer);
  poll();
  timer = setInterval(poll, POLL_MS);
}

function signOut(message) {
  clearInterval(timer);
  sessionStorage.removeItem(TOKEN_KEY);
  $("#board").hidden = true;
  $("#sign-out").hidden = true;
  $("#sign-in").hidden = false;
  $("#sign-in-error").textContent = message ?? "";
  $("#token").focus();
}

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim());
  $("#token").value = "";
  start();
});
$("#sign-out").addEventListener("click", () => signOut());

if (sessionStorage.getItem(TOKEN_KEY)) start(); else signOut();
