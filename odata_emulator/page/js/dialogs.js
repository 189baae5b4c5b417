// The page's dialogs: confirmation, "Postpone Job", the Bulk Deletion Wizard and a job's details.

import { ApiError, control, formatted, webapi } from "./api.js";
import { PLATFORM_TYPES, STATE_LABELS, STATUS_LABELS } from "./rules.js";

const $ = (selector) => document.querySelector(selector);

/** "2026-11-01T12:00:00Z" as a datetime-local input's value (the page reads and writes UTC). */
export function toLocalInput(iso) { return (iso || new Date().toISOString()).slice(0, 19); }

/** A datetime-local input's value ("2027-01-01T00:00" or with seconds) as an ISO UTC timestamp. */
export function fromLocalInput(value) { return (value.length === 16 ? `${value}:00` : value.slice(0, 19)) + "Z"; }

function later(iso, hours) { return new Date(Date.parse(iso || new Date().toISOString()) + hours * 3_600_000).toISOString(); }

/** Opens a modal <dialog> and resolves with its return value once it closes. */
function modal(dialog, focus) {
  return new Promise((resolve) => {
    dialog.returnValue = "";
    dialog.addEventListener("close", () => resolve(dialog.returnValue), { once: true });
    dialog.showModal();
    if (focus) focus.focus();
  });
}

export async function askConfirm(title, text) {
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  return (await modal($("#confirm-dialog"), $("#confirm-ok"))) === "ok";
}

/** The "Postpone Job" dialog: the date and time (UTC) to postpone to, or null. */
export async function askPostpone(what, now) {
  $("#postpone-text").textContent = `Postpone ${what} until:`;
  const input = $("#postpone-until");
  input.value = toLocalInput(later(now, 1));
  const answer = await modal($("#postpone-dialog"), input);
  return answer === "ok" && input.value ? fromLocalInput(input.value) : null;
}

// ------------------------------------------------------------------------------------ Bulk Delete

const FIELDS = [
  { name: "statuscode", label: "Status Reason", kind: "choice", options: () => STATUS_LABELS },
  { name: "statecode", label: "Status", kind: "choice", options: () => STATE_LABELS },
  { name: "operationtype", label: "System Job Type", kind: "choice", options: () => operationTypes },
  { name: "name", label: "System Job Name", kind: "text" },
  { name: "primaryentitytype", label: "Table (Entity)", kind: "text" },
  { name: "completedon", label: "Completed On", kind: "date" },
  { name: "createdon", label: "Created On", kind: "date" },
];
const OPERATORS = {
  choice: [["Equal", "Equals"], ["NotEqual", "Does Not Equal"]],
  text: [["Equal", "Equals"], ["Contains", "Contains"], ["BeginsWith", "Begins With"], ["Null", "Does Not Contain Data"],
         ["NotNull", "Contains Data"]],
  date: [["OlderThanXDays", "Older Than X Days"], ["OlderThanXHours", "Older Than X Hours"],
         ["OlderThanXMinutes", "Older Than X Minutes"], ["LastXDays", "Last X Days"], ["Null", "Does Not Contain Data"],
         ["NotNull", "Contains Data"]],
};
let operationTypes = {};

function conditionRow(field = "statuscode", operator = "Equal", value = "30") {
  const row = document.createElement("div");
  row.className = "condition";
  row.setAttribute("role", "group");
  row.setAttribute("aria-label", "Condition");
  const fieldSelect = document.createElement("select");
  fieldSelect.className = "field";
  fieldSelect.setAttribute("aria-label", "Column");
  fieldSelect.append(...FIELDS.map((f) => new Option(f.label, f.name)));
  fieldSelect.value = field;
  const operatorSelect = document.createElement("select");
  operatorSelect.className = "operator";
  operatorSelect.setAttribute("aria-label", "Operator");
  const slot = document.createElement("span");
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "Remove";
  remove.setAttribute("aria-label", "Remove this condition");
  remove.addEventListener("click", () => row.remove());

  const valueControl = (kind, keep) => {
    const spec = FIELDS.find((f) => f.name === fieldSelect.value);
    let control;
    if (operatorSelect.value === "Null" || operatorSelect.value === "NotNull") {
      control = document.createElement("span");
    } else if (kind === "choice") {
      control = document.createElement("select");
      control.append(...Object.entries(spec.options()).map(([v, label]) => new Option(label, v)));
    } else {
      control = document.createElement("input");
      if (kind === "date") { control.type = "number"; control.min = "0"; }
    }
    control.className = "value";
    control.setAttribute("aria-label", "Value");
    if (keep !== undefined && "value" in control) control.value = keep;
    slot.replaceChildren(control);
  };
  const operators = (keepOperator) => {
    const kind = FIELDS.find((f) => f.name === fieldSelect.value).kind;
    operatorSelect.replaceChildren(...OPERATORS[kind].map(([v, label]) => new Option(label, v)));
    if (keepOperator) operatorSelect.value = keepOperator;
    valueControl(kind);
  };
  fieldSelect.addEventListener("change", () => operators());
  operatorSelect.addEventListener("change", () => valueControl(FIELDS.find((f) => f.name === fieldSelect.value).kind));
  operators(operator);
  valueControl(FIELDS.find((f) => f.name === field).kind, value);
  row.append(fieldSelect, operatorSelect, slot, remove);
  return row;
}

