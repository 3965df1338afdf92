import type { TcpSysctls } from '../model/types.js';
import type { Observation } from '../core/observation.js';
import type { Side } from '../core/side.js';

/**
 * Effective sysctls across a run, as read back from each case's namespaces. Most cases leave most
 * values at the namespace default; the report prints those once at the top and, per case, only
 * what that case changed — which is what a reader needs to compare two rows.
 */
export type SysctlValues = Partial<Record<keyof TcpSysctls, number>>;

/** The value most namespaces of the run had, per sysctl (ties: the smaller value, for stability). */
export function commonSysctls(observations: readonly Observation[]): SysctlValues {
  const counts = new Map<keyof TcpSysctls, Map<number, number>>();
  for (const obs of observations)
    for (const side of ['client', 'server'] as Side[])
      for (const [k, v] of Object.entries(obs.settings?.[side]?.sysctls ?? {})) {
        if (typeof v !== 'number') continue;
        const key = k as keyof TcpSysctls;
        if (!counts.has(key)) counts.set(key, new Map());
        const m = counts.get(key)!;
        m.set(v, (m.get(v) ?? 0) + 1);
      }
  const out: SysctlValues = {};
  for (const [k, m] of [...counts].sort(([a], [b]) => a.localeCompare(b))) {
    const best = [...m].sort(([va, ca], [vb, cb]) => cb - ca || va - vb)[0]!;
    out[k] = best[0];
  }
  return out;
}

/** "client tcp_syn_retries=3" for each value of this case that differs from the run's common one. */
export function sysctlOverrides(obs: Observation, common: SysctlValues): string[] {
  const out: string[] = [];
  for (const side of ['client', 'server'] as Side[])
    for (const [k, v] of Object.entries(obs.settings?.[side]?.sysctls ?? {}))
      if (common[k as keyof TcpSysctls] !== v) out.push(`${side} ${k}=${v}`);
  return out;
}
