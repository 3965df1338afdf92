#!/usr/bin/env node
// The `deadpeer` command: runs the compiled CLI (dist/), built by `bash setup.sh` / `npm run build`.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
if (!existsSync(main)) {
  process.stderr.write('deadpeer: not built yet — run: bash setup.sh (or npm run build)\n');
  process.exit(2);
}
// a reader that stopped reading (`deadpeer model … | head`): the rest of the output has nowhere to
// go, and that is no error of ours — no stack trace; a run in progress still cleans up and exits
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code !== 'EPIPE') throw e;
  });
}
const { main: run } = await import(main);
process.exitCode = await run(process.argv.slice(2));
