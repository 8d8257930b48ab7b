#!/usr/bin/env node
// The fan-out client of bench/fanout.py, in Node with the `ws` library: the same kind of client
// as the peer's bench/fanout.js (socket.io-client), so that both sides are measured by a client
// whose own event loop adds little (a Python client adds its own tail to the figures).
//
// Connects N sockets round-robin over the given /ws/encounters/ URLs, authenticates each with
// the first frame, joins the session, then POSTs M numbered messages at a fixed rate and
// measures, for every (socket, message), the time from the start of the POST to the socket's
// `newMessage` frame. Prints one line `RESULT {json}`.
//
// node bench/fanout_client.js --ws ws://127.0.0.1:1/ws/encounters/,ws://... --post http://.../messages
//      --tokens t1,t2 --sender-token t --session <id> --clients 100 --messages 200 --rate 20
'use strict';

const http = require('node:http');
const { performance } = require('node:perf_hooks');
const { summary } = require('./stats');
const WebSocket = require('ws');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const wsUrls = args.ws.split(',');
const tokens = args.tokens.split(',');
const N = Number(args.clients || 100);
const M = Number(args.messages || 200);
const RATE = Number(args.rate || 20);
const GRACE = Number(args.grace || 10000);
const post = new URL(args.post);
const runId = `${process.pid}-${Date.now().toString(36)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const hard = setTimeout(() => {
  console.error('fanout_client: hard time limit reached');
  process.exit(2);
}, 120000 + (M / RATE) * 1000 + GRACE);
hard.unref();

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
function postMessage(text) {
  const body = JSON.stringify({ text });
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: post.hostname,
        port: post.port,
        method: 'POST',
        path: post.pathname,
        agent,
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          Authorization: `Bearer ${args['sender-token']}`,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

function open(i, received, counters) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsUrls[i % wsUrls.length], { origin: 'http://127.0.0.1', perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error(`socket ${i}: no join in 30 s`)), 30000);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'auth', token: tokens[i % tokens.length] })));
    ws.on('message', (data) => {
      const now = performance.now();
      const frame = JSON.parse(data.toString());
      if (frame.type === 'ready') ws.send(JSON.stringify({ type: 'joinSession', sessionId: args.session }));
      else if (frame.type === 'joined') {
        clearTimeout(timer);
        resolve(ws);
      } else if (frame.type === 'newMessage') {
        const text = frame.message.text;
        if (text.startsWith(`probe:${runId}:`)) {
          counters.probed[i] = true;
          return;
        }
        if (!text.startsWith(`fanout:${runId}:`)) return;
        const n = Number(text.split(':')[2]);
        if (received[i].has(n)) counters.duplicates++;
        else received[i].set(n, now);
        if (received[i].size > 1 && n < counters.last[i]) counters.reordered++;
        counters.last[i] = Math.max(counters.last[i], n);
      }
    });
    ws.on('close', (code) => {
      if (code !== 1000 && code !== 1005) counters.closes.push(code);
    });
    ws.on('error', (err) => reject(err));
  });
}

async function main() {
  const received = Array.from({ length: N }, () => new Map());
  const counters = { duplicates: 0, reordered: 0, closes: [], last: new Array(N).fill(-1), probed: new Array(N).fill(false) };
  const sockets = [];
  for (let i = 0; i < N; i += 25) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 25); j++) batch.push(open(j, received, counters));
    sockets.push(...(await Promise.all(batch)));
  }
  // Warm-up, as the peer's client does: probe messages (not measured) until every socket has
  // received one, at least 10 of them (the servers' first requests load code and connect).
  let probes = 0;
  while ((probes < 10 || counters.probed.some((p) => !p)) && probes < 200) {
    await postMessage(`probe:${runId}:${probes++}`);
    await sleep(50);
  }
  if (counters.probed.some((p) => !p)) throw new Error('not every socket received a probe');
  await sleep(500);
  console.log('PHASE start'); // bench/fanout.py measures the servers' CPU between the two marks
  const sendAt = new Array(M);
  const postLatency = [];
  let httpErrors = 0;
  const t0 = performance.now();
  const pending = [];
  for (let m = 0; m < M; m++) {
    const wait = t0 + (m * 1000) / RATE - performance.now();
    if (wait > 0) await sleep(wait);
    sendAt[m] = performance.now();
    pending.push(
      postMessage(`fanout:${runId}:${m}`).then((status) => {
        postLatency.push(performance.now() - sendAt[m]);
        if (status !== 201) httpErrors++;
      }),
    );
  }
  await Promise.all(pending);
  const deadline = performance.now() + GRACE;
  while (performance.now() < deadline && received.some((r) => r.size < M)) await sleep(50);
  console.log('PHASE end');
  const latencies = [];
  let lost = 0;
  received.forEach((r) => {
    for (let m = 0; m < M; m++) {
      if (r.has(m)) latencies.push(r.get(m) - sendAt[m]);
      else lost++;
    }
  });
  for (const ws of sockets) ws.close(1000);
  const result = {
    clients: N,
    messages: M,
    probes,
    deliveries: latencies.length,
    lost,
    duplicates: counters.duplicates,
    reordered: counters.reordered,
    closes: counters.closes,
    httpErrors,
    latencyMs: summary(latencies),
    postMs: summary(postLatency),
  };
  console.log(`RESULT ${JSON.stringify(result)}`);
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
