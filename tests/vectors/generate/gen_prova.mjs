// Vectors for providers whose official verifier is a Node package: clerk, resend (Svix-signed),
// workos, mux, sanity, coinbase-commerce, notion, chargebee.
// Run:  npm install && node gen_prova.mjs   (package.json pins the SDK versions; the SDKs may also
// be installed elsewhere: copy this file next to that node_modules and set VECTORS_OUT)
// Every sdk_accepts is the verdict of the SDK's verifier, with Date.now frozen at "now".
import fs from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

import {Webhook as SvixWebhook} from 'svix';
import {verifyWebhook as clerkVerifyWebhook} from '@clerk/backend/webhooks';
import {Resend} from 'resend';
import {WorkOS} from '@workos-inc/node';
import Mux from '@mux/mux-node';
import {encodeSignatureHeader, isValidSignature} from '@sanity/webhook';
import coinbase from 'coinbase-commerce-node';
import {signWebhookPayload, verifyWebhookSignature} from '@notionhq/client';
import {basicAuthValidator} from 'chargebee';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ver = (p) => JSON.parse(fs.readFileSync(path.join(HERE, 'node_modules', p, 'package.json'), 'utf8')).version;
const OUT = process.env.VECTORS_OUT || path.join(HERE, '..');
const T0 = 1762000000; // same signing time as the other generators
const BIG = 1_048_000; // "about 1 MiB", under the gateway's default 1 MiB limit
const mismatches = [];

// ---------------------------------------------------------------- helpers (as in gen_node.mjs)
const compact = (o) => Buffer.from(JSON.stringify(o));
const reindent = (body) => Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 2));
function changeOneByte(body) {
  for (let i = body.length >> 1; i < body.length; i++) {
    if (body[i] >= 0x30 && body[i] <= 0x39) {
      const b = Buffer.from(body);
      b[i] = body[i] !== 0x37 ? 0x37 : 0x38;
      return b;
    }
  }
  throw new Error('no digit to change');
}
const WORDS = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ';
function grow(make) {
  let n = BIG - make('').length;
  for (let i = 0; i < 5; i++) {
    const b = make(WORDS.repeat(Math.ceil(n / WORDS.length) + 1).slice(0, n));
    if (b.length === BIG) return b;
    n += BIG - b.length;
  }
  throw new Error('could not size body');
}
const without = (h, name) => h.filter(([k]) => k.toLowerCase() !== name.toLowerCase());
const ciGet = (h, name) => (h.find(([k]) => k.toLowerCase() === name.toLowerCase()) || [])[1];

