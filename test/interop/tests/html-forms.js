// A tiny user agent for the server's HTML pages, so the interop suite can go through login,
// consent and logout the way a browser without JavaScript would: a cookie jar, redirects
// followed by hand, and the first <form> of each page submitted per the pages' form contract
// (inputs username/password, hidden inputs sent back as they are, buttons
// name="decision" value="approve"|"deny").
import assert from 'node:assert/strict';

/** RFC 6265 §5.1.4 default-path of a request path. */
function defaultPath(path) {
  const slash = path.lastIndexOf('/');
  return slash <= 0 ? '/' : path.slice(0, slash);
}

/** RFC 6265 §5.1.4 path-match. */
function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  return requestPath.startsWith(cookiePath) && (cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/');
}

/**
 * A cookie jar for one user agent: host-only cookies (the server sets no Domain), matched by
 * host name and path, removed by Max-Age<=0 or a past Expires. Each cookie keeps its
 * attributes (lower-cased names) so tests can check HttpOnly and SameSite.
 */
export class CookieJar {
  #cookies = [];

  /** Records the Set-Cookie headers of a response to a request for url. */
  store(url, response) {
    for (const line of response.headers.getSetCookie()) this.#set(new URL(url), line);
  }

  #set(url, line) {
    const [pair, ...rest] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq < 1) return; // RFC 6265 §5.2: ignore a cookie without a name
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const attributes = {};
    for (const part of rest) {
      const i = part.indexOf('=');
      const key = (i < 0 ? part : part.slice(0, i)).trim().toLowerCase();
      if (key) attributes[key] = i < 0 ? true : part.slice(i + 1).trim();
    }
    const path = typeof attributes.path === 'string' && attributes.path.startsWith('/')
      ? attributes.path
      : defaultPath(url.pathname);
    const maxAge = attributes['max-age'];
    const expired = (typeof maxAge === 'string' && Number(maxAge) <= 0) ||
      (typeof attributes.expires === 'string' && Date.parse(attributes.expires) <= Date.now());
    const host = url.hostname;
    this.#cookies = this.#cookies.filter((c) => !(c.name === name && c.host === host && c.path === path));
    if (!expired) this.#cookies.push({ name, value, host, path, attributes });
  }

  /** The Cookie header for a request to url (longer paths first, RFC 6265 §5.4), or undefined. */
  header(url) {
    const { hostname, pathname } = new URL(url);
    const sent = this.#cookies
      .filter((c) => c.host === hostname && pathMatches(pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length);
    return sent.length ? sent.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** Every cookie held, with its attributes. */
  all() {
    return this.#cookies.map((c) => ({ ...c, attributes: { ...c.attributes } }));
  }
}

const entities = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** Decodes the character references html/template writes (named ones, &#NN; and &#xNN;). */
export function decodeEntities(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (ref, body) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ref;
    }
    return entities[body.toLowerCase()] ?? ref;
  });
}

