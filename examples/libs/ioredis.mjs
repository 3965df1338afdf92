// ioredis against a real redis-server at $DEADPEER_HOST:$DEADPEER_PORT (deadpeer exec --server).
// Usage: node ioredis.mjs idle|busy|quiet [defaults|keepalive-2s]
//   defaults      new Redis({...})         (ioredis 6: keepAlive 30000, reconnects by itself)
//   keepalive-2s  keepAlive: 2000          (ioredis: setKeepAlive(true, 2000) on 'connect')
import { Redis } from 'ioredis';
import { lost, run, say } from './report.mjs';

const CONFIGS = { defaults: {}, 'keepalive-2s': { keepAlive: 2000 } };
const config = process.argv[3] ?? 'defaults';
if (!(config in CONFIGS)) throw new Error(`config: ${Object.keys(CONFIGS).join(', ')}`);
const redis = new Redis({ host: process.env.DEADPEER_HOST, port: Number(process.env.DEADPEER_PORT), lazyConnect: false, ...CONFIGS[config] });
await run({
  request: () => redis.ping(),
  hang: () => redis.blpop('deadpeer:never', 0),
  onLoss: (next) => {
    redis.on('error', (e) => (lost("'error' event", e), next()));
    redis.on('close', () => say("'close' event"));
    redis.on('reconnecting', (ms) => say(`'reconnecting' event in ${ms} ms`));
  },
});
