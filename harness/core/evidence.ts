import { InputError } from './errors.js';

/**
 * How much a run's evidence keeps of what the program under test sent and printed
 * (DEADPEER_EVIDENCE). Nothing the model or the verdicts read changes with it — packets are
 * judged from the helper's events, which come from the headers either way — only what is written
 * to the results folder, where CI uploads it as an artifact:
 * - full (default): the pcap keeps up to 256 bytes of each frame (a client's AUTH line or an HTTP
 *   Authorization header fits), exec.json the program's argv and every line it printed;
 * - summary: the pcap keeps each frame's Ethernet, IP and TCP headers (options included) and no
 *   payload byte, and exec.json leaves out the argv, the printed lines and the raw strace log.
 */
export type EvidenceLevel = 'full' | 'summary';

export const EVIDENCE_LEVELS: readonly EvidenceLevel[] = ['full', 'summary'];

/** The level in force; a value that is not one is refused in one line (InputError). */
export function evidenceLevel(env: NodeJS.ProcessEnv = process.env): EvidenceLevel {
  const v = env.DEADPEER_EVIDENCE;
  if (v === undefined || v === '') return 'full';
  if ((EVIDENCE_LEVELS as readonly string[]).includes(v)) return v as EvidenceLevel;
  const shown = JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
  throw new InputError(`DEADPEER_EVIDENCE must be "full" or "summary", not ${shown}: unset it for full evidence`);
}
