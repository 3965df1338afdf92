// mysql2 against a real MariaDB (deadpeer's --server). Options from the environment, as JSON:
//   MYSQL2_OPTS='{"enableKeepAlive":true,"keepAliveInitialDelay":2000}'   (default: {} = the library's defaults)
// node examples/libs/mysql2.mjs idle|busy|quiet — see report-calls.mjs for the modes.
import mysql from 'mysql2/promise';
import { say, sayError, sleep, recovery, HOST, PORT, MODE, QUIET_MS } from './report-calls.mjs';

const opts = JSON.parse(process.env.MYSQL2_OPTS ?? '{}');
const pool = mysql.createPool({ host: HOST, port: PORT, user: 'root', connectionLimit: 1, connectTimeout: 5000, ...opts });
// a pooled connection's own failure while nobody uses it
pool.pool.on('connection', (c) => c.on('error', (e) => sayError('the pooled connection (event)', e)));
const q = async (sql, label) => {
  const [rows] = await pool.query(sql);
  say(`${label}: ok ${JSON.stringify(rows[0])}`);
};
say(`mysql2 ${JSON.stringify(opts)} mode ${MODE}`);
try {
  await q('SELECT 1 AS one', 'first query');
  if (MODE === 'idle') await q('SELECT SLEEP(3600) AS s', 'SLEEP(3600)');
  else {
    await sleep(MODE === 'busy' ? 3000 : QUIET_MS);
    await q('SELECT 2 AS two', 'query on the pooled connection');
  }
} catch (e) {
  sayError(MODE === 'idle' ? 'pool.query(SELECT SLEEP(3600))' : 'pool.query on the pooled connection', e);
  await recovery(() => q('SELECT 3 AS three', 'the next query'));
  process.exitCode = 1;
}
await pool.end().catch(() => {});
