// The Setup tab: the configuration in force as a form, saved through PUT /api/config
// (checked, devices read once, written, applied at the next cycle). Every problem the
// server names is shown next to the field of its key path. Uses el, $, fill, api and
// command from app.js.
"use strict";

// The station's L1, L2, L3 on the building's phases.
const WIRINGS = [["1,2,3", "L1 L2 L3"], ["2,3,1", "L2 L3 L1"], ["3,1,2", "L3 L1 L2"], ["1", "L1 only"], ["2", "L2 only"], ["3", "L3 only"]];
const DEVICE_KEYS = ["driver", "host", "port", "unit", "api", "settings", "baud", "parity", "allow"];
let setupDoc = null;     // the configuration in force, as GET /api/config gave it
let driverNames = [];

function driverList(id) {
  return el("datalist", { id }, driverNames.map((n) => el("option", { value: n })));
}

// The serial line's settings, for a port that is a device path (RS-485).
function serialFields(prefix, d, attributes) {
  return [
    el("label", { title: "Modbus RTU only: the serial line's speed" }, "Baud ", el("input", { ...attributes("baud"), type: "number", min: "300", step: "1", value: d.baud ?? "", placeholder: "9600" })),
    el("label", { title: "Modbus RTU only" }, "Parity ", el("select", attributes("parity"), ["none", "even", "odd"].map((p) => {
      const o = el("option", { value: p }, p);
      if ((d.parity || "none") === p) o.selected = true;
      return o;
    })))];
}

// A meter's fields: make, host, port, unit (and a serial line's), and a Test button.
function meterFields(root, path, device) {
  const d = device || {};
  const keyed = (key) => ({ "data-field": `${path}.${key}`, "data-key": `${path}.${key}` });
  fill(root, [
    el("label", { title: "The driver that speaks to it" }, "Make ", el("input", { ...keyed("driver"), list: `${path}-drivers`, value: d.driver || "" })),
    driverList(`${path}-drivers`),
    el("label", { title: "Its IP address (Modbus TCP)" }, "Host ", el("input", { ...keyed("host"), value: d.host || "" })),
    el("label", { title: "A TCP port (502), or a serial device such as /dev/ttyUSB0 (Modbus RTU)" }, "Port ", el("input", { ...keyed("port"), value: d.port ?? "" })),
    el("label", { title: "Its Modbus unit id (slave address), 0 to 255" }, "Unit ", el("input", { ...keyed("unit"), type: "number", min: "0", max: "255", value: d.unit ?? 1 })),
    ...serialFields(path, d, keyed),
    el("button", { type: "button", className: "test" }, "Test"), " ", el("span", { className: "test-result" })]);
  root.querySelector(".test").onclick = () => testDevice(root, () => ({ ...keptOf(d), ...deviceOf(root, path) }));
}

