/**
 * Encrypted pictures, video, voice notes and other files on the chat page.
 *
 * Sending: a file is attached by button, drag and drop or paste, or recorded as a voice
 * note; the server reserves a random blob id, the file is encrypted here in chunks
 * (crypto.js), uploaded with a progress bar and a cancel button, and a normal sealed
 * message describes it: {v: 1, type, blob: {id, name, mime, size, chunk}, thumb?,
 * duration?, ts}. Only that message carries the name, the real size and the preview.
 *
 * Receiving: a placeholder shows type, size and the preview; opening downloads with
 * progress, decrypts, and shows allowlisted pictures, video and audio inline through
 * blob: URLs, checking the decrypted bytes against the declared type first. Anything
 * else is offered as a download, never rendered; a file that fails to verify is shown as
 * damaged. A blob: URL is revoked as soon as its element leaves the page.
 * @module media
 */

import { ApiError, apiPost } from './api.js';
import {
  BLOB_CHUNK_BYTES, b64decode, b64encode, blobAad, blobCiphertextSize, decryptBlob,
  encryptBlob,
} from './crypto.js';
import { encKeyForEpoch } from './keystore.js';

/** Document types that describe an encrypted file. */
export const FILE_TYPES = new Set(['file', 'image', 'video', 'audio']);

/** Types shown inline after decryption, and how; everything else becomes a download. */
export const INLINE_TYPES = new Map([
  ['image/jpeg', 'image'], ['image/png', 'image'], ['image/webp', 'image'],
  ['image/gif', 'image'], ['video/mp4', 'video'], ['video/webm', 'video'],
  ['audio/webm', 'audio'], ['audio/ogg', 'audio'], ['audio/mpeg', 'audio'],
  ['audio/mp4', 'audio'], ['audio/wav', 'audio'],
]);

const BLOB_ID = /^[A-Za-z0-9_-]{22,64}$/;
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/;
const MAX_NAME = 255;
const MAX_CAPTION = 8000;
const MAX_THUMB_CHARS = 32 * 1024;
const THUMB_EDGE = 160;
const HOLD_MS = 450;
const MAX_RECORDING_MS = 5 * 60 * 1000;
const RECORDER_TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/mp4'];

let ctx = null; // {userId, state, sendDocument, cannotSend}
const views = new Set(); // attachment views currently holding an element

const $ = (role) => document.querySelector(`[data-role="${role}"]`);

/* ---------- documents and types ---------- */

/**
 * The base MIME type, lower-cased, without parameters ("audio/webm;codecs=opus" gives
 * "audio/webm"); an empty string when there is none.
 * @param {string} type
 * @returns {string}
 */
export function baseType(type) {
  const base = String(type || '').split(';')[0].trim().toLowerCase();
  return MIME.test(base) ? base : '';
}

/**
 * How an allowlisted type is shown inline: 'image', 'video' or 'audio'; 'file' otherwise.
 * @param {string} mime
 * @returns {string}
 */
export function mediaKind(mime) {
  return INLINE_TYPES.get(mime) || 'file';
}

const isSize = (value) => Number.isSafeInteger(value) && value >= 0;

// Bidi embeddings, overrides, isolates and marks. In a file name they turn
// part of it around: "invoice\u202efdp.exe" shows as "invoiceexe.pdf".
const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;
// Longest voice note or video length shown; a longer claim is not shown.
const MAX_SHOWN_DURATION_MS = 24 * 60 * 60 * 1000;

/**
 * A file name as it is shown and saved: without bidi controls, so that what
 * people read is the name in its real order, extension included.
 * @param {string} name
 * @returns {string}
 */
export function shownName(name) {
  return String(name).replace(BIDI_CONTROLS, '') || 'file';
}

/**
 * Whether an opened message document describes a file, with every field well formed.
 * @param {*} doc
 * @returns {boolean}
 */
export function isFileDocument(doc) {
  if (!doc || doc.v !== 1 || !FILE_TYPES.has(doc.type)) return false;
  const blob = doc.blob;
  return Boolean(blob) && typeof blob.id === 'string' && BLOB_ID.test(blob.id)
    && typeof blob.name === 'string' && blob.name.length > 0 && blob.name.length <= MAX_NAME
    && typeof blob.mime === 'string' && MIME.test(blob.mime)
    && isSize(blob.size) && isSize(blob.chunk)
    && (doc.body === undefined || (typeof doc.body === 'string' && doc.body.length <= MAX_CAPTION))
    && (doc.thumb === undefined
      || (typeof doc.thumb === 'string' && doc.thumb.length <= MAX_THUMB_CHARS))
    && (doc.duration === undefined || (Number.isFinite(doc.duration) && doc.duration >= 0));
}

