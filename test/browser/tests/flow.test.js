// A person in Chromium signs in, consents and signs out through the server's pages, with a real
// relying party: this file runs a small HTTP server at the client's redirect URIs that redeems
// the code with openid-client and shows "signed in as <sub>". Screenshots of every page go to
// $BROWSER_ARTIFACTS. The tests run in order and share one browser context (one person).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import * as client from 'openid-client';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through test/browser/run.sh`);
  return value;
}

const issuer = env('BROWSER_ISSUER');
const rpBase = `http://127.0.0.1:${env('BROWSER_RP_PORT')}`;
const artifacts = env('BROWSER_ARTIFACTS');
const alice = { username: 'alice', password: env('BROWSER_ALICE_PASSWORD') };

// ---- The relying party ----------------------------------------------------------------------

const config = await client.discovery(new URL(issuer), 'browser-app', undefined,
  client.ClientSecretBasic(env('BROWSER_SECRET')), { execute: [client.allowInsecureRequests] });

const pendingLogins = new Map(); // state → openid-client checks
const pendingLogouts = new Set(); // states of logout requests
const rp = { idToken: undefined, sub: undefined };

const escapeHTML = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function send(res, status, title, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><title>${escapeHTML(title)}</title><h1>${escapeHTML(title)}</h1>${body}</html>`);
}

function redirect(res, location) {
  res.writeHead(302, { location: String(location) });
  res.end();
}

async function route(req, res) {
  const url = new URL(req.url, rpBase);
  switch (url.pathname) {
    case '/login': {
      const pkceCodeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      pendingLogins.set(state, { pkceCodeVerifier, expectedState: state, expectedNonce: nonce });
      return redirect(res, client.buildAuthorizationUrl(config, {
        redirect_uri: `${rpBase}/callback`,
        scope: 'openid profile email',
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
        code_challenge_method: 'S256',
      }));
    }
    case '/callback': {
      const checks = pendingLogins.get(url.searchParams.get('state'));
      if (!checks) return send(res, 400, 'Unknown state', '');
      pendingLogins.delete(checks.expectedState);
      const tokens = await client.authorizationCodeGrant(config, url, checks);
      rp.idToken = tokens.id_token;
      rp.sub = tokens.claims().sub;
      return send(res, 200, 'Relying party', `<p id="status">signed in as ${escapeHTML(rp.sub)}</p>
<p><a href="/logout">Sign out</a></p><p><a href="/logout?here=1">Sign out at the server only</a></p>`);
    }
    case '/logout': {
      const params = { id_token_hint: rp.idToken };
      if (!url.searchParams.has('here')) {
        params.post_logout_redirect_uri = `${rpBase}/signed-out`;
        params.state = client.randomState();
        pendingLogouts.add(params.state);
      }
      return redirect(res, client.buildEndSessionUrl(config, params));
    }
    case '/signed-out': {
      if (!pendingLogouts.delete(url.searchParams.get('state'))) return send(res, 400, 'Unknown state', '');
      return send(res, 200, 'Relying party', '<p id="status">signed out</p>');
    }
    default:
      return send(res, 404, 'Not found', '');
  }
}

const rpServer = createServer((req, res) => {
  route(req, res).catch((err) => send(res, 500, 'Relying party error', `<pre id="error">${escapeHTML(err)}</pre>`));
});

// ---- The browser ----------------------------------------------------------------------------

let browser;
let context;
let page;
// Console errors and CSP violations seen on the server's pages.
const consoleErrors = [];
const violations = [];

before(async () => {
  await new Promise((resolve) => rpServer.listen(Number(env('BROWSER_RP_PORT')), '127.0.0.1', resolve));
  browser = await chromium.launch({
    executablePath: env('BROWSER_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  context = await browser.newContext({ viewport: { width: 800, height: 700 } });
  context.setDefaultTimeout(15_000);
  // Bindings and init scripts are injected by the DevTools protocol, so the pages' CSP
  // (default-src 'none') does not stop them from reporting the violations it causes.
  await context.exposeBinding('reportCSPViolation', (_source, v) => violations.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.reportCSPViolation({ page: e.documentURI, directive: e.violatedDirective, blocked: e.blockedURI });
    });
  });
  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || !page.url().startsWith(issuer)) return;
    // Chromium logs the 4xx status of the document itself (the 401 of a failed login, the
    // 400 of the error page); those statuses are asserted where expected.
    if (/^Failed to load resource: the server responded with a status of 4\d\d\b/.test(msg.text()) &&
      msg.location().url === page.url()) return;
    consoleErrors.push({ page: page.url(), text: msg.text() });
  });
  page.on('pageerror', (err) => consoleErrors.push({ page: page.url(), text: String(err) }));
});

after(async () => {
  await browser?.close();
  rpServer.close();
});

/** A full-page screenshot in the artifacts directory; it must not be empty. */
async function screenshot(name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 0, `${path} is empty`);
}

/** Clicks a button and resolves to the response of the POST it submits. */
async function submitWith(buttonName) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().method() === 'POST'),
    page.getByRole('button', { name: buttonName, exact: true }).click(),
  ]);
  await page.waitForLoadState();
  return response;
}

/** Fills the login form through its labels (so they must be associated) and submits it. */
async function signIn({ username, password }) {
  await page.getByLabel('Username', { exact: true }).fill(username);
  await page.getByLabel('Password', { exact: true }).fill(password);
  return submitWith('Sign in');
}

const onServer = (url) => url.origin === issuer;

test('the login page: labelled fields, one generic error for a wrong password or an unknown user', async () => {
  const response = await page.goto(`${rpBase}/login`);
  assert.ok(onServer(new URL(page.url())), `on the server's login page, at ${page.url()}`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'] ?? '', /default-src 'none'/);
  assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('type'), 'password');
  await screenshot('login');

  const wrongPassword = await signIn({ username: alice.username, password: 'not-her-password' });
  assert.equal(wrongPassword.status(), 401);
  const message = (await page.getByRole('alert').innerText()).trim();
  assert.ok(message.length > 0, 'an error message');
  await screenshot('login-error');

  const unknownUser = await signIn({ username: 'nobody-here', password: 'whatever-it-is' });
  assert.equal(unknownUser.status(), 401);
  assert.equal((await page.getByRole('alert').innerText()).trim(), message, 'the same words whether or not the account exists');
});