function chargerRow(c) {
  const wiring = (c.phases || [1, 2, 3]).join(",");
  const field = (cls) => ({ className: cls });
  const row = el("tr", { className: "station", "data-charger": c.id || "" },
    el("td", {}, el("input", { ...field("id"), value: c.id || "", placeholder: "p01", title: "Its name here, unique" })),
    el("td", {}, el("input", { ...field("driver"), list: "charger-drivers", value: c.driver || "", title: "The make: the driver that speaks to it" })),
    el("td", {}, el("input", { ...field("host"), value: c.host || "", placeholder: c.api ? "cloud (More)" : "", title: "Its IP address (Modbus TCP)" })),
    el("td", {}, el("input", { ...field("port"), value: c.port ?? "", title: "A TCP port (502), or a serial device (/dev/ttyUSB0)" })),
    el("td", {}, el("input", { ...field("unit"), type: "number", min: "0", max: "255", value: c.unit ?? 1, title: "Modbus unit id" })),
    el("td", {}, el("input", { ...field("max"), type: "number", min: "0", max: "80", step: "1", value: c.max ?? 16, title: "A per phase it may draw at most" })),
    el("td", {}, el("input", { ...field("priority"), type: "number", step: "1", value: c.priority ?? 0, title: "Higher is served first" })),
    el("td", {}, el("select", { ...field("phases"), title: "Which building phase each of its phases L1, L2, L3 is on" }, WIRINGS.map(([v, label]) => {
      const o = el("option", { value: v }, label);
      if (v === wiring) o.selected = true;
      return o;
    }))),
    el("td", {}, el("button", { type: "button", className: "test" }, "Test"), " ",
      el("button", { type: "button", className: "more" }, "More"), " ",
      el("button", { type: "button", className: "remove" }, "Remove"), el("span", { className: "test-result" })));
  // What a station has beyond the table: a cloud account, driver settings, a serial line, its minimum, enabled.
  const settings = c.settings ? JSON.stringify(c.settings) : "";
  const details = el("tr", { className: "details hidden" }, el("td", { colspan: "9" },
    el("label", { title: "A cloud charger: the vendor's API (https://api.zaptec.com); then no host, port or unit" }, "Cloud API ",
      el("input", { className: "api", value: c.api || "", size: "28" })),
    el("label", { title: "The driver's own settings as JSON, e.g. a cloud account: {\"username\": ..., \"password\": ..., \"charger_id\": ...}; a password shown as (hidden) keeps its value" },
      "Driver settings ", el("input", { className: "settings", value: settings, size: "46" })),
    ...serialFields("", c, (key) => ({ className: key })),
    el("label", { title: "A per phase below which it pauses instead (6 A for most cars)" }, "Min ", el("input", { className: "min", type: "number", min: "0", max: "80", step: "1", value: c.min ?? 6 }), " A"),
    el("label", {}, el("input", { className: "enabled", type: "checkbox", ...(c.enabled === false ? {} : { checked: "" }) }), " enabled")));
  row.details = details;
  row.kept = keptOf(c);
  row.querySelector(".remove").onclick = () => { details.remove(); row.remove(); };
  row.querySelector(".more").onclick = () => details.classList.toggle("hidden");
  row.querySelector(".test").onclick = () => testDevice(row, () => chargerOf(row));
  return [row, details];
}

// What the form does not show of a device, kept as it was.
function keptOf(d) {
  const out = {};
  for (const k of ["allow"]) if (d[k] !== undefined) out[k] = d[k];
  return out;
}

function numberOr(text, fallback) { return text === "" ? fallback : Number(text); }
function portOf(text) { return /^\d+$/.test(text) ? Number(text) : text; }

function deviceOf(root, path) {
  const value = (key) => root.querySelector(`[data-key="${path}.${key}"]`).value.trim();
  const d = { driver: value("driver") };
  if (value("host")) d.host = value("host");
  if (value("port")) d.port = portOf(value("port"));
  d.unit = numberOr(value("unit"), 1);
  if (typeof d.port === "string") {
    if (value("baud")) d.baud = Number(value("baud"));
    d.parity = value("parity");
  }
  return d;
}

function stationRows() { return [...$("setup-chargers").querySelectorAll("tr.station")]; }

function chargerOf(row) {
  const v = (cls) => row.querySelector(`.${cls}`).value.trim();
  const more = (cls) => row.details.querySelector(`.${cls}`);
  const c = { ...row.kept, id: v("id"), driver: v("driver") };
  const api = more("api").value.trim();
  if (api) {
    c.api = api;
  } else {
    if (v("host")) c.host = v("host");
    if (v("port")) c.port = portOf(v("port"));
    c.unit = numberOr(v("unit"), 1);
    if (typeof c.port === "string") {
      if (more("baud").value.trim()) c.baud = Number(more("baud").value);
      c.parity = more("parity").value;
    }
  }
  const settings = more("settings").value.trim();
  if (settings) {
    try { c.settings = JSON.parse(settings); } catch (e) { throw new Error(`${c.id}: driver settings are not valid JSON: ${e.message}`); }
  }
  c.min = numberOr(more("min").value.trim(), 6);
  if (!more("enabled").checked) c.enabled = false;
  c.max = numberOr(v("max"), 16);
  c.priority = numberOr(v("priority"), 0);
  c.phases = v("phases").split(",").map(Number);
  return c;
}