/**
 * The extra fields of a message POST that attach its file: {blobs: [id]} or nothing.
 * @param {object} doc
 * @returns {{blobs?: string[]}}
 */
export function attachedBlobs(doc) {
  return isFileDocument(doc) ? { blobs: [doc.blob.id] } : {};
}

const startsWith = (bytes, signature, offset = 0) => signature.every(
  (byte, i) => byte === null || bytes[offset + i] === byte,
);
const ascii = (text) => Array.from(text, (c) => c.charCodeAt(0));

/** What the first bytes of each inline type look like. */
const SIGNATURES = {
  'image/jpeg': (b) => startsWith(b, [0xff, 0xd8, 0xff]),
  'image/png': (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  'image/gif': (b) => startsWith(b, ascii('GIF87a')) || startsWith(b, ascii('GIF89a')),
  'image/webp': (b) => startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WEBP'), 8),
  'video/webm': (b) => startsWith(b, [0x1a, 0x45, 0xdf, 0xa3]),
  'audio/webm': (b) => startsWith(b, [0x1a, 0x45, 0xdf, 0xa3]),
  'video/mp4': (b) => startsWith(b, ascii('ftyp'), 4),
  'audio/mp4': (b) => startsWith(b, ascii('ftyp'), 4),
  'audio/ogg': (b) => startsWith(b, ascii('OggS')),
  'audio/wav': (b) => startsWith(b, ascii('RIFF')) && startsWith(b, ascii('WAVE'), 8),
  'audio/mpeg': (b) => startsWith(b, ascii('ID3')) || (b[0] === 0xff && (b[1] & 0xe0) === 0xe0),
};

/**
 * The inline kind for a declared type, or null when the file must not be rendered: the
 * type is off the allowlist (SVG and HTML always are), or the decrypted bytes do not
 * start the way that type starts.
 * @param {string} mime - the type the sender declared
 * @param {Uint8Array} head - the first bytes of the decrypted file (16 suffice)
 * @returns {string|null}
 */
export function inlineKind(mime, head) {
  const check = SIGNATURES[mime];
  return INLINE_TYPES.has(mime) && check && check(head) ? INLINE_TYPES.get(mime) : null;
}

/**
 * A byte count for people: "512 B", "1.4 MB".
 * @param {number} bytes
 * @returns {string}
 */
export function formatSize(bytes) {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

function formatDuration(ms) {
  const seconds = Math.floor(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

function icon(name) {
  const element = document.createElement('i');
  element.className = `fa-solid ${name}`;
  element.setAttribute('aria-hidden', 'true');
  return element;
}

function kindIcon(kind) {
  return icon({ image: 'fa-image', video: 'fa-film', audio: 'fa-microphone' }[kind]
    || 'fa-file');
}

/* ---------- transfers ---------- */

/** An upload or download the person cancelled. */
class Cancelled extends Error {
  constructor() {
    super('Cancelled');
    this.name = 'Cancelled';
  }
}

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.getAttribute('content') : '';
}

function errorOf(xhr) {
  const data = xhr.response;
  if (data && typeof data === 'object' && typeof data.error === 'string') return data.error;
  return xhr.status ? `HTTP ${xhr.status}` : 'The server cannot be reached.';
}

/**
 * One XMLHttpRequest as a promise; fetch cannot report upload progress. `task.abort`
 * cancels it.
 */
function transfer(method, url, { body = null, responseType = 'json', onProgress, task }) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    xhr.responseType = responseType;
    xhr.setRequestHeader('X-CSRFToken', csrfToken());
    if (body) xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    const target = body ? xhr.upload : xhr;
    target.addEventListener('progress', (event) => {
      if (event.lengthComputable && onProgress) onProgress(event.loaded, event.total);
    });
    xhr.addEventListener('load', () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        resolve(xhr.response);
        return;
      }
      // A refused download answers JSON, which arrives here as a Blob.
      reject(new ApiError(xhr.status, responseType === 'json' ? errorOf(xhr) : 'Not found.'));
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'The connection failed.')));
    xhr.addEventListener('abort', () => reject(new Cancelled()));
    task.abort = () => xhr.abort();
    xhr.send(body);
  });
}

