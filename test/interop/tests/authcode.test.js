// End-user flows (authorization code + PKCE, OpenID Connect) driven by openid-client through the
// server's own HTML pages: login, consent, sessions, ID tokens, userinfo, refresh-token rotation
// and RP-initiated logout. tests/html-forms.js plays the browser (cookie jar, redirects by hand).
//
// Top-level tests run in order and some build on the browser session of the first one
// (`aliceBrowser`); the login-throttling test comes last because it may slow down logins.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  client, jose, issuer, resources, configure, serverJWKS, rejectsWithOAuthError, oauthErrorOf, challengesOf, env,
} from './helpers.js';
import { UserAgent, authorizeThroughPages, responseParams, pageKind } from './html-forms.js';
import { buildAuthorizationRequest, callbackOf } from './authorization.js';

const redirectUri = `${issuer}/cb`;
const postLogoutUri = `${issuer}/bye`;
const alice = { username: 'alice', password: env('INTEROP_ALICE_PASSWORD') };
const mallory = { username: 'mallory', password: env('INTEROP_MALLORY_PASSWORD') };

const webApp = await configure('web-app', client.ClientSecretBasic(env('INTEROP_SECRET_WEB')));
const spa = await configure('spa', client.None());
const firstParty = await configure('first-party', client.ClientSecretBasic(env('INTEROP_SECRET_FIRST_PARTY')));
const metadata = webApp.serverMetadata();

/** A new browser: no cookies, so no session. */
const newBrowser = () => new UserAgent({ stopAt: [redirectUri, postLogoutUri] });

/** An authorization request of config to this suite's redirect URI (see authorization.js). */
const authorizationRequest = (config, params = {}) => buildAuthorizationRequest(config, { redirect_uri: redirectUri, ...params });

/**
 * Runs one authorization through the pages (login as `login`, consent per `consent`) and
 * redeems the code with openid-client. Resolves to { tokens, claims, seen, pages, result,
 * callback, checks }.
 */
async function signIn(config, browser, { login = alice, consent, grantOptions, ...params } = {}) {
  const { url, checks } = await authorizationRequest(config, params);
  const flow = await authorizeThroughPages(browser, url, { login, consent });
  const callback = callbackOf(flow.result);
  const tokens = await client.authorizationCodeGrant(config, callback, checks, undefined, grantOptions);
  return { ...flow, callback, checks, tokens, claims: tokens.claims() };
}

/** Runs an authorization that must come back to the client with an error; returns its params. */
async function authorizationError(config, browser, params, options = {}) {
  const { url, checks } = await authorizationRequest(config, params);
  const { result } = await authorizeThroughPages(browser, url, options);
  const got = responseParams(result);
  assert.equal(got.get('iss'), issuer, 'iss in the error response');
  assert.equal(got.get('state'), checks.expectedState, 'state in the error response');
  assert.equal(got.get('code'), null, 'no code in an error response');
  // openid-client must see the same thing.
  await assert.rejects(client.authorizationCodeGrant(config, callbackOf(result), checks), (err) => {
    assert.ok(err instanceof client.AuthorizationResponseError, `AuthorizationResponseError, got ${err}`);
    assert.equal(err.error, got.get('error'));
    return true;
  });
  return got;
}

async function isActive(config, token) {
  return (await client.tokenIntrospection(config, token)).active;
}

/** The first page a browser gets for url, failing on anything but a page. */
async function pageAt(browser, url) {
  const result = await browser.open(url);
  assert.ok(result.page, `a page at ${url}, got a redirect to ${result.redirect ?? result.action}`);
  return result.page;
}