async function testDevice(root, read) {
  const out = root.querySelector(".test-result");
  out.textContent = " reading...";
  out.className = "test-result";
  try {
    const t = await fetch("/api/config/test", { method: "POST", headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" },
      body: JSON.stringify(read()) }).then((r) => r.json());
    if (t.answered) {
      const parts = [];
      if (t.status) parts.push(t.status);
      if (t.current) parts.push(t.current.map((a) => fmt(a)).join(" / ") + " A");
      if (t.voltage) parts.push(t.voltage.map((v) => fmt(v, 0)).join(" / ") + " V");
      if (t.power !== undefined) parts.push(fmt(t.power / 1000, 2) + " kW");
      out.textContent = ` answers in ${fmt(t.milliseconds, 0)} ms: ${parts.join(", ")}`;
    } else if (t.problems) {
      out.textContent = " " + t.problems.map((p) => p.message).join("; ");
      out.className = "test-result error";
    } else {
      out.textContent = ` no answer (${t.error}). Check the ${t.likely_cause}: ${t.advice}`;
      out.className = "test-result error";
    }
  } catch (e) {
    out.textContent = " " + e.message;
    out.className = "test-result error";
  }
}

function getKey(object, key) {
  return key.split(".").reduce((at, p) => (at === undefined || at === null ? undefined : at[p]), object);
}

function renderSetup(doc) {
  setupDoc = doc;
  const form = $("setup-form");
  for (const input of form.querySelectorAll("fieldset > label > input[data-key]")) {
    let v = getKey(doc, input.dataset.key);
    if (input.dataset.key.startsWith("site.limit.current.") && typeof getKey(doc, "site.limit.current") === "number") v = getKey(doc, "site.limit.current");
    input.value = Array.isArray(v) ? v.join(", ") : v ?? "";
  }
  const meters = doc.meters || {};
  meterFields($("setup-grid"), "meters.grid", meters.grid);
  $("setup-has-pv").checked = !!meters.pv;
  meterFields($("setup-pv"), "meters.pv", meters.pv);
  $("setup-pv").classList.toggle("hidden", !meters.pv);
  fill($("setup-chargers"), [...(doc.chargers || []).flatMap(chargerRow), driverList("charger-drivers")]);
  const rest = {};
  for (const [k, v] of Object.entries(doc)) if (!["site", "meters", "chargers", "policy"].includes(k)) rest[k] = v;
  if (doc.policy && doc.policy.settings) rest.policy = { settings: doc.policy.settings };
  renderRippleInput((doc.ripple || {}).input, !!(doc.ripple || {}).inputs);
  if (rest.ripple) {
    rest.ripple = { ...rest.ripple };
    delete rest.ripple.reduced_power;
    delete rest.ripple.input;
    if (!Object.keys(rest.ripple).length) delete rest.ripple;
  }
  $("setup-rest").value = JSON.stringify(rest, null, 2);
  clearProblems();
}

// The form as a configuration: what the fields say, on top of what it does not show.
function formDoc() {
  let doc;
  try { doc = JSON.parse($("setup-rest").value || "{}"); } catch (e) { throw new Error(`rest: not valid JSON: ${e.message}`); }
  const site = { ...(setupDoc.site || {}) };
  doc.site = site;
  const text = (key) => $("setup-form").querySelector(`[data-key="${key}"]`).value.trim();
  for (const key of ["name", "serial"]) { if (text(`site.${key}`)) site[key] = text(`site.${key}`); else delete site[key]; }
  const fuse = [0, 1, 2].map((k) => Number(text(`site.limit.current.${k}`)));
  site.limit = { current: fuse[0] === fuse[1] && fuse[1] === fuse[2] ? fuse[0] : fuse, margin: numberOr(text("site.limit.margin"), 2) };
  if (text("site.power_limit")) site.power_limit = Number(text("site.power_limit")); else delete site.power_limit;
  const grid = deviceOf($("setup-grid"), "meters.grid");
  const meters = setupDoc.meters || {};
  doc.meters = { grid: { ...keptOf(meters.grid || {}), ...(meters.grid && meters.grid.settings ? { settings: meters.grid.settings } : {}), ...grid } };
  if ($("setup-has-pv").checked) {
    doc.meters.pv = { ...keptOf(meters.pv || {}), ...(meters.pv && meters.pv.settings ? { settings: meters.pv.settings } : {}), ...deviceOf($("setup-pv"), "meters.pv") };
  }
  if (!grid.driver && !grid.host && !stationRows().length) delete doc.meters;
  const chargers = stationRows().map(chargerOf);
  if (chargers.length) doc.chargers = chargers;
  const chain = $("setup-form").querySelector('[data-key="policy.chain"]').value.split(",").map((s) => s.trim()).filter(Boolean);
  // Empty: the default chain (ripple, fair_share).
  if (chain.length) doc.policy = { ...(doc.policy || {}), chain };
  const reduced = $("setup-form").querySelector('[data-key="ripple.reduced_power"]').value.trim();
  if (reduced !== "") doc.ripple = { ...(doc.ripple || {}), reduced_power: Number(reduced) };
  const input = rippleInputOf();
  if (input) doc.ripple = { ...(doc.ripple || {}), input };
  return doc;
}