/** The QueryExpression conditions of the wizard's first step. */
function conditions() {
  return [...document.querySelectorAll("#bulk-conditions .condition")].map((row) => {
    const field = FIELDS.find((f) => f.name === row.querySelector(".field").value);
    let operator = row.querySelector(".operator").value;
    const control = row.querySelector(".value");
    let value = control && "value" in control ? control.value : null;
    if (operator === "Contains") { operator = "Like"; value = `%${value}%`; }
    const values = value === null ? [] : [{ Value: String(value), Type: field.kind === "text" ? "System.String" : "System.Int32" }];
    return { AttributeName: field.name, Operator: operator, Values: values };
  });
}

function step(number) {
  const dialog = $("#bulk-dialog");
  dialog.dataset.step = number;
  for (const fieldset of dialog.querySelectorAll("fieldset")) fieldset.hidden = fieldset.dataset.step !== String(number);
  for (const item of dialog.querySelectorAll(".steps li")) {
    if (item.dataset.step === String(number)) item.setAttribute("aria-current", "step"); else item.removeAttribute("aria-current");
  }
  $("#bulk-back").disabled = number === 1;
  $("#bulk-next").hidden = number === 3;
  $("#bulk-submit").hidden = number !== 3;
  const first = dialog.querySelector(`fieldset[data-step="${number}"] select, fieldset[data-step="${number}"] input`);
  if (first) first.focus();
}

let wizardWired = false;

/** The Bulk Deletion Wizard: conditions, a name, run now or on a pattern. Resolves with the new job's id. */
export async function openBulkDelete({ now }) {
  const dialog = $("#bulk-dialog");
  try {
    const types = await webapi.get("asyncoperations?$apply=groupby((operationtype))");
    operationTypes = Object.fromEntries(types.value.map((g) => [g.operationtype, formatted(g, "operationtype")]));
  } catch { operationTypes = {}; }
  $("#bulk-conditions").replaceChildren(conditionRow());
  $("#bulk-name").value = `Bulk Deletion of System Jobs - ${toLocalInput(now).replace("T", " ")}`;
  $("#bulk-start").value = toLocalInput(now);
  $("#bulk-error").hidden = true;
  dialog.querySelector('input[value="now"]').checked = true;
  if (!wizardWired) {
    wizardWired = true;
    $("#bulk-add").addEventListener("click", () => {
      const row = conditionRow("name", "Contains", "");
      $("#bulk-conditions").append(row);
      row.querySelector("select").focus();
    });
    $("#bulk-back").addEventListener("click", () => step(Number(dialog.dataset.step) - 1));
    $("#bulk-next").addEventListener("click", () => {
      const current = Number(dialog.dataset.step);
      if (current === 1 && !document.querySelector("#bulk-conditions .condition")) {
        return showWizardError("Add at least one condition: a bulk deletion without one would delete every system job.");
      }
      if (current === 2 && !$("#bulk-name").value.trim()) return showWizardError("Name the bulk deletion job.");
      $("#bulk-error").hidden = true;
      step(current + 1);
    });
    $("#bulk-submit").addEventListener("click", () => submitBulkDelete(dialog));
  }
  step(1);
  const answer = await modal(dialog);
  return answer && answer !== "cancel" ? answer : null;
}

function showWizardError(text) {
  const error = $("#bulk-error");
  error.textContent = text;
  error.hidden = false;
}

async function submitBulkDelete(dialog) {
  const recurring = dialog.querySelector('input[name="bulk-when"]:checked').value === "recurring";
  const start = $("#bulk-start").value;
  const body = {
    QuerySet: [{
      "@odata.type": "Microsoft.Dynamics.CRM.QueryExpression",
      EntityName: "asyncoperation",
      ColumnSet: { AllColumns: false, Columns: ["asyncoperationid"] },
      Distinct: false,
      Criteria: { FilterOperator: "And", Conditions: conditions() },
    }],
    JobName: $("#bulk-name").value.trim(),
    SendEmailNotification: false,
    ToRecipients: [],
    CCRecipients: [],
    RecurrencePattern: recurring ? $("#bulk-pattern").value.trim() : "",
    StartDateTime: start ? fromLocalInput(start) : new Date().toISOString(),
    RunNow: !recurring,
  };
  try {
    const answer = await webapi.post("BulkDelete", body);
    dialog.close(answer.JobId);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    showWizardError(`BulkDelete was refused: ${error.message}` + (error.code ? ` (${error.code})` : ""));
  }
}

// ------------------------------------------------------------------------------------ details

function text(tag, content, className) {
  const element = document.createElement(tag);
  element.textContent = content ?? "";
  if (className) element.className = className;
  return element;
}

