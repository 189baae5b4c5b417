// The System Jobs page: the grid, its views and commands, live refresh and the virtual clock bar.

import { ApiError, control, literal, formatted, setToken, webapi, whenUnauthorized } from "./api.js";
import { COLUMNS, COMMANDS, SELECT, STATUS_LABELS, VIEWS, availability, combinedFilter } from "./rules.js";
import { askConfirm, askPostpone, openBulkDelete, openDetails, fromLocalInput, toLocalInput } from "./dialogs.js";

const $ = (selector) => document.querySelector(selector);
const REFRESH_MS = 2000;

const state = {
  view: VIEWS[0],
  table: "",
  search: "",
  sort: { column: "createdon", descending: true },
  pageSize: 50,
  pages: [],            // the request of each page seen so far: the first, then each @odata.nextLink
  pageIndex: 0,
  nextLink: null,
  rows: [],
  count: null,
  selected: new Set(),
  loading: false,
  generation: 0,        // bumped by whatever changes what the grid should show: an older answer is dropped
  virtualClock: false,
  now: null,
};

// ------------------------------------------------------------------------------------------ queries

function tableFilter() {
  if (!state.table) return "";
  return state.table === "(none)" ? "primaryentitytype eq null" : `primaryentitytype eq ${literal(state.table)}`;
}

function searchFilter() {
  const text = state.search.trim();
  return text ? `contains(name,${literal(text)})` : "";
}

function firstPage() {
  const filter = combinedFilter([state.view.filter, tableFilter(), searchFilter()]);
  const order = `${state.sort.column} ${state.sort.descending ? "desc" : "asc"}`;
  const query = [`$select=${SELECT.join(",")}`, `$orderby=${encodeURIComponent(order)}`, "$count=true"];
  if (filter) query.push(`$filter=${encodeURIComponent(filter)}`);
  return `asyncoperations?${query.join("&")}`;
}

// ------------------------------------------------------------------------------------------ loading

function restart() {
  state.pages = [firstPage()];
  state.pageIndex = 0;
  state.selected.clear();
  return reload();
}

/** Load again, dropping any answer to a request sent before now (a poll in flight sees the old state). */
function reload() {
  state.generation += 1;
  document.body.dataset.generation = String(state.generation);
  return load();
}

let pending = null;
async function load({ quiet = false } = {}) {
  if (state.loading) { pending = pending || { quiet }; return; }
  state.loading = true;
  const generation = state.generation;
  const grid = $("#grid");
  if (!quiet) grid.setAttribute("aria-busy", "true");
  try {
    const [page] = await Promise.all([
      webapi.get(state.pages[state.pageIndex], { pageSize: state.pageSize }),
      loadCounts(),
      loadClock(),
    ]);
    if (generation !== state.generation) { pending = pending || { quiet }; return; }
    state.rows = page.value;
    if (page["@odata.count"] !== undefined) state.count = page["@odata.count"];
    state.nextLink = page["@odata.nextLink"] || null;
    const present = new Set(state.rows.map((r) => r.asyncoperationid));
    for (const id of [...state.selected]) if (!present.has(id)) state.selected.delete(id);
    renderRows();
    renderPaging();
    renderCommands();
  } catch (error) {
    showNotice(error instanceof ApiError ? `The system jobs could not be read: ${error.message}` : String(error), "error");
  } finally {
    grid.removeAttribute("aria-busy");
    state.loading = false;
    if (generation === state.generation) {
      // What a test (or a curious reader) waits on: the grid shows the answer of this generation.
      document.body.dataset.shown = String(generation);
    }
    if (pending) { const again = pending; pending = null; load(again); }
  }
}

