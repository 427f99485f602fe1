// DPoP (RFC 9449 §7) at the oauth_resource gateway: openid-client obtains a DPoP-bound token
// and calls the protected API with the same DPoP handle, which builds each proof (htm, htu,
// ath) and does the gateway's use_dpop_nonce round trip; raw requests with proofs signed by
// jose cover what a well-behaved client never sends: replays and proofs for another request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  client, jose, issuer, resources, clients, gatewayConfig, challengesOf, assertChallenge,
} from './helpers.js';

/** Reads the upstream's key=value lines. */
async function upstreamSaw(response) {
  const text = await response.text();
  return Object.fromEntries(text.trim().split('\n').map((line) => {
    const at = line.indexOf('=');
    return [line.slice(0, at).trim(), line.slice(at + 1)];
  }));
}

/**
 * A gateway-client configuration whose requests to the gateway are recorded (URL, status,
 * challenge), so tests can see openid-client's nonce round trip happen.
 */
async function recordingConfig() {
  const config = await gatewayConfig();
  const exchanges = [];
  config[client.customFetch] = async (url, options) => {
    const res = await fetch(url, options);
    if (!String(url).startsWith(`${issuer}/token`)) {
      exchanges.push({ url: String(url), status: res.status, challenges: challengesOf(res) });
    }
    return res;
  };
  return { config, exchanges };
}

/** A DPoP-bound access token of gateway-client for resource, with its key pair and handle. */
async function dpopToken(config, resource, scope = 'read') {
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const handle = client.getDPoPHandle(config, keyPair);
  const tokens = await client.clientCredentialsGrant(config, { resource, scope }, { DPoP: handle });
  assert.equal(tokens.token_type, 'dpop', 'the token is DPoP-bound');
  return { token: tokens.access_token, keyPair, handle };
}

test('a DPoP-bound token reaches the upstream through fetchProtectedResource, after the nonce round trip', async () => {
  const { config, exchanges } = await recordingConfig();
  const { token, handle } = await dpopToken(config, resources.gatewayDPoP);
  const url = new URL('/dpop-api/things?page=2', issuer);

  const res = await client.fetchProtectedResource(config, token, url, 'GET', undefined, undefined, { DPoP: handle });
  assert.equal(res.status, 200);
  const saw = await upstreamSaw(res);
  assert.equal(saw.sub, clients.gateway.id);
  assert.equal(saw.path, '/dpop-api/things');
  assert.equal(saw.authorization, '', 'the access token is not forwarded upstream');
  assert.equal(saw.dpop, '', 'nor the proof');

  // The handle's nonce for this origin came from the AS, whose nonces this gateway does not
  // accept: one refusal with use_dpop_nonce, then the retry with the gateway's nonce passes.
  assert.deepEqual(exchanges.map((e) => e.status), [401, 200]);
  const [refused] = exchanges;
  assert.equal(refused.challenges.find((c) => c.scheme === 'dpop')?.params.error, 'use_dpop_nonce');

  // The nonce is now cached in the handle: the next call needs no retry.
  const again = await client.fetchProtectedResource(config, token, url, 'GET', undefined, undefined, { DPoP: handle });
  assert.equal(again.status, 200);
  assert.deepEqual(exchanges.map((e) => e.status), [401, 200, 200]);
});

test('a DPoP-bound token also works with its proof where Bearer is allowed, and a POST gets its own proof', async () => {
  const config = await gatewayConfig();
  const { token, handle } = await dpopToken(config, resources.gateway, 'read write');
  const opts = { DPoP: handle };
  const get = await client.fetchProtectedResource(config, token, new URL('/api/a', issuer), 'GET', undefined, undefined, opts);
  assert.equal(get.status, 200);
  const post = await client.fetchProtectedResource(config, token, new URL('/api/b', issuer), 'POST', 'x=1', undefined, opts);
  assert.equal(post.status, 200);
  assert.equal((await upstreamSaw(post)).method, 'POST');
});