function blobUrl(groupId, blobId) {
  return `/api/groups/${groupId}/blobs/${blobId}`;
}

/* ---------- sending ---------- */

/** One row of the uploads list: name, phase, progress bar and cancel button. */
function uploadRow(name, task) {
  const row = document.createElement('li');
  row.className = 'hw-upload';
  row.dataset.testid = 'upload';
  const label = document.createElement('span');
  label.className = 'hw-upload-name text-truncate';
  label.textContent = name;
  const phase = document.createElement('span');
  phase.className = 'hw-upload-phase small text-body-secondary';
  phase.textContent = 'Waiting';
  const bar = document.createElement('progress');
  bar.max = 1;
  bar.value = 0;
  bar.dataset.testid = 'upload-progress';
  bar.setAttribute('aria-label', `Sending ${name}`);
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'btn btn-sm btn-link p-0';
  cancel.dataset.testid = 'upload-cancel';
  cancel.setAttribute('aria-label', `Cancel sending ${name}`);
  cancel.append(icon('fa-xmark'));
  cancel.addEventListener('click', () => task.cancel());
  row.append(kindIcon(task.kind), label, phase, bar, cancel);
  $('uploads').append(row);
  return {
    phase(text, value = 0) {
      row.dataset.phase = text;
      phase.textContent = text;
      bar.value = value;
    },
    progress(done, total) {
      bar.value = total > 0 ? done / total : 1;
    },
    fail(message) {
      row.classList.add('hw-upload-failed');
      phase.textContent = message;
      bar.remove();
      cancel.replaceChildren(icon('fa-xmark'));
      cancel.setAttribute('aria-label', 'Dismiss');
      task.cancel = () => row.remove();
    },
    remove() {
      row.remove();
    },
  };
}

async function thumbnail(file) {
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, THUMB_EDGE / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = new OffscreenCanvas(width, height);
    canvas.getContext('2d').drawImage(bitmap, 0, 0, width, height);
    bitmap.close();
    // Re-encoding also leaves the original's metadata out of the preview.
    const jpeg = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.7 });
    const text = b64encode(new Uint8Array(await jpeg.arrayBuffer()));
    return text.length <= MAX_THUMB_CHARS ? text : null;
  } catch {
    return null;
  }
}

function activeGroup() {
  const groupId = ctx.state.active;
  const group = groupId ? ctx.state.groups.get(groupId) : null;
  if (!group || !group.key) throw new Error('Open a group whose key this browser holds.');
  // A replaced key: nothing is encrypted or uploaded that the server would refuse.
  const reason = ctx.cannotSend(groupId);
  if (reason) throw new Error(reason);
  return { groupId, group };
}

/** Reserve, encrypt, upload, then post the message that describes the file. */
async function upload(file, task, row, extra) {
  const { groupId, group } = activeGroup();
  const mime = baseType(file.type) || 'application/octet-stream';
  const chunk = BLOB_CHUNK_BYTES;
  const reserved = await apiPost(`/api/groups/${groupId}/blobs`, {
    type: mime, size: blobCiphertextSize(file.size, chunk),
  });
  task.blobId = reserved.id;
  task.groupId = groupId;
  task.check();
  row.phase('Encrypting');
  const aad = blobAad(groupId, ctx.userId, reserved.id);
  const sealed = await encryptBlob(group.key.encKey, file, aad, {
    chunkSize: chunk, onProgress: row.progress,
  });
  task.check();
  row.phase('Uploading');
  await transfer('PUT', blobUrl(groupId, reserved.id), {
    body: sealed, onProgress: row.progress, task,
  });
  task.check();
  const name = (file.name || `${task.kind}`).slice(0, MAX_NAME);
  const doc = {
    v: 1, type: task.kind, blob: { id: reserved.id, name, mime, size: file.size, chunk },
    ts: Date.now(), ...extra,
  };
  if (task.kind === 'image') {
    const thumb = await thumbnail(file);
    if (thumb) doc.thumb = thumb;
  }
  row.phase('Sending');
  task.abort = null;
  await ctx.sendDocument(groupId, doc);
}

function forget(task) {
  // A reservation nobody will use is dropped now rather than in an hour.
  if (!task.blobId) return;
  fetch(blobUrl(task.groupId, task.blobId), {
    method: 'DELETE', headers: { 'X-CSRFToken': csrfToken() }, credentials: 'same-origin',
  }).catch(() => {});
}

