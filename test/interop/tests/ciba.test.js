// CIBA (OpenID Client-Initiated Backchannel Authentication) driven by openid-client: a bank
// asks for alice's approval with initiateBackchannelAuthentication; the server's notifier tells
// this test's receiver (standing in for the system that reaches the user), alice answers on the
// approval page (tests/html-forms.js plays her browser), and the bank gets its tokens by
// polling (pollBackchannelAuthenticationGrant), after a ping, or pushed to its endpoint.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { client, issuer, configure, rejectsWithOAuthError, env } from './helpers.js';
import { UserAgent, pageKind } from './html-forms.js';

const CIBA = 'urn:openid:params:grant-type:ciba';
const alice = { username: 'alice', password: env('INTEROP_ALICE_PASSWORD') };
const secret = client.ClientSecretBasic(env('INTEROP_SECRET_EXCHANGE'));
const bank = await configure('ciba-poll', secret);
const pingBank = await configure('ciba-ping', client.ClientSecretBasic(env('INTEROP_SECRET_EXCHANGE')));
const pushBank = await configure('ciba-push', client.ClientSecretBasic(env('INTEROP_SECRET_EXCHANGE')));

// The receiver: the notifier's requests (/notify) and the banks' ping and push endpoints.
const received = { notify: [], ping: [], push: [] };
let arrived = () => {};
const receiver = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    const kind = req.url.slice(1);
    received[kind]?.push({ body: JSON.parse(body || '{}'), authorization: req.headers.authorization });
    res.writeHead(204).end();
    arrived();
  });
});
receiver.listen(Number(env('INTEROP_CIBA_PORT')), '127.0.0.1');
await once(receiver, 'listening');
after(() => receiver.close());

/** Waits (up to 10 s) for the nth message of a kind and returns it. */
async function nth(kind, n) {
  const deadline = Date.now() + 10_000;
  while (received[kind].length < n) {
    assert.ok(Date.now() < deadline, `received ${received[kind].length} ${kind} messages, want ${n}`);
    await new Promise((resolve) => { arrived = resolve; setTimeout(resolve, 200); });
  }
  return received[kind][n - 1];
}

/** Alice opens the approval link she was sent, signs in and answers. */
async function aliceAnswers(approvalURI, decision, bindingMessage) {
  const browser = new UserAgent();
  let { page } = await browser.open(approvalURI);
  assert.equal(pageKind(page), 'login');
  ({ page } = await browser.submit(page, { decision: 'approve', values: alice }));
  assert.equal(pageKind(page), 'consent', page.text.slice(0, 300));
  if (bindingMessage) assert.match(page.text, new RegExp(bindingMessage), 'the consent page shows the binding message');
  ({ page } = await browser.submit(page, { decision }));
  return page;
}

test('discovery advertises CIBA', () => {
  const m = bank.serverMetadata();
  assert.equal(m.backchannel_authentication_endpoint, `${issuer}/bc-authorize`);
  assert.deepEqual(m.backchannel_token_delivery_modes_supported, ['poll', 'ping', 'push']);
  assert.ok(m.grant_types_supported.includes(CIBA));
});

test('poll mode: the bank polls until alice approves', async () => {
  const response = await client.initiateBackchannelAuthentication(bank, {
    scope: 'openid profile offline_access', login_hint: 'alice', binding_message: 'Transfer 250 EUR',
  });
  assert.equal(response.interval, 1);
  const polling = client.pollBackchannelAuthenticationGrant(bank, response);
  const note = (await nth('notify', 1)).body;
  assert.equal(note.username, 'alice');
  assert.equal(note.binding_message, 'Transfer 250 EUR');
  assert.equal(note.auth_req_id, undefined, 'the notifier never sees the auth_req_id');
  const done = await aliceAnswers(note.approval_uri, 'approve', 'Transfer 250 EUR');
  assert.match(done.text, /You approved the request/);
  const tokens = await polling;
  assert.ok(tokens.refresh_token);
  assert.equal(tokens.claims().aud, 'ciba-poll');
  await rejectsWithOAuthError(client.genericGrantRequest(bank, CIBA, { auth_req_id: response.auth_req_id }), { error: 'invalid_grant', status: 400 });
});

