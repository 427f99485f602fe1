// The pages for people: every page in every language, in both colour schemes and at a phone
// and a desktop size, checked by axe-core (zero serious or critical violations) and
// screenshotted to $BROWSER_ARTIFACTS/pages/<state>-<language>-<theme>-<size>.png (run.sh checks
// each one exists); and every page worked with the keyboard alone. The language comes from the
// browser's Accept-Language (the context's locale) or from ui_locales.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { adminRequest as callAdmin } from './admin.js';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through test/browser/run.sh`);
  return value;
}

const issuer = env('BROWSER_ISSUER');
// The passkey issuer (on localhost: a WebAuthn RP ID cannot be an IP address) and Caddy's admin
// API, where the account pages' test creates accounts whose passwords can be changed.
const pkIssuer = `http://localhost:${env('BROWSER_PK_PORT')}`;
const pkRP = `http://localhost:${env('BROWSER_PK_RP_PORT')}`;
const admin = `http://127.0.0.1:${env('BROWSER_ADMIN_PORT')}`;
// A relying party with a front-channel logout URI (fc-mail); tests/frontchannel.test.js runs
// the real one, this test answers its URLs in the browser itself.
const fcBase = `http://127.0.0.1:${env('BROWSER_FC_A_PORT')}`;
const rpBase = `http://127.0.0.1:${env('BROWSER_RP_PORT')}`;
const shots = join(env('BROWSER_ARTIFACTS'), 'pages');
const alice = { username: 'alice', password: env('BROWSER_ALICE_PASSWORD') };
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const languages = ['en', 'de', 'fr'];
const themes = ['light', 'dark'];
const sizes = { mobile: { width: 375, height: 740 }, desktop: { width: 1280, height: 800 } };
// What each language calls things, to find them the way a person does.
const words = {
  en: { password: 'Password', signIn: 'Sign in', allow: 'Allow', deny: 'Deny', signOut: 'Sign out', code: 'Code', remember: 'Remember this decision', back: 'Return to Browser Test App', details: 'Technical details',
    account: 'Your account', accountLogin: 'Sign in to your account', apps: 'Apps with access', sessions: 'Where you are signed in', changePassword: 'Change your password', current: 'Current password', newPassword: 'New password', again: 'New password again', change: 'Change password', mismatch: /passwords differ/,
    passkey: 'Sign in with a passkey', addPasskey: 'Add a passkey', passkeys: 'Passkeys', noPasskeys: 'You have no passkeys yet.', approved: 'Device connected',
    cibaApproved: 'Request approved', signingOut: 'Signing you out' },
  de: { password: 'Passwort', signIn: 'Anmelden', allow: 'Erlauben', deny: 'Ablehnen', signOut: 'Abmelden', code: 'Code', remember: 'Diese Entscheidung merken', back: 'Zurück zu Browser Test App', details: 'Technische Details',
    account: 'Ihr Konto', accountLogin: 'Bei Ihrem Konto anmelden', apps: 'Apps mit Zugriff', sessions: 'Wo Sie angemeldet sind', changePassword: 'Passwort ändern', current: 'Aktuelles Passwort', newPassword: 'Neues Passwort', again: 'Neues Passwort wiederholen', change: 'Passwort ändern', mismatch: /stimmen nicht überein/,
    passkey: 'Mit einem Passkey anmelden', addPasskey: 'Passkey hinzufügen', passkeys: 'Passkeys', noPasskeys: 'Sie haben noch keine Passkeys.', approved: 'Gerät verbunden',
    cibaApproved: 'Anfrage erlaubt', signingOut: 'Sie werden abgemeldet' },
  fr: { password: 'Mot de passe', signIn: 'Se connecter', allow: 'Autoriser', deny: 'Refuser', signOut: 'Se déconnecter', code: 'Code', remember: 'Mémoriser cette décision', back: 'Revenir à Browser Test App', details: 'Détails techniques',
    account: 'Votre compte', accountLogin: 'Connexion à votre compte', apps: 'Applications ayant accès', sessions: 'Où vous êtes connecté', changePassword: 'Changer votre mot de passe', current: 'Mot de passe actuel', newPassword: 'Nouveau mot de passe', again: 'Confirmer le nouveau mot de passe', change: 'Changer le mot de passe', mismatch: /diffèrent/,
    passkey: 'Se connecter avec une clé d’accès', addPasskey: 'Ajouter une clé d’accès', passkeys: 'Clés d’accès', noPasskeys: 'Vous n’avez pas encore de clé d’accès.', approved: 'Appareil connecté',
    cibaApproved: 'Demande approuvée', signingOut: 'Déconnexion en cours' },
};