/**
 * Encrypts and sends one file to the open group, with a row in the uploads list.
 * @param {File|Blob} file
 * @param {object} [extra] - more document fields, such as a voice note's duration
 * @returns {Promise<boolean>} whether the file was sent
 */
export async function sendFile(file, extra = {}) {
  const task = {
    kind: mediaKind(baseType(file.type)), cancelled: false, abort: null, blobId: null,
    check() {
      if (this.cancelled) throw new Cancelled();
    },
    cancel() {
      this.cancelled = true;
      if (this.abort) this.abort();
    },
  };
  const row = uploadRow(file.name || 'file', task);
  try {
    await upload(file, task, row, extra);
    row.remove();
    return true;
  } catch (error) {
    forget(task);
    if (error instanceof Cancelled) {
      row.remove();
    } else {
      row.fail(error instanceof ApiError || error instanceof Error
        ? error.message : 'Sending failed.');
    }
    return false;
  }
}

async function sendFiles(files) {
  // One after another, so the messages arrive in the order the files were given.
  for (const file of files) {
    await sendFile(file);
  }
}

/* ---------- receiving ---------- */

function metaLine(doc) {
  const parts = [doc.blob.mime, formatSize(doc.blob.size)];
  if (doc.duration && doc.duration <= MAX_SHOWN_DURATION_MS) {
    parts.push(formatDuration(doc.duration));
  }
  return parts.join(' · ');
}

/** The part of a message that shows one file, from placeholder to decrypted media. */
class AttachmentView {
  constructor(entry) {
    this.entry = entry;
    this.doc = entry.doc;
    this.urls = [];
    this.task = null;
    this.element = document.createElement('div');
    this.element.className = 'hw-attachment';
    this.element.dataset.kind = mediaKind(this.doc.blob.mime);
    this.element.dataset.testid = 'attachment';
    this.idle();
  }

  /** The file's name as shown and saved (see shownName). */
  get name() {
    return shownName(this.doc.blob.name);
  }

  url(blob) {
    const url = URL.createObjectURL(blob);
    this.urls.push(url);
    return url;
  }

  release() {
    if (this.task) this.task.abort?.();
    for (const url of this.urls) URL.revokeObjectURL(url);
    this.urls = [];
  }

  setState(state, ...children) {
    this.element.dataset.state = state;
    this.element.replaceChildren(...children);
  }

  preview() {
    if (!this.doc.thumb) return null;
    let bytes;
    try {
      bytes = b64decode(this.doc.thumb);
    } catch {
      return null;
    }
    if (!inlineKind('image/jpeg', bytes)) return null;
    const img = document.createElement('img');
    img.className = 'hw-att-thumb';
    img.alt = `Preview of ${this.name}`;
    img.src = this.url(new Blob([bytes], { type: 'image/jpeg' }));
    return img;
  }

  info() {
    const info = document.createElement('div');
    info.className = 'hw-att-info';
    const name = document.createElement('span');
    name.className = 'hw-att-name text-truncate';
    name.textContent = this.name;
    const meta = document.createElement('span');
    meta.className = 'hw-att-meta small';
    meta.textContent = metaLine(this.doc);
    info.append(kindIcon(this.element.dataset.kind), name, meta);
    return info;
  }

  idle() {
    this.release();
    const open = document.createElement('button');
    open.type = 'button';
    open.className = 'btn btn-sm btn-outline-secondary';
    open.dataset.testid = 'attachment-open';
    const labels = { image: 'Show', video: 'Play', audio: 'Play', file: 'Download' };
    open.textContent = `${labels[this.element.dataset.kind]} (decrypt)`;
    open.addEventListener('click', () => this.open());
    const preview = this.preview();
    this.setState('idle', ...(preview ? [preview] : []), this.info(), open);
  }

  async open() {
    const { raw } = this.entry;
    const bar = document.createElement('progress');
    bar.max = 1;
    bar.value = 0;
    bar.dataset.testid = 'download-progress';
    bar.setAttribute('aria-label', `Opening ${this.name}`);
    const cancel = document.createElement('button');
    cancel.type = 'button';
    cancel.className = 'btn btn-sm btn-link';
    cancel.textContent = 'Cancel';
    this.task = { abort: null };
    cancel.addEventListener('click', () => this.task && this.task.abort?.());
    this.setState('loading', this.info(), bar, cancel);
    try {
      const group = ctx.state.groups.get(raw.group);
      const key = group && encKeyForEpoch(group.key, raw.epoch);
      if (!key) throw new Error('No key for this file in this browser.');
      const sealed = await transfer('GET', blobUrl(raw.group, this.doc.blob.id), {
        responseType: 'blob', task: this.task, onProgress: (d, t) => { bar.value = d / t; },
      });
      const aad = blobAad(raw.group, raw.sender, this.doc.blob.id);
      const plain = await decryptBlob(key, sealed, aad, {
        onProgress: (d, t) => { bar.value = t ? d / t : 1; },
      });
      this.task = null;
      await this.show(plain);
    } catch (error) {
      this.task = null;
      if (error instanceof Cancelled) this.idle();
      else this.damaged(error instanceof ApiError ? error.message : null);
    }
  }

