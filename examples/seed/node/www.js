// SPDX-License-Identifier: MIT
// examples/seed/node/www.js -- the seed's www service moved onto srvshim.
// The smallest change from www-consul.js: the Consul watch is replaced by
// Node's built-in `dns` module asking srvshimd for _data._tcp.service.local
// SRV, then the picked target's A record, on every request (srvshim answers
// with TTL 0 and in microseconds, so there is nothing to cache or watch).
// No Consul client library left. Environment: SRVSHIM (host:port of
// srvshimd, default 127.0.0.1:5300), PORT (default 8080).
'use strict';

const dns = require('dns');
const http = require('http');

const port = Number(process.env.PORT || 8080);

const resolver = new dns.Resolver({ timeout: 1000, tries: 2 });
resolver.setServers([process.env.SRVSHIM || '127.0.0.1:5300']);

// Calls back with one data instance, picked at random.
function pick(cb) {
  resolver.resolveSrv('_data._tcp.service.local', (err, srvs) => {
    if (err) return cb(err);
    const srv = srvs[Math.floor(Math.random() * srvs.length)];
    // The target is <hex>.addr.service.local: srvshim resolves it.
    resolver.resolve4(srv.name, (err, addrs) => {
      if (err) return cb(err);
      cb(null, { address: addrs[0], port: srv.port });
    });
  });
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