function clearProblems() {
  for (const p of $("setup-form").querySelectorAll(".problem")) p.remove();
  for (const i of $("setup-form").querySelectorAll(".invalid")) i.classList.remove("invalid");
  $("setup-message").textContent = "";
  $("setup-save-anyway").classList.add("hidden");
}

// Marks the field of each problem's key path: chargers[2].port is row 3's port.
function showProblems(problems) {
  const unplaced = [];
  for (const p of problems) {
    const m = /^chargers\[(\d+)\]\.?(\w*)/.exec(p.field);
    let input = null;
    if (m) {
      const row = stationRows()[Number(m[1])];
      const key = m[2] || "id";
      input = row && (row.querySelector(`.${key}`) || row.details.querySelector(`.${key}`) || row.querySelector(".id"));
      if (row && row.details.contains(input)) row.details.classList.remove("hidden");
    } else if (p.field) {
      input = $("setup-form").querySelector(`[data-field="${CSS.escape(p.field)}"]`)
        || $("setup-form").querySelector(`[data-field="${CSS.escape(p.field.split(".").slice(0, -1).join("."))}"]`);
    }
    if (input) {
      input.classList.add("invalid");
      input.closest("label, td, fieldset").append(el("span", { className: "problem" }, p.message));
    } else {
      unplaced.push(p.message);
    }
  }
  return unplaced;
}

async function saveSetup(acceptSilent) {
  clearProblems();
  let doc;
  try { doc = formDoc(); } catch (e) {
    if (e.message.startsWith("rest: ")) showProblems([{ field: "rest", message: e.message.slice(6) }]);
    else { $("setup-message").textContent = e.message; $("setup-message").className = "error"; }
    return;
  }
  $("setup-message").textContent = "saving...";
  const response = await fetch("/api/config" + (acceptSilent ? "?accept_silent=true" : ""), {
    method: "PUT", headers: { "X-CSRF-Token": csrf(), "Content-Type": "application/json" }, body: JSON.stringify(doc) });
  const answer = await response.json().catch(() => ({ error: response.statusText }));
  if (response.ok && answer.version === null) {
    $("setup-message").textContent = "Nothing changed: this is the configuration in force.";
    $("setup-message").className = "";
    return;
  }
  if (response.ok) {
    $("setup-message").textContent = `Version ${answer.version} in force: ${answer.change}`
      + (answer.restart_needed.length ? `. At the next start: ${answer.restart_needed.join(", ")}` : "");
    $("setup-message").className = "";
    await loadSetup(true);
    return;
  }
  const unplaced = showProblems(answer.problems || []);
  $("setup-message").textContent = `${answer.error}${unplaced.length ? ": " + unplaced.join("; ") : ""}`;
  $("setup-message").className = "error";
  if (response.status === 409 && (answer.tests || []).length) $("setup-save-anyway").classList.remove("hidden");
}

async function loadVersions() {
  const versions = await api("GET", "/api/config/versions");
  fill($("setup-versions"), versions.map((v, n) => el("tr", {}, el("td", {}, v.number), el("td", {}, when(v.saved)),
    el("td", {}, v.by || "-"), el("td", {}, v.change),
    el("td", {}, n === 0 ? "in force" : el("button", { type: "button", "data-version": v.number }, "Restore")))));
  for (const b of $("setup-versions").querySelectorAll("button")) {
    b.onclick = () => command(api("POST", `/api/config/versions/${b.dataset.version}/restore`).then((a) => {
      $("setup-message").textContent = `Version ${b.dataset.version} restored as version ${a.version}: ${a.change}`;
      return loadSetup(true);
    }));
  }
}

