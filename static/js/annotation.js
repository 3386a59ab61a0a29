// The anatomy editor: presets, a row per duct, live classification as you type, and every
// validation error placed next to its field. The server re-validates everything on save.
const $ = (selector, root = document) => root.querySelector(selector);
const config = $("#editor-config").dataset;
const editable = config.editable === "1";
const presets = JSON.parse($("#presets-data").textContent);
const serverErrors = JSON.parse($("#server-errors").textContent);
const tbody = $("#ducts tbody");
// The ducts table's column headings, as each cell's accessible name.
const FIELD_LABELS = { id: "Duct", drains_into: "Drains into", segments: "Segments", length_mm: "Length mm", junction_mm: "Junction mm", course: "Course" };
const SYSTEM_NAMES = { proposed: "Proposed (2024)", couinaud: "Couinaud", huang: "Huang", choi: "Choi", karakas: "Karakas", ohkubo: "Ohkubo" };

function csrfToken() {
  const match = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : $("input[name=csrfmiddlewaretoken]")?.value || "";
}

function cell(row, field, value, attrs = {}) {
  const td = document.createElement("td");
  const input = document.createElement(attrs.tag || "input");
  input.dataset.field = field;
  if (attrs.type) input.type = attrs.type;
  if (attrs.step) input.step = attrs.step;
  if (attrs.options) for (const [v, label] of attrs.options) input.add(new Option(label, v));
  input.value = value ?? "";
  input.disabled = !editable;
  input.setAttribute("aria-label", FIELD_LABELS[field] || field);
  td.append(input);
  const error = document.createElement("div");
  error.className = "field-error";
  td.append(error);
  row.append(td);
  return input;
}

function addRow(duct = {}) {
  const row = document.createElement("tr");
  cell(row, "id", duct.id, { });
  cell(row, "drains_into", duct.drains_into);
  cell(row, "segments", (duct.segments || []).join(","));
  cell(row, "length_mm", duct.length_mm, { type: "number", step: "0.1" });
  cell(row, "junction_mm", duct.junction_mm, { type: "number", step: "0.1" });
  cell(row, "course", duct.course, { tag: "select", options: [["", ""], ["supraportal", "supraportal"], ["infraportal", "infraportal"], ["unknown", "unknown"]] });
  const td = document.createElement("td");
  if (editable) {
    const remove = document.createElement("button");
    remove.type = "button"; remove.textContent = "Remove"; remove.className = "link";
    remove.addEventListener("click", () => { row.remove(); schedule(); });
    td.append(remove);
  }
  row.append(td);
  tbody.append(row);
  nameRow(row, duct.id || "");
  return row;
}

// A row's controls are named after its duct, so the page's error summary can link to "RHD, Drains into".
function nameRow(row, ductId) {
  row.dataset.duct = ductId;
  for (const input of row.querySelectorAll("[data-field]")) {
    if (ductId) input.id = `duct-${ductId}-${input.dataset.field}`;
    else input.removeAttribute("id");
  }
}

function numberOrNull(text) {
  if (text === "" || text == null) return null;
  const value = Number(text);
  return Number.isNaN(value) ? text : value;
}

function readDocument() {
  const ducts = [];
  for (const row of tbody.rows) {
    const get = (field) => $(`[data-field=${field}]`, row).value.trim();
    nameRow(row, get("id"));
    const duct = { id: get("id"), drains_into: get("drains_into") };
    const segments = get("segments");
    if (segments) duct.segments = segments.split(/[ ,;]+/).filter(Boolean).map((s) => numberOrNull(s));
    for (const field of ["length_mm", "junction_mm"]) {
      const value = numberOrNull(get(field));
      if (value !== null) duct[field] = value;
    }
    if (get("course")) duct.course = get("course");
    ducts.push(duct);
  }
  const document_ = { format: "biliary-anatomy/1", graft: $("#graft").value, ducts };
  const notes = $("#notes").value.trim();
  if (notes) document_.notes = notes;
  return document_;
}

