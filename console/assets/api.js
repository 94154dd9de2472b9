// The console's client of the HTTP API: the token goes in the Authorization header, never in a URL.

export class ApiError extends Error {
  constructor(status, body) {
    const message = (body && (body.message || body.code)) || `request failed with status ${status}`;
    super(message);
    this.status = status;
    this.field = body && body.field;
  }
}

const SESSION_KEY = 'hookstream.console.session';

/** loadSession returns the stored session ({token, tenant, who}) or null. */
export function loadSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    return s && s.token && s.who ? s : null;
  } catch {
    return null;
  }
}

export function saveSession(session) {
  sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
}

export function clearSession() {
  sessionStorage.removeItem(SESSION_KEY);
}

async function call(token, tenant, method, path, { query, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  const headers = { Authorization: `Bearer ${token}`, Accept: 'application/json' };
  if (tenant) headers['Hookstream-Tenant'] = tenant;
  const init = { method, headers, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(url, init);
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text }; }
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** whoami asks what token may do. */
export function whoami(token) {
  return call(token, '', 'GET', '/whoami');
}

/** Api is bound to one session's token and tenant. */
export class Api {
  constructor(session) {
    this.token = session.token;
    this.tenant = session.tenant;
    this.who = session.who;
  }

  /** can reports whether the token holds one of perms. */
  can(...perms) {
    const held = this.who.permissions || [];
    return this.who.admin || held.includes('*') || perms.some((p) => held.includes(p));
  }

  req(method, path, opts) { return call(this.token, this.tenant, method, path, opts); }

  /** t builds a path under the tenant's Socotra-style base. */
  t(rest) { return `/event/${encodeURIComponent(this.tenant)}${rest}`; }

  get(path, query) { return this.req('GET', path, { query }); }
}
