// Caddyfile.example end to end (issue 4): the shipped file, served by run.sh on free ports, does
// what its comments and README.md "Protect an API" promise to openid-client — demo-service gets
// tokens for http://…/api and the gateway in front of the demo upstream lets through exactly
// the requests those tokens allow. Raw requests (fetch, proofs signed with jose) cover what
// openid-client never sends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { client, jose, example, exampleConfig, challengesOf, assertChallenge } from './helpers.js';

const { base } = example;
const hello = `${base}/api/hello`;
const config = await exampleConfig();

/** A DPoP-bound token of demo-service for resource, with the key pair and handle it is bound to. */
async function dpopToken(resource, scope = 'read') {
  const keyPair = await client.randomDPoPKeyPair('ES256');
  const handle = client.getDPoPHandle(config, keyPair);
  const tokens = await client.clientCredentialsGrant(config, { resource, scope }, { DPoP: handle });
  assert.equal(tokens.token_type, 'dpop', 'the token is DPoP-bound');
  return { token: tokens.access_token, keyPair, handle };
}

/** A plain Bearer token of demo-service for resource, as the README's curl commands get one. */
async function bearerToken(resource, scope = 'read') {
  const tokens = await client.clientCredentialsGrant(config, { resource, scope });
  assert.equal(tokens.token_type, 'bearer');
  return tokens.access_token;
}

/** The refused response of an openid-client fetchProtectedResource call. */
async function refusalOf(promise) {
  const err = await promise.then(() => assert.fail('the request passed the gateway'), (e) => e);
  assert.ok(err instanceof client.WWWAuthenticateChallengeError, `challenge error, got ${err}`);
  return err.response;
}

const dpop = await dpopToken(example.resources.api);

test('demo-service reaches the demo upstream with a DPoP-bound token through fetchProtectedResource', async () => {
  const res = await client.fetchProtectedResource(config, dpop.token, new URL(hello), 'GET', undefined, undefined, {
    DPoP: dpop.handle,
  });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'hello demo-service, you may: read');
});

test('the DPoP-bound token presented as Bearer: 401 invalid_token in the DPoP challenge', async () => {
  // Without the DPoP option openid-client sends "Authorization: Bearer" and no proof.
  const res = await refusalOf(client.fetchProtectedResource(config, dpop.token, new URL(hello), 'GET'));
  assertChallenge(res, { status: 401, scheme: 'dpop', error: 'invalid_token' });
});

test('a DPoP proof is accepted once: replayed, 401 invalid_dpop_proof', async () => {
  const jwk = await jose.exportJWK(dpop.keyPair.publicKey);
  const ath = createHash('sha256').update(dpop.token).digest('base64url');
  const proof = await new jose.SignJWT({ htm: 'GET', htu: hello, jti: crypto.randomUUID(), ath })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
    .setIssuedAt()
    .sign(dpop.keyPair.privateKey);
  const call = () => fetch(hello, { headers: { authorization: `DPoP ${dpop.token}`, dpop: proof } });

  const first = await call();
  assert.equal(first.status, 200, `first use: ${first.headers.get('www-authenticate')}`);
  assert.equal(await first.text(), 'hello demo-service, you may: read');
  assertChallenge(await call(), { status: 401, scheme: 'dpop', error: 'invalid_dpop_proof' });
});

test('a token for the opaque API is refused at /api: 401 invalid_token', async (t) => {
  const cases = [
    {
      name: 'Bearer',
      refusal: async () => {
        const token = await bearerToken(example.resources.opaque);
        return fetch(hello, { headers: { authorization: `Bearer ${token}` } });
      },
      scheme: 'bearer',
    },
    {
      name: 'DPoP-bound',
      refusal: async () => {
        const { token, handle } = await dpopToken(example.resources.opaque);
        return refusalOf(
          client.fetchProtectedResource(config, token, new URL(hello), 'GET', undefined, undefined, { DPoP: handle }),
        );
      },
      scheme: 'dpop',
    },
  ];
  for (const c of cases) {
    await t.test(c.name, async () => {
      assertChallenge(await c.refusal(), { status: 401, scheme: c.scheme, error: 'invalid_token' });
    });
  }
});

test('a write with a read-only token: 403 insufficient_scope, scope="write"', async (t) => {
  await t.test('Bearer, as in the README', async () => {
    const token = await bearerToken(example.resources.api);
    const res = await fetch(hello, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assertChallenge(res, { status: 403, scheme: 'bearer', error: 'insufficient_scope', scope: 'write' });
  });
  await t.test('DPoP-bound, through fetchProtectedResource', async () => {
    const res = await refusalOf(
      client.fetchProtectedResource(config, dpop.token, new URL(hello), 'POST', 'x=1', undefined, { DPoP: dpop.handle }),
    );
    assertChallenge(res, { status: 403, scheme: 'dpop', error: 'insufficient_scope', scope: 'write' });
  });
});

test('no token: 401 with bare Bearer and DPoP challenges naming the RFC 9728 metadata of /api', async () => {
  const res = await fetch(hello);
  // RFC 6750 §3.1: no error code when no credentials were sent.
  const bearer = assertChallenge(res, { status: 401, scheme: 'bearer', error: undefined });
  assertChallenge(res, { status: 401, scheme: 'dpop', error: undefined });
  for (const c of challengesOf(res)) {
    assert.equal(c.params.resource_metadata, bearer.params.resource_metadata, `${c.scheme} names the same metadata`);
  }

  const metadataURL = bearer.params.resource_metadata;
  assert.equal(metadataURL, `${base}/.well-known/oauth-protected-resource/api`);
  const metadata = await fetch(metadataURL);
  assert.equal(metadata.status, 200);
  assert.match(metadata.headers.get('content-type') ?? '', /^application\/json\b/);
  const doc = await metadata.json();
  assert.equal(doc.resource, example.resources.api);
  assert.deepEqual(doc.authorization_servers, [base]);
});
