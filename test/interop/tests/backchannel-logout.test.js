// OpenID Connect Back-Channel Logout 1.0: a relying party's logout endpoint (a node http server
// on loopback, the client's backchannel_logout_uri in test/interop/Caddyfile) receives the
// logout token when the user signs out, and checks it the way an RP must (§2.6) with jose:
// signature against the server's jwks_uri, typ logout+jwt, iss, aud, iat/exp, the events
// member, sid equal to the ID token's (the client registered
// backchannel_logout_session_required), and no nonce.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { client, jose, issuer, configure, env } from './helpers.js';
import { UserAgent, authorizeThroughPages, pageKind } from './html-forms.js';

const clientId = 'backchannel-app';
const redirectUri = `${issuer}/cb`;
const alice = { username: 'alice', password: env('INTEROP_ALICE_PASSWORD') };
const app = await configure(clientId, client.ClientSecretBasic(env('INTEROP_SECRET_BACKCHANNEL')));
const metadata = app.serverMetadata();
const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));

// The RP's back-channel logout endpoint: it records each request and answers as §2.8 says
// (200, Cache-Control: no-store).
const received = [];
let arrived = () => {};
const rp = createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk) => { body += chunk; });
  req.on('end', () => {
    received.push({ method: req.method, path: req.url, contentType: req.headers['content-type'], form: new URLSearchParams(body) });
    res.writeHead(200, { 'cache-control': 'no-store' }).end();
    arrived();
  });
});
rp.listen(Number(env('INTEROP_BACKCHANNEL_PORT')), '127.0.0.1');
await once(rp, 'listening');
after(() => rp.close());

/** Waits (up to 10 s) until the RP has received n requests. */
async function waitForRequests(n) {
  const deadline = Date.now() + 10_000;
  while (received.length < n) {
    assert.ok(Date.now() < deadline, `the RP received ${received.length} logout requests, want ${n}`);
    await new Promise((resolve) => {
      arrived = resolve;
      setTimeout(resolve, 100);
    });
  }
  return received;
}

/** Signs alice in to the app through the server's pages and redeems the code with openid-client. */
async function signIn(browser) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(app, {
    redirect_uri: redirectUri,
    scope: 'openid',
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
  });
  const { result } = await authorizeThroughPages(browser, url, { login: alice });
  assert.ok(result.redirect, 'a redirect back to the app');
  return client.authorizationCodeGrant(app, result.redirect, { pkceCodeVerifier, expectedState: state, expectedNonce: nonce });
}

test('discovery advertises back-channel logout with sid', () => {
  assert.equal(metadata.backchannel_logout_supported, true);
  assert.equal(metadata.backchannel_logout_session_supported, true);
});

test('signing out sends the app a logout token that jose verifies against the JWKS', async () => {
  const browser = new UserAgent({ stopAt: [redirectUri] });
  const tokens = await signIn(browser);
  const idClaims = tokens.claims();
  assert.ok(idClaims.sid, 'the ID token carries the session id');
  assert.equal(received.length, 0, 'nothing is sent while the session lives');

  const confirm = await browser.open(client.buildEndSessionUrl(app, { id_token_hint: tokens.id_token }));
  assert.ok(confirm.page && pageKind(confirm.page) === 'logout', 'the sign-out confirmation page');
  const done = await browser.submit(confirm.page, { decision: 'approve' });
  assert.equal(done.page?.status, 200, 'the signed-out page');

  const [request] = await waitForRequests(1);
  assert.equal(request.method, 'POST');
  assert.equal(request.path, '/backchannel-logout');
  assert.equal(request.contentType, 'application/x-www-form-urlencoded');
  assert.deepEqual([...request.form.keys()], ['logout_token']);

  const logoutToken = request.form.get('logout_token');
  const { payload, protectedHeader } = await jose.jwtVerify(logoutToken, jwks, {
    issuer,
    audience: clientId,
    typ: 'logout+jwt',
    algorithms: ['RS256'], // the app's id_token_signed_response_alg (the default)
    requiredClaims: ['iat', 'exp', 'jti', 'events', 'sid', 'sub'],
    maxTokenAge: '2 minutes',
  });
  assert.equal(protectedHeader.alg, 'RS256');
  assert.ok(protectedHeader.kid, 'a kid of the JWKS');
  assert.deepEqual(payload.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });
  assert.equal(payload.sid, idClaims.sid, 'the ended session is the one of the ID token');
  assert.equal(payload.sub, idClaims.sub);
  assert.equal(payload.nonce, undefined, 'a logout token never has a nonce (§2.4)');
  assert.ok(payload.exp > payload.iat && payload.exp - payload.iat <= 120, 'a short lifetime');
  assert.ok(payload.jti.length >= 22, 'a unique jti');

  // Explicit typing keeps a logout token from passing as an ID token (typ JWT).
  await assert.rejects(jose.jwtVerify(logoutToken, jwks, { issuer, audience: clientId, typ: 'JWT' }));
});

test('a session that signed in to the app again gets its own token; nothing is sent twice', async () => {
  const before = received.length;
  const browser = new UserAgent({ stopAt: [redirectUri] });
  const tokens = await signIn(browser);
  const confirm = await browser.open(client.buildEndSessionUrl(app, { id_token_hint: tokens.id_token }));
  await browser.submit(confirm.page, { decision: 'approve' });
  const all = await waitForRequests(before + 1);
  const { payload } = await jose.jwtVerify(all[before].form.get('logout_token'), jwks, { issuer, audience: clientId, typ: 'logout+jwt' });
  assert.equal(payload.sid, tokens.claims().sid);
  const jtis = all.map((r) => jose.decodeJwt(r.form.get('logout_token')).jti);
  assert.equal(new Set(jtis).size, jtis.length, 'every logout token has its own jti');
  await new Promise((resolve) => setTimeout(resolve, 1500)); // a retry would have come by now
  assert.equal(received.length, before + 1, 'the accepted token is not sent again');
});