/** The attributes of a start tag's attribute text, names lower-cased, values decoded. */
function attributesOf(text) {
  const out = {};
  for (const m of text.matchAll(/([^\s"'<>\/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g)) {
    out[m[1].toLowerCase()] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

/** The visible text of an HTML fragment: tags, scripts and styles dropped, spaces collapsed. */
export function textOf(html) {
  return decodeEntities(
    html
      .replace(/<(script|style|template)\b[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<!--[\s\S]*?-->/g, ' ')
      .replace(/<[^>]*>/g, ' '),
  ).replace(/\s+/g, ' ').trim();
}

/**
 * Parses the first <form> of a page: its action (resolved against the page URL; none or empty
 * means the page URL itself), method, inputs and buttons in document order, and the labels
 * (<label for=id>) of its controls. Returns null when the page has no form.
 */
export function parseForm(html, pageUrl) {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form\s*>/i.exec(html);
  if (!m) return null;
  const attrs = attributesOf(m[1]);
  const body = m[2];
  const controls = [];
  for (const c of body.matchAll(/<input\b([^>]*)>|<button\b([^>]*)>([\s\S]*?)<\/button\s*>/gi)) {
    if (c[1] !== undefined) {
      const a = attributesOf(c[1]);
      controls.push({ tag: 'input', type: (a.type || 'text').toLowerCase(), ...pick(a), checked: 'checked' in a });
    } else {
      const a = attributesOf(c[2]);
      controls.push({ tag: 'button', type: (a.type || 'submit').toLowerCase(), ...pick(a), label: textOf(c[3]) });
    }
  }
  const labels = {};
  for (const l of body.matchAll(/<label\b([^>]*)>([\s\S]*?)<\/label\s*>/gi)) {
    const forId = attributesOf(l[1]).for;
    if (forId) labels[forId] = textOf(l[2]);
  }
  return {
    action: new URL(attrs.action ?? '', pageUrl),
    method: (attrs.method || 'get').toUpperCase(),
    controls,
    labels,
    /** The control named name (the first one), or undefined. */
    control(name) {
      return controls.find((c) => c.name === name);
    },
    /** The submit button with name="decision" and the given value, or undefined. */
    button(decision) {
      return controls.find((c) => c.type === 'submit' && c.name === 'decision' && c.value === decision);
    },
    /** The label text of the control named name, through its id. */
    labelOf(name) {
      const id = controls.find((c) => c.name === name)?.id;
      return id === undefined ? undefined : labels[id];
    },
  };
}

function pick(a) {
  return { name: a.name, value: a.value ?? '', id: a.id };
}

/**
 * The form data set (HTML §4.10.21.4) of a parsed form submitted with the "decision" button of
 * the given value. values overrides control values by name: a string sets a text/password/
 * hidden input; true/false checks or unchecks a checkbox. A value for a control the form does
 * not have is an error, so a broken form contract fails loudly.
 */
export function formData(form, { decision, values = {} } = {}) {
  for (const name of Object.keys(values)) {
    assert.ok(form.control(name), `the form has a control named ${name}`);
  }
  const data = new URLSearchParams();
  for (const c of form.controls) {
    if (!c.name || c.tag === 'button' || ['submit', 'button', 'image', 'reset'].includes(c.type)) continue;
    if (c.type === 'checkbox' || c.type === 'radio') {
      const checked = c.name in values ? values[c.name] === true : c.checked;
      if (checked) data.append(c.name, c.value || 'on');
      continue;
    }
    data.append(c.name, c.name in values ? values[c.name] : c.value);
  }
  if (decision !== undefined) {
    const button = form.button(decision);
    assert.ok(button, `the form has a submit button name="decision" value="${decision}"`);
    data.append('decision', decision);
  }
  return data;
}

const redirectStatuses = new Set([301, 302, 303, 307, 308]);

/**
 * A browser without JavaScript: one cookie jar, redirects followed by hand. It stops as soon as
 * a redirect (or an auto-submitting response_mode=form_post form) targets one of the stopAt
 * URLs (a client's redirect or post-logout URIs, compared without query and fragment), and
 * returns that instead of fetching it, the way the client's own endpoint would receive it.
 *
 * open() and submit() resolve to one of:
 *   { redirect: URL, status }        a redirect to a stopAt URL (query and fragment kept)
 *   { formPost: URLSearchParams, action: URL }   a form_post response page for a stopAt URL
 *   { page }                         an HTML page: { url, status, headers, html, text, form }
 */
export class UserAgent {
  constructor({ stopAt = [] } = {}) {
    this.jar = new CookieJar();
    this.stopAt = stopAt.map((u) => endpointOf(new URL(u)));
  }

  #stops(url) {
    return this.stopAt.includes(endpointOf(url));
  }

  open(url) {
    return this.#navigate(new URL(url), { method: 'GET' });
  }

  /** Submits page's first form with the given decision button and values (see formData). */
  submit(page, options) {
    const { form } = page;
    assert.ok(form, `a form on ${page.url}: ${page.text.slice(0, 200)}`);
    const data = formData(form, options);
    if (form.method === 'POST') {
      return this.#navigate(form.action, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: data.toString(),
      });
    }
    const target = new URL(form.action);
    target.search = data.toString();
    return this.#navigate(target, { method: 'GET' });
  }

  async #navigate(url, init) {
    for (let hops = 0; hops < 20; hops++) {
      const cookie = this.jar.header(url);
      const response = await fetch(url, {
        ...init,
        redirect: 'manual',
        headers: { ...init.headers, ...(cookie ? { cookie } : {}) },
      });
      this.jar.store(url, response);
      if (redirectStatuses.has(response.status)) {
        await response.body?.cancel();
        const location = response.headers.get('location');
        assert.ok(location, `${response.status} from ${url} has a Location`);
        const next = new URL(location, url);
        if (this.#stops(next)) return { redirect: next, status: response.status };
        // Browsers turn a 303, and a 301/302 after POST, into a GET without a body.
        if (response.status === 303 || (init.method === 'POST' && response.status <= 302)) init = { method: 'GET' };
        url = next;
        continue;
      }
      const html = await response.text();
      const page = { url, status: response.status, headers: response.headers, html, text: textOf(html), form: parseForm(html, url) };
      if (page.form && this.#stops(page.form.action)) {
        return { formPost: formData(page.form), action: page.form.action };
      }
      return { page };
    }
    throw new Error(`more than 20 redirects from ${url}`);
  }
}

function endpointOf(url) {
  return url.origin + url.pathname;
}

/**
 * What kind of page the server showed, from its first form per the form contract: "login" (a
 * password input), "consent" (an Allow button), "logout" (a Sign out button), else "other".
 */
export function pageKind(page) {
  const form = page.form;
  if (!form) return 'other';
  if (form.control('password')) return 'login';
  const label = form.button('approve')?.label;
  if (label === 'Allow') return 'consent';
  if (label === 'Sign out') return 'logout';
  return 'other';
}

/**
 * Drives an authorization request through whatever pages the server shows until it redirects
 * to the client: the login page gets login's credentials (it fails when login is not given),
 * the consent page gets consent.decision (default approve; remember checks "remember").
 * Resolves to { result, seen, pages }: the final open/submit result (redirect or formPost),
 * the kinds of pages seen in order, and the last page of each kind.
 */
export async function authorizeThroughPages(ua, url, { login, consent = { decision: 'approve', remember: true } } = {}) {
  const seen = [];
  const pages = {};
  let result = await ua.open(url);
  while (result.page) {
    const { page } = result;
    const kind = pageKind(page);
    seen.push(kind);
    pages[kind] = page;
    assert.ok(seen.length <= 4, `pages seen: ${seen.join(', ')}`);
    if (kind === 'login') {
      assert.ok(login, `unexpected login page (status ${page.status}): ${page.text.slice(0, 300)}`);
      // A failed login is not retried: that would only feed the login throttle.
      assert.equal(page.status, 200, `login refused: ${page.text.slice(0, 300)}`);
      result = await ua.submit(page, { decision: 'approve', values: { username: login.username, password: login.password } });
    } else if (kind === 'consent') {
      const values = consent.remember === undefined ? {} : { remember: consent.remember };
      result = await ua.submit(page, { decision: consent.decision ?? 'approve', values });
    } else {
      assert.fail(`unexpected ${kind} page (status ${page.status}) at ${page.url}: ${page.text.slice(0, 300)}`);
    }
  }
  return { result, seen, pages };
}

/** The authorization response parameters of a redirect (query or fragment) or a form_post. */
export function responseParams(result) {
  if (result.formPost) return result.formPost;
  assert.ok(result.redirect, 'a redirect to the client');
  const { redirect } = result;
  return new URLSearchParams(redirect.hash ? redirect.hash.slice(1) : redirect.search);
}
