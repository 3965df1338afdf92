import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Audit } from '../../harness/apps/audit/audit.js';
import type { AuditArgs } from '../../harness/apps/audit/args.js';
import { type DoneLine, parseReaderLine, type ReaderLine } from '../../harness/apps/audit/reader-events.js';
import type { AuditReport } from '../../harness/apps/audit/report.js';
import { ROOT } from '../../harness/core/paths.js';
import { featuresForRelease } from '../../harness/model/features.js';

/**
 * The recorded output of the helper's audit mode the audit unit tests share
 * (test/fixtures/audit/reader.jsonl: a line per namespace, process and socket), and the report an
 * auditor with every capability makes of it on a 6.18 kernel at HZ 250.
 */
export const FIXTURE = readFileSync(join(ROOT, 'test', 'fixtures', 'audit', 'reader.jsonl'), 'utf8').trim().split('\n');
export const FEATURES = featuresForRelease('6.18.44', 250);
export const ROOTISH = { uid: 0, caps: (1n << 41n) - 1n };

export function audited(extra: Partial<AuditArgs> = {}, lines: readonly string[] = FIXTURE): AuditReport {
  const audit = new Audit({ pids: [], all: true, output: 'json', ...extra }, FEATURES);
  let done: DoneLine | undefined;
  for (const text of lines) {
    const l = parseReaderLine(text) as ReaderLine;
    if (l.ev === 'done') done = l;
    else audit.take(l);
  }
  return audit.report(done!, ROOTISH, 12, () => 0);
}