  async show(plain) {
    // The message's description is authenticated too: a file of another size is not it.
    if (plain.size !== this.doc.blob.size) throw new Error('size differs');
    const head = new Uint8Array(await plain.slice(0, 16).arrayBuffer());
    const kind = inlineKind(this.doc.blob.mime, head);
    if (!kind) {
      const note = INLINE_TYPES.has(this.doc.blob.mime)
        ? [this.note('Not shown: the content is not the type it claims to be.')] : [];
      this.setState('ready', this.info(), ...note, this.downloadLink(plain));
      return;
    }
    const media = document.createElement(kind === 'image' ? 'img' : kind);
    media.className = `hw-att-${kind}`;
    media.dataset.testid = `attachment-${kind}`;
    if (kind === 'image') media.alt = this.name;
    else media.controls = true;
    media.addEventListener('error', () => {
      this.setState('unplayable', this.info(), this.note('This file cannot be shown here.'),
        this.downloadLink(plain));
    });
    media.src = this.url(plain.slice(0, plain.size, this.doc.blob.mime));
    this.setState('ready', media, this.info(), this.downloadLink(plain));
  }

  downloadLink(plain) {
    const link = document.createElement('a');
    link.className = 'hw-att-download small';
    link.dataset.testid = 'attachment-download';
    // An octet-stream blob with the download attribute is saved, never opened.
    link.href = this.url(plain.slice(0, plain.size, 'application/octet-stream'));
    link.download = this.name;
    link.append(icon('fa-download'), ' Save');
    return link;
  }

  note(text) {
    const note = document.createElement('span');
    note.className = 'hw-att-note small';
    note.textContent = text;
    return note;
  }

  damaged(reason) {
    this.release();
    const text = reason && reason !== 'Not found.'
      ? `This file could not be fetched: ${reason}`
      : 'This file is damaged, altered or gone, so it is not shown.';
    this.setState('damaged', icon('fa-triangle-exclamation'), this.info(), this.note(text));
  }
}

/**
 * The element that shows a file message's attachment, made once per message and kept
 * while it stays on the page, so re-drawing the list keeps what was decrypted.
 * @param {{raw: object, doc: object}} entry - a decrypted message entry
 * @returns {HTMLElement}
 */
export function attachmentElement(entry) {
  if (entry.attachment && views.has(entry.attachment)) return entry.attachment.element;
  if (!isFileDocument(entry.doc)) {
    const broken = document.createElement('div');
    broken.className = 'hw-attachment';
    broken.dataset.state = 'damaged';
    broken.textContent = 'This file message is malformed, so it is not shown.';
    return broken;
  }
  const view = new AttachmentView(entry);
  entry.attachment = view;
  views.add(view);
  return view.element;
}

/** Releases every view whose element left the page: its blob: URLs are revoked. */
function sweep() {
  for (const view of views) {
    if (!view.element.isConnected) {
      view.release();
      views.delete(view);
      view.entry.attachment = null;
    }
  }
}

/* ---------- voice notes ---------- */

function recorderType() {
  return RECORDER_TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || '';
}

