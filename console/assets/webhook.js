// A webhook's page: configuration, actions, delivery charts, attempts, diverted events and history.
import { h, replace, fmtTime, fmtAgo, fmtMs, fmtPct, fmtCount, stateBadge, statusBadge, secretBox, empty, keepFocus } from './dom.js';
import { webhookForm } from './form.js';
import { attemptsChart, latencyChart } from './chart.js';

/** changed reports whether data differs from what slot last showed, remembering it. */
function changed(slot, data) {
  const json = JSON.stringify(data);
  if (slot.dataset.shown === json) return false;
  slot.dataset.shown = json;
  return true;
}

function section(id, title, ...children) {
  return h('section', { 'aria-labelledby': `${id}-h`, class: 'block' }, h('h2', { id: `${id}-h` }, title), ...children);
}

function row(label, ...value) {
  return [h('dt', null, label), h('dd', null, ...value)];
}

function config(w) {
  const fh = w.failureHandling;
  const rs = fh.retryStrategy;
  const headers = Object.entries(w.endpoint.headers || {});
  return h('dl', { class: 'config' },
    row('Endpoint', h('span', { class: 'url' }, w.endpoint.url)),
    row('Event types', w.eventTypes.length ? w.eventTypes.join(', ') : 'All types'),
    row('Signing', w.endpoint.hmacEnabled ? `HMAC, secret ${w.endpoint.secret}` : 'Off'),
    row('Custom headers', headers.length ? h('ul', { class: 'plain' }, headers.flatMap(([k, vs]) => vs.map((v) => h('li', null, h('code', null, `${k}: ${v}`)))))
      : h('span', { class: 'muted' }, 'None')),
    row('Failure triggers', fh.triggers.length ? fh.triggers.join(', ') : 'None'),
    row('Retries', rs ? `${rs.attempts}, ${rs.type}, every ${rs.interval} s` : 'None'),
    row('On final failure', [fh.divert ? 'divert the event' : null, fh.suspend ? 'suspend the webhook' : null,
      fh.alertEndpoint ? `alert ${fh.alertEndpoint.url}` : null].filter(Boolean).join(', ') || 'Nothing more'),
    row('Locator', h('code', null, w.locator)),
    w.suspendedAt ? row('Suspended', fmtTime(w.suspendedAt)) : null);
}

