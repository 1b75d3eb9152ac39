// Vectors for the providers of issue 15 (part b) whose official verifier is a Node package:
// contentful (@contentful/node-apps-toolkit signRequest / verifyRequest).
// wix (@wix/sdk webhooks.parseJWT, jose SignJWT as the signer).
// Run:  npm install && node gen_provb.mjs     (package.json pins the versions)
// Every sdk_accepts is the verdict of the SDK's verifier, with Date.now frozen at "now".
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {signRequest, verifyRequest} from '@contentful/node-apps-toolkit';
import {AppStrategy, createClient} from '@wix/sdk';
import {SignJWT, importPKCS8} from 'jose';
import crypto from 'node:crypto';

import {BIG, T0, changeOneByte, ciGet, compact, filler, grow, reindent, replaceH, without} from './vecs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = process.env.VECTORS_OUT || path.join(HERE, '..');
const mismatches = [];

function withNow(now, fn) {
  const real = Date.now;
  Date.now = () => now * 1000;
  try {
    return fn();
  } finally {
    Date.now = real;
  }
}

function write(provider, vectors) {
  const names = vectors.map((v) => v.name);
  if (new Set(names).size !== names.length) throw new Error(`duplicate names in ${provider}`);
  const file = path.join(OUT, `${provider}.json`);
  fs.writeFileSync(file, JSON.stringify(vectors, null, 1) + '\n');
  console.log(`${provider}: ${vectors.length} vectors -> ${file}`);
}

// ---------------------------------------------------------------- contentful
function contentful() {
  const version = JSON.parse(fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.resolve('@contentful/node-apps-toolkit'))), '..', 'package.json'), 'utf8')).version;
  const secret = 'hG7kP2qX9vL4mN8bR3tY6wZ1cF5jD0sA7eU2iO9pK4lM6nB3vC8xQ1zT5yR0wE2u';
  const other = 'A'.repeat(64);
  const publicUrl = 'https://hooks.example.com/hooks/contentful';
  const note = `signed with @contentful/node-apps-toolkit ${version} signRequest, judged by verifyRequest(secret, {method, path, headers, body}) (ttl 30 s; throws = false; it checks only the past), Date.now frozen`;
  const event = (pad) => compact({
    sys: {type: 'Entry', id: '5KsDBWseXY6QegucYAoacS', space: {sys: {type: 'Link', linkType: 'Space', id: 'yadj1kx9rmg0'}},
      environment: {sys: {id: 'master', type: 'Link', linkType: 'Environment'}}, revision: 3,
      updatedAt: '2025-11-01T12:26:39.000Z'},
    fields: {title: {'en-US': pad === undefined ? 'Hello, webhook' : pad}},
  });
  const base = [['Content-Type', 'application/vnd.contentful.management.v1+json'],
    ['X-Contentful-Topic', 'ContentManagement.Entry.publish'], ['X-Contentful-Webhook-Name', 'hookgate']];
  const subPath = (p) => p.slice('/hooks/contentful'.length);
  function sign(body, key = secret, ts = T0, p = '/hooks/contentful', extra = base) {
    const signPath = new URL(publicUrl).pathname + subPath(p);
    const headers = Object.fromEntries(extra.filter(([k]) => k.toLowerCase() === 'x-contentful-topic').map(([k, v]) => [k.toLowerCase(), v]));
    const signed = signRequest(key, {method: 'POST', path: signPath, headers, body: body.toString()}, ts * 1000);
    return [...extra, ...Object.entries(signed)];
  }
  function judge(body, headers, p) {
    const signPath = new URL(publicUrl).pathname + subPath(p);
    const h = {};
    for (const [k, v] of headers) h[k.toLowerCase()] = v;
    try {
      return verifyRequest(secret, {method: 'POST', path: signPath, headers: h, body: body.toString()}, 30);
    } catch {
      return false;
    }
  }
  const out = [];
  function mk(name, what, body, headers, {now = T0, expect, p = '/hooks/contentful'} = {}) {
    const verdict = withNow(now, () => judge(body, headers, p));
    if (expect !== undefined && verdict !== expect) mismatches.push(`contentful/${name}: sdk=${verdict} expected=${expect}`);
    out.push({name, note: `${what}; ${note}`, secret, public_url: publicUrl,
      request: {method: 'POST', path_and_query: p, headers: headers.map(([a, b]) => [a, String(b)]), body_b64: body.toString('base64')},
      now, sdk_accepts: !!verdict});
  }
  const body = event();
  const h = sign(body);
  const sig = ciGet(h, 'x-contentful-signature');
  mk('valid', 'Entry.publish event, x-contentful-topic signed', body, h, {expect: true});
  const big = grow((pad) => event(pad));
  mk('valid_1mib', '~1 MiB event', big, sign(big), {expect: true});
  mk('valid_empty_body', 'empty body, signed', Buffer.alloc(0), sign(Buffer.alloc(0)), {expect: true});
  const sub = '/hooks/contentful/entries?env=master&topic=Entry.publish';
  mk('valid_subpath_query', 'sub-path and query, signed as called (the toolkit encodes the query twice)', body, sign(body, secret, T0, sub), {expect: true, p: sub});
  mk('wrong_secret', 'signed with another secret', body, sign(body, other), {expect: false});
  mk('body_changed_one_byte', 'one digit changed after signing', changeOneByte(body), h, {expect: false});
  mk('json_reindented', 're-indented JSON, original signature', reindent(body), h, {expect: false});
  mk('stale_timestamp', 'signed an hour before now', body, sign(body, secret, T0 - 3600), {expect: false});
  mk('future_timestamp', 'signed an hour after now', body, sign(body, secret, T0 + 3600));
  mk('signed_header_changed', 'x-contentful-topic changed after signing', body, replaceH(h, 'X-Contentful-Topic', 'ContentManagement.Entry.delete'), {expect: false});
  mk('unsigned_header_changed', 'x-contentful-webhook-name (not signed) changed', body, replaceH(h, 'X-Contentful-Webhook-Name', 'other'), {expect: true});
  mk('signed_headers_name_an_absent_header', 'x-contentful-signed-headers also names a header the request lacks (the toolkit ignores it)', body,
    replaceH(h, 'x-contentful-signed-headers', ciGet(h, 'x-contentful-signed-headers') + ',x-absent'));
  mk('wrong_path', 'signed for another path', body, sign(body, secret, T0, '/hooks/contentful/other'), {expect: false});
  mk('missing_signature_header', 'no x-contentful-signature', body, without(h, 'x-contentful-signature'), {expect: false});
  mk('missing_timestamp_header', 'no x-contentful-timestamp', body, without(h, 'x-contentful-timestamp'), {expect: false});
  mk('missing_signed_headers', 'no x-contentful-signed-headers', body, without(h, 'x-contentful-signed-headers'), {expect: false});
  mk('malformed_signature_truncated', 'signature cut by one char', body, replaceH(h, 'x-contentful-signature', sig.slice(0, -1)), {expect: false});
  mk('uppercase_hex', 'hex upper-cased', body, replaceH(h, 'x-contentful-signature', sig.toUpperCase()));
  write('contentful', out);
}

