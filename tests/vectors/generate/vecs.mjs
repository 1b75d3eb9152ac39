// Shared helpers for the Node vector generators (no SDK imports here).
export const T0 = 1762000000; // same signing time as the Python generators
export const BIG = 1_048_000; // "about 1 MiB", under the gateway's default 1 MiB limit

export const compact = (o) => Buffer.from(JSON.stringify(o));
export function reindent(body) {
  const o = JSON.parse(body.toString());
  const out = Buffer.from(JSON.stringify(o, null, 2));
  if (out.equals(body)) throw new Error('reindent produced the same bytes');
  return out;
}
export function changeOneByte(body) {
  for (let i = body.length >> 1; i < body.length; i++) {
    const c = body[i];
    if (c >= 0x30 && c <= 0x39) {
      const b = Buffer.from(body);
      b[i] = c !== 0x37 ? 0x37 : 0x38; // never introduces a leading zero
      return b;
    }
  }
  throw new Error('no digit to change');
}
const WORDS = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor ';
export const filler = (n) => WORDS.repeat(Math.ceil(n / WORDS.length) + 1).slice(0, n);
export function grow(make, target = BIG) {
  let n = target - make('').length;
  for (let i = 0; i < 5; i++) {
    const b = make(filler(n));
    if (b.length === target) return b;
    n += target - b.length;
  }
  throw new Error('could not size body');
}
export const without = (h, name) => h.filter(([k]) => k.toLowerCase() !== name.toLowerCase());
export const replaceH = (h, name, v) => h.map(([k, x]) => [k, k.toLowerCase() === name.toLowerCase() ? v : x]);
export const ciGet = (h, name) => (h.find(([k]) => k.toLowerCase() === name.toLowerCase()) || [])[1];
