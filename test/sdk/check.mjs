// Checks that the official Lithic Node SDK (npm `lithic`, pinned in package.json) works UNCHANGED against
// hookstream's Lithic-compatible /v1 API. See README.md for how to run it.
//
// Env: HOOKSTREAM_URL (e.g. http://127.0.0.1:18181), HOOKSTREAM_TOKEN (a token of one tenant with
// permission "*"), HOOKSTREAM_TENANT (that tenant's UUID, used only to ingest events over HTTP), and
// optionally HOOKSTREAM_ADMIN_TOKEN (adds step 13: the admin token naming the tenant in Hookstream-Tenant).
// The server must run with --allow-private-destinations: deliveries go to a receiver on 127.0.0.1.
// Exit status 0 when every step passes; 1 with a message (and the last SDK requests) on the first failure.

import http from 'node:http';
import { once } from 'node:events';
import { randomUUID } from 'node:crypto';
import Lithic from 'lithic';
import { VERSION as SDK_VERSION } from 'lithic/version';

const BASE = (process.env.HOOKSTREAM_URL || '').replace(/\/+$/, '');
const TOKEN = process.env.HOOKSTREAM_TOKEN || '';
const TENANT = process.env.HOOKSTREAM_TENANT || '';
const ADMIN = process.env.HOOKSTREAM_ADMIN_TOKEN || ''; // optional: enables step 13
if (!BASE || !TOKEN || !TENANT) {
  console.error('sdk-check: set HOOKSTREAM_URL, HOOKSTREAM_TOKEN and HOOKSTREAM_TENANT (see README.md)');
  process.exit(2);
}
const host = new URL(BASE).hostname;
if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) {
  console.error(`sdk-check: HOOKSTREAM_URL must be a loopback address, got ${BASE}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers

let passed = 0;
const started = Date.now();
const elapsed = () => ((Date.now() - started) / 1000).toFixed(1) + 's';

class CheckError extends Error {}
function assert(cond, msg) {
  if (!cond) throw new CheckError(msg);
}
function eq(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  assert(a === e, `${what}: expected ${e}, got ${a}`);
}
function pass(step, detail) {
  passed++;
  console.log(`PASS ${step}${detail ? ` (${detail})` : ''} [${elapsed()}]`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// waitFor polls fn (sync or async) until it returns a truthy value, or fails with `what` at the deadline.
async function waitFor(what, fn, timeoutMs = 10_000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new CheckError(`timed out after ${timeoutMs} ms waiting for ${what}` + (lastErr ? `; last error: ${lastErr}` : ''));
    }
    await sleep(everyMs);
  }
}

// expectThrows runs fn and returns what it threw; fails if it did not throw.
async function expectThrows(what, fn) {
  try {
    await fn();
  } catch (e) {
    return e;
  }
  throw new CheckError(`${what}: expected an error, but the call succeeded`);
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

// ---------------------------------------------------------------------------------------------------------
// Trace of the SDK's HTTP exchanges (the SDK's own `fetch` option; the SDK itself is untouched), printed on
// failure so an incompatibility can be reported with the raw request and response.

const trace = [];
async function tracingFetch(input, init = {}) {
  const entry = { method: init.method || 'GET', url: String(input), reqBody: typeof init.body === 'string' ? init.body : init.body ? '<non-string body>' : '' };
  trace.push(entry);
  if (trace.length > 12) trace.shift();
  const res = await fetch(input, init);
  entry.status = res.status;
  try {
    entry.resBody = (await res.clone().text()).slice(0, 600);
  } catch {
    entry.resBody = '<unreadable>';
  }
  return res;
}
function dumpTrace() {
  if (!trace.length) return;
  console.error('last SDK exchanges (oldest first):');
  for (const t of trace.slice(-6)) {
    console.error(`  ${t.method} ${t.url}${t.reqBody ? `  body=${t.reqBody}` : ''}`);
    console.error(`    -> ${t.status ?? '(no response)'} ${t.resBody ?? ''}`);
  }
}

function sdk(opts = {}) {
  return new Lithic({ apiKey: TOKEN, baseURL: BASE, fetch: tracingFetch, maxRetries: 0, timeout: 15_000, ...opts });
}
const client = sdk();

// ingest posts one event over hookstream's own HTTP ingestion API (not part of Lithic) and returns its
// locator, which is the Lithic event token.
async function ingest(type, data) {
  const res = await fetch(`${BASE}/event/${TENANT}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type, data }),
  });
  const text = await res.text();
  assert(res.status === 202, `ingest ${type}: expected 202, got ${res.status} ${text}`);
  const body = JSON.parse(text);
  assert(typeof body.locator === 'string' && ULID.test(body.locator), `ingest: no locator in ${text}`);
  return body.locator;
}

