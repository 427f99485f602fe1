// Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document), as MCP clients
// use them: the client_id is the URL of a JSON document the client publishes. This test serves
// the documents itself, on loopback http (the development case that the Caddyfile's
// `allow_private` permits), and openid-client runs an authorization code flow with that URL as
// its client_id, then calls the gateway with the token.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { client, jose, issuer, resources, configure, serverJWKS, env } from './helpers.js';
import { UserAgent, authorizeThroughPages } from './html-forms.js';

const redirectUri = `${issuer}/cb`;
const alice = { username: 'alice', password: env('INTEROP_ALICE_PASSWORD') };

// The document host: path -> { status, body, headers, delayMs }; fetches counted per path.
const pages = new Map();
const fetches = new Map();
const host = createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  fetches.set(path, (fetches.get(path) ?? 0) + 1);
  const page = pages.get(path);
  if (!page) {
    res.writeHead(404).end();
    return;
  }
  const send = () => res.writeHead(page.status ?? 200, { 'content-type': 'application/json', ...page.headers }).end(page.body ?? '');
  if (page.delayMs) setTimeout(send, page.delayMs).unref();
  else send();
});
await new Promise((resolve) => host.listen(0, '127.0.0.1', resolve));
after(() => host.close());
const origin = `http://127.0.0.1:${host.address().port}`;

/** Publishes a document at path (made by build from the client ID) and returns the client ID. */
function publish(path, build, extra = {}) {
  const clientId = origin + path;
  pages.set(path, { body: JSON.stringify(build(clientId)), ...extra });
  return clientId;
}

const mcpDocument = (clientId) => ({
  client_id: clientId,
  client_name: 'Interop MCP Client',
  client_uri: 'https://mcp-client.example',
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  token_endpoint_auth_method: 'none',
  scope: 'openid profile offline_access read',
});

async function authorizationRequest(config, params = {}) {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  const all = {
    redirect_uri: redirectUri,
    scope: 'openid profile offline_access read',
    state: client.randomState(),
    nonce: client.randomNonce(),
    code_challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
    code_challenge_method: 'S256',
    ...params,
  };
  return {
    url: client.buildAuthorizationUrl(config, all),
    checks: { pkceCodeVerifier, expectedState: all.state, expectedNonce: all.nonce },
  };
}

test('discovery advertises client_id_metadata_document_supported', async () => {
  const md = await fetch(new URL('/.well-known/oauth-authorization-server', issuer)).then((r) => r.json());
  assert.equal(md.client_id_metadata_document_supported, true);
});

test('openid-client: code flow with a client ID metadata document, refresh, then the gateway', async () => {
  const clientId = publish('/mcp/client.json', mcpDocument, { headers: { 'cache-control': 'max-age=300' } });
  const config = await configure(clientId, client.None());
  const { url, checks } = await authorizationRequest(config);

  const browser = new UserAgent({ stopAt: [redirectUri] });
  const { result, seen, pages: shown } = await authorizeThroughPages(browser, url, { login: alice });
  assert.deepEqual(seen, ['login', 'consent'], 'a metadata-document client always gets the consent page');
  assert.match(shown.consent.text, /Interop MCP Client/, 'the consent page names the client');
  assert.ok(shown.consent.text.includes(clientId), 'and shows its client ID URL');

  const tokens = await client.authorizationCodeGrant(config, new URL(result.redirect), checks);
  assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
  const { payload } = await jose.jwtVerify(tokens.id_token, await serverJWKS(), { issuer, audience: clientId });
  assert.equal(payload.nonce, checks.expectedNonce);

  // The configuration's one resource for such clients is their default resource.
  const access = await jose.jwtVerify(tokens.access_token, await serverJWKS(), { issuer, typ: 'at+jwt' });
  assert.ok([access.payload.aud].flat().includes(resources.gateway), `aud ${access.payload.aud}`);
  assert.equal(access.payload.client_id, clientId);

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.ok(refreshed.access_token && refreshed.refresh_token !== tokens.refresh_token, 'refresh rotates');

  const res = await client.fetchProtectedResource(config, refreshed.access_token, new URL('/api/notes', issuer), 'GET');
  assert.equal(res.status, 200);
  const saw = await res.text();
  assert.match(saw, new RegExp(`client_id=${clientId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), 'the gateway saw the URL client');

  assert.equal(fetches.get('/mcp/client.json'), 1, 'the document was fetched once (Cache-Control max-age)');
});

test('unusable documents end on an error page, never at their redirect URI', async (t) => {
  const cases = [
    { name: 'client_id mismatch', path: '/mismatch.json', build: (id) => ({ ...mcpDocument(id), client_id: `${id}#other` }), want: /does not match its URL/ },
    { name: 'client_secret', path: '/secret.json', build: (id) => ({ ...mcpDocument(id), client_secret: 'leaked-secret' }), want: /must not contain client_secret/ },
    { name: 'shared-secret method', path: '/basic.json', build: (id) => ({ ...mcpDocument(id), token_endpoint_auth_method: 'client_secret_basic' }), want: /only none or private_key_jwt/ },
    { name: 'huge', path: '/huge.json', build: (id) => ({ ...mcpDocument(id), client_name: 'x'.repeat(6000) }), want: /larger than 5120 bytes/ },
    { name: 'slow', path: '/slow.json', build: mcpDocument, extra: { delayMs: 4000 }, want: /timed out/ },
    { name: 'redirecting', path: '/moved.json', build: mcpDocument, extra: { status: 302, headers: { location: '/mcp/client.json' } }, want: /redirects are not followed/ },
    { name: 'unknown', path: '/gone.json', build: mcpDocument, extra: { status: 404 }, want: /HTTP status 404/ },
    { name: 'bad redirect URI', path: '/evil.json', build: (id) => ({ ...mcpDocument(id), redirect_uris: ['http://evil.example/cb'] }), want: /redirect_uris/ },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      const clientId = publish(c.path, c.build, c.extra);
      const config = await configure(clientId, client.None());
      const { url } = await authorizationRequest(config, { redirect_uri: 'http://evil.example/cb' });
      const browser = new UserAgent({ stopAt: [redirectUri, 'http://evil.example/cb'] });
      const opened = await browser.open(url);
      assert.ok(opened.page, `an error page, got a redirect to ${opened.redirect}`);
      assert.ok(opened.page.status >= 400, `status ${opened.page.status}`);
      assert.match(opened.page.text, /invalid_client/);
      assert.match(opened.page.text, c.want);
      assert.doesNotMatch(opened.page.text, /leaked-secret/);
    });
  }
  assert.equal(fetches.get('/mcp/client.json'), 1, 'the redirect target was never fetched');
});

test('the token endpoint treats an unusable document as an unknown client', async () => {
  const clientId = publish('/secret2.json', (id) => ({ ...mcpDocument(id), client_secret: 'x' }));
  const res = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: 'nope', client_id: clientId, redirect_uri: redirectUri, code_verifier: 'x'.repeat(43) }),
  });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error, 'invalid_client');
});
