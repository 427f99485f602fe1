// Dynamic client registration (RFC 7591) with openid-client's dynamicClientRegistration, with
// and without an initial access token, then the registered client's token and its RFC 7592
// lifecycle: read, update (the registration access token rotates), delete.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, issuer, oauthErrorOf, resources, verifyAccessToken } from './helpers.js';

const openIssuer = process.env.INTEROP_OPEN_ISSUER;
const initialAccessToken = process.env.INTEROP_REG_TOKEN;
const insecure = { execute: [client.allowInsecureRequests] };

const serviceMetadata = {
  client_name: 'Interop Registered Service',
  grant_types: ['client_credentials'],
  token_endpoint_auth_method: 'client_secret_basic',
  scope: 'read',
  resources: [resources.es256],
};

/** Sends an RFC 7592 request to the client's registration_client_uri. */
function manage(method, metadata, token, body) {
  return fetch(metadata.registration_client_uri, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
}

/** The client's metadata as an update request carries it (RFC 7592 §2.2). */
function updateBody(metadata, changes) {
  const body = { ...metadata, ...changes };
  for (const key of ['registration_access_token', 'registration_client_uri', 'client_id_issued_at', 'client_secret_expires_at']) {
    delete body[key];
  }
  return body;
}

test('discovery advertises registration_endpoint', async () => {
  const config = await client.discovery(new URL(issuer), 'x', undefined, client.None(), insecure);
  assert.equal(config.serverMetadata().registration_endpoint, `${issuer}/register`);
});

test('registration with an initial access token, a token, then read, update, delete', async () => {
  const config = await client.dynamicClientRegistration(new URL(issuer), serviceMetadata, client.ClientSecretBasic(), {
    ...insecure,
    initialAccessToken,
  });
  const registered = config.clientMetadata();
  assert.ok(registered.client_id, 'client_id issued');
  assert.ok(registered.client_secret, 'client_secret issued');
  assert.equal(registered.client_secret_expires_at, 0, 'the secret does not expire');
  assert.equal(registered.registration_client_uri, `${issuer}/register/${registered.client_id}`);
  assert.ok(registered.registration_access_token.length >= 43, 'registration access token of at least 256 bits');

  // The registered client gets a token for the resource it registered for.
  const tokens = await client.clientCredentialsGrant(config, { resource: resources.es256, scope: 'read' });
  const { payload } = await verifyAccessToken(tokens.access_token, { audience: resources.es256, alg: 'ES256' });
  assert.equal(payload.client_id, registered.client_id);
  assert.equal(payload.scope, 'read');

  // RFC 7592 §2.1: read.
  let rat = registered.registration_access_token;
  let res = await manage('GET', registered, rat);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const read = await res.json();
  assert.equal(read.client_id, registered.client_id);
  assert.equal(read.client_name, serviceMetadata.client_name);
  assert.equal(read.client_secret, undefined, 'a read never shows the stored secret');

  // RFC 7592 §2.2: full replacement; the registration access token rotates.
  res = await manage('PUT', registered, rat, updateBody(read, { client_name: 'Renamed Service' }));
  assert.equal(res.status, 200);
  const updated = await res.json();
  assert.equal(updated.client_name, 'Renamed Service');
  assert.ok(updated.registration_access_token && updated.registration_access_token !== rat, 'the token rotated');
  res = await manage('GET', registered, rat);
  assert.equal(res.status, 401, 'the old registration access token stopped working');
  assert.match(res.headers.get('www-authenticate'), /^Bearer .*error="invalid_token"/);
  rat = updated.registration_access_token;
  await client.clientCredentialsGrant(config, { resource: resources.es256, scope: 'read' });

  // RFC 7592 §2.3: delete; then the token is dead and the client is unknown.
  res = await manage('DELETE', registered, rat);
  assert.equal(res.status, 204);
  res = await manage('GET', registered, rat);
  assert.equal(res.status, 401, 'read after delete');
  const { code, status } = await oauthErrorOf(client.clientCredentialsGrant(config, { resource: resources.es256, scope: 'read' }));
  assert.equal(code, 'invalid_client');
  assert.equal(status, 401);
});

test('registration without the initial access token is refused where one is required', async () => {
  // RFC 6750 §3.1: a request without the token gets the Bearer challenge and no error body.
  await assert.rejects(
    client.dynamicClientRegistration(new URL(issuer), serviceMetadata, client.ClientSecretBasic(), insecure),
    (err) => {
      assert.ok(err instanceof client.WWWAuthenticateChallengeError, `${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.cause[0].scheme, 'bearer');
      return true;
    },
  );
});

test('invalid metadata is refused with the RFC 7591 error code', async () => {
  const { code, status } = await oauthErrorOf(
    client.dynamicClientRegistration(
      new URL(issuer),
      { redirect_uris: ['http://evil.example/cb'], token_endpoint_auth_method: 'none' },
      client.None(),
      { ...insecure, initialAccessToken },
    ),
  );
  assert.equal(status, 400);
  assert.equal(code, 'invalid_redirect_uri');
});

test('open registration: no initial access token, then a token', async () => {
  const config = await client.dynamicClientRegistration(
    new URL(openIssuer),
    { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', scope: 'read', resources: ['https://open.api.test'] },
    client.ClientSecretBasic(),
    insecure,
  );
  const tokens = await client.clientCredentialsGrant(config, { resource: 'https://open.api.test', scope: 'read' });
  assert.ok(tokens.access_token);

  // A public client names no method: it gets none, and no secret.
  const spa = await client.dynamicClientRegistration(
    new URL(openIssuer),
    { redirect_uris: ['http://127.0.0.1:9/cb'], response_types: ['code'], token_endpoint_auth_method: 'none' },
    client.None(),
    insecure,
  );
  assert.equal(spa.clientMetadata().token_endpoint_auth_method, 'none');
  assert.equal(spa.clientMetadata().client_secret, undefined);
});