// ---------------------------------------------------------------- wix
// Test keys (RSA 2048, made for these vectors): the app's key pair and another one.
const WIX_PKCS8 = 'MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQDEFlRAnEkUwh5RCMdJe3voNBx+XeNKG2GE6TJGAJcR226ZTSadzqDbHYfvivir+k970aEfQ2unxDqjzZaX8nvJ99OtHBoepINkeOksjACDBQz2rBaBMHeVjXUg1EeFLqBhoGTHv3mzJfQIGU6FKk/YLRTCDtfaURYgjMjMdhpeX7YODrbNQfSs37rYODiccbrWb3yaGzLdgkUKM5TJfAJZ98BSistmHUuSzSuIq+H0NRdu3TdTPU4xI6+NOZfOtbhmk15pBKAEfDdEyukVv3et6KY52CsC3RXGmSOkCtlRm4ETsu8qqv/wGV7iUi/qVdJkexz4Qv7W0SIn7UmP4J6xAgMBAAECggEAQAFJ3w0kjbIPU0QaSNIVz+Wyp0zeNAJcApZb4p2ushV+NGwKfthDiUJKbNZf9ULvTutOPHY1Xb2fpngk/9QWtAZBAfB6ViY8/T66XeAVCq9LW/kwH1tCrX5PDTg9YCuoDjXcr5bAksmArmQUTUNSbK3KaM2Ph6OQJW/O225xjPv+Dt6Olm1DXLJ13p0MJp8ZY6XWk5aeHnL9LJ0iGoWuifBHO3M6D14rxpqAnU1E2Sgi7Omh+tQSJPvtOeFYGjZMqrXGs67Q9QgpopXVXpsTcCrmV9qnQBQMmgdPT9SWCnQ9ogZ7edWsPN5m9lUkBwmHUgaZwttmHSuK0B9nhLCQQQKBgQD0adOCdcXH/iRwQRIYXChf7dy0zAtjQBftkx4xW9wvh4lNE6L7wxwukdfFkmInU1OxWqu46naPJwOKBCZDIFHnD3EC95nleTjiDUf14XNiK205TvL8KuaKLa1eB85rUfSCULIUwMsYXMOlwXUs9SIOCvHgNhmx/CqQ613C2ZD1ZwKBgQDNYgWfUNVItb8XEjtALutXbdke0AKUMo9ZMXSQ6EP/0qMXY7wW1XRwPNCMi9qmEFql+HiLL0MMeloi+g/cTC7jhKz3knnMsBu2vVuaTrcX3UKr4R5AtrPzyCsJsHxPwd/1HPJUwuVieJe8U6aCVVnjzfoQzD9nXcpG/yq4QTlkJwKBgQCrpyMnzaThB2j5+YlG2Hp2nOxTgbZBt0LW1GrxCW3DZ7ITEsZ1gJrrTfw3Qs5yhgASX/aYgPpRIXpH1RA2Np2u5FZfWhuYYSGFCQTP9818Vbl49SyL02lkBB5tGphrIPzTBO98ycYZTxUM9ahgsayAJkmnSPeU29/dNZ/896Xp4wKBgQCWKVDLBqKqIpewGphPeP6AUcQpDxSTndPI9quvNuJgrHSpqTXfy/jyBsTDvY0DVXmxV1VrDgcLnHlCkWn/O4QcvOhpqiJ7UVcx6IiM7XhYbmFMoa8oyWwQlQ1CbFK3TZyc7akP598me90UyGQ5boXmVLa8iVjiDmTSO8XUKXv4iQKBgQCpea704dXMU3niFnUJpQqfB99Hxj0JiHGym+fSUQnOI8f8/fmGBCLCGtMmzofT1hdrFD0W93eoYYWtfEpEE3Y0Y6s7PtsLKk7y9Kv7lo6lkT353KyNdERYGDmm04NGtD+8GO8wLXxBt35W2UZh+snYmIL48t7hxgEYBc3PBr+iGw==';
const WIX_OTHER_PKCS8 = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCXdxvjAF+OF3eURoinAbOPiLN6nMsDg+VdVR+8Hl4PKOTd88O4M74qHfKeF4+boKPyBeqBjb1QKv/0kOFe7EEkCxqwbpk9k3Ba2mFn66H6WG1+ecKUQD9MxfJVeC0iQUJS6Ibn0PWWfEX69b1euy9c3IxOwus5P4gPZ30J0GeD5G6jSynUYvXnr7GJwEO1lH5YanzPGTSBgcJ8MywcYQrG2oCHJXascBDpmnDU6zfRAsyj20Zyq8HXOSB+xJ0i72s9f4j1OH9isWF0x31FN5PxJUhm+41Sh+/BEpyef90FWcPjBYIQUA/55z+3ppfAb87JciDaet+AAX5Z8F56X5JxAgMBAAECggEAAaAg8ny3NHqCqVq1w2UR8kEQprOMEjZA0zxDTOzegYx6IvpSErtWF8mefZ0vHgfJT/hJnf5Ra8zVAQuU/5nK0Szf/8i6vZ3EH5V8ZMsd6pE3C5vEP3xjsYU7po3Vnip+dblSc/vFcZ9VI5kDi+1iWBLIhrKHfQ52KAQqTrKn3xMjn/G4txoUkg1bpyMvVRMWHT+nRowssLM71f2v4UKcRtiVzdk8TKKmhJuSsAor4EZ3oH0gVf3MrbM0RCZv/M9KRTJcnmSngmWXeoip8hal99n5V7W4HtC0vPPvcFaKgea3xoeTQaR46I6nCvoAlUB/OKRLOLSmvaj7N51l+qMmYQKBgQDI4GQ8SsxnxBbDWWeqZrFYsKdhYYs8nm2S3/JEQSktMSfGJmTZZEy2WO5y8toJKA6HpeaoMN+AK5G4mNNcSyCBJJVA5q74qYZl8fbUwNbcJBr5jr058LOeuI7m5uW58lDBi1b3lT/Guk0nDdY/LLQssEBPKaXJ5XbWCs7UYjOxVQKBgQDBB5GEKyYVP8VxhulK1iLGabouSCSw9NH9LYjHPRJsOHKsY4dLT8zKstpaO4lTn5u8g956qlUcugNiTz2jonHT1q7l/g8Ffc1dAyCPP/nP4mo0/uyc9FWSME6rLv7F+hTGMhBojR5m9nrwhIzOSwdpY2Ft1ruQhBNwCf5Cf53MrQKBgEe53/CrYKtYmCwuu1ZcDs01Xr7l3prJkySTtGTsw3Awkhwtz2rUZpPh01rWHkaQuAd1lJPPx65zYDgC0c2twbB7SJQBCs8dcTDrohA7vzyh48PiVOzgZrKxAc2u+q5XuMAzKd2DvF8QXMYqKasrIjamxH+/xkP+HF23RD0Px5d1AoGBAMCIJASIZTvcl7tcrWUPoS/2VNXE75PxHWJCAKN5rt5yjy6TN2dO+R1Ut6Y4rAjUsimd/lKrgqlcf/OWxgxpAtAg2eJdPe5kRGn5rIg1b56CXxztCGSk8JUXyd/EyCn//qiRVvxxhVl9j7JHA4rgG0xq68r626qRkjG2Rf1d/K8hAoGAOJLGGk5+TfoGZr/Y+i6uKpDF7UDTk7WyrawyUennpY2hMpAr0rTGUTTuTjxAa+7wtpcIkHxlatGNbTqGfIhO5q/TqjnpHkSOOEfcDP7V20vfkf8bjS7zjf0qQBH1d35dyN0uE3q02fBbB1+m7IuTFZNOL5J7d44ywftQdDlVy0c=';
const WIX_PUBLIC_PEM = `-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAxBZUQJxJFMIeUQjHSXt7
6DQcfl3jShthhOkyRgCXEdtumU0mnc6g2x2H74r4q/pPe9GhH0Nrp8Q6o82Wl/J7
yffTrRwaHqSDZHjpLIwAgwUM9qwWgTB3lY11INRHhS6gYaBkx795syX0CBlOhSpP
2C0Uwg7X2lEWIIzIzHYaXl+2Dg62zUH0rN+62Dg4nHG61m98mhsy3YJFCjOUyXwC
WffAUorLZh1Lks0riKvh9DUXbt03Uz1OMSOvjTmXzrW4ZpNeaQSgBHw3RMrpFb93
reimOdgrAt0VxpkjpArZUZuBE7LvKqr/8Ble4lIv6lXSZHsc+EL+1tEiJ+1Jj+Ce
sQIDAQAB
-----END PUBLIC KEY-----`;

