// DOM helpers. Every string becomes a text node or an attribute value: nothing is ever parsed as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';

function apply(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === 'class') {
      el.setAttribute('class', value);
    } else if (key === 'value' || key === 'checked' || key === 'hidden' || key === 'disabled' || key === 'selected') {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** h builds an HTML element: h('a', {href: '#/x'}, 'text', otherNode). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  apply(el, props);
  append(el, children);
  return el;
}

/** s builds an SVG element. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  apply(el, props);
  append(el, children);
  return el;
}

/** replace swaps el's children for the given ones. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime()) || d.getTime() <= 0) return '—';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function fmtAgo(iso, now = Date.now()) {
  if (!iso) return '—';
  const secs = Math.round((now - new Date(iso).getTime()) / 1000);
  if (secs < 5) return 'just now';
  if (secs < 60) return `${secs} s ago`;
  if (secs < 3600) return `${Math.round(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.round(secs / 3600)} h ago`;
  return `${Math.round(secs / 86400)} d ago`;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

export function fmtPct(rate) {
  if (rate === null || rate === undefined) return '—';
  const p = rate * 100;
  return `${p === 100 || p === 0 ? p.toFixed(0) : p.toFixed(1)} %`;
}

export function fmtCount(n) {
  return new Intl.NumberFormat().format(n || 0);
}

/** copyButton copies text to the clipboard and says so. */
export function copyButton(text, label = 'Copy') {
  const btn = h('button', { type: 'button', class: 'secondary small' }, label);
  btn.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(text);
      btn.textContent = 'Copied';
    } catch {
      btn.textContent = 'Select and copy';
    }
    setTimeout(() => { btn.textContent = label; }, 1500);
  });
  return btn;
}

/** secretBox shows a secret once, with a copy button and a note. */
export function secretBox(title, secret, note) {
  return h('div', { class: 'secret', role: 'status' },
    h('p', { class: 'secret-title' }, title),
    h('div', { class: 'secret-row' }, h('code', { class: 'secret-value' }, secret), copyButton(secret)),
    note ? h('p', { class: 'muted' }, note) : null);
}

/** stateOf names a webhook's state in words. */
export function stateOf(w) {
  if (w.suspended) return 'Suspended';
  if (!w.enabled) return 'Disabled';
  return 'Active';
}

export function stateBadge(w) {
  const st = stateOf(w);
  return h('span', { class: `badge state-${st.toLowerCase()}` }, st);
}

export function statusBadge(status) {
  return h('span', { class: `badge status-${String(status).toLowerCase()}` }, status);
}

/** empty is an empty state: a sentence and what to do next. */
export function empty(title, ...body) {
  return h('div', { class: 'empty' }, h('p', { class: 'empty-title' }, title), ...body);
}

/**
 * throttled wraps an async fetch so that calls within ms of the last fetch reuse its result: statistics scan
 * a window of attempts, which is worth doing less often than listing the newest ones.
 */
export function throttled(ms, fetch) {
  let at = 0;
  let last = null;
  return async (force = false) => {
    if (force || !last || Date.now() - at >= ms) {
      last = await fetch();
      at = Date.now();
    }
    return last;
  };
}

/** keepFocus re-renders with render() and puts the focus back on the element matching the same key. */
export function keepFocus(container, keyOf, render) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? keyOf(active) : null;
  render();
  if (key) {
    const again = [...container.querySelectorAll('button, a, input, select')].find((el) => keyOf(el) === key);
    if (again) again.focus();
  }
}
