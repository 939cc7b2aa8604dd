// The dashboard: live status over a WebSocket, commands over the REST API with the
// session's CSRF token, history with Chart.js. Plain JavaScript, no build step.
"use strict";

const csrf = () => sessionStorage.getItem("csrf") || "";
const $ = (id) => document.getElementById(id);
const fmt = (v, digits = 1) => (v === null || v === undefined ? "-" : Number(v).toFixed(digits));
const when = (t) => new Date(t * 1000).toLocaleString();

// Builds an element with its attributes and children. Every text from a user,
// a device or a script goes in as a text node: the page never parses it as
// markup (no innerHTML with data), and the server's Content-Security-Policy
// would refuse an inline script anyway.
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "className") node.className = value;
    else if (key === "width") node.style.width = value;
    else if (key.startsWith("data-")) node.dataset[key.slice(5)] = value;
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}
const fill = (parent, children) => parent.replaceChildren(...children);

async function api(method, path, body, raw) {
  const headers = { "X-CSRF-Token": csrf() };
  if (body !== undefined && !raw) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : raw ? body : JSON.stringify(body) });
  if (response.status === 401) { location.href = "/login"; throw new Error("not logged in"); }
  const type = response.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) throw new Error(data.error || data || response.statusText);
  return data;
}

// ---- live status

function phaseCards(s) {
  const g = s.grid;
  fill($("phases"), [0, 1, 2].map((k) => {
    const used = Math.abs(g.current[k]) / g.limit[k];
    const level = used > 0.95 ? "hot" : used > 0.8 ? "warm" : "ok";
    return el("div", { className: `card phase ${level}`, "data-phase": `L${k + 1}` },
      el("h3", {}, `L${k + 1}`),
      el("p", { className: "big" }, el("span", { className: "amps" }, fmt(g.current[k])), " A ", el("small", {}, `of ${fmt(g.limit[k], 0)} A`)),
      el("div", { className: "bar" }, el("div", { width: `${Math.min(100, used * 100)}%` })),
      el("p", {}, `${fmt(g.voltage[k], 0)} V · ${g.power ? fmt(g.power[k] / 1000, 2) + " kW" : "-"} · for cars ${fmt(g.budget[k])} A`));
  }));
}

function chargerCards(s) {
  const root = $("chargers");
  // A station a new configuration removed goes from the page too.
  for (const card of [...root.children]) if (!s.chargers.some((c) => c.id === card.dataset.charger)) card.remove();
  for (const c of s.chargers) {
    let card = [...root.children].find((node) => node.dataset.charger === c.id);
    if (!card) {
      const path = `/api/chargers/${encodeURIComponent(c.id)}`;
      card = el("div", { className: "card charger", "data-charger": c.id },
        el("h3", {}, c.id), el("p", { className: "status" }),
        el("p", { className: "big" }, el("span", { className: "limit" }), " A limit"),
        el("p", { className: "currents" }), el("p", { className: "energy" }),
        el("label", {}, "Limit ", el("input", { type: "number", className: "limit-input", min: "0", max: String(c.max), step: "0.5" }), " A"),
        el("button", { className: "limit-set" }, "Set"), " ", el("button", { className: "limit-clear" }, "Clear"),
        el("label", {}, "Priority ", el("input", { type: "number", className: "priority-input", step: "1" })), " ",
        el("button", { className: "priority-set" }, "Set"),
        el("label", {}, el("input", { type: "checkbox", className: "enabled-input" }), " enabled"));
      card.querySelector(".limit-set").onclick = () => command(api("PUT", `${path}/limit`,
        { amps: Number(card.querySelector(".limit-input").value), ttl: 3600 }));
      card.querySelector(".limit-clear").onclick = () => command(api("DELETE", `${path}/limit`));
      card.querySelector(".priority-set").onclick = () => command(api("PUT", `${path}/priority`,
        { priority: Number(card.querySelector(".priority-input").value) }));
      card.querySelector(".enabled-input").onchange = (e) => command(api("PUT", `${path}/enabled`, { enabled: e.target.checked }));
      root.appendChild(card);
    }
    card.classList.toggle("offline", !c.responding);
    const kept = c.responding ? "" : ` (not answering: ${fmt(c.reserved ?? c.max)} A kept for it until it is back)`;
    card.querySelector(".status").textContent = `${c.status}${kept} · phases ${c.phases.map((p) => "L" + p).join(",")}`;
    card.querySelector(".limit").textContent = fmt(c.limit);
    card.querySelector(".currents").textContent = `draws ${c.current.map((a) => fmt(a)).join(" / ")} A` +
      (c.remoteLimit !== null && c.remoteLimit !== undefined ? ` · capped at ${fmt(c.remoteLimit)} A until ${new Date(c.remoteUntil * 1000).toLocaleTimeString()}` : "");
    card.querySelector(".energy").textContent = `session ${fmt(c.sessionEnergy, 2)} kWh · priority ${c.priority}`;
    const pi = card.querySelector(".priority-input");
    if (document.activeElement !== pi) pi.value = c.priority;
    card.querySelector(".enabled-input").checked = c.enabled;
  }
}

