// Verify a consent token with Node's built-in crypto and nothing else (no npm package), the way a
// shop's backend in JavaScript would: the site's JWKS document and the token in, the claims out.
//   node verify_jws.js <jwks.json> <token> <site>   -> prints {"valid": true|false, "claims": {...}}
'use strict';
const crypto = require('crypto');
const fs = require('fs');

const [jwksPath, token, site] = process.argv.slice(2);
const jwks = JSON.parse(fs.readFileSync(jwksPath, 'utf8'));
const decode = part => Buffer.from(part, 'base64url');

function verify() {
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const header = JSON.parse(decode(parts[0]).toString('utf8'));
  if (header.alg !== 'EdDSA') return null;
  const jwk = jwks.keys.find(k => k.kid === header.kid && k.kty === 'OKP' && k.crv === 'Ed25519');
  if (!jwk) return null;
  const key = crypto.createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' });
  const signed = Buffer.from(parts[0] + '.' + parts[1], 'ascii');
  if (!crypto.verify(null, signed, key, decode(parts[2]))) return null;
  const claims = JSON.parse(decode(parts[1]).toString('utf8'));
  if (claims.aud !== site || !(claims.exp * 1000 > Date.now())) return null;
  return claims;
}

const claims = verify();
process.stdout.write(JSON.stringify({ valid: claims !== null, claims }));
