// Token exchange (RFC 8693) and the JWT bearer grant (RFC 7523) driven by openid-client's
// genericGrantRequest: an API gateway trades a user's access token (and its own, as the actor)
// for a token to its upstream's audience; a partner trades a trusted identity provider's
// assertion about a user for an access token. The identity provider is played by this test,
// with a key run.sh made and the Caddyfile trusts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { client, jose, issuer, resources, configure, rejectsWithOAuthError, env, verifyAccessToken } from './helpers.js';
import { UserAgent, authorizeThroughPages } from './html-forms.js';
import { buildAuthorizationRequest, callbackOf } from './authorization.js';

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const IDP = 'https://idp.interop.test';
const redirectUri = `${issuer}/cb`;

const gateway = await configure('exchange-gw', client.ClientSecretBasic(env('INTEROP_SECRET_EXCHANGE')));
const partner = await configure('partner-app', client.ClientSecretBasic(env('INTEROP_SECRET_EXCHANGE')));
const webApp = await configure('web-app', client.ClientSecretBasic(env('INTEROP_SECRET_WEB')));

// Alice signs in to the web app once; her access token is the subject token below.
const alice = await (async () => {
  const { url, checks } = await buildAuthorizationRequest(webApp, { redirect_uri: redirectUri, scope: 'openid read', resource: resources.gateway });
  const { result } = await authorizeThroughPages(new UserAgent({ stopAt: [redirectUri] }), url,
    { login: { username: 'alice', password: env('INTEROP_ALICE_PASSWORD') } });
  const tokens = await client.authorizationCodeGrant(webApp, callbackOf(result), checks);
  return { tokens, sub: tokens.claims().sub };
})();

const idpJWK = JSON.parse(readFileSync(env('INTEROP_IDP_PRIVATE_JWK'), 'utf8'));
const idpKey = await jose.importJWK(idpJWK, 'ES256');

/** A JWT of the stand-in identity provider. */
function idpToken(claims, { audience = issuer, expiresIn = '2m' } = {}) {
  return new jose.SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: idpJWK.kid, typ: 'JWT' })
    .setIssuer(IDP).setAudience(audience).setIssuedAt().setExpirationTime(expiresIn).setJti(crypto.randomUUID())
    .sign(idpKey);
}

const exchange = (params) => client.genericGrantRequest(gateway, EXCHANGE, params);

test('discovery lists token exchange and the JWT bearer grant', () => {
  const grants = gateway.serverMetadata().grant_types_supported;
  assert.ok(grants.includes(EXCHANGE) && grants.includes(JWT_BEARER), grants.join(' '));
});

test('the gateway exchanges alice\'s token for its upstream\'s audience, narrower', async () => {
  const res = await exchange({ subject_token: alice.tokens.access_token, subject_token_type: ACCESS_TOKEN, audience: resources.es256 });
  assert.equal(res.issued_token_type, ACCESS_TOKEN);
  assert.equal(res.token_type.toLowerCase(), 'bearer');
  assert.equal(res.scope, 'read');
  assert.equal(res.refresh_token, undefined);
  const { payload } = await verifyAccessToken(res.access_token, { audience: resources.es256, alg: 'ES256' });
  assert.equal(payload.sub, alice.sub);
  assert.equal(payload.client_id, 'exchange-gw');
  assert.equal(payload.scope, 'read');
  assert.ok(payload.exp <= alice.tokens.claims().exp + 600, 'no longer than the subject token');
});

test('delegation: the gateway\'s own token as actor_token puts act in the new token', async () => {
  const own = await client.clientCredentialsGrant(gateway, { scope: 'read', resource: resources.es256 });
  const res = await exchange({
    subject_token: alice.tokens.access_token, subject_token_type: ACCESS_TOKEN,
    actor_token: own.access_token, actor_token_type: ACCESS_TOKEN,
    resource: resources.es256, requested_token_type: JWT,
  });
  assert.equal(res.issued_token_type, JWT);
  const { payload } = await verifyAccessToken(res.access_token, { audience: resources.es256, alg: 'ES256' });
  assert.equal(payload.sub, alice.sub);
  assert.deepEqual(payload.act, { sub: 'exchange-gw' });
});

test('an identity provider\'s token is exchanged for one of ours', async () => {
  const res = await exchange({ subject_token: await idpToken({ sub: 'ext-42' }), subject_token_type: JWT, resource: resources.es256, scope: 'read' });
  const { payload } = await verifyAccessToken(res.access_token, { audience: resources.es256, alg: 'ES256' });
  assert.equal(payload.sub, 'ext-42');
});

test('token exchange refusals', async () => {
  const subject = { subject_token: alice.tokens.access_token, subject_token_type: ACCESS_TOKEN };
  await rejectsWithOAuthError(exchange({ ...subject, resource: resources.es256, scope: 'write' }), { error: 'invalid_scope', status: 400 });
  await rejectsWithOAuthError(exchange({ ...subject, resource: resources.rs256 }), { error: 'invalid_target', status: 400 });
  await rejectsWithOAuthError(exchange({ subject_token: 'not-a-token', subject_token_type: ACCESS_TOKEN }), { error: 'invalid_request', status: 400 });
  await rejectsWithOAuthError(exchange({ subject_token: await idpToken({ sub: 'x' }, { audience: 'https://elsewhere.test' }), subject_token_type: JWT }),
    { error: 'invalid_request', status: 400 });
  await rejectsWithOAuthError(exchange({ subject_token: alice.tokens.access_token }), { error: 'invalid_request', status: 400 });
  await rejectsWithOAuthError(client.genericGrantRequest(partner, EXCHANGE, subject), { error: 'unauthorized_client', status: 400 });
});

test('the JWT bearer grant: the IdP\'s assertion about alice gets a token for alice, once', async () => {
  const assertion = await idpToken({ sub: alice.sub });
  const res = await client.genericGrantRequest(partner, JWT_BEARER, { assertion, scope: 'openid read' });
  const { payload } = await verifyAccessToken(res.access_token, { audience: resources.gateway, alg: 'ES256' });
  assert.equal(payload.sub, alice.sub);
  assert.equal(payload.client_id, 'partner-app');
  const userinfo = await client.fetchUserInfo(partner, res.access_token, alice.sub);
  assert.equal(userinfo.sub, alice.sub);
  await rejectsWithOAuthError(client.genericGrantRequest(partner, JWT_BEARER, { assertion }), { error: 'invalid_grant', status: 400 });
});

test('JWT bearer refusals', async () => {
  const bearer = (assertion, params = {}) => client.genericGrantRequest(partner, JWT_BEARER, { assertion, ...params });
  await rejectsWithOAuthError(bearer(await idpToken({ sub: alice.sub }, { audience: `${issuer}/token` })), { error: 'invalid_grant', status: 400 });
  await rejectsWithOAuthError(bearer(await idpToken({ sub: 'nobody-here' })), { error: 'invalid_grant', status: 400 });
  await rejectsWithOAuthError(bearer(await idpToken({ sub: alice.sub }, { expiresIn: '3h' })), { error: 'invalid_grant', status: 400 });
  await rejectsWithOAuthError(bearer(await idpToken({ sub: alice.sub }), { scope: 'write' }), { error: 'invalid_scope', status: 400 });
  await rejectsWithOAuthError(bearer('a.b.c'), { error: 'invalid_grant', status: 400 });
  await rejectsWithOAuthError(client.genericGrantRequest(gateway, JWT_BEARER, { assertion: await idpToken({ sub: alice.sub }) }),
    { error: 'unauthorized_client', status: 400 });
});
