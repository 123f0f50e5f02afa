// SPDX-License-Identifier: MIT
// examples/seed/node/www-consul.js -- the seed's www service, as the talk wrote it.
// Watches Consul (`consul.watch` on health.service, passing only) for the data
// instances, and answers each request with the reply of one picked at random.
// Kept beside www.js, its srvshim version, so the change is one small diff.
// Environment: CONSUL_HTTP_ADDR (host:port, default 127.0.0.1:8500),
// PORT (default 8080).
'use strict';

const http = require('http');

const [consulHost, consulPort] =
  (process.env.CONSUL_HTTP_ADDR || '127.0.0.1:8500').split(':');
const consul = require('consul')({ host: consulHost, port: consulPort });

const port = Number(process.env.PORT || 8080);

let instances = [];
const watch = consul.watch({
  method: consul.health.service,
  options: { service: 'data', passing: true },
});
watch.on('change', (data) => {
  instances = data.map((e) => ({
    address: e.Service.Address || e.Node.Address,
    port: e.Service.Port,
  }));
});
watch.on('error', (err) => console.error('www: watch error:', err.message));

// Calls back with one data instance, picked at random.
function pick(cb) {
  if (instances.length === 0) return cb(new Error('no data instance'));
  cb(null, instances[Math.floor(Math.random() * instances.length)]);
}

http.createServer((req, res) => {
  pick((err, inst) => {
    if (err) {
      res.writeHead(503);
      return res.end(err.message + '\n');
    }
    http.get({ host: inst.address, port: inst.port, path: '/' }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (chunk) => { body += chunk; });
      r.on('end', () => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(body);
      });
    }).on('error', (e) => {
      res.writeHead(502);
      res.end('data ' + inst.address + ':' + inst.port + ': ' + e.message + '\n');
    });
  });
}).listen(port, '127.0.0.1');
