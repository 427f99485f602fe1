// The oauth_resource gateway with Bearer tokens (RFC 6750, RFC 9068, RFC 9728): openid-client
// obtains a token from oauth_server and calls the API that the same Caddy protects in front of
// an echo upstream, which shows what the gateway forwarded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  client, issuer, resources, clients, gatewayConfig, challengesOf, assertChallenge,
} from './helpers.js';

const api = (path) => new URL(`/api${path}`, issuer);
const metadataURL = `${issuer}/.well-known/oauth-protected-resource/api`;

/** Reads the upstream's key=value lines. */
async function upstreamSaw(response) {
  const text = await response.text();
  return Object.fromEntries(text.trim().split('\n').map((line) => {
    const at = line.indexOf('=');
    return [line.slice(0, at).trim(), line.slice(at + 1)];
  }));
}

/** A client_credentials access token of gateway-client. */
async function tokenFor(config, resource, scope) {
  return (await client.clientCredentialsGrant(config, { resource, scope })).access_token;
}

/**
 * Awaits a fetchProtectedResource call the gateway must refuse: openid-client throws a
 * WWWAuthenticateChallengeError for any challenge; the response it keeps is returned.
 */
async function refusal(promise) {
  const err = await promise.then(
    (res) => assert.fail(`expected a challenge, got HTTP ${res.status}`),
    (e) => e,
  );
  assert.ok(err instanceof client.WWWAuthenticateChallengeError, `challenge error, got ${err}`);
  return err.response;
}

test('a Bearer JWT reaches the upstream with the identity headers and without its credentials', async () => {
  const config = await gatewayConfig();
  const token = await tokenFor(config, resources.gateway, 'read');
  const res = await client.fetchProtectedResource(config, token, api('/things?page=2'), 'GET');
  assert.equal(res.status, 200);
  const saw = await upstreamSaw(res);
  assert.equal(saw.method, 'GET');
  assert.equal(saw.path, '/api/things');
  assert.equal(saw.sub, clients.gateway.id, 'X-Sub is the client (RFC 9068 §2.2 for client_credentials)');
  assert.equal(saw.client_id, clients.gateway.id);
  assert.equal(saw.scope, 'read');
  assert.equal(saw.authorization, '', 'the access token is not forwarded upstream');
  assert.equal(saw.dpop, '');
});

test('identity headers forged by the caller are replaced, never forwarded', async () => {
  const config = await gatewayConfig();
  const token = await tokenFor(config, resources.gateway, 'read');
  const forged = new Headers({ 'x-sub': 'admin', 'x-client-id': 'admin', 'x-scope': 'read write admin' });
  const res = await client.fetchProtectedResource(config, token, api('/things'), 'GET', undefined, forged);
  assert.equal(res.status, 200);
  const saw = await upstreamSaw(res);
  assert.equal(saw.sub, clients.gateway.id);
  assert.equal(saw.client_id, clients.gateway.id);
  assert.equal(saw.scope, 'read');
});

test('no token: 401 with a bare Bearer challenge naming the RFC 9728 metadata, which is served', async () => {
  const res = await fetch(api('/things'));
  assert.equal(res.status, 401);
  const challenges = challengesOf(res);
  const bearer = challenges.find((c) => c.scheme === 'bearer');
  assert.ok(bearer, `Bearer challenge in ${res.headers.get('www-authenticate')}`);
  // RFC 6750 §3.1: a request without credentials gets no error code.
  assert.equal(bearer.params.error, undefined);
  assert.equal(bearer.params.resource_metadata, metadataURL);
  assert.equal(res.headers.get('dpop-nonce'), null, 'this gateway demands no DPoP nonces');

  const meta = await fetch(bearer.params.resource_metadata);
  assert.equal(meta.status, 200);
  assert.match(meta.headers.get('content-type'), /^application\/json/);
  const doc = await meta.json();
  assert.equal(doc.resource, resources.gateway);
  assert.ok(doc.authorization_servers.includes(issuer), `authorization_servers ${doc.authorization_servers}`);
  assert.deepEqual([...doc.scopes_supported].sort(), ['read', 'write']);
  assert.deepEqual(doc.bearer_methods_supported, ['header']);
  assert.notEqual(doc.dpop_bound_access_tokens_required, true);
});

