// OpenID Connect Front-Channel Logout 1.0 in Chromium: a person signs in to two relying
// parties (Mail and Calendar, each on its own origin, run by this file), then signs out at Mail.
// The server's sign-out page must load each party's frontchannel_logout_uri in an iframe (Mail's
// with iss and sid, as it registered frontchannel_logout_session_required), allow exactly those
// frames in its CSP, and then continue to Mail's post_logout_redirect_uri. Screenshots go to
// $BROWSER_ARTIFACTS.
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
const artifacts = env('BROWSER_ARTIFACTS');
const alice = { username: 'alice', password: env('BROWSER_ALICE_PASSWORD') };

const escapeHTML = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function send(res, status, title, body) {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html lang="en"><title>${escapeHTML(title)}</title><h1>${escapeHTML(title)}</h1>${body}</html>`);
}

function redirect(res, location) {
  res.writeHead(302, { location: String(location) });
  res.end();
}

/**
 * A relying party on its own loopback port: code flow with openid-client, a sign-out link
 * (RP-initiated logout back to /signed-out), and the front-channel logout URL, which records
 * every request and answers once `release` resolves (so the test can look at the page while
 * the frames are loading).
 */
async function relyingParty(clientId, port) {
  const base = `http://127.0.0.1:${port}`;
  const config = await client.discovery(new URL(issuer), clientId, undefined,
    client.ClientSecretBasic(env('BROWSER_SECRET')), { execute: [client.allowInsecureRequests] });
  const rp = { base, hits: [], idToken: undefined, sid: undefined, release: Promise.resolve() };
  const logins = new Map();
  const logouts = new Set();
  // rp.hit resolves at the next request of the front-channel logout URL.
  rp.expectHit = () => { rp.hit = new Promise((resolve) => { rp.onHit = resolve; }); };
  rp.expectHit();

  async function route(req, res) {
    const url = new URL(req.url, base);
    switch (url.pathname) {
      case '/login': {
        const checks = { pkceCodeVerifier: client.randomPKCECodeVerifier(), expectedState: client.randomState(), expectedNonce: client.randomNonce() };
        logins.set(checks.expectedState, checks);
        return redirect(res, client.buildAuthorizationUrl(config, {
          redirect_uri: `${base}/callback`, scope: 'openid profile', state: checks.expectedState, nonce: checks.expectedNonce,
          code_challenge: await client.calculatePKCECodeChallenge(checks.pkceCodeVerifier), code_challenge_method: 'S256',
        }));
      }
      case '/callback': {
        const checks = logins.get(url.searchParams.get('state'));
        if (!checks) return send(res, 400, 'Unknown state', '');
        logins.delete(checks.expectedState);
        const tokens = await client.authorizationCodeGrant(config, url, checks);
        rp.idToken = tokens.id_token;
        rp.sid = tokens.claims().sid;
        return send(res, 200, clientId, `<p id="status">signed in as ${escapeHTML(tokens.claims().sub)}</p><p><a href="/logout">Sign out</a></p>`);
      }
      case '/logout': {
        const state = client.randomState();
        logouts.add(state);
        return redirect(res, client.buildEndSessionUrl(config, {
          id_token_hint: rp.idToken, post_logout_redirect_uri: `${base}/signed-out`, state,
        }));
      }
      case '/signed-out': {
        if (!logouts.delete(url.searchParams.get('state'))) return send(res, 400, 'Unknown state', '');
        return send(res, 200, clientId, '<p id="status">signed out</p>');
      }
      case '/frontchannel-logout': {
        rp.hits.push(url);
        rp.onHit();
        await rp.release;
        return send(res, 200, `${clientId} signed out`, '');
      }
      default:
        return send(res, 404, 'Not found', '');
    }
  }
  rp.server = createServer((req, res) => {
    route(req, res).catch((err) => send(res, 500, 'Relying party error', `<pre id="error">${escapeHTML(err)}</pre>`));
  });
  await new Promise((resolve) => rp.server.listen(port, '127.0.0.1', resolve));
  return rp;
}

let browser;
let page;
let mail;
let calendar;
const violations = [];
const consoleErrors = [];

before(async () => {
  mail = await relyingParty('fc-mail', Number(env('BROWSER_FC_A_PORT')));
  calendar = await relyingParty('fc-calendar', Number(env('BROWSER_FC_B_PORT')));
  browser = await chromium.launch({
    executablePath: env('BROWSER_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  context.setDefaultTimeout(15_000);
  // A CSP violation on any page or frame (a frame-src that left a client out) is reported.
  await context.exposeBinding('reportCSPViolation', (_source, v) => violations.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.reportCSPViolation({ page: e.documentURI, directive: e.violatedDirective, blocked: e.blockedURI });
    });
  });
  page = await context.newPage();
  page.on('console', (msg) => {
    if (msg.type() === 'error' && page.url().startsWith(issuer)) consoleErrors.push({ page: page.url(), text: msg.text() });
  });
  page.on('pageerror', (err) => consoleErrors.push({ page: page.url(), text: String(err) }));
});

