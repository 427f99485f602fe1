// The device authorization grant (RFC 8628) driven by openid-client: a TV app starts it, the
// user enters the code on the server's verification page (tests/html-forms.js plays the
// phone's browser), signs in and allows it on a consent page that shows the code, and the TV's
// polling gets the tokens. Every polling error the RFC defines is seen by openid-client.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, issuer, resources, configure, rejectsWithOAuthError, env, verifyAccessToken } from './helpers.js';
import { UserAgent, pageKind } from './html-forms.js';

const DEVICE_CODE = 'urn:ietf:params:oauth:grant-type:device_code';
const alice = { username: 'alice', password: env('INTEROP_ALICE_PASSWORD') };
const tv = await configure('device-tv', client.None());

/** Starts a device authorization for the TV. */
const start = (params = {}) =>
  client.initiateDeviceAuthorization(tv, { scope: 'openid profile offline_access read', resource: resources.gateway, ...params });

/**
 * Plays the user on their phone: opens verification_uri_complete, confirms the code, signs in
 * and answers the consent page with decision. Resolves to the last page.
 */
async function userDecides(response, decision) {
  const phone = new UserAgent();
  let { page } = await phone.open(response.verification_uri_complete);
  assert.equal(page.status, 200);
  assert.equal(page.form.control('user_code')?.value, response.user_code, 'the code is prefilled');
  ({ page } = await phone.submit(page, { decision: 'approve', values: { user_code: response.user_code } }));
  assert.equal(pageKind(page), 'login', `after the code: ${page.text.slice(0, 200)}`);
  ({ page } = await phone.submit(page, { decision: 'approve', values: alice }));
  assert.equal(pageKind(page), 'consent', `after sign-in: ${page.text.slice(0, 200)}`);
  assert.match(page.text, new RegExp(`your device shows the code ${response.user_code}`), 'the consent page shows the code');
  assert.match(page.text, /Interop TV/);
  ({ page } = await phone.submit(page, { decision }));
  return page;
}

test('discovery advertises the device authorization endpoint and grant', () => {
  const metadata = tv.serverMetadata();
  assert.equal(metadata.device_authorization_endpoint, `${issuer}/device_authorization`);
  assert.ok(metadata.grant_types_supported.includes(DEVICE_CODE));
});

test('a TV signs in through the phone: polling gets tokens once', async () => {
  const response = await start();
  assert.match(response.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  assert.equal(response.verification_uri, `${issuer}/device`);
  assert.equal(response.interval, 1);
  const polling = client.pollDeviceAuthorizationGrant(tv, response);
  const done = await userDecides(response, 'approve');
  assert.equal(done.status, 200);
  assert.match(done.text, /Your device is now connected/);

  const tokens = await polling;
  const { sub, aud, nonce } = tokens.claims();
  assert.equal(aud, 'device-tv');
  assert.equal(nonce, undefined);
  const userinfo = await client.fetchUserInfo(tv, tokens.access_token, sub);
  assert.equal(userinfo.name, 'Alice Example', 'the access token reads alice at userinfo');
  assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
  const { payload } = await verifyAccessToken(tokens.access_token, { audience: resources.gateway, alg: 'ES256' });
  assert.equal(payload.client_id, 'device-tv');
  assert.equal(payload.sub, sub);

  // The device code is spent.
  await rejectsWithOAuthError(client.genericGrantRequest(tv, DEVICE_CODE, { device_code: response.device_code }),
    { error: 'invalid_grant', status: 400 });
  // The refresh token works.
  const refreshed = await client.refreshTokenGrant(tv, tokens.refresh_token);
  assert.ok(refreshed.access_token);
});

test('polling before the user decides: authorization_pending, then slow_down when too fast', async () => {
  const response = await start();
  const poll = () => client.genericGrantRequest(tv, DEVICE_CODE, { device_code: response.device_code });
  await rejectsWithOAuthError(poll(), { error: 'authorization_pending', status: 400 });
  await rejectsWithOAuthError(poll(), { error: 'slow_down', status: 400 });
});

test('the user denies: polling ends with access_denied', async () => {
  const response = await start();
  const polling = client.pollDeviceAuthorizationGrant(tv, response);
  const done = await userDecides(response, 'deny');
  assert.match(done.text, /You denied access/);
  await rejectsWithOAuthError(polling, { error: 'access_denied', status: 400 });
});

test('nobody decides: polling ends with expired_token', async () => {
  const response = await start({ scope: 'openid' });
  assert.equal(response.expires_in, 10);
  // openid-client stops by itself at expires_in; a longer signal lets it hear the server say so.
  const polling = client.pollDeviceAuthorizationGrant(tv, response, undefined, { signal: AbortSignal.timeout(20_000) });
  await rejectsWithOAuthError(polling, { error: 'expired_token', status: 400 });
});

test('device authorization errors', async () => {
  await rejectsWithOAuthError(start({ scope: 'openid admin' }), { error: 'invalid_scope', status: 400 });
  await rejectsWithOAuthError(start({ resource: 'https://unknown.api.test' }), { error: 'invalid_target', status: 400 });
  const web = await configure('spa', client.None());
  await rejectsWithOAuthError(client.initiateDeviceAuthorization(web, { scope: 'openid' }), { error: 'unauthorized_client', status: 400 });
  await rejectsWithOAuthError(client.genericGrantRequest(tv, DEVICE_CODE, { device_code: 'made-up' }), { error: 'invalid_grant', status: 400 });
});
