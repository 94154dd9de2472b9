// Reproduces the server behaviours found while writing check.mjs that a Lithic SDK user would not expect.
// Same environment as check.mjs (HOOKSTREAM_URL, HOOKSTREAM_TOKEN, HOOKSTREAM_TENANT). Prints one line per
// quirk, "present" or "absent"; exit status 1 while any is present. Not part of the pass/fail SDK check.

import http from 'node:http';
import { once } from 'node:events';
import Lithic from 'lithic';

const BASE = (process.env.HOOKSTREAM_URL || '').replace(/\/+$/, '');
const TOKEN = process.env.HOOKSTREAM_TOKEN || '';
const TENANT = process.env.HOOKSTREAM_TENANT || '';
if (!BASE || !TOKEN || !TENANT) {
  console.error('quirks: set HOOKSTREAM_URL, HOOKSTREAM_TOKEN and HOOKSTREAM_TENANT');
  process.exit(2);
}
const client = new Lithic({ apiKey: TOKEN, baseURL: BASE, maxRetries: 0 });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const got = [];
let status = 200;
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    got.push({ id: req.headers['webhook-id'], status, at: Date.now() });
    res.writeHead(status);
    res.end('x');
  });
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const url = `http://127.0.0.1:${server.address().port}/q`;

async function ingest() {
  const res = await fetch(`${BASE}/event/${TENANT}/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'card.created', data: { quirk: true } }),
  });
  return (await res.json()).locator;
}
async function arrives(n, ms) {
  const deadline = Date.now() + ms;
  while (got.length < n && Date.now() < deadline) await sleep(10);
  return got.length >= n;
}
async function failedAttempts(event) {
  return (await client.events.listAttempts(event, { status: 'FAILED' })).data.length;
}

let present = 0;
function report(name, isPresent, detail) {
  if (isPresent) present++;
  console.log(`${isPresent ? 'present' : 'absent '}  ${name}${detail ? `: ${detail}` : ''}`);
}

const sub = await client.events.subscriptions.create({ url, event_types: ['card.created'] });
try {
  // 1. A resend issued right after the previous delivery arrived (before its attempt is recorded) answers
  //    202 and sends nothing: it is deduplicated on the event's latest recorded attempt.
  const e = await ingest();
  await arrives(1, 3000);
  let lost = 0;
  for (let i = 0; i < 10; i++) {
    const n = got.length;
    await client.events.resend(e, { eventSubscriptionToken: sub.token });
    if (!(await arrives(n + 1, 3000))) lost++;
  }
  report('resend right after the previous delivery is dropped', lost > 0, `${lost} of 10 resends (each 202) delivered nothing within 3 s`);

  // 2. recover with the same begin/end twice within the duplicate window: the second answers 202 and runs
  //    nothing, even though the event failed again in between.
  got.length = 0;
  status = 500;
  const begin = new Date().toISOString();
  const f = await ingest();
  await arrives(1, 3000);
  while ((await failedAttempts(f)) < 1) await sleep(30);
  await client.events.subscriptions.recover(sub.token, { begin });
  await arrives(2, 3000);
  while ((await failedAttempts(f)) < 2) await sleep(30);
  status = 200;
  await client.events.subscriptions.recover(sub.token, { begin });
  const again = await arrives(3, 3000);
  report('a repeated recover with the same window is dropped', !again, again ? '' : 'second recover (202) sent nothing within 3 s');

  // 3. A Lithic-style (UUID) token that does not exist is a 400 BadRequestError, not a 404 NotFoundError.
  try {
    await client.events.subscriptions.retrieve('6f1c5f3e-0d7e-4c55-9a36-2a3f1b2c9d10');
    report('unknown UUID token', false);
  } catch (err) {
    report('an unknown UUID-shaped token is 400, not 404', !(err instanceof Lithic.NotFoundError), `${err.status} ${err.constructor.name} ${JSON.stringify(err.error)}`);
  }
} finally {
  await client.events.subscriptions.delete(sub.token).catch(() => {});
  server.close();
  server.closeAllConnections?.();
}
process.exit(present ? 1 : 0);