// The site's own clock (a simulated site runs ahead of the wall clock): history ranges end here.
let siteNow = Date.now() / 1000;

function render(s) {
  if (s.time) siteNow = s.time;
  $("site").textContent = s.site;
  $("sessions-csv").href = `/api/sessions.csv?from=${siteNow - 30 * 86400}&to=${siteNow + 1}`;
  phaseCards(s);
  chargerCards(s);
  $("pv").textContent = s.pvPower === null || s.pvPower === undefined ? "no PV meter" : fmt(s.pvPower / 1000, 2) + " kW";
  $("ripple").textContent = s.ripple + (s.rippleRemote ? " (API)" : "");
  $("ripple").dataset.mode = s.ripple;
  $("site-limit").textContent = s.siteLimit ? `${fmt(s.siteLimit, 0)} A until ${new Date(s.siteLimitUntil * 1000).toLocaleTimeString()}` : "the fuse";
  $("state").textContent = (s.failsafe ? "FAIL-SAFE: the grid meter is silent. " : "") +
    (s.fallback ? "Policy fallback: " + s.fallback + ". " : "") + `cycle ${s.cycle}, ${fmt(s.cycleWorkMs)} ms`;
  fill($("warnings"), s.warnings.map((w) => el("p", { className: "warning" }, `Wiring: ${w}`)));
  $("uplink").textContent = uplinkText(s.uplink);
}

// How the MQTT uplink stands, as text (the broker's error is a device's text: never markup).
function uplinkText(u) {
  if (!u) return "none (no mqtt section)";
  const queue = u.waiting > 0 ? `, ${u.waiting} messages waiting` : "";
  const lost = u.dropped > 0 ? `, ${u.dropped} dropped over the outbox's bound` : "";
  return (u.connected ? `connected to ${u.broker}` : `not connected to ${u.broker}` + (u.lastError ? ` (${u.lastError})` : "")) + queue + lost;
}

