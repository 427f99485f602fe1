// Discovery (OpenID Connect Discovery 1.0 and RFC 8414) and the published key set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, clients, configure, issuer } from './helpers.js';

const authMethods = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt'];
const endpoint = (path) => new URL(path, issuer).href;

async function fetchJSON(path, contentType = /^application\/json/) {
  const res = await fetch(endpoint(path));
  assert.equal(res.status, 200, `${path} status`);
  assert.match(res.headers.get('content-type') ?? '', contentType, `${path} content-type`);
  return res.json();
}

test('openid-client discovers the server (OIDC and RFC 8414 well-known paths)', async (t) => {
  for (const algorithm of ['oidc', 'oauth2']) {
    await t.test(algorithm, async () => {
      const config = await configure(clients.basic.id, client.ClientSecretBasic(clients.basic.secret), { algorithm });
      const md = config.serverMetadata();
      assert.equal(md.issuer, issuer);
      assert.equal(md.token_endpoint, endpoint('/token'));
      assert.equal(md.jwks_uri, endpoint('/jwks'));
      assert.equal(md.introspection_endpoint, endpoint('/introspect'));
      assert.equal(md.revocation_endpoint, endpoint('/revoke'));
    });
  }
});

test('both metadata documents agree on every shared member', async () => {
  const oidc = await fetchJSON('/.well-known/openid-configuration');
  const oauth = await fetchJSON('/.well-known/oauth-authorization-server');
  for (const key of Object.keys(oauth)) {
    if (key in oidc) assert.deepEqual(oauth[key], oidc[key], key);
  }
});

test('metadata advertises the implemented client authentication and grants', async () => {
  const md = await fetchJSON('/.well-known/oauth-authorization-server');
  for (const method of authMethods) {
    assert.ok(md.token_endpoint_auth_methods_supported?.includes(method), `token endpoint auth method ${method}`);
  }
  assert.ok(md.grant_types_supported?.includes('client_credentials'), 'client_credentials grant');
  // JWT client authentication is advertised, so the accepted algorithms must be too.
  const algs = md.token_endpoint_auth_signing_alg_values_supported ?? [];
  for (const alg of ['HS256', 'ES256', 'RS256']) assert.ok(algs.includes(alg), `auth signing alg ${alg}`);
  assert.ok(!algs.includes('none'), 'alg none must never be advertised');
  // RFC 8414 §2: these default to the token endpoint's methods when absent; when present
  // they must not offer less than a confidential client needs.
  for (const key of ['introspection_endpoint_auth_methods_supported', 'revocation_endpoint_auth_methods_supported']) {
    if (md[key] !== undefined) assert.ok(md[key].includes('client_secret_basic'), key);
  }
});

test('metadata advertises nothing that is not served', async () => {
  const md = await fetchJSON('/.well-known/openid-configuration');
  const urls = Object.entries(md).filter(([k, v]) => (k.endsWith('_endpoint') || k === 'jwks_uri') && typeof v === 'string');
  assert.ok(urls.length >= 4, 'token, introspection, revocation endpoints and jwks_uri');
  for (const [key, url] of urls) {
    assert.ok(url.startsWith(issuer + '/'), `${key} lives under the issuer`);
    // An empty POST to an endpoint must reach a handler (any answer but 404 or a 5xx);
    // jwks_uri is a GET resource.
    const res = key === 'jwks_uri' ? await fetch(url) : await fetch(url, { method: 'POST' });
    await res.body?.cancel();
    assert.ok(res.status !== 404 && res.status < 500, `${key} ${url} answered ${res.status}`);
  }
  // A grant that needs an endpoint must come with it.
  const grants = md.grant_types_supported ?? [];
  if (grants.includes('authorization_code')) assert.ok(md.authorization_endpoint, 'authorization_endpoint');
  if (grants.includes('urn:ietf:params:oauth:grant-type:device_code')) {
    assert.ok(md.device_authorization_endpoint, 'device_authorization_endpoint');
  }
  if (md.response_types_supported?.length) assert.ok(md.authorization_endpoint, 'response types need authorization_endpoint');
  if (md.userinfo_endpoint) assert.ok(md.scopes_supported?.includes('openid'), 'userinfo implies openid scope');
});

test('JWKS publishes ES256 and RS256 public keys only', async () => {
  // RFC 7517 §8.5 registers application/jwk-set+json; plain JSON is what most servers send.
  const { keys } = await fetchJSON('/jwks', /^application\/(jwk-set\+)?json/);
  assert.ok(Array.isArray(keys) && keys.length >= 2, 'at least two keys');
  const kids = new Set();
  for (const key of keys) {
    assert.ok(key.kid, 'every key has a kid');
    assert.ok(!kids.has(key.kid), `kid ${key.kid} is unique`);
    kids.add(key.kid);
    for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
      assert.ok(!(member in key), `key ${key.kid} must not carry private member ${member}`);
    }
  }
  assert.ok(keys.some((k) => k.kty === 'EC' && k.crv === 'P-256'), 'an EC P-256 key');
  assert.ok(keys.some((k) => k.kty === 'RSA' && k.n && k.e), 'an RSA key');
});