function section(title, ...children) {
  const element = document.createElement("section");
  element.append(text("h3", title), ...children);
  return element;
}

function definitions(pairs) {
  const list = document.createElement("dl");
  for (const [term, value] of pairs) list.append(text("dt", term), text("dd", value || "—"));
  return list;
}

function pairLabel(statecode, statuscode) {
  return `${STATE_LABELS[statecode] ?? statecode} · ${STATUS_LABELS[statuscode] ?? statuscode} (${statecode}/${statuscode})`;
}

function lookup(job, name) {
  const id = job[name];
  if (!id) return "";
  const table = job[`${name}@Microsoft.Dynamics.CRM.lookuplogicalname`];
  return `${formatted(job, name)} (${table ? `${table} ` : ""}${id})`;
}

/** A job's details: the header, the messages, the regarding record, the owning step, why, history, every column. */
export async function openDetails(id) {
  const dialog = $("#details-dialog");
  const body = $("#details-body");
  $("#details-title").textContent = "System job";
  body.replaceChildren(text("p", "Loading…"));
  const shown = modal(dialog);
  const [job, why, history] = await Promise.allSettled([
    webapi.get(`asyncoperations(${id})`),
    control.get(`jobs/${id}`),
    control.get(`jobs/${id}/history`),
  ]);
  if (job.status === "rejected") {
    body.replaceChildren(text("p", job.reason.message, "error"));
    return shown;
  }
  const row = job.value;
  dialog.dataset.id = id;
  $("#details-title").textContent = row.name || "(no name)";
  const platform = PLATFORM_TYPES.has(row.operationtype) ? " (a platform job)" : "";
  const parts = [
    definitions([
      ["System Job Type", formatted(row, "operationtype") + platform],
      ["Status Reason", `${formatted(row, "statecode")} · ${formatted(row, "statuscode")}`],
      ["Owner", lookup(row, "_ownerid_value")],
      ["Regarding", lookup(row, "_regardingobjectid_value")],
      ["Table (Entity)", row.primaryentitytype],
      ["Owning step", lookup(row, "_owningextensionid_value")],
      ["Created On", formatted(row, "createdon")],
      ["Started On", formatted(row, "startedon")],
      ["Completed On", formatted(row, "completedon")],
      ["Postpone Until", formatted(row, "postponeuntil")],
      ["Recurrence", row.recurrencepattern ? `${row.recurrencepattern} from ${formatted(row, "recurrencestarttime") || "now"}` : ""],
    ]),
    section("Details",
      definitions([["Error code", row.errorcode === null ? "" : `${row.errorcode} (0x${(row.errorcode >>> 0).toString(16)})`],
                   ["Retry count", formatted(row, "retrycount")]]),
      text("h4", "Friendly message"), text("pre", row.friendlymessage || "—", "message friendly"),
      text("h4", "Message"), text("pre", row.message || "—", "message technical")),
  ];
  const whySection = section("Why it is where it is");
  whySection.className = "why";
  if (why.status === "fulfilled") {
    const answer = why.value.why || {};
    whySection.append(text("p", answer.summary || "Nothing holds it back."));
    if (answer.blocked_by) {
      whySection.append(text("p", `Blocked by ${answer.blocked_by.name} (${answer.blocked_by.asyncoperationid}), ${answer.blocked_by.status}.`));
    }
  } else {
    whySection.append(text("p", why.reason.message, "error"));
  }
  parts.push(whySection);
  const timeline = document.createElement("ol");
  timeline.className = "timeline";
  timeline.setAttribute("aria-label", "History");
  if (history.status === "fulfilled") {
    for (const entry of history.value.value) {
      const item = document.createElement("li");
      item.dataset.statuscode = entry.statuscode;
      const at = document.createElement("time");
      at.dateTime = entry.at;
      at.textContent = entry.at.replace("T", " ").replace("Z", " UTC");
      item.append(at, text("span", pairLabel(entry.statecode, entry.statuscode), `status s${entry.statuscode}`),
                  text("span", entry.reason, "reason"));
      timeline.append(item);
    }
  } else {
    timeline.append(text("li", history.reason.message, "error"));
  }
  parts.push(section("History", timeline));
  const every = document.createElement("details");
  every.append(text("summary", "Every column"));
  const table = document.createElement("table");
  table.className = "columns";
  table.innerHTML = "<thead><tr><th scope=col>Column</th><th scope=col>Value</th><th scope=col>Formatted value</th></tr></thead>";
  const rows = document.createElement("tbody");
  for (const [name, value] of Object.entries(row)) {
    if (name.includes("@")) continue;
    const tr = document.createElement("tr");
    const shownValue = formatted(row, name);
    tr.append(text("th", name), text("td", value === null ? "null" : String(value)),
              text("td", shownValue !== String(value ?? "") ? shownValue : ""));
    tr.firstChild.scope = "row";
    rows.append(tr);
  }
  table.append(rows);
  every.append(table);
  parts.push(every);
  body.replaceChildren(...parts);
  return shown;
}