// The error goes in the DPoP challenge, the scheme the token needs (RFC 9449 §7.1); where
// Bearer is allowed its challenge stays bare, so a client is not told to retry as Bearer.
test('a DPoP-bound token presented with the Bearer scheme: 401 invalid_token in the DPoP challenge', async (t) => {
  const config = await gatewayConfig();
  const cases = [
    { name: 'where Bearer is allowed', resource: resources.gateway, path: '/api/things', bearer: true },
    { name: 'where DPoP is required', resource: resources.gatewayDPoP, path: '/dpop-api/things', bearer: false },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const { token } = await dpopToken(config, c.resource);
      // Without the DPoP option openid-client sends "Authorization: Bearer" and no proof.
      const err = await client
        .fetchProtectedResource(config, token, new URL(c.path, issuer), 'GET')
        .then(() => assert.fail('a Bearer presentation of a DPoP-bound token passed'), (e) => e);
      assert.ok(err instanceof client.WWWAuthenticateChallengeError, `challenge error, got ${err}`);
      assertChallenge(err.response, { status: 401, scheme: 'dpop', error: 'invalid_token' });
      const bearer = challengesOf(err.response).find((ch) => ch.scheme === 'bearer');
      assert.equal(Boolean(bearer), c.bearer, 'a Bearer challenge only where Bearer is allowed');
      if (bearer) assert.equal(bearer.params.error, undefined);
    });
  }
});

// Raw requests: the proofs are signed here with the token's key, so only the claim under test
// is wrong.
test('raw DPoP requests: nonce round trip, a proof is good once, proofs for another request fail', async (t) => {
  const config = await gatewayConfig();
  const { token, keyPair } = await dpopToken(config, resources.gatewayDPoP);
  const url = `${issuer}/dpop-api/things`;
  const ath = createHash('sha256').update(token).digest('base64url');
  const jwk = await jose.exportJWK(keyPair.publicKey);

  const proof = (claims = {}, key = { privateKey: keyPair.privateKey, jwk }) =>
    new jose.SignJWT({ htm: 'GET', htu: url, jti: crypto.randomUUID(), ath, ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.jwk })
      .setIssuedAt()
      .sign(key.privateKey);
  const call = (dpop, { method = 'GET', target = url } = {}) =>
    fetch(target, { method, headers: { authorization: `DPoP ${token}`, dpop } });

  // Without a nonce the gateway demands one (RFC 9449 §9) and hands it over.
  const first = await call(await proof());
  assertChallenge(first, { status: 401, scheme: 'dpop', error: 'use_dpop_nonce' });
  const nonce = first.headers.get('dpop-nonce');
  assert.ok(nonce, 'use_dpop_nonce comes with a DPoP-Nonce header');

  await t.test('a proof with the nonce passes once; replayed it is refused', async () => {
    const good = await proof({ nonce });
    const ok = await call(good);
    assert.equal(ok.status, 200);
    assert.equal((await upstreamSaw(ok)).sub, clients.gateway.id);
    const replay = await call(good);
    assertChallenge(replay, { status: 401, scheme: 'dpop', error: 'invalid_dpop_proof' });
  });

  await t.test('the query is not part of htu', async () => {
    const ok = await call(await proof({ nonce }), { target: `${url}?page=2` });
    assert.equal(ok.status, 200);
  });

  const other = await jose.generateKeyPair('ES256', { extractable: true });
  const otherKey = { privateKey: other.privateKey, jwk: await jose.exportJWK(other.publicKey) };
  const bad = [
    { name: 'htu of another path', claims: { htu: `${issuer}/dpop-api/other` } },
    { name: 'htu of another origin', claims: { htu: 'https://evil.example/dpop-api/things' } },
    { name: 'htm POST sent with GET', claims: { htm: 'POST' } },
    { name: 'htm GET sent with POST', claims: {}, request: { method: 'POST' } },
    { name: 'ath of another token', claims: { ath: createHash('sha256').update('other').digest('base64url') } },
    { name: 'a key the token is not bound to', claims: {}, key: otherKey },
  ];
  for (const c of bad) {
    await t.test(`${c.name}: 401`, async () => {
      const res = await call(await proof({ nonce, ...c.claims }, c.key), c.request);
      assert.equal(res.status, 401);
      const dpop = challengesOf(res).find((ch) => ch.scheme === 'dpop');
      assert.ok(dpop, `DPoP challenge in ${res.headers.get('www-authenticate')}`);
      // A proof for another key is a valid proof of the wrong holder: RFC 9449 §7.1 lets that
      // be reported as either error.
      const allowed = c.key ? ['invalid_dpop_proof', 'invalid_token'] : ['invalid_dpop_proof'];
      assert.ok(allowed.includes(dpop.params.error), `error ${dpop.params.error}`);
    });
  }
});
