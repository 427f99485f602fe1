// Passkeys in Chromium with its DevTools virtual authenticator (WebAuthn.addVirtualAuthenticator):
// alice signs in with her password, adds a passkey from the consent page's link, then signs in
// with the passkey alone, with openid-client as the relying party checking the ID token's amr
// and acr. A copy of the login page on another origin (a phishing page) and a removed passkey
// are refused. The issuer is on localhost: a WebAuthn RP ID cannot be an IP address.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import * as client from 'openid-client';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through test/browser/run.sh`);
  return value;
}

const issuer = `http://localhost:${env('BROWSER_PK_PORT')}`;
const rpBase = `http://localhost:${env('BROWSER_PK_RP_PORT')}`;
const artifacts = env('BROWSER_ARTIFACTS');
const alice = { username: 'alice', password: env('BROWSER_ALICE_PASSWORD') };
const strongACR = 'urn:example:acr:passkey';
// The pages' own script, served again by the phishing page below.
const passkeyScript = readFileSync(new URL('../../../authserver/ui/assets/passkey.js', import.meta.url));

// ---- The relying party (and the phishing page) --------------------------------------------

const config = await client.discovery(new URL(issuer), 'passkey-app', undefined,
  client.ClientSecretBasic(env('BROWSER_SECRET')), { execute: [client.allowInsecureRequests] });

const pending = new Map(); // state → openid-client checks
const rp = { claims: undefined };
// What the phishing page copies from the real login page (set by the test).
const phish = { fields: undefined, options: undefined, action: undefined };

