// Token endpoint errors (RFC 6749 §5.2, RFC 8707 §2) as openid-client surfaces them, and
// private_key_jwt assertion checks (RFC 7523) exercised with hand-built assertions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import {
  basicAuthorization,
  client,
  clients,
  configure,
  issuer,
  jose,
  postForm,
  privateKeyJwtKey,
  rejectsWithOAuthError,
  resources,
} from './helpers.js';

const basic = (secret = clients.basic.secret) => configure(clients.basic.id, client.ClientSecretBasic(secret));
const post = (secret = clients.post.secret) => configure(clients.post.id, client.ClientSecretPost(secret));
const tokenEndpoint = new URL('/token', issuer).href;

const tokenErrors = [
  { name: 'wrong secret (Basic)', config: () => basic('wrong'), params: { resource: resources.es256 }, error: 'invalid_client', status: 401 },
  { name: 'wrong secret (post)', config: () => post('wrong'), params: { resource: resources.es256 }, error: 'invalid_client', status: 401 },
  {
    name: 'unknown client',
    config: () => configure('no-such-client', client.ClientSecretPost('whatever')),
    params: { resource: resources.es256 },
    error: 'invalid_client',
    status: 401,
  },
  {
    name: 'auth method other than the registered one',
    config: () => configure(clients.basic.id, client.ClientSecretPost(clients.basic.secret)),
    params: { resource: resources.es256 },
    error: 'invalid_client',
    status: 401,
  },
  { name: 'unknown resource', config: basic, params: { resource: 'https://nowhere.api.test', scope: 'read' }, error: 'invalid_target', status: 400 },
  { name: 'resource not linked to the client', config: basic, params: { resource: resources.other, scope: 'read' }, error: 'invalid_target', status: 400 },
  { name: 'disabled resource', config: basic, params: { resource: resources.disabled, scope: 'read' }, error: 'invalid_target', status: 400 },
  { name: 'resource with a fragment', config: basic, params: { resource: resources.es256 + '#x', scope: 'read' }, error: 'invalid_target', status: 400 },
  { name: 'scope the resource allows but the client may not use', config: basic, params: { resource: resources.es256, scope: 'admin' }, error: 'invalid_scope', status: 400 },
  { name: 'scope the resource does not know', config: basic, params: { resource: resources.es256, scope: 'read delete' }, error: 'invalid_scope', status: 400 },
];

for (const { name, config, params, error, status } of tokenErrors) {
  test(`token endpoint: ${name} → ${error}`, async () => {
    await rejectsWithOAuthError(client.clientCredentialsGrant(await config(), params), { error, status });
  });
}

test('wrong Basic credentials get a Basic challenge (RFC 6749 §5.2)', async () => {
  const err = await rejectsWithOAuthError(client.clientCredentialsGrant(await basic('wrong'), { resource: resources.es256 }), {
    error: 'invalid_client',
    status: 401,
  });
  assert.ok(err instanceof client.WWWAuthenticateChallengeError, 'openid-client saw the challenge');
  assert.equal(err.cause[0].scheme, 'basic');
});

test('unsupported grant type → unsupported_grant_type', async () => {
  await rejectsWithOAuthError(client.genericGrantRequest(await basic(), 'urn:example:params:grant-type:nonsense', {}), {
    error: 'unsupported_grant_type',
    status: 400,
  });
});

test('error responses are uncacheable JSON (RFC 6749 §5.2)', async (t) => {
  const auth = { authorization: basicAuthorization(clients.basic.id, clients.basic.secret) };
  const cases = [
    { name: 'missing grant_type', params: {}, headers: auth, error: 'invalid_request', status: 400 },
    { name: 'bad resource', params: { grant_type: 'client_credentials', resource: 'not a uri' }, headers: auth, error: 'invalid_target', status: 400 },
    { name: 'no credentials at all', params: { grant_type: 'client_credentials' }, headers: {}, error: 'invalid_client', status: 401 },
  ];
  for (const { name, params, headers, error, status } of cases) {
    await t.test(name, async () => {
      const res = await postForm(tokenEndpoint, params, headers);
      assert.equal(res.status, status);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.match(res.headers.get('cache-control') ?? '', /no-store/);
      assert.equal((await res.json()).error, error);
    });
  }
});

