/**
 * Exposes the chain and crypto modules to Playwright under the product's CSP.
 * @module chain_page
 */
import * as chain from '/static/js/chain.js';
import * as crypto from '/static/js/crypto.js';

window.hwChain = chain;
window.hwCrypto = crypto;
document.body.dataset.ready = '1';