async function loadCounts() {
  const filter = combinedFilter([tableFilter(), searchFilter()]);
  const apply = (filter ? `filter(${filter})/` : "") + "groupby((statecode,statuscode),aggregate($count as count))";
  const answer = await webapi.get(`asyncoperations?$apply=${encodeURIComponent(apply)}`);
  const list = $("#counts");
  const items = answer.value.map((g) => {
    const li = document.createElement("li");
    li.dataset.statuscode = g.statuscode;
    li.className = `status s${g.statuscode}`;
    const label = formatted(g, "statuscode") || STATUS_LABELS[g.statuscode];
    li.innerHTML = `<span class="label"></span> <strong class="count"></strong>`;
    li.querySelector(".label").textContent = `${formatted(g, "statecode")} · ${label}`;
    li.querySelector(".count").textContent = g.count;
    li.title = `statecode ${g.statecode}, statuscode ${g.statuscode}`;
    return li;
  });
  const total = answer.value.reduce((sum, g) => sum + g.count, 0);
  const all = document.createElement("li");
  all.className = "total";
  all.innerHTML = `<span class="label">All</span> <strong class="count"></strong>`;
  all.querySelector(".count").textContent = total;
  items.unshift(all);
  const signature = items.map((li) => li.textContent).join("|");
  if (list.dataset.signature !== signature) {
    list.replaceChildren(...items);
    list.dataset.signature = signature;
  }
}

async function loadTables() {
  const answer = await webapi.get("asyncoperations?$apply=groupby((primaryentitytype))");
  const select = $("#table");
  const names = answer.value.map((g) => g.primaryentitytype ?? "(none)").sort();
  const options = [new Option("All tables", ""), ...names.map((n) => new Option(n, n))];
  const current = select.value;
  select.replaceChildren(...options);
  select.value = names.includes(current) ? current : "";
}

async function loadClock() {
  const clock = await control.get("clock");
  state.now = clock.now;
  const shown = $("#clock-now");
  shown.dateTime = clock.now;
  shown.textContent = clock.now.replace("T", " ").replace("Z", "");
}

// ------------------------------------------------------------------------------------------ the grid

function renderHead() {
  const head = $("#grid-head");
  const all = document.createElement("th");
  all.scope = "col";
  all.className = "pick";
  all.innerHTML = '<input type="checkbox" id="select-all" aria-label="Select all system jobs on this page">';
  const cells = COLUMNS.map((column) => {
    const th = document.createElement("th");
    th.scope = "col";
    th.dataset.column = column.name;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "sort";
    button.textContent = column.header;
    button.addEventListener("click", () => sortBy(column.name));
    th.append(button);
    return th;
  });
  head.replaceChildren(all, ...cells);
  $("#select-all").addEventListener("change", (event) => {
    for (const row of state.rows) {
      if (event.target.checked) state.selected.add(row.asyncoperationid); else state.selected.delete(row.asyncoperationid);
    }
    renderSelection();
  });
  renderSort();
}

function renderSort() {
  for (const th of document.querySelectorAll("#grid-head th[data-column]")) {
    const sorted = th.dataset.column === state.sort.column;
    th.setAttribute("aria-sort", sorted ? (state.sort.descending ? "descending" : "ascending") : "none");
    th.querySelector("button").dataset.arrow = sorted ? (state.sort.descending ? "▼" : "▲") : "";
  }
}

function sortBy(column) {
  state.sort = { column, descending: state.sort.column === column ? !state.sort.descending : false };
  renderSort();
  restart();
}

function cellText(row, column) {
  if (column.name === "friendlymessage") return row.friendlymessage || row.message || "";
  return formatted(row, column.name);
}

