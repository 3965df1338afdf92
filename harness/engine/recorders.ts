import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { evidenceLevel } from '../core/evidence.js';
import { InputError } from '../core/errors.js';
import type { Observation } from '../core/observation.js';
import { resultsDir } from '../core/paths.js';
import { PORT, type Topology } from './topology.js';

/**
 * The recorders every experiment runs — the client helper's AF_PACKET capture (written as a pcap
 * as it goes) and both helpers' sock_diag lookups every 5 ms — and the folder their evidence goes
 * to. Pictures and reports are drawn later from that evidence (harness/report), never here: the
 * engine's job ends with the Observation.
 */
export interface Artifacts {
  dir: string;
  pcap: string;
  json: string;
}

const slug = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '');

/**
 * The folder an experiment's name becomes in the run folder, or null when the name has nothing
 * to make one of: "..", "." or "" (from "/", "__") would be the run folder's parent or itself.
 */
export function artifactFolder(name: string): string | null {
  const s = slug(name);
  return /[A-Za-z0-9]/.test(s) ? s : null;
}

/** What a name needs, for the refusals that check it before anything exists. */
export const FOLDER_NAME_RULE = 'it names the artifact folder, so it needs a letter or a digit';

/**
 * The run folder's sub-folder for one experiment (created, and its own: a second experiment of the
 * same name in the same run — two exec runs of one phase at once — gets "-2", never the first one's
 * files), and its file names.
 */
export function artifactsFor(name: string, json: string): Artifacts {
  const folder = artifactFolder(name);
  // the callers validate the name first; this is the last guard before a folder is made
  if (!folder) throw new InputError(`name: ${JSON.stringify(name)} is not allowed: ${FOLDER_NAME_RULE}`);
  const base = join(resultsDir(), folder);
  let dir = base;
  for (let n = 2; ; n++) {
    try {
      mkdirSync(join(dir, '..'), { recursive: true });
      mkdirSync(dir); // atomic: fails if another experiment took the name first
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      dir = `${base}-${n}`;
    }
  }
  return { dir, pcap: join(dir, 'capture.pcap'), json: join(dir, json) };
}

/** 5 ms: fine enough to place a timer's state changes, cheap enough as exact lookups (docs/DESIGN.md). */
const DIAG_INTERVAL_MS = 5;
/**
 * Behind a middlebox nothing is judged from the timer states (the verdict is the capture's and the
 * router's table's), while the realtime helpers' lookups of the many routed runs at once took CPU
 * from the timers of everything else on 2 cores: 20 ms still places each state for the listing.
 */
const PATH_DIAG_INTERVAL_MS = 20;

/** Where the server's leg of a path through a router is captured, beside the client's pcap. */
export const serverLegPcap = (pcap: string) => join(dirname(pcap), 'capture-server-leg.pcap');

export async function startRecorders(topo: Topology, pcap: string): Promise<void> {
  // the helper judges packets from their headers either way: the level only decides what the pcap keeps
  const headersOnly = evidenceLevel() === 'summary';
  const capture = (e: typeof topo.client, file: string) => e.helper.request({ cmd: 'capture', ifname: e.ifname, pcap: file, port: PORT, ...(headersOnly ? { headers_only: true } : {}) });
  await Promise.all([
    capture(topo.client, pcap),
    // with a router on the path, its far side is a leg of its own: what reached the server, and when
    ...(topo.router ? [capture(topo.server, serverLegPcap(pcap))] : []),
    topo.client.helper.request({ cmd: 'diag', interval_ms: topo.router ? PATH_DIAG_INTERVAL_MS : DIAG_INTERVAL_MS }),
    topo.server.helper.request({ cmd: 'diag', interval_ms: topo.router ? PATH_DIAG_INTERVAL_MS : DIAG_INTERVAL_MS }),
  ]);
}

export function writeObservation(obs: Observation): void {
  writeFileSync(obs.artifacts.json, JSON.stringify(obs, null, 1));
}
