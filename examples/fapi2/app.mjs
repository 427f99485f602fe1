// The bank app of the FAPI 2.0 example, written with openid-client as any FAPI client would be.
//
//   node app.mjs keygen <private-jwk-file>   prints the app's public JWK Set (for the Caddyfile)
//   node app.mjs flow <private-jwk-file>     signs alice in and calls the API, printing each step
//
// run.sh passes FAPI_ISSUER, FAPI_ALICE_PASSWORD and HTML_FORMS (the interop suite's scripted
// browser, which fills in the login and consent pages).
import { readFileSync, writeFileSync } from 'node:fs';
import * as client from 'openid-client';
import * as jose from 'jose';

const [command, keyFile] = process.argv.slice(2);

if (command === 'keygen') {
  const { publicKey, privateKey } = await jose.generateKeyPair('ES256', { extractable: true });
  const pub = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(pub);
  writeFileSync(keyFile, JSON.stringify({ ...(await jose.exportJWK(privateKey)), kid, alg: 'ES256' }), { mode: 0o600 });
  process.stdout.write(JSON.stringify({ keys: [{ ...pub, kid, alg: 'ES256', use: 'sig' }] }));
  process.exit(0);
}

const issuer = new URL(process.env.FAPI_ISSUER);
const { UserAgent, authorizeThroughPages, responseParams } = await import(process.env.HTML_FORMS);
const jwk = JSON.parse(readFileSync(keyFile, 'utf8'));
const key = { key: await jose.importJWK(jwk, 'ES256'), kid: jwk.kid };
const redirectUri = new URL('/callback', issuer).href;
const alice = { username: 'alice', password: process.env.FAPI_ALICE_PASSWORD };

// Discovery, and client authentication with private_key_jwt (the key never leaves the app).
const config = await client.discovery(issuer, 'bank-app', undefined, client.PrivateKeyJwt(key),
  { execute: [client.allowInsecureRequests] }); // plain http on loopback only; use https
console.log(`discovery: require_pushed_authorization_requests=${config.serverMetadata().require_pushed_authorization_requests},`,
  `token_endpoint_auth_methods_supported=${config.serverMetadata().token_endpoint_auth_methods_supported.join(' ')}`);

// A DPoP key for this session: the tokens will be bound to it.
const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
/** Runs f, once more after a use_dpop_nonce answer (the server demands fresh nonces). */
async function withNonce(f) {
  try {
    return await f();
  } catch (err) {
    if (!client.isDPoPNonceError(err)) throw err;
    return f();
  }
}

// The authorization request goes to the PAR endpoint, with PKCE S256; the browser only ever
// sees client_id and request_uri.
const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const challenge = await client.calculatePKCECodeChallenge(verifier);
const authorizationUrl = await withNonce(() => client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: redirectUri, scope: 'openid accounts', resource: new URL('/accounts', issuer).href, state,
  code_challenge: challenge, code_challenge_method: 'S256',
}, { DPoP: dpop }));
console.log(`pushed the request: ${[...authorizationUrl.searchParams.keys()].join(', ')} in the browser's URL`);

const browser = new UserAgent({ stopAt: [redirectUri] });
const { result, seen } = await authorizeThroughPages(browser, authorizationUrl, { login: alice });
console.log(`the user saw: ${seen.join(', ')}; the callback carries ${[...responseParams(result).keys()].sort().join(', ')}`);

const tokens = await withNonce(() => client.authorizationCodeGrant(config, new URL(result.redirect), {
  pkceCodeVerifier: verifier, expectedState: state,
}, undefined, { DPoP: dpop }));
const idHeader = JSON.parse(Buffer.from(tokens.id_token.split('.')[0], 'base64url'));
console.log(`tokens: token_type ${tokens.token_type}, ID token signed with ${idHeader.alg} (FAPI 2.0 allows PS256, ES256, EdDSA)`);

const api = new URL('/accounts', issuer);
const res = await withNonce(() => client.fetchProtectedResource(config, tokens.access_token, api, 'GET', undefined, undefined, { DPoP: dpop }));
console.log(`GET /accounts with the DPoP-bound token: ${res.status} ${await res.text()}`);
const stolen = await fetch(api, { headers: { authorization: `Bearer ${tokens.access_token}` } });
console.log(`the same token without the DPoP key (a thief's Bearer request): ${stolen.status}`);

const plain = client.buildAuthorizationUrl(config, { redirect_uri: redirectUri, scope: 'openid accounts', code_challenge: 'x'.repeat(43), code_challenge_method: 'S256' });
const refused = responseParams((await authorizeThroughPages(new UserAgent({ stopAt: [redirectUri] }), plain, {})).result);
console.log(`an authorization request that skips PAR: ${refused.get('error')} (${refused.get('error_description')})`);
if (res.status !== 200 || stolen.status !== 401 || refused.get('error') !== 'invalid_request') process.exit(1);