function buildRow(row) {
  const tr = document.createElement("tr");
  const id = row.asyncoperationid;
  tr.dataset.id = id;
  tr.dataset.etag = row["@odata.etag"];
  tr.dataset.statecode = row.statecode;
  tr.dataset.statuscode = row.statuscode;
  const pick = document.createElement("td");
  pick.className = "pick";
  const box = document.createElement("input");
  box.type = "checkbox";
  box.dataset.role = "pick";
  box.setAttribute("aria-label", `Select ${row.name ?? id}`);
  box.addEventListener("change", () => {
    if (box.checked) state.selected.add(id); else state.selected.delete(id);
    renderSelection();
  });
  box.addEventListener("keydown", (event) => rowKeys(event, tr));
  pick.append(box);
  const cells = COLUMNS.map((column) => {
    const td = document.createElement("td");
    td.dataset.column = column.name;
    if (column.name === "name") {
      const open = document.createElement("button");
      open.type = "button";
      open.className = "link";
      open.dataset.role = "open";
      open.textContent = row.name ?? "(no name)";
      open.title = "Open this system job's details";
      open.addEventListener("click", () => openDetails(id));
      open.addEventListener("keydown", (event) => rowKeys(event, tr));
      td.append(open);
    } else if (column.name === "statuscode") {
      const badge = document.createElement("span");
      badge.className = `status s${row.statuscode}`;
      badge.textContent = cellText(row, column);
      td.append(badge);
    } else {
      td.textContent = cellText(row, column);
      if (column.name === "friendlymessage") td.title = td.textContent;
    }
    return td;
  });
  tr.append(pick, ...cells);
  return tr;
}

/** Arrow keys move between rows, keeping the column (checkbox or name); Enter on a checkbox opens details. */
function rowKeys(event, tr) {
  const role = event.target.dataset.role;
  let target = null;
  if (event.key === "ArrowDown") target = tr.nextElementSibling;
  else if (event.key === "ArrowUp") target = tr.previousElementSibling;
  else if (event.key === "Enter" && role === "pick") { event.preventDefault(); openDetails(tr.dataset.id); return; }
  if (!target) return;
  event.preventDefault();
  target.querySelector(`[data-role="${role}"]`).focus();
}

function renderRows() {
  const body = $("#grid-body");
  const existing = new Map([...body.children].map((tr) => [tr.dataset.id, tr]));
  const focused = document.activeElement;
  const wanted = state.rows.map((row) => {
    const old = existing.get(row.asyncoperationid);
    existing.delete(row.asyncoperationid);
    if (old && old.dataset.etag === row["@odata.etag"]) return old;
    const fresh = buildRow(row);
    if (old) {
      const role = old.contains(focused) ? focused.dataset.role : null;
      old.replaceWith(fresh);
      if (role) fresh.querySelector(`[data-role="${role}"]`).focus();
    }
    return fresh;
  });
  for (const gone of existing.values()) gone.remove();
  wanted.forEach((tr, index) => {
    if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] || null);
  });
  $("#grid").setAttribute("aria-rowcount", String((state.count ?? state.rows.length) + 1));
  $("#empty").hidden = state.rows.length > 0;
  renderSelection();
}

function renderSelection() {
  for (const tr of $("#grid-body").children) {
    const picked = state.selected.has(tr.dataset.id);
    tr.setAttribute("aria-selected", String(picked));
    tr.querySelector('[data-role="pick"]').checked = picked;
  }
  const all = $("#select-all");
  const picked = state.rows.filter((r) => state.selected.has(r.asyncoperationid)).length;
  all.checked = picked > 0 && picked === state.rows.length;
  all.indeterminate = picked > 0 && picked < state.rows.length;
  $("#selection").textContent = picked ? `${picked} selected` : "";
  renderCommands();
}

function renderPaging() {
  const first = state.pageIndex * state.pageSize + 1;
  const last = state.pageIndex * state.pageSize + state.rows.length;
  const total = state.count === null ? "" : ` of ${state.count}`;
  $("#page-info").textContent = state.rows.length ? `${first}–${last}${total} (page ${state.pageIndex + 1})`
    : `0${total}`;
  $("#prev-page").disabled = state.pageIndex === 0;
  $("#first-page").disabled = state.pageIndex === 0;
  $("#next-page").disabled = !state.nextLink;
}

