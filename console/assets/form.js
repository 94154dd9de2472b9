// The webhook form, shared by create and edit: what a user types becomes a create body or a PATCH of the
// differences.
import { h } from './dom.js';

const DEFAULT_TRIGGERS = ['4xx', '5xx', 'timeout'];

function list(text) {
  return text.split(',').map((x) => x.trim()).filter(Boolean);
}

function parseHeaders(text) {
  const out = {};
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (!line) continue;
    const at = line.indexOf(':');
    if (at <= 0) throw new FormError('headers', `Line ${i + 1} of the custom headers is not “Name: value”.`);
    const name = line.slice(0, at).trim();
    (out[name] ||= []).push(line.slice(at + 1).trim());
  }
  return out;
}

function headersText(headers) {
  return Object.entries(headers || {}).flatMap(([k, vs]) => vs.map((v) => `${k}: ${v}`)).join('\n');
}

class FormError extends Error {
  constructor(field, message) { super(message); this.field = field; }
}

function field(id, label, input, hint) {
  input.id = id;
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hint) input.setAttribute('aria-describedby', `${id}-hint`);
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

function check(id, label, checked) {
  const input = h('input', { type: 'checkbox', id, checked });
  return { input, el: h('div', { class: 'check' }, input, h('label', { for: id }, label)) };
}

/**
 * webhookForm builds the form. initial is a webhook (edit) or null (create); onSubmit receives the request
 * body and may throw an ApiError, shown beside the form.
 */
export function webhookForm({ initial, submitLabel, onSubmit, onCancel }) {
  const w = initial;
  const fh = (w && w.failureHandling) || {};
  const rs = fh.retryStrategy;
  const name = h('input', { type: 'text', required: true, maxlength: 255, value: w ? w.name : '' });
  const url = h('input', { type: 'url', required: true, placeholder: 'https://example.com/webhooks', value: w ? w.endpoint.url : '' });
  const types = h('input', { type: 'text', placeholder: 'card.created, card.shipped', value: w ? w.eventTypes.join(', ') : '' });
  const headers = h('textarea', { rows: 2, spellcheck: 'false', placeholder: 'X-Team: payments' });
  headers.value = w ? headersText(w.endpoint.headers) : '';
  const triggers = h('input', { type: 'text', value: (w ? fh.triggers : DEFAULT_TRIGGERS).join(', ') });
  const retries = h('input', { type: 'number', min: 0, max: 10, value: rs ? rs.attempts : 0 });
  const interval = h('input', { type: 'number', min: 1, max: 86400, value: rs ? rs.interval : 30 });
  const backoff = h('select', null,
    h('option', { value: 'exponential', selected: !rs || rs.type === 'exponential' }, 'Exponential'),
    h('option', { value: 'linear', selected: rs && rs.type === 'linear' }, 'Linear'));
  const divert = check('wh-divert', 'Divert events whose delivery finally fails, to resend later', !!fh.divert);
  const suspend = check('wh-suspend', 'Suspend the webhook after a final failure', !!fh.suspend);
  const alert = h('input', { type: 'url', placeholder: 'https://example.com/alerts', value: fh.alertEndpoint ? fh.alertEndpoint.url : '' });
  const error = h('p', { class: 'error', role: 'alert' });
  const inputs = { name, 'endpoint.url': url, 'endpoint.headers': headers, endpoint: url, eventTypes: types, headers, triggers, retryStrategy: retries, alertEndpoint: alert };

  const submit = h('button', { type: 'submit', class: 'primary' }, submitLabel);
  const form = h('form', { class: 'card form', novalidate: true },
    h('div', { class: 'grid2' },
      field('wh-name', 'Name', name),
      field('wh-url', 'Endpoint URL', url),
      field('wh-types', 'Event types', types, 'Comma-separated. Leave empty to receive every type.'),
      field('wh-headers', 'Custom headers', headers, 'Sent with every delivery, one per line, as Name: value.')),
    h('fieldset', null, h('legend', null, 'Failure handling'),
      h('div', { class: 'grid4' },
        field('wh-triggers', 'Failure triggers', triggers, '3xx, 4xx, 5xx, timeout or codes such as 503.'),
        field('wh-retries', 'Retries', retries, '0 to 10 after the first try.'),
        field('wh-interval', 'Retry interval (s)', interval),
        field('wh-backoff', 'Backoff', backoff)),
      divert.el, suspend.el,
      field('wh-alert', 'Alert endpoint URL', alert, 'Optional: told when a delivery finally fails.')),
    error,
    h('div', { class: 'actions' }, submit,
      onCancel ? h('button', { type: 'button', class: 'secondary', onClick: onCancel }, 'Cancel') : null));

  function values() {
    const n = Number(retries.value || 0);
    const v = {
      name: name.value.trim(),
      url: url.value.trim(),
      eventTypes: list(types.value),
      headers: parseHeaders(headers.value),
      triggers: list(triggers.value),
      divert: divert.input.checked,
      suspend: suspend.input.checked,
      retry: n > 0 ? { attempts: n, interval: Number(interval.value || 0), type: backoff.value } : null,
      alert: alert.value.trim(),
    };
    if (!v.name) throw new FormError('name', 'Give the webhook a name.');
    if (!v.url) throw new FormError('endpoint.url', 'Give the endpoint’s URL.');
    return v;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    for (const el of Object.values(inputs)) el.removeAttribute('aria-invalid');
    submit.disabled = true;
    try {
      const v = values();
      await onSubmit(w ? patchBody(w, v) : createBody(v));
    } catch (err) {
      error.textContent = err.message;
      const key = err.field && Object.keys(inputs).find((k) => err.field === k || err.field.startsWith(`${k}.`) || err.field.startsWith(`${k}[`) ||
        err.field.startsWith(`failureHandling.${k}`));
      if (key) { inputs[key].setAttribute('aria-invalid', 'true'); inputs[key].focus(); }
    } finally {
      submit.disabled = false;
    }
  });
  setTimeout(() => name.focus(), 0);
  return form;
}

