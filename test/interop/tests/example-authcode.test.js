// Caddyfile.example's web app end to end: the shipped demo-app client and alice (her password is
// the one the file documents in a comment) sign in through the login and consent pages, get an
// ID token, userinfo and a rotated refresh token, then sign out. run.sh serves the file on free
// ports (its 9082 redirect URIs included) and extracts the secret and password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, example, rejectsWithOAuthError, env } from './helpers.js';
import { UserAgent, authorizeThroughPages, responseParams, pageKind } from './html-forms.js';

const rp = env('INTEROP_EXAMPLE_RP_BASE');
const redirectUri = `${rp}/callback`;
const postLogoutUri = `${rp}/`;
const alice = { username: 'alice', password: env('INTEROP_EXAMPLE_ALICE_PASSWORD') };
const config = await client.discovery(new URL(example.base), 'demo-app', undefined,
  client.ClientSecretBasic(env('INTEROP_EXAMPLE_WEB_SECRET')), { execute: [client.allowInsecureRequests] });

test('demo-app signs alice in, reads userinfo, refreshes and signs her out', async () => {
  const browser = new UserAgent({ stopAt: [redirectUri, postLogoutUri] });
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const checks = { pkceCodeVerifier, expectedState: client.randomState(), expectedNonce: client.randomNonce() };
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: 'openid profile email offline_access',
    state: checks.expectedState,
    nonce: checks.expectedNonce,
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
  });

  const { result, seen } = await authorizeThroughPages(browser, url, { login: alice });
  assert.deepEqual(seen, ['login', 'consent']);
  assert.equal(responseParams(result).get('iss'), example.base);

  const tokens = await client.authorizationCodeGrant(config, result.redirect, checks);
  const claims = tokens.claims();
  assert.equal(claims.iss, example.base);
  assert.equal(claims.aud, 'demo-app');
  assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');

  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(info.sub, claims.sub);
  assert.ok(info.name, 'profile scope: name');
  assert.ok(info.email, 'email scope: email');

  const rotated = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.notEqual(rotated.refresh_token, tokens.refresh_token);

  const state = client.randomState();
  const logout = await browser.open(client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: postLogoutUri,
    state,
  }));
  assert.ok(logout.page && pageKind(logout.page) === 'logout', 'a logout confirmation page');
  const done = await browser.submit(logout.page, { decision: 'approve' });
  assert.ok(done.redirect, 'back to the demo app');
  assert.equal(done.redirect.origin + done.redirect.pathname, postLogoutUri);
  assert.equal(done.redirect.searchParams.get('state'), state);
  // Signing out revoked the session's grants.
  await rejectsWithOAuthError(client.refreshTokenGrant(config, rotated.refresh_token), { error: 'invalid_grant' });
});