let browser;
const violations = []; // CSP violations
const b64url = (buf) => buf.toString('base64url');

before(async () => {
  mkdirSync(shots, { recursive: true });
  browser = await chromium.launch({
    executablePath: env('BROWSER_CHROMIUM'),
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
});

/** A fresh person whose browser speaks lang. The relying party's callback is answered here. */
async function person(lang, { rpStatus = 204 } = {}) {
  const context = await browser.newContext({ locale: lang, viewport: sizes.desktop });
  context.setDefaultTimeout(60_000);
  await context.exposeBinding('reportCSPViolation', (_source, v) => violations.push(v));
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.reportCSPViolation({ page: e.documentURI, directive: e.violatedDirective, blocked: e.blockedURI });
    });
  });
  // The relying party is not running in this process: a 204 keeps the form_post page shown;
  // a 200 is a page of its own.
  await context.route(`${rpBase}/**`, (route) => route.fulfill({ status: rpStatus, contentType: 'text/html', body: rpStatus === 204 ? undefined : '<!doctype html><title>RP</title>' }));
  const page = await context.newPage();
  return { context, page };
}

/** An authorization request of the browser test app (PKCE S256). */
function authorizeURL(extra = {}) {
  const verifier = b64url(randomBytes(32));
  const q = new URLSearchParams({
    client_id: 'browser-app', response_type: 'code', redirect_uri: `${rpBase}/callback`,
    scope: 'openid profile email', state: b64url(randomBytes(8)), prompt: 'consent',
    code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
    ...extra,
  });
  return `${issuer}/authorize?${q}`;
}

/**
 * Runs axe-core on the page in both colour schemes at both sizes, failing on a serious or
 * critical violation (listing them), and leaves a screenshot of each.
 */
