// Secured authorization requests through openid-client and the real pages: pushed requests
// (RFC 9126), signed request objects (RFC 9101, also inside a push), and a FAPI 2.0 client doing
// the whole flow — private_key_jwt, PAR, PKCE S256, DPoP — up to a DPoP-only API behind
// oauth_resource.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, configure, issuer, privateKeyJwtKey, resources, env } from './helpers.js';
import { UserAgent, authorizeThroughPages, responseParams } from './html-forms.js';
import { buildAuthorizationRequest, callbackOf } from './authorization.js';

const redirectUri = `${issuer}/cb`;
const alice = { username: 'alice', password: env('INTEROP_ALICE_PASSWORD') };
const key = await privateKeyJwtKey();
const auth = () => client.PrivateKeyJwt(key);
const browser = () => new UserAgent({ stopAt: [redirectUri] });
const withPAR = (options) => (config, params) => client.buildAuthorizationUrlWithPAR(config, params, options);
const withJAR = (config, params) => client.buildAuthorizationUrlWithJAR(config, params, key);

test('discovery advertises PAR and request objects', async () => {
  const metadata = (await configure('par-client', auth())).serverMetadata();
  assert.equal(metadata.pushed_authorization_request_endpoint, `${issuer}/par`);
  assert.equal(metadata.request_parameter_supported, true);
  assert.equal(metadata.request_uri_parameter_supported, false, 'request_uri is only a PAR URN');
  assert.ok(metadata.request_object_signing_alg_values_supported.includes('ES256'));
});

test('PAR: a pushed request through the pages to tokens; a plain request of that client is refused', async () => {
  const config = await configure('par-client', auth());
  const { url, checks } = await buildAuthorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid read', resource: resources.gateway }, withPAR());
  assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
  const { result } = await authorizeThroughPages(browser(), url, { login: alice });
  const tokens = await client.authorizationCodeGrant(config, callbackOf(result), checks);
  assert.ok(tokens.access_token);
  assert.equal(tokens.claims().aud, 'par-client');

  const plain = await buildAuthorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid read' });
  const refused = await authorizeThroughPages(browser(), plain.url, { login: alice });
  const params = responseParams(refused.result);
  assert.equal(params.get('error'), 'invalid_request');
  assert.equal(params.get('code'), null);
});

test('JAR: a request object signed with the client\'s ES256 key gives a code; a tampered one gives none', async () => {
  const config = await configure('jar-client', auth());
  const { url, checks } = await buildAuthorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid read', resource: resources.gateway }, withJAR);
  assert.ok(url.searchParams.get('request'), 'the request travels as a request object');
  const { result } = await authorizeThroughPages(browser(), url, { login: alice });
  const tokens = await client.authorizationCodeGrant(config, callbackOf(result), checks);
  assert.ok(tokens.access_token);

  const again = await buildAuthorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid read' }, withJAR);
  const [head, body, sig] = again.url.searchParams.get('request').split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url'));
  claims.scope = 'openid read write';
  again.url.searchParams.set('request', [head, Buffer.from(JSON.stringify(claims)).toString('base64url'), sig].join('.'));
  const page = (await browser().open(again.url)).page;
  assert.ok(page, 'an error page, not a redirect with a code');
  assert.equal(page.status, 400);
  assert.match(page.text, /invalid_request_object/);

  const unsigned = await buildAuthorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid read' });
  const refused = responseParams((await authorizeThroughPages(browser(), unsigned.url, {})).result);
  assert.equal(refused.get('error'), 'invalid_request', 'require_signed_request_object');
});

test('JAR inside PAR: the pushed request is a signed request object', async () => {
  const config = await configure('jar-client', auth());
  const build = async (c, params) => client.buildAuthorizationUrlWithPAR(c, (await withJAR(c, params)).searchParams);
  const { url, checks } = await buildAuthorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid read', resource: resources.gateway }, build);
  assert.ok(url.searchParams.get('request_uri'));
  const { result } = await authorizeThroughPages(browser(), url, { login: alice });
  assert.ok((await client.authorizationCodeGrant(config, callbackOf(result), checks)).access_token);
});

test('FAPI 2.0: private_key_jwt + PAR + PKCE + DPoP through the pages, then a DPoP-only API', async () => {
  const config = await configure('fapi-client', auth());
  const metadata = config.serverMetadata();
  assert.ok(metadata.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
  const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const { url, checks } = await buildAuthorizationRequest(config,
    { redirect_uri: redirectUri, scope: 'openid read', resource: resources.gatewayDPoP }, withPAR({ DPoP: dpop }));
  const { result } = await authorizeThroughPages(browser(), url, { login: alice });
  let tokens;
  try {
    tokens = await client.authorizationCodeGrant(config, callbackOf(result), checks, undefined, { DPoP: dpop });
  } catch (err) {
    if (!client.isDPoPNonceError?.(err)) throw err;
    tokens = await client.authorizationCodeGrant(config, callbackOf(result), checks, undefined, { DPoP: dpop });
  }
  assert.equal(tokens.token_type.toLowerCase(), 'dpop');
  const header = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url'));
  assert.ok(['PS256', 'ES256', 'EdDSA'].includes(header.alg), `ID token alg ${header.alg}`);

  let res;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      res = await client.fetchProtectedResource(config, tokens.access_token, new URL('/dpop-api/x', issuer), 'GET', undefined, undefined, { DPoP: dpop });
      break;
    } catch (err) {
      if (attempt === 1 || !client.isDPoPNonceError?.(err)) throw err;
    }
  }
  assert.equal(res.status, 200);
});

test('FAPI 2.0 refuses the shortcuts: a plain authorization request, a token request without DPoP', async () => {
  const config = await configure('fapi-client', auth());
  const plain = await buildAuthorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid read' });
  const params = responseParams((await authorizeThroughPages(browser(), plain.url, {})).result);
  assert.equal(params.get('error'), 'invalid_request');
  assert.match(params.get('error_description'), /push/);

  // A pushed request without DPoP gets a code, but no bearer token for it.
  const { url, checks } = await buildAuthorizationRequest(config, { redirect_uri: redirectUri, scope: 'openid read', resource: resources.gatewayDPoP }, withPAR());
  const { result } = await authorizeThroughPages(browser(), url, { login: alice });
  await assert.rejects(client.authorizationCodeGrant(config, callbackOf(result), checks), (err) => {
    assert.equal(err.error, 'invalid_request');
    assert.match(err.error_description, /sender-constrained/);
    return true;
  });
});
