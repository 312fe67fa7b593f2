/**
 * JSON API calls with the CSRF token, and one error type for refusals.
 * @module api
 */

/** A refused or failed API call; `status` is the HTTP status (0 for network). */
export class ApiError extends Error {
  /** `code` names a refusal the page must tell apart from others of its status. */
  constructor(status, message, code = '') {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute('content') : '';
}

async function request(method, path, body) {
  const headers = { Accept: 'application/json' };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    headers['X-CSRFToken'] = csrfToken();
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check your connection.');
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data && typeof data.error === 'string' ? data.error : response.statusText;
    const code = data && typeof data.code === 'string' ? data.code : '';
    throw new ApiError(response.status, message || `HTTP ${response.status}`, code);
  }
  return data;
}

/**
 * GET a JSON document.
 * @param {string} path
 * @returns {Promise<any>}
 */
export function apiGet(path) {
  return request('GET', path);
}

/**
 * POST a JSON body (with the CSRF header) and read the JSON answer.
 * @param {string} path
 * @param {object} body
 * @returns {Promise<any>}
 */
export function apiPost(path, body) {
  return request('POST', path, body);
}