async function loadSetup(keepMessage) {
  const message = $("setup-message").textContent;
  // A viewer (the site owner) sees the setup; only the installer changes it.
  const session = await api("GET", "/api/session").catch(() => ({}));
  const viewer = session.role === "read" || (session.scope && session.scope !== "admin");
  for (const control of $("setup").querySelectorAll("button, input, select, textarea")) control.disabled = viewer;
  $("setup-viewer").classList.toggle("hidden", !viewer);
  driverNames = await api("GET", "/api/config/drivers").catch(() => []);
  renderSetup(await api("GET", "/api/config"));
  await loadJoining();
  if (viewer) for (const b of $("ocpp-joining-list").querySelectorAll("button")) b.disabled = true;
  if (keepMessage) $("setup-message").textContent = message;
  await loadVersions();
  await loadCheck();
}

loaders.setup = () => loadSetup(false);
$("setup-form").onsubmit = (e) => { e.preventDefault(); saveSetup(false); };
$("setup-save-anyway").onclick = () => saveSetup(true);
$("setup-reset").onclick = () => loadSetup(false);
$("setup-add").onclick = () => {
  const taken = new Set(stationRows().map((r) => r.querySelector(".id").value));
  let n = 1;
  while (taken.has(`p${String(n).padStart(2, "0")}`)) n++;
  for (const tr of chargerRow({ id: `p${String(n).padStart(2, "0")}`, unit: 1, max: 16 })) $("setup-chargers").insertBefore(tr, $("charger-drivers"));
};
$("setup-has-pv").onchange = (e) => $("setup-pv").classList.toggle("hidden", !e.target.checked);

// ---- find devices

function portsOf(text) {
  const ports = [];
  for (const part of text.split(/[\s,]+/).filter(Boolean)) {
    const m = /^(\d+)-(\d+)$/.exec(part);
    if (m) for (let p = Number(m[1]); p <= Number(m[2]) && ports.length <= 64; p++) ports.push(p);
    else ports.push(Number(part));
  }
  return ports;
}

// A found device into the form: a station as a new row, a meter into its fields.
function adopt(found) {
  const p = found.proposal;
  if (found.place === "chargers") {
    for (const tr of chargerRow({ id: p.id, driver: p.driver, host: p.host, port: p.port, unit: p.unit, max: 16 })) {
      $("setup-chargers").insertBefore(tr, $("charger-drivers"));
    }
    return;
  }
  const path = found.place, root = path === "meters.pv" ? $("setup-pv") : $("setup-grid");
  if (path === "meters.pv") { $("setup-has-pv").checked = true; root.classList.remove("hidden"); }
  for (const key of ["driver", "host", "port", "unit"]) root.querySelector(`[data-key="${path}.${key}"]`).value = p[key];
}

$("find-run").onclick = async () => {
  $("find-message").textContent = " looking...";
  $("find-message").className = "";
  try {
    const report = await api("POST", "/api/config/find", { hosts: $("find-hosts").value, ports: portsOf($("find-ports").value) });
    $("find-message").textContent = ` ${report.open.length} of ${report.tried} took a connection, ${report.found.length} recognised (${fmt(report.milliseconds, 0)} ms)`;
    $("find-table").classList.toggle("hidden", report.found.length === 0);
    fill($("find-results"), report.found.map((f, n) => el("tr", {},
      el("td", {}, `${f.host}:${f.port}`), el("td", {}, f.unit), el("td", {}, f.identity.make),
      el("td", {}, f.identity.model || "-"), el("td", {}, f.identity.serial || "-"),
      el("td", {}, el("button", { type: "button", "data-found": n },
        f.place === "chargers" ? `Add as ${f.proposal.id}` : f.place === "meters.pv" ? "Use as PV meter" : "Use as grid meter")))));
    for (const b of $("find-results").querySelectorAll("button")) {
      b.onclick = () => { adopt(report.found[Number(b.dataset.found)]); b.disabled = true; b.textContent = "added"; };
    }
  } catch (e) {
    $("find-message").textContent = " " + e.message;
    $("find-message").className = "error";
  }
};

// ---- OCPP stations asking to join

