// A small "bring your own login app" for caddy-oauth's delegated_login (README: "Bring your
// own login app"). It keeps its own users, signs them in and asks their consent, and answers
// the authorization server's login and consent challenges through its API. Node >= 20, no
// dependencies. The browser suite (test/browser/tests/delegated.test.js) runs it.
//
//   OAUTH_ISSUER=https://auth.example.com LOGIN_APP_SECRET=... DEMO_PASSWORD=... \
//     LOGIN_APP_PORT=4000 node examples/delegated-login/app.mjs
//
// with, in the Caddyfile's oauth_server:
//
//   delegated_login {
//       login_url   http://127.0.0.1:4000/login
//       consent_url http://127.0.0.1:4000/consent
//       api_secret  {env.LOGIN_APP_SECRET}
//   }
//
// A real app hashes its passwords, protects its own forms against CSRF and may ask for a
// second factor; the flow with the server stays the same.
import { createServer } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { pathToFileURL } from 'node:url';

const escapeHTML = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const digest = (s) => createHash('sha256').update(String(s)).digest();

/**
 * createLoginApp returns the app's request handler.
 * @param {object} o
 * @param {string} o.issuer   the oauth_server's issuer (the API lives below it)
 * @param {string} o.secret   delegated_login's api_secret
 * @param {Record<string, {password: string, subject: string, claims?: object}>} o.users
 */
export function createLoginApp({ issuer, secret, users }) {
  // Every redirect_to the server answered, newest last (the browser suite replays one).
  const redirects = [];

  /** Calls the API: GET a context, PUT an accept or a reject. */
  async function api(method, kind, action, challenge, body) {
    const path = `/delegated/${kind}${action ? `/${action}` : ''}`;
    const res = await fetch(`${issuer}${path}?${kind}_challenge=${encodeURIComponent(challenge)}`, {
      method,
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw Object.assign(new Error(json.error_description ?? json.error), { status: res.status, code: json.error });
    return json;
  }

  function page(res, status, title, body) {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${escapeHTML(title)}</title><style>body{font-family:system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem}
label{display:block;margin:.8rem 0 .2rem}input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}
button{margin:1rem .5rem 0 0;padding:.5rem 1rem}[role=alert]{color:#a00}</style></head>
<body><main><p>Example Login App</p><h1>${escapeHTML(title)}</h1>${body}</main></body></html>`);
  }

  async function answer(res, kind, action, challenge, body) {
    const { redirect_to: to } = await api('PUT', kind, action, challenge, body);
    redirects.push(to);
    res.writeHead(303, { location: to });
    res.end();
  }

  function loginForm(res, status, ctx, challenge, username, error) {
    page(res, status, 'Sign in', `<p>to continue to ${escapeHTML(ctx.client.client_name ?? ctx.client.client_id)}</p>
${error ? `<p role="alert">${escapeHTML(error)}</p>` : ''}
<form method="post" action="/login"><input type="hidden" name="challenge" value="${escapeHTML(challenge)}">
<label for="username">Username</label><input type="text" id="username" name="username" autocomplete="username" value="${escapeHTML(username ?? '')}" required>
<label for="password">Password</label><input type="password" id="password" name="password" autocomplete="current-password" required>
<button name="decision" value="approve">Sign in</button><button name="decision" value="deny" formnovalidate>Cancel</button></form>`);
  }

  function checkPassword(username, password) {
    const user = Object.hasOwn(users, username) ? users[username] : undefined;
    // Compared as digests in constant time; an unknown user costs the same.
    const ok = timingSafeEqual(digest(user?.password ?? ''), digest(password)) && user !== undefined;
    return ok ? user : undefined;
  }

  async function handle(req, res) {
    const url = new URL(req.url, 'http://app.invalid');
    const form = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : undefined;
    const challenge = form?.get('challenge') ?? url.searchParams.get(`${url.pathname.slice(1)}_challenge`) ?? '';
    try {
      switch (`${req.method} ${url.pathname}`) {
        case 'GET /login': {
          const ctx = await api('GET', 'login', '', challenge);
          return loginForm(res, 200, ctx, challenge, ctx.oidc_context?.login_hint);
        }
        case 'POST /login': {
          if (form.get('decision') !== 'approve') {
            return await answer(res, 'login', 'reject', challenge, { error: 'access_denied', error_description: 'The user cancelled the sign-in' });
          }
          const user = checkPassword(form.get('username') ?? '', form.get('password') ?? '');
          if (!user) {
            const ctx = await api('GET', 'login', '', challenge);
            return loginForm(res, 401, ctx, challenge, form.get('username'), 'Incorrect username or password.');
          }
          return await answer(res, 'login', 'accept', challenge, {
            subject: user.subject, amr: ['pwd'], acr: 'urn:example:loa:1', remember: true,
            claims: user.claims ?? {}, id_token_claims: { login_app: 'example' },
          });
        }
        case 'GET /consent': {
          const ctx = await api('GET', 'consent', '', challenge);
          const scopes = ctx.requested_scope.map((s) => `<label><input type="checkbox" name="scope" value="${escapeHTML(s)}" checked> ${escapeHTML(s)}</label>`).join('');
          return page(res, 200, 'Allow access', `<p>${escapeHTML(ctx.client.client_name ?? ctx.client.client_id)} wants to access your account (${escapeHTML(ctx.subject)}).</p>
${ctx.ciba?.binding_message ? `<p>Check that your device shows: <strong>${escapeHTML(ctx.ciba.binding_message)}</strong></p>` : ''}
<form method="post" action="/consent"><input type="hidden" name="challenge" value="${escapeHTML(challenge)}">
<fieldset><legend>Permissions</legend>${scopes}</fieldset>
<label><input type="checkbox" name="remember" value="1"> Remember this decision</label>
<button name="decision" value="approve">Allow</button><button name="decision" value="deny">Deny</button></form>`);
        }
        case 'POST /consent': {
          if (form.get('decision') !== 'approve') {
            return await answer(res, 'consent', 'reject', challenge, { error: 'access_denied', error_description: 'The user denied the request' });
          }
          return await answer(res, 'consent', 'accept', challenge, {
            grant_scope: form.getAll('scope'), remember: form.get('remember') === '1',
          });
        }
        default:
          return page(res, 404, 'Not found', '');
      }
    } catch (err) {
      if (err.status >= 400 && err.status < 500) {
        return page(res, 400, 'This sign-in link has expired', `<p role="alert">${escapeHTML(err.message)}</p><p>Go back to the application and start again.</p>`);
      }
      throw err;
    }
  }

  return { handle, redirects };
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 64 * 1024) req.destroy(new Error('body too large'));
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

// Run directly: one demo user.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const need = (name) => process.env[name] ?? (() => { throw new Error(`${name} is not set`); })();
  const app = createLoginApp({
    issuer: need('OAUTH_ISSUER'),
    secret: need('LOGIN_APP_SECRET'),
    users: { demo: { password: need('DEMO_PASSWORD'), subject: 'demo-user-1', claims: { name: 'Demo User', email: 'demo@example.com' } } },
  });
  const port = Number(process.env.LOGIN_APP_PORT ?? 4000);
  createServer((req, res) => app.handle(req, res).catch((err) => {
    console.error(err);
    res.writeHead(500).end();
  })).listen(port, '127.0.0.1', () => console.log(`login app on http://127.0.0.1:${port}`));
}