test('poll mode: denied, and the errors before a decision', async () => {
  const response = await client.initiateBackchannelAuthentication(bank, { scope: 'openid', login_hint: 'alice' });
  const poll = () => client.genericGrantRequest(bank, CIBA, { auth_req_id: response.auth_req_id });
  await rejectsWithOAuthError(poll(), { error: 'authorization_pending', status: 400 });
  await rejectsWithOAuthError(poll(), { error: 'slow_down', status: 400 });
  const note = (await nth('notify', 2)).body;
  await aliceAnswers(note.approval_uri, 'deny');
  await rejectsWithOAuthError(client.pollBackchannelAuthenticationGrant(bank, response), { error: 'access_denied', status: 400 });
});

test('ping mode: the bank is told, then fetches its tokens', async () => {
  const response = await client.initiateBackchannelAuthentication(pingBank, {
    scope: 'openid read', login_hint: 'alice', client_notification_token: 'ping-token-0123456789',
  });
  const note = (await nth('notify', 3)).body;
  await aliceAnswers(note.approval_uri, 'approve');
  const ping = await nth('ping', 1);
  assert.equal(ping.authorization, 'Bearer ping-token-0123456789');
  assert.deepEqual(ping.body, { auth_req_id: response.auth_req_id });
  const tokens = await client.genericGrantRequest(pingBank, CIBA, { auth_req_id: ping.body.auth_req_id });
  assert.ok(tokens.access_token && tokens.id_token);
});

test('push mode: the tokens come to the bank', async () => {
  const response = await client.initiateBackchannelAuthentication(pushBank, {
    scope: 'openid read', login_hint: 'alice', client_notification_token: 'push-token-0123456789',
  });
  assert.equal(response.interval, undefined);
  await rejectsWithOAuthError(client.genericGrantRequest(pushBank, CIBA, { auth_req_id: response.auth_req_id }),
    { error: 'unauthorized_client', status: 400 });
  const note = (await nth('notify', 4)).body;
  await aliceAnswers(note.approval_uri, 'approve');
  const push = await nth('push', 1);
  assert.equal(push.authorization, 'Bearer push-token-0123456789');
  assert.equal(push.body.auth_req_id, response.auth_req_id);
  assert.ok(push.body.access_token && push.body.id_token);
  const [, payload] = push.body.id_token.split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  assert.equal(claims['urn:openid:params:jwt:claim:auth_req_id'], response.auth_req_id);
  assert.ok(claims.at_hash);
});

test('backchannel authentication request errors', async () => {
  const start = (params) => client.initiateBackchannelAuthentication(bank, params);
  await rejectsWithOAuthError(start({ scope: 'openid', login_hint: 'nobody-here' }), { error: 'unknown_user_id', status: 400 });
  await rejectsWithOAuthError(start({ scope: 'openid' }), { error: 'invalid_request', status: 400 });
  await rejectsWithOAuthError(start({ scope: 'read', login_hint: 'alice' }), { error: 'invalid_request', status: 400 });
  await rejectsWithOAuthError(start({ scope: 'openid admin', login_hint: 'alice' }), { error: 'invalid_scope', status: 400 });
  await rejectsWithOAuthError(start({ scope: 'openid', login_hint: 'alice', binding_message: 'x'.repeat(101) }),
    { error: 'invalid_binding_message', status: 400 });
  await rejectsWithOAuthError(client.initiateBackchannelAuthentication(pingBank, { scope: 'openid', login_hint: 'alice' }),
    { error: 'invalid_request', status: 400 });
  const expiring = await start({ scope: 'openid', login_hint: 'alice', requested_expiry: '2' });
  await new Promise((resolve) => setTimeout(resolve, 2500));
  await rejectsWithOAuthError(client.genericGrantRequest(bank, CIBA, { auth_req_id: expiring.auth_req_id }), { error: 'expired_token', status: 400 });
});