export function webhook(ctx) {
  const { api } = ctx;
  const [loc] = ctx.params;
  const base = api.t(`/webhooks/${loc}`);
  const sub = `/v1/event_subscriptions/${loc}`;
  const can = {
    write: api.can('webhooks.write'),
    attempts: api.can('events.list', 'events.read'),
    diverted: api.can('diverted-events.list', 'diverted-events.read'),
    resend: api.can('diverted-events.resend'),
    drop: api.can('diverted-events.delete'),
  };
  let current = null;

  const head = h('div', { class: 'page-head' }, h('h1', null, 'Webhook'));
  const actions = h('div', { class: 'toolbar' });
  const notice = h('div');
  const editSlot = h('div');
  const configSlot = h('div');
  const chartSlot = h('div', { class: 'charts' });
  const chartTotals = h('p', { class: 'muted totals' });
  const attemptsSlot = h('div');
  const pager = h('div', { class: 'pager' });
  const divertedSlot = h('div');
  const historySlot = h('div');
  let win = '1h';
  const winButtons = ['1h', '24h'].map((v) => {
    const b = h('button', { type: 'button', class: 'seg', 'aria-pressed': String(v === win) }, v === '1h' ? 'Last hour' : 'Last 24 hours');
    b.addEventListener('click', () => {
      win = v;
      for (const x of winButtons) x.setAttribute('aria-pressed', String(x === b));
      refreshStats().catch(ctx.fail);
    });
    return b;
  });

  const statusFilter = h('select', { id: 'attempt-status' },
    h('option', { value: '' }, 'Any status'), ...['SUCCESS', 'FAILED', 'PENDING'].map((s) => h('option', { value: s }, s)));
  const paging = { stack: [], token: null };
  const open = new Set();
  statusFilter.addEventListener('change', () => { paging.stack = []; paging.token = null; refreshAttempts().catch(ctx.fail); });

  const resendAll = can.resend ? h('button', { type: 'button', class: 'secondary small', hidden: true }, 'Resend all') : null;

  ctx.main.append(head, actions, notice, editSlot,
    section('config', 'Configuration', configSlot),
    can.attempts ? section('delivery', 'Deliveries', h('div', { class: 'seg-group', role: 'group', 'aria-label': 'Chart window' }, winButtons), chartTotals, chartSlot) : null,
    can.attempts ? section('attempts', 'Attempts',
      h('div', { class: 'filters' }, h('div', { class: 'field inline' }, h('label', { for: 'attempt-status' }, 'Status'), statusFilter)),
      attemptsSlot, pager) : null,
    can.diverted ? section('diverted', 'Diverted events', h('div', { class: 'toolbar' }, resendAll), divertedSlot) : null,
    section('history', 'History', historySlot));

  async function act(fn, done) {
    try {
      await fn();
      if (done) ctx.say(done);
      await refresh();
    } catch (err) {
      ctx.fail(err);
    }
  }

  function confirmDelete() {
    replace(notice, h('div', { class: 'card confirm', role: 'alertdialog', 'aria-labelledby': 'del-q' },
      h('p', { id: 'del-q' }, 'Delete this webhook? It stops receiving events at once; its history stays readable.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'danger', onClick: async () => {
          try {
            await api.req('DELETE', base);
            ctx.say('Webhook deleted.');
            location.hash = '#/webhooks';
          } catch (err) { ctx.fail(err); }
        } }, 'Yes, delete it'),
        h('button', { type: 'button', class: 'secondary', onClick: () => replace(notice) }, 'Cancel'))));
    notice.querySelector('button.danger').focus();
  }

  function edit() {
    replace(notice);
    replace(editSlot, section('edit', 'Edit webhook', webhookForm({
      initial: current,
      submitLabel: 'Save',
      onCancel: () => replace(editSlot),
      onSubmit: async (patch) => {
        if (Object.keys(patch).length) await api.req('PATCH', base, { body: patch });
        replace(editSlot);
        ctx.say('Saved.');
        await refresh();
      },
    })));
  }

  function renderActions(w) {
    if (!can.write || !changed(actions, [w.enabled, w.suspended])) return;
    const btn = (label, onClick, cls = 'secondary') => h('button', { type: 'button', class: cls, onClick }, label);
    replace(actions,
      btn('Edit', edit),
      w.enabled
        ? btn('Disable', () => act(() => api.req('PATCH', base, { body: { enabled: false } }), 'Disabled: no new events are sent.'))
        : btn('Enable', () => act(() => api.req('PATCH', base, { body: { enabled: true } }), 'Enabled.')),
      w.suspended ? btn('Unsuspend', () => act(() => api.req('PATCH', `${base}/unsuspend`), 'Unsuspended: deliveries resume.'), 'primary') : null,
      btn('Rotate secret', () => act(async () => {
        await api.req('POST', `${sub}/secret/rotate`);
        const { secret } = await api.req('GET', `${sub}/secret`);
        replace(notice, h('div', { class: 'card notice' }, secretBox('New signing secret, shown only now:', secret,
          'The previous secret still signs deliveries for a while, so your endpoint can switch over.'),
        h('button', { type: 'button', class: 'secondary small', onClick: () => replace(notice) }, 'Done')));
      }, 'Secret rotated.')),
      btn('Reveal secret', () => act(async () => {
        const { secret } = await api.req('GET', `${sub}/secret`);
        replace(notice, h('div', { class: 'card notice' }, secretBox('Signing secret:', secret),
          h('button', { type: 'button', class: 'secondary small', onClick: () => replace(notice) }, 'Hide')));
      })),
      btn('Send example', () => act(() => api.req('POST', `/v1/simulate/event_subscriptions/${loc}/send_example`,
        { body: { event_type: current.eventTypes[0] || 'card.created' } }), 'Example event sent.')),
      btn('Delete webhook', confirmDelete, 'danger-outline'));
  }

  function headersSent(w) {
    const lines = [['Content-Type', 'application/json'], ['Webhook-Id', 'the delivery’s id, the same on every retry'],
      ['Webhook-Timestamp', 'when the try was sent, Unix seconds']];
    if (w.endpoint.hmacEnabled) lines.push(['Webhook-Signature', 'v1,… signed with the endpoint’s secret']);
    for (const [k, vs] of Object.entries(w.endpoint.headers || {})) for (const v of vs) lines.push([k, v]);
    return h('ul', { class: 'plain' }, lines.map(([k, v]) => h('li', null, h('code', null, k), ': ', v)));
  }

  function attemptDetail(a) {
    return h('tr', { class: 'detail' }, h('td', { colspan: 7 }, h('dl', { class: 'config' },
      row('Attempt', h('code', null, a.locator), a.try ? ` · retry ${a.try}` : ' · first try'),
      row('URL', h('span', { class: 'url' }, a.url)),
      row('Request headers', current ? headersSent(current) : '—'),
      row('Response code', a.statusCode ? String(a.statusCode) : 'None'),
      row('Response body', a.responseBody ? h('pre', { class: 'code' }, a.responseBody) : h('span', { class: 'muted' }, 'Empty')),
      a.error ? row('Error', h('span', { class: 'error-text' }, a.error)) : null,
      a.due ? row('Due', fmtTime(a.due)) : null)));
  }

  async function refreshAttempts() {
    const page = await api.get(`${base}/attempts`, paging.token ? { pagingToken: paging.token, pageSize: 25 } : { status: statusFilter.value, pageSize: 25 });
    if (!changed(attemptsSlot, [page.attempts, paging.token, current && current.endpoint])) return;
    replace(pager,
      paging.stack.length || paging.token ? h('button', { type: 'button', class: 'secondary small', onClick: () => {
        paging.token = paging.stack.pop() || null; refreshAttempts().catch(ctx.fail);
      } }, 'Newer') : null,
      page.hasMore ? h('button', { type: 'button', class: 'secondary small', onClick: () => {
        paging.stack.push(paging.token); paging.token = page.pagingToken; refreshAttempts().catch(ctx.fail);
      } }, 'Older') : null);
    if (page.attempts.length === 0) {
      replace(attemptsSlot, empty(statusFilter.value ? `No ${statusFilter.value} attempts.` : 'No attempts yet.',
        h('p', null, 'Attempts appear here as soon as an event of a type this webhook receives is published.',
          can.write ? ' Try Send example.' : '')));
      return;
    }
    const rows = page.attempts.flatMap((a) => {
      const toggle = h('button', { type: 'button', class: 'link', 'aria-expanded': String(open.has(a.locator)) }, 'Details');
      toggle.addEventListener('click', () => {
        if (open.has(a.locator)) open.delete(a.locator); else open.add(a.locator);
        attemptsSlot.dataset.shown = '';
        refreshAttempts().catch(ctx.fail);
      });
      const tr = h('tr', { 'data-attempt': a.locator },
        h('td', { 'data-label': 'Time' }, h('time', { datetime: a.created, title: fmtAgo(a.created) }, fmtTime(a.created))),
        h('td', { 'data-label': 'Event' }, h('a', { href: `#/events/${a.event}` }, a.event)),
        h('td', { 'data-label': 'Status' }, statusBadge(a.status)),
        h('td', { class: 'num', 'data-label': 'Code' }, a.statusCode ? String(a.statusCode) : '—'),
        h('td', { class: 'num', 'data-label': 'Latency' }, a.status === 'PENDING' ? '—' : fmtMs(a.latencyMs)),
        h('td', { 'data-label': 'Trigger' }, a.trigger || (a.status === 'PENDING' ? 'retry' : '—')),
        h('td', null, toggle));
      return open.has(a.locator) ? [tr, attemptDetail(a)] : [tr];
    });
    const keyOf = (el) => (el.closest('tr[data-attempt]') ? `${el.closest('tr[data-attempt]').dataset.attempt}/${el.textContent}` : null);
    keepFocus(attemptsSlot, keyOf, () => replace(attemptsSlot, h('div', { class: 'table-wrap' }, h('table', { class: 'attempts stack' },
      h('thead', null, h('tr', null, ['Time', 'Event', 'Status', 'Code', 'Latency', 'Trigger', ''].map((c, i) =>
        h('th', { scope: 'col', class: i === 3 || i === 4 ? 'num' : null }, c ? c : h('span', { class: 'sr-only' }, 'Details'))))),
      h('tbody', null, rows)))));
  }

  // A chart scans its window's attempts: refreshed every two seconds, not on every poll.
  let statsAt = 0;
  let statsWin = '';
  async function refreshStats() {
    if (statsWin === win && Date.now() - statsAt < 2000) return;
    statsAt = Date.now();
    statsWin = win;
    const st = await api.get(`${base}/stats`, { window: win });
    if (!changed(chartSlot, st.buckets)) return;
    const t = st.total;
    replace(chartTotals, `${fmtCount(t.success)} succeeded, ${fmtCount(t.failed)} failed, ${fmtCount(t.pending)} pending · success ${fmtPct(t.successRate)} · p50 ${fmtMs(t.p50Ms)} · p99 ${fmtMs(t.p99Ms)}`);
    // Two charts side by side when there is room (see .charts in app.css), else one above the other.
    const full = chartSlot.clientWidth || 720;
    const width = full > 700 ? (full - 16) / 2 : full;
    replace(chartSlot, attemptsChart(st, width), latencyChart(st, width));
  }

  async function refreshDiverted() {
    const items = await api.get(`${base}/diverted`, { count: 1000 });
    if (resendAll) resendAll.hidden = items.length < 2;
    if (!changed(divertedSlot, items)) return;
    if (items.length === 0) {
      replace(divertedSlot, empty('No diverted events.', h('p', null, 'With divert on, an event whose delivery finally fails waits here to be resent.')));
      return;
    }
    replace(divertedSlot, h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
      h('thead', null, h('tr', null, ['Event', 'Failed', 'Trigger', 'Failure', ''].map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'sr-only' }, 'Actions'))))),
      h('tbody', null, items.map((d) => h('tr', { 'data-diverted': d.eventLocator },
        h('td', { 'data-label': 'Event' }, h('a', { href: `#/events/${d.eventLocator}` }, d.eventLocator)),
        h('td', { 'data-label': 'Failed' }, fmtTime(d.failureTimestamp)),
        h('td', { 'data-label': 'Trigger' }, d.failureTrigger || '—'),
        h('td', { class: 'wrap', 'data-label': 'Failure' }, d.failureMessage, d.eventExpired ? h('span', { class: 'muted' }, ' (event expired)') : null),
        h('td', { class: 'row-actions' },
          can.resend && !d.eventExpired ? h('button', { type: 'button', class: 'secondary small', onClick: () => act(
            () => api.req('POST', `${base}/diverted/${d.eventLocator}/resend`), 'Resent.') }, 'Resend') : null,
          can.drop ? h('button', { type: 'button', class: 'danger-outline small', onClick: () => act(
            () => api.req('DELETE', `${base}/diverted/${d.eventLocator}`), 'Diverted event deleted.') }, 'Delete') : null)))))));
  }
  if (resendAll) {
    resendAll.addEventListener('click', () => act(async () => {
      const items = await api.get(`${base}/diverted`, { count: 1000 });
      for (const d of items.filter((x) => !x.eventExpired)) await api.req('POST', `${base}/diverted/${d.eventLocator}/resend`);
    }, 'Every diverted event resent.'));
  }

  async function refreshHistory() {
    const { items } = await api.get(`${base}/history`);
    if (!changed(historySlot, items)) return;
    replace(historySlot, h('div', { class: 'table-wrap' }, h('table', null,
      h('thead', null, h('tr', null, ['Time', 'Change', 'Actor', 'Details'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', null, items.slice().reverse().map((it) => h('tr', null,
        h('td', null, fmtTime(it.timestamp)),
        h('td', null, it.type),
        h('td', null, h('code', null, it.actor)),
        h('td', null, h('details', null, h('summary', null, 'Show'), h('pre', { class: 'code' }, JSON.stringify(it.change, null, 2))))))))));
  }

  async function refresh() {
    const w = await api.get(base);
    current = w;
    if (changed(head, w)) {
      replace(head, h('div', null, h('p', { class: 'crumb' }, h('a', { href: '#/webhooks' }, 'Webhooks')),
        h('h1', null, w.name, ' ', stateBadge(w)), h('p', { class: 'url muted' }, w.endpoint.url)));
      replace(configSlot, config(w));
    }
    renderActions(w);
    await Promise.all([
      can.attempts ? refreshAttempts() : null,
      can.attempts ? refreshStats() : null,
      can.diverted ? refreshDiverted() : null,
      refreshHistory(),
    ]);
  }
  return { refresh };
}