function createBody(v) {
  const failureHandling = { triggers: v.triggers, divert: v.divert, suspend: v.suspend };
  if (v.retry) failureHandling.retryStrategy = v.retry;
  if (v.alert) failureHandling.alertEndpoint = { url: v.alert };
  return { name: v.name, endpoint: { url: v.url, headers: v.headers }, eventTypes: v.eventTypes, failureHandling };
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function patchBody(w, v) {
  const p = {};
  if (v.name !== w.name) p.name = v.name;
  const ep = {};
  if (v.url !== w.endpoint.url) ep.url = v.url;
  if (!same(v.headers, w.endpoint.headers || {})) {
    ep.removeHeaders = Object.keys(w.endpoint.headers || {});
    ep.addHeaders = v.headers;
  }
  if (Object.keys(ep).length) p.endpoint = ep;
  const removeTypes = w.eventTypes.filter((t) => !v.eventTypes.includes(t));
  const addTypes = v.eventTypes.filter((t) => !w.eventTypes.includes(t));
  if (removeTypes.length) p.removeEventTypes = removeTypes;
  if (addTypes.length) p.addEventTypes = addTypes;
  const fh = w.failureHandling;
  const f = {};
  if (v.divert !== fh.divert) f.divert = v.divert;
  if (v.suspend !== fh.suspend) f.suspend = v.suspend;
  const removeTriggers = fh.triggers.filter((t) => !v.triggers.includes(t));
  const addTriggers = v.triggers.filter((t) => !fh.triggers.includes(t));
  if (removeTriggers.length) f.removeTriggers = removeTriggers;
  if (addTriggers.length) f.addTriggers = addTriggers;
  if (!v.retry && fh.retryStrategy) f.removeRetryStrategy = true;
  if (v.retry && !same(v.retry, fh.retryStrategy)) f.retryStrategy = v.retry;
  const oldAlert = fh.alertEndpoint ? fh.alertEndpoint.url : '';
  if (!v.alert && oldAlert) f.removeAlertEndpoint = true;
  if (v.alert && v.alert !== oldAlert) f.alertEndpoint = { url: v.alert };
  if (Object.keys(f).length) p.failureHandling = f;
  return p;
}
