// Tokens (admin): mint, list and revoke API tokens.
import { h, replace, fmtTime, secretBox, empty } from './dom.js';

const PERMISSIONS = ['webhooks.read', 'webhooks.list', 'webhooks.write', 'diverted-events.read', 'diverted-events.list',
  'diverted-events.resend', 'diverted-events.delete', 'events.read', 'events.list', 'events.write', '*'];

export function tokens(ctx) {
  const { api } = ctx;
  const notice = h('div');
  const list = h('div');
  const name = h('input', { id: 'tok-name', type: 'text', required: true, maxlength: 255 });
  const tenants = h('input', { id: 'tok-tenants', type: 'text', value: api.tenant, spellcheck: 'false' });
  const expires = h('input', { id: 'tok-expires', type: 'datetime-local' });
  const perms = PERMISSIONS.map((p, i) => {
    const input = h('input', { type: 'checkbox', id: `perm-${i}`, value: p, checked: p.endsWith('.read') || p.endsWith('.list') });
    return { input, el: h('div', { class: 'check' }, input, h('label', { for: `perm-${i}` }, p === '*' ? '* (everything)' : p)) };
  });
  const error = h('p', { class: 'error', role: 'alert' });
  const form = h('form', { class: 'form', novalidate: true },
    h('div', { class: 'grid2' },
      h('div', { class: 'field' }, h('label', { for: 'tok-name' }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: 'tok-tenants' }, 'Tenants'), tenants, h('p', { class: 'hint' }, 'Comma-separated tenant UUIDs.')),
      h('div', { class: 'field' }, h('label', { for: 'tok-expires' }, 'Expires'), expires, h('p', { class: 'hint' }, 'Optional; empty never expires.'))),
    h('fieldset', null, h('legend', null, 'Permissions'), h('div', { class: 'checks' }, perms.map((p) => p.el))),
    error,
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Mint token')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const body = {
      name: name.value.trim(),
      tenants: tenants.value.split(',').map((x) => x.trim()).filter(Boolean),
      permissions: perms.filter((p) => p.input.checked).map((p) => p.input.value),
    };
    if (expires.value) body.expiresAt = new Date(expires.value).toISOString();
    try {
      const t = await api.req('POST', '/admin/tokens', { body });
      replace(notice, h('div', { class: 'card notice' }, secretBox(`Token “${t.name}”, shown only now:`, t.token,
        'Only its hash is stored: copy it now.'),
      h('button', { type: 'button', class: 'secondary small', onClick: () => replace(notice) }, 'Done')));
      name.value = '';
      await refresh();
    } catch (err) {
      error.textContent = err.message;
    }
  });

  ctx.main.append(h('div', { class: 'page-head' }, h('h1', null, 'Tokens')), notice,
    h('section', { class: 'block', 'aria-labelledby': 'mint-h' }, h('h2', { id: 'mint-h' }, 'Mint a token'), form),
    h('section', { class: 'block', 'aria-labelledby': 'tok-h' }, h('h2', { id: 'tok-h' }, 'Tokens'), list));

  let last = '';
  async function refresh() {
    const { items } = await api.get('/admin/tokens');
    const json = JSON.stringify(items);
    if (json === last) return;
    last = json;
    if (items.length === 0) {
      replace(list, empty('No tokens yet.', h('p', null, 'Mint one above for each producer and each team that reads deliveries.')));
      return;
    }
    replace(list, h('div', { class: 'table-wrap' }, h('table', null,
      h('thead', null, h('tr', null, ['Name', 'Tenants', 'Permissions', 'Expires', 'Created', ''].map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'sr-only' }, 'Actions'))))),
      h('tbody', null, items.map((t) => {
        const cell = h('td', { class: 'row-actions' });
        const ask = () => replace(cell, h('span', null, 'Revoke? '),
          h('button', { type: 'button', class: 'danger small', onClick: async () => {
            try {
              await api.req('DELETE', `/admin/tokens/${t.locator}`);
              ctx.say('Token revoked.');
              last = '';
              await refresh();
            } catch (err) { ctx.fail(err); }
          } }, 'Revoke token'),
          h('button', { type: 'button', class: 'secondary small', onClick: () => replace(cell, revoke) }, 'Cancel'));
        const revoke = h('button', { type: 'button', class: 'danger-outline small', onClick: ask }, 'Revoke');
        cell.append(revoke);
        return h('tr', null, h('th', { scope: 'row' }, t.name, h('br'), h('code', { class: 'muted' }, t.locator)),
          h('td', null, t.tenants.join(', ')), h('td', { class: 'wrap' }, t.permissions.join(', ')),
          h('td', null, t.expiresAt ? fmtTime(t.expiresAt) : 'Never'), h('td', null, fmtTime(t.createdAt)), cell);
      })))));
  }
  return { refresh };
}