async function withNow(now, fn) {
  const real = Date.now;
  Date.now = () => now * 1000;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

/** The SDK's verdict: a thrown error (or false) is a refusal. */
async function verdictOf(fn) {
  try {
    return (await fn()) !== false;
  } catch {
    return false;
  }
}

function maker(provider, judge, keys) {
  const out = [];
  async function mk(name, note, body, headers, {now = T0, expect} = {}) {
    const verdict = await withNow(now, () => verdictOf(() => judge(body, headers, keys)));
    if (expect !== undefined && verdict !== expect) mismatches.push(`${provider}/${name}: sdk=${verdict} expected=${expect}`);
    out.push({name, note, ...keys, request: {method: 'POST', path_and_query: `/hooks/${provider}`, headers: headers.map(([a, b]) => [a, String(b)]), body_b64: body.toString('base64')}, now, sdk_accepts: verdict});
  }
  return [mk, out];
}

function write(provider, vectors) {
  const names = vectors.map((v) => v.name);
  if (new Set(names).size !== names.length) throw new Error(`${provider}: duplicate names`);
  fs.writeFileSync(path.join(OUT, `${provider}.json`), JSON.stringify(vectors, null, 1) + '\n');
  console.log(`${provider}: ${vectors.length} vectors`);
}


// ---------------------------------------------------------------- Svix-signed: clerk, resend
async function svixFamily(provider, judgeName, judge, event) {
  const secret = `whsec_${Buffer.from(`hookgate ${provider} test key 32b!`).toString('base64')}`;
  const other = `whsec_${Buffer.from('another svix key of 32 bytes !!!').toString('base64')}`;
  const msgId = 'msg_2vYF8zKhOG3eWHa0dFz6mQx1JkL';
  const sign = (body, ts = T0, key = secret, id = msgId) => new SvixWebhook(key).sign(id, new Date(ts * 1000), body.toString());
  const hdrs = (sig, ts = T0, id = msgId) => [['Content-Type', 'application/json'], ['User-Agent', 'Svix-Webhooks/1.76.1'], ['svix-id', id], ['svix-timestamp', String(ts)], ['svix-signature', sig]];
  const [mk, out] = maker(provider, judge, {secret});
  const gen = `signed with svix ${ver('svix')} Webhook.sign, judged by ${judgeName}`;
  const body = event(null);
  const sig = sign(body);
  await mk('valid', `realistic event (svix-id is the event ID); ${gen}`, body, hdrs(sig), {expect: true});
  const big = grow((pad) => event(pad));
  await mk('valid_1mib', `~1 MiB event; ${gen}`, big, hdrs(sign(big)), {expect: true});
  await mk('rotation_second_signature', `two v1 entries, only the second made with the secret; ${gen}`, body,
    hdrs(`${sign(body, T0, other)} ${sig}`), {expect: true});
  await mk('json_reindented', `re-indented JSON, signature kept; ${gen}`, reindent(body), hdrs(sig), {expect: false});
  await mk('body_changed_one_byte', `one digit changed; ${gen}`, changeOneByte(body), hdrs(sig), {expect: false});
  await mk('wrong_secret', `signed with another whsec_ key; ${gen}`, body, hdrs(sign(body, T0, other)), {expect: false});
  await mk('missing_signature_header', `no svix-signature; ${gen}`, body, without(hdrs(sig), 'svix-signature'), {expect: false});
  await mk('missing_id_header', `no svix-id (it is signed); ${gen}`, body, without(hdrs(sig), 'svix-id'), {expect: false});
  await mk('id_changed', `svix-id differs from the signed one; ${gen}`, body, hdrs(sig, T0, 'msg_other'), {expect: false});
  await mk('malformed_signature_header', `v1,garbage; ${gen}`, body, hdrs('v1,garbage'), {expect: false});
  await mk('stale_timestamp', `judged 301 s after signing; ${gen}`, body, hdrs(sig), {now: T0 + 301, expect: false});
  await mk('future_timestamp', `judged 301 s before signing; ${gen}`, body, hdrs(sig), {now: T0 - 301, expect: false});
  await mk('inside_window', `judged 299 s after signing; ${gen}`, body, hdrs(sig), {now: T0 + 299, expect: true});
  write(provider, out);
}

async function clerk() {
  const judge = async (body, headers, k) => {
    const req = new Request('https://hooks.example.com/hooks/clerk', {method: 'POST', headers, body});
    await clerkVerifyWebhook(req, {signingSecret: k.secret});
  };
  const event = (pad) => compact({
    data: {
      id: 'user_29w83sxmDNGwOuEthce5gg56FcC', object: 'user', first_name: 'Example', last_name: pad ?? 'Example',
      email_addresses: [{id: 'idn_29w83yL7CwVlJXylYLxcslromF1', email_address: 'example@example.org', verification: {status: 'verified', strategy: 'ticket'}}],
      primary_email_address_id: 'idn_29w83yL7CwVlJXylYLxcslromF1', created_at: 1654012591514, updated_at: 1654012591835,
    },
    event_attributes: {http_request: {client_ip: '0.0.0.0', user_agent: 'Mozilla/5.0'}},
    instance_id: 'ins_123', object: 'event', timestamp: 1654012591835, type: 'user.created',
  });
  await svixFamily('clerk', `@clerk/backend ${ver('@clerk/backend')} verifyWebhook(Request, {signingSecret})`, judge, event);
}

async function resend() {
  const client = new Resend('re_123456789');
  const judge = async (body, headers, k) => {
    client.webhooks.verify({
      payload: body.toString(),
      headers: {id: ciGet(headers, 'svix-id'), timestamp: ciGet(headers, 'svix-timestamp'), signature: ciGet(headers, 'svix-signature')},
      webhookSecret: k.secret,
    });
  };
  const event = (pad) => compact({
    type: 'email.delivered', created_at: '2025-11-01T12:26:39.000Z',
    data: {created_at: '2025-11-01T12:26:37.000Z', email_id: '56761188-7520-42d8-8898-ff6fc54ce618', from: 'Acme <onboarding@resend.dev>', to: ['delivered@resend.dev'], subject: pad ?? 'Sending this example'},
  });
  await svixFamily('resend', `resend ${ver('resend')} webhooks.verify({payload, headers, webhookSecret})`, judge, event);
}

// ---------------------------------------------------------------- t=..,v1=.. families
async function workos() {
  const secret = 'wh_sec_hookgate_workos_0123456789';
  const other = 'wh_sec_some_other_secret_00000000';
  const client = new WorkOS('sk_test_hookgate');
  const judge = async (body, headers, k) => {
    const sigHeader = ciGet(headers, 'WorkOS-Signature');
    if (sigHeader === undefined) return false;
    await client.webhooks.constructEvent({payload: body.toString(), sigHeader, secret: k.secret});
  };
  const sign = async (body, tMs = T0 * 1000, key = secret) => `t=${tMs}, v1=${await client.webhooks.computeSignature(tMs, body.toString(), key)}`;
  const hdrs = (sig) => [['Content-Type', 'application/json'], ['User-Agent', 'WorkOS Webhooks'], ['WorkOS-Signature', sig]];
  const event = (pad) => compact({
    id: 'event_01JBHN1FQMZ3JDH6QDRV7GKT2T', event: 'user.created',
    data: {object: 'user', id: 'user_01E4ZCR3C56J083X43JQXF3JK5', email: 'todd@example.com', first_name: 'Todd', last_name: pad ?? 'Rundgren', email_verified: true, profile_picture_url: null, created_at: '2025-11-01T12:26:39.000Z', updated_at: '2025-11-01T12:26:39.000Z'},
    created_at: '2025-11-01T12:26:40.000Z',
  });
  const [mk, out] = maker('workos', judge, {secret});
  const gen = `signed with the SDK's webhooks.computeSignature (hex HMAC-SHA256 of "t.body", t in ms), judged by @workos-inc/node ${ver('@workos-inc/node')} webhooks.constructEvent({payload, sigHeader, secret}) (tolerance 180 s)`;
  const body = event(null);
  const sig = await sign(body);
  await mk('valid', `user.created (id); ${gen}`, body, hdrs(sig), {expect: true});
  const big = grow(event);
  await mk('valid_1mib', `~1 MiB event; ${gen}`, big, hdrs(await sign(big)), {expect: true});
  await mk('json_reindented', `re-indented JSON; ${gen}`, reindent(body), hdrs(sig), {expect: false});
  await mk('body_changed_one_byte', `one digit changed; ${gen}`, changeOneByte(body), hdrs(sig), {expect: false});
  await mk('wrong_secret', `signed with another secret; ${gen}`, body, hdrs(await sign(body, T0 * 1000, other)), {expect: false});
  await mk('missing_signature_header', `no WorkOS-Signature; ${gen}`, body, without(hdrs(sig), 'WorkOS-Signature'), {expect: false});
  await mk('malformed_signature_header', `no v1 part; ${gen}`, body, hdrs(`t=${T0 * 1000}`), {expect: false});
  await mk('uppercase_hex', `hex upper-cased: the SDK compares the hex text; ${gen}`, body, hdrs(sig.replace(/v1=(\w+)/, (_, x) => `v1=${x.toUpperCase()}`)), {expect: false});
  await mk('timestamp_changed', `t one ms later (it is signed); ${gen}`, body, hdrs(sig.replace(`t=${T0 * 1000}`, `t=${T0 * 1000 + 1}`)), {expect: false});
  await mk('stale_timestamp', `judged 181 s after signing; ${gen}`, body, hdrs(sig), {now: T0 + 181, expect: false});
  await mk('future_timestamp', `judged 181 s before signing: the SDK checks only the past; ${gen}`, body, hdrs(sig), {now: T0 - 181, expect: true});
  await mk('inside_window', `judged 179 s after signing; ${gen}`, body, hdrs(sig), {now: T0 + 179, expect: true});
  write('workos', out);
}

async function mux() {
  const secret = 'mux_webhook_secret_hookgate_0123';
  const other = 'mux_webhook_secret_other_9876543';
  const client = new Mux({tokenId: 'x', tokenSecret: 'y'});
  const judge = async (body, headers, k) => {
    await client.webhooks.verifySignature(body.toString(), Object.fromEntries(headers.map(([a, b]) => [a.toLowerCase(), b])), k.secret);
  };
  // The SDK's own signer (a private method in its types, a plain one at run time).
  const sig1 = (body, ts = T0, key = secret) => client.webhooks.computeSignature(`${ts}.${body}`, key);
  const hdrs = (v) => [['Content-Type', 'application/json'], ['User-Agent', 'Mux Webhooks'], ['Mux-Signature', v]];
  const event = (pad) => compact({
    type: 'video.asset.ready', object: {type: 'asset', id: '0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002'}, id: '3a56ac3d-33da-4366-855b-f592d898409d',
    environment: {name: 'Production', id: 'j0863n'},
    data: {id: '0201p02fGKPE7MrbC269XRD7LpcHhrmbu0002', status: 'ready', duration: 23.8, passthrough: pad ?? 'order-1042', playback_ids: [{policy: 'public', id: 'Xp1H3O01T01Gk5pJr0123'}]},
    created_at: '2025-11-01T12:26:39.000000Z', attempts: [],
  });
  const [mk, out] = maker('mux', judge, {secret});
  const gen = `signed with the SDK's webhooks.computeSignature (hex HMAC-SHA256 of "t.body"), judged by @mux/mux-node ${ver('@mux/mux-node')} webhooks.verifySignature(body, headers, secret) (300 s, past only)`;
  const body = event(null);
  const [good, otherSig] = [await sig1(body), await sig1(body, T0, other)];
  const v = `t=${T0},v1=${good}`;
  await mk('valid', `video.asset.ready (id); ${gen}`, body, hdrs(v), {expect: true});
  const big = grow(event);
  await mk('valid_1mib', `~1 MiB event; ${gen}`, big, hdrs(`t=${T0},v1=${await sig1(big)}`), {expect: true});
  await mk('rotation_second_signature', `two v1 values, the second made with the secret; ${gen}`, body, hdrs(`t=${T0},v1=${otherSig},v1=${good}`), {expect: true});
  await mk('json_reindented', `re-indented JSON; ${gen}`, reindent(body), hdrs(v), {expect: false});
  await mk('body_changed_one_byte', `one digit changed; ${gen}`, changeOneByte(body), hdrs(v), {expect: false});
  await mk('wrong_secret', `signed with another secret; ${gen}`, body, hdrs(`t=${T0},v1=${otherSig}`), {expect: false});
  await mk('missing_signature_header', `no Mux-Signature; ${gen}`, body, without(hdrs(v), 'Mux-Signature'), {expect: false});
  await mk('malformed_signature_header', `no t part; ${gen}`, body, hdrs(`v1=${good}`), {expect: false});
  await mk('uppercase_hex', `hex upper-cased: the SDK compares the hex text; ${gen}`, body, hdrs(`t=${T0},v1=${good.toUpperCase()}`), {expect: false});
  await mk('stale_timestamp', `judged 301 s after signing; ${gen}`, body, hdrs(v), {now: T0 + 301, expect: false});
  await mk('future_timestamp', `judged 301 s before signing: the SDK checks only the past; ${gen}`, body, hdrs(v), {now: T0 - 301, expect: true});
  await mk('inside_window', `judged 299 s after signing; ${gen}`, body, hdrs(v), {now: T0 + 299, expect: true});
  write('mux', out);
}

async function sanity() {
  const secret = 'sanity-hookgate-webhook-secret';
  const other = 'sanity-other-webhook-secret-00';
  const judge = async (body, headers, k) => {
    const sig = ciGet(headers, 'sanity-webhook-signature');
    if (sig === undefined) return false;
    return isValidSignature(body.toString(), sig, k.secret);
  };
  const sign = (body, tMs = T0 * 1000, key = secret) => encodeSignatureHeader(body.toString(), tMs, key);
  const hdrs = (sig) => [['Content-Type', 'application/json'], ['User-Agent', 'Sanity.io webhook delivery'], ['idempotency-key', 'msg-2vYF8zKhOG3eWHa0'], ['sanity-webhook-signature', sig]];
  const event = (pad) => compact({_id: 'movie_10681', _type: 'movie', _rev: '7oE3mWkRe2BH1nAJZ9v2aB', title: pad ?? 'Alien', releaseDate: '1979-05-25', slug: {_type: 'slug', current: 'alien'}});
  const [mk, out] = maker('sanity', judge, {secret});
  const gen = `signed with @sanity/webhook ${ver('@sanity/webhook')} encodeSignatureHeader, judged by isValidSignature(body, header, secret) (no timestamp check)`;
  const body = event(null);
  const sig = await sign(body);
  await mk('valid', `document projection (idempotency-key header is the event ID); ${gen}`, body, hdrs(sig), {expect: true});
  const big = grow(event);
  await mk('valid_1mib', `~1 MiB document; ${gen}`, big, hdrs(await sign(big)), {expect: true});
  await mk('json_reindented', `re-indented JSON; ${gen}`, reindent(body), hdrs(sig), {expect: false});
  await mk('body_changed_one_byte', `one digit changed; ${gen}`, changeOneByte(body), hdrs(sig), {expect: false});
  await mk('wrong_secret', `signed with another secret; ${gen}`, body, hdrs(await sign(body, T0 * 1000, other)), {expect: false});
  await mk('missing_signature_header', `no sanity-webhook-signature; ${gen}`, body, without(hdrs(sig), 'sanity-webhook-signature'), {expect: false});
  await mk('malformed_signature_header', `no v1 part; ${gen}`, body, hdrs(`t=${T0 * 1000}`), {expect: false});
  await mk('timestamp_changed', `t one ms later (it is signed); ${gen}`, body, hdrs(sig.replace(`t=${T0 * 1000}`, `t=${T0 * 1000 + 1}`)), {expect: false});
  await mk('empty_body', `empty body: the SDK refuses to sign or verify it; ${gen}`, Buffer.alloc(0), hdrs(sig), {expect: false});
  await mk('stale_timestamp', `judged 301 s after signing: the SDK checks no age; ${gen}`, body, hdrs(sig), {now: T0 + 301, expect: true});
  await mk('future_timestamp', `judged 301 s before signing: the SDK checks no age; ${gen}`, body, hdrs(sig), {now: T0 - 301, expect: true});
  await mk('inside_window', `judged 299 s after signing; ${gen}`, body, hdrs(sig), {now: T0 + 299, expect: true});
  write('sanity', out);
}

// ---------------------------------------------------------------- body-only HMACs
async function coinbaseCommerce() {
  const secret = 'cc-shared-secret-hookgate-0123456789';
  const judge = async (body, headers, k) => {
    const sig = ciGet(headers, 'X-CC-Webhook-Signature');
    if (sig === undefined) return false;
    return coinbase.Webhook.verifySigHeader(body.toString(), sig, k.secret);
  };
  const sign = (body, key = secret) => coinbase.Webhook.computeSignature(body.toString(), key);
  const hdrs = (sig) => [['Content-Type', 'application/json'], ['User-Agent', 'weipay-webhooks'], ['X-CC-Webhook-Signature', sig]];
  const event = (pad) => compact({
    attempt_number: 1,
    event: {api_version: '2018-03-22', created_at: '2025-11-01T12:26:39Z', id: '24934862-d980-46cb-9402-43c81b0cdba6', resource: 'event', type: 'charge:confirmed',
      data: {code: '66BEOV2A', name: 'The Sovereign Individual', description: pad ?? 'Mastering the Transition to the Information Age', pricing: {local: {amount: '100.00', currency: 'USD'}}, timeline: [{status: 'NEW', time: '2025-11-01T12:20:00Z'}, {status: 'COMPLETED', time: '2025-11-01T12:26:39Z'}]}},
    id: 'f6a7b8c9-0d1e-4f2a-8b3c-4d5e6f7a8b9c', scheduled_for: '2025-11-01T12:26:39Z',
  });
  const [mk, out] = maker('coinbase-commerce', judge, {secret});
  const gen = `signed with coinbase-commerce-node ${ver('coinbase-commerce-node')} Webhook.computeSignature, judged by Webhook.verifySigHeader(payload, sig, secret)`;
  const body = event(null);
  const sig = sign(body);
  await mk('valid', `charge:confirmed (event.id); ${gen}`, body, hdrs(sig), {expect: true});
  const big = grow(event);
  await mk('valid_1mib', `~1 MiB event; ${gen}`, big, hdrs(sign(big)), {expect: true});
  await mk('json_reindented', `re-indented JSON; ${gen}`, reindent(body), hdrs(sig), {expect: false});
  await mk('body_changed_one_byte', `one digit changed; ${gen}`, changeOneByte(body), hdrs(sig), {expect: false});
  await mk('wrong_secret', `signed with another secret; ${gen}`, body, hdrs(sign(body, 'another-secret')), {expect: false});
  await mk('missing_signature_header', `no X-CC-Webhook-Signature; ${gen}`, body, without(hdrs(sig), 'X-CC-Webhook-Signature'), {expect: false});
  await mk('malformed_signature_header', `not hex; ${gen}`, body, hdrs('garbage'), {expect: false});
  await mk('uppercase_hex', `hex upper-cased: secure-compare of the hex text; ${gen}`, body, hdrs(sig.toUpperCase()), {expect: false});
  await mk('valid_empty_body', `empty body, signed; ${gen}`, Buffer.alloc(0), hdrs(sign(Buffer.alloc(0))), {expect: true});
  write('coinbase-commerce', out);
}

async function notion() {
  const secret = 'secret_hookgateNotionVerificationToken0123456789';
  const judge = async (body, headers, k) =>
    verifyWebhookSignature({body: body.toString(), signature: ciGet(headers, 'X-Notion-Signature'), verificationToken: k.secret});
  const sign = (body, key = secret) => signWebhookPayload({body: body.toString(), verificationToken: key});
  const hdrs = (sig) => [['Content-Type', 'application/json'], ['User-Agent', 'notion-api'], ['X-Notion-Signature', sig]];
  const event = (pad) => compact({
    id: '367cba44-b6f3-4c92-81e7-6a2e9659efd4', timestamp: '2025-11-01T12:26:39.000Z', workspace_id: '13950b26-c203-4f3b-b97d-93ec06319565', workspace_name: pad ?? 'Quantify Labs',
    subscription_id: '29d75c0d-5546-4414-8459-7b7a92f1fc4b', integration_id: '0ef2e755-4912-8096-91c1-00376a88a5ca', type: 'page.created',
    authors: [{id: 'c7c11cca-1d73-471d-9b6e-bdef51470190', type: 'person'}], attempt_number: 1,
    entity: {id: '153104cd-477e-809d-8dc4-ff2d96ae3090', type: 'page'}, data: {parent: {id: '13950b26-c203-4f3b-b97d-93ec06319565', type: 'space'}},
  });
  const [mk, out] = maker('notion', judge, {secret});
  const gen = `signed with @notionhq/client ${ver('@notionhq/client')} signWebhookPayload, judged by verifyWebhookSignature({body, signature, verificationToken})`;
  const body = event(null);
  const sig = await sign(body);
  await mk('valid', `page.created (id); ${gen}`, body, hdrs(sig), {expect: true});
  const big = grow(event);
  await mk('valid_1mib', `~1 MiB event; ${gen}`, big, hdrs(await sign(big)), {expect: true});
  await mk('json_reindented', `re-indented JSON; ${gen}`, reindent(body), hdrs(sig), {expect: false});
  await mk('body_changed_one_byte', `one digit changed; ${gen}`, changeOneByte(body), hdrs(sig), {expect: false});
  await mk('wrong_secret', `signed with another verification token; ${gen}`, body, hdrs(await sign(body, 'secret_other')), {expect: false});
  await mk('missing_signature_header', `no X-Notion-Signature; ${gen}`, body, without(hdrs(sig), 'X-Notion-Signature'), {expect: false});
  await mk('malformed_signature_header', `not hex; ${gen}`, body, hdrs('sha256=garbage'), {expect: false});
  await mk('missing_prefix', `hex without sha256=; ${gen}`, body, hdrs(sig.slice('sha256='.length)), {expect: false});
  await mk('uppercase_hex', `hex upper-cased: the SDK lower-cases it first, ACCEPTS; ${gen}`, body, hdrs(`sha256=${sig.slice(7).toUpperCase()}`), {expect: true});
  const verification = compact({verification_token: secret});
  await mk('verification_request_unsigned', `the one-time verification POST carries the token unsigned: refused (see README); ${gen}`, verification,
    without(hdrs(sig), 'X-Notion-Signature'), {expect: false});
  write('notion', out);
}

async function chargebee() {
  const secret = 'hookgate:cb-webhook-password-0123';
  const judge = async (body, headers, k) => {
    const [user, ...rest] = k.secret.split(':');
    const validate = basicAuthValidator((u, p) => u === user && p === rest.join(':'));
    await validate(Object.fromEntries(headers.map(([a, b]) => [a.toLowerCase(), b])));
  };
  const basic = (cred) => `Basic ${Buffer.from(cred).toString('base64')}`;
  const hdrs = (auth) => [['Content-Type', 'application/json'], ['User-Agent', 'ChargeBee'], ['Authorization', auth]];
  const event = (pad) => compact({
    id: 'ev_16BHbhF4s42tO2lK', occurred_at: 1762000000, source: 'admin_console', object: 'event', api_version: 'v2', event_type: 'subscription_created',
    content: {subscription: {id: 'AzZlGJT1qbR6T1nJ', customer_id: 'AzZlGJT1qbR6T1nJ', status: 'active', billing_period: 1, billing_period_unit: 'month', created_at: 1762000000, cf_note: pad ?? 'none'}},
  });
  const [mk, out] = maker('chargebee', judge, {secret});
  const gen = `judged by chargebee ${ver('chargebee')} basicAuthValidator((u, p) => u === user && p === password) (Chargebee signs nothing: the body is not covered)`;
  const body = event(null);
  await mk('valid', `subscription_created (id) with the configured Basic credentials; ${gen}`, body, hdrs(basic(secret)), {expect: true});
  const big = grow(event);
  await mk('valid_1mib', `~1 MiB event; ${gen}`, big, hdrs(basic(secret)), {expect: true});
  await mk('body_changed_one_byte', `one digit changed: Basic auth does not cover the body, ACCEPTED; ${gen}`, changeOneByte(body), hdrs(basic(secret)), {expect: true});
  await mk('wrong_password', `right user, wrong password; ${gen}`, body, hdrs(basic('hookgate:wrong')), {expect: false});
  await mk('wrong_user', `wrong user, right password; ${gen}`, body, hdrs(basic('other:cb-webhook-password-0123')), {expect: false});
  await mk('missing_authorization_header', `no Authorization; ${gen}`, body, without(hdrs(''), 'Authorization'), {expect: false});
  await mk('bearer_instead_of_basic', `the secret as a bearer token; ${gen}`, body, hdrs(`Bearer ${secret}`), {expect: false});
  await mk('malformed_no_colon', `credentials without a colon; ${gen}`, body, hdrs(basic('hookgatecb-webhook-password-0123')), {expect: false});
  write('chargebee', out);
}

await clerk();
await resend();
await workos();
await mux();
await sanity();
await coinbaseCommerce();
await notion();
await chargebee();
if (mismatches.length) {
  console.log('SDK verdicts differing from my expectation (recorded as the SDK says):');
  for (const m of mismatches) console.log(`  ${m}`);
}
