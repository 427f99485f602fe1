// Generates a fresh, test-only ES256 key pair for the private_key_jwt client of the interop
// suite. The private JWK goes to the file named by argv[2]; the public JWK Set is printed on
// stdout, compact, for the Caddyfile. Nothing here is ever committed.
import { writeFileSync } from 'node:fs';
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';

const out = process.argv[2];
if (!out) {
  console.error('usage: node scripts/gen-client-key.js <private-jwk-file>');
  process.exit(2);
}
const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
const pub = await exportJWK(publicKey);
const kid = await calculateJwkThumbprint(pub);
writeFileSync(out, JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'ES256' }), { mode: 0o600 });
process.stdout.write(JSON.stringify({ keys: [{ ...pub, kid, alg: 'ES256', use: 'sig' }] }));
