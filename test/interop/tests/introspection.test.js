// Token introspection (RFC 7662) and revocation (RFC 7009), for JWT and opaque tokens, and
// who may learn what about a token.
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import assert from 'node:assert/strict';
import {
  basicConfig,
  client,
  clients,
  issuer,
  otherConfig,
  oauthErrorOf,
  postConfig,
  rejectsWithOAuthError,
  resourceServerConfig,
  resources,
  configure,
} from './helpers.js';

/** RFC 7662 §2.2: an inactive token reveals nothing but its inactivity. */
function assertInactive(info, why) {
  assert.deepEqual({ ...info }, { active: false }, why);
}

function assertActive(info, { resource, scope }) {
  assert.equal(info.active, true);
  assert.equal(info.client_id, clients.basic.id);
  assert.equal(info.sub, clients.basic.id);
  assert.equal(info.scope, scope);
  assert.equal(info.iss, issuer);
  const aud = Array.isArray(info.aud) ? info.aud : [info.aud];
  assert.ok(aud.includes(resource), `aud ${JSON.stringify(info.aud)} includes ${resource}`);
  const now = Date.now() / 1000;
  assert.ok(info.exp > now && info.iat <= now + 5, `exp ${info.exp} / iat ${info.iat} around now ${now}`);
  if (info.token_type !== undefined) assert.match(info.token_type, /^bearer$/i);
}

for (const { kind, resource, extra } of [
  { kind: 'JWT', resource: resources.es256, extra: { tenant: 'acme' } },
  { kind: 'opaque', resource: resources.opaque, extra: { tenant: 'acme' } },
]) {
  test(`${kind} token: introspect, revoke, introspect again`, async (t) => {
    const config = await basicConfig();
    const { access_token: token } = await client.clientCredentialsGrant(config, { resource, scope: 'read write' });

    await t.test('the issuing client sees it active with its claims', async () => {
      const info = await client.tokenIntrospection(config, token);
      assertActive(info, { resource, scope: 'read write' });
      for (const [name, value] of Object.entries(extra)) assert.deepEqual(info[name], value, `custom claim ${name}`);
    });
    await t.test("the resource's server (introspects) sees it active", async () => {
      const info = await client.tokenIntrospection(await resourceServerConfig(), token, { token_type_hint: 'access_token' });
      assertActive(info, { resource, scope: 'read write' });
    });
    await t.test('an unrelated client sees it inactive', async () => {
      assertInactive(await client.tokenIntrospection(await otherConfig(), token), 'other-client is neither issuer nor introspector');
    });
    await t.test('another client that may get tokens for the resource sees it inactive', async () => {
      // post-client has `resources` for both APIs: that is no licence to read others' tokens.
      assertInactive(await client.tokenIntrospection(await postConfig(), token), 'post-client only gets tokens for it');
    });
    await t.test('an unrelated client cannot revoke it', async () => {
      // RFC 7009 §2.1 lets the server refuse with an error or answer 200 and do nothing;
      // either way the token must survive.
      await client.tokenRevocation(await otherConfig(), token).catch((err) => {
        if (!(err instanceof client.ResponseBodyError)) throw err;
      });
      const info = await client.tokenIntrospection(config, token);
      assert.equal(info.active, true, 'still active after a stranger asked to revoke it');
    });
    await t.test('revocation by its client deactivates it', async () => {
      await client.tokenRevocation(config, token, { token_type_hint: 'access_token' });
      assertInactive(await client.tokenIntrospection(config, token), 'revoked');
      assertInactive(await client.tokenIntrospection(await resourceServerConfig(), token), 'revoked, for the resource too');
    });
    await t.test('revoking it again still answers 200', async () => {
      await client.tokenRevocation(config, token);
    });
  });
}

test('an expired token is inactive', async () => {
  const config = await basicConfig();
  const tokens = await client.clientCredentialsGrant(config, { resource: resources.short, scope: 'read' });
  assert.ok(tokens.expiresIn() <= 1, `expires_in ${tokens.expiresIn()}`);
  assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, true, 'active while fresh');
  await sleep(2100);
  assertInactive(await client.tokenIntrospection(config, tokens.access_token), 'expired');
});

test('malformed and unknown tokens are inactive', async (t) => {
  const config = await basicConfig();
  const cases = {
    garbage: 'not-a-token',
    'unknown opaque': 'A'.repeat(43),
    'JWT-shaped junk': 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
    long: 'x'.repeat(8 * 1024),
  };
  for (const [name, token] of Object.entries(cases)) {
    await t.test(name, async () => assertInactive(await client.tokenIntrospection(config, token), name));
  }
});

test('an oversized request is refused with an OAuth error, not a crash', async () => {
  const { code, status } = await oauthErrorOf(client.tokenIntrospection(await basicConfig(), 'x'.repeat(1 << 20)));
  assert.equal(code, 'invalid_request');
  assert.ok(status === 400 || status === 413, `status ${status}`);
});

test('revocation of an unknown token answers 200 (RFC 7009 §2.2)', async () => {
  await client.tokenRevocation(await basicConfig(), 'never-issued-token-value');
});

test('introspection and revocation require client authentication', async (t) => {
  const wrong = () => configure(clients.basic.id, client.ClientSecretBasic('wrong-' + clients.basic.secret));
  await t.test('introspection', async () => {
    await rejectsWithOAuthError(client.tokenIntrospection(await wrong(), 'whatever'), { error: 'invalid_client', status: 401 });
  });
  await t.test('revocation', async () => {
    await rejectsWithOAuthError(client.tokenRevocation(await wrong(), 'whatever'), { error: 'invalid_client', status: 401 });
  });
});

test("a public client's bare client_id is no credential for introspection", async (t) => {
  const publicConfig = await configure(clients.public.id, client.None());
  assert.ok(!publicConfig.serverMetadata().introspection_endpoint_auth_methods_supported.includes('none'),
    'discovery leaves none out for introspection');
  const { access_token: token } = await client.clientCredentialsGrant(await basicConfig(), { resource: resources.es256, scope: 'read' });
  await t.test("another client's token", async () => {
    const err = await rejectsWithOAuthError(client.tokenIntrospection(publicConfig, token), { error: 'invalid_client', status: 401 });
    assert.equal(err.cause?.active, undefined, 'no token data in the refusal');
  });
  await t.test('garbage', async () => {
    await rejectsWithOAuthError(client.tokenIntrospection(publicConfig, 'whatever'), { error: 'invalid_client', status: 401 });
  });
});
