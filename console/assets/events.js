// Events: search by type and time with the API's paging token, and an event's page with its payload and its
// attempts per webhook.
import { h, replace, fmtTime, statusBadge, empty } from './dom.js';
import { publishCurl } from './overview.js';

const PAGE = 50;

function localInput(date) {
  const pad = (n) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

export function events(ctx) {
  const { api } = ctx;
  const type = h('input', { id: 'ev-type', type: 'text', placeholder: 'card.created', autocomplete: 'off' });
  const from = h('input', { id: 'ev-from', type: 'datetime-local', value: localInput(new Date(Date.now() - 24 * 3600 * 1000)) });
  const to = h('input', { id: 'ev-to', type: 'datetime-local' });
  const error = h('p', { class: 'error', role: 'alert' });
  const results = h('div');
  const more = h('div', { class: 'pager' });
  const state = { rows: [], token: null, caughtUp: false, query: null };

  const form = h('form', { class: 'filters', role: 'search' },
    h('div', { class: 'field inline' }, h('label', { for: 'ev-type' }, 'Event type'), type),
    h('div', { class: 'field inline' }, h('label', { for: 'ev-from' }, 'From'), from),
    h('div', { class: 'field inline' }, h('label', { for: 'ev-to' }, 'To'), to),
    h('button', { type: 'submit', class: 'primary' }, 'Search'));
  form.addEventListener('submit', (e) => { e.preventDefault(); search().catch(ctx.fail); });

  ctx.main.append(h('div', { class: 'page-head' }, h('h1', null, 'Events'),
    h('p', { class: 'muted' }, 'Oldest first; new events are added as they arrive.')), form, error, results, more);

  function render() {
    if (state.rows.length === 0) {
      replace(results, empty('No events match.', h('p', null, 'Publish one with a token that may write events:'),
        h('pre', { class: 'code' }, publishCurl(ctx.origin, api.tenant))));
    } else {
      replace(results, h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, ['Time', 'Type', 'Event'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, state.rows.map((e) => h('tr', null,
          h('td', null, fmtTime(e.timestamp)), h('td', null, e.type),
          h('td', null, h('a', { href: `#/events/${e.locator}` }, e.locator))))))));
    }
    replace(more, state.caughtUp ? null : h('button', { type: 'button', class: 'secondary small', onClick: () => page().catch(ctx.fail) }, 'Load more'));
  }

  async function page() {
    const q = state.token ? { pagingToken: state.token, pageSize: PAGE } : { ...state.query, pageSize: PAGE };
    const resp = await api.get(api.t('/events/list'), q);
    const first = state.rows.length === 0 && !state.shown;
    const wasCaughtUp = state.caughtUp;
    state.token = resp.pagingToken;
    state.rows.push(...resp.events);
    state.caughtUp = resp.events.length < PAGE;
    if (first || resp.events.length > 0 || wasCaughtUp !== state.caughtUp) {
      state.shown = true;
      render();
    }
  }

  async function search() {
    error.textContent = '';
    const q = {};
    if (type.value.trim()) q.type = type.value.trim();
    if (from.value) q.startTimestamp = new Date(from.value).toISOString();
    if (to.value) q.endTimestamp = new Date(to.value).toISOString();
    Object.assign(state, { rows: [], token: null, caughtUp: false, query: q, shown: false });
    try {
      await page();
    } catch (err) {
      error.textContent = err.message;
      state.query = null;
    }
  }

  search();
  // Polling with the last token picks up events published since, while the list is caught up.
  return { refresh: async () => { if (state.query && state.caughtUp) await page(); } };
}

