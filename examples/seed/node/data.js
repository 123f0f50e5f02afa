// SPDX-License-Identifier: MIT
// examples/seed/node/data.js -- the seed's data service, as the talk wrote it.
// A plain `http` server that answers with its own instance ID, registered in
// Consul with the `consul` npm package's 0.x callback API: a TTL check of 10s
// passed every 5s, deregistered on SIGINT (a crash leaves it to the TTL).
// Environment: CONSUL_HTTP_ADDR (host:port, default 127.0.0.1:8500),
// ADDRESS (default 127.0.0.1), PORT (default 8081).
'use strict';

const crypto = require('crypto');
const http = require('http');

const [consulHost, consulPort] =
  (process.env.CONSUL_HTTP_ADDR || '127.0.0.1:8500').split(':');
const consul = require('consul')({ host: consulHost, port: consulPort });

const address = process.env.ADDRESS || '127.0.0.1';
const port = Number(process.env.PORT || 8081);
const id = 'data-' + crypto.randomUUID();

const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ id: id, address: address, port: port }) + '\n');
});

server.listen(port, address, () => {
  consul.agent.service.register({
    name: 'data',
    id: id,
    address: address,
    port: port,
    check: { ttl: '10s', deregistercriticalserviceafter: '1m' },
  }, (err) => {
    if (err) throw err;
    console.log('data: registered %s at %s:%d', id, address, port);
    const pass = () => consul.agent.check.pass('service:' + id, (err) => {
      if (err) console.error('data: check pass failed:', err.message);
    });
    pass();
    setInterval(pass, 5000);
  });
});

process.on('SIGINT', () => {
  consul.agent.service.deregister(id, (err) => {
    if (err) console.error('data: deregister failed:', err.message);
    else console.log('data: deregistered %s', id);
    process.exit(err ? 1 : 0);
  });
});