test('the DPoP-only API challenges with DPoP alone and says so in its metadata', async () => {
  const res = await fetch(new URL('/dpop-api/things', issuer));
  assert.equal(res.status, 401);
  const challenges = challengesOf(res);
  assert.deepEqual(challenges.map((c) => c.scheme), ['dpop'], 'no Bearer challenge where DPoP is required');
  const [dpop] = challenges;
  assert.ok(dpop.params.algs.split(' ').includes('ES256'), `algs ${dpop.params.algs}`);
  assert.equal(dpop.params.resource_metadata, `${issuer}/.well-known/oauth-protected-resource/dpop-api`);

  const doc = await (await fetch(dpop.params.resource_metadata)).json();
  assert.equal(doc.resource, resources.gatewayDPoP);
  assert.ok(doc.authorization_servers.includes(issuer));
  assert.equal(doc.dpop_bound_access_tokens_required, true);
  assert.ok(doc.dpop_signing_alg_values_supported.includes('ES256'));
  assert.ok(!doc.dpop_signing_alg_values_supported.includes('none'));
});

test('tokens the gateway must not accept: 401 invalid_token with a Bearer challenge', async (t) => {
  const config = await gatewayConfig();
  const cases = [
    { name: 'a token for another resource (wrong audience)', token: () => tokenFor(config, resources.es256, 'read') },
    { name: 'a token that is not one', token: async () => 'not-a-token' },
    {
      name: 'a JWT whose signature was altered',
      token: async () => {
        const jwt = await tokenFor(config, resources.gateway, 'read');
        const sig = jwt.slice(jwt.lastIndexOf('.') + 1);
        return jwt.slice(0, -sig.length) + (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
      },
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const res = await refusal(client.fetchProtectedResource(config, await c.token(), api('/things'), 'GET'));
      const bearer = assertChallenge(res, { status: 401, scheme: 'bearer', error: 'invalid_token' });
      assert.equal(bearer.params.resource_metadata, metadataURL);
    });
  }
});

test('a rule needing scope write: 403 insufficient_scope scope="write" without it, 200 with it', async () => {
  const config = await gatewayConfig();
  const readOnly = await tokenFor(config, resources.gateway, 'read');
  const res = await refusal(client.fetchProtectedResource(config, readOnly, api('/things'), 'POST', 'x=1'));
  assertChallenge(res, { status: 403, scheme: 'bearer', error: 'insufficient_scope', scope: 'write' });

  // The rule applies to writes only, and a token with write passes it.
  const readable = await client.fetchProtectedResource(config, readOnly, api('/things'), 'GET');
  assert.equal(readable.status, 200);
  const readWrite = await tokenFor(config, resources.gateway, 'read write');
  const ok = await client.fetchProtectedResource(config, readWrite, api('/things'), 'POST', 'x=1');
  assert.equal(ok.status, 200);
  const saw = await upstreamSaw(ok);
  assert.equal(saw.method, 'POST');
  assert.deepEqual(saw.scope.split(' ').sort(), ['read', 'write']);
});

test('a token without the handler-wide scope read: 403 insufficient_scope scope="read"', async () => {
  const config = await gatewayConfig();
  const writeOnly = await tokenFor(config, resources.gateway, 'write');
  const res = await refusal(client.fetchProtectedResource(config, writeOnly, api('/things'), 'GET'));
  assertChallenge(res, { status: 403, scheme: 'bearer', error: 'insufficient_scope', scope: 'read' });
});

test('a revoked token is refused at once (in-process validation, no cache to wait out)', async () => {
  const config = await gatewayConfig();
  const token = await tokenFor(config, resources.gateway, 'read');
  const before = await client.fetchProtectedResource(config, token, api('/things'), 'GET');
  assert.equal(before.status, 200, 'valid before revocation (and now in any verified-token cache)');
  await client.tokenRevocation(config, token);
  const res = await refusal(client.fetchProtectedResource(config, token, api('/things'), 'GET'));
  assertChallenge(res, { status: 401, scheme: 'bearer', error: 'invalid_token' });
});