export function event(ctx) {
  const { api } = ctx;
  const [loc] = ctx.params;
  const head = h('div', { class: 'page-head' }, h('h1', null, 'Event'));
  const payload = h('div');
  const attemptsSlot = h('div');
  const canAttempts = api.can('events.list', 'events.read');
  const canResend = api.can('diverted-events.resend');
  ctx.main.append(head,
    h('section', { class: 'block', 'aria-labelledby': 'payload-h' }, h('h2', { id: 'payload-h' }, 'Payload'), payload),
    canAttempts ? h('section', { class: 'block', 'aria-labelledby': 'ev-att-h' }, h('h2', { id: 'ev-att-h' }, 'Attempts by webhook'), attemptsSlot) : null);

  let shown = false;
  let lastAttempts = '';
  async function refresh() {
    if (!shown) {
      const e = await api.get(api.t(`/events/${loc}`));
      replace(head, h('div', null, h('p', { class: 'crumb' }, h('a', { href: '#/events' }, 'Events')),
        h('h1', null, e.type), h('p', { class: 'muted' }, h('code', null, e.locator), ` · ${fmtTime(e.timestamp)}`,
          e.requestId ? ` · request ${e.requestId}` : '')));
      replace(payload, h('pre', { class: 'code payload' }, JSON.stringify(e.data, null, 2)));
      shown = true;
    }
    if (!canAttempts) return;
    const [att, hooks] = await Promise.all([
      api.get(`/v1/events/${loc}/attempts`, { page_size: 100 }),
      api.can('webhooks.list', 'webhooks.read') ? api.get(api.t('/webhooks/list'), { count: 1000 }) : { items: [] },
    ]);
    const json = JSON.stringify([att.data, hooks.items.map((w) => [w.locator, w.name])]);
    if (json === lastAttempts) return;
    lastAttempts = json;
    const names = new Map(hooks.items.map((w) => [w.locator, w.name]));
    const by = new Map();
    for (const a of att.data) (by.get(a.event_subscription_token) || by.set(a.event_subscription_token, []).get(a.event_subscription_token)).push(a);
    const resend = (sub) => h('button', { type: 'button', class: 'secondary small', onClick: async () => {
      try {
        await api.req('POST', `/v1/events/${loc}/event_subscriptions/${sub}/resend`);
        ctx.say('Resent.');
      } catch (err) { ctx.fail(err); }
    } }, 'Resend');
    const blocks = [...by.entries()].map(([sub, list]) => h('div', { class: 'card sub' },
      h('div', { class: 'sub-head' }, h('h3', null, h('a', { href: `#/webhooks/${sub}` }, names.get(sub) || sub)), canResend ? resend(sub) : null),
      h('div', { class: 'table-wrap' }, h('table', null,
        h('thead', null, h('tr', null, ['Time', 'Status', 'Code', 'Response'].map((c) => h('th', { scope: 'col' }, c)))),
        h('tbody', null, list.map((a) => h('tr', null, h('td', null, fmtTime(a.created)), h('td', null, statusBadge(a.status)),
          h('td', { class: 'num' }, a.response_status_code ? String(a.response_status_code) : '—'),
          h('td', { class: 'wrap' }, a.response ? a.response.slice(0, 200) : h('span', { class: 'muted' }, '—')))))))));
    const others = hooks.items.filter((w) => !by.has(w.locator));
    let picker = null;
    if (canResend && others.length) {
      const sel = h('select', { id: 'resend-to' }, others.map((w) => h('option', { value: w.locator }, w.name)));
      picker = h('div', { class: 'filters' }, h('div', { class: 'field inline' }, h('label', { for: 'resend-to' }, 'Send to another webhook'), sel),
        h('button', { type: 'button', class: 'secondary', onClick: async () => {
          try {
            await api.req('POST', `/v1/events/${loc}/event_subscriptions/${sel.value}/resend`);
            ctx.say('Sent.');
          } catch (err) { ctx.fail(err); }
        } }, 'Send'));
    }
    replace(attemptsSlot, blocks.length ? blocks : empty('No attempts for this event.', h('p', null, 'No webhook received its type when it was published.')), picker);
  }
  return { refresh };
}
