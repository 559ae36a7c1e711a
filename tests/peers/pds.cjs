// Starts a real Bluesky PDS (with an in-memory PLC directory) from @atproto/dev-env, bound
// to 127.0.0.1 only, and prints {"pds": URL} on one line when it is ready. It stops when its
// standard input closes (the test that started it is done) or on SIGTERM.
// Usage: TMPDIR=<test dir> node pds.cjs
const net = require('net');
const listen = net.Server.prototype.listen;
// dev-env calls listen(port) without a host, which binds every interface: force loopback.
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || (typeof args[0] === 'string' && /^\d+$/.test(args[0]))) {
    const port = Number(args[0]);
    const rest = args.slice(1).filter((a) => typeof a === 'function');
    return listen.call(this, { port, host: '127.0.0.1' }, ...rest);
  }
  if (args[0] && typeof args[0] === 'object' && !args[0].path) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};
const { TestNetworkNoAppView } = require('@atproto/dev-env');

(async () => {
  const network = await TestNetworkNoAppView.create({});
  process.stdout.write(JSON.stringify({ pds: network.pds.url }) + '\n');
  const stop = async () => {
    try { await network.close(); } catch (e) {}
    process.exit(0);
  };
  process.stdin.on('end', stop);
  process.stdin.resume();
  process.on('SIGTERM', stop);
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
