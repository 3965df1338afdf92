import { now } from '../core/clock.js';
import type { CloseEvent, Observation, Packet, PathObservation, RunConditions, TimedAction, TimerState } from '../core/observation.js';
import { armLateAllowanceS, predictBlip } from '../model/blip.js';
import { currentProfile } from '../core/profile.js';
import type { TcpInfo } from '../core/protocol.js';
import type { Phase, TcpSysctls } from '../model/types.js';
import { TCP_SYSCTL_NAMES } from '../model/types.js';
import { placeOnWheel } from '../model/wheel.js';
import { localDrops, toPackets } from './capture.js';
import { runningKernel } from './kernel.js';
import { kernelClockProblem, sharedKernelClock, wheelOriginAt } from './kernel-clock.js';
import { inUserNamespace } from '../../netns/userns.js';
import { artifactsFor, startRecorders, writeObservation } from './recorders.js';
import { type EndpointSpec, Run, type ScenarioSpec } from './run.js';
import { cpuSettled } from './settle.js';
import { assertSpec } from './spec-check.js';
import { Topology } from './topology.js';
import type { Router } from './router.js';
import type { HelperEvent } from '../core/protocol.js';
import type { Side } from '../core/side.js';

async function applySysctls(topo: Topology, side: Side, wanted: EndpointSpec['sysctls']): Promise<TcpSysctls> {
  const h = topo.endpoint(side).helper;
  for (const [k, v] of Object.entries(wanted ?? {})) await h.sysctl(`net.ipv4.${k}`, v as number);
  const out: Record<string, number> = {};
  for (const k of TCP_SYSCTL_NAMES) {
    const v = await h.sysctl(`net.ipv4.${k}`);
    if (v !== undefined) out[k] = Number(v);
  }
  return out as unknown as TcpSysctls;
}

/**
 * Run one experiment: build the topology, start the recorders, play the steps, and return the
 * Observation. The topology is released on every path: pass, failing step, exception, timeout
 * (vitest's timeout rejects the awaiting test; the finally below still runs).
 */
export async function runScenario(spec: ScenarioSpec): Promise<Observation> {
  assertSpec(spec);
  const kernel = runningKernel();
  const topo = await Topology.create(spec.path ? { path: spec.path } : {});
  const artifacts = artifactsFor(`${spec.name}-ipv${spec.family}`, 'observation.json');
  const run = new Run(spec, topo, kernel);
  let failure: unknown;
  try {
    const [cs, ss] = await Promise.all([applySysctls(topo, 'client', spec.client?.sysctls), applySysctls(topo, 'server', spec.server?.sysctls)]);
    run.sysctls = { client: cs, server: ss };
    await startRecorders(topo, artifacts.pcap);
    await topo.install(spec.steps.flatMap((s) => (s.fault ? [s.fault] : [])));
    // the timeline starts on a CPU that is not saturated (harness/engine/settle.ts); when, is recorded
    const settled = await cpuSettled();
    run.mark(settled.calm ? 'cpu settled' : 'cpu still busy', now());
    for (const step of spec.steps) {
      try {
        await step.run(run);
      } catch (e) {
        throw new Error(`step "${step.label}" of ${spec.name} (IPv${spec.family}) failed: ${(e as Error).message}`, { cause: e });
      }
    }
    const obs = await observe(run, artifacts);
    writeObservation(obs);
    return obs;
  } catch (e) {
    failure = e;
    throw e;
  } finally {
    await run.settleHeal('cancel');
    try {
      await topo.dispose();
    } catch (e) {
      if (!failure) throw e;
    }
  }
}

