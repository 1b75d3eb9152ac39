// Vectors for the providers of issue 15 (part b) whose official verifier is a Node package:
// contentful (@contentful/node-apps-toolkit signRequest / verifyRequest).
// Run:  npm install && node gen_provb.mjs     (package.json pins the versions)
// Every sdk_accepts is the verdict of the SDK's verifier, with Date.now frozen at "now".
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {signRequest, verifyRequest} from '@contentful/node-apps-toolkit';

import {T0, changeOneByte, ciGet, compact, grow, reindent, replaceH, without} from './vecs.mjs';

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

contentful();
if (mismatches.length) console.log('verdicts differing from expectations:\n  ' + mismatches.join('\n  '));
