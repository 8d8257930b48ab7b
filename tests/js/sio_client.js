#!/usr/bin/env node
// A socket.io client the Python tests drive (tests/e2e/test_socketio.py): the real npm
// socket.io-client, used the way a browser frontend uses it.
//
//   node sio_client.js '{"url": "http://127.0.0.1:8001", "token": "...", "transports": ["websocket"],
//                        "headers": {"origin": "http://127.0.0.1"}}'
//
// Connects to the `/encounters` namespace (auth.token when given; `transports` omitted means
// the default: long-polling, then the upgrade to WebSocket) and prints one JSON line per thing
// that happens: {"event": "open", "transport"} (Engine.IO's connection), {"event": "upgrade",
// "transport"}, {"event": "connect", "transport"} (the namespace's),
// {"event": "connect_error", "message"}, {"event": "disconnect", "reason"}, and every server
// event as {"event": <name>, "data"}. Commands come one JSON line at a time on stdin:
//   {"emit": "joinSession", "data": {...}}            a plain emit: no acknowledgement
//   {"emit": "joinSession", "data": {...}, "ack": true}   prints {"event": "ack", "name", "data"}
//   {"close": true}                                     disconnects and exits
'use strict';

const readline = require('node:readline');
const { io } = require('socket.io-client');

const options = JSON.parse(process.argv[2]);
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

const socket = io(`${options.url}/encounters`, {
  auth: options.token === undefined ? undefined : { token: options.token },
  transports: options.transports,
  extraHeaders: options.headers || {},
  reconnection: false,
});

socket.io.on('open', () => {
  print({ event: 'open', transport: socket.io.engine.transport.name });
  socket.io.engine.once('upgrade', (transport) => print({ event: 'upgrade', transport: transport.name }));
});
socket.on('connect', () => print({ event: 'connect', transport: socket.io.engine.transport.name }));
socket.on('connect_error', (err) => {
  print({ event: 'connect_error', message: err.message });
  process.exit(0);
});
socket.on('disconnect', (reason) => print({ event: 'disconnect', reason }));
socket.onAny((event, data) => print({ event, data }));

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  const command = JSON.parse(line);
  if (command.close) {
    socket.close();
    process.exit(0);
  }
  if (command.ack) {
    socket.emit(command.emit, command.data, (data) => print({ event: 'ack', name: command.emit, data }));
  } else {
    socket.emit(command.emit, command.data);
  }
});