function selectedJobs() {
  return state.rows.filter((row) => state.selected.has(row.asyncoperationid));
}

function renderCommands() {
  const jobs = selectedJobs();
  for (const button of document.querySelectorAll("[data-command]")) {
    const command = button.dataset.command;
    if (command === "bulkdelete") {
      button.title = "Open the Bulk Deletion Wizard: delete the system jobs that match conditions, now or on a schedule.";
      continue;
    }
    const { enabled, reason } = availability(command, jobs);
    button.setAttribute("aria-disabled", String(!enabled));
    button.title = reason;
    button.setAttribute("aria-description", reason);
  }
}

// ------------------------------------------------------------------------------------------ commands

function showNotice(text, kind = "info") {
  const notice = $("#notice");
  notice.textContent = text;
  notice.className = `notice ${kind}`;
  notice.hidden = !text;
}

async function runCommand(command) {
  closeMenu(false);
  if (command === "bulkdelete") {
    const jobId = await openBulkDelete({ now: state.now, view: state.view, table: state.table });
    if (jobId) {
      showNotice(`The bulk deletion job was created (system job ${jobId}).`, "info");
      await loadTables();
      await reload();
    }
    return;
  }
  const jobs = selectedJobs();
  const { enabled, reason } = availability(command, jobs);
  if (!enabled) { showNotice(reason, "info"); return; }
  const rule = COMMANDS[command];
  const what = jobs.length === 1 ? `“${jobs[0].name}”` : `these ${jobs.length} system jobs`;
  let body = rule.body;
  if (command === "delete") {
    if (!await askConfirm("Confirm Deletion", `Delete ${what}? A deleted system job cannot be restored.`)) return;
  } else if (command === "cancel") {
    if (!await askConfirm("Cancel System Jobs", `Cancel ${what}? A canceled job cannot be resumed.`)) return;
  } else if (command === "postpone") {
    const until = await askPostpone(what, state.now);
    if (!until) return;
    body = { postponeuntil: until };
  }
  const failures = [];
  let done = 0;
  for (const job of jobs) {
    const path = `asyncoperations(${job.asyncoperationid})`;
    try {
      if (command === "delete") await webapi.delete(path); else await webapi.patch(path, body);
      done += 1;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      failures.push(`${rule.label} of “${job.name}” was refused: ${error.message}` + (error.code ? ` (${error.code})` : ""));
    }
  }
  if (failures.length) showNotice(failures.join("\n"), "error");
  else showNotice(`${rule.label}: ${done === 1 ? "1 system job" : `${done} system jobs`} done.`, "info");
  if (command === "delete") for (const job of jobs) state.selected.delete(job.asyncoperationid);
  await reload();
}

// ------------------------------------------------------------------------------------------ the menu

function openMenu() {
  const menu = $("#more-menu");
  menu.hidden = false;
  $("#more-actions").setAttribute("aria-expanded", "true");
  menu.querySelector("[role=menuitem]").focus();
}

function closeMenu(focusButton = true) {
  const menu = $("#more-menu");
  if (menu.hidden) return;
  menu.hidden = true;
  $("#more-actions").setAttribute("aria-expanded", "false");
  if (focusButton) $("#more-actions").focus();
}

function menuKeys(event) {
  const items = [...$("#more-menu").querySelectorAll("[role=menuitem]")];
  const index = items.indexOf(document.activeElement);
  const go = (i) => { event.preventDefault(); items[(i + items.length) % items.length].focus(); };
  if (event.key === "ArrowDown") go(index + 1);
  else if (event.key === "ArrowUp") go(index - 1);
  else if (event.key === "Home") go(0);
  else if (event.key === "End") go(items.length - 1);
  else if (event.key === "Escape") { event.preventDefault(); closeMenu(); }
  else if (event.key === "Tab") closeMenu(false);
}

// ------------------------------------------------------------------------------------------ start

