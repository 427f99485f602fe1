// Authorization requests as the suites make them with openid-client, and the callback the
// client's redirect URI receives, shared by authcode, JARM and the secured-request tests.
import assert from 'node:assert/strict';
import * as client from 'openid-client';

/**
 * An authorization request with fresh state, nonce and S256 PKCE (params override or, set to
 * undefined, remove any of them) and the checks openid-client needs to redeem its code. build
 * makes the URL from the configuration and the parameters: buildAuthorizationUrl by default,
 * or e.g. (c, p) => client.buildAuthorizationUrlWithPAR(c, p) for a pushed request.
 */
export async function buildAuthorizationRequest(config, params = {}, build = client.buildAuthorizationUrl) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const all = {
    scope: 'openid',
    state: client.randomState(),
    nonce: client.randomNonce(),
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    ...params,
  };
  const defined = Object.fromEntries(Object.entries(all).filter(([, v]) => v !== undefined));
  return {
    url: await build(config, defined),
    params: defined,
    checks: { pkceCodeVerifier, expectedState: defined.state, expectedNonce: defined.nonce },
  };
}

/** What the client's redirect URI receives, as openid-client takes it: a URL or a form_post Request. */
export function callbackOf(result) {
  if (result.formPost) {
    return new Request(result.action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: result.formPost.toString(),
    });
  }
  assert.ok(result.redirect, 'a redirect to the client');
  const url = new URL(result.redirect);
  if (url.hash) {
    // A fragment response mode: the client's page script would read location.hash.
    url.search = url.hash.slice(1);
    url.hash = '';
  }
  return url;
}
