// Account self-service in Chromium: a person signs in to /account, allows an app (a relying party
// run here with openid-client), sees it on the apps page and removes its access (its refresh
// token stops working), ends a session of another browser, and changes the password with the
// keyboard alone (the other browser is signed out). The account is created through Caddy's admin
// API: accounts declared in the Caddyfile keep the password the configuration gives them.
// Screenshots of every account page go to $BROWSER_ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { adminRequest as callAdmin } from './admin.js';
import { randomBytes } from 'node:crypto';
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
const rpBase = `http://127.0.0.1:${env('BROWSER_ACCOUNT_RP_PORT')}`;
const admin = `http://127.0.0.1:${env('BROWSER_ADMIN_PORT')}`;
const artifacts = env('BROWSER_ARTIFACTS');
const dana = { username: `dana-${randomBytes(4).toString('hex')}`, password: `first-${randomBytes(12).toString('hex')}` };
const newPassword = `second-${randomBytes(12).toString('hex')}`;

// ---- The relying party ----------------------------------------------------------------------

const config = await client.discovery(new URL(issuer), 'browser-account-app', undefined,
  client.ClientSecretBasic(env('BROWSER_SECRET')), { execute: [client.allowInsecureRequests] });

const pending = new Map(); // state → checks
const rp = { refreshToken: undefined, sub: undefined };
const escapeHTML = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><title>Account Test App</title>${body}</html>`);
}

async function route(req, res) {
  const url = new URL(req.url, rpBase);
  if (url.pathname === '/login') {
    const pkceCodeVerifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    pending.set(state, { pkceCodeVerifier, expectedState: state });
    res.writeHead(302, {
      location: client.buildAuthorizationUrl(config, {
        redirect_uri: `${rpBase}/callback`, scope: 'openid profile offline_access', state,
        code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier), code_challenge_method: 'S256',
      }).href,
    });
    return res.end();
  }
  if (url.pathname === '/callback') {
    const checks = pending.get(url.searchParams.get('state'));
    if (!checks) return send(res, 400, '<p>Unknown state</p>');
    pending.delete(checks.expectedState);
    const tokens = await client.authorizationCodeGrant(config, url, checks);
    rp.refreshToken = tokens.refresh_token;
    rp.sub = tokens.claims().sub;
    return send(res, 200, `<p id="status">signed in as ${escapeHTML(rp.sub)}</p>`);
  }
  return send(res, 404, '<p>Not found</p>');
}

const rpServer = createServer((req, res) => {
  route(req, res).catch((err) => send(res, 500, `<pre id="error">${escapeHTML(err)}</pre>`));
});

// ---- The browsers ---------------------------------------------------------------------------

let browser;
let here; // the person's browser
let there; // another browser signed in to the same account
let page;
const consoleErrors = [];
const violations = [];

async function newContext() {
  const context = await browser.newContext({ viewport: { width: 800, height: 700 } });
  context.setDefaultTimeout(15_000);
  await context.exposeBinding('reportCSPViolation', (_source, v) => violations.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.reportCSPViolation({ page: e.documentURI, directive: e.violatedDirective, blocked: e.blockedURI });
    });
  });
  return context;
}

/** Calls Caddy's admin API (see admin.js). */
const adminRequest = (method, path, body) => callAdmin(admin, method, path, body);

before(async () => {
  // The account, through the admin API: PUT /oauth/accounts.
  const created = await adminRequest('PUT', '/oauth/accounts',
    { issuer, username: dana.username, password: dana.password, claims: { name: 'Dana Example' } });
  assert.equal(created.status, 201, created.body);

  await new Promise((resolve) => rpServer.listen(Number(env('BROWSER_ACCOUNT_RP_PORT')), '127.0.0.1', resolve));
  browser = await chromium.launch({
    executablePath: env('BROWSER_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  here = await newContext();
  there = await newContext();
  page = await here.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || !page.url().startsWith(issuer)) return;
    // Chromium logs the 4xx status of the document itself (a refused form); asserted below.
    if (/^Failed to load resource: the server responded with a status of 4\d\d\b/.test(msg.text()) &&
      msg.location().url === page.url()) return;
    consoleErrors.push({ page: page.url(), text: msg.text() });
  });
  page.on('pageerror', (err) => consoleErrors.push({ page: page.url(), text: String(err) }));
});

after(async () => {
  await browser?.close();
  rpServer.close();
  await adminRequest('DELETE', `/oauth/accounts?issuer=${encodeURIComponent(issuer)}&username=${encodeURIComponent(dana.username)}`).catch(() => {});
});

async function screenshot(name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 0, `${path} is empty`);
}

/** Signs in on the account pages' sign-in page shown in p. */
async function signIn(p, { username, password }) {
  await p.getByLabel('Username', { exact: true }).fill(username);
  await p.getByLabel('Password', { exact: true }).fill(password);
  const [response] = await Promise.all([
    p.waitForResponse((r) => r.request().isNavigationRequest() && r.request().method() === 'POST'),
    p.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  await p.waitForLoadState();
  return response;
}

/** Presses Tab until the focused element matches (role, name), then returns it focused. */
async function tabTo(role, name) {
  const target = page.getByRole(role, { name });
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    if (await target.evaluate((el) => el === document.activeElement).catch(() => false)) return target;
  }
  throw new Error(`Tab never reached the ${role} "${name}"`);
}

const path = (p) => new URL(p.url()).pathname + new URL(p.url()).search;

test('the account pages send a signed-out browser to sign in, then back to the page it asked for', async () => {
  const response = await page.goto(`${issuer}/account/apps`);
  assert.equal(response.status(), 200);
  assert.equal(path(page), '/account/login?return=apps');
  assert.match(response.headers()['content-security-policy'] ?? '', /default-src 'none'/);
  await screenshot('account-login');
  await signIn(page, dana);
  assert.equal(path(page), '/account/apps');
  await page.getByText('No app can access your account').waitFor();
});

test('the overview names the account', async () => {
  await page.goto(`${issuer}/account`);
  assert.equal(await page.locator('#account-name').innerText(), dana.username);
  assert.equal(await page.getByRole('link', { name: 'Overview' }).getAttribute('aria-current'), 'page');
  await screenshot('account');
});

test('an app the user allowed is listed, and removing it (keyboard) revokes its refresh token', async () => {
  await page.goto(`${rpBase}/login`);
  await page.getByRole('button', { name: 'Allow', exact: true }).click();
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));
  assert.ok(rp.refreshToken, 'the app got a refresh token');
  // The refresh token works before the removal (and rotates).
  const refreshed = await client.refreshTokenGrant(config, rp.refreshToken);
  rp.refreshToken = refreshed.refresh_token ?? rp.refreshToken;

  await page.goto(`${issuer}/account/apps`);
  const main = await page.locator('main').innerText();
  assert.match(main, /Account Test App/);
  assert.match(main, /Stay signed in/);
  await screenshot('account-apps');

  const remove = await tabTo('button', 'Remove access of Account Test App');
  await Promise.all([page.waitForURL((url) => url.search === '?done=app'), remove.press('Enter')]);
  await page.getByRole('status').filter({ hasText: 'no longer has access' }).waitFor();
  await screenshot('account-apps-removed');

  await assert.rejects(client.refreshTokenGrant(config, rp.refreshToken), (err) => {
    assert.equal(err.error, 'invalid_grant');
    return true;
  });
});

test('the sessions page lists another browser, and signing it out there works', async () => {
  const other = await there.newPage();
  await other.goto(`${issuer}/account`);
  await signIn(other, dana);
  assert.equal(path(other), '/account');

  await page.goto(`${issuer}/account/sessions`);
  assert.equal(await page.locator('.items > li').count(), 2);
  await page.getByRole('heading', { name: 'This browser' }).waitFor();
  await screenshot('account-sessions');

  // The other browser is named by its User-Agent (Chrome on Linux) and signed in from loopback.
  assert.match(await page.locator('main').innerText(), /Chrome on Linux/);
  assert.match(await page.locator('main').innerText(), /from 127\.0\.0\.1/);
  await page.getByRole('button', { name: /^Sign out of Chrome on Linux signed in/ }).click();
  await page.waitForURL((url) => url.search === '?done=session');
  assert.equal(await page.locator('.items > li').count(), 1);

  await other.goto(`${issuer}/account`);
  assert.equal(path(other), '/account/login', 'the other browser is signed out');
  await other.close();
});

test('changing the password with the keyboard: a wrong current password is refused, then other browsers are signed out', async () => {
  const other = await there.newPage();
  await other.goto(`${issuer}/account`);
  await signIn(other, dana);

  await page.goto(`${issuer}/account/password`);
  await screenshot('account-password');

  // Only the keyboard: the current password field has the focus; Tab moves on.
  const fill = async (current) => {
    await page.getByLabel('Current password').focus();
    await page.keyboard.type(current);
    await page.keyboard.press('Tab');
    await page.keyboard.type(newPassword);
    await page.keyboard.press('Tab');
    await page.keyboard.type(newPassword);
    const button = await tabTo('button', 'Change password');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().method() === 'POST'),
      button.press('Enter'),
    ]);
    await page.waitForLoadState();
    return response;
  };
  const wrong = await fill('not-the-password');
  assert.equal(wrong.status(), 401);
  assert.match(await page.getByRole('alert').innerText(), /current password is not right/);
  await screenshot('account-password-error');

  await fill(dana.password);
  assert.equal(path(page), '/account?done=password');
  await page.getByRole('status').filter({ hasText: 'Your password is changed' }).waitFor();
  await screenshot('account-password-changed');

  await other.goto(`${issuer}/account`);
  assert.equal(path(other), '/account/login', 'the other browser is signed out');
  const old = await signIn(other, dana);
  assert.equal(old.status(), 401, 'the old password no longer signs in');
  await signIn(other, { username: dana.username, password: newPassword });
  assert.equal(path(other), '/account');
  await other.close();
});

test('no console errors and no CSP violations on the account pages', () => {
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(violations, []);
});
