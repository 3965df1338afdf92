import { Topology } from '../harness/engine/topology.js';
import { now } from '../harness/core/clock.js';

/**
 * How late the helpers perform what they are told to do at a planned moment (a blip's heal, a
 * planned arming): one topology flipping its interface groups at planned moments, every `spacingMs`,
 * while whatever load the caller made runs beside it — the suite, CPU hogs. Each sample is the
 * later side's reply time minus the moment it was due, on the kernel's clock.
 */
export async function sampleTimedLateness(opts: { until: () => boolean; spacingMs?: number; max?: number }): Promise<number[]> {
  const topo = await Topology.create();
  const late: number[] = [];
  try {
    const spacing = (opts.spacingMs ?? 25) / 1000;
    const fault = { name: 'bench', drops: [] }; // no rules: only the moment of the flip is measured
    await topo.install([fault]);
    let group = false;
    while (!opts.until() && late.length < (opts.max ?? 5000)) {
      // planned a little ahead, as a heal is: the request is in the helper's queue before its moment
      const due = now() + spacing;
      group = !group;
      const sides = await topo.arm(group ? fault : null, due);
      late.push((Math.max(sides.client, sides.server) - due) * 1000);
    }
  } finally {
    await topo.dispose();
  }
  return late;
}
