// Caddy's admin API for the browser tests (tests/account.test.js and tests/pages.test.js create
// accounts there). Not a test file: node --test runs tests/*.test.js only.
import { request } from 'node:http';

/**
 * Calls Caddy's admin API at admin (its base URL) with node:http: fetch sends Sec-Fetch-Mode,
 * which makes Caddy demand an allowed Origin, as it does of browsers.
 */
export function adminRequest(admin, method, path, body) {
  return new Promise((resolve, reject) => {
    const req = request(`${admin}${path}`, { method, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { text += chunk; });
      res.on('end', () => resolve({ status: res.statusCode, body: text }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
