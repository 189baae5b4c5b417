// The page's only way out: the public Web API and the control API, as any client calls them.

export const API = "/api/data/v9.2/";
export const CONTROL = "/_emulator/v1/";
const ANNOTATIONS = 'odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname"';
const TOKEN_KEY = "odata-emulator-token";

/** A refused request: the HTTP status and Dataverse's error code and message, as the server wrote them. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};
export function whenUnauthorized(callback) { onUnauthorized = callback; }
export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
}

async function request(method, url, { body, headers = {} } = {}) {
  const sent = { Accept: "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0", ...headers };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) sent.Authorization = `Bearer ${token}`;
  const response = await fetch(url, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = response.status === 204 ? "" : await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!response.ok) {
    if (response.status === 401) onUnauthorized();
    const error = json && json.error;
    throw new ApiError(response.status, (error && error.code) || "", (error && error.message) || text || response.statusText);
  }
  return json;
}

/** The Web API. `path` is relative to /api/data/v9.2/, or an absolute @odata.nextLink. */
export const webapi = {
  get(path, { pageSize } = {}) {
    const prefer = [ANNOTATIONS];
    if (pageSize) prefer.unshift(`odata.maxpagesize=${pageSize}`);
    return request("GET", path.startsWith("http") ? path : API + path, { headers: { Prefer: prefer.join(",") } });
  },
  patch(path, body) { return request("PATCH", API + path, { body }); },
  delete(path) { return request("DELETE", API + path); },
  post(path, body) { return request("POST", API + path, { body }); },
};

/** The emulator's control API. */
export const control = {
  get(path) { return request("GET", CONTROL + path); },
  post(path, body) { return request("POST", CONTROL + path, { body }); },
};

/** An OData string literal. */
export function literal(text) { return `'${String(text).replace(/'/g, "''")}'`; }

/** The formatted value of a property, or its raw value. */
export function formatted(row, name) {
  const shown = row[`${name}@OData.Community.Display.V1.FormattedValue`];
  if (shown !== undefined && shown !== null) return shown;
  const raw = row[name];
  return raw === null || raw === undefined ? "" : String(raw);
}
