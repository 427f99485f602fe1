// JWT-secured authorization responses (JARM) driven by openid-client's useJwtResponseMode: in
// every response mode the server signs the response, and openid-client itself verifies the JWT
// (signature against the JWKS, iss, aud, exp) before it redeems the code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, configure, issuer, env } from './helpers.js';
import { UserAgent, authorizeThroughPages, responseParams } from './html-forms.js';
import { buildAuthorizationRequest, callbackOf } from './authorization.js';

const redirectUri = `${issuer}/cb`;
const alice = { username: 'alice', password: env('INTEROP_ALICE_PASSWORD') };
const webApp = await configure('web-app', client.ClientSecretBasic(env('INTEROP_SECRET_WEB')));
client.useJwtResponseMode(webApp);

test('discovery advertises the JARM response modes and signing algorithms', () => {
  const metadata = webApp.serverMetadata();
  for (const mode of ['jwt', 'query.jwt', 'fragment.jwt', 'form_post.jwt']) {
    assert.ok(metadata.response_modes_supported.includes(mode), mode);
  }
  assert.ok(metadata.authorization_signing_alg_values_supported.includes('RS256'));
});

for (const mode of ['jwt', 'query.jwt', 'fragment.jwt', 'form_post.jwt']) {
  test(`response_mode=${mode}: a signed response that openid-client verifies, then tokens`, async () => {
    const browser = new UserAgent({ stopAt: [redirectUri] });
    const { url, checks } = await buildAuthorizationRequest(webApp, { redirect_uri: redirectUri, response_mode: mode });
    const { result } = await authorizeThroughPages(browser, url, { login: alice });
    const params = responseParams(result);
    assert.deepEqual([...params.keys()], ['response'], 'only the response parameter travels');
    const tokens = await client.authorizationCodeGrant(webApp, callbackOf(result), checks);
    assert.ok(tokens.access_token);
    assert.ok(tokens.claims().sub);
  });
}

test('a response JWT changed on the way is refused by openid-client', async () => {
  const browser = new UserAgent({ stopAt: [redirectUri] });
  const { url, checks } = await buildAuthorizationRequest(webApp, { redirect_uri: redirectUri, response_mode: 'jwt' });
  const { result } = await authorizeThroughPages(browser, url, { login: alice });
  const callback = callbackOf(result);
  const [head, body, sig] = callback.searchParams.get('response').split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url'));
  claims.code = `${claims.code}x`;
  callback.searchParams.set('response', [head, Buffer.from(JSON.stringify(claims)).toString('base64url'), sig].join('.'));
  await assert.rejects(client.authorizationCodeGrant(webApp, callback, checks));
});

test('an error goes back signed too, and openid-client reads its code', async () => {
  const browser = new UserAgent({ stopAt: [redirectUri] });
  const { url, checks } = await buildAuthorizationRequest(webApp, { redirect_uri: redirectUri, response_mode: 'jwt', scope: 'openid not-a-scope' });
  const { result } = await authorizeThroughPages(browser, url, {});
  await assert.rejects(client.authorizationCodeGrant(webApp, callbackOf(result), checks), (err) => {
    assert.ok(err instanceof client.AuthorizationResponseError, `AuthorizationResponseError, got ${err}`);
    assert.equal(err.error, 'invalid_scope');
    return true;
  });
});