function load(document_) {
  tbody.replaceChildren();
  $("#graft").value = document_.graft || config.graft;
  $("#notes").value = document_.notes || "";
  for (const duct of document_.ducts || []) addRow(duct);
  schedule();
}

function showErrors(fields) {
  for (const element of document.querySelectorAll(".field-error")) element.textContent = "";
  for (const element of document.querySelectorAll(".has-error")) element.classList.remove("has-error");
  const other = [];
  for (const [key, reasons] of Object.entries(fields || {})) {
    const [ductId, field] = key.split(".");
    let target = null;
    if (ductId === "document" && field === "graft") target = $("[data-error-for='document.graft']");
    else if (!field && $(`[data-error-for='${ductId}']`)) target = $(`[data-error-for='${ductId}']`); // e.g. series
    else {
      const row = [...tbody.rows].find((r) => r.dataset.duct === ductId);
      const input = row && field ? $(`[data-field=${field}]`, row) : null;
      target = input ? input.nextElementSibling : null;
      if (input) input.parentElement.classList.add("has-error");
    }
    if (target) target.textContent = reasons.join("; ");
    else other.push(`${key}: ${reasons.join("; ")}`);
  }
  $("#other-errors").textContent = other.join("\n");
}

function render(body) {
  const systems = $("#systems");
  systems.replaceChildren();
  if (!body.valid) {
    $("#proposed-type").textContent = "—";
    $("#proposed-rule").textContent = "Fix the errors to see the classification.";
    $("#proposed-flags").textContent = "";
    $("#prediction").replaceChildren();
    $("#diagram").replaceChildren();
    showErrors(body.error ? body.error.fields : {});
    return;
  }
  showErrors({});
  const proposed = body.results.proposed;
  $("#proposed-type").textContent = proposed.type;
  $("#proposed-rule").textContent = proposed.rule;
  $("#proposed-flags").textContent = (proposed.flags || []).join("; ");
  for (const [name, result] of Object.entries(body.results)) {
    const row = systems.insertRow();
    row.dataset.system = name;
    row.insertCell().textContent = SYSTEM_NAMES[name] || name;
    row.insertCell().textContent = (result.type ?? "not classified") + (result.provisional ? " (provisional)" : "");
    const rule = row.insertCell();
    rule.textContent = result.type === null ? result.reason : result.rule;
    if (result.unrepresented && result.unrepresented.length) rule.title = "Not represented: " + result.unrepresented.join("; ");
  }
  const p = body.prediction;
  const prob = p.probability;
  const facts = [
    ["Anastomoses", p.anastomoses],
    ["Suitability", p.suitability.replaceAll("_", " ")],
    ["Technique", `${p.technique} (${p.technique_basis})`],
    ["Probability", `${(prob.value * 100).toFixed(0)} % (95 % CrI ${(prob.ci95[0] * 100).toFixed(0)}-${(prob.ci95[1] * 100).toFixed(0)} %), study ${prob.prior_matched}/${prob.prior_cases}, this centre ${prob.local_matched}/${prob.local_cases}`],
  ];
  const dl = $("#prediction");
  dl.replaceChildren();
  for (const [term, value] of facts) {
    const dt = document.createElement("dt"); dt.textContent = term;
    const dd = document.createElement("dd"); dd.textContent = value;
    dl.append(dt, dd);
  }
  // The SVG comes from the server's own diagram code (escaped there), never from user HTML.
  $("#diagram").innerHTML = body.diagram_svg || "";
}

let timer = null;
let sequence = 0;
function schedule() {
  refreshMeasurementTargets();
  clearTimeout(timer);
  timer = setTimeout(preview, 200);
}

