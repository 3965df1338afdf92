// node-postgres (pg) Pool against a real PostgreSQL at $DEADPEER_HOST:$DEADPEER_PORT (deadpeer exec
// --server, bench/postgres.ts). Usage: node pg.mjs idle|busy|quiet [defaults|keepalive|keepalive-2s]
//   defaults      new Pool({...})                      (pg: keepAlive false)
//   keepalive     keepAlive: true                      (pg: setKeepAlive(true, 0) on 'connect': TCP_KEEPIDLE 0 refused)
//   keepalive-2s  keepAlive: true, keepAliveInitialDelayMillis: 2000
// idleTimeoutMillis: 0 in all: the pool keeps its idle connection (pg-pool's default 10 s would
// close it first), as a pool for long-idle traffic is configured.
import pg from 'pg';
import { lost, run } from './report.mjs';

const CONFIGS = {
  defaults: {},
  keepalive: { keepAlive: true },
  'keepalive-2s': { keepAlive: true, keepAliveInitialDelayMillis: 2000 },
};
const config = process.argv[3] ?? 'defaults';
if (!CONFIGS[config]) throw new Error(`config: ${Object.keys(CONFIGS).join(', ')}`);
const pool = new pg.Pool({
  host: process.env.DEADPEER_HOST,
  port: Number(process.env.DEADPEER_PORT),
  user: 'postgres',
  database: 'postgres',
  max: 1,
  idleTimeoutMillis: 0,
  connectionTimeoutMillis: 15_000,
  ...CONFIGS[config],
});
await run({
  request: () => pool.query('SELECT 1'),
  hang: () => pool.query('SELECT pg_sleep(600)'),
  // an idle client's error reaches the pool's 'error' event (and the pool drops that client)
  onLoss: (next) => pool.on('error', (e) => (lost("pool 'error' event, idle client", e), next())),
});