test('discovery advertises the end-user endpoints and what they support', () => {
  for (const name of ['authorization_endpoint', 'userinfo_endpoint', 'end_session_endpoint']) {
    assert.ok(URL.canParse(metadata[name]), `${name}: ${metadata[name]}`);
    assert.equal(new URL(metadata[name]).origin, issuer, `${name} is served by the issuer`);
  }
  assert.deepEqual(metadata.response_types_supported, ['code']);
  assert.deepEqual([...metadata.response_modes_supported].sort(), ['form_post', 'form_post.jwt', 'fragment', 'fragment.jwt', 'jwt', 'query', 'query.jwt']);
  assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
  assert.equal(metadata.authorization_response_iss_parameter_supported, true);
  assert.ok(metadata.grant_types_supported.includes('authorization_code'));
  assert.ok(metadata.grant_types_supported.includes('refresh_token'));
  assert.ok(metadata.id_token_signing_alg_values_supported.includes('RS256'), 'OIDC Discovery §3: RS256');
  assert.ok(metadata.subject_types_supported.includes('public'));
});

// The browser of the first sign-in, still holding alice's session; and its tokens, which no
// later test revokes (the logout tests check they survive the end of other sessions).
const aliceBrowser = newBrowser();
let first;

test('login and consent pages, then a code with state and iss; ID token; userinfo by scope', async () => {
  const { url, checks } = await authorizationRequest(webApp, { scope: 'openid profile email offline_access' });

  const login = await pageAt(aliceBrowser, url);
  assert.equal(login.status, 200);
  assert.equal(pageKind(login), 'login');
  assert.equal(login.form.method, 'POST');
  assert.equal(login.form.control('username')?.tag, 'input');
  assert.equal(login.form.control('password')?.type, 'password');
  assert.equal(login.form.control('csrf_token')?.type, 'hidden');
  assert.ok(login.form.control('csrf_token').value, 'a CSRF token');
  assert.equal(login.form.button('approve').label, 'Sign in');
  assert.equal(login.form.button('deny')?.label, 'Cancel');
  const beforeLogin = new Set(aliceBrowser.jar.all().map((c) => c.name));
  assert.ok(beforeLogin.size > 0, 'the login page sets a CSRF cookie');

  const afterLogin = await aliceBrowser.submit(login, { decision: 'approve', values: alice });
  assert.ok(afterLogin.page, 'a consent page after login');
  const consent = afterLogin.page;
  assert.equal(consent.status, 200);
  assert.equal(pageKind(consent), 'consent');
  assert.match(consent.text, /Interop Web App/, 'the consent page names the client');
  assert.match(consent.text, /email/, 'the consent page lists what is asked');
  assert.equal(consent.form.button('deny')?.label, 'Deny');
  assert.equal(consent.form.control('remember')?.type, 'checkbox');
  assert.equal(consent.form.control('remember').value, '1');

  // The session cookie: new since the login page, HttpOnly and SameSite=Lax.
  const sessionCookies = aliceBrowser.jar.all().filter((c) => !beforeLogin.has(c.name));
  assert.equal(sessionCookies.length, 1, `one session cookie, got ${sessionCookies.map((c) => c.name)}`);
  assert.equal(sessionCookies[0].attributes.httponly, true, 'session cookie is HttpOnly');
  assert.equal(String(sessionCookies[0].attributes.samesite).toLowerCase(), 'lax', 'session cookie is SameSite=Lax');

  const result = await aliceBrowser.submit(consent, { decision: 'approve', values: { remember: true } });
  assert.ok(result.redirect, 'back to the client');
  assert.equal(result.redirect.origin + result.redirect.pathname, redirectUri);
  const params = responseParams(result);
  assert.ok(params.get('code'), 'a code');
  assert.equal(params.get('state'), checks.expectedState);
  assert.equal(params.get('iss'), issuer);

  const started = Math.floor(Date.now() / 1000);
  const tokens = await client.authorizationCodeGrant(webApp, callbackOf(result), checks);
  assert.equal(tokens.token_type, 'bearer');
  assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
  assert.deepEqual(tokens.scope.split(' ').sort(), ['email', 'offline_access', 'openid', 'profile']);

  // openid-client checked iss, aud, nonce, exp and iat; the signature is checked here.
  const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token, await serverJWKS(), {
    issuer,
    audience: 'web-app',
    algorithms: ['RS256'],
    requiredClaims: ['sub', 'exp', 'iat', 'auth_time', 'nonce', 'sid'],
  });
  assert.ok(protectedHeader.kid, 'the ID token names its key');
  assert.equal(payload.nonce, checks.expectedNonce);
  assert.equal(payload.azp, 'web-app');
  assert.ok(payload.exp > payload.iat);
  assert.ok(Math.abs(payload.auth_time - started) < 60, `auth_time ${payload.auth_time} is the login just made`);
  assert.ok(Array.isArray(payload.amr) && payload.amr.includes('pwd'), `amr ${payload.amr} (RFC 8176 pwd)`);
  assert.ok(typeof payload.sid === 'string' && payload.sid.length > 0);

  const info = await client.fetchUserInfo(webApp, tokens.access_token, payload.sub);
  assert.equal(info.sub, payload.sub);
  assert.equal(info.name, 'Alice Example');
  assert.equal(info.email, 'alice@example.com');
  assert.equal(info.email_verified, true);

  first = { tokens, claims: payload };
});

