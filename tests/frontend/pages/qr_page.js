// Draws the text given in the query string (?text=...) both ways, then marks
// the body with data-qr-state so that the test knows when to look.
import { drawQr, qrSvgElement } from '/static/js/qr.js';

const text = new URLSearchParams(window.location.search).get('text') ?? '';
try {
  const side = drawQr(document.getElementById('qr-canvas'), text);
  document.getElementById('qr-svg').append(qrSvgElement(text, { label: 'Invitation' }));
  document.getElementById('qr-text').textContent = text;
  document.body.dataset.qrSide = String(side);
  document.body.dataset.qrState = 'drawn';
} catch (error) {
  document.body.dataset.qrState = `failed: ${error.name}`;
}
