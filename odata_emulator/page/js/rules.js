// What the System Jobs page shows and allows: its views, its columns, and when each command applies.
// Pure data and functions (no DOM), so the rules read in one place.

/** The views of Settings > System > System Jobs, each a Web API $filter ("" for none). */
export const VIEWS = [
  { key: "all", name: "All System Jobs", id: "396c49c7-f7f5-4612-b8e6-846a4d813293", filter: "" },
  { key: "mine", name: "My System Jobs", filter: "Microsoft.Dynamics.CRM.EqualUserId(PropertyName='ownerid')" },
  { key: "recurring", name: "Recurring System Jobs", filter: "recurrencepattern ne null" },
  { key: "waiting", name: "Waiting System Jobs", filter: "statecode eq 1" },
  { key: "inprogress", name: "System Jobs In Progress", filter: "statecode eq 2" },
  { key: "succeeded", name: "Succeeded System Jobs", filter: "statuscode eq 30" },
  { key: "failed", name: "Failed System Jobs", filter: "statuscode eq 31" },
  { key: "canceled", name: "Canceled System Jobs", filter: "statuscode eq 32" },
];

/** The grid's columns: the property read, the property sorted on, the header. */
export const COLUMNS = [
  { name: "name", header: "System Job Name" },
  { name: "operationtype", header: "System Job Type" },
  { name: "statuscode", header: "Status Reason" },
  { name: "_regardingobjectid_value", header: "Regarding" },
  { name: "_ownerid_value", header: "Owner" },
  { name: "createdon", header: "Created On" },
  { name: "startedon", header: "Started On" },
  { name: "completedon", header: "Completed On" },
  { name: "postponeuntil", header: "Postpone Until" },
  { name: "friendlymessage", header: "Message" },
];

/** Columns read for the grid beyond the shown ones (the rules below need them). */
export const SELECT = [...COLUMNS.map((c) => c.name), "statecode", "message", "primaryentitytype", "recurrencepattern"];

/** Operation types of platform maintenance jobs: they cannot be cancelled, paused or resumed. */
export const PLATFORM_TYPES = new Set([9, 16, 18, 19, 20, 22, 24, 25, 27, 31]);

export const STATE_LABELS = { 0: "Ready", 1: "Suspended", 2: "Locked", 3: "Completed" };
export const STATUS_LABELS = {
  0: "Waiting For Resources", 10: "Waiting", 20: "In Progress", 21: "Pausing", 22: "Canceling",
  30: "Succeeded", 31: "Failed", 32: "Canceled",
};

/**
 * The commands and the Web API request each sends. `from` lists the status reasons a command applies
 * to: the documented state table (Cancel from Ready, Suspended, Locked; Resume from Suspended; Postpone
 * from Ready, Locked; Pause from Locked), narrowed to the statuses the service accepts (a job already
 * Pausing can only be cancelled; one Canceling takes no command).
 */
export const COMMANDS = {
  delete: { label: "Delete", from: null, platform: true },
  cancel: { label: "Cancel", from: [0, 10, 20, 21], platform: false, states: "Ready, Suspended or Locked",
            body: { statecode: 3, statuscode: 32 } },
  resume: { label: "Resume", from: [10], platform: false, states: "Suspended", body: { statecode: 0, statuscode: 0 } },
  postpone: { label: "Postpone", from: [0, 20], platform: true, states: "Ready or Locked (In Progress)" },
  pause: { label: "Pause", from: [20], platform: false, states: "Locked (In Progress)",
           body: { statecode: 1, statuscode: 10 } },
};

function describe(job) {
  const state = STATE_LABELS[job.statecode] ?? job.statecode;
  const status = STATUS_LABELS[job.statuscode] ?? job.statuscode;
  return `“${job.name}” is ${state} (${status})`;
}

/** Whether `command` applies to every job of `jobs`: {enabled, reason}. */
export function availability(command, jobs) {
  const rule = COMMANDS[command];
  if (!jobs.length) return { enabled: false, reason: `${rule.label}: select one or more system jobs first.` };
  for (const job of jobs) {
    if (!rule.platform && PLATFORM_TYPES.has(job.operationtype)) {
      const type = job["operationtype@OData.Community.Display.V1.FormattedValue"] ?? job.operationtype;
      return { enabled: false,
               reason: `${rule.label}: “${job.name}” is a platform job (${type}); ` +
                       "platform jobs cannot be cancelled, paused or resumed." };
    }
    if (rule.from && !rule.from.includes(job.statuscode)) {
      const why = job.statecode === 3 ? "a completed job takes no status change"
        : job.statuscode === 22 ? "it is already being canceled"
        : job.statuscode === 21 ? "it is being paused (only Cancel applies)"
        : `${rule.label} applies to ${rule.states} jobs`;
      return { enabled: false, reason: `${rule.label}: ${describe(job)}; ${why}.` };
    }
  }
  const count = jobs.length === 1 ? `“${jobs[0].name}”` : `the ${jobs.length} selected jobs`;
  return { enabled: true, reason: `${rule.label} ${count}.` };
}

/** The $filter of a view, a table and a name search, joined with `and`. */
export function combinedFilter(parts) {
  const present = parts.filter(Boolean);
  if (present.length <= 1) return present[0] || "";
  return present.map((p) => `(${p})`).join(" and ");
}
