#!/usr/bin/env node
// SPDX-License-Identifier: MIT
// srv_node.js -- SRV lookup with Node.js's built-in dns module, as a Node service would.
// Owns:   a dns.promises.Resolver pointed at one server with setServers (not
//         /etc/resolv.conf), resolveSrv, then resolve4/resolve6 for every target.
// Usage:  node srv_node.js SERVER PORT [NAME]   (NAME: _data._tcp.service.local)
// Output: one line per SRV record, "TARGET PORT ADDRESS", sorted; TARGET has no
//         final dot; ADDRESS is "-" when the target has no A/AAAA record, and a
//         target with several addresses gets one line per address.
// Exit:   0 records printed; 1 lookup failed or no SRV record; 2 usage.
'use strict';

const { Resolver } = require('node:dns').promises;
const net = require('node:net');

// NODATA and NXDOMAIN mean "no address of this family"; anything else is an error.
async function family(promise) {
  try {
    return await promise;
  } catch (e) {
    if (e.code === 'ENODATA' || e.code === 'ENOTFOUND') return [];
    throw e;
  }
}

async function main(argv) {
  if (argv.length < 2 || argv.length > 3) {
    process.stderr.write('usage: node srv_node.js SERVER PORT [NAME]\n');
    return 2;
  }
  const [server, port] = argv;
  const name = argv[2] || '_data._tcp.service.local';
  const res = new Resolver({ timeout: 2000, tries: 2 });
  // setServers takes "addr:port", and "[addr]:port" for IPv6.
  res.setServers([net.isIPv6(server) ? `[${server}]:${port}` : `${server}:${port}`]);

  let lines = [];
  try {
    const srv = await res.resolveSrv(name);
    for (const r of srv) {
      const addrs = [
        ...(await family(res.resolve4(r.name))),
        ...(await family(res.resolve6(r.name))),
      ];
      for (const a of addrs.length ? addrs : ['-']) lines.push(`${r.name} ${r.port} ${a}`);
    }
  } catch (e) {
    process.stderr.write(`srv_node: ${name} SRV: ${e.code || e.message}\n`);
    return 1;
  }
  if (lines.length === 0) {
    process.stderr.write(`srv_node: ${name} SRV: no records\n`);
    return 1;
  }
  // Plain code-unit order, the same as C's strcmp for these ASCII lines.
  lines.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
