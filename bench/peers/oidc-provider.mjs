// oidc-provider configured as bench/Caddyfile configures caddy-oauth for the opaque scenario:
// one confidential client (client_secret_basic, client_credentials only) and one resource
// whose access tokens are opaque. Its default in-memory adapter keeps the tokens, which is
// the setup the project's comparison quotes (nothing survives a restart there).
//
//   PEER_PORT=… PEER_SECRET=… node oidc-provider.mjs
import Provider, { errors } from 'oidc-provider';

const port = Number(process.env.PEER_PORT);
const secret = process.env.PEER_SECRET;
if (!port || !secret) {
  console.error('PEER_PORT and PEER_SECRET are required');
  process.exit(2);
}
const resource = 'https://opaque.bench.test';
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench-client',
    client_secret: secret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['read', 'write'],
  ttl: { ClientCredentials: 3600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, indicator) {
        if (indicator !== resource) throw new errors.InvalidTarget();
        return { scope: 'read write', audience: resource, accessTokenFormat: 'opaque', accessTokenTTL: 3600 };
      },
    },
  },
});
provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider ${issuer}`));
