import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { startWatch } from '../src/watch/server.js';
import { writeSyntheticTrace } from './synthetic.js';
import { tmp } from './helpers.js';

/** A GET; a response cut short resolves too, with what arrived (`aborted`). */
function get(url: string, path: string, agent?: Agent): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer; aborted?: boolean }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const req = request({ host: u.hostname, port: u.port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', () => ok({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), aborted: true }));
    });
    req.on('error', fail);
    req.end();
  });
}

/** A raw connection to the server; `closed` resolves when the server ends it. */
function rawSocket(url: string): Promise<{ socket: Socket; closed: Promise<void> }> {
  const u = new URL(url);
  return new Promise((ok, fail) => {
    const socket = connect(Number(u.port), u.hostname, () => ok({ socket, closed }));
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    socket.resume(); // flowing: the server's end is read, and the socket closes
    socket.on('error', () => {});
    socket.once('error', fail);
  });
}

const within = <T>(p: Promise<T>, ms: number) => Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms).unref())]);

test('watch serves what it opened: a trace name swapped for a link to an outside file while requests run never leaks that file', async () => {
  const dir = tmp(), outside = tmp();
  const good = writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3 });
  const secret = join(outside, 'secret.bin');
  writeFileSync(secret, 'SECRET '.repeat(100));
  // a copy of the trace beside it, under a name the scan does not list, to put it back from
  copyFileSync(good, join(dir, '.keep'));
  // the scan runs once, at the start: the name stays listed whatever it points to later
  const s = await startWatch(dir, { pollMs: 3_600_000 });
  // another process swaps the listed name between the trace and a link out, atomically (rename), as fast as it can
  const swapper = spawn(process.execPath, ['-e', `
    const fs = require('node:fs'), path = require('node:path');
    const dir = ${JSON.stringify(dir)}, secret = ${JSON.stringify(secret)}, name = ${JSON.stringify(good)};
    for (let i = 0; ; i++) {
      const a = path.join(dir, '.a' + i), b = path.join(dir, '.b' + i);
      fs.linkSync(path.join(dir, '.keep'), a); fs.renameSync(a, name);
      fs.symlinkSync(secret, b); fs.renameSync(b, name);
    }`], { stdio: 'ignore' });
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  let served = 0, refused = 0, leaked = 0;
  try {
    const until = Date.now() + 4000;
    while ((Date.now() < until || served + refused < 40) && served + refused < 4000) {
      const batch = await Promise.all(Array.from({ length: 4 }, () => get(s.url, '/trace/relu-sigmoid-relu_s1.arrow', agent)));
      for (const r of batch) {
        if (r.body.toString('latin1').includes('SECRET')) leaked++;
        else if (r.aborted) assert.fail('a response was cut short: its length was taken from one file and its bytes from another');
        else if (r.status === 200) { served++; assert.equal(r.body.subarray(0, 6).toString(), 'ARROW1'); } else refused++;
      }
    }
  } finally {
    swapper.kill('SIGKILL');
    agent.destroy();
    await s.close();
  }
  assert.equal(leaked, 0, `${leaked} of ${served + refused + leaked} responses carried the outside file`);
  assert.ok(served > 0 && refused > 0, `the trace is served while it is one, refused while it is a link (${served} served, ${refused} refused)`);
});

test('watch caps what clients hold: connections beyond the cap are closed, event streams beyond theirs get 503, requests without headers are dropped', async () => {
  const dir = tmp();
  writeSyntheticTrace(dir, { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3 });
  const s = await startWatch(dir, { pollMs: 3_600_000, limits: { connections: 6, streams: 2, headersTimeoutMs: 600 } });
  const sockets: Socket[] = [];
  try {
    // streams: two open, the third refused
    const streams = await Promise.all([0, 1].map(() => new Promise<() => void>((ok) => {
      const u = new URL(s.url);
      const req = request({ host: u.hostname, port: u.port, path: '/events' }, (res) => { res.once('data', () => ok(() => req.destroy())); res.on('error', () => {}); });
      req.on('error', () => {});
      req.end();
    })));
    // (a stream, if opened, would never end: only its status is read)
    const third = await new Promise<{ status: number; body: string }>((ok) => {
      const u = new URL(s.url);
      const req = request({ host: u.hostname, port: u.port, path: '/events' }, (res) => {
        if (res.statusCode !== 503) { req.destroy(); return ok({ status: res.statusCode ?? 0, body: '' }); }
        let body = '';
        res.on('data', (c) => (body += c)).on('end', () => ok({ status: 503, body }));
      });
      req.on('error', () => {});
      req.end();
    });
    assert.equal(third.status, 503);
    assert.match(third.body, /too many open live views \(2\)/);
    for (const close of streams) close();
    // a request that never finishes its headers is dropped (Node's default kept it 60–90 s)
    const slow = await rawSocket(s.url);
    sockets.push(slow.socket);
    slow.socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n');
    assert.ok(await within(slow.closed, 15_000), 'the server drops a request whose headers never end');
    const mute = await rawSocket(s.url);
    sockets.push(mute.socket);
    assert.ok(await within(mute.closed, 15_000), 'and a connection that never sends a byte');
    // a flood of idle connections: those beyond the cap are closed at once
    const flood = await Promise.all(Array.from({ length: 16 }, () => rawSocket(s.url)));
    sockets.push(...flood.map((f) => f.socket));
    const closedNow = (await Promise.all(flood.map((f) => within(f.closed, 400)))).filter(Boolean).length;
    assert.ok(closedNow >= 10, `${closedNow} of 16 idle connections beyond a cap of 6 closed at once`);
    // once the idle ones are gone, the view answers again
    for (const f of flood) f.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal((await get(s.url, '/state.json')).status, 200);
  } finally {
    for (const k of sockets) k.destroy();
    await s.close();
  }
});

test('watch serves a trace whose name is not ASCII, with the exact name in Content-Disposition (RFC 6266)', async () => {
  const dir = tmp();
  const t = writeSyntheticTrace(tmp(), { combo: 'relu-sigmoid-relu', seed: 1, acc: 0.3 });
  const name = 'résumé "ü" 東京.arrow';
  copyFileSync(t, join(dir, name));
  const s = await startWatch(dir, { pollMs: 3_600_000 });
  try {
    const r = await get(s.url, `/trace/${encodeURIComponent(name)}`);
    assert.equal(r.status, 200, r.body.toString());
    assert.deepEqual(r.body, readFileSync(t));
    const cd = String(r.headers['content-disposition']);
    assert.match(cd, /^attachment; filename="r_sum_ _\u005f_ __\.arrow"|^attachment; filename="[ -~]*"; filename\*=UTF-8''/);
    assert.equal(decodeURIComponent(/filename\*=UTF-8''(.*)$/.exec(cd)![1]), name);
  } finally {
    await s.close();
  }
});
