// Delegated login and consent in Chromium: a second issuer hands sign-in and consent to the
// example login app (examples/delegated-login/app.mjs), which this test runs with its own
// users, next to a relying party using openid-client. The person signs in and consents at the
// app; the relying party gets tokens for the app's subject with the app's amr, acr and claims.
// Screenshots go to $BROWSER_ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import * as client from 'openid-client';
import { createLoginApp } from '../../../examples/delegated-login/app.mjs';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through test/browser/run.sh`);
  return value;
}

const issuer = `http://127.0.0.1:${env('BROWSER_DELEGATED_PORT')}`;
const appBase = `http://127.0.0.1:${env('BROWSER_LOGIN_APP_PORT')}`;
const rpBase = `http://127.0.0.1:${env('BROWSER_DELEGATED_RP_PORT')}`;
const artifacts = env('BROWSER_ARTIFACTS');
const carol = { username: 'carol', password: `carol-${randomBytes(12).toString('hex')}` };

// ---- The login app (the example, with one user of its own) ------------------------------------

const app = createLoginApp({
  issuer,
  secret: env('BROWSER_SECRET'),
  users: { carol: { password: carol.password, subject: 'ext-carol-7', claims: { name: 'Carol Example', email: 'carol@example.org' } } },
});
const appServer = createServer((req, res) => app.handle(req, res).catch((err) => {
  res.writeHead(500, { 'content-type': 'text/plain' });
  res.end(String(err));
}));

// ---- The relying party ----------------------------------------------------------------------

const config = await client.discovery(new URL(issuer), 'delegated-rp', undefined,
  client.ClientSecretBasic(env('BROWSER_SECRET')), { execute: [client.allowInsecureRequests] });
