// node-redis (the `redis` package, v4+) against a real redis-server at $DEADPEER_HOST:$DEADPEER_PORT.
// Usage: node node-redis.mjs idle|busy|quiet [defaults|keepalive-2s]
//   defaults      createClient({ socket: { host, port } })   (socket.keepAlive true, keepAliveInitialDelay 30000 in 5.x/6.x)
//   keepalive-2s  socket.keepAliveInitialDelay: 2000         (net.connect's keepAlive/keepAliveInitialDelay)
import { createClient } from 'redis';
import { lost, run, say } from './report.mjs';

const CONFIGS = { defaults: {}, 'keepalive-2s': { keepAliveInitialDelay: 2000 } };
const config = process.argv[3] ?? 'defaults';
if (!(config in CONFIGS)) throw new Error(`config: ${Object.keys(CONFIGS).join(', ')}`);
const client = createClient({ socket: { host: process.env.DEADPEER_HOST, port: Number(process.env.DEADPEER_PORT), ...CONFIGS[config] } });
let onLoss = () => undefined;
client.on('error', (e) => (lost("'error' event", e), onLoss()));
client.on('reconnecting', () => say("'reconnecting' event"));
await client.connect();
await run({
  request: () => client.ping(),
  hang: () => client.blPop('deadpeer:never', 0),
  onLoss: (next) => (onLoss = next),
});
