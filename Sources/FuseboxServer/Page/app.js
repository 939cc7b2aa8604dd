// The dashboard: live status over a WebSocket, commands over the REST API with the
// session's CSRF token, history with Chart.js. Plain JavaScript, no build step.
"use strict";

const csrf = () => sessionStorage.getItem("csrf") || "";
const $ = (id) => document.getElementById(id);
const fmt = (v, digits = 1) => (v === null || v === undefined ? "-" : Number(v).toFixed(digits));
const when = (t) => new Date(t * 1000).toLocaleString();

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
  $("phases").innerHTML = [0, 1, 2].map((k) => {
    const used = Math.abs(g.current[k]) / g.limit[k];
    const level = used > 0.95 ? "hot" : used > 0.8 ? "warm" : "ok";
    return `<div class="card phase ${level}" data-phase="L${k + 1}"><h3>L${k + 1}</h3>
      <p class="big"><span class="amps">${fmt(g.current[k])}</span> A <small>of ${fmt(g.limit[k], 0)} A</small></p>
      <div class="bar"><div style="width:${Math.min(100, used * 100)}%"></div></div>
      <p>${fmt(g.voltage[k], 0)} V · ${g.power ? fmt(g.power[k] / 1000, 2) + " kW" : "-"} · for cars ${fmt(g.budget[k])} A</p></div>`;
  }).join("");
}

function chargerCards(s) {
  const root = $("chargers");
  for (const c of s.chargers) {
    let card = root.querySelector(`[data-charger="${c.id}"]`);
    if (!card) {
      card = document.createElement("div");
      card.className = "card charger";
      card.dataset.charger = c.id;
      card.innerHTML = `<h3>${c.id}</h3><p class="status"></p><p class="big"><span class="limit"></span> A limit</p><p class="currents"></p>
        <p class="energy"></p><label>Limit <input type="number" class="limit-input" min="0" max="${c.max}" step="0.5"> A</label>
        <button class="limit-set">Set</button> <button class="limit-clear">Clear</button>
        <label>Priority <input type="number" class="priority-input" step="1"></label> <button class="priority-set">Set</button>
        <label><input type="checkbox" class="enabled-input"> enabled</label>`;
      card.querySelector(".limit-set").onclick = () => command(api("PUT", `/api/chargers/${c.id}/limit`,
        { amps: Number(card.querySelector(".limit-input").value), ttl: 3600 }));
      card.querySelector(".limit-clear").onclick = () => command(api("DELETE", `/api/chargers/${c.id}/limit`));
      card.querySelector(".priority-set").onclick = () => command(api("PUT", `/api/chargers/${c.id}/priority`,
        { priority: Number(card.querySelector(".priority-input").value) }));
      card.querySelector(".enabled-input").onchange = (e) => command(api("PUT", `/api/chargers/${c.id}/enabled`, { enabled: e.target.checked }));
      root.appendChild(card);
    }
    card.classList.toggle("offline", !c.responding);
    card.querySelector(".status").textContent = `${c.status}${c.responding ? "" : " (not answering)"} · phases ${c.phases.map((p) => "L" + p).join(",")}`;
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
  $("warnings").innerHTML = s.warnings.map((w) => `<p class="warning">Wiring: ${w}</p>`).join("");
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
  $("sessions-body").innerHTML = sessions.reverse().map((s) =>
    `<tr><td>${s.charger}</td><td>${when(s.start)}</td><td>${s.end ? when(s.end) : "charging"}</td><td>${fmt(s.energy, 2)}</td><td>${fmt(s.peakPower / 1000, 1)}</td></tr>`).join("");
}

async function loadEvents() {
  const events = await api("GET", `/api/events?limit=300&from=${siteNow - 30 * 86400}&to=${siteNow + 1}`);
  const text = (s) => String(s).replace(/[&<>]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;" }[c]));
  $("events-body").innerHTML = events.map((e) =>
    `<tr class="${e.kind}"><td>${when(e.time)}</td><td>${e.kind}</td><td>${text(e.subject || "")}</td><td>${text(e.message)}</td></tr>`).join("");
}

let current;
async function loadScripts() {
  const scripts = await api("GET", "/api/scripts");
  $("scripts-body").innerHTML = scripts.map((s) =>
    `<tr><td>${s.kind}</td><td>${s.name}</td><td>${s.path || ""}${s.error ? `<br><span class="error">${s.error}</span>` : ""}</td>
     <td><button data-kind="${s.kind}" data-name="${s.name}">Open</button></td></tr>`).join("");
  for (const b of $("scripts-body").querySelectorAll("button")) {
    b.onclick = async () => {
      current = { kind: b.dataset.kind, name: b.dataset.name };
      $("script-title").textContent = `${current.kind} ${current.name}`;
      $("script-source").value = await api("GET", `/api/scripts/${current.kind}/${current.name}`);
      $("script-message").textContent = "";
      $("script-editor").classList.remove("hidden");
    };
  }
}
const scriptAction = (promise, done) => promise.then(() => { $("script-message").textContent = done; loadScripts(); })
  .catch((e) => { $("script-message").textContent = e.message; });
$("script-upload").onclick = () => scriptAction(api("PUT", `/api/scripts/${current.kind}/${current.name}`, $("script-source").value, true), "running the new version");
$("script-reload").onclick = () => scriptAction(api("POST", `/api/scripts/${current.kind}/${current.name}/reload`), "reloaded");
$("script-rollback").onclick = () => scriptAction(api("POST", `/api/scripts/${current.kind}/${current.name}/rollback`), "rolled back");

async function loadTokens() {
  const tokens = await api("GET", "/api/tokens");
  $("tokens-body").innerHTML = tokens.map((t) =>
    `<tr><td>${t.name}</td><td>${when(Number(t.created))}</td><td><button data-id="${t.id}">Revoke</button></td></tr>`).join("");
  for (const b of $("tokens-body").querySelectorAll("button")) b.onclick = () => command(api("DELETE", `/api/tokens/${b.dataset.id}`).then(loadTokens));
}
$("token-create").onclick = () => command(api("POST", "/api/tokens", { name: $("token-name").value }).then((t) => {
  $("token-secret").textContent = `Token for ${t.name} (shown once): ${t.token}`;
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
