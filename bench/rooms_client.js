#!/usr/bin/env node
// The school's shape for bench/rooms.py: many small rooms, one message per room every `period`
// seconds, spread evenly, from one Node process (the same client for our servers and the peer).
//
//   node bench/rooms_client.js <config.json>
//
// config: {protocol: "sio" | "ws", urls: [base URL per server process], post: "http://.../{id}/messages",
//          rooms: [{id, tokens: [one per socket], sender}], period, seconds, storm: bool, after: bool}
//
// protocol "sio": the npm socket.io-client (tests/js), namespace /encounters, auth.token, websocket
// transport (as the peer's own fan-out client); "ws": our /ws/encounters/ JSON frames. Socket k
// goes to urls[k % urls.length]. Every socket joins its room; one probe message per room must
// reach every socket before the measured part (the peer's joinSession sends no answer). Then room
// r posts message n at start + r*period/R + n*period; for every (socket, message) the time from
// the start of the POST to its arrival is kept.
//
// storm: a socket that loses its server reconnects as the web client does (room.js): the first retry
// after 0.5-1 s, doubling up to 30 s, and a socket not joined within 10 s is closed and retried.
// The URLs stand for one address behind a proxy with every server process as an upstream (as
// docker/nginx.conf): a refused connection goes on to the next process at once, as the proxy's
// next-upstream does, without a wait. It rejoins with `after` = the last message it saw
// (`after: true`; the peer has no such thing). A socket is back when its join is answered, and
// caught up when it also holds every message whose POST had been answered before it asked to join
// (what it missed arrives before the answer; a later frame may complete it).
//
// Prints `PHASE connected|start|end` (bench/rooms.py samples the servers then) and `RESULT {json}`.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { performance } = require('node:perf_hooks');
const { r2, summary } = require('./stats');

const jsModules = path.join(__dirname, '..', 'tests', 'js', 'node_modules');
const { io } = require(path.join(jsModules, 'socket.io-client'));
const WebSocket = require(path.join(jsModules, 'ws'));

