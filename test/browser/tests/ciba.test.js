// CIBA as a person sees it in Chromium: a bank (this test, with openid-client) asks for
// alice's approval with a binding message; the server's notifier tells the test, which opens
// the approval link in the browser, as alice would from a notification. She signs in, checks the
// binding message on the consent page and approves; the bank's polling gets the tokens.
// Screenshots of the pages go to $BROWSER_ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { once } from 'node:events';
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
const bank = await client.discovery(new URL(issuer), 'browser-bank', undefined, client.ClientSecretBasic(env('BROWSER_SECRET')),
  { execute: [client.allowInsecureRequests] });

// The notifier's receiver.
const notes = [];
let arrived = () => {};
const receiver = createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    // Only alice's: tests/pages.test.js starts requests for accounts of its own meanwhile.
    const n = JSON.parse(body);
    if (n.username === 'alice') notes.push(n);
    res.writeHead(204).end();
    arrived();
  });
});
receiver.listen(Number(env('BROWSER_CIBA_PORT')), '127.0.0.1');
await once(receiver, 'listening');

async function note(n) {
  const deadline = Date.now() + 10_000;
  while (notes.length < n) {
    assert.ok(Date.now() < deadline, 'the notifier was not called');
    await new Promise((resolve) => { arrived = resolve; setTimeout(resolve, 200); });
  }
  return notes[n - 1];
}

let browser;
let page;
const violations = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: env('BROWSER_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 390, height: 760 }, isMobile: true });
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
  receiver.close();
});

async function screenshot(name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 0, `${path} is empty`);
}

test('alice approves the bank\'s request from the link she was sent', async () => {
  const response = await client.initiateBackchannelAuthentication(bank, {
    scope: 'openid profile', login_hint: 'alice', binding_message: 'Transfer 250 EUR to Bob',
  });
  const polling = client.pollBackchannelAuthenticationGrant(bank, response);
  const { approval_uri: approvalURI } = await note(1);

  await page.goto(approvalURI);
  await page.getByLabel('Username', { exact: true }).fill(alice.username);
  await page.getByLabel('Password', { exact: true }).fill(alice.password);
  await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);

  const allow = page.getByRole('button', { name: 'Allow', exact: true });
  await allow.waitFor();
  assert.match(await page.locator('main').innerText(), /Browser Test Bank/);
  assert.equal(await page.locator('#binding-message').innerText(), 'Transfer 250 EUR to Bob');
  await screenshot('ciba-consent');

  await Promise.all([page.waitForLoadState(), allow.click()]);
  assert.match(await page.getByRole('status').innerText(), /You approved the request/);
  await screenshot('ciba-approved');

  const tokens = await polling;
  assert.ok(tokens.id_token);
});

test('the pending requests page lists what waits for the signed-in user', async () => {
  await client.initiateBackchannelAuthentication(bank, { scope: 'openid', login_hint: 'alice', binding_message: 'Log in to online banking' });
  await note(2);
  await page.goto(`${issuer}/ciba`);
  const link = page.getByRole('link', { name: /Browser Test Bank: Log in to online banking/ });
  await link.waitFor();
  await screenshot('ciba-list');
  await Promise.all([page.waitForLoadState(), link.click()]);
  // Still signed in: straight to the consent page for that request.
  await page.getByRole('button', { name: 'Deny', exact: true }).click();
  await page.waitForLoadState();
  assert.match(await page.getByRole('status').innerText(), /You denied the request/);
});

test('no CSP violations on the CIBA pages', () => {
  assert.deepEqual(violations, []);
});