const pending = new Map(); // state → checks
const rp = { tokens: undefined, error: undefined };
const escapeHTML = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><title>Relying party</title><h1>Relying party</h1>${body}</html>`);
}

async function route(req, res) {
  const url = new URL(req.url, rpBase);
  if (url.pathname === '/login') {
    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const nonce = client.randomNonce();
    pending.set(state, { pkceCodeVerifier, expectedState: state, expectedNonce: nonce });
    const params = {
      redirect_uri: `${rpBase}/callback`, scope: url.searchParams.get('scope') ?? 'openid profile email',
      state, nonce, code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier), code_challenge_method: 'S256',
      ui_locales: 'en-GB', login_hint: 'carol',
    };
    if (url.searchParams.has('prompt')) params.prompt = url.searchParams.get('prompt');
    res.writeHead(302, { location: client.buildAuthorizationUrl(config, params).href });
    return res.end();
  }
  if (url.pathname === '/callback') {
    const checks = pending.get(url.searchParams.get('state'));
    if (!checks) return send(res, 400, '<p>unknown state</p>');
    pending.delete(checks.expectedState);
    try {
      rp.tokens = await client.authorizationCodeGrant(config, url, checks);
      rp.error = undefined;
    } catch (err) {
      rp.tokens = undefined;
      rp.error = err;
      return send(res, 200, `<p id="status">error: ${escapeHTML(err.error ?? err.message)}</p>`);
    }
    return send(res, 200, `<p id="status">signed in as ${escapeHTML(rp.tokens.claims().sub)}</p>`);
  }
  return send(res, 404, '');
}
const rpServer = createServer((req, res) => route(req, res).catch((err) => send(res, 500, `<pre>${escapeHTML(err)}</pre>`)));

// ---- The browser ----------------------------------------------------------------------------

let browser;
let page;
const violations = [];

before(async () => {
  await new Promise((resolve) => appServer.listen(Number(env('BROWSER_LOGIN_APP_PORT')), '127.0.0.1', resolve));
  await new Promise((resolve) => rpServer.listen(Number(env('BROWSER_DELEGATED_RP_PORT')), '127.0.0.1', resolve));
  browser = await chromium.launch({
    executablePath: env('BROWSER_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 800, height: 700 } });
  context.setDefaultTimeout(15_000);
  await context.exposeBinding('reportCSPViolation', (_source, v) => violations.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.reportCSPViolation({ page: e.documentURI, directive: e.violatedDirective, blocked: e.blockedURI });
    });
  });
  page = await context.newPage();
});

after(async () => {
  await browser?.close();
  appServer.close();
  rpServer.close();
});

async function screenshot(name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 0, `${path} is empty`);
}

async function click(name) {
  await Promise.all([page.waitForLoadState(), page.getByRole('button', { name, exact: true }).click()]);
}

test('the authorization server hands sign-in to the login app, which the person uses', async () => {
  await page.goto(`${rpBase}/login`);
  await page.waitForURL((url) => url.href.startsWith(`${appBase}/login?login_challenge=`));
  assert.match(await page.locator('main').innerText(), /to continue to Delegated Test App/);
  assert.equal(await page.getByLabel('Username', { exact: true }).inputValue(), 'carol', 'login_hint reached the app');
  await screenshot('delegated-login');

  // The app's own users and error.
  await page.getByLabel('Password', { exact: true }).fill('not-the-password');
  await click('Sign in');
  assert.match(await page.getByRole('alert').innerText(), /Incorrect username or password/);
  await screenshot('delegated-login-error');

  await page.getByLabel('Password', { exact: true }).fill(carol.password);
  await click('Sign in');
  // Back through the server, then to the app's consent page.
  await page.waitForURL((url) => url.href.startsWith(`${appBase}/consent?consent_challenge=`));
});

test('consent at the app: the granted scopes and the app\'s claims reach the relying party', async () => {
  assert.match(await page.locator('main').innerText(), /Delegated Test App wants to access your account \(ext-carol-7\)/);
  assert.equal(await page.getByRole('checkbox', { name: 'Remember this decision' }).isChecked(), false);
  await screenshot('delegated-consent');
  await page.getByRole('checkbox', { name: 'email' }).uncheck();
  await page.getByRole('checkbox', { name: 'Remember this decision' }).check();
  await click('Allow');
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));
  assert.equal(await page.locator('#status').innerText(), 'signed in as ext-carol-7');
  await screenshot('delegated-signed-in');

  const claims = rp.tokens.claims();
  assert.deepEqual(claims.amr, ['pwd']);
  assert.equal(claims.acr, 'urn:example:loa:1');
  assert.equal(claims.login_app, 'example');
  assert.equal(rp.tokens.scope, 'openid profile');
  const info = await client.fetchUserInfo(config, rp.tokens.access_token, claims.sub);
  assert.equal(info.name, 'Carol Example');
  assert.equal(info.email, undefined, 'email was not granted');
});

test('a remembered session and consent skip the app', async () => {
  const before = app.redirects.length;
  await page.goto(`${rpBase}/login?scope=openid%20profile`);
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));
  assert.equal(await page.locator('#status').innerText(), 'signed in as ext-carol-7');
  assert.equal(app.redirects.length, before, 'the app was not asked');
});

test('cancelling at the app ends at the relying party with access_denied', async () => {
  await page.goto(`${rpBase}/login?prompt=login`);
  await page.waitForURL((url) => url.href.startsWith(`${appBase}/login?login_challenge=`));
  await click('Cancel');
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));
  assert.equal(await page.locator('#status').innerText(), 'error: access_denied');
  assert.equal(rp.error.error_description, 'The user cancelled the sign-in');
  await screenshot('delegated-denied');
});

test('a used redirect_to is refused by the server', async () => {
  const used = app.redirects.at(-1);
  assert.ok(used.startsWith(`${issuer}/delegated/callback?verifier=`));
  const response = await page.goto(used);
  assert.equal(response.status(), 400);
  assert.match(await page.getByRole('heading', { level: 1 }).innerText(), /expired/);
  await screenshot('delegated-replayed');
});

test('no CSP violations', () => {
  assert.deepEqual(violations, []);
});
