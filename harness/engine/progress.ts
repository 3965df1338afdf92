import { appendFileSync } from 'node:fs';
import { currentProfile } from '../core/profile.js';

/**
 * Progress of long waits: while a case waits for its socket to die, how long it has waited
 * against what the model predicts ("312 s of 924.6 s predicted"). A faithful-profile busy case
 * waits a quarter of an hour; without this a run looks hung.
 *
 * Who draws it depends on who owns the terminal:
 * - 'file': the `deadpeer report` CLI owns it (DEADPEER_PROGRESS_FILE set): each case appends its
 *   state as a JSON line and the CLI redraws one status line in place (cli/progress-board.ts).
 *   Under vitest a worker's stderr is never a TTY (the main process relays it), so an in-place
 *   line can only be drawn by the process that holds the terminal.
 * - 'tty': this process's stderr is a terminal (a script calling runScenario directly): one
 *   status line for all cases of the process, redrawn in place with \r.
 * - 'lines': plain lines every N seconds, for CI logs and vitest's relayed output.
 * - 'off': the fast default test output stays free of noise.
 */
export type ProgressMode = 'off' | 'file' | 'tty' | 'lines';

/** What the wait is measured against. */
export type Expectation = { closeAtS: number } | { holdS: number };

export interface ProgressState {
  label: string;
  /** seconds waited so far */
  elapsed: number;
  expect: Expectation;
  /** set on the last report: the wait is over */
  done?: boolean;
}

export function progressMode(env: NodeJS.ProcessEnv, isTTY: boolean, profile: string): ProgressMode {
  if (env.DEADPEER_PROGRESS === '0') return 'off';
  if (env.DEADPEER_PROGRESS_FILE) return 'file';
  if (env.DEADPEER_PROGRESS === '1' || profile === 'faithful') return isTTY ? 'tty' : 'lines';
  return 'off';
}

/** Seconds between plain lines: about ten lines per case, never more than one per 5 s. */
export function lineInterval(expect: Expectation, env: NodeJS.ProcessEnv = {}): number {
  const fromEnv = Number(env.DEADPEER_PROGRESS_INTERVAL);
  if (fromEnv > 0) return fromEnv;
  const total = 'closeAtS' in expect ? expect.closeAtS : expect.holdS;
  return Math.max(5, Math.round(total / 10));
}

const s = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** One case's progress in words. Pure. */
export function progressText(p: ProgressState): string {
  if ('holdS' in p.expect) {
    const verb = p.done ? 'held' : 'holding';
    return `${p.label}: ${verb} ${s(p.elapsed)} s of ${s(p.expect.holdS)} s (model: never closes)`;
  }
  const at = p.expect.closeAtS;
  if (p.done) return `${p.label}: waited ${s(p.elapsed)} s (model: close at ${s(at)} s)`;
  if (p.elapsed <= at) {
    const pct = at > 0 ? Math.floor((100 * p.elapsed) / at) : 100;
    return `${p.label}: ${s(p.elapsed)} s of ${s(at)} s predicted (${pct}%)`;
  }
  return `${p.label}: ${s(p.elapsed)} s, ${s(p.elapsed - at)} s past the predicted ${s(at)} s`;
}

/** Every running case on one line, cut to the terminal's width. Pure. */
export function boardLine(states: readonly ProgressState[], width: number): string {
  if (!states.length) return '';
  const short = (p: ProgressState) => {
    const total = 'closeAtS' in p.expect ? p.expect.closeAtS : p.expect.holdS;
    return `${p.label} ${s(p.elapsed)}/${s(total)} s`;
  };
  const line = `⏳ ${states.length} waiting: ${states.map(short).join(' · ')}`;
  return line.length <= width ? line : line.slice(0, Math.max(0, width - 1)) + '…';
}

// ---- the side effects: one ticker per process ----

const active = new Map<number, { state: ProgressState; started: number; lastLine: number }>();
let nextId = 1;
let ticker: NodeJS.Timeout | undefined;
const mono = () => Number(process.hrtime.bigint()) / 1e9;

function mode(): ProgressMode {
  let profile = 'fast';
  try {
    profile = currentProfile();
  } catch {
    /* an invalid profile is reported by the scenario itself */
  }
  return progressMode(process.env, !!process.stderr.isTTY, profile);
}

function tick(m: ProgressMode): void {
  const t = mono();
  for (const a of active.values()) a.state.elapsed = t - a.started;
  if (m === 'tty') {
    process.stderr.write(`\r\x1b[K${boardLine([...active.values()].map((a) => a.state), process.stderr.columns || 100)}`);
    return;
  }
  for (const a of active.values()) {
    if (m === 'file') report(m, a.state);
    else if (t - a.lastLine >= lineInterval(a.state.expect, process.env)) {
      a.lastLine = t;
      report(m, a.state);
    }
  }
}

function report(m: ProgressMode, p: ProgressState): void {
  if (m === 'file') appendFileSync(process.env.DEADPEER_PROGRESS_FILE!, JSON.stringify(p) + '\n');
  else if (m === 'tty') process.stderr.write(`\r\x1b[K${progressText(p)}\n`);
  else process.stderr.write(`deadpeer progress: ${progressText(p)}\n`);
}

/**
 * Await `work` while reporting progress against `expect`, measured from `since` (CLOCK_MONOTONIC
 * seconds, the run's clock). The ticker never keeps the process alive.
 */
export async function withProgress<T>(label: string, since: number, expect: Expectation, work: Promise<T>): Promise<T> {
  const m = mode();
  if (m === 'off') return work;
  const id = nextId++;
  const entry = { state: { label, elapsed: mono() - since, expect }, started: since, lastLine: mono() };
  active.set(id, entry);
  ticker ??= setInterval(() => tick(m), 1000);
  ticker.unref();
  try {
    return await work;
  } finally {
    active.delete(id);
    if (!active.size) {
      clearInterval(ticker);
      ticker = undefined;
    }
    report(m, { ...entry.state, elapsed: mono() - since, done: true });
  }
}