async function loadJoining() {
  let stations = [];
  try { stations = await api("GET", "/api/ocpp/stations"); } catch { stations = []; }
  const waiting = stations.filter((s) => !s.configured);
  $("ocpp-joining").classList.toggle("hidden", waiting.length === 0);
  const inForm = new Set(stationRows().map((r) => r.querySelector(".id").value));
  fill($("ocpp-joining-list"), waiting.map((s) => el("tr", { "data-joining": s.id },
    el("td", {}, s.id), el("td", {}, s.vendor || "-"), el("td", {}, s.model || "-"), el("td", {}, s.firmware || "-"),
    el("td", {}, s.connected ? "yes" : "no"),
    el("td", {}, el("button", { type: "button", className: "join", ...(inForm.has(s.id) ? { disabled: "" } : {}) },
      inForm.has(s.id) ? "in the form: save" : `Add as ${s.id}`)))));
  for (const b of $("ocpp-joining-list").querySelectorAll("button.join")) {
    b.onclick = () => {
      const id = b.closest("tr").dataset.joining;
      for (const tr of chargerRow({ id, driver: "ocpp", max: 16 })) $("setup-chargers").insertBefore(tr, $("charger-drivers"));
      b.disabled = true;
      b.textContent = "in the form: save";
    };
  }
}

// ---- the commissioning check

const VERDICT = { ok: "OK", fix: "Fix", unknown: "?" };
let checkTimer = null;

function renderCheck(r) {
  $("check-state").textContent = r.state === "running" ? ` running: ${r.doing}` : r.state === "done"
    ? ` done${r.finished ? " at " + when(r.finished) : ""}${r.by ? " (" + r.by + ")" : ""}` : ` ${r.state}: ${r.doing}`;
  fill($("check-findings"), r.findings.map((f) => el("tr", { className: `verdict-${f.verdict}` },
    el("td", {}, VERDICT[f.verdict] || f.verdict), el("td", {}, f.subject), el("td", {}, f.message))));
}

async function loadCheck() {
  clearTimeout(checkTimer);
  const r = await api("GET", "/api/config/commissioning").catch(() => null);
  if (!r || r.state === "none") { $("check-state").textContent = " not run since the start"; fill($("check-findings"), []); return; }
  renderCheck(r);
  if (r.state === "running") checkTimer = setTimeout(loadCheck, 1000);
}

for (const [button, stations] of [["check-readings", false], ["check-stations", true]]) {
  $(button).onclick = () => command(api("POST", "/api/config/commissioning", { stations }).then((r) => {
    renderCheck(r);
    checkTimer = setTimeout(loadCheck, 1000);
  }));
}

// ---- the ripple-control input: where the utility's signal comes in

const RIPPLE_FIELDS = { "modbus-di": ["host", "port", "unit", "address"], "modbus-coil": ["host", "port", "unit", "address"],
  gpio: ["chip", "line"], file: ["path"], "": [] };

function renderRippleInput(input, several) {
  const i = input || {};
  $("rin-type").value = several ? "" : i.type || "";
  $("rin-type").disabled = several;
  $("rin-several").classList.toggle("hidden", !several);
  for (const key of ["host", "port", "unit", "address", "chip", "line", "path"]) $(`rin-${key}`).value = i[key] ?? "";
  $("rin-active").value = i.active || "closed";
  $("rin-mode").value = i.mode || "locked";
  showRippleFields();
}

function showRippleFields() {
  const wanted = RIPPLE_FIELDS[$("rin-type").value] || [];
  for (const label of $("ripple-input").querySelectorAll("label[data-for]")) label.classList.toggle("hidden", !wanted.includes(label.dataset.for));
  for (const id of ["rin-active-label", "rin-mode-label"]) $(id).classList.toggle("hidden", !$("rin-type").value);
}

function rippleInputOf() {
  const type = $("rin-type").value;
  if (!type || $("rin-type").disabled) return null;
  const input = { type, active: $("rin-active").value, mode: $("rin-mode").value };
  for (const key of RIPPLE_FIELDS[type]) {
    const v = $(`rin-${key}`).value.trim();
    if (v !== "") input[key] = ["unit", "address", "line"].includes(key) || (key === "port" && /^\d+$/.test(v)) ? Number(v) : v;
  }
  return input;
}

$("rin-type").onchange = showRippleFields;

