// Overview: the tenant's last hour at a glance, and for the admin the engine's health.
import { h, replace, fmtAgo, fmtCount, fmtMs, fmtPct, empty, throttled, stateBadge } from './dom.js';

function tile(label, value, note, tone) {
  return h('div', { class: `tile ${tone || ''}` },
    h('p', { class: 'tile-label' }, label),
    h('p', { class: 'tile-value' }, value),
    note ? h('p', { class: 'tile-note' }, note) : null);
}

/** publishCurl is the command that publishes a first event to the tenant. */
export function publishCurl(origin, tenant) {
  return `curl -X POST ${origin}/event/${tenant}/events \\\n  -H "Authorization: Bearer $HOOKSTREAM_TOKEN" \\\n  -H "Content-Type: application/json" \\\n  -d '{"type": "card.created", "data": {"id": "card_123"}}'`;
}

export function overview(ctx) {
  const { api } = ctx;
  const tiles = h('div', { class: 'tiles' }, h('p', { class: 'muted' }, 'Loading…'));
  const next = h('div');
  const attention = h('div');
  const health = h('div');
  const canStats = api.can('events.list', 'events.read') && api.can('webhooks.list', 'webhooks.read');
  ctx.main.append(
    h('div', { class: 'page-head' }, h('h1', null, 'Overview'), h('p', { class: 'muted' }, 'The last hour, updated live.')),
    tiles, next, attention,
    api.who.admin ? h('section', { class: 'block', 'aria-labelledby': 'health-h' }, h('h2', { id: 'health-h' }, 'Engine health'), health) : null);

  // The hour's statistics and the engine's health each cost a scan or a round of NATS requests: every 2 s.
  const hourStats = throttled(2000, () => api.get(api.t('/stats'), { window: '1h' }));
  const engineHealth = throttled(2000, () => api.get('/admin/health'));

  async function refresh() {
    if (canStats) {
      const st = await hourStats();
      const a = st.attempts;
      const ended = a.success + a.failed;
      replace(tiles,
        tile('Events ingested', fmtCount(st.events)),
        tile('Deliveries', fmtCount(ended), `${fmtCount(a.success)} succeeded, ${fmtCount(a.failed)} failed`),
        tile('Success rate', fmtPct(a.successRate), null, a.successRate !== null && a.successRate < 0.95 ? 'warn' : ''),
        tile('Latency p50', fmtMs(a.p50Ms)),
        tile('Latency p99', fmtMs(a.p99Ms)),
        tile('Retries pending', fmtCount(a.pending)),
        tile('Diverted events', fmtCount(st.diverted), null, st.diverted > 0 ? 'warn' : ''),
        tile('Suspended webhooks', fmtCount(st.suspended), `of ${fmtCount(st.webhooks)} webhooks`, st.suspended > 0 ? 'bad' : ''));
      if (st.webhooks === 0) {
        replace(next, empty('No webhooks yet.',
          h('p', null, 'A webhook sends the events you publish to an endpoint of yours. ',
            api.can('webhooks.write') ? h('a', { href: '#/webhooks' }, 'Create your first webhook') : 'Ask someone with write access to create one', '.')));
      } else if (st.events === 0) {
        replace(next, empty('No events in the last hour.',
          h('p', null, 'Publish one with a token that may write events:'),
          h('pre', { class: 'code' }, publishCurl(ctx.origin, api.tenant))));
      } else {
        replace(next);
      }
      // Webhooks that need someone: suspended, holding diverted events, or failing in the last hour.
      const trouble = st.perWebhook.filter((w) => w.suspended || w.diverted > 0 || w.failed > 0);
      replace(attention, trouble.length ? h('section', { class: 'block', 'aria-labelledby': 'attention-h' },
        h('h2', { id: 'attention-h' }, 'Needs attention'),
        h('div', { class: 'table-wrap' }, h('table', { class: 'stack' },
          h('thead', null, h('tr', null, ['Webhook', 'State', 'Failed', 'Diverted', 'Last failure'].map((c, i) =>
            h('th', { scope: 'col', class: i === 2 || i === 3 ? 'num' : null }, c)))),
          h('tbody', null, trouble.map((w) => h('tr', null,
            h('th', { scope: 'row' }, h('a', { href: `#/webhooks/${w.locator}` }, w.name || w.locator)),
            h('td', { 'data-label': 'State' }, stateBadge(w)),
            h('td', { class: 'num', 'data-label': 'Failed' }, fmtCount(w.failed)),
            h('td', { class: 'num', 'data-label': 'Diverted' }, fmtCount(w.diverted)),
            h('td', { 'data-label': 'Last failure', class: 'wrap' }, w.lastFailure
              ? `${fmtAgo(w.lastFailure.created)}: ${w.lastFailure.error || `status ${w.lastFailure.statusCode}`}` : '—'))))))) : null);
    } else {
      replace(tiles, h('p', { class: 'muted' }, 'This token may not read the tenant’s statistics.'));
    }
    if (api.who.admin) {
      const hs = await engineHealth();
      const rows = (obj, fmt) => Object.keys(obj).sort().map((k) => h('tr', null, h('th', { scope: 'row' }, k), ...fmt(obj[k])));
      replace(health,
        h('p', null, h('span', { class: `badge ${hs.ready ? 'state-active' : 'state-suspended'}` }, hs.ready ? 'Ready' : 'Not ready'),
          hs.failing && hs.failing.length ? ` Down: ${hs.failing.join(', ')}.` : ' NATS connected, views caught up, every part running.'),
        h('div', { class: 'grid2' },
          h('div', { class: 'table-wrap' }, h('table', null, h('caption', null, 'Views: messages not yet applied'),
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'View'), h('th', { scope: 'col', class: 'num' }, 'Lag'))),
            h('tbody', null, rows(hs.views, (v) => [h('td', { class: 'num' }, fmtCount(v))])))),
          h('div', { class: 'table-wrap' }, h('table', null, h('caption', null, 'Delivery consumers'),
            h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Consumer'), h('th', { scope: 'col', class: 'num' }, 'Pending'), h('th', { scope: 'col', class: 'num' }, 'In progress'))),
            h('tbody', null, rows(hs.consumers, (v) => [h('td', { class: 'num' }, fmtCount(v.pending)), h('td', { class: 'num' }, fmtCount(v.ackPending))]))))));
    }
  }
  return { refresh };
}