async function observe(run: Run, artifacts: Observation['artifacts']): Promise<Observation> {
  const { topo, spec } = run;
  const end = now();
  // stop the capture (the pcap then holds exactly the packets reported so far; teardown traffic
  // stays out of both) and flush both helpers' pipes with a round-trip
  await Promise.all([
    topo.client.helper.request({ cmd: 'capture-stop' }),
    topo.server.helper.request({ cmd: topo.router ? 'capture-stop' : 'ping' }),
    ...(topo.router ? [topo.router.helper.request({ cmd: 'ping' })] : []),
  ]);
  const events = [...topo.client.helper.events, ...topo.server.helper.events].sort((a, b) => a.t - b.t);
  const clientAddrs = [topo.client.addr[4], topo.client.addr[6]];
  // the client's tap is the timeline the model speaks of; a router's far leg is kept apart (path)
  const captured = toPackets(
    events.filter((e) => e.side === 'client'),
    clientAddrs,
    run.faults,
  );
  const timers: TimerState[] = events
    .filter((e) => e.ev === 'timer' || e.ev === 'gone')
    .map((e) => ({
      t: e.t,
      side: e.side as Side,
      ev: e.ev as 'timer' | 'gone',
      sport: e.sport as number,
      dport: e.dport as number,
      state: String(e.state),
      timer: e.timer as TimerState['timer'],
      expiresMs: e.expires_ms as number,
      retrans: e.retrans as number,
      ...(typeof e.alive_t === 'number' ? { aliveT: e.alive_t } : {}),
      ...(typeof e.prev_t === 'number' ? { prevT: e.prev_t } : {}),
      ...(typeof e.rto_us === 'number' ? { rtoUs: e.rto_us } : {}),
      ...(typeof e.bytes_acked === 'number' ? { bytesAcked: e.bytes_acked } : {}),
    }));
  const packets = [...captured, ...localDrops(timers, run.faults)].sort((a, b) => a.t - b.t);
  const sock = run.subjectSocket();
  const closed = sock?.closedEvent();
  const close: CloseEvent | null = closed
    ? { side: run.subject, t: closed.t, errno: String(closed.errno), via: String(closed.via), info: closed as unknown as TcpInfo }
    : null;
  const settings = { client: run.settings.client!, server: run.settings.server! };
  const partial = {
    name: spec.name,
    phase: spec.phase,
    family: spec.family,
    subject: run.subject,
    profile: currentProfile(),
    kernel: run.kernel,
    settings,
    marks: run.marks,
    faults: run.faults.map((f) => ({ t: f.t, name: f.fault.name })),
    packets,
    timers,
    close,
    snapshots: run.snapshots,
    dropCounters: await topo.dropCounters(),
    ...(topo.router ? { path: await pathObservation(topo.router, events, [topo.clientAsSeenByServer(4), topo.clientAsSeenByServer(6)], run) } : {}),
    prediction: run.prediction(),
    end,
    artifacts,
    events: events.filter((e) => e.ev !== 'packet' && e.ev !== 'timer' && e.ev !== 'gone'),
  };
  const origin = (spec.origin ?? defaultOrigin(spec.phase))(partial);
  // a blip healed: the model is asked again with when it really healed, from the t = 0 now known
  // (the helpers heal on time, to a fraction of a ms; lateLines says when one was not, and no
  // verdict is drawn from a run whose heal came later than its answer allows)
  if (run.marks.healed !== undefined) partial.prediction = spec.model(run.runSettings(run.marks.healed - origin));
  const timed = judgeLateness(run, origin);
  const tooLate = timed.find((a) => a.allowedMs !== undefined && (a.at - a.due) * 1000 > a.allowedMs);
  // t = 0 is now a moment on the kernel's jiffies clock: the model's times go where the timer
  // wheel really fires them (the verdict's windows stay those of the ideal times)
  const clock = sharedKernelClock(run.kernel.hz);
  const prediction = clock ? placeOnWheel(partial.prediction, wheelOriginAt(clock, origin)) : partial.prediction;
  const rt = topo.realtime;
  const conditions: RunConditions = {
    rootless: inUserNamespace(),
    realtime: rt.on,
    ...(rt.off ? { realtimeOff: rt.off } : {}),
    ...(clock ? {} : { unplaced: kernelClockProblem() }),
  };
  const obs: Observation = { ...partial, prediction, origin, conditions, ...(timed.length ? { timed } : {}) };
  const unmet = tooLate ? undefined : spec.premise?.(obs);
  return { ...obs, ...(tooLate ? { cannotJudge: lateLine(tooLate) } : unmet ? { cannotJudge: `the experiment's set-up did not hold: ${unmet}` } : {}) };
}

