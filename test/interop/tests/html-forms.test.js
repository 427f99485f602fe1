// The suite's own user agent (html-forms.js), checked without a server: if it mis-parsed a form
// or mis-kept a cookie, the end-user tests would fail (or pass) for the wrong reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { CookieJar, UserAgent, parseForm, formData, textOf, pageKind } from './html-forms.js';

/** A Response carrying the given Set-Cookie lines. */
function withCookies(...lines) {
  const headers = new Headers();
  for (const l of lines) headers.append('set-cookie', l);
  return new Response(null, { headers });
}

test('cookie jar: path matching, replacement, deletion and attributes', () => {
  const jar = new CookieJar();
  jar.store('http://127.0.0.1:1/authorize', withCookies(
    'csrf=a; Path=/; HttpOnly; SameSite=Lax',
    'scoped=b; Path=/admin',
    'defaulted=c', // default-path of /authorize is /
  ));
  jar.store('http://127.0.0.1:1/x/y/login', withCookies('deep=d')); // default-path /x/y
  const cases = [
    { url: 'http://127.0.0.1:1/authorize', want: 'csrf=a; defaulted=c' },
    { url: 'http://127.0.0.1:1/admin/keys', want: 'scoped=b; csrf=a; defaulted=c' },
    { url: 'http://127.0.0.1:1/adminx', want: 'csrf=a; defaulted=c' },
    { url: 'http://127.0.0.1:1/x/y/z', want: 'deep=d; csrf=a; defaulted=c' },
    { url: 'http://127.0.0.2:1/authorize', want: undefined },
  ];
  for (const c of cases) assert.equal(jar.header(c.url), c.want, c.url);

  const csrf = jar.all().find((c) => c.name === 'csrf');
  assert.equal(csrf.attributes.httponly, true);
  assert.equal(csrf.attributes.samesite, 'Lax');

  jar.store('http://127.0.0.1:1/', withCookies('csrf=new; Path=/', 'defaulted=; Path=/; Max-Age=0'));
  jar.store('http://127.0.0.1:1/', withCookies('scoped=gone; Path=/admin; Expires=Thu, 01 Jan 1970 00:00:00 GMT'));
  assert.equal(jar.header('http://127.0.0.1:1/admin/'), 'csrf=new');
});

const loginPage = `<!doctype html><html><head><style nonce="x">p{}</style></head><body><main>
<h1>Sign in</h1>
<p class="alert" role="alert" id="login-error">Incorrect username &amp; password.</p>
<form method="post" action="/authorize/login?x=1&amp;y=&#43;">
<input type="hidden" name="csrf_token" value="tok&#43;en">
<input type="hidden" name="interaction" value="abc">
<label for="username">Username</label>
<input type="text" id="username" name="username" value="alice" required>
<label for="password">Password</label>
<input type="password" id="password" name="password" required>
<div class="check"><input type="checkbox" id="remember" name="remember" value="1" checked>
<label for="remember">Remember</label></div>
<button type="submit" name="decision" value="approve">Sign in</button>
<button type="submit" name="decision" value="deny" formnovalidate class="secondary">Cancel</button>
</form>
<form method="post" action="/elsewhere"><input name="other"></form>
</main></body></html>`;

test('the first form: action, method, controls, labels, buttons', () => {
  const form = parseForm(loginPage, new URL('http://127.0.0.1:1/authorize?client_id=c'));
  assert.equal(form.action.href, 'http://127.0.0.1:1/authorize/login?x=1&y=+');
  assert.equal(form.method, 'POST');
  assert.equal(form.control('csrf_token').value, 'tok+en');
  assert.equal(form.control('other'), undefined, 'only the first form');
  assert.equal(form.labelOf('password'), 'Password');
  assert.equal(form.button('approve').label, 'Sign in');
  assert.equal(form.button('deny').label, 'Cancel');
  assert.equal(pageKind({ form }), 'login');

  const noAction = parseForm('<form method=POST><button type=submit name=decision value=approve>Allow</button></form>', 'http://h/consent?i=1#f');
  assert.equal(noAction.action.href, 'http://h/consent?i=1', 'no action posts to the page URL');
  assert.equal(pageKind({ form: noAction }), 'consent');
  assert.equal(parseForm('<p>no form</p>', 'http://h/'), null);
});

test('the form data set: hidden values kept, overrides, checkboxes, the decision button', () => {
  const form = parseForm(loginPage, 'http://127.0.0.1:1/authorize');
  const cases = [
    {
      name: 'sign in',
      options: { decision: 'approve', values: { username: 'bob', password: 'pw' } },
      want: 'csrf_token=tok%2Ben&interaction=abc&username=bob&password=pw&remember=1&decision=approve',
    },
    {
      name: 'unchecked, deny',
      options: { decision: 'deny', values: { remember: false } },
      want: 'csrf_token=tok%2Ben&interaction=abc&username=alice&password=&decision=deny',
    },
  ];
  for (const c of cases) assert.equal(formData(form, c.options).toString(), c.want, c.name);
  assert.throws(() => formData(form, { values: { nope: 'x' } }), /control named nope/);
  assert.throws(() => formData(form, { decision: 'maybe' }), /value="maybe"/);
});

test('visible text drops tags, styles and scripts and decodes references', () => {
  assert.equal(textOf(loginPage).split(' Username')[0], 'Sign in Incorrect username & password.');
  assert.equal(textOf('<script>alert(1)</script><b>a&#x20;&lt;b&gt;</b>'), 'a <b>');
});

test('user agent: cookies across redirects, POST then 303 to GET, stop at the client', async (t) => {
  // /start sets a cookie and redirects to /form, whose form posts back to /submit; /submit
  // answers per the decision: a 303 to the client, or a form_post page aimed at it.
  const seen = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    seen.push(`${req.method} ${url.pathname} cookie=${req.headers.cookie ?? ''}`);
    if (url.pathname === '/start') {
      res.writeHead(302, { location: '/form', 'set-cookie': 'sid=1; Path=/; HttpOnly' });
      return res.end();
    }
    if (url.pathname === '/form') {
      res.writeHead(200, { 'content-type': 'text/html' });
      return res.end('<form method="post" action="/submit"><input type="hidden" name="t" value="x">' +
        '<button type="submit" name="decision" value="approve">Allow</button>' +
        '<button type="submit" name="decision" value="deny">Deny</button></form>');
    }
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const form = new URLSearchParams(body);
      if (form.get('decision') === 'approve') {
        res.writeHead(303, { location: `${client}?code=c&t=${form.get('t')}` });
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<form method="post" action="${client}"><input type="hidden" name="error" value="access_denied">` +
        '<button type="submit">Continue</button></form>');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${server.address().port}`;
  const client = `${base}/cb`;

  const ua = new UserAgent({ stopAt: [client] });
  const { page } = await ua.open(`${base}/start`);
  assert.equal(pageKind(page), 'consent');
  const approved = await ua.submit(page, { decision: 'approve' });
  assert.equal(approved.status, 303);
  assert.equal(approved.redirect.href, `${client}?code=c&t=x`);

  const denied = await ua.submit(page, { decision: 'deny' });
  assert.equal(denied.page, undefined, 'a form_post page is a response, not a page to go through');
  assert.equal(denied.action.href, client);
  assert.equal(denied.formPost.toString(), 'error=access_denied');

  assert.deepEqual(seen, [
    'GET /start cookie=',
    'GET /form cookie=sid=1',
    'POST /submit cookie=sid=1',
    'POST /submit cookie=sid=1',
  ], 'the client itself is never fetched');
});
