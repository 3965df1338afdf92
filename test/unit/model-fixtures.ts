/** Inputs for the model unit tests: a kernel by release, a new namespace's sysctls, a plain socket. */
import { defaultSocket, defaultSysctls, featuresForRelease } from '../../harness/model/index.js';
import type { ModelEvent, ModelInput, SocketSettings, TcpSysctls } from '../../harness/model/index.js';

export function inputFor(
  release: string,
  overrides: { sysctls?: Partial<TcpSysctls>; socket?: Partial<SocketSettings>; hz?: number } = {},
): ModelInput {
  const features = featuresForRelease(release, overrides.hz ?? 250);
  const sysctls = { ...defaultSysctls(features), ...overrides.sysctls };
  return { features, sysctls, socket: { ...defaultSocket(sysctls), ...overrides.socket } };
}

/** The times of the events of one packet kind. */
export function timesOf(events: ModelEvent[], packet: ModelEvent['packet']): number[] {
  return events.filter((e) => e.packet === packet).map((e) => e.t);
}