/** Records one voice note at a time; tap to start and stop, or hold and release. */
const recorder = {
  media: null,
  stream: null,
  chunks: [],
  startedAt: 0,
  timer: 0,
  starting: null,

  async start() {
    this.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const type = recorderType();
    this.media = new MediaRecorder(this.stream, type ? { mimeType: type } : {});
    this.chunks = [];
    this.media.addEventListener('dataavailable', (event) => {
      if (event.data.size) this.chunks.push(event.data);
    });
    this.media.start(250);
    this.startedAt = Date.now();
    this.timer = setInterval(() => this.tick(), 250);
    $('recorder').classList.remove('d-none');
    document.querySelector('[data-action="record-voice"]').classList.add('active');
    this.tick();
  },

  tick() {
    const elapsed = Date.now() - this.startedAt;
    $('recorder-time').textContent = formatDuration(elapsed);
    if (elapsed >= MAX_RECORDING_MS) this.finish(true);
  },

  get active() {
    return Boolean(this.media);
  },

  async finish(send) {
    const media = this.media;
    if (!media) return;
    this.media = null;
    clearInterval(this.timer);
    $('recorder').classList.add('d-none');
    document.querySelector('[data-action="record-voice"]').classList.remove('active');
    const stopped = new Promise((resolve) => {
      media.addEventListener('stop', resolve, { once: true });
    });
    media.stop();
    await stopped;
    for (const track of this.stream.getTracks()) track.stop();
    if (!send) return;
    const duration = Date.now() - this.startedAt;
    const type = baseType(media.mimeType) || 'audio/webm';
    const extension = { 'audio/ogg': 'ogg', 'audio/mp4': 'm4a' }[type] || 'webm';
    const stamp = new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '');
    const file = new File(this.chunks, `voice-note-${stamp}.${extension}`, { type });
    await sendFile(file, { duration });
  },
};

function showError(message) {
  $('send-error').textContent = message;
}

function bindRecorder() {
  const button = document.querySelector('[data-action="record-voice"]');
  let press = null; // {at, started}
  const begin = async () => {
    showError('');
    try {
      activeGroup();
      recorder.starting = recorder.start();
      await recorder.starting;
    } catch (error) {
      recorder.media = null;
      showError(error.name === 'NotAllowedError'
        ? 'The microphone is blocked for this site.' : error.message);
    } finally {
      recorder.starting = null;
    }
  };
  button.addEventListener('pointerdown', () => {
    press = { at: Date.now(), started: !recorder.active };
    if (!recorder.active && !recorder.starting) begin();
  });
  button.addEventListener('pointerup', async () => {
    if (!press) return;
    const { at, started } = press;
    press = null;
    if (recorder.starting) await recorder.starting;
    // A second tap stops; so does releasing a press that was held.
    if (recorder.active && (!started || Date.now() - at >= HOLD_MS)) recorder.finish(true);
  });
  button.addEventListener('click', (event) => {
    // Keyboard presses arrive as clicks without pointer events.
    if (event.detail !== 0) return;
    if (recorder.active) recorder.finish(true);
    else begin();
  });
  document.querySelector('[data-action="voice-send"]')
    .addEventListener('click', () => recorder.finish(true));
  document.querySelector('[data-action="voice-cancel"]')
    .addEventListener('click', () => recorder.finish(false));
}

/* ---------- attaching ---------- */

function hasFiles(event) {
  return Boolean(event.dataTransfer) && Array.from(event.dataTransfer.types).includes('Files');
}

function bindAttach() {
  const input = $('attach-input');
  document.querySelector('[data-action="attach"]').addEventListener('click', () => {
    showError('');
    try {
      activeGroup();
      input.click();
    } catch (error) {
      showError(error.message);
    }
  });
  input.addEventListener('change', () => {
    const files = Array.from(input.files);
    input.value = '';
    sendFiles(files);
  });
  const zone = $('chat');
  zone.addEventListener('dragover', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    zone.classList.add('hw-drop');
  });
  zone.addEventListener('dragleave', (event) => {
    if (!zone.contains(event.relatedTarget)) zone.classList.remove('hw-drop');
  });
  zone.addEventListener('drop', (event) => {
    if (!hasFiles(event)) return;
    event.preventDefault();
    zone.classList.remove('hw-drop');
    if (ctx.state.active) sendFiles(Array.from(event.dataTransfer.files));
  });
  $('composer').querySelector('textarea').addEventListener('paste', (event) => {
    const files = Array.from(event.clipboardData ? event.clipboardData.files : []);
    if (files.length === 0) return;
    event.preventDefault();
    sendFiles(files);
  });
}

/**
 * Wires attaching, recording and attachment clean-up into the chat page.
 * @param {{userId: string, state: object,
 *          sendDocument: function(string, object): Promise<void>,
 *          cannotSend: function(string): string}} context - cannotSend says why
 *   nothing can be sent to a group now ('' if it can)
 */
export function bindMedia(context) {
  ctx = context;
  bindAttach();
  bindRecorder();
  new MutationObserver(sweep).observe($('messages'), { childList: true, subtree: true });
  window.addEventListener('pagehide', () => {
    for (const view of views) view.release();
  });
}