test('a successful token response is uncacheable (RFC 6749 §5.1)', async () => {
  const res = await postForm(
    tokenEndpoint,
    { grant_type: 'client_credentials', resource: resources.es256, scope: 'read' },
    { authorization: basicAuthorization(clients.basic.id, clients.basic.secret) },
  );
  assert.equal(res.status, 200);
  assert.match(res.headers.get('cache-control') ?? '', /no-store/);
  assert.ok((await res.json()).access_token);
});

/** Builds a private_key_jwt client assertion (RFC 7523 §3) and lets a case tweak it. */
async function assertion({ key, kid }, { aud = issuer, exp = '60s', jti = randomUUID(), alg = 'ES256' } = {}) {
  return new jose.SignJWT({})
    .setProtectedHeader({ alg, kid })
    .setIssuer(clients.privateKeyJwt.id)
    .setSubject(clients.privateKeyJwt.id)
    .setAudience(aud)
    .setJti(jti)
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(key);
}

function postAssertion(clientAssertion) {
  return postForm(tokenEndpoint, {
    grant_type: 'client_credentials',
    resource: resources.es256,
    scope: 'read',
    client_id: clients.privateKeyJwt.id,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: clientAssertion,
  });
}

async function expectClientError(res, why) {
  assert.equal(res.status, 401, why);
  assert.equal((await res.json()).error, 'invalid_client', why);
}

test('private_key_jwt: a replayed assertion is refused', async () => {
  const signed = await assertion(await privateKeyJwtKey());
  const first = await postAssertion(signed);
  assert.equal(first.status, 200, 'first use');
  assert.ok((await first.json()).access_token);
  await expectClientError(await postAssertion(signed), 'second use of the same jti');
});

// draft-ietf-oauth-rfc7523bis and the OpenID Foundation's 2025 advisory on audience
// injection: the issuer identifier, as the only aud value; the token endpoint URL and arrays
// naming anyone else are refused (client_assertion_endpoint_audience is off here).
test('private_key_jwt: the audience is the issuer identifier alone', async (t) => {
  const key = await privateKeyJwtKey();
  const cases = [
    { name: 'the issuer', aud: issuer, ok: true },
    { name: 'an array of just the issuer', aud: [issuer], ok: true },
    { name: 'the token endpoint', aud: tokenEndpoint, ok: false },
    { name: 'the issuer and the token endpoint', aud: [issuer, tokenEndpoint], ok: false },
    { name: 'the issuer and another server', aud: [issuer, 'https://someone-else.test'], ok: false },
  ];
  for (const { name, aud, ok } of cases) {
    await t.test(name, async () => {
      const res = await postAssertion(await assertion(key, { aud }));
      if (ok) assert.equal(res.status, 200, JSON.stringify(await res.clone().json()));
      else await expectClientError(res, name);
    });
  }
});

test('private_key_jwt: bad assertions are refused with invalid_client', async (t) => {
  const key = await privateKeyJwtKey();
  const stranger = await jose.generateKeyPair('ES256');
  const cases = [
    { name: 'signed by an unregistered key', make: () => assertion({ key: stranger.privateKey, kid: key.kid }) },
    { name: 'expired', make: () => assertion(key, { exp: Math.floor(Date.now() / 1000) - 120 }) },
    { name: 'wrong audience', make: () => assertion(key, { aud: 'https://someone-else.test' }) },
    { name: 'lifetime far beyond the allowed maximum', make: () => assertion(key, { exp: '2h' }) },
    {
      name: 'alg none',
      make: async () => {
        const signed = await assertion(key);
        const [, payload] = signed.split('.');
        return `${jose.base64url.encode(JSON.stringify({ alg: 'none' }))}.${payload}.`;
      },
    },
    { name: 'not a JWT', make: async () => 'definitely-not-a-jwt' },
  ];
  for (const { name, make } of cases) {
    await t.test(name, async () => expectClientError(await postAssertion(await make()), name));
  }
});
