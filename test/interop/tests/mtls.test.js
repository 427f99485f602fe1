// Mutual TLS (RFC 8705) through openid-client over a real TLS connection to Caddy: client
// authentication with tls_client_auth (a CA-issued certificate, matched by subject DN) and
// self_signed_tls_client_auth (a certificate whose key is the client's JWKS), certificate-bound
// access tokens (cnf.x5t#S256), and the gateway accepting such a token only over a connection
// with that certificate. Certificates are made by run.sh for this run; Node trusts Caddy's
// internal CA through an undici Agent given to openid-client as its fetch.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import { client, env } from './helpers.js';

const issuer = new URL(env('INTEROP_TLS_ISSUER'));
const certs = env('INTEROP_CERTS');
const api = new URL('/mtls-api/accounts', issuer);
const ca = readFileSync(env('INTEROP_CADDY_ROOT'));

/** An undici Agent trusting Caddy's CA, presenting certificate name (or none). */
function agent(name) {
  const connect = { ca };
  if (name) {
    connect.cert = readFileSync(`${certs}/${name}.pem`);
    connect.key = readFileSync(`${certs}/${name}.key`);
  }
  return new Agent({ connect });
}

/** openid-client's configuration for clientId, its requests made through the agent. */
function configure(clientId, through) {
  const customFetch = (url, options) => fetch(url, { ...options, dispatcher: through });
  return client.discovery(issuer, clientId, undefined, client.TlsClientAuth(), { [client.customFetch]: customFetch });
}

/** x5t#S256 of a certificate file: base64url(SHA-256(DER)). */
function thumbprint(name) {
  const der = new X509Certificate(readFileSync(`${certs}/${name}.pem`)).raw;
  return createHash('sha256').update(der).digest('base64url');
}

function cnfOf(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url')).cnf;
}

async function callAPI(token, through) {
  const res = await fetch(api, { headers: { authorization: `Bearer ${token}` }, dispatcher: through });
  return { status: res.status, body: await res.text() };
}

test('discovery over TLS advertises the certificate methods and bound tokens', async () => {
  const metadata = (await configure('pki-client', agent())).serverMetadata();
  assert.ok(metadata.token_endpoint_auth_methods_supported.includes('tls_client_auth'));
  assert.ok(metadata.token_endpoint_auth_methods_supported.includes('self_signed_tls_client_auth'));
  assert.equal(metadata.tls_client_certificate_bound_access_tokens, true);
});

for (const { clientId, cert } of [
  { clientId: 'pki-client', cert: 'pki' },
  { clientId: 'self-signed-client', cert: 'self-signed' },
]) {
  test(`${clientId}: authenticated by its certificate; the token is bound to it at the gateway`, async () => {
    const own = agent(cert);
    const config = await configure(clientId, own);
    const tokens = await client.clientCredentialsGrant(config, { scope: 'read', resource: new URL('/mtls-api', issuer).href });
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.deepEqual(cnfOf(tokens.access_token), { 'x5t#S256': thumbprint(cert) });

    assert.deepEqual(await callAPI(tokens.access_token, own), { status: 200, body: 'mtls ok' });
    assert.equal((await callAPI(tokens.access_token, agent())).status, 401, 'without a certificate');
    assert.equal((await callAPI(tokens.access_token, agent('other'))).status, 401, 'with another certificate');
  });
}

test('a certificate with another subject, or none, does not authenticate pki-client', async () => {
  for (const [name, through] of [['another subject', agent('other')], ['no certificate', agent()], ['a self-signed one', agent('self-signed')]]) {
    const config = await configure('pki-client', through);
    await assert.rejects(client.clientCredentialsGrant(config, { scope: 'read' }), (err) => {
      assert.equal(err.error, 'invalid_client', name);
      return true;
    });
  }
});