test('with a session and remembered consent the next authorization comes straight back', async () => {
  const { seen, claims } = await signIn(webApp, aliceBrowser, { scope: 'openid profile', login: undefined });
  assert.deepEqual(seen, [], 'no login page, no consent page');
  assert.equal(claims.sub, first.claims.sub);
  assert.equal(claims.sid, first.claims.sid, 'the same session');
  assert.equal(claims.auth_time, first.claims.auth_time, 'auth_time is the login, not this request');
});

test('userinfo: GET and POST, claims follow the granted scope, a token is required', async (t) => {
  const { tokens, claims } = await signIn(webApp, aliceBrowser, { scope: 'openid', login: undefined });
  const endpoint = metadata.userinfo_endpoint;
  const calls = [
    { name: 'GET', init: { headers: { authorization: `Bearer ${tokens.access_token}` } } },
    {
      name: 'POST',
      init: {
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.access_token}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: '',
      },
    },
  ];
  for (const c of calls) {
    await t.test(c.name, async () => {
      const res = await fetch(endpoint, c.init);
      assert.equal(res.status, 200);
      const info = await res.json();
      assert.equal(info.sub, claims.sub);
      for (const claim of ['name', 'email', 'email_verified']) {
        assert.equal(info[claim], undefined, `${claim} needs a scope this token lacks`);
      }
    });
  }
  await t.test('no token: 401 with a Bearer challenge', async () => {
    const res = await fetch(endpoint);
    assert.equal(res.status, 401);
    assert.ok(challengesOf(res).some((c) => c.scheme === 'bearer'), res.headers.get('www-authenticate'));
  });
  await t.test('a token the server never issued: 401 invalid_token', async () => {
    const res = await fetch(endpoint, { headers: { authorization: 'Bearer not-a-token' } });
    assert.equal(res.status, 401);
    assert.equal(challengesOf(res).find((c) => c.scheme === 'bearer')?.params.error, 'invalid_token');
  });
});

test('a refresh token only with offline_access', async () => {
  const { tokens } = await signIn(webApp, aliceBrowser, { scope: 'openid profile', login: undefined });
  assert.equal(tokens.refresh_token, undefined);
});

test('refresh rotates; reusing a rotated token fails and revokes the whole family', async () => {
  const { tokens } = await signIn(webApp, aliceBrowser, { scope: 'openid offline_access', login: undefined });
  const rotated = await client.refreshTokenGrant(webApp, tokens.refresh_token);
  assert.ok(rotated.refresh_token, 'a new refresh token');
  assert.notEqual(rotated.refresh_token, tokens.refresh_token);
  assert.notEqual(rotated.access_token, tokens.access_token);
  assert.equal(await isActive(webApp, rotated.access_token), true);

  await rejectsWithOAuthError(client.refreshTokenGrant(webApp, tokens.refresh_token), { error: 'invalid_grant', status: 400 });
  // The family is gone: the newest refresh token and its access token too.
  await rejectsWithOAuthError(client.refreshTokenGrant(webApp, rotated.refresh_token), { error: 'invalid_grant', status: 400 });
  assert.equal(await isActive(webApp, rotated.access_token), false);
  assert.equal(await isActive(webApp, tokens.access_token), false);
  // Other grants of the same session are not touched.
  assert.equal(await isActive(webApp, first.tokens.access_token), true);
});

