// The device authorization grant as a person sees it in Chromium: a TV (this test, with
// openid-client) shows a code; on their phone (the browser) the person opens the verification
// page, types the code, signs in, checks the code on the consent page and allows or denies
// it. Screenshots of every page go to $BROWSER_ARTIFACTS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
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
const tv = await client.discovery(new URL(issuer), 'browser-tv', undefined, client.None(),
  { execute: [client.allowInsecureRequests] });

let browser;
let page;
const violations = [];

before(async () => {
  browser = await chromium.launch({
    executablePath: env('BROWSER_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  // A phone-sized screen: the verification page is usually opened on one.
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
});

async function screenshot(name) {
  const path = join(artifacts, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  assert.ok(statSync(path).size > 0, `${path} is empty`);
}

/** Types code into the verification page and continues. */
async function enterCode(code) {
  const input = page.getByLabel('Code', { exact: true });
  await input.fill(code);
  await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Continue', exact: true }).click()]);
}

test('a wrong code is refused on the page, with the error announced', async () => {
  await page.goto(`${issuer}/device`);
  await enterCode('BBBB-BBBB');
  assert.match(await page.getByRole('alert').innerText(), /not valid/);
  assert.equal(await page.getByLabel('Code', { exact: true }).getAttribute('aria-invalid'), 'true');
  await screenshot('device-error');
});

test('the TV is allowed from the phone and its polling gets tokens', async () => {
  const response = await client.initiateDeviceAuthorization(tv, { scope: 'openid profile' });
  const polling = client.pollDeviceAuthorizationGrant(tv, response);

  await page.goto(`${issuer}/device`);
  assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), 'Connect a device');
  await screenshot('device');
  // People type what they see, in whatever case.
  await enterCode(response.user_code.toLowerCase());

  await page.getByLabel('Username', { exact: true }).fill(alice.username);
  await page.getByLabel('Password', { exact: true }).fill(alice.password);
  await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Sign in', exact: true }).click()]);

  const allow = page.getByRole('button', { name: 'Allow', exact: true });
  await allow.waitFor();
  const consent = await page.locator('main').innerText();
  assert.match(consent, /Living Room TV/);
  assert.equal(await page.locator('#user-code').innerText(), response.user_code, 'the consent page shows the code to compare');
  await screenshot('device-consent');

  await Promise.all([page.waitForLoadState(), allow.click()]);
  assert.match(await page.getByRole('status').innerText(), /Your device is now connected/);
  await screenshot('device-approved');

  const tokens = await polling;
  assert.ok(tokens.id_token, 'the TV got an ID token');
  assert.ok(tokens.claims().sub);
});

test('denying the TV ends its polling with access_denied', async () => {
  const response = await client.initiateDeviceAuthorization(tv, { scope: 'openid' });
  const polling = client.pollDeviceAuthorizationGrant(tv, response);
  // The link form of the code (verification_uri_complete): prefilled, still confirmed by a click.
  await page.goto(response.verification_uri_complete);
  assert.equal(await page.getByLabel('Code', { exact: true }).inputValue(), response.user_code);
  await Promise.all([page.waitForLoadState(), page.getByRole('button', { name: 'Continue', exact: true }).click()]);
  // Alice is still signed in from the previous test: straight to consent.
  await page.getByRole('button', { name: 'Deny', exact: true }).click();
  await page.waitForLoadState();
  assert.match(await page.getByRole('status').innerText(), /You denied access/);
  await screenshot('device-denied');
  await assert.rejects(polling, (err) => err.error === 'access_denied');
});

test('no CSP violations on the device pages', () => {
  assert.deepEqual(violations, []);
});