const escapeHTML = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function send(res, status, title, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><title>${escapeHTML(title)}</title><h1>${escapeHTML(title)}</h1>${body}</html>`);
}

async function route(req, res) {
  const url = new URL(req.url, rpBase);
  switch (url.pathname) {
    case '/login': {
      const pkceCodeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      pending.set(state, { pkceCodeVerifier, expectedState: state, expectedNonce: nonce });
      const params = {
        redirect_uri: `${rpBase}/callback`, scope: 'openid profile', state, nonce,
        code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier), code_challenge_method: 'S256',
      };
      if (url.searchParams.has('acr')) params.acr_values = url.searchParams.get('acr');
      res.writeHead(302, { location: client.buildAuthorizationUrl(config, params).href });
      return res.end();
    }
    case '/callback': {
      const checks = pending.get(url.searchParams.get('state'));
      if (!checks) return send(res, 400, 'Unknown state', '');
      pending.delete(checks.expectedState);
      const tokens = await client.authorizationCodeGrant(config, url, checks);
      rp.claims = tokens.claims();
      return send(res, 200, 'Relying party', `<p id="status">signed in as ${escapeHTML(rp.claims.sub)}</p>
<pre id="claims">${escapeHTML(JSON.stringify({ amr: rp.claims.amr, acr: rp.claims.acr }))}</pre>`);
    }
    case '/passkey.js':
      res.writeHead(200, { 'content-type': 'text/javascript' });
      return res.end(passkeyScript);
    case '/phish': {
      // The login page's passkey form, copied to this origin: same challenge, same fields,
      // posting to the real server.
      const inputs = Object.entries(phish.fields).map(([k, v]) =>
        `<input type="hidden" name="${escapeHTML(k)}" value="${escapeHTML(v)}">`).join('');
      return send(res, 200, 'Sign in', `<form method="post" action="${escapeHTML(phish.action)}" data-passkey="get"
 data-options="${escapeHTML(phish.options)}" hidden>${inputs}<p role="alert" data-passkey-status hidden></p>
<button type="submit">Sign in with a passkey</button></form><script src="/passkey.js"></script>`);
    }
    default:
      return send(res, 404, 'Not found', '');
  }
}

const rpServer = createServer((req, res) => {
  route(req, res).catch((err) => send(res, 500, 'Relying party error', `<pre id="error">${escapeHTML(err)}</pre>`));
});

// ---- The browser and its authenticator --------------------------------------------------------

let browser;
let context;
let page;
let cdp;
let authenticatorId;
const consoleErrors = [];
const violations = [];

before(async () => {
  await new Promise((resolve) => rpServer.listen(Number(env('BROWSER_PK_RP_PORT')), '127.0.0.1', resolve));
  browser = await chromium.launch({
    executablePath: env('BROWSER_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  context = await browser.newContext({ viewport: { width: 800, height: 700 } });
  context.setDefaultTimeout(15_000);
  await context.exposeBinding('reportCSPViolation', (_source, v) => violations.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.reportCSPViolation({ page: e.documentURI, directive: e.violatedDirective, blocked: e.blockedURI });
    });
  });
  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || !page.url().startsWith(issuer)) return;
    if (/^Failed to load resource: the server responded with a status of 4\d\d\b/.test(msg.text()) &&
      msg.location().url === page.url()) return;
    consoleErrors.push({ page: page.url(), text: msg.text() });
  });
  page.on('pageerror', (err) => consoleErrors.push({ page: page.url(), text: String(err) }));

  // A platform authenticator with user verification (a laptop's fingerprint reader) that
  // answers at once.
  cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true,
    },
  }));
});

after(async () => {
  await browser?.close();
  rpServer.close();
});

async function screenshot(name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 0, `${path} is empty`);
}

/** Clicks a button and resolves to the response of the POST navigation it leads to. */
async function submitWith(buttonName) {
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().method() === 'POST'),
    page.getByRole('button', { name: buttonName, exact: true }).click(),
  ]);
  await page.waitForLoadState();
  return response;
}

async function signInWithPassword() {
  await page.getByLabel('Username', { exact: true }).fill(alice.username);
  await page.getByLabel('Password', { exact: true }).fill(alice.password);
  return submitWith('Sign in');
}

const claimsShown = async () => JSON.parse(await page.locator('#claims').innerText());

test('the login page offers a passkey after the password form, with the script under the CSP nonce', async () => {
  const response = await page.goto(`${rpBase}/login`);
  assert.equal(response.status(), 200);
  const csp = response.headers()['content-security-policy'] ?? '';
  assert.match(csp, /script-src 'nonce-[^']+'/);
  const passkeyButton = page.getByRole('button', { name: 'Sign in with a passkey', exact: true });
  await passkeyButton.waitFor(); // revealed by the script
  // The password form stays the first form on the page.
  assert.equal(await page.locator('form').first().getAttribute('action'), `${issuer}/login`);
  assert.equal(await page.locator('form').nth(1).getAttribute('id'), 'passkey-signin');
  await screenshot('passkey-login');
});

test('after a password sign-in, the consent page links to adding a passkey; one is added', async () => {
  await signInWithPassword();
  const offer = page.getByRole('link', { name: 'Add a passkey', exact: true });
  await offer.waitFor();
  await screenshot('passkey-consent-offer');
  await offer.click();
  await page.getByText('You have no passkeys yet').waitFor();
  await screenshot('passkey-register');

  await page.getByLabel('Name for this passkey (optional)').fill('Chromium virtual key');
  const response = await submitWith('Add a passkey');
  assert.equal(response.status(), 303, 'the registration was accepted');
  await page.getByText('Your passkey was added').waitFor();
  assert.match(await page.locator('#passkey-list').innerText(), /Chromium virtual key/);
  const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  assert.equal(credentials.length, 1, 'the authenticator holds one passkey');
  assert.equal(credentials[0].isResidentCredential, true, 'a discoverable credential');
  await screenshot('passkey-added');

  // Back to the application, still signed in with the password.
  await page.getByRole('link', { name: 'Continue to the application' }).click();
  // Remembered, so the passkey sign-ins below go straight back to the application (the box is
  // unticked by default).
  await page.getByLabel('Remember this decision').check();
  await page.getByRole('button', { name: 'Allow', exact: true }).click();
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));
  assert.deepEqual((await claimsShown()).amr, ['pwd']);
});

test('asking for the phishing-resistant acr makes a password session sign in with the passkey', async () => {
  await page.goto(`${rpBase}/login?acr=${encodeURIComponent(strongACR)}`);
  await page.getByText('This application asks you to sign in with a passkey.').waitFor();
  await screenshot('passkey-required');
  await page.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click();
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));
  const claims = await claimsShown();
  assert.equal(claims.acr, strongACR);
  assert.deepEqual(claims.amr, ['hwk', 'user']);
});

test('a new browser session signs in with the passkey alone: amr hwk and user in the ID token', async () => {
  await context.clearCookies();
  await page.goto(`${rpBase}/login`);
  await page.getByRole('button', { name: 'Sign in with a passkey', exact: true }).click();
  // The consent was remembered (the checkbox's default), so straight back to the client.
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));
  assert.match(await page.locator('#status').innerText(), /^signed in as \S+/);
  assert.deepEqual((await claimsShown()).amr, ['hwk', 'user']);
  assert.equal(rp.claims.acr, undefined, 'no acr was asked for');
});

test('the login page copied to another origin: the server refuses the passkey', async () => {
  await context.clearCookies();
  await page.goto(`${rpBase}/login`);
  const form = page.locator('#passkey-signin');
  phish.action = await form.getAttribute('action');
  phish.options = await form.getAttribute('data-options');
  phish.fields = await form.evaluate((f) => Object.fromEntries(
    [...f.querySelectorAll('input[type=hidden]')].map((i) => [i.name, i.value])));
  // The phishing page is on localhost too, so the RP ID is valid there and the
  // authenticator signs; only the origin in the signed client data gives it away.
  await page.goto(`${rpBase}/phish`);
  const response = await submitWith('Sign in with a passkey');
  assert.equal(response.status(), 401);
  assert.ok(response.url().startsWith(issuer), `answered by the server, at ${response.url()}`);
  await page.getByText('That passkey could not be used to sign in.').waitFor();
  await screenshot('passkey-wrong-origin');
});

test('a removed (revoked) passkey no longer signs in', async () => {
  await context.clearCookies();
  await page.goto(`${rpBase}/login`);
  await signInWithPassword();
  // The consent is remembered: straight back to the client, signed in with the password.
  await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));
  await page.goto(`${issuer}/passkeys`);
  await page.getByRole('button', { name: 'Remove the passkey Chromium virtual key' }).click();
  await page.getByText('You have no passkeys yet').waitFor();

  await context.clearCookies();
  await page.goto(`${rpBase}/login`);
  const response = await submitWith('Sign in with a passkey');
  assert.equal(response.status(), 401);
  await page.getByText('That passkey could not be used to sign in.').waitFor();
  await page.getByLabel('Password', { exact: true }).waitFor(); // the password form is still there
  await screenshot('passkey-revoked');
});

test('no console errors and no CSP violations on the server\'s pages', () => {
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(violations, []);
});
