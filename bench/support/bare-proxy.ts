/**
 * The floor the gateway benchmark compares against: a bare node:http proxy (keep-alive both ways, no auth, no
 * routing, no logging) forwarding POSTs to `BENCH_UPSTREAM`. What it adds over calling the upstream directly is the
 * cost of one more process and hop on this machine, which no gateway avoids. Sends `{ type: 'ready', url }` over IPC;
 * `{ cmd: 'stop' }` exits.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const upstream = new URL(process.env.BENCH_UPSTREAM!);
const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
const server = http.createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on('data', (p: Buffer) => parts.push(p));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    const path = upstream.pathname.replace(/\/$/, '') + (req.url ?? '').replace(/^\/v1/, '');
    const up = http.request(
      {
        agent,
        host: upstream.hostname,
        port: upstream.port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': body.length },
      },
      (u) => {
        const out: Buffer[] = [];
        u.on('data', (p: Buffer) => out.push(p));
        u.on('end', () => {
          const b = Buffer.concat(out);
          res.writeHead(u.statusCode ?? 502, { 'content-type': 'application/json', 'content-length': b.length }).end(b);
        });
      },
    );
    up.on('error', (e) => res.writeHead(502).end(e.message));
    up.end(body);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send!({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
process.on('message', (m: { cmd?: string }) => {
  if (m.cmd !== 'stop') return;
  server.closeAllConnections();
  server.close(() => process.send!({ type: 'stopped' }, () => process.exit(0)));
});