function connect() {
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/live`);
  socket.onopen = () => { $("live").textContent = "live"; $("live").className = "badge on"; };
  socket.onmessage = (m) => render(JSON.parse(m.data));
  socket.onclose = () => { $("live").textContent = "reconnecting"; $("live").className = "badge"; setTimeout(connect, 2000); };
}

async function command(promise) {
  try { await promise; } catch (e) { alert(e.message); }
}

$("ripple-set").onclick = () => {
  const mode = $("ripple-mode").value;
  command(mode ? api("PUT", "/api/ripple", { mode, ttl: Number($("ripple-ttl").value) }) : api("DELETE", "/api/ripple"));
};
$("site-limit-set").onclick = () => command(api("PUT", "/api/site/limit", { amps: Number($("site-limit-amps").value), ttl: Number($("site-limit-ttl").value) }));
$("site-limit-clear").onclick = () => command(api("DELETE", "/api/site/limit"));
$("logout").onclick = async () => { await api("POST", "/api/logout").catch(() => {}); location.href = "/login"; };

// ---- tabs

const loaders = { history: loadHistory, sessions: loadSessions, events: loadEvents, scripts: loadScripts, access: loadTokens };
for (const button of document.querySelectorAll("nav button[data-tab]")) {
  button.onclick = () => {
    for (const b of document.querySelectorAll("nav button[data-tab]")) b.classList.toggle("active", b === button);
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("hidden", t.id !== button.dataset.tab);
    const load = loaders[button.dataset.tab];
    if (load) load().catch((e) => alert(e.message));
  };
}

let chart;
async function loadHistory() {
  const span = Number($("history-range").value);
  const to = siteNow + 1;
  const points = await api("GET", `/api/history?from=${to - span}&to=${to}`);
  const labels = points.map((p) => new Date(p.time * 1000).toLocaleTimeString());
  const series = (label, values, color, dash) => ({ label, data: values, borderColor: color, borderDash: dash || [], pointRadius: 0, borderWidth: 1.5, fill: false });
  const data = {
    labels,
    datasets: [
      series("L1 A", points.map((p) => p.current[0]), "#c0392b"),
      series("L2 A", points.map((p) => p.current[1]), "#2c3e50"),
      series("L3 A", points.map((p) => p.current[2]), "#7f8c8d"),
      series("limit A", points.map((p) => Math.min(...p.limit)), "#e67e22", [6, 4]),
      series("EV total A", points.map((p) => p.ev[0] + p.ev[1] + p.ev[2]), "#27ae60"),
      series("PV kW", points.map((p) => p.pv / 1000), "#f1c40f"),
    ],
  };
  if (chart) { chart.data = data; chart.update(); return; }
  chart = new Chart($("history-chart"), { type: "line", data, options: { animation: false, responsive: true, interaction: { mode: "index", intersect: false } } });
}
$("history-load").onclick = () => loadHistory().catch((e) => alert(e.message));

async function loadSessions() {
  const sessions = await api("GET", `/api/sessions?from=${siteNow - 30 * 86400}&to=${siteNow + 1}`);
  fill($("sessions-body"), sessions.reverse().map((s) =>
    el("tr", {}, el("td", {}, s.charger), el("td", {}, when(s.start)), el("td", {}, s.end ? when(s.end) : "charging"),
      el("td", {}, fmt(s.energy, 2)), el("td", {}, fmt(s.peakPower / 1000, 1)))));
}

async function loadEvents() {
  const events = await api("GET", `/api/events?limit=300&from=${siteNow - 30 * 86400}&to=${siteNow + 1}`);
  fill($("events-body"), events.map((e) =>
    el("tr", { className: e.kind }, el("td", {}, when(e.time)), el("td", {}, e.kind), el("td", {}, e.subject || ""), el("td", {}, e.message))));
}

let current;
async function loadScripts() {
  const scripts = await api("GET", "/api/scripts");
  fill($("scripts-body"), scripts.map((s) =>
    el("tr", {}, el("td", {}, s.kind), el("td", {}, s.name),
      el("td", {}, s.path || "", s.error ? [el("br"), el("span", { className: "error" }, s.error)] : null),
      el("td", {}, el("button", { "data-kind": s.kind, "data-name": s.name }, "Open")))));
  for (const b of $("scripts-body").querySelectorAll("button")) {
    b.onclick = async () => {
      current = { kind: b.dataset.kind, name: b.dataset.name };
      $("script-title").textContent = `${current.kind} ${current.name}`;
      $("script-source").value = await api("GET", scriptPath());
      $("script-message").textContent = "";
      $("script-editor").classList.remove("hidden");
    };
  }
}
const scriptPath = () => `/api/scripts/${encodeURIComponent(current.kind)}/${encodeURIComponent(current.name)}`;
// The list is loaded again either way: a refused version's error shows there too.
const scriptAction = (promise, done) => promise.then(() => { $("script-message").textContent = done; })
  .catch((e) => { $("script-message").textContent = e.message; }).finally(() => loadScripts().catch(() => {}));
$("script-upload").onclick = () => scriptAction(api("PUT", scriptPath(), $("script-source").value, true), "running the new version");
$("script-reload").onclick = () => scriptAction(api("POST", `${scriptPath()}/reload`), "reloaded");
$("script-rollback").onclick = () => scriptAction(api("POST", `${scriptPath()}/rollback`), "rolled back");
$("script-shipped").onclick = () => scriptAction(api("POST", `${scriptPath()}/shipped`), "running the shipped version");

async function loadTokens() {
  const tokens = await api("GET", "/api/tokens");
  fill($("tokens-body"), tokens.map((t) =>
    el("tr", {}, el("td", {}, t.name), el("td", {}, t.scope), el("td", {}, when(Number(t.created))),
      el("td", {}, el("button", { "data-id": t.id }, "Revoke")))));
  for (const b of $("tokens-body").querySelectorAll("button")) {
    b.onclick = () => command(api("DELETE", `/api/tokens/${encodeURIComponent(b.dataset.id)}`).then(loadTokens));
  }
}
$("token-create").onclick = () => command(api("POST", "/api/tokens", { name: $("token-name").value, scope: $("token-scope").value }).then((t) => {
  $("token-secret").textContent = `Token for ${t.name} (${t.scope}; shown once): ${t.token}`;
  return loadTokens();
}));

// The CSRF token lives in sessionStorage from the login; a new tab fetches it.
(async () => {
  if (!csrf()) {
    const s = await api("GET", "/api/session");
    if (s.csrf) sessionStorage.setItem("csrf", s.csrf);
  }
  render(await api("GET", "/api/status").catch(() => null) || { site: "Fusebox", grid: { current: [0, 0, 0], voltage: [0, 0, 0], limit: [1, 1, 1], budget: [0, 0, 0] }, chargers: [], warnings: [] });
  connect();
})();
