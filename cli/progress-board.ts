import { closeSync, existsSync, openSync, readSync, rmSync } from 'node:fs';
import { execa } from 'execa';
import { boardLine, type ProgressState } from '../harness/engine/progress.js';

/**
 * The CLI's status line for long runs. Kernel cases run in vitest workers whose stderr is not the
 * terminal, so they append their progress to a file (harness/engine/progress.ts, 'file' mode) and this,
 * the one process that owns the terminal, shows it as a single line redrawn in place under
 * vitest's own output — cleared before each chunk of that output and drawn again after it.
 */
export class StatusBoard {
  readonly states = new Map<string, ProgressState>();
  private offset = 0;
  private partial = '';
  private shown = false;
  private midLine = false;

  constructor(
    private readonly file: string,
    private readonly out: NodeJS.WriteStream,
  ) {}

  /** Apply JSON lines (the tail of a partial line is kept for the next call). Pure but for `this`. */
  ingest(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop()!;
    for (const l of lines) {
      if (!l.trim()) continue;
      let p: ProgressState;
      try {
        p = JSON.parse(l) as ProgressState;
      } catch {
        continue; // a torn line from a killed worker: the next report replaces it
      }
      if (p.done) this.states.delete(p.label);
      else this.states.set(p.label, p);
    }
  }

  poll(): void {
    if (existsSync(this.file)) {
      const fd = openSync(this.file, 'r');
      try {
        const buf = Buffer.alloc(64 * 1024);
        for (let n; (n = readSync(fd, buf, 0, buf.length, this.offset)) > 0; ) {
          this.offset += n;
          this.ingest(buf.subarray(0, n).toString('utf8'));
        }
      } finally {
        closeSync(fd);
      }
    }
    if (!this.midLine) this.draw();
  }

  passthrough(to: NodeJS.WritableStream, chunk: Buffer | string): void {
    this.clear();
    to.write(chunk);
    this.midLine = !String(chunk).endsWith('\n');
    if (!this.midLine) this.draw();
  }

  clear(): void {
    if (this.shown) this.out.write('\r\x1b[K');
    this.shown = false;
  }

  private draw(): void {
    const line = boardLine([...this.states.values()], (this.out.columns || 100) - 1);
    this.clear();
    if (!line) return;
    this.out.write(line);
    this.shown = true;
  }
}

/** Run a command with its output passed through and the status line drawn under it. */
export async function runWithStatusLine(file: string, args: string[], opts: { cwd: string; env: Record<string, string | undefined> }, progressFile: string): Promise<number> {
  rmSync(progressFile, { force: true });
  const board = new StatusBoard(progressFile, process.stderr);
  const child = execa(file, args, { cwd: opts.cwd, env: opts.env, reject: false, buffer: false, stdin: 'inherit' });
  child.stdout?.on('data', (c: Buffer) => board.passthrough(process.stdout, c));
  child.stderr?.on('data', (c: Buffer) => board.passthrough(process.stderr, c));
  const timer = setInterval(() => board.poll(), 1000);
  try {
    const r = await child;
    return r.exitCode ?? 1;
  } finally {
    clearInterval(timer);
    board.clear();
    rmSync(progressFile, { force: true });
  }
}
