// The client_credentials grant with every client authentication method, and the access
// tokens it yields: RFC 9068 JWTs verified against the served JWKS, and opaque tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  client,
  clients,
  configure,
  jose,
  privateKeyJwtKey,
  oauthErrorOf,
  resources,
  verifyAccessToken,
} from './helpers.js';

const authenticatedClients = [
  { method: 'client_secret_basic', id: clients.basic.id, auth: () => client.ClientSecretBasic(clients.basic.secret) },
  { method: 'client_secret_post', id: clients.post.id, auth: () => client.ClientSecretPost(clients.post.secret) },
  { method: 'client_secret_jwt', id: clients.secretJwt.id, auth: () => client.ClientSecretJwt(clients.secretJwt.secret) },
  { method: 'private_key_jwt', id: clients.privateKeyJwt.id, auth: async () => client.PrivateKeyJwt(await privateKeyJwtKey()) },
];

for (const { method, id, auth } of authenticatedClients) {
  test(`client_credentials with ${method} yields a verifiable ES256 at+jwt`, async () => {
    const config = await configure(id, await auth());
    const tokens = await client.clientCredentialsGrant(config, { resource: resources.es256, scope: 'read' });

    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.expiresIn() > 0 && tokens.expiresIn() <= 3600, `expires_in ${tokens.expiresIn()}`);
    assert.equal(tokens.refresh_token, undefined, 'no refresh token for client_credentials (RFC 6749 §4.4.3)');
    if (tokens.scope !== undefined) assert.equal(tokens.scope, 'read');

    const { payload, header } = await verifyAccessToken(tokens.access_token, { audience: resources.es256, alg: 'ES256' });
    assert.ok(header.kid, 'header names its kid');
    assert.equal(payload.client_id, id);
    assert.equal(payload.sub, id, 'RFC 9068 §2.2: sub is the client for client_credentials');
    assert.equal(payload.scope, 'read');
    assert.equal(payload.tenant, 'acme', 'custom string claim');
    assert.deepEqual(payload.roles, ['reader', 'auditor'], 'custom JSON claim');
    assert.ok(payload.exp > payload.iat, 'exp after iat');
    assert.ok(Math.abs(payload.iat - Date.now() / 1000) < 60, 'iat is now');
  });
}

// What openid-client v6 puts in its client assertions: the issuer identifier as a plain
// string, the only aud this server accepts by default (draft-ietf-oauth-rfc7523bis).
for (const { method, id, auth } of authenticatedClients.filter((c) => c.method.endsWith('_jwt'))) {
  test(`openid-client's ${method} assertion has aud = the issuer`, async () => {
    const config = await configure(id, await auth());
    const sent = [];
    config[client.customFetch] = (url, options) => {
      const assertion = new URLSearchParams(options.body).get('client_assertion');
      if (assertion) sent.push(jose.decodeJwt(assertion));
      return fetch(url, options);
    };
    await client.clientCredentialsGrant(config, { resource: resources.es256, scope: 'read' });
    assert.equal(sent.length, 1, 'one assertion sent');
    assert.equal(sent[0].aud, config.serverMetadata().issuer);
  });
}

test('client_credentials is refused to a public client (none, RFC 6749 §4.4)', async () => {
  const config = await configure(clients.public.id, client.None());
  const { code } = await oauthErrorOf(client.clientCredentialsGrant(config, { resource: resources.es256, scope: 'read' }));
  // Either refusal is correct: the client cannot authenticate, or may not use this grant.
  assert.ok(['invalid_client', 'unauthorized_client'].includes(code), `refused with ${code}`);
});

test('RS256 resource gets an RS256-signed at+jwt with several scopes', async () => {
  const config = await configure(clients.basic.id, client.ClientSecretBasic(clients.basic.secret));
  const tokens = await client.clientCredentialsGrant(config, { resource: resources.rs256, scope: 'read write' });
  const { payload, header } = await verifyAccessToken(tokens.access_token, { audience: resources.rs256, alg: 'RS256' });
  assert.equal(header.alg, 'RS256');
  assert.deepEqual(payload.scope.split(' ').sort(), ['read', 'write']);
  assert.equal(payload.tenant, undefined, 'claims of another resource do not leak');
  // Each token is unique.
  const again = await client.clientCredentialsGrant(config, { resource: resources.rs256, scope: 'read' });
  assert.notEqual(jose.decodeJwt(again.access_token).jti, payload.jti);
});

test('opaque resource gets an opaque token with enough entropy', async () => {
  const config = await configure(clients.post.id, client.ClientSecretPost(clients.post.secret));
  const tokens = await client.clientCredentialsGrant(config, { resource: resources.opaque, scope: 'read' });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.throws(() => jose.decodeJwt(tokens.access_token), jose.errors.JWTInvalid, 'an opaque token is not a JWT');
  // 256 bits of randomness need at least 43 base64url characters.
  assert.ok(tokens.access_token.length >= 43, `token length ${tokens.access_token.length}`);
  const again = await client.clientCredentialsGrant(config, { resource: resources.opaque, scope: 'read' });
  assert.notEqual(again.access_token, tokens.access_token);
});