/** The router's side of a run: its memory of the connection, its rules' counts, the far leg. */
async function pathObservation(router: Router, events: HelperEvent[], clientAddrs: string[], run: Run): Promise<PathObservation> {
  return {
    middlebox: router.path.middlebox,
    serverLeg: toPackets(
      events.filter((e) => e.side === 'server'),
      clientAddrs,
      run.faults,
    ),
    conntrack: router.conntrack(),
    counters: await router.dropCounters(),
    ...(run.spec.pathModel ? { predicted: run.spec.pathModel(run.runSettings()) } : {}),
  };
}

/**
 * Each timed action with how late it may come (TimedAction.allowedMs), from the model's timeline
 * with the peer gone and the action's planned moment: a heal may be late until the transmission
 * the blip's answer counts on could fire; an arming until the first one that could slip out before it.
 */
function judgeLateness(run: Run, origin: number): TimedAction[] {
  if (!run.timed.length) return [];
  const gone = run.spec.model(run.runSettings());
  const hz = run.kernel.hz;
  return run.timed.map((a) => {
    // a write is told to the model as it happened (the recipes read its mark): any lateness is harmless
    if (a.name === 'write') return a;
    const allowance = a.name === 'heal' ? predictBlip(gone, a.due - origin, hz).lateAllowanceS : armLateAllowanceS(gone, a.due - origin, hz);
    return { ...a, ...(Number.isFinite(allowance) ? { allowedMs: Math.max(0, allowance * 1000) } : {}) };
  });
}

/** The one line a run that cannot be judged says, e.g. "the heal came 640 ms late: …". */
export function lateLine(a: TimedAction): string {
  const what = a.name === 'heal' ? 'the heal' : `"${a.name}"`;
  return `${what} came ${((a.at - a.due) * 1000).toFixed(1)} ms late (${(a.allowedMs ?? 0).toFixed(1)} ms could not change the model's answer): the run cannot judge this ${a.name === 'heal' ? 'blip' : 'fault'}`;
}


/** t = 0 of each phase's prediction, located in the capture (see the model's `origin`). */
function defaultOrigin(phase: Phase): (obs: Omit<Observation, 'origin'>) => number {
  const first = (obs: Omit<Observation, 'origin'>, pred: (p: Packet) => boolean, what: string) => {
    const p = obs.packets.find(pred);
    if (!p) throw new Error(`cannot place t=0 of ${obs.name}: no ${what} in the capture`);
    return p.t;
  };
  switch (phase) {
    case 'syn-sent':
      return (o) => first(o, (p) => p.from === 'client' && p.kind === 'SYN', 'SYN from the client');
    case 'syn-recv':
    case 'defer-accept':
      return (o) => first(o, (p) => p.from === 'server' && p.kind === 'SYN-ACK', 'SYN+ACK from the server');
    case 'idle':
      // the last packet the subject received before the peer vanished (not the answers after a blip healed)
      return (o) => {
        const other: Side = o.subject === 'client' ? 'server' : 'client';
        const vanished = o.faults[0]?.t ?? Infinity;
        const got = o.packets.filter((p) => p.from === other && !p.dropped && p.t <= vanished);
        if (!got.length) throw new Error(`cannot place t=0 of ${o.name}: nothing ever reached the subject`);
        return got[got.length - 1]!.t;
      };
    case 'busy':
      return (o) => first(o, (p) => p.kind === 'DATA' && p.dropped, 'dropped data packet');
    case 'zero-window':
      return (o) => o.marks['zero-window'] ?? first(o, (p) => p.win === 0 && !p.dropped, 'zero window');
  }
}