async function audit(page, state, lang, { settled = true } = {}) {
  // The form_post page has submitted itself (to a 204): it stays, but never settles again.
  if (settled) await page.waitForLoadState('load');
  assert.equal(await page.getAttribute('html', 'lang'), lang, `${state}: <html lang>`);
  const found = [];
  for (const theme of themes) {
    for (const [size, viewport] of Object.entries(sizes)) {
      await page.emulateMedia({ colorScheme: theme });
      await page.setViewportSize(viewport);
      // Evaluated through the DevTools protocol, so the page's CSP does not block it.
      if (!(await page.evaluate(() => typeof window.axe !== 'undefined'))) await page.evaluate(axeSource);
      const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
      for (const v of result.violations) {
        if (v.impact === 'serious' || v.impact === 'critical') {
          found.push(`${state} ${lang} ${theme} ${size}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
        }
      }
      const path = join(shots, `${state}-${lang}-${theme}-${size}.png`);
      await page.screenshot({ path, fullPage: true });
      assert.ok(statSync(path).size > 0, `${path} is empty`);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize(sizes.desktop);
  assert.deepEqual(found, [], `axe-core found serious or critical violations:\n${found.join('\n')}`);
}

/** Clicks a button, found by its name in the page's language. */
async function press(page, name) {
  // The caller then waits for what the next page shows (a sign-in hashes a password, which
  // takes a while on a busy machine).
  await page.getByRole('button', { name, exact: true }).click();
}

/** Asks the server for a device code, as a TV would. */
async function deviceCode() {
  const res = await fetch(`${issuer}/device_authorization`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'browser-tv', scope: 'openid profile' }),
  });
  assert.equal(res.status, 200);
  return (await res.json()).user_code;
}

for (const lang of languages) {
  test(`every page in ${lang}: axe-core clean in both themes and sizes, screenshots`, async () => {
    const w = words[lang];
    const { context, page } = await person(lang);
    try {
      // Login, a wrong password, consent, then the form_post response page.
      await page.goto(authorizeURL({ response_mode: 'form_post' }));
      await page.getByLabel(w.password, { exact: true }).waitFor();
      await audit(page, 'login', lang);
      // An unknown account (one per language): the same generic error as a wrong password,
      // without slowing alice's next sign-ins down (the login throttle counts per account).
      await page.locator('#username').fill(`nobody-${lang}`);
      await page.getByLabel(w.password, { exact: true }).fill('not-a-password');
      await press(page, w.signIn);
      await page.getByRole('alert').waitFor();
      await audit(page, 'login-error', lang);
      await page.locator('#username').fill(alice.username);
      await page.getByLabel(w.password, { exact: true }).fill(alice.password);
      await press(page, w.signIn);
      await page.getByRole('button', { name: w.allow, exact: true }).waitFor();
      assert.equal(await page.getByLabel(w.remember).isChecked(), false, 'remember is off by default');
      const main = await page.locator('main').innerText();
      assert.match(main, /Browser Test App/);
      if (lang === 'de') assert.match(main, /für Rechnungen/, 'the configured German scope description');
      assert.equal(await page.locator('nav a').count(), 3, 'the client\'s home, privacy and terms links');
      await audit(page, 'consent', lang);
      await press(page, w.allow);
      await page.locator(`form[action^="${rpBase}"] button`).waitFor();
      await audit(page, 'form-post', lang, { settled: false });

      // An error page: an unregistered redirect URI; the way back is the client's home page.
      const response = await page.goto(authorizeURL({ redirect_uri: `${rpBase}/not-registered` }));
      assert.equal(response.status(), 400);
      assert.equal(await page.locator('#back').innerText(), w.back);
      assert.equal(await page.locator('details').getAttribute('open'), null, 'the technical details start collapsed');
      await audit(page, 'error', lang);

      // Signing out: confirmation, then the signed-out page leading back to the app.
      await page.goto(`${issuer}/end_session?client_id=browser-app`);
      await page.getByRole('button', { name: w.signOut, exact: true }).waitFor();
      await audit(page, 'logout', lang);
      await press(page, w.signOut);
      await page.getByRole('status').waitFor();
      assert.equal(await page.locator('#back').getAttribute('href'), `${rpBase}/`);
      await audit(page, 'signed-out', lang);

      // The device pages: a wrong code, the right one, sign-in, consent with the code, deny.
      await page.goto(`${issuer}/device`);
      await audit(page, 'device', lang);
      await page.getByLabel(w.code, { exact: true }).fill('BCDF-GHJK');
      await press(page, (await page.locator('button[value=approve]').innerText()).trim());
      await page.getByRole('alert').waitFor();
      await audit(page, 'device-error', lang);
      const code = await deviceCode();
      await page.getByLabel(w.code, { exact: true }).fill(code);
      await press(page, (await page.locator('button[value=approve]').innerText()).trim());
      await page.locator('#username').fill(alice.username);
      await page.getByLabel(w.password, { exact: true }).fill(alice.password);
      await press(page, w.signIn);
      await page.locator('#user-code').waitFor();
      assert.equal(await page.locator('#user-code').innerText(), code);
      await audit(page, 'device-consent', lang);
      await press(page, w.deny);
      await page.getByRole('status').waitFor();
      await audit(page, 'device-denied', lang);
      // Another code, now signed in: consent, allow, the device is connected.
      const code2 = await deviceCode();
      await page.goto(`${issuer}/device`);
      await page.getByLabel(w.code, { exact: true }).fill(code2);
      await press(page, (await page.locator('button[value=approve]').innerText()).trim());
      await page.locator('#user-code').waitFor();
      await press(page, w.allow);
      await page.getByRole('status').waitFor();
      assert.equal((await page.locator('h1').innerText()).trim(), w.approved);
      await audit(page, 'device-approved', lang);

      // The pending CIBA requests of the signed-in user (none).
      await page.goto(`${issuer}/ciba`);
      await page.getByRole('status').waitFor();
      await audit(page, 'ciba-list', lang);
    } finally {
      await context.close();
    }
  });
}

/** Calls Caddy's admin API (see admin.js). */
const adminRequest = (method, path, body) => callAdmin(admin, method, path, body);

/** An account of its own (created through the admin API), whose password can be changed. */
async function newAccount(name, iss = issuer) {
  const who = { iss, username: `${name}-${randomBytes(4).toString('hex')}`, password: `pw-${randomBytes(12).toString('hex')}` };
  const created = await adminRequest('PUT', '/oauth/accounts', { issuer: iss, username: who.username, password: who.password });
  assert.equal(created.status, 201, created.body);
  return who;
}

function dropAccount(who) {
  return adminRequest('DELETE', `/oauth/accounts?issuer=${encodeURIComponent(who.iss)}&username=${encodeURIComponent(who.username)}`).catch(() => {});
}

/** An authorization request of the passkey issuer's app. */
function passkeyAuthorizeURL() {
  const verifier = b64url(randomBytes(32));
  const q = new URLSearchParams({
    client_id: 'passkey-app', response_type: 'code', redirect_uri: `${pkRP}/callback`, scope: 'openid profile',
    state: b64url(randomBytes(8)), prompt: 'consent',
    code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
  });
  return `${pkIssuer}/authorize?${q}`;
}

/** Asserts the page's heading, in the page's language. */
async function heading(page, want) {
  assert.equal((await page.locator('h1').innerText()).trim(), want);
}

for (const lang of languages) {
  test(`the account and passkey pages in ${lang}: axe-core clean in both themes and sizes, screenshots`, async () => {
    const w = words[lang];
    const who = await newAccount(`pages-${lang}`);
    // The passkey issuer's own account: tests/passkey.test.js adds passkeys to alice's there.
    const pk = await newAccount(`pages-${lang}`, pkIssuer);
    const { context, page } = await person(lang);
    try {
      // The account pages: their sign-in page, then each section.
      await page.goto(`${issuer}/account`);
      await heading(page, w.accountLogin);
      await audit(page, 'account-login', lang);
      await page.locator('#username').fill(who.username);
      await page.getByLabel(w.password, { exact: true }).fill(who.password);
      await press(page, w.signIn);
      await page.locator('#account-name').waitFor();
      await heading(page, w.account);
      await audit(page, 'account', lang);
      await page.goto(`${issuer}/account/apps`);
      await heading(page, w.apps);
      await audit(page, 'account-apps', lang);
      await page.goto(`${issuer}/account/sessions`);
      await heading(page, w.sessions);
      await audit(page, 'account-sessions', lang);
      await page.goto(`${issuer}/account/password`);
      await heading(page, w.changePassword);
      await audit(page, 'account-password', lang);
      // Two different new passwords: the form again, with the error.
      await page.getByLabel(w.current, { exact: true }).fill(who.password);
      await page.getByLabel(w.newPassword, { exact: true }).fill('a-new-password-1');
      await page.getByLabel(w.again, { exact: true }).fill('a-new-password-2');
      await press(page, w.change);
      await page.getByRole('alert').waitFor();
      assert.match(await page.getByRole('alert').innerText(), w.mismatch);
      await audit(page, 'account-password-error', lang);

      // CIBA: a bank asks this account's approval; the pending requests page links to it.
      const started = await fetch(`${issuer}/bc-authorize`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`browser-bank:${env('BROWSER_SECRET')}`).toString('base64')}`,
        },
        body: new URLSearchParams({ scope: 'openid profile', login_hint: who.username, binding_message: `Pay 42 EUR ${lang}` }),
      });
      assert.equal(started.status, 200, await started.clone().text());
      await page.goto(`${issuer}/ciba`);
      const request = page.getByRole('link', { name: new RegExp(`Browser Test Bank: Pay 42 EUR ${lang}`) });
      await request.waitFor();
      await audit(page, 'ciba-list-pending', lang);
      await Promise.all([page.waitForLoadState(), request.click()]);
      assert.equal(await page.locator('#binding-message').innerText(), `Pay 42 EUR ${lang}`);
      await audit(page, 'ciba-consent', lang);
      await press(page, w.allow);
      await page.getByRole('status').waitFor();
      await heading(page, w.cibaApproved);
      await audit(page, 'ciba-approved', lang);

      // Front-channel logout: signed in to Mail, signing out frames Mail's logout URL. Mail's
      // signed-out page, where the page goes on to, answers 204, so the browser stays on it.
      await context.route(`${fcBase}/**`, (route) => {
        const signedOut = new URL(route.request().url()).pathname === '/signed-out';
        return route.fulfill(signedOut ? { status: 204 } : { status: 200, contentType: 'text/html', body: '<!doctype html><title>Mail</title>' });
      });
      await page.goto(`${issuer}/authorize?${new URLSearchParams({
        client_id: 'fc-mail', response_type: 'code', redirect_uri: `${fcBase}/callback`, scope: 'openid profile',
        state: b64url(randomBytes(8)), code_challenge: b64url(createHash('sha256').update('x'.repeat(43)).digest()), code_challenge_method: 'S256',
      })}`);
      await page.getByLabel(w.remember).check();
      await press(page, w.allow);
      await page.waitForURL((url) => url.href.startsWith(`${fcBase}/callback`));
      // Mail redeems its code: the session now has a grant of Mail's, which sign-out frames.
      const redeemed = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`fc-mail:${env('BROWSER_SECRET')}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code', code: new URL(page.url()).searchParams.get('code'),
          redirect_uri: `${fcBase}/callback`, code_verifier: 'x'.repeat(43),
        }),
      });
      assert.equal(redeemed.status, 200, await redeemed.clone().text());
      // The remembered consent: Mail is listed on the apps page, with its remove button.
      await page.goto(`${issuer}/account/apps`);
      await page.getByRole('heading', { name: 'Mail', exact: true }).waitFor();
      await audit(page, 'account-apps-listed', lang);
      await page.goto(`${issuer}/end_session?${new URLSearchParams({ client_id: 'fc-mail', post_logout_redirect_uri: `${fcBase}/signed-out` })}`);
      const goingOn = page.waitForRequest((r) => r.url().startsWith(`${fcBase}/signed-out`));
      await press(page, w.signOut);
      await page.locator('iframe.logout-frame').waitFor({ state: 'attached' });
      await (await goingOn).response();
      await heading(page, w.signingOut);
      await audit(page, 'frontchannel-logout', lang, { settled: false });

      // The passkey issuer: its login page offers a passkey; after a password sign-in the
      // consent page links to the passkeys page.
      await page.goto(`${pkIssuer}/passkeys`);
      await heading(page, w.passkeys);
      await audit(page, 'passkeys-signed-out', lang);
      await page.goto(passkeyAuthorizeURL());
      await page.getByRole('button', { name: w.passkey, exact: true }).waitFor();
      await audit(page, 'login-passkey', lang);
      await page.locator('#username').fill(pk.username);
      await page.getByLabel(w.password, { exact: true }).fill(pk.password);
      await press(page, w.signIn);
      await page.locator('#passkey-offer a').waitFor();
      await audit(page, 'consent-passkey', lang);
      await page.locator('#passkey-offer a').click();
      await page.getByRole('button', { name: w.addPasskey, exact: true }).waitFor();
      await heading(page, w.passkeys);
      assert.equal((await page.locator('#passkey-none').innerText()).trim(), w.noPasskeys);
      await audit(page, 'passkey-register', lang);
      // A passkey added with Chromium's virtual authenticator: the list, with its remove button.
      const cdp = await context.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: {
          protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
          isUserVerified: true, automaticPresenceSimulation: true,
        },
      });
      await page.locator('#passkey-name').fill(`Key ${lang}`);
      await press(page, w.addPasskey);
      await page.locator('#passkey-added').waitFor();
      assert.match(await page.locator('#passkey-list').innerText(), new RegExp(`Key ${lang}`));
      await audit(page, 'passkey-added', lang);
    } finally {
      await context.close();
      await dropAccount(who);
      await dropAccount(pk);
    }
  });
}

test('ui_locales beats the browser\'s Accept-Language', async () => {
  const { context, page } = await person('en');
  try {
    await page.goto(authorizeURL({ ui_locales: 'fr de' }));
    await page.getByLabel(words.fr.password, { exact: true }).waitFor();
    assert.equal(await page.getAttribute('html', 'lang'), 'fr');
  } finally {
    await context.close();
  }
});

/** The focused element: its tag, id, text and whether its focus ring shows. */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    return {
      tag: el.tagName.toLowerCase(), id: el.id, value: el.getAttribute('value') ?? '', text: el.innerText?.trim() ?? '',
      ring: style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2,
    };
  });
}

/** Tabs until the focus is on what match accepts (at most 15 steps), checking each focus ring. */
async function tabTo(page, match, key = 'Tab') {
  for (let i = 0; i < 15; i++) {
    await page.keyboard.press(key);
    const f = await focused(page);
    if (f.tag !== 'body') assert.ok(f.ring, `a visible focus ring on ${JSON.stringify(f)}`);
    if (match(f)) return f;
  }
  throw new Error(`${key} never reached the control`);
}

test('every page works with the keyboard alone, focus always visible', async () => {
  const { context, page } = await person('en', { rpStatus: 200 });
  try {
    // Login: the username has the focus; Tab reaches the password, Sign in and Cancel; Enter signs in.
    // form_post: the response is a POST from the page, which the stand-in relying party answers
    // (Playwright does not route a redirect's next request).
    await page.goto(authorizeURL({ response_mode: 'form_post' }));
    assert.equal((await focused(page)).id, 'username', 'the username field starts focused');
    await page.keyboard.type(alice.username);
    await tabTo(page, (f) => f.id === 'password');
    await page.keyboard.type(alice.password);
    await tabTo(page, (f) => f.value === 'approve');
    await tabTo(page, (f) => f.value === 'deny');
    await tabTo(page, (f) => f.id === 'password', 'Shift+Tab');
    await Promise.all([page.waitForLoadState(), page.keyboard.press('Enter')]);

    // Consent: Space ticks remember; the client's links, Allow, Deny and "Use another account" are reachable.
    await page.getByRole('button', { name: 'Allow', exact: true }).waitFor();
    await tabTo(page, (f) => f.id === 'remember');
    await page.keyboard.press('Space');
    assert.equal(await page.locator('#remember').isChecked(), true, 'Space ticks the checkbox');
    await tabTo(page, (f) => f.value === 'deny');
    await tabTo(page, (f) => f.value === 'switch_account');
    // "Use another account" with Enter: the login page again, for the same request.
    await Promise.all([page.waitForLoadState(), page.keyboard.press('Enter')]);
    await page.getByLabel('Password', { exact: true }).waitFor();
    assert.equal(await page.locator('#username').inputValue(), '', 'no one prefilled');
    await page.keyboard.type(alice.username);
    await page.keyboard.press('Tab');
    await page.keyboard.type(alice.password);
    await Promise.all([page.waitForLoadState(), page.keyboard.press('Enter')]);
    await page.getByRole('button', { name: 'Allow', exact: true }).waitFor();
    await tabTo(page, (f) => f.value === 'approve');
    const [callback] = await Promise.all([
      page.waitForRequest((r) => r.url().startsWith(`${rpBase}/callback`)),
      page.keyboard.press('Enter'),
    ]);
    assert.ok(new URLSearchParams(callback.postData() ?? '').get('code'), 'Enter on Allow sends the code to the client');
    await page.waitForURL((url) => url.href.startsWith(`${rpBase}/callback`));

    // The error page: Tab reaches the way back and the details; Enter opens them.
    await page.goto(authorizeURL({ redirect_uri: `${rpBase}/not-registered` }));
    await tabTo(page, (f) => f.id === 'back');
    await tabTo(page, (f) => f.tag === 'summary');
    await page.keyboard.press('Enter');
    assert.equal(await page.locator('details').evaluate((d) => d.open), true, 'Enter opens the technical details');

    // Sign out with Space on the focused button; the signed-out page's link is reachable.
    await page.goto(`${issuer}/end_session?client_id=browser-app`);
    await tabTo(page, (f) => f.value === 'approve' && f.text === 'Sign out');
    await Promise.all([page.waitForLoadState(), page.keyboard.press('Space')]);
    await page.getByRole('status').waitFor();
    await tabTo(page, (f) => f.id === 'back');

    // The device page: the code field starts focused; Enter submits it.
    await page.goto(`${issuer}/device`);
    assert.equal((await focused(page)).id, 'user_code');
    await page.keyboard.type('BCDF-GHJK');
    await Promise.all([page.waitForLoadState(), page.keyboard.press('Enter')]);
    await page.getByRole('alert').waitFor();
  } finally {
    await context.close();
  }
});

test('the account and passkey pages work with the keyboard alone, focus always visible', async () => {
  const who = await newAccount('keys');
  const pk = await newAccount('keys', pkIssuer);
  const { context, page } = await person('en');
  try {
    // The account sign-in page: type, Tab, type, Enter.
    await page.goto(`${issuer}/account`);
    assert.equal((await focused(page)).id, 'username', 'the username field starts focused');
    await page.keyboard.type(who.username);
    await tabTo(page, (f) => f.id === 'password');
    await page.keyboard.type(who.password);
    await Promise.all([page.waitForLoadState(), page.keyboard.press('Enter')]);
    await page.locator('#account-name').waitFor();
    // The navigation: Tab to "Password", Enter follows it.
    await tabTo(page, (f) => f.tag === 'a' && f.text === 'Password');
    await Promise.all([page.waitForURL(`${issuer}/account/password`), page.keyboard.press('Enter')]);
    // The password form: the current password starts focused; Tab through every field to the
    // button; Enter sends it (two different new passwords: the error, focusable fields again).
    assert.equal((await focused(page)).id, 'current_password');
    await page.keyboard.type(who.password);
    await tabTo(page, (f) => f.id === 'new_password');
    await page.keyboard.type('a-new-password-1');
    await tabTo(page, (f) => f.id === 'confirm_password');
    await page.keyboard.type('a-new-password-2');
    await tabTo(page, (f) => f.tag === 'button' && f.text === 'Change password');
    await Promise.all([page.waitForLoadState(), page.keyboard.press('Enter')]);
    await page.getByRole('alert').waitFor();
    // Apps and Sessions are reachable from the navigation, and "Sign out" on the sessions page.
    await tabTo(page, (f) => f.tag === 'a' && f.text === 'Sessions', 'Shift+Tab');
    await Promise.all([page.waitForURL(`${issuer}/account/sessions`), page.keyboard.press('Enter')]);
    await tabTo(page, (f) => f.tag === 'a' && f.text === 'Sign out of this browser');
    await tabTo(page, (f) => f.tag === 'a' && f.text === 'Apps', 'Shift+Tab');
    await Promise.all([page.waitForURL(`${issuer}/account/apps`), page.keyboard.press('Enter')]);

    // The passkey issuer: Tab reaches "Sign in with a passkey" after the password form.
    await page.goto(passkeyAuthorizeURL());
    // The username field starts focused (autofocus applies once the page is parsed).
    await page.waitForFunction(() => document.activeElement?.id === 'username');
    await page.keyboard.type(pk.username);
    await tabTo(page, (f) => f.id === 'password');
    await tabTo(page, (f) => f.tag === 'button' && f.text === 'Sign in with a passkey');
    await tabTo(page, (f) => f.id === 'password', 'Shift+Tab');
    await page.keyboard.type(pk.password);
    assert.equal(await page.locator('#username').inputValue(), pk.username);
    assert.equal(await page.locator('#password').inputValue(), pk.password);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Allow', exact: true }).waitFor();
    // Consent: Tab reaches the passkey offer; Enter opens the passkeys page, where Tab reaches
    // the name field, "Add a passkey" and "Continue to the application".
    await tabTo(page, (f) => f.tag === 'a' && f.text === 'Add a passkey');
    await Promise.all([page.waitForURL((u) => u.pathname === '/passkeys'), page.keyboard.press('Enter')]);
    await page.getByRole('button', { name: 'Add a passkey', exact: true }).waitFor();
    await tabTo(page, (f) => f.id === 'passkey-name');
    await page.keyboard.type('Keyboard key');
    await tabTo(page, (f) => f.tag === 'button' && f.text === 'Add a passkey');
    await tabTo(page, (f) => f.id === 'passkey-continue');
    await Promise.all([page.waitForLoadState(), page.keyboard.press('Enter')]);
    await page.getByRole('button', { name: 'Allow', exact: true }).waitFor();
  } finally {
    await context.close();
    await dropAccount(who);
    await dropAccount(pk);
  }
});

test('no CSP violations on the pages, the logo served by the server itself', async () => {
  assert.deepEqual(violations, []);
  const res = await fetch(`${issuer}/branding/logo`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'image/svg+xml');
});