const cfg = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const R = cfg.rooms.length;
const PERIOD = cfg.period * 1000;
const runId = `${process.pid}-${Date.now().toString(36)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hard = setTimeout(() => {
  console.error('rooms_client: hard time limit');
  process.exit(2);
}, (cfg.seconds + 300) * 1000);
hard.unref();

const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
function postMessage(roomId, token, text) {
  const url = new URL(cfg.post.replace('{id}', roomId));
  const body = JSON.stringify({ text });
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: url.pathname,
        agent,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          Authorization: `Bearer ${token}`,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', () => resolve(0));
    req.setTimeout(30000, () => req.destroy());
    req.end(body);
  });
}

// --- sockets ----------------------------------------------------------------------------------

const sockets = []; // {k, room, token, urlIndex, received: Map n -> ms, last, lastId, probed, ...}
cfg.rooms.forEach((room, r) => {
  room.tokens.forEach((token) => {
    const k = sockets.length;
    sockets.push({ k, r, room, token, urlIndex: k % cfg.urls.length, received: new Map(), last: -1, lastId: null });
  });
});
const counters = { duplicates: 0, reordered: 0, foreign: 0, closes: 0, reconnects: 0 };
const sendAt = cfg.rooms.map(() => []);
let killAt = null;

function onMessage(s, message) {
  const now = performance.now();
  const text = message.text || '';
  if (message.id) s.lastId = message.id;
  if (text === `probe:${runId}:${s.r}`) {
    s.probed = true;
    return;
  }
  if (!text.startsWith(`m:${runId}:`)) return;
  const [, , r, n] = text.split(':').map(Number);
  if (r !== s.r) {
    counters.foreign++;
    return;
  }
  if (s.received.has(n)) counters.duplicates++;
  else s.received.set(n, now);
  caughtUp(s, n);
  if (n < s.last) counters.reordered++;
  s.last = Math.max(s.last, n);
}

// room.js: BACKOFF_FIRST_MS, BACKOFF_MAX_MS, JOIN_TIMEOUT_MS and backoff()
const BACKOFF_FIRST_MS = 1000;
const BACKOFF_MAX_MS = 30000;
const JOIN_TIMEOUT_MS = 10000;

function backoff(attempt) {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** Math.max(0, attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

function refused(err) {
  // ws: the socket's error; socket.io-client: a TransportError whose description is the ws error event
  const causes = [err, err && err.description, err && err.description && err.description.error];
  return causes.some((e) => e && (e.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String(e.message))));
}

function lost(s) {
  // the socket lost its server: reconnect (storm) or count it
  s.open = false;
  if (!cfg.storm || s.stopping) return;
  if (s.downAt == null) {
    s.downAt = s.noticedAt = performance.now();
    s.phases = {};
  }
  s.attempt = (s.attempt || 0) + 1;
  setTimeout(() => reconnect(s, cfg.urls.length), backoff(s.attempt));
}

function mark(s, name) {
  // when a dropped socket first got this far after the kill (where its time back goes)
  if (killAt != null && s.noticedAt != null && s.backAt == null && s.phases[name] == null) s.phases[name] = performance.now() - killAt;
}

function reconnect(s, upstreams) {
  if (s.stopping) return;
  mark(s, 'attempt');
  connect(s).catch((err) => {
    if (refused(err) && upstreams > 1) {
      s.urlIndex = (s.urlIndex + 1) % cfg.urls.length; // the proxy's next upstream, at once
      reconnect(s, upstreams - 1);
    } else lost(s);
  });
}

// Messages whose POST was answered (201), with when: a rejoining socket must hold those answered
// before it asked to join.
const answeredAt = cfg.rooms.map(() => new Map());

function missingSince(s, t) {
  const missing = new Set();
  for (const [n, at] of answeredAt[s.r]) if (at < t && !s.received.has(n)) missing.add(n);
  return missing;
}

function joining(s) {
  s.joinAskedAt = performance.now();
}

function joined(s) {
  if (s.downAt != null) {
    s.backAt = performance.now();
    s.downAt = null;
    counters.reconnects++;
    s.missing = missingSince(s, s.joinAskedAt);
    if (!s.missing.size) s.caughtUpAt = s.backAt;
  }
  s.attempt = 0;
  s.open = true;
}

function caughtUp(s, n) {
  if (s.missing && s.missing.size && s.missing.delete(n) && !s.missing.size) s.caughtUpAt = performance.now();
}

// One socket's join, either protocol: it settles once, fails (closing the socket) unless joined
// within JOIN_TIMEOUT_MS, and once joined the socket's end counts as a lost server.
function joinAttempt(s, resolve, reject, close) {
  let settled = false;
  let live = false;
  const fail = (err) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    close();
    reject(err);
  };
  const timer = setTimeout(() => fail(new Error('not joined in time')), JOIN_TIMEOUT_MS);
  const done = () => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    live = true;
    joined(s);
    resolve();
  };
  const ended = (how) => {
    counters.closes++;
    if (live) lost(s);
    else fail(new Error(`${how} before joined`));
  };
  return { fail, done, ended };
}

function connectSio(s) {
  return new Promise((resolve, reject) => {
    const socket = io(`${cfg.urls[s.urlIndex]}/encounters`, {
      auth: { token: s.token },
      transports: ['websocket'],
      reconnection: false,
      timeout: 30000,
      extraHeaders: { origin: 'http://127.0.0.1' },
    });
    s.socket = socket;
    const attempt = joinAttempt(s, resolve, reject, () => socket.close());
    socket.on('connect', () => {
      mark(s, 'ready');
      const data = { sessionId: s.room.id };
      if (cfg.after && s.lastId) data.after = s.lastId;
      joining(s);
      if (cfg.ack) socket.emit('joinSession', data, () => attempt.done());
      else {
        socket.emit('joinSession', data);
        attempt.done();
      }
    });
    socket.on('newMessage', (m) => onMessage(s, m));
    socket.on('connect_error', (err) => attempt.fail(err));
    socket.on('disconnect', () => attempt.ended('disconnected'));
  });
}

function connectWs(s) {
  return new Promise((resolve, reject) => {
    const url = `${cfg.urls[s.urlIndex].replace(/^http/, 'ws')}/ws/encounters/`;
    const ws = new WebSocket(url, { origin: 'http://127.0.0.1', perMessageDeflate: false });
    s.socket = ws;
    const attempt = joinAttempt(s, resolve, reject, () => ws.terminate());
    ws.on('open', () => {
      mark(s, 'open');
      ws.send(JSON.stringify({ type: 'auth', token: s.token }));
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'ready') {
        mark(s, 'ready');
        const join = { type: 'joinSession', sessionId: s.room.id };
        if (cfg.after && s.lastId) join.after = s.lastId;
        joining(s);
        ws.send(JSON.stringify(join));
      } else if (frame.type === 'joined') {
        for (const m of frame.missed) onMessage(s, m);
        attempt.done();
      } else if (frame.type === 'newMessage') onMessage(s, frame.message);
    });
    ws.on('error', (err) => attempt.fail(err));
    ws.on('close', () => attempt.ended('closed'));
  });
}

const connect = cfg.protocol === 'ws' ? connectWs : connectSio;

async function main() {
  for (let i = 0; i < sockets.length; i += 50) {
    await Promise.all(sockets.slice(i, i + 50).map((s) => connect(s)));
  }
  // Every socket has joined its room when its room's probe reaches it.
  const deadline = performance.now() + 120000;
  let rounds = 0;
  while (sockets.some((s) => !s.probed) && performance.now() < deadline) {
    const rooms = new Set(sockets.filter((s) => !s.probed).map((s) => s.r));
    for (const r of rooms) await postMessage(cfg.rooms[r].id, cfg.rooms[r].sender, `probe:${runId}:${r}`);
    rounds++;
    await sleep(1000);
  }
  if (sockets.some((s) => !s.probed)) throw new Error(`${sockets.filter((s) => !s.probed).length} sockets got no probe`);
  console.log('PHASE connected');
  await sleep(2000);
  console.log('PHASE start');
  const t0 = performance.now() + 100;
  const perRoom = Math.floor((cfg.seconds * 1000) / PERIOD);
  const schedule = [];
  for (let n = 0; n < perRoom; n++) for (let r = 0; r < R; r++) schedule.push([t0 + (r * PERIOD) / R + n * PERIOD, r, n]);
  const statuses = { ok: 0, failed: 0 };
  const posted = cfg.rooms.map(() => new Set());
  const pending = [];
  const postLatency = [];
  for (const [at, r, n] of schedule) {
    const wait = at - performance.now();
    if (wait > 0) await sleep(wait);
    if (cfg.killAtSecond != null && killAt == null && at - t0 >= cfg.killAtSecond * 1000) {
      killAt = performance.now();
      console.log('PHASE kill');
    }
    sendAt[r][n] = performance.now();
    pending.push(
      postMessage(cfg.rooms[r].id, cfg.rooms[r].sender, `m:${runId}:${r}:${n}`).then((status) => {
        postLatency.push(performance.now() - sendAt[r][n]);
        if (status === 201) {
          answeredAt[r].set(n, performance.now());
          statuses.ok++;
          posted[r].add(n);
        } else statuses.failed++;
      }),
    );
  }
  await Promise.all(pending);
  const graceEnd = performance.now() + 15000;
  const complete = () => sockets.every((s) => [...posted[s.r]].every((n) => s.received.has(n)));
  while (performance.now() < graceEnd && !complete()) await sleep(100);
  console.log('PHASE end');
  const latencies = [];
  let lostCount = 0;
  for (const s of sockets) {
    for (const n of posted[s.r]) {
      if (s.received.has(n)) latencies.push(s.received.get(n) - sendAt[s.r][n]);
      else lostCount++;
    }
  }
  const result = {
    protocol: cfg.protocol,
    sockets: sockets.length,
    rooms: R,
    messages: statuses.ok,
    postsFailed: statuses.failed,
    probeRounds: rounds,
    deliveries: latencies.length,
    lost: lostCount,
    duplicates: counters.duplicates,
    reordered: counters.reordered,
    foreign: counters.foreign,
    closes: counters.closes,
    latencyMs: summary(latencies),
    postMs: summary(postLatency),
  };
  if (killAt != null) {
    const dropped = sockets.filter((s) => s.backAt != null || s.downAt != null);
    const back = dropped.filter((s) => s.backAt != null).map((s) => s.backAt - killAt);
    const caught = dropped.filter((s) => s.caughtUpAt != null).map((s) => s.caughtUpAt - killAt);
    result.storm = {
      dropped: dropped.length,
      back: back.length,
      stillDown: dropped.filter((s) => s.backAt == null).length,
      caughtUp: caught.length,
      allBackMs: back.length === dropped.length && back.length ? r2(Math.max(...back)) : null,
      allCaughtUpMs: caught.length === dropped.length && caught.length ? r2(Math.max(...caught)) : null,
      noticedMs: summary(dropped.map((s) => s.noticedAt - killAt)),
      // p50 of when the dropped sockets first made a reconnect attempt, had the WebSocket open
      // (ws), were authenticated (ws `ready`, socket.io `connect`), from the kill
      phasesMs: Object.fromEntries(
        ['attempt', 'open', 'ready'].map((k) => [k, summary(dropped.filter((s) => s.phases && s.phases[k] != null).map((s) => s.phases[k])).p50]),
      ),
      backMs: summary(back),
      caughtUpMs: summary(caught),
    };
  }
  for (const s of sockets) {
    s.stopping = true;
    if (cfg.protocol === 'ws') s.socket.close(1000);
    else s.socket.close();
  }
  console.log(`RESULT ${JSON.stringify(result)}`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
