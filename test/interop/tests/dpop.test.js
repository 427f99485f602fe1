// DPoP (RFC 9449) at the token endpoint, driven by openid-client's DPoP handle: sender-constrained
// tokens, the server-nonce round trip (this server demands nonces), resource policy, replay.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  client, jose, issuer, resources, clients, basicConfig, resourceServerConfig, verifyAccessToken,
  rejectsWithOAuthError, postForm, basicAuthorization,
} from './helpers.js';

async function thumbprint(keyPair) {
  return jose.calculateJwkThumbprint(await jose.exportJWK(keyPair.publicKey), 'sha256');
}

test('client_credentials with a DPoP handle gets a DPoP-bound JWT (nonce retried by openid-client)', async () => {
  const config = await basicConfig();
  const keyPair = await client.randomDPoPKeyPair();
  const tokens = await client.clientCredentialsGrant(config, { resource: resources.es256, scope: 'read' }, {
    DPoP: client.getDPoPHandle(config, keyPair),
  });
  assert.equal(tokens.token_type, 'dpop');
  const { payload } = await verifyAccessToken(tokens.access_token, { audience: resources.es256, alg: 'ES256' });
  assert.equal(payload.cnf?.jkt, await thumbprint(keyPair));
});

test('an opaque DPoP-bound token shows its binding in introspection', async () => {
  const config = await basicConfig();
  const keyPair = await client.randomDPoPKeyPair();
  const tokens = await client.clientCredentialsGrant(config, { resource: resources.opaque, scope: 'read' }, {
    DPoP: client.getDPoPHandle(config, keyPair),
  });
  assert.equal(tokens.token_type, 'dpop');
  const info = await client.tokenIntrospection(await resourceServerConfig(), tokens.access_token);
  assert.equal(info.active, true);
  assert.equal(info.token_type, 'DPoP');
  assert.equal(info.cnf?.jkt, await thumbprint(keyPair));
});

test('a resource that requires DPoP refuses a Bearer token request and accepts a DPoP one', async () => {
  const config = await basicConfig();
  await rejectsWithOAuthError(client.clientCredentialsGrant(config, { resource: resources.dpop, scope: 'read' }), {
    error: 'invalid_dpop_proof',
    status: 400,
  });
  const tokens = await client.clientCredentialsGrant(config, { resource: resources.dpop, scope: 'read' }, {
    DPoP: client.getDPoPHandle(config, await client.randomDPoPKeyPair()),
  });
  assert.equal(tokens.token_type, 'dpop');
});

test('a DPoP proof is accepted once; the nonce round trip works with raw requests too', async () => {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const jwk = await jose.exportJWK(publicKey);
  const tokenEndpoint = `${issuer}/token`;
  const proof = (nonce) =>
    new jose.SignJWT({ htm: 'POST', htu: tokenEndpoint, jti: crypto.randomUUID(), ...(nonce ? { nonce } : {}) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
      .setIssuedAt()
      .sign(privateKey);
  const auth = { authorization: basicAuthorization(clients.basic.id, clients.basic.secret) };
  const params = { grant_type: 'client_credentials', resource: resources.es256, scope: 'read' };

  const first = await postForm(tokenEndpoint, params, { ...auth, dpop: await proof() });
  assert.equal(first.status, 400);
  assert.equal((await first.json()).error, 'use_dpop_nonce');
  const nonce = first.headers.get('dpop-nonce');
  assert.ok(nonce, 'use_dpop_nonce comes with a DPoP-Nonce header');

  const withNonce = await proof(nonce);
  const ok = await postForm(tokenEndpoint, params, { ...auth, dpop: withNonce });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).token_type, 'DPoP');

  const replay = await postForm(tokenEndpoint, params, { ...auth, dpop: withNonce });
  assert.equal(replay.status, 400);
  assert.equal((await replay.json()).error, 'invalid_dpop_proof');
});

test('discovery advertises the DPoP algorithms', async () => {
  const config = await basicConfig();
  const algs = config.serverMetadata().dpop_signing_alg_values_supported;
  assert.ok(Array.isArray(algs) && algs.includes('ES256') && !algs.includes('none'));
});
