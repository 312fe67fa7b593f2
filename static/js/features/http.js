/**
 * The two API verbs api.js does not offer: DELETE and PATCH, with the same
 * CSRF header and the same ApiError for refusals.
 * @module features/http
 */

import { ApiError } from '../api.js';

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute('content') : '';
}

async function send(method, path, body) {
  const headers = { Accept: 'application/json', 'X-CSRFToken': csrfToken() };
  const init = { method, headers, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'The server cannot be reached. Check your connection.');
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const message = data && typeof data.error === 'string' ? data.error : response.statusText;
    throw new ApiError(response.status, message || `HTTP ${response.status}`);
  }
  return data;
}

/**
 * DELETE a resource and read the JSON answer.
 * @param {string} path
 * @returns {Promise<any>}
 */
export function apiDelete(path) {
  return send('DELETE', path);
}

/**
 * PATCH a resource with a JSON body and read the JSON answer.
 * @param {string} path
 * @param {object} body
 * @returns {Promise<any>}
 */
export function apiPatch(path, body) {
  return send('PATCH', path, body);
}