// RFC 7662 §2.1: refresh tokens introspect too, for the client they were issued to only.
test('a refresh token introspects for its own client: active until rotated or revoked', async () => {
  const { tokens, claims } = await signIn(webApp, aliceBrowser, { scope: 'openid offline_access', login: undefined });
  for (const hint of [undefined, 'refresh_token', 'access_token']) {
    const info = await client.tokenIntrospection(webApp, tokens.refresh_token, hint && { token_type_hint: hint });
    assert.equal(info.active, true, `hint ${hint}`);
    assert.equal(info.client_id, 'web-app');
    assert.equal(info.sub, claims.sub);
    assert.equal(info.iss, issuer);
    assert.equal(info.token_type, 'refresh_token');
    assert.deepEqual(info.scope.split(' ').sort(), ['offline_access', 'openid']);
    const now = Date.now() / 1000;
    assert.ok(info.iat <= now + 5 && info.exp > now, `iat ${info.iat} / exp ${info.exp} around now ${now}`);
  }
  assert.deepEqual({ ...await client.tokenIntrospection(firstParty, tokens.refresh_token) }, { active: false },
    'another client learns nothing');

  const rotated = await client.refreshTokenGrant(webApp, tokens.refresh_token);
  assert.equal(await isActive(webApp, tokens.refresh_token), false, 'rotated');
  assert.equal(await isActive(webApp, rotated.refresh_token), true, 'its successor');
  await client.tokenRevocation(webApp, rotated.refresh_token);
  assert.equal(await isActive(webApp, rotated.refresh_token), false, 'revoked');
});

test('a replayed code fails and revokes the tokens of its first redemption', async () => {
  const { tokens, callback, checks } = await signIn(webApp, aliceBrowser, { scope: 'openid offline_access', login: undefined });
  await rejectsWithOAuthError(client.authorizationCodeGrant(webApp, callback, checks), { error: 'invalid_grant', status: 400 });
  assert.equal(await isActive(webApp, tokens.access_token), false);
  await rejectsWithOAuthError(client.refreshTokenGrant(webApp, tokens.refresh_token), { error: 'invalid_grant' });
});

test('PKCE: required by default, S256 only, the verifier must match', async (t) => {
  const cases = [
    { name: 'public client without code_challenge', config: spa, params: { code_challenge: undefined, code_challenge_method: undefined } },
    { name: 'confidential client without code_challenge', config: webApp, params: { code_challenge: undefined, code_challenge_method: undefined } },
    { name: 'code_challenge_method=plain', config: webApp, params: { code_challenge: client.randomPKCECodeVerifier(), code_challenge_method: 'plain' } },
  ];
  for (const c of cases) {
    await t.test(`${c.name}: invalid_request at the redirect URI`, async () => {
      const got = await authorizationError(c.config, aliceBrowser, c.params);
      assert.equal(got.get('error'), 'invalid_request');
    });
  }
  await t.test('a wrong code_verifier: invalid_grant', async () => {
    const { url, checks } = await authorizationRequest(webApp);
    const { result } = await authorizeThroughPages(aliceBrowser, url);
    const wrong = { ...checks, pkceCodeVerifier: client.randomPKCECodeVerifier() };
    await rejectsWithOAuthError(client.authorizationCodeGrant(webApp, callbackOf(result), wrong), { error: 'invalid_grant', status: 400 });
  });
});

test('prompt=none: a code with a session, login_required without', async (t) => {
  await t.test('with a session', async () => {
    const { seen, claims } = await signIn(webApp, aliceBrowser, { prompt: 'none', login: undefined });
    assert.deepEqual(seen, []);
    assert.equal(claims.sub, first.claims.sub);
  });
  await t.test('without a session', async () => {
    const got = await authorizationError(webApp, newBrowser(), { prompt: 'none' });
    assert.equal(got.get('error'), 'login_required');
  });
});

