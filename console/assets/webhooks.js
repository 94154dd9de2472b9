// Webhooks: the tenant's webhooks with their state and last day's deliveries, a filter, and the create form.
import { h, replace, fmtAgo, fmtCount, fmtPct, stateBadge, secretBox, empty, throttled, keepFocus } from './dom.js';
import { webhookForm } from './form.js';

const STATES = { '': {}, active: { active: 'true' }, disabled: { enabled: 'false' }, suspended: { suspended: 'true' } };

export function webhooks(ctx) {
  const { api } = ctx;
  const canWrite = api.can('webhooks.write');
  const canStats = api.can('events.list', 'events.read');
  const notice = h('div');
  const formSlot = h('div');
  const body = h('div', null, h('p', { class: 'muted' }, 'Loading…'));
  const nameFilter = h('input', { type: 'search', id: 'filter-name', placeholder: 'Part of a name', autocomplete: 'off' });
  const stateFilter = h('select', { id: 'filter-state' },
    h('option', { value: '' }, 'Any state'), h('option', { value: 'active' }, 'Active'),
    h('option', { value: 'disabled' }, 'Disabled'), h('option', { value: 'suspended' }, 'Suspended'));
  nameFilter.addEventListener('input', () => refresh().catch(ctx.fail));
  stateFilter.addEventListener('change', () => refresh().catch(ctx.fail));

  const createBtn = canWrite ? h('button', { type: 'button', class: 'primary', 'aria-expanded': 'false' }, 'Create webhook') : null;
  function closeForm() {
    replace(formSlot);
    if (createBtn) { createBtn.hidden = false; createBtn.setAttribute('aria-expanded', 'false'); createBtn.focus(); }
  }
  function openForm() {
    replace(notice);
    createBtn.hidden = true;
    createBtn.setAttribute('aria-expanded', 'true');
    replace(formSlot, h('section', { 'aria-labelledby': 'create-h' }, h('h2', { id: 'create-h' }, 'New webhook'),
      webhookForm({
        initial: null,
        submitLabel: 'Create',
        onCancel: closeForm,
        onSubmit: async (req) => {
          const w = await api.req('POST', api.t('/webhooks'), { body: req });
          closeForm();
          replace(notice, h('div', { class: 'card notice' },
            h('p', null, 'Created ', h('a', { href: `#/webhooks/${w.locator}` }, w.name), '.'),
            secretBox('Signing secret, shown only now:', w.endpoint.secret,
              'Your endpoint verifies each delivery’s Webhook-Signature header with it. You can rotate it later.')));
          await refresh();
        },
      })));
  }
  if (createBtn) createBtn.addEventListener('click', openForm);

  ctx.main.append(
    h('div', { class: 'page-head' }, h('h1', null, 'Webhooks'), createBtn),
    notice, formSlot,
    h('form', { class: 'filters', role: 'search', onSubmit: (e) => e.preventDefault() },
      h('div', { class: 'field inline' }, h('label', { for: 'filter-name' }, 'Filter by name'), nameFilter),
      h('div', { class: 'field inline' }, h('label', { for: 'filter-state' }, 'State'), stateFilter)),
    body);

  // The day's statistics cover every webhook's attempts: refreshed less often than the list.
  const dayStats = throttled(10000, () => (canStats ? api.get(api.t('/stats'), { window: '24h' }).catch(() => null) : null));

  async function refresh() {
    const filtered = nameFilter.value.trim() !== '' || stateFilter.value !== '';
    const [list, stats] = await Promise.all([
      api.get(api.t('/webhooks/list'), { count: 1000, name: nameFilter.value.trim(), ...STATES[stateFilter.value] }),
      dayStats(),
    ]);
    const per = new Map(((stats && stats.perWebhook) || []).map((s) => [s.locator, s]));
    if (list.items.length === 0) {
      replace(body, filtered ? empty('No webhook matches the filter.')
        : empty('No webhooks yet.',
          h('p', null, canWrite
            ? 'Create one with the Create webhook button: give it a name, the URL of your endpoint and the event types it should receive.'
            : 'This token may not create webhooks; one with webhooks.write can.')));
      return;
    }
    const rows = list.items.map((w) => {
      const s = per.get(w.locator);
      const ended = s ? s.success + s.failed : 0;
      return h('tr', null,
        h('th', { scope: 'row' }, h('a', { href: `#/webhooks/${w.locator}` }, w.name)),
        h('td', { class: 'url', 'data-label': 'Endpoint' }, w.endpoint.url),
        h('td', { 'data-label': 'Event types' }, w.eventTypes.length ? w.eventTypes.join(', ') : h('span', { class: 'muted' }, 'All types')),
        h('td', { 'data-label': 'State' }, stateBadge(w)),
        canStats ? h('td', { class: 'num', 'data-label': 'Attempts 24 h' }, s ? fmtCount(ended) : '—') : null,
        canStats ? h('td', { class: 'num', 'data-label': 'Success' }, s ? fmtPct(s.successRate) : '—') : null,
        canStats ? h('td', { 'data-label': 'Last failure' }, s && s.lastFailure
          ? h('span', { title: s.lastFailure.error || '' }, fmtAgo(s.lastFailure.created), s.lastFailure.statusCode ? ` · ${s.lastFailure.statusCode}` : '')
          : h('span', { class: 'muted' }, 'None')) : null);
    });
    keepFocus(body, (el) => el.getAttribute('href'), () => replace(body, h('div', { class: 'table-wrap' }, h('table', { class: 'webhooks stack' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Endpoint'), h('th', { scope: 'col' }, 'Event types'),
        h('th', { scope: 'col' }, 'State'),
        canStats ? [h('th', { scope: 'col', class: 'num' }, 'Attempts 24 h'), h('th', { scope: 'col', class: 'num' }, 'Success'),
          h('th', { scope: 'col' }, 'Last failure')] : null)),
      h('tbody', null, rows)))));
  }
  return { refresh };
}
