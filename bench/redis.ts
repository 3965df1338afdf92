import { spawnSync } from 'node:child_process';

/**
 * A real redis-server for deadpeer's runs (`npm run clients`, test/libs.test.ts): Debian's
 * redis-server, started in the server's namespace on DEADPEER_LISTEN, nothing saved. Protected
 * mode off: it binds the namespace's address only (with it on, a client from another address is
 * answered "DENIED" and closed).
 */
export const REDIS_SERVER = "exec redis-server --port \"$DEADPEER_PORT\" --bind \"$DEADPEER_LISTEN_HOST\" --protected-mode no --save '' --appendonly no --dir /tmp";

/** "7.0.15", or undefined when redis-server is not installed. */
export function redisVersion(): string | undefined {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? (/ v=(\S+)/.exec(r.stdout)?.[1] ?? '?') : undefined;
}

/** Why redis-server cannot run here, or undefined when it can. */
export const redisMissing = (): string | undefined => (redisVersion() ? undefined : 'redis-server (apt-get install redis-server)');