async function preview() {
  const mine = ++sequence;
  $("#preview-state").textContent = "updating…";
  try {
    const response = await fetch(`${config.classifyUrl}?include=diagram&donor=${config.donor}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(readDocument()),
      credentials: "same-origin",
    });
    const body = await response.json();
    if (mine !== sequence) return; // a newer edit is on its way
    if (response.status >= 500 || (!("valid" in body) && body.error)) {
      $("#preview-state").textContent = body.error ? body.error.message : "preview unavailable";
      return;
    }
    render(body);
    $("#preview-state").textContent = "";
  } catch (error) {
    $("#preview-state").textContent = "preview unavailable";
  }
}

// Each MRCP measurement can fill one duct's length. Its duct choices follow the rows as they
// are now (a preset, an added, removed or renamed duct), and it starts on the duct its label
// names, or on none: never on whichever duct happens to come first.
const measurementTargets = [];
let targetIds = null;

function rowOfDuct(id) {
  return [...tbody.rows].find((row) => $("[data-field=id]", row).value.trim() === id);
}

function ductNamedBy(label, ids) {
  const text = (label || "").trim().toUpperCase();
  const firstWord = text.split(/[\s:,;]+/)[0];
  return ids.find((id) => id.toUpperCase() === text) ?? ids.find((id) => id.toUpperCase() === firstWord) ?? "";
}

function refreshMeasurementTargets() {
  const ids = [...new Set([...tbody.rows].map((row) => $("[data-field=id]", row).value.trim()).filter(Boolean))];
  if (targetIds !== null && ids.join("\n") === targetIds.join("\n")) return;
  targetIds = ids;
  for (const { select, button, label } of measurementTargets) {
    // A duct the user picked stays picked while it exists; otherwise the label decides.
    const picked = "picked" in select.dataset && (select.dataset.picked === "" || ids.includes(select.dataset.picked));
    const value = picked ? select.dataset.picked : ductNamedBy(label, ids);
    select.replaceChildren(new Option("choose a duct", ""), ...ids.map((id) => new Option(id, id)));
    select.value = value;
    button.disabled = !select.value;
  }
}

async function loadMeasurements() {
  const box = $("#measurements");
  if (!box.dataset.url) return;
  const response = await fetch(box.dataset.url, { credentials: "same-origin" });
  if (!response.ok) return;
  const items = await response.json();
  const list = $("ul", box);
  for (const item of items.results || items) {
    const li = document.createElement("li");
    li.dataset.measurement = item.id;
    li.textContent = `${item.label || "measurement " + item.id}: ${Number(item.length_mm).toFixed(1)} mm `;
    if (editable) {
      const select = document.createElement("select");
      select.setAttribute("aria-label", `duct for ${item.label || "measurement " + item.id}`);
      const button = document.createElement("button");
      button.type = "button"; button.textContent = "Use as length"; button.className = "link";
      select.addEventListener("change", () => { select.dataset.picked = select.value; button.disabled = !select.value; });
      button.addEventListener("click", () => {
        const row = select.value ? rowOfDuct(select.value) : null;
        if (row) { $("[data-field=length_mm]", row).value = Number(item.length_mm).toFixed(1); schedule(); }
      });
      measurementTargets.push({ select, button, label: item.label });
      li.append(select, button);
    }
    list.append(li);
  }
  targetIds = null;
  refreshMeasurementTargets();
  box.hidden = list.children.length === 0;
}

if (editable) {
  $("#load-preset").addEventListener("click", () => load(structuredClone(presets[$("#preset").value].document)));
  $("#add-duct").addEventListener("click", () => { addRow({}); refreshMeasurementTargets(); });
  $("#save-form").addEventListener("submit", () => { $("#document-field").value = JSON.stringify(readDocument()); });
}
document.addEventListener("input", (event) => { if (event.target.closest("#ducts, #graft, #notes")) schedule(); });
document.addEventListener("change", (event) => { if (event.target.closest("#ducts, #graft")) schedule(); });

const initial = JSON.parse($("#initial-document").textContent);
if (initial) load(initial); else { $("#graft").value = config.graft; }
if (Object.keys(serverErrors).length) setTimeout(() => showErrors(serverErrors), 400);
loadMeasurements();