test('response modes: query (default), fragment and form_post all redeem', async (t) => {
  for (const mode of ['query', 'fragment', 'form_post']) {
    await t.test(mode, async () => {
      const { result, claims } = await signIn(webApp, aliceBrowser, { response_mode: mode, login: undefined });
      assert.equal(claims.sub, first.claims.sub);
      if (mode === 'form_post') {
        assert.ok(result.formPost, 'a form that posts to the redirect URI');
        assert.equal(result.formPost.get('iss'), issuer);
      } else {
        assert.ok(result.redirect, 'a redirect');
        const where = mode === 'query' ? result.redirect.search : result.redirect.hash;
        assert.match(where, /[?#&]code=/, `the code is in the ${mode}`);
      }
    });
  }
});

test('requests that cannot be answered at the redirect URI get an error page', async (t) => {
  const cases = [
    { name: 'unregistered redirect_uri', config: webApp, params: { redirect_uri: `${issuer}/elsewhere` } },
    { name: 'unknown client_id', config: webApp, params: { client_id: 'no-such-client' } },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const { url } = await authorizationRequest(c.config, c.params);
      const page = await pageAt(aliceBrowser, url);
      assert.equal(page.status, 400);
      assert.equal(page.url.href, url.href, 'no redirect anywhere');
    });
  }
});

test('consent: Deny answers access_denied; an unremembered consent is asked again', async (t) => {
  const browser = newBrowser();
  await t.test('Deny', async () => {
    const got = await authorizationError(spa, browser, { scope: 'openid profile' }, {
      login: alice,
      consent: { decision: 'deny' },
    });
    assert.equal(got.get('error'), 'access_denied');
  });
  await t.test('Allow without remember, then again', async () => {
    const once = await signIn(spa, browser, { scope: 'openid profile', login: undefined, consent: { remember: false } });
    assert.deepEqual(once.seen, ['consent'], 'the session is kept after Deny');
    const twice = await signIn(spa, browser, { scope: 'openid profile', login: undefined, consent: { remember: true } });
    assert.deepEqual(twice.seen, ['consent'], 'not remembered, so asked again');
    const thrice = await signIn(spa, browser, { scope: 'openid profile', login: undefined });
    assert.deepEqual(thrice.seen, [], 'remembered now');
  });
});

test('the claims parameter: requested claims in the ID token and from userinfo, consented first', async () => {
  const browser = newBrowser();
  const claims = JSON.stringify({ id_token: { email: null }, userinfo: { name: { essential: true } } });
  const { seen, claims: idToken, tokens } = await signIn(spa, browser, { scope: 'openid', claims });
  assert.deepEqual(seen, ['login', 'consent'], 'the claims need consent like their scopes');
  assert.equal(idToken.email, 'alice@example.com', 'email requested for the ID token');
  assert.equal(idToken.name, undefined, 'name was requested from userinfo only');
  const info = await client.fetchUserInfo(spa, tokens.access_token, idToken.sub);
  assert.equal(info.name, 'Alice Example');
  assert.equal(info.email, undefined, 'no email scope and not requested from userinfo');
  assert.equal(metadata.claims_parameter_supported, true);
});

test('a skip_consent client never shows the consent page', async () => {
  const { seen, claims } = await signIn(firstParty, newBrowser(), { scope: 'openid profile email offline_access' });
  assert.deepEqual(seen, ['login']);
  assert.equal(claims.aud, 'first-party');
});

