/**
 * Group retention in the group info dialog.
 *
 * Every member sees how long the group's messages and files are kept; the
 * owner may choose fewer days than the server's limit. The server shortens
 * what is already stored to match, so the choice applies to the past too.
 * This module reads the open group from the page address and needs nothing
 * from chat.js.
 */

import { ApiError, apiGet, apiPost } from './api.js';

const GROUP_PATH = /^\/chat\/([A-Za-z0-9_-]{22})\/$/;

/**
 * The id of the group the page shows, or null on the group list.
 * @returns {string | null}
 */
export function activeGroupId() {
  const match = GROUP_PATH.exec(window.location.pathname);
  return match ? match[1] : null;
}

/**
 * Words for a retention answer of the API.
 * @param {{days: number, chosen: number | null, server_days: number}} info
 * @returns {string}
 */
export function describe(info) {
  const days = `${info.days} day${info.days === 1 ? '' : 's'}`;
  const source = info.chosen === null ? 'the server\u2019s limit' : 'chosen by the owner';
  return `Messages and files are deleted ${days} after they are sent (${source}).`;
}

function fillChoices(select, info) {
  select.replaceChildren();
  const standard = new Option(`${info.server_days} days (server limit)`, '');
  select.append(standard);
  for (let day = info.server_days - 1; day >= 1; day -= 1) {
    select.append(new Option(`${day} day${day === 1 ? '' : 's'}`, String(day)));
  }
  select.value = info.chosen === null ? '' : String(info.chosen);
}

function bind(section) {
  const text = section.querySelector('[data-role=retention-text]');
  const owner = section.querySelector('[data-role=retention-owner]');
  const select = section.querySelector('[data-role=retention-days]');
  const save = section.querySelector('[data-role=retention-save]');
  const error = section.querySelector('[data-role=retention-error]');
  let group = null;

  function show(info) {
    text.textContent = describe(info);
    owner.classList.toggle('d-none', !info.can_change);
    if (info.can_change) fillChoices(select, info);
  }

  async function refresh() {
    group = activeGroupId();
    error.textContent = '';
    if (!group) return;
    try {
      show(await apiGet(`/api/groups/${group}/retention`));
    } catch (err) {
      text.textContent = '';
      error.textContent = err instanceof ApiError ? err.message : 'Could not load retention.';
    }
  }

  async function store() {
    if (!group) return;
    const days = select.value === '' ? null : Number(select.value);
    save.disabled = true;
    error.textContent = '';
    try {
      show(await apiPost(`/api/groups/${group}/retention`, { days }));
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : 'Could not save.';
    } finally {
      save.disabled = false;
    }
  }

  document.addEventListener('click', (event) => {
    if (event.target instanceof Element && event.target.closest('[data-action=group-info]')) {
      refresh();
    }
  });
  save.addEventListener('click', store);
}

const section = document.querySelector('[data-role=retention]');
if (section) bind(section);