test('signing in and consenting lead back to the client, which shows the user', async () => {
  await signIn(alice);
  const allow = page.getByRole('button', { name: 'Allow', exact: true });
  await allow.waitFor();
  assert.match(await page.locator('main').innerText(), /Browser Test App/);
  assert.equal(await page.getByRole('checkbox').isChecked(), false, 'remember is offered, not ticked');
  await screenshot('consent');
  await page.getByLabel('Remember this decision').check();

  await allow.click();
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));
  assert.ok(rp.sub, 'the client redeemed the code');
  assert.equal(await page.locator('#status').innerText(), `signed in as ${rp.sub}`);
});

test('the server\'s cookies are HttpOnly and SameSite=Lax, a session cookie among them', async () => {
  const cookies = await context.cookies(issuer);
  assert.ok(cookies.some((c) => /session/i.test(c.name)), `a session cookie in ${cookies.map((c) => c.name)}`);
  for (const c of cookies) {
    assert.equal(c.httpOnly, true, `${c.name} is HttpOnly`);
    assert.equal(c.sameSite, 'Lax', `${c.name} is SameSite=Lax`);
  }
});

test('signing out through end_session: confirmation, Sign out, the client\'s post-logout page', async () => {
  await page.getByRole('link', { name: 'Sign out', exact: true }).click();
  const continueButton = page.getByRole('button', { name: 'Sign out', exact: true });
  await continueButton.waitFor();
  assert.ok(onServer(new URL(page.url())));
  await page.getByRole('button', { name: 'Cancel', exact: true }).waitFor();
  await screenshot('logout');

  await continueButton.click();
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/signed-out`));
  assert.equal(await page.locator('#status').innerText(), 'signed out');

  // The session is over: signing in again asks for the password.
  await page.goto(`${rpBase}/login`);
  await page.getByLabel('Password', { exact: true }).waitFor();
});

test('signing out without a post-logout URI ends on the server\'s signed-out page', async () => {
  await signIn(alice);
  // The consent was remembered, so the browser goes straight back to the client.
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));
  await page.getByRole('link', { name: 'Sign out at the server only' }).click();
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.getByText(/signed out/i).first().waitFor();
  assert.ok(onServer(new URL(page.url())), `on the server, at ${page.url()}`);
  await screenshot('signed-out');
});

test('an unregistered redirect_uri gets an error page, never a redirect', async () => {
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: `${rpBase}/not-registered`,
    scope: 'openid',
    state: client.randomState(),
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  const response = await page.goto(url.href);
  assert.equal(response.status(), 400);
  assert.equal(page.url(), url.href, 'no redirect');
  await page.getByRole('alert').waitFor();
  await screenshot('error');
});

test('no console errors and no CSP violations on the server\'s pages', () => {
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(violations, []);
});
