// Vectors for providers whose official verifier is a Node package: github, shopify, zoom, linear.
// Run:  npm install && node gen_node.mjs     (package.json pins the SDK versions)
// Every sdk_accepts is the verdict of the SDK's verifier, with Date.now frozen at "now".
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {sign as octoSign, verify as octoVerify} from '@octokit/webhooks-methods';
import '@shopify/shopify-api/adapters/web-api';
import {shopifyApi, ApiVersion, LogSeverity} from '@shopify/shopify-api';
import {getHmac as shopifyGetHmac} from '@shopify/shopify-api/test-helpers';
import {AwsLambdaReceiver} from '@zoom/rivet/meetings';
import {LinearWebhookClient} from '@linear/sdk/webhooks';

import {T0, changeOneByte, ciGet, compact, grow, reindent, replaceH, without} from './vecs.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ver = (p) => JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', p, 'package.json'), 'utf8')).version;
const OUT = path.join(HERE, '..');
const mismatches = [];

// ---------------------------------------------------------------- helpers
const jsonResponse = (obj, status = 200) => ({status, content_type: 'application/json', body: JSON.stringify(obj), json: obj});

async function withNow(now, fn) {
  const real = Date.now;
  Date.now = () => now * 1000;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

function maker(provider, judge, keys) {
  const out = [];
  async function mk(name, note, body, headers, {now = T0, expect, pathAndQuery, handshake, secret} = {}) {
    const k = {...keys, ...(secret ? {secret} : {})};
    const p = pathAndQuery || `/hooks/${provider}`;
    const verdict = await withNow(now, () => judge(body, headers, k, p));
    if (expect !== undefined && verdict !== expect) mismatches.push(`${provider}/${name}: sdk=${verdict} expected=${expect}`);
    const v = {name, note, ...k, request: {method: 'POST', path_and_query: p, headers: headers.map(([a, b]) => [a, String(b)]), body_b64: body.toString('base64')}, now, sdk_accepts: !!verdict};
    if (handshake) v.handshake_response = handshake;
    out.push(v);
  }
  return [mk, out];
}
function write(provider, vectors) {
  const names = vectors.map((v) => v.name);
  if (new Set(names).size !== names.length) throw new Error(`duplicate names in ${provider}`);
  const file = path.join(OUT, `${provider}.json`);
  fs.writeFileSync(file, JSON.stringify(vectors, null, 1) + '\n');
  JSON.parse(fs.readFileSync(file, 'utf8'));
  console.log(`${provider}: ${vectors.length} vectors -> ${path.relative(process.cwd(), file)}`);
}

// ---------------------------------------------------------------- GitHub (@octokit/webhooks-methods)
async function github() {
  const V = `@octokit/webhooks-methods ${ver('@octokit/webhooks-methods')}`;
  const secret = 'gh-webhook-secret-7c1e9a4f2b8d';
  const other = 'gh-webhook-secret-000000000000';
  const judge = async (body, headers, k) => {
    try {
      return await octoVerify(k.secret, body.toString('utf8'), ciGet(headers, 'X-Hub-Signature-256'));
    } catch {
      return false; // verify() throws on a missing signature or an empty payload
    }
  };
  const hmacHex = (algo, key, body) => crypto.createHmac(algo, key).update(body).digest('hex');
  const sig = async (body, key = secret) => (body.length ? octoSign(key, body.toString('utf8')) : `sha256=${hmacHex('sha256', key, body)}`);
  const hdrs = async (body, {key = secret, s} = {}) => [
    ['Content-Type', 'application/json'], ['User-Agent', 'GitHub-Hookshot/a7b3c9d'], ['X-GitHub-Event', 'issues'],
    ['X-GitHub-Delivery', '72d3162e-cc78-11e3-81ab-4c9367dc0958'], ['X-GitHub-Hook-ID', '292430182'],
    ['X-GitHub-Hook-Installation-Target-ID', '79929171'], ['X-GitHub-Hook-Installation-Target-Type', 'repository'],
    ['X-Hub-Signature', `sha1=${hmacHex('sha1', key, body)}`],
    ...(s === null ? [] : [['X-Hub-Signature-256', s ?? (await sig(body, key))]]),
  ];
  const event = (pad) => compact({
    action: 'opened',
    issue: {url: 'https://api.github.com/repos/octocat/Hello-World/issues/1347', id: 1, number: 1347, title: 'Found a bug',
      user: {login: 'octocat', id: 1}, state: 'open', body: pad ?? "I'm having a problem with this.", created_at: '2025-11-01T12:26:38Z'},
    repository: {id: 1296269, name: 'Hello-World', full_name: 'octocat/Hello-World', private: false},
    sender: {login: 'octocat', id: 1},
  });
  const [mk, out] = maker('github', judge, {secret});
  const gen = `signed with ${V} sign(), judged by verify() (X-Hub-Signature-256)`;
  const body = event();
  const s = await sig(body);
  await mk('valid', `issues.opened event (X-GitHub-Delivery); ${gen}`, body, await hdrs(body), {expect: true});
  const docBody = Buffer.from('Hello, World!');
  await mk('docs_example', `GitHub docs test vector: secret "It's a Secret to Everybody", payload "Hello, World!"; ${gen}`, docBody,
    await hdrs(docBody, {key: "It's a Secret to Everybody"}), {secret: "It's a Secret to Everybody", expect: true});
  const big = grow((p) => event(p));
  await mk('valid_1mib', `~1 MiB event; ${gen}`, big, await hdrs(big), {expect: true});
  await mk('empty_body', `empty body with sha256=HMAC(secret, '') (documented formula: sign() refuses an empty payload); verify() THROWS on an empty payload, so the SDK refuses; ${gen}`,
    Buffer.alloc(0), await hdrs(Buffer.alloc(0)), {expect: false});
  await mk('wrong_secret', `signed with another secret; ${gen}`, body, await hdrs(body, {key: other}), {expect: false});
  await mk('body_changed_one_byte', `one digit changed; ${gen}`, changeOneByte(body), await hdrs(body), {expect: false});
  await mk('json_reindented', `re-indented JSON; ${gen}`, reindent(body), await hdrs(body), {expect: false});
  await mk('missing_signature_header', `no X-Hub-Signature-256 (legacy sha1 header alone); verify() throws; ${gen}`, body, await hdrs(body, {s: null}), {expect: false});
  await mk('malformed_signature_header', `garbage; ${gen}`, body, await hdrs(body, {s: 'garbage'}), {expect: false});
  await mk('malformed_signature_wrong_prefix', `sha256 hex under 'sha1='; ${gen}`, body, await hdrs(body, {s: s.replace('sha256=', 'sha1=')}), {expect: false});
  await mk('malformed_signature_truncated', `hex cut by one char; ${gen}`, body, await hdrs(body, {s: s.slice(0, -1)}), {expect: false});
  await mk('uppercase_hex', `hex upper-cased: verify() compares the string exactly and refuses; ${gen}`, body,
    await hdrs(body, {s: 'sha256=' + s.slice(7).toUpperCase()}), {expect: false});
  write('github', out);
}

// ---------------------------------------------------------------- Shopify (@shopify/shopify-api)
async function shopify() {
  const V = `@shopify/shopify-api ${ver('@shopify/shopify-api')}`;
  const secret = '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';
  const other = 'shpss_00000000000000000000000000000000';
  const api = (key) => shopifyApi({apiKey: 'c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6', apiSecretKey: key, scopes: ['read_orders'],
    hostName: 'hooks.example.com', apiVersion: ApiVersion.October25, isEmbeddedApp: false, logger: {level: LogSeverity.Error}});
  const judge = async (body, headers, k) => {
    const req = new Request('https://hooks.example.com/hooks/shopify', {method: 'POST', headers});
    const r = await api(k.secret).webhooks.validate({rawBody: body.toString('utf8'), rawRequest: req});
    return r.valid;
  };
  const sig = (body, key = secret) => shopifyGetHmac(body.toString('utf8'), key);
  const hdrs = (body, {key = secret, s} = {}) => [
    ['Content-Type', 'application/json'], ['User-Agent', 'Shopify-Captain-Hook'], ['X-Shopify-Topic', 'orders/create'],
    ...(s === null ? [] : [['X-Shopify-Hmac-Sha256', s ?? sig(body, key)]]),
    ['X-Shopify-Shop-Domain', 'example-shop.myshopify.com'], ['X-Shopify-API-Version', '2025-10'],
    ['X-Shopify-Webhook-Id', 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043'], ['X-Shopify-Event-Id', '98880550-7158-44d4-b7cd-2c97c8a091b5'],
    ['X-Shopify-Triggered-At', '2025-11-01T12:26:39.123456789Z'],
  ];
  const event = (pad) => compact({
    id: 820982911946154500, admin_graphql_api_id: 'gid://shopify/Order/820982911946154508', name: '#9999', email: 'jon@example.com',
    created_at: '2025-11-01T08:26:38-04:00', currency: 'USD', total_price: '403.00', financial_status: 'voided',
    note: pad ?? null, line_items: [{id: 866550311766439000, title: 'Aviator sunglasses', quantity: 1, price: '89.99', sku: 'SKU2006-001'}],
  });
  const [mk, out] = maker('shopify', judge, {secret});
  const gen = `signed with ${V} test-helpers getHmac (base64 HMAC-SHA256 of the raw body), judged by shopifyApi().webhooks.validate (web-api adapter)`;
  const body = event();
  const s = sig(body);
  await mk('valid', `orders/create with X-Shopify-Webhook-Id/Event-Id; ${gen}`, body, hdrs(body), {expect: true});
  const big = grow((p) => event(p));
  await mk('valid_1mib', `~1 MiB order; ${gen}`, big, hdrs(big), {expect: true});
  await mk('empty_body', `empty body with base64 HMAC of '' : validate() refuses (MissingBody); ${gen}`, Buffer.alloc(0), hdrs(Buffer.alloc(0)), {expect: false});
  await mk('wrong_secret', `signed with another app secret; ${gen}`, body, hdrs(body, {key: other}), {expect: false});
  await mk('body_changed_one_byte', `one digit changed; ${gen}`, changeOneByte(body), hdrs(body), {expect: false});
  await mk('json_reindented', `re-indented JSON; ${gen}`, reindent(body), hdrs(body), {expect: false});
  await mk('missing_signature_header', `no X-Shopify-Hmac-Sha256; ${gen}`, body, hdrs(body, {s: null}), {expect: false});
  await mk('malformed_signature_header', `garbage; ${gen}`, body, hdrs(body, {s: 'garbage'}), {expect: false});
  await mk('malformed_signature_truncated', `base64 cut by 2 chars; ${gen}`, body, hdrs(body, {s: s.slice(0, -2)}), {expect: false});
  await mk('hex_instead_of_base64', `the right HMAC but hex-encoded; ${gen}`, body,
    hdrs(body, {s: Buffer.from(s, 'base64').toString('hex')}), {expect: false});
  write('shopify', out);
}

// ---------------------------------------------------------------- Zoom (@zoom/rivet receivers)
async function zoom() {
  const V = `@zoom/rivet ${ver('@zoom/rivet')}`;
  const secret = 'zm_secret_token_Qx7Lp2Vb9Nc4Rt6W';
  const other = 'zm_secret_token_0000000000000000';
  const quiet = console.debug;
  const judge = async (body, headers, k) => {
    console.debug = () => {};
    try {
      const handler = new AwsLambdaReceiver({webhooksSecretToken: k.secret}).start();
      const r = await handler({body: body.toString('utf8'), headers: Object.fromEntries(headers), isBase64Encoded: false}, {});
      judge.last = r;
      return r.statusCode === 200;
    } finally {
      console.debug = quiet;
    }
  };
  const sig = (body, ts = T0, key = secret) => 'v0=' + crypto.createHmac('sha256', key).update(`v0:${ts}:${body}`).digest('hex');
  const hdrs = (body, {key = secret, s, ts = T0} = {}) => [
    ['Content-Type', 'application/json; charset=utf-8'], ['User-Agent', 'Zoom Marketplace/1.0a'],
    ['x-zm-request-timestamp', String(ts)], ...(s === null ? [] : [['x-zm-signature', s ?? sig(body, ts, key)]]),
    ['x-zm-trackingid', 'v=2.0;clid=aw1;rid=1762000000123'],
  ];
  const event = (pad) => compact({
    event: 'meeting.started', event_ts: T0 * 1000 - 512,
    payload: {account_id: 'AAAAAABBBB', object: {id: '85451012732', uuid: '4444AAAiAAAAAiAiAiiAii==', host_id: 'x1yCzABCDEfg23HiJKl4mN',
      topic: pad ?? 'Weekly sync', type: 2, start_time: '2025-11-01T12:26:39Z', timezone: 'Europe/Berlin', duration: 60}},
  });
  const [mk, out] = maker('zoom', judge, {secret});
  const gen = `signed with the documented formula v0=hex(HMAC-SHA256(secret, 'v0:'+ts+':'+body)) (rivet has no signer), judged by ${V} AwsLambdaReceiver (CommonHttpRequest.isEventVerified)`;
  const body = event();
  const s = sig(body);
  await mk('valid', `meeting.started (compact JSON as Zoom sends it); ${gen}`, body, hdrs(body), {expect: true});
  const big = grow((p) => event(p));
  await mk('valid_1mib', `~1 MiB event; ${gen}`, big, hdrs(big), {expect: true});
  await mk('empty_body', `empty body: rivet JSON-parses the body first and answers 400; ${gen}`, Buffer.alloc(0), hdrs(Buffer.alloc(0)), {expect: false});
  await mk('wrong_secret', `signed with another secret token; ${gen}`, body, hdrs(body, {key: other}), {expect: false});
  await mk('body_changed_one_byte', `one digit changed; ${gen}`, changeOneByte(body), hdrs(body), {expect: false});
  await mk('json_reindented', `re-indented JSON, original signature: rivet hashes JSON.stringify(JSON.parse(body)), not the raw bytes, so the SDK ACCEPTS (a raw-bytes verifier refuses); ${gen}`,
    reindent(body), hdrs(body), {expect: true});
  await mk('missing_signature_header', `no x-zm-signature; ${gen}`, body, hdrs(body, {s: null}), {expect: false});
  await mk('malformed_signature_header', `garbage; ${gen}`, body, hdrs(body, {s: 'garbage'}), {expect: false});
  await mk('malformed_signature_wrong_prefix', `hex under v1=; ${gen}`, body, hdrs(body, {s: s.replace('v0=', 'v1=')}), {expect: false});
  await mk('uppercase_hex', `hex upper-cased: rivet compares strings exactly; ${gen}`, body, hdrs(body, {s: 'v0=' + s.slice(3).toUpperCase()}), {expect: false});
  const plain = 'qgg8vlvZRS6UYooatFL8Aw';
  const uv = compact({payload: {plainToken: plain}, event_ts: T0 * 1000 - 10, event: 'endpoint.url_validation'});
  const expected = {plainToken: plain, encryptedToken: crypto.createHmac('sha256', secret).update(plain).digest('hex')};
  await mk('url_validation', `endpoint.url_validation (signed) -> 200 {plainToken, encryptedToken: hex HMAC-SHA256(secret, plainToken)}; ${gen}`,
    uv, hdrs(uv), {expect: true, handshake: jsonResponse(expected)});
  { const got = JSON.parse(judge.last.body);
    if (got.plainToken !== expected.plainToken || got.encryptedToken !== expected.encryptedToken) throw new Error('rivet url_validation answer differs: ' + judge.last.body); }
  await mk('url_validation_bad_signature', `endpoint.url_validation signed with another secret: refuse (rivet answers 400); ${gen}`,
    uv, hdrs(uv, {key: other}), {expect: false});
  write('zoom', out);
}

// ---------------------------------------------------------------- Linear (@linear/sdk LinearWebhookClient)
async function linear() {
  const V = `@linear/sdk ${ver('@linear/sdk')}`;
  const secret = 'lin_wh_5b1c9e7a3f2d8b6c4e0a1f9d7b5c3e2a';
  const other = 'lin_wh_00000000000000000000000000000000';
  const judge = async (body, headers, k) => {
    try {
      return new LinearWebhookClient(k.secret).verify(body, ciGet(headers, 'Linear-Signature'));
    } catch {
      return false; // verify() throws on any failure
    }
  };
  const sig = (body, key = secret) => crypto.createHmac('sha256', key).update(body).digest('hex');
  const hdrs = (body, {key = secret, s} = {}) => [
    ['Content-Type', 'application/json; charset=utf-8'], ['User-Agent', 'Linear-Webhook'],
    ['Linear-Delivery', '234d1a4e-b617-4388-90fe-adc3633d6b72'], ['Linear-Event', 'Issue'],
    ...(s === null ? [] : [['Linear-Signature', s ?? sig(body, key)]]),
  ];
  const event = (pad, tsMs = T0 * 1000) => compact({
    action: 'create', type: 'Issue', createdAt: '2025-11-01T12:26:39.512Z', organizationId: '18d1f5a2-7c3e-4b9a-8f6d-2e1c0b9a8d7f',
    url: 'https://linear.app/acme/issue/ENG-1042/checkout-totals',
    actor: {id: '2e1f3c4d-5b6a-4978-8c9d-0e1f2a3b4c5d', type: 'user', name: 'Ada Lovelace'},
    data: {id: '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d', identifier: 'ENG-1042', title: 'Checkout totals are off by one cent',
      description: pad ?? 'Rounding issue in tax.', priority: 2, teamId: '4c3b2a19-8f7e-4d6c-9b5a-3e2d1c0b9a8f'},
    webhookTimestamp: tsMs, webhookId: 'e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b',
  });
  const [mk, out] = maker('linear', judge, {secret});
  const gen = `signed with the documented formula hex(HMAC-SHA256(secret, raw body)) (the SDK has no signer), judged by ${V} LinearWebhookClient.verify (60 s window on the in-body webhookTimestamp, Date.now frozen)`;
  const body = event();
  const s = sig(body);
  await mk('valid', `Issue create with webhookTimestamp = now (ms); ${gen}`, body, hdrs(body), {expect: true});
  const big = grow((p) => event(p));
  await mk('valid_1mib', `~1 MiB event; ${gen}`, big, hdrs(big), {expect: true});
  await mk('empty_body', `empty body with hex HMAC of '': verify() needs webhookTimestamp from the JSON body and throws; ${gen}`,
    Buffer.alloc(0), hdrs(Buffer.alloc(0)), {expect: false});
  await mk('wrong_secret', `signed with another secret; ${gen}`, body, hdrs(body, {key: other}), {expect: false});
  await mk('body_changed_one_byte', `one digit changed; ${gen}`, changeOneByte(body), hdrs(body), {expect: false});
  await mk('json_reindented', `re-indented JSON; ${gen}`, reindent(body), hdrs(body), {expect: false});
  await mk('stale_timestamp', `now = webhookTimestamp + 61 s; ${gen}`, body, hdrs(body), {now: T0 + 61, expect: false});
  await mk('future_timestamp', `now = webhookTimestamp - 61 s; ${gen}`, body, hdrs(body), {now: T0 - 61, expect: false});
  const old = event(undefined, (T0 - 120) * 1000);
  await mk('stale_body_timestamp_fresh_header', `webhookTimestamp 120 s old, deprecated Linear-Timestamp header fresh: only the signed body counts; ${gen}`,
    old, [...hdrs(old), ['Linear-Timestamp', String(T0 * 1000)]], {expect: false});
  await mk('missing_signature_header', `no Linear-Signature; ${gen}`, body, hdrs(body, {s: null}), {expect: false});
  await mk('malformed_signature_header', `garbage; ${gen}`, body, hdrs(body, {s: 'garbage'}), {expect: false});
  await mk('malformed_signature_truncated', `hex cut by one char; ${gen}`, body, hdrs(body, {s: s.slice(0, -1)}), {expect: false});
  await mk('uppercase_hex', `hex upper-cased: timingSafeEqual on the hex strings refuses; ${gen}`, body, hdrs(body, {s: s.toUpperCase()}), {expect: false});
  write('linear', out);
}

await github();
await shopify();
await zoom();
await linear();
if (mismatches.length) {
  console.log('SDK verdicts differing from my expectation (recorded as the SDK says):');
  for (const m of mismatches) console.log('  ' + m);
}