function wire() {
  const views = $("#view");
  views.replaceChildren(...VIEWS.map((v) => {
    const option = new Option(v.name, v.key);
    if (v.id) option.dataset.savedqueryid = v.id;
    return option;
  }));
  const describeView = () => { $("#view-filter").textContent = state.view.filter ? `Filter: ${state.view.filter}` : "Every system job."; };
  describeView();
  views.addEventListener("change", () => {
    state.view = VIEWS.find((v) => v.key === views.value);
    describeView();
    restart();
  });
  $("#table").addEventListener("change", (event) => { state.table = event.target.value; restart(); });
  let typing = null;
  $("#search").addEventListener("input", (event) => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.search = event.target.value; restart(); }, 250);
  });
  $("#search").addEventListener("keydown", (event) => {
    if (event.key === "Enter") { clearTimeout(typing); state.search = event.target.value; restart(); }
  });
  $("#page-size").addEventListener("change", (event) => { state.pageSize = Number(event.target.value); restart(); });
  $("#next-page").addEventListener("click", () => {
    if (!state.nextLink) return;
    state.pages = state.pages.slice(0, state.pageIndex + 1).concat(state.nextLink);
    state.pageIndex += 1;
    state.selected.clear();
    reload();
  });
  $("#prev-page").addEventListener("click", () => { if (state.pageIndex) { state.pageIndex -= 1; state.selected.clear(); reload(); } });
  $("#first-page").addEventListener("click", () => { state.pageIndex = 0; state.selected.clear(); reload(); });
  $("#refresh").addEventListener("click", () => { loadTables(); reload(); });

  for (const button of document.querySelectorAll("[data-command]")) {
    button.addEventListener("click", () => {
      if (button.getAttribute("aria-disabled") === "true") { showNotice(button.title, "info"); return; }
      runCommand(button.dataset.command);
    });
  }
  const more = $("#more-actions");
  more.addEventListener("click", () => ($("#more-menu").hidden ? openMenu() : closeMenu()));
  more.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") { event.preventDefault(); openMenu(); }
  });
  $("#more-menu").addEventListener("keydown", menuKeys);
  document.addEventListener("click", (event) => {
    if (!event.target.closest(".menu")) closeMenu(false);
  });

  $("#clock").addEventListener("click", async (event) => {
    const step = event.target.dataset.advance;
    if (!step) return;
    await moveClock({ advance: step });
  });
  $("#clock-go").addEventListener("click", async () => {
    const value = $("#clock-to").value;
    if (value) await moveClock({ set: fromLocalInput(value) });
  });

  whenUnauthorized(() => { $("#auth").hidden = false; });
  $("#auth").addEventListener("submit", (event) => {
    event.preventDefault();
    setToken($("#auth-token").value.trim());
    $("#auth").hidden = true;
    start();
  });
}

async function moveClock(body) {
  const clock = $("#clock");
  clock.setAttribute("aria-busy", "true");
  try {
    await control.post("clock", body);
    await reload();
  } catch (error) {
    showNotice(`The clock did not move: ${error.message}`, "error");
  } finally {
    clock.removeAttribute("aria-busy");
  }
}

async function start() {
  const ready = (async () => {
    const health = await control.get("health");
    state.virtualClock = health.clock === "virtual";
    state.now = health.now;
    $("#clock").hidden = !state.virtualClock;
    if (state.virtualClock) $("#clock-to").value = toLocalInput(state.now);
  })();
  const tables = loadTables();
  const grid = restart();
  try {
    await Promise.all([ready, tables]);
  } catch (error) {
    showNotice(`The emulator did not answer: ${error.message}`, "error");
  }
  await grid;
}

function poll() {
  const dialogOpen = document.querySelector("dialog[open]");
  if ($("#live").checked && !dialogOpen && !state.loading && !document.hidden) {
    load({ quiet: true });
  }
}

wire();
renderHead();
renderCommands();
start();
setInterval(poll, REFRESH_MS);
