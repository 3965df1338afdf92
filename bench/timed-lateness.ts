import { Topology } from '../harness/engine/topology.js';
import { now } from '../harness/core/clock.js';

/**
 * How late the helpers perform what they are told to do at a planned moment (a blip's heal, a
 * planned arming): one topology flipping its interface groups at planned moments, every `spacingMs`,
 * while whatever load the caller made runs beside it — the suite, CPU hogs. For each flip on each
 * side: the wake-up's lateness (when the helper's timer woke it, minus the moment it was due) and
 * the effect's (when the rtnetlink message was done — it waits for the machine-wide RTNL lock,
 * which another namespace's teardown can hold), on the kernel's clock.
 */
export async function sampleTimedLateness(opts: { until: () => boolean; spacingMs?: number; max?: number }): Promise<{ wake: number[]; effect: number[] }> {
  const topo = await Topology.create();
  const wake: number[] = [];
  const effect: number[] = [];
  try {
    const spacing = (opts.spacingMs ?? 25) / 1000;
    const fault = { name: 'bench', drops: [] }; // no rules: only the moment of the flip is measured
    await topo.install([fault]); // fault 0: interface group 1
    let group = 0;
    while (!opts.until() && effect.length < (opts.max ?? 10_000)) {
      // planned a little ahead, as a heal is: the request is in the helper's queue before its moment
      const due = now() + spacing;
      group = 1 - group;
      const replies = await Promise.all([topo.client, topo.server].map((e) => e.helper.request({ cmd: 'group', ifname: e.ifname, group }, { at: due })));
      for (const r of replies) {
        wake.push(((r.began as number) - due) * 1000);
        effect.push((r.t - due) * 1000);
      }
    }
  } finally {
    await topo.dispose();
  }
  return { wake, effect };
}