test('public client with DPoP: bound access and refresh tokens; refresh needs the same key', async () => {
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const dpop = client.getDPoPHandle(spa, keyPair);
  const { tokens, claims } = await signIn(spa, newBrowser(), { scope: 'openid email offline_access', grantOptions: { DPoP: dpop } });
  assert.equal(tokens.token_type, 'dpop');
  assert.ok(tokens.refresh_token);

  const info = await client.fetchUserInfo(spa, tokens.access_token, claims.sub, { DPoP: dpop });
  assert.equal(info.email, 'alice@example.com');
  const asBearer = await fetch(metadata.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(asBearer.status, 401, 'a DPoP-bound token is no Bearer token');

  const withoutProof = await oauthErrorOf(client.refreshTokenGrant(spa, tokens.refresh_token));
  assert.ok(['invalid_grant', 'invalid_dpop_proof'].includes(withoutProof.code), `without a proof: ${withoutProof.code}`);
  const otherKey = client.getDPoPHandle(spa, await client.randomDPoPKeyPair('ES256'));
  await rejectsWithOAuthError(client.refreshTokenGrant(spa, tokens.refresh_token, undefined, { DPoP: otherKey }), {
    error: 'invalid_grant',
    status: 400,
  });
  // The refused attempts did not use the token up.
  const refreshed = await client.refreshTokenGrant(spa, tokens.refresh_token, undefined, { DPoP: dpop });
  assert.equal(refreshed.token_type, 'dpop');
  assert.notEqual(refreshed.refresh_token, tokens.refresh_token);
});

test('a user token for the gateway API passes oauth_resource with the user as sub', async () => {
  const { tokens, claims } = await signIn(webApp, aliceBrowser, {
    scope: 'openid read',
    resource: resources.gateway,
    login: undefined,
  });
  const res = await fetch(`${resources.gateway}/hello`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(res.status, 200, res.headers.get('www-authenticate') ?? '');
  const echoed = await res.text();
  assert.match(echoed, new RegExp(`^sub=${claims.sub}$`, 'm'));
  assert.match(echoed, /^client_id=web-app$/m);
  assert.match(echoed, /^scope=.*\bread\b/m);
});

test('a wrong password and an unknown user get the same generic error (401)', async () => {
  const browser = newBrowser();
  const { url } = await authorizationRequest(webApp);
  const fresh = await pageAt(browser, url);
  assert.equal(pageKind(fresh), 'login');

  const wrongPassword = (await browser.submit(fresh, { decision: 'approve', values: { ...alice, password: 'not-her-password' } })).page;
  assert.ok(wrongPassword, 'the login page again');
  assert.equal(wrongPassword.status, 401);
  assert.equal(pageKind(wrongPassword), 'login');
  assert.notEqual(wrongPassword.text, fresh.text, 'an error is shown');

  const unknownUser = (await browser.submit(wrongPassword, { decision: 'approve', values: { username: 'nobody', password: 'whatever-it-is' } })).page;
  assert.ok(unknownUser, 'the login page again');
  assert.equal(unknownUser.status, 401);
  assert.equal(unknownUser.text, wrongPassword.text, 'the same words whether or not the account exists');
  assert.doesNotMatch(unknownUser.text, /\b(no such|unknown|not found|does not exist)\b/i);

  // The re-rendered page still works (fresh CSRF token and all).
  const retried = await browser.submit(unknownUser, { decision: 'approve', values: alice });
  assert.ok(retried.redirect || pageKind(retried.page) === 'consent', 'signed in after the failures');
});

test('RP-initiated logout: confirmation, Sign out, back with state; the session and its grants end', async () => {
  const browser = newBrowser();
  const { tokens, claims } = await signIn(webApp, browser, { scope: 'openid offline_access' });
  const state = client.randomState();
  const url = client.buildEndSessionUrl(webApp, { id_token_hint: tokens.id_token, post_logout_redirect_uri: postLogoutUri, state });

  const confirm = await pageAt(browser, url);
  assert.equal(confirm.status, 200);
  assert.equal(pageKind(confirm), 'logout');
  assert.equal(confirm.form.button('deny')?.label, 'Cancel');
  const result = await browser.submit(confirm, { decision: 'approve' });
  assert.ok(result.redirect, `a redirect to the post-logout URI, got ${result.page?.status} ${result.page?.text.slice(0, 200)}`);
  assert.equal(result.status, 303);
  assert.equal(result.redirect.origin + result.redirect.pathname, postLogoutUri);
  assert.equal(result.redirect.searchParams.get('state'), state);

  await rejectsWithOAuthError(client.refreshTokenGrant(webApp, tokens.refresh_token), { error: 'invalid_grant' });
  assert.equal(await isActive(webApp, tokens.access_token), false);
  const got = await authorizationError(webApp, browser, { prompt: 'none' });
  assert.equal(got.get('error'), 'login_required', 'the session is gone');

  // Another browser's session of the same account lives on.
  assert.notEqual(first.claims.sid, claims.sid);
  assert.equal(await isActive(webApp, first.tokens.access_token), true);
  const { seen } = await signIn(webApp, aliceBrowser, { prompt: 'none', login: undefined });
  assert.deepEqual(seen, []);
});

test('RP-initiated logout: Cancel, no post-logout URI, an unregistered one', async (t) => {
  await t.test('Cancel keeps the session', async () => {
    const browser = newBrowser();
    const { tokens } = await signIn(webApp, browser, { scope: 'openid offline_access' });
    const url = client.buildEndSessionUrl(webApp, { id_token_hint: tokens.id_token, post_logout_redirect_uri: postLogoutUri });
    await browser.submit(await pageAt(browser, url), { decision: 'deny' });
    const { seen } = await signIn(webApp, browser, { prompt: 'none', login: undefined });
    assert.deepEqual(seen, []);
    assert.ok((await client.refreshTokenGrant(webApp, tokens.refresh_token)).access_token);
  });
  await t.test('without post_logout_redirect_uri: a signed-out page', async () => {
    const browser = newBrowser();
    const { tokens } = await signIn(webApp, browser);
    const url = client.buildEndSessionUrl(webApp, { id_token_hint: tokens.id_token });
    const result = await browser.submit(await pageAt(browser, url), { decision: 'approve' });
    assert.ok(result.page, 'a page, no redirect');
    assert.equal(result.page.status, 200);
    assert.match(result.page.text, /signed out/i);
    const got = await authorizationError(webApp, browser, { prompt: 'none' });
    assert.equal(got.get('error'), 'login_required');
  });
  await t.test('an unregistered post_logout_redirect_uri: an error page, no redirect', async () => {
    const url = client.buildEndSessionUrl(webApp, {
      id_token_hint: first.tokens.id_token,
      post_logout_redirect_uri: `${issuer}/elsewhere`,
    });
    const page = await pageAt(aliceBrowser, url);
    assert.equal(page.status, 400);
    assert.equal(page.url.href, url.href);
  });
});

// Last: repeated failures may throttle further logins.
// The defaults stop a network (the suite's one address) after 5 failures on one account; the
// account itself is only slowed (a second or two here), so the owner elsewhere still signs in
// (covered in Go, where a test may choose its client address).
test('too many failed logins from one address: 429 with Retry-After, even for the right password', async () => {
  const browser = newBrowser();
  const { url } = await authorizationRequest(webApp);
  let page = await pageAt(browser, url);
  let attempts = 0;
  while (page.status !== 429) {
    assert.ok(++attempts <= 30, 'throttled within 30 failed logins');
    assert.equal(page.status, attempts === 1 ? 200 : 401);
    page = (await browser.submit(page, { decision: 'approve', values: { ...mallory, password: `wrong-${attempts}` } })).page;
    assert.ok(page, 'a page after a failed login');
  }
  assert.equal(attempts, 6, 'the sixth attempt from one address is refused (login_limits 5 …)');
  assert.match(page.headers.get('retry-after') ?? '', /^[1-9][0-9]*$/);
  assert.match(page.text, /too many failed sign-in attempts/i);
  // The right password does not get through either (the login page may already say so).
  const again = await pageAt(browser, url);
  const final = again.status === 429 ? again : (await browser.submit(again, { decision: 'approve', values: mallory })).page;
  assert.equal(final?.status, 429, 'still throttled');
});
