// The console's shell: sign-in, navigation, routing by the URL's fragment, and polling the open page.
import { h, replace } from './dom.js';
import { Api, ApiError, clearSession, loadSession, saveSession, whoami } from './api.js';
import { overview } from './overview.js';
import { webhooks } from './webhooks.js';
import { webhook } from './webhook.js';
import { events, event } from './events.js';
import { tokens } from './tokens.js';

// How often the open page refreshes: new attempts must show within two seconds.
const POLL_MS = 1000;

const routes = [
  { re: /^#\/overview$/, view: overview, nav: 'Overview' },
  { re: /^#\/webhooks$/, view: webhooks, nav: 'Webhooks' },
  { re: /^#\/webhooks\/([A-Za-z0-9_-]+)$/, view: webhook, nav: 'Webhooks' },
  { re: /^#\/events$/, view: events, nav: 'Events' },
  { re: /^#\/events\/([A-Za-z0-9_-]+)$/, view: event, nav: 'Events' },
  { re: /^#\/tokens$/, view: tokens, nav: 'Tokens', admin: true },
];

class Console {
  constructor() {
    this.header = document.getElementById('top');
    this.main = document.getElementById('main');
    this.status = document.getElementById('status');
    this.page = null;
    this.timer = null;
    this.busy = false;
    window.addEventListener('hashchange', () => this.route());
    // The skip link moves focus without touching the fragment, which is the router's.
    document.querySelector('.skip').addEventListener('click', (e) => { e.preventDefault(); this.main.focus(); });
    document.addEventListener('visibilitychange', () => { if (!document.hidden) this.tick(); });
  }

  start() {
    const session = loadSession();
    if (!session) { this.signIn(); return; }
    this.api = new Api(session);
    this.shell();
    if (!routes.some((r) => r.re.test(location.hash))) location.replace('#/overview');
    this.route();
  }

  signOut() {
    clearSession();
    this.stop();
    this.api = null;
    history.replaceState(null, '', location.pathname);
    this.signIn();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.page = null;
  }

  /** say shows a short message in the live region. */
  say(text, kind = 'info') {
    replace(this.status, text ? h('p', { class: `toast ${kind}` }, text) : null);
    clearTimeout(this.sayTimer);
    if (text) this.sayTimer = setTimeout(() => replace(this.status), 5000);
  }

  fail(err) {
    if (err instanceof ApiError && err.status === 401) {
      this.signOut();
      this.say('Your token is no longer valid: sign in again.', 'error');
      return;
    }
    this.say(err instanceof ApiError ? err.message : `Something went wrong: ${err.message}`, 'error');
  }

  signIn() {
    this.header.hidden = true;
    const tokenInput = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', required: true, spellcheck: 'false' });
    const tenantInput = h('input', { id: 'tenant', name: 'tenant', type: 'text', autocomplete: 'off', spellcheck: 'false',
      placeholder: '6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10', 'aria-describedby': 'tenant-hint' });
    const error = h('p', { class: 'error', role: 'alert' });
    const form = h('form', { class: 'card signin', novalidate: true },
      h('h1', null, 'Sign in'),
      h('p', { class: 'muted' }, 'Use a tenant token or the admin token. It stays in this browser tab and is forgotten when you close it.'),
      h('div', { class: 'field' }, h('label', { for: 'token' }, 'Token'), tokenInput),
      h('div', { class: 'field' }, h('label', { for: 'tenant' }, 'Tenant'), tenantInput,
        h('p', { class: 'hint', id: 'tenant-hint' }, 'The tenant’s UUID: needed with the admin token, or a token of several tenants.')),
      error,
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary' }, 'Sign in')));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.textContent = '';
      const token = tokenInput.value.trim();
      if (!token) { error.textContent = 'Enter a token.'; tokenInput.focus(); return; }
      let who;
      try {
        who = await whoami(token);
      } catch (err) {
        error.textContent = err instanceof ApiError && err.status === 401 ? 'That token is not valid.' : err.message;
        tokenInput.focus();
        return;
      }
      let tenant = tenantInput.value.trim().toLowerCase();
      if (!tenant && !who.admin && who.tenants.length === 1) tenant = who.tenants[0];
      if (!tenant) {
        error.textContent = who.admin
          ? 'The admin token serves every tenant: name the one to open.'
          : `This token serves several tenants: name one of ${who.tenants.join(', ')}.`;
        tenantInput.focus();
        return;
      }
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(tenant)) {
        error.textContent = 'The tenant is a UUID, such as 6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10.';
        tenantInput.focus();
        return;
      }
      if (!who.admin && !who.tenants.includes(tenant)) {
        error.textContent = `This token does not serve that tenant; it serves ${who.tenants.join(', ')}.`;
        tenantInput.focus();
        return;
      }
      saveSession({ token, tenant, who });
      tokenInput.value = '';
      this.start();
    });
    replace(this.main, h('div', { class: 'signin-wrap' }, h('p', { class: 'brand big' }, logo(), 'hookstream'), form));
    tokenInput.focus();
  }

  shell() {
    const nav = h('nav', { 'aria-label': 'Main' }, h('ul', null,
      routes.filter((r, i, all) => (!r.admin || this.api.who.admin) && all.findIndex((x) => x.nav === r.nav) === i)
        .map((r) => h('li', null, h('a', { href: `#/${r.nav.toLowerCase()}`, 'data-nav': r.nav }, r.nav)))));
    const who = this.api.who.admin ? 'admin' : 'token';
    replace(this.header,
      h('a', { class: 'brand', href: '#/overview' }, logo(), 'hookstream'),
      nav,
      h('div', { class: 'who' },
        h('span', { class: 'tenant', title: 'Tenant' }, h('span', { class: 'muted' }, `${who} · `), this.api.tenant),
        h('button', { type: 'button', class: 'secondary small', onClick: () => this.signOut() }, 'Sign out')));
    this.header.hidden = false;
  }

  route() {
    if (!this.api) return;
    this.stop();
    const match = routes.map((r) => ({ r, m: r.re.exec(location.hash) })).find((x) => x.m && (!x.r.admin || this.api.who.admin));
    if (!match) { location.replace('#/overview'); return; }
    for (const a of this.header.querySelectorAll('nav a')) {
      if (a.dataset.nav === match.r.nav) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    replace(this.main);
    const ctx = {
      api: this.api,
      main: this.main,
      params: match.m.slice(1).map(decodeURIComponent),
      say: (text, kind) => this.say(text, kind),
      fail: (err) => this.fail(err),
      origin: location.origin,
    };
    const page = match.r.view(ctx) || {};
    this.page = page;
    this.main.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    if (page.refresh) {
      this.tick();
      this.timer = setInterval(() => this.tick(), POLL_MS);
    }
  }

  async tick() {
    const page = this.page;
    if (!page || !page.refresh || this.busy || document.hidden) return;
    this.busy = true;
    try {
      await page.refresh();
    } catch (err) {
      if (page !== this.page) return;
      if (err instanceof ApiError && (err.status === 403 || err.status === 404)) {
        // Polling again would only repeat the refusal: say it once, on the page, and stop.
        this.stop();
        this.main.prepend(h('div', { class: 'card confirm', role: 'alert' }, h('p', null, err.message)));
        return;
      }
      this.fail(err);
    } finally {
      this.busy = false;
    }
  }
}

function logo() {
  const img = h('img', { src: 'logo.svg', alt: '', width: 22, height: 22 });
  return img;
}

new Console().start();