// ---------------------------------------------------------------------------------------------------------
// 1. Receiver: records every request (raw body string + headers); per-path answer status.

const deliveries = []; // { path, body, headers, at }
const answer = new Map(); // path -> status code (default 200)
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const path = req.url;
    const status = answer.get(path) ?? 200;
    deliveries.push({ path, method: req.method, body: Buffer.concat(chunks).toString('utf8'), headers: { ...req.headers }, status, at: Date.now() });
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(status === 200 ? 'ok' : 'receiver says no');
  });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const RECV = `http://127.0.0.1:${server.address().port}`;
const MAIN = '/hook/main';
const to = (path) => deliveries.filter((d) => d.path === path);
const withId = (path, id) => to(path).filter((d) => d.headers['webhook-id'] === id);
const bodyOf = (d) => JSON.parse(d.body);

// Cleanup state: subscriptions this run created, deleted at the end even on failure.
const created = new Set();

async function main() {
  pass('1 receiver', RECV);

  // -------------------------------------------------------------------------------------------------------
  // 2. create + list across pages
  const sub = await client.events.subscriptions.create({
    url: RECV + MAIN,
    description: 'sdk check main',
    event_types: ['card.created'],
  });
  created.add(sub.token);
  assert(typeof sub.token === 'string' && sub.token.length > 0, `create: no token in ${JSON.stringify(sub)}`);
  // Lithic's five fields, and hookstream's extensions (filter, ordering, rate_limit), which the SDK passes through.
  eq(Object.keys(sub).sort(), ['description', 'disabled', 'event_types', 'filter', 'ordering', 'rate_limit', 'token', 'url'], 'create: fields');
  eq(sub.description, 'sdk check main', 'create: description');
  eq(sub.disabled, false, 'create: disabled');
  eq(sub.url, RECV + MAIN, 'create: url');
  eq(sub.event_types, ['card.created'], 'create: event_types');

  const extras = [];
  for (let i = 0; i < 7; i++) {
    const s = await client.events.subscriptions.create({
      url: `${RECV}/extra/${i}`,
      description: `sdk check extra ${i}`,
      disabled: i % 2 === 0,
      event_types: ['card.shipped'],
    });
    created.add(s.token);
    eq(s.disabled, i % 2 === 0, `create extra ${i}: disabled`);
    extras.push(s.token);
  }
  const mine = [sub.token, ...extras];

  const seen = [];
  for await (const s of client.events.subscriptions.list({ page_size: 3 })) seen.push(s.token);
  const counts = new Map();
  for (const t of seen) counts.set(t, (counts.get(t) || 0) + 1);
  for (const t of mine) eq(counts.get(t) || 0, 1, `auto-paginated list (page_size 3): times ${t} was seen`);
  assert(seen.length === counts.size, `auto-paginated list: duplicates in ${JSON.stringify(seen)}`);
  // Created in order, listed newest first.
  const order = seen.filter((t) => mine.includes(t));
  eq(order, [...mine].reverse(), 'list order of this run\'s subscriptions (newest first)');

  const first = await client.events.subscriptions.list({ page_size: 3 });
  eq(first.data.length, 3, 'first page size');
  eq(first.has_more, true, 'first page has_more');
  assert(first.hasNextPage(), 'first page: hasNextPage() is false');
  const second = await first.getNextPage();
  eq(second.data.map((s) => s.token), seen.slice(3, 6), 'second page via getNextPage()');

  // Backwards: ending_before the oldest listed, auto-paginated towards the newest.
  const n = seen.length;
  const back = await client.events.subscriptions.list({ page_size: 3, ending_before: seen[n - 1] });
  eq(back.data.map((s) => s.token), seen.slice(n - 4, n - 1), 'ending_before page: the 3 just newer, newest first');
  const backAll = [];
  for await (const s of client.events.subscriptions.list({ page_size: 3, ending_before: seen[n - 1] })) backAll.push(s.token);
  eq([...backAll].sort(), seen.slice(0, n - 1).sort(), 'ending_before auto-pagination: every newer subscription');
  eq(new Set(backAll).size, backAll.length, 'ending_before auto-pagination: no duplicates');
  pass('2 create + list', `${mine.length} created, ${n} listed in pages of 3, forwards and backwards`);

  // -------------------------------------------------------------------------------------------------------
  // 3. update + retrieve
  let u = await client.events.subscriptions.update(sub.token, { url: RECV + MAIN, description: 'sdk check main (renamed)' });
  eq(u.description, 'sdk check main (renamed)', 'update description');
  eq(u.event_types, ['card.created'], 'update description: event_types unchanged');
  u = await client.events.subscriptions.update(sub.token, { url: RECV + MAIN, disabled: true });
  eq(u.disabled, true, 'update disabled=true');
  eq((await client.events.subscriptions.retrieve(sub.token)).disabled, true, 'retrieve after disable');
  u = await client.events.subscriptions.update(sub.token, { disabled: false }); // url omitted: unchanged
  eq(u.disabled, false, 'update disabled=false');
  eq(u.url, RECV + MAIN, 'update without url: url unchanged');
  u = await client.events.subscriptions.update(sub.token, { url: RECV + MAIN, event_types: ['card.created', 'card.updated'] });
  eq([...u.event_types].sort(), ['card.created', 'card.updated'], 'update event_types');
  u = await client.events.subscriptions.update(sub.token, { url: RECV + MAIN, event_types: ['card.created'] });
  eq(u.event_types, ['card.created'], 'update event_types back');
  const r = await client.events.subscriptions.retrieve(sub.token);
  eq(r, { token: sub.token, description: 'sdk check main (renamed)', disabled: false, url: RECV + MAIN, event_types: ['card.created'],
    filter: null, ordering: 'none', rate_limit: null }, 'retrieve');
  pass('3 update + retrieve');

  // -------------------------------------------------------------------------------------------------------
  // 4. secret + signed delivery verified with the SDK helpers
  const { secret } = await client.events.subscriptions.retrieveSecret(sub.token);
  assert(/^whsec_[A-Za-z0-9+/]+=*$/.test(secret || ''), `retrieveSecret: not a whsec_ secret: ${secret}`);
  const keyLen = Buffer.from(secret.slice(6), 'base64').length;
  assert(keyLen >= 24 && keyLen <= 64, `secret key length ${keyLen} not in 24..64`);
  const e1 = await ingest('card.created', { card_token: randomUUID(), step: 4 });
  const d1 = await waitFor(`delivery of ${e1}`, () => withId(MAIN, e1)[0]);
  const unwrapped = client.webhooks.unwrap(d1.body, d1.headers, secret);
  eq(unwrapped.locator, e1, 'unwrap: locator');
  eq(unwrapped.type, 'card.created', 'unwrap: type');
  eq(unwrapped.data.step, 4, 'unwrap: data');
  client.webhooks.verifySignature(d1.body, d1.headers, secret);
  // parse() verifies too (with headers) and returns the body as delivered: hookstream's EventResponse,
  // not Lithic's flat webhook payload, so `event_type` is absent and the Lithic fields sit under `data`.
  const parsed = client.webhooks.parse(d1.body, { headers: d1.headers, secret });
  eq([parsed.locator, parsed.type, parsed.data?.step], [e1, 'card.created', 4], 'webhooks.parse');
  // The client's own webhookSecret is used when none is passed.
  const withSecret = sdk({ webhookSecret: secret });
  eq(withSecret.webhooks.unwrap(d1.body, d1.headers).locator, e1, 'unwrap with the client webhookSecret');
  // Sanity: the helpers do refuse a wrong secret and a tampered body.
  const other = 'whsec_' + Buffer.alloc(32, 7).toString('base64');
  await expectThrows('verifySignature with a wrong secret', () => client.webhooks.verifySignature(d1.body, d1.headers, other));
  await expectThrows('unwrap of a tampered body', () => client.webhooks.unwrap(d1.body.replace('"step":4', '"step":5'), d1.headers, secret));
  pass('4 retrieveSecret + signed delivery', `unwrap and verifySignature accept ${e1}`);

  // -------------------------------------------------------------------------------------------------------
  // 5. rotate: the next delivery verifies with both the old and the new secret
  const rot = await client.events.subscriptions.rotateSecret(sub.token);
  assert(rot === undefined || rot === null || rot === '', `rotateSecret returned ${JSON.stringify(rot)}`);
  const { secret: secret2 } = await client.events.subscriptions.retrieveSecret(sub.token);
  assert(/^whsec_/.test(secret2 || '') && secret2 !== secret, 'rotateSecret: secret did not change');
  const e2 = await ingest('card.created', { card_token: randomUUID(), step: 5 });
  const d2 = await waitFor(`delivery of ${e2}`, () => withId(MAIN, e2)[0]);
  eq(d2.headers['webhook-signature'].split(' ').length, 2, 'signatures during the grace period');
  client.webhooks.verifySignature(d2.body, d2.headers, secret2);
  client.webhooks.verifySignature(d2.body, d2.headers, secret);
  eq(client.webhooks.unwrap(d2.body, d2.headers, secret2).locator, e2, 'unwrap with the new secret');
  eq(client.webhooks.unwrap(d2.body, d2.headers, secret).locator, e2, 'unwrap with the old secret');
  pass('5 rotateSecret', 'delivery verifies with the old and the new secret');

  // -------------------------------------------------------------------------------------------------------
  // 6. events list / retrieve / attempts
  const shipped = await ingest('card.shipped', { step: 6 });
  const more6 = [];
  for (let i = 0; i < 3; i++) more6.push(await ingest('card.created', { card_token: randomUUID(), step: 6, i }));
  const evs = [];
  for await (const e of client.events.list({ event_types: ['card.created'], page_size: 2 })) evs.push(e);
  let pages6 = 0;
  for await (const page of (await client.events.list({ event_types: ['card.created'], page_size: 2 })).iterPages()) {
    pages6++;
    assert(page.data.length <= 2, `events.list page of ${page.data.length} items for page_size 2`);
  }
  assert(pages6 >= 3, `events.list: expected at least 3 pages of 2, got ${pages6}`);
  const evTokens = evs.map((e) => e.token);
  eq(new Set(evTokens).size, evTokens.length, 'events.list: no duplicates across pages');
  for (const e of evs) eq(e.event_type, 'card.created', `events.list filter: event_type of ${e.token}`);
  assert(!evTokens.includes(shipped), 'events.list: a card.shipped event passed the card.created filter');
  const i1 = evTokens.indexOf(e1);
  const i2 = evTokens.indexOf(e2);
  assert(i1 >= 0 && i2 >= 0, `events.list: missing ${i1 < 0 ? e1 : e2}`);
  assert(i2 < i1, 'events.list: expected newest first');
  eq(evTokens.slice(0, 3), [...more6].reverse(), 'events.list: the newest events first');
  const bare = await client.events.list({ event_types: ['card.created'], page_size: 1, with_content: false });
  eq(bare.data[0]?.payload, {}, 'events.list with_content=false: payload');
  const full = await client.events.list({ event_types: ['card.created'], page_size: 1, with_content: true });
  eq(full.data[0]?.payload?.step, 6, 'events.list with_content=true: payload');
  const windowed = [];
  for await (const e of client.events.list({ begin: bodyOf(d1).timestamp, end: new Date(Date.now() + 60_000).toISOString(), page_size: 100 })) windowed.push(e.token);
  assert(windowed.includes(e1) && windowed.includes(shipped), 'events.list begin/end: window misses events');
  const shippedOnly = [];
  for await (const e of client.events.list({ event_types: ['card.shipped', 'card.updated'], page_size: 2 })) shippedOnly.push(e.token);
  assert(shippedOnly.includes(shipped) && !shippedOnly.includes(e1), 'events.list with two event_types (comma-separated)');

  const ev = await client.events.retrieve(e1);
  eq(Object.keys(ev).sort(), ['created', 'event_type', 'payload', 'token'], 'events.retrieve: fields');
  eq(ev.token, e1, 'events.retrieve: token');
  eq(ev.event_type, 'card.created', 'events.retrieve: event_type');
  eq(ev.payload.step, 4, 'events.retrieve: payload');
  assert(ISO.test(ev.created), `events.retrieve: created not RFC 3339: ${ev.created}`);
  const ev1 = bodyOf(d1);
  eq(Date.parse(ev.created), Date.parse(ev1.timestamp), 'events.retrieve: created = delivered timestamp');

  const attempts = await waitFor(`a SUCCESS attempt of ${e1}`, async () => {
    const out = [];
    for await (const a of client.events.listAttempts(e1)) out.push(a);
    return out.some((a) => a.status === 'SUCCESS') && out;
  });
  const a1 = attempts.find((a) => a.status === 'SUCCESS');
  eq(Object.keys(a1).sort(), ['created', 'event_subscription_token', 'event_token', 'response', 'response_status_code', 'status', 'token', 'url'], 'attempt fields');
  eq(a1.event_token, e1, 'attempt event_token');
  eq(a1.event_subscription_token, sub.token, 'attempt event_subscription_token');
  eq(a1.response_status_code, 200, 'attempt response_status_code');
  eq(a1.url, RECV + MAIN, 'attempt url');
  eq(a1.response, 'ok', 'attempt response');
  assert(ISO.test(a1.created), `attempt created not RFC 3339: ${a1.created}`);

  const subAttempts = await waitFor(`SUCCESS attempts of ${e1} and ${e2} on the subscription`, async () => {
    const out = [];
    for await (const a of client.events.subscriptions.listAttempts(sub.token, { status: 'SUCCESS', page_size: 1 })) out.push(a);
    const evts = new Set(out.map((a) => a.event_token));
    return evts.has(e1) && evts.has(e2) && out;
  });
  for (const a of subAttempts) eq(a.status, 'SUCCESS', `subscription attempts filtered by status: ${a.token}`);
  eq(new Set(subAttempts.map((a) => a.token)).size, subAttempts.length, 'subscription attempts: no duplicates across pages');
  pass('6 events list/retrieve/listAttempts', `${evs.length} card.created events in ${pages6} pages of 2, ${subAttempts.length} SUCCESS attempts`);

  // -------------------------------------------------------------------------------------------------------
  // 7. resend, both SDK spellings
  const before7 = withId(MAIN, e1).length;
  const okAttempts = async () => {
    const out = [];
    for await (const a of client.events.listAttempts(e1, { status: 'SUCCESS' })) out.push(a.token);
    return out.length;
  };
  const ok7 = await okAttempts();
  await client.events.resend(e1, { eventSubscriptionToken: sub.token });
  await waitFor(`a resend of ${e1}`, () => withId(MAIN, e1).length >= before7 + 1);
  // hookstream folds a repeated resend into one until the previous attempt's outcome is recorded (it
  // deduplicates on the latest attempt): wait for that record, as a client inspecting attempts would.
  await waitFor(`the SUCCESS attempt of the resend of ${e1}`, async () => (await okAttempts()) >= ok7 + 1);
  await client.events.eventSubscriptions.resend(sub.token, { event_token: e1 });
  await waitFor(`a second resend of ${e1}`, () => withId(MAIN, e1).length >= before7 + 2);
  const resent = withId(MAIN, e1).at(-1);
  eq(bodyOf(resent).locator, e1, 'resent body');
  client.webhooks.verifySignature(resent.body, resent.headers, secret2);
  pass('7 resend', 'events.resend and events.eventSubscriptions.resend each deliver again');

  // -------------------------------------------------------------------------------------------------------
  // 8. recover: a failed delivery with a retry pending is sent again, and the pending retry is cancelled
  const begin8 = new Date().toISOString();
  answer.set(MAIN, 500);
  const e8 = await ingest('card.created', { card_token: randomUUID(), step: 8 });
  await waitFor(`the 500 delivery of ${e8}`, () => withId(MAIN, e8).length >= 1);
  const failed = await waitFor(`a FAILED attempt of ${e8}`, async () => {
    for await (const a of client.events.listAttempts(e8, { status: 'FAILED' })) return a;
    return null;
  });
  eq(failed.response_status_code, 500, 'FAILED attempt status code');
  eq(failed.response, 'receiver says no', 'FAILED attempt response');
  const failedAt = Date.now();
  const pending = await waitFor(`the PENDING retry of ${e8}`, async () => {
    for await (const a of client.events.listAttempts(e8, { status: 'PENDING' })) return a;
    return null;
  });
  eq([pending.event_token, pending.event_subscription_token], [e8, sub.token], 'PENDING attempt');
  const viaSub = [];
  for await (const a of client.events.subscriptions.listAttempts(sub.token, { status: 'FAILED' })) viaSub.push(a.event_token);
  assert(viaSub.includes(e8), 'subscriptions.listAttempts(status FAILED) misses the failed attempt');
  answer.set(MAIN, 200);
  eq(withId(MAIN, e8).length, 1, `deliveries of ${e8} before recover (the 5 s retry came too early)`);
  await client.events.subscriptions.recover(sub.token, { begin: begin8 });
  const rec = await waitFor(`the recovered delivery of ${e8}`, () => withId(MAIN, e8)[1], 4_000);
  eq(rec.status, 200, 'recovered delivery answered 200');
  client.webhooks.verifySignature(rec.body, rec.headers, secret2);
  // The retry that was pending (due 5 s after the failure) must not run: watch until well past it.
  const quietUntil = Math.max(failedAt + 7_000, Date.now() + 1_000);
  while (Date.now() < quietUntil) {
    assert(withId(MAIN, e8).length === 2, `${e8} delivered a third time: the pending retry was not cancelled`);
    await sleep(100);
  }
  const ok8 = await waitFor(`a SUCCESS attempt of ${e8}`, async () => {
    for await (const a of client.events.listAttempts(e8, { status: 'SUCCESS' })) return a;
    return null;
  });
  eq(ok8.response_status_code, 200, 'recovered attempt status code');
  const stillPending = [];
  for await (const a of client.events.listAttempts(e8, { status: 'PENDING' })) stillPending.push(a.token);
  eq(stillPending, [], `PENDING attempts of ${e8} after recover`);
  pass('8 recover', 'failed event re-sent once, pending retry cancelled');

  // -------------------------------------------------------------------------------------------------------
  // 9. replay_missing: events missed while disabled are sent, in order, and nothing else
  const begin9 = new Date().toISOString();
  await client.events.subscriptions.update(sub.token, { url: RECV + MAIN, disabled: true });
  const mA = await ingest('card.created', { card_token: randomUUID(), step: 9, n: 'A' });
  const mB = await ingest('card.created', { card_token: randomUUID(), step: 9, n: 'B' });
  await waitFor(`${mB} in the events list`, async () => (await client.events.retrieve(mB)).token === mB);
  const count9 = to(MAIN).length;
  await sleep(500); // a negative check: nothing may arrive while disabled
  eq(to(MAIN).length, count9, 'deliveries while disabled');
  eq((await client.events.listAttempts(mA)).data.length, 0, `attempts of ${mA} while disabled`);
  await client.events.subscriptions.update(sub.token, { url: RECV + MAIN, disabled: false });
  await client.events.subscriptions.replayMissing(sub.token, { begin: begin9, end: new Date(Date.now() + 60_000).toISOString() });
  await waitFor('the 2 replayed deliveries', () => to(MAIN).length >= count9 + 2);
  await sleep(1_000); // then nothing more
  const replayed = to(MAIN).slice(count9).map((d) => d.headers['webhook-id']);
  eq(replayed, [mA, mB], 'replay_missing deliveries, in order');
  for (const d of to(MAIN).slice(count9)) client.webhooks.verifySignature(d.body, d.headers, secret2);
  pass('9 replayMissing', 'exactly the 2 missed events, in order');

  // -------------------------------------------------------------------------------------------------------
  // 10. send_example
  const count10 = to(MAIN).length;
  await client.events.subscriptions.sendSimulatedExample(sub.token, { event_type: 'card.created' });
  const ex = await waitFor('the example delivery', () => to(MAIN)[count10]);
  const exBody = withSecret.webhooks.unwrap(ex.body, ex.headers, secret2);
  eq(exBody.type, 'card.created', 'example type');
  assert(exBody.data && typeof exBody.data === 'object', `example has no data: ${ex.body}`);
  client.webhooks.verifySignature(ex.body, ex.headers, secret);
  pass('10 sendSimulatedExample', `example ${ex.headers['webhook-id']} verified`);

  // -------------------------------------------------------------------------------------------------------
  // 11. error shapes
  const unknown = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
  let err = await expectThrows('retrieve an unknown subscription', () => client.events.subscriptions.retrieve(unknown));
  assert(err instanceof Lithic.NotFoundError, `unknown subscription: expected NotFoundError, got ${err?.constructor?.name}: ${err}`);
  eq(err.status, 404, 'unknown subscription: status');
  assert(typeof err.error?.message === 'string' && err.error.message, `404 body has no message: ${JSON.stringify(err.error)}`);
  assert(typeof err.error?.debugging_request_id === 'string' && err.error.debugging_request_id, `404 body has no debugging_request_id: ${JSON.stringify(err.error)}`);
  err = await expectThrows('retrieve an unknown event', () => client.events.retrieve(unknown));
  assert(err instanceof Lithic.NotFoundError, `unknown event: expected NotFoundError, got ${err?.constructor?.name}: ${err}`);
  err = await expectThrows('a bad API key', () => sdk({ apiKey: 'hst_not_a_real_token' }).events.subscriptions.retrieve(sub.token));
  assert(err instanceof Lithic.AuthenticationError, `bad key: expected AuthenticationError, got ${err?.constructor?.name}: ${err}`);
  eq(err.status, 401, 'bad key: status');
  err = await expectThrows('create without url', () => client.events.subscriptions.create({ description: 'no url' }));
  assert(err instanceof Lithic.BadRequestError, `create without url: expected BadRequestError, got ${err?.constructor?.name}: ${err}`);
  eq(err.status, 400, 'create without url: status');
  assert(/url/.test(err.error?.message || ''), `create without url: message does not name url: ${JSON.stringify(err.error)}`);
  pass('11 errors', 'NotFoundError 404, AuthenticationError 401, BadRequestError 400');

  // -------------------------------------------------------------------------------------------------------
  // 12. delete
  const del = await client.events.subscriptions.delete(sub.token);
  assert(del === undefined || del === null || del === '', `delete returned ${JSON.stringify(del)}`);
  created.delete(sub.token);
  err = await expectThrows('retrieve a deleted subscription', () => client.events.subscriptions.retrieve(sub.token));
  assert(err instanceof Lithic.NotFoundError, `deleted subscription: expected NotFoundError, got ${err?.constructor?.name}: ${err}`);
  for (const t of extras) {
    await client.events.subscriptions.delete(t);
    created.delete(t);
  }
  const left = [];
  for await (const s of client.events.subscriptions.list({ page_size: 100 })) left.push(s.token);
  for (const t of mine) assert(!left.includes(t), `deleted subscription ${t} still listed`);
  pass('12 delete', 'retrieve gives 404, list no longer shows it');

  // -------------------------------------------------------------------------------------------------------
  // 12b Extension fields (ordering, rate_limit, filter) pass through the SDK unchanged, both ways.
  const ext = await client.events.subscriptions.create({
    url: `${RECV}/ext`, ordering: 'fifo', rate_limit: 25, filter: { 'data.amount': { $gt: 10 } },
  });
  created.add(ext.token);
  eq(ext.ordering, 'fifo', 'create with extensions: ordering');
  eq(ext.rate_limit, 25, 'create with extensions: rate_limit');
  eq(JSON.stringify(ext.filter), '{"data.amount":{"$gt":10}}', 'create with extensions: filter');
  const extUpdated = await client.events.subscriptions.update(ext.token, { ordering: null, rate_limit: 5 });
  eq(extUpdated.ordering, 'none', 'update with extensions: ordering null is none');
  eq(extUpdated.rate_limit, 5, 'update with extensions: rate_limit');
  const extRead = await client.events.subscriptions.retrieve(ext.token);
  eq(extRead.rate_limit, 5, 'retrieve: rate_limit');
  await client.events.subscriptions.delete(ext.token);
  created.delete(ext.token);
  pass('12b extension fields', 'ordering, rate_limit and filter through create, update and retrieve');

  // -------------------------------------------------------------------------------------------------------
  // 13 (only with HOOKSTREAM_ADMIN_TOKEN): a token of several tenants names one with the SDK's defaultHeaders.
  if (ADMIN) {
    const admin = sdk({ apiKey: ADMIN, defaultHeaders: { 'Hookstream-Tenant': TENANT } });
    const got = await admin.events.retrieve(e1);
    eq(got.token, e1, 'admin token + Hookstream-Tenant: events.retrieve');
    err = await expectThrows('admin token without Hookstream-Tenant', () => sdk({ apiKey: ADMIN }).events.retrieve(e1));
    assert(err instanceof Lithic.BadRequestError, `admin token without Hookstream-Tenant: expected BadRequestError, got ${err?.constructor?.name}: ${err}`);
    pass('13 tenant header', 'admin token with defaultHeaders Hookstream-Tenant');
  }
}

let failed = 0;
try {
  await main();
} catch (e) {
  failed = 1;
  console.error(`FAIL: ${e instanceof CheckError ? e.message : e?.stack || e}`);
  if (e instanceof Lithic.APIError) console.error(`  status ${e.status}, body ${JSON.stringify(e.error)}`);
  dumpTrace();
} finally {
  for (const t of created) {
    try {
      await client.events.subscriptions.delete(t);
    } catch {}
  }
  server.close();
  server.closeAllConnections?.();
}
console.log(`lithic SDK ${SDK_VERSION} against ${BASE}, ${elapsed()}`);
console.log(`sdk-check: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