after(async () => {
  await browser?.close();
  mail?.server.close();
  calendar?.server.close();
});

async function screenshot(name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 0, `${path} is empty`);
}

/** Signs in to rp through the server's pages: login when there is no session, consent when not remembered. */
async function signInTo(rp) {
  await page.goto(`${rp.base}/login`);
  const password = page.getByLabel('Password', { exact: true });
  const allow = page.getByRole('button', { name: 'Allow', exact: true });
  const back = page.locator('#status'); // the relying party's page
  await password.or(allow).or(back).first().waitFor();
  if (await password.isVisible()) {
    await page.getByLabel('Username', { exact: true }).fill(alice.username);
    await password.fill(alice.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await allow.or(back).first().waitFor();
  }
  if (await allow.isVisible()) await allow.click();
  await page.waitForURL((url) => url.href.startsWith(`${rp.base}/callback`));
  assert.match(await back.innerText(), /^signed in as /);
}

test('signing out loads every client\'s front-channel logout URL in a frame, then returns to the client', async () => {
  await signInTo(mail);
  await signInTo(calendar);
  assert.ok(mail.sid, 'Mail\'s ID token has a sid');
  assert.equal(calendar.sid, mail.sid, 'one session at the server');

  // Calendar's logout URL answers only after the screenshot, so the page can be seen.
  let releaseCalendar;
  calendar.release = new Promise((resolve) => { releaseCalendar = resolve; });

  await page.goto(`${mail.base}/logout`);
  const [signOutPage] = await Promise.all([
    page.waitForResponse((r) => r.request().isNavigationRequest() && r.request().method() === 'POST'),
    page.getByRole('button', { name: 'Sign out', exact: true }).click(),
  ]);
  assert.equal(signOutPage.status(), 200);
  const csp = signOutPage.headers()['content-security-policy'] ?? '';
  const frameSrc = csp.split(';').map((d) => d.trim()).find((d) => d.startsWith('frame-src ')) ?? '';
  assert.deepEqual(frameSrc.split(' ').slice(1).sort(), [mail.base, calendar.base].sort(), `exactly the clients' origins in ${csp}`);

  await Promise.all([mail.hit, calendar.hit]);
  await page.getByRole('status').waitFor();
  assert.ok(page.url().startsWith(issuer), `still on the server's sign-out page, at ${page.url()}`);
  const frames = await page.locator('iframe').evaluateAll((els) => els.map((e) => e.src));
  assert.equal(frames.length, 2);
  assert.match(await page.locator('main').innerText(), /Mail[\s\S]*Calendar|Calendar[\s\S]*Mail/);
  await screenshot('frontchannel-logout');
  releaseCalendar();

  // Each client was asked once; Mail with the issuer and the session it knows from its ID token.
  assert.equal(mail.hits.length, 1);
  assert.equal(mail.hits[0].searchParams.get('iss'), issuer);
  assert.equal(mail.hits[0].searchParams.get('sid'), mail.sid);
  assert.equal(calendar.hits.length, 1);
  assert.equal(calendar.hits[0].searchParams.get('app'), 'calendar');
  assert.equal(calendar.hits[0].searchParams.has('sid'), false, 'Calendar did not ask for the session');
  assert.equal(calendar.hits[0].searchParams.has('iss'), false);

  await page.waitForURL((url) => url.href.startsWith(`${mail.base}/signed-out`));
  assert.equal(await page.locator('#status').innerText(), 'signed out');
  await screenshot('frontchannel-signed-out');

  // The session is over: Calendar's next sign-in asks for the password again.
  await page.goto(`${calendar.base}/login`);
  await page.getByLabel('Password', { exact: true }).waitFor();
});

test('a client whose logout URL never answers does not keep the user from going on', async () => {
  await signInTo(mail);
  await signInTo(calendar);
  const hitsBefore = calendar.hits.length;
  mail.expectHit();
  calendar.expectHit();
  let releaseCalendar;
  calendar.release = new Promise((resolve) => { releaseCalendar = resolve; });
  try {
    await page.goto(`${mail.base}/logout`);
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await Promise.all([mail.hit, calendar.hit]);
    // The page does not finish loading, so only the script's deadline moves the browser on.
    await page.waitForURL((url) => url.href.startsWith(`${mail.base}/signed-out`), { timeout: 12_000 });
    assert.equal(calendar.hits.length, hitsBefore + 1, 'Calendar was asked once');
    assert.equal(await page.locator('#status').innerText(), 'signed out');
  } finally {
    releaseCalendar();
  }
});

test('no console errors and no CSP violations during the front-channel sign-out', () => {
  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(violations, []);
});
