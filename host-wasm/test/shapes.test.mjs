// The decoder numbers keys and shapes (src/batch.rs) and builds the objects
// of a shape seen often by code made for it (js/api.js): the objects must
// be the same as without, whatever the peer sends: repeated shapes, keys
// beyond the tables' bounds, `__proto__`, a malformed body in between, and
// where code cannot be made.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

import { DecodeError, Decoder, pairs } from '../dist/node.js';
import { concat, frame } from './helpers.mjs';

const own = (m) => Reflect.ownKeys(m).filter((k) => typeof k === 'string').map((k) => [k, m[k]]);

/** What a message should be: the first value of each key, in JavaScript's
 * order of keys (integer keys first). */
function expected(body) {
  const out = {};
  for (const [k, v] of pairs(body)) {
    if (!Object.hasOwn(out, k)) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  return own(out);
}

function check(bodies, chunk = 1) {
  const d = new Decoder();
  const frames = bodies.map((b) => frame(b));
  const got = [];
  for (let i = 0; i < frames.length; i += chunk) got.push(...d.feed(concat(...frames.slice(i, i + chunk))));
  assert.equal(got.length, bodies.length);
  got.forEach((m, i) => {
    assert.deepEqual(own(m), expected(bodies[i]), bodies[i]);
    assert.equal(Object.getPrototypeOf(m), Object.prototype, bodies[i]);
  });
  return got;
}

test('one shape many times: the same objects, before and after it is built by code', () => {
  const bodies = [];
  for (let i = 0; i < 50; i++) bodies.push(`type@=chatmsg/rid@=${i}/txt@=a@Sb@A${'鱼'.repeat(i % 5)}/nn@=${'🐟'.repeat(i % 3)}x/type@=dup/`);
  check(bodies, 1);
  check(bodies, 7);
});

test('__proto__, constructor and numeric keys in a repeated shape stay data', () => {
  const bodies = [];
  for (let i = 0; i < 20; i++) bodies.push(`__proto__@=p${i}/constructor@=c/1@=one/type@=t/toString@=s${i}/`);
  const ms = check(bodies, 3);
  assert.equal(ms[19].__proto__, 'p19');
  assert.ok(Object.hasOwn(ms[19], '__proto__'));
});

test('keys in the text: quotes, backslashes, newlines and code in keys stay keys', () => {
  const keys = ['a"b', 'c\\d', 'e\nf', '}; throw 1; //', '${x}', '\u2028', '`'];
  const bodies = [];
  for (let i = 0; i < 10; i++) bodies.push(keys.map((k, j) => `${k.replaceAll('@', '@A').replaceAll('/', '@S')}@=${i}.${j}/`).join(''));
  check(bodies, 2);
});

test('more keys than the table holds, and long keys: the same objects', () => {
  const bodies = [];
  for (let i = 0; i < 1500; i++) bodies.push(`type@=t/k${i}@=v${i}/${'L'.repeat(70)}@=long/k${i % 7}@=w/`);
  check(bodies, 100);
});

test('a malformed body between messages: the decoder starts its tables again', () => {
  const good = (i) => frame(`type@=t/a@=${i}/b@=x/`);
  const d = new Decoder();
  const out = [];
  for (let i = 0; i < 6; i++) out.push(...d.feed(good(i)));
  // A new key, then a bad escape: the message is dropped.
  assert.throws(() => d.feed(concat(good(6), frame('type@=t/zz@=1/c@=a@Qb/'), good(7))), (e) => {
    assert.ok(e instanceof DecodeError);
    assert.equal(e.kind, 'bad_escape');
    out.push(...e.messages);
    return true;
  });
  out.push(...d.feed(), ...d.feed(frame('zz@=2/type@=u/')));
  for (let i = 8; i < 14; i++) out.push(...d.feed(good(i)));
  assert.deepEqual(
    out.map((m) => own(m)),
    [0, 1, 2, 3, 4, 5, 6, 7].map((i) => [['type', 't'], ['a', `${i}`], ['b', 'x']])
      .concat([[['zz', '2'], ['type', 'u']]])
      .concat([8, 9, 10, 11, 12, 13].map((i) => [['type', 't'], ['a', `${i}`], ['b', 'x']])),
  );
});

test('where code cannot be made (--disallow-code-generation-from-strings): the same objects', () => {
  const script = `
    import { Decoder } from '../dist/node.js';
    import { frame, concat } from './helpers.mjs';
    const d = new Decoder();
    const out = [];
    for (let i = 0; i < 20; i++) out.push(...d.feed(frame('type@=t/n@=' + i + '/x@=a@Sb/')));
    console.log(JSON.stringify(out));
  `;
  const stdout = execFileSync(process.execPath, ['--disallow-code-generation-from-strings', '--input-type=module', '-e', script], {
    cwd: new URL('.', import.meta.url),
    encoding: 'utf8',
    timeout: 30_000,
  });
  const got = JSON.parse(stdout);
  assert.equal(got.length, 20);
  got.forEach((m, i) => assert.deepEqual(m, { type: 't', n: `${i}`, x: 'a/b' }));
});
