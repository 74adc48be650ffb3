// A grpc-js-xds proxyless client of xds:///HOST, driven line by line by
// test/e2e/clients_test.go. It reads its bootstrap from GRPC_XDS_BOOTSTRAP.
//
// Protocol: one JSON command per line on stdin, one JSON answer per line on
// stdout, in order, so the test knows exactly which calls an answer counts.
//   {"calls": N, "headers": {"x-variant": "v2"}}
//   -> {"counts": {"v1": 310, "v2": 90}, "errors": 0, "error": ""}
// Calls are made one after another; each answers with the backend's version
// (SimpleResponse.server_id). A failed call is counted, not retried, and the
// first failure's text is returned. Diagnostics go to stderr.
//
// The interop TestService is called generically with hand-encoded
// messages: an empty SimpleRequest is zero bytes, and the one field read
// back is server_id (field 4, a string), so no .proto files are needed.
'use strict';

const grpc = require('@grpc/grpc-js');
const xds = require('@grpc/grpc-js-xds');
const readline = require('readline');

const host = process.argv[2];
if (!host) {
  console.error('usage: node client.js HOST');
  process.exit(2);
}
xds.register();

const client = new grpc.Client('xds:///' + host, grpc.credentials.createInsecure());
const method = '/grpc.testing.TestService/UnaryCall';
const serialize = () => Buffer.alloc(0);

// serverId reads field 4 (server_id) of a SimpleResponse.
function serverId(buf) {
  let i = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++];
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
      shift += 7;
    }
  };
  let id = '';
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0: varint(); break;
      case 1: i += 8; break;
      case 5: i += 4; break;
      case 2: {
        const n = varint();
        if (field === 4) id = buf.toString('utf8', i, i + n);
        i += n;
        break;
      }
      default: throw new Error('bad wire type in SimpleResponse');
    }
  }
  return id;
}

function call(headers) {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(headers || {})) md.set(k, v);
  return new Promise((resolve) => {
    client.makeUnaryRequest(method, serialize, serverId, Buffer.alloc(0), md,
      { deadline: Date.now() + 5000 },
      (err, id) => resolve(err ? { err: `${grpc.status[err.code]}: ${err.details}` } : { id }));
  });
}

async function run(cmd) {
  const out = { counts: {}, errors: 0, error: '' };
  for (let i = 0; i < cmd.calls; i++) {
    const r = await call(cmd.headers);
    if (r.err) {
      out.errors++;
      if (!out.error) out.error = r.err;
    } else {
      out.counts[r.id] = (out.counts[r.id] || 0) + 1;
    }
  }
  return out;
}

// Commands run strictly in order: the next line waits for the last answer.
const rl = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
rl.on('line', (line) => {
  if (!line.trim()) return;
  queue = queue.then(async () => {
    let out;
    try {
      out = await run(JSON.parse(line));
    } catch (e) {
      out = { counts: {}, errors: 1, error: 'client: ' + e.message };
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  });
});
rl.on('close', () => queue.then(() => {
  client.close();
  process.exit(0);
}));