async function wix() {
  const version = JSON.parse(fs.readFileSync(path.join(path.dirname(fileURLToPath(import.meta.resolve('@wix/sdk'))), '..', 'package.json'), 'utf8')).version;
  const pem = (b64) => `-----BEGIN PRIVATE KEY-----\n${b64.match(/.{1,64}/g).join('\n')}\n-----END PRIVATE KEY-----\n`;
  const key = await importPKCS8(pem(WIX_PKCS8), 'RS256');
  const otherKey = await importPKCS8(pem(WIX_OTHER_PKCS8), 'RS256');
  const client = createClient({auth: AppStrategy({appId: 'a1b2c3d4-0000-4000-8000-00000000000a', publicKey: WIX_PUBLIC_PEM}), modules: {}});
  const note = `signed with jose SignJWT RS256 (the library @wix/sdk ${version} verifies with), judged by @wix/sdk ${version} createClient({auth: AppStrategy({appId, publicKey})}).webhooks.parseJWT(body) (throws = false), Date.now frozen`;
  const event = (pad) => JSON.stringify({
    data: JSON.stringify({id: '6a4c1b2f-9e8d-4c7b-a6f5-e4d3c2b1a098', entityFqdn: 'wix.ecom.v1.order', slug: 'approved',
      entityId: '6a4c1b2f-9e8d-4c7b-a6f5-e4d3c2b1a098', eventTime: '2025-11-01T12:26:39.000Z',
      actionEvent: {body: {order: {id: '6a4c1b2f-9e8d-4c7b-a6f5-e4d3c2b1a098', number: '10042', note: pad === undefined ? 'Leave at the door' : pad}}}}),
    instanceId: '5b0c1e2d-3f4a-4b5c-8d6e-7f8091a2b3c4', eventType: 'wix.ecom.v1.order_approved',
    identity: JSON.stringify({identityType: 'APP'}),
  });
  const jwt = async (claims, k = key, header = {alg: 'RS256', typ: 'JWT'}) =>
    new SignJWT(claims).setProtectedHeader(header).sign(k);
  const b64url = (o) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
  const ct = [['Content-Type', 'text/plain']];
  const out = [];
  async function mk(name, what, body, {now = T0, expect} = {}) {
    // jose reads the clock with `new Date()`, not Date.now.
    const RealDate = Date;
    globalThis.Date = class extends RealDate {
      constructor(...a) {
        if (a.length) super(...a);
        else super(now * 1000);
      }
      static now() {
        return now * 1000;
      }
    };
    let verdict;
    try {
      await client.webhooks.parseJWT(body.toString());
      verdict = true;
    } catch {
      verdict = false;
    } finally {
      globalThis.Date = RealDate;
    }
    if (expect !== undefined && verdict !== expect) mismatches.push(`wix/${name}: sdk=${verdict} expected=${expect}`);
    out.push({name, note: `${what}; ${note}`, public_key: WIX_PUBLIC_PEM,
      request: {method: 'POST', path_and_query: '/hooks/wix', headers: ct, body_b64: body.toString('base64')}, now, sdk_accepts: verdict});
  }
  const claims = {data: event(), iat: T0 - 1};
  const valid = Buffer.from(await jwt(claims));
  await mk('valid', 'order approved event as an RS256 JWT', valid, {expect: true});
  // Sized after signing: the JWT grows by 4/3 of the padding.
  let pad = 700_000;
  let big = Buffer.from(await jwt({data: event(filler(pad)), iat: T0 - 1}));
  pad += Math.floor((BIG - big.length) * 3 / 4) - 4;
  big = Buffer.from(await jwt({data: event(filler(pad)), iat: T0 - 1}));
  await mk('valid_large', `a ${big.length}-byte JWT`, big, {expect: true});
  await mk('future_exp_valid', 'exp an hour ahead', Buffer.from(await jwt({...claims, exp: T0 + 3600})), {expect: true});
  await mk('wrong_key', 'signed with another RSA key', Buffer.from(await jwt(claims, otherKey)), {expect: false});
  const [h, p, s] = valid.toString().split('.');
  await mk('claims_changed', 'claims re-encoded with another order number, original signature',
    Buffer.from([h, b64url({...claims, data: claims.data.replace('10042', '10043')}), s].join('.')), {expect: false});
  await mk('alg_none', 'header alg none, no signature', Buffer.from([b64url({alg: 'none', typ: 'JWT'}), p, ''].join('.')), {expect: false});
  const hsInput = [b64url({alg: 'HS256', typ: 'JWT'}), p].join('.');
  const hsSig = crypto.createHmac('sha256', WIX_PUBLIC_PEM).update(hsInput).digest('base64url');
  await mk('alg_hs256_public_key_as_secret', 'HS256 with the public key as the MAC key (algorithm confusion)', Buffer.from(`${hsInput}.${hsSig}`), {expect: false});
  await mk('stale_exp', 'exp a minute ago', Buffer.from(await jwt({...claims, exp: T0 - 60})), {expect: false});
  await mk('future_nbf', 'nbf in an hour', Buffer.from(await jwt({...claims, nbf: T0 + 3600})), {expect: false});
  await mk('data_not_a_string', 'data claim is an object', Buffer.from(await jwt({data: JSON.parse(event()), iat: T0})), {expect: false});
  await mk('missing_data', 'no data claim', Buffer.from(await jwt({iat: T0})), {expect: false});
  await mk('trailing_newline', 'the JWT followed by a newline (outside the signed part)', Buffer.from(valid.toString() + '\n'), {expect: true});
  await mk('not_a_jwt', 'a JSON body instead of a JWT', Buffer.from(event()), {expect: false});
  await mk('empty_body', 'no body', Buffer.alloc(0), {expect: false});
  write('wix', out);
}

contentful();
await wix();
if (mismatches.length) console.log('verdicts differing from expectations:\n  ' + mismatches.join('\n  '));
