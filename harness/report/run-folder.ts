import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Observation } from '../core/observation.js';

/**
 * A run folder as the report sees it: deadpeer-results/<run-id>/<case>-ipv<N>/ with the
 * Observation and whatever artifacts are next to it. The file names are fixed by runScenario; the
 * report links them relative to the run folder so the folder can be moved or archived whole.
 */
export const ARTIFACT_NAMES = { json: 'observation.json', pcap: 'capture.pcap', svg: 'timeline.svg' } as const;

export interface CaseEntry {
  /** the case's sub-folder, relative to the run folder */
  folder: string;
  obs: Observation;
  /** relative paths of the artifacts that exist */
  files: { json: string; pcap?: string; svg?: string };
}

export interface RunFolder {
  dir: string;
  runId: string;
  cases: CaseEntry[];
  /** sub-folders whose observation.json could not be read (a run killed while writing) */
  unreadable: string[];
}

export function loadRunFolder(dir: string): RunFolder {
  const cases: CaseEntry[] = [];
  const unreadable: string[] = [];
  const subdirs = existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()) : [];
  for (const d of subdirs) {
    const rel = (name: string) => `${d.name}/${name}`;
    const json = join(dir, d.name, ARTIFACT_NAMES.json);
    if (!existsSync(json)) continue;
    let obs: Observation;
    try {
      obs = JSON.parse(readFileSync(json, 'utf8')) as Observation;
    } catch {
      unreadable.push(d.name);
      continue;
    }
    if (!obs.prediction || !Array.isArray(obs.packets)) {
      unreadable.push(d.name);
      continue;
    }
    const has = (name: string) => existsSync(join(dir, d.name, name));
    cases.push({
      folder: d.name,
      obs,
      files: {
        json: rel(ARTIFACT_NAMES.json),
        ...(has(ARTIFACT_NAMES.pcap) ? { pcap: rel(ARTIFACT_NAMES.pcap) } : {}),
        ...(has(ARTIFACT_NAMES.svg) ? { svg: rel(ARTIFACT_NAMES.svg) } : {}),
      },
    });
  }
  return { dir, runId: basename(dir), cases, unreadable };
}
