import { UNBACKED, VERIFIED } from './verified.js';

/** What backs a preset, in one line: the real runs that matched it (docs/CLIENTS.md), or that none did. */
export function verificationLine(preset: string): string {
  const v = VERIFIED[preset];
  if (!v?.length) return `not verified: ${UNBACKED[preset] ?? 'no real client run backs it'} (npm run clients, docs/CLIENTS.md)`;
  return `verified on ${v.map((x) => `${x.client} (${x.version}), ${x.date}`).join('; ')}`;
}
