// The studio's HTTP API from the page: same-origin fetches (the token, when the server needs
// one, is an HttpOnly cookie the server set when the page was opened as /?token=...).

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`.trim();
  try {
    const body = await response.json();
    if (typeof body.detail === "string") message = body.detail;
    else if (Array.isArray(body.detail)) {
      message = body.detail.map((d) => [d.loc?.slice(1).join("."), d.msg].filter(Boolean).join(": ")).join("; ");
    }
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(message, response.status);
}

async function request(url, options = {}) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...options });
  } catch {
    throw new ApiError("the studio server cannot be reached", 0);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function getJSON(url) {
  return (await request(url, { headers: { accept: "application/json" } })).json();
}

export async function postJSON(url) {
  return (await request(url, { method: "POST", headers: { accept: "application/json" } })).json();
}

export async function postForm(url, formData) {
  return (await request(url, { method: "POST", body: formData, headers: { accept: "application/json" } })).json();
}

export async function getBlob(url) {
  return (await request(url)).blob();
}

export const api = {
  health: () => getJSON("/api/health"),
  tasks: () => getJSON("/api/tasks"),
  ops: () => getJSON("/api/ops"),
  models: () => getJSON("/api/models"),
  datasets: () => getJSON("/api/datasets"),
  runs: () => getJSON("/api/runs"),
  run: (name) => getJSON(`/api/runs/${encodeURIComponent(name)}`),
  jobs: (limit = 50) => getJSON(`/api/jobs?limit=${limit}`),
  job: (id) => getJSON(`/api/jobs/${encodeURIComponent(id)}`),
  submit: (formData) => postForm("/api/jobs", formData),
  cancel: (id) => postJSON(`/api/jobs/${encodeURIComponent(id)}/cancel`),
  resume: (id) => postJSON(`/api/jobs/${encodeURIComponent(id)}/resume`),
  events: (id) => new EventSource(`/api/jobs/${encodeURIComponent(id)}/events`, { withCredentials: false }),
  outputUrl: (id, name) => `/api/jobs/${encodeURIComponent(id)}/outputs/${encodeURIComponent(name)}`,
  inputUrl: (id, name) => `/api/jobs/${encodeURIComponent(id)}/inputs/${encodeURIComponent(name)}`,
  sampleUrl: (run, file) => `/api/runs/${encodeURIComponent(run)}/samples/${encodeURIComponent(file)}`,
};

export const FINAL = ["done", "failed", "cancelled", "interrupted"];
export const isFinal = (job) => FINAL.includes(job.status);
