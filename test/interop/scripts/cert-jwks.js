// Prints the public JWK Set of a certificate's key (PEM file argv[2]): the registered keys of a
// self_signed_tls_client_auth client, whose certificate must carry one of them (RFC 8705 §2.2).
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { exportJWK } from 'jose';

const cert = new X509Certificate(readFileSync(process.argv[2]));
const jwk = await exportJWK(cert.publicKey);
process.stdout.write(JSON.stringify({ keys: [{ ...jwk, use: 'sig' }] }));
