import { describe, expect, it } from 'vitest';
import { specProblems } from '../../harness/engine/spec-check.js';
import { listen } from '../../harness/engine/steps.js';
import type { ScenarioSpec } from '../../harness/engine/run.js';

/** A scenario spec with a mistake gets a message naming the field, the value and what is allowed. */
const good: ScenarioSpec = {
  name: 'x',
  phase: 'idle',
  family: 4,
  model: () => ({ phase: 'idle', kernel: '', origin: '', events: [], closeAt: null, errno: null, notes: [] }),
  steps: [listen()],
};
const bad = (patch: Record<string, unknown>) => specProblems({ ...good, ...patch } as ScenarioSpec);

describe('scenario spec validation', () => {
  it('accepts a good spec', () => expect(specProblems(good)).toEqual([]));

  it('family, phase, subject', () => {
    expect(bad({ family: 5 })).toEqual(['family: 5 is not allowed: 4 or 6']);
    expect(bad({ phase: 'half-open' })[0]).toMatch(/^phase: "half-open" is not allowed: one of syn-sent, /);
    expect(bad({ subject: 'router' })).toEqual(['subject: "router" is not allowed: "client" or "server"']);
  });

  it('an unknown socket option and a non-integer value', () => {
    expect(bad({ client: { options: { TCP_KEEPALIVE_FOREVER: 1 } } })[0]).toMatch(/^client\.options\.TCP_KEEPALIVE_FOREVER: unknown socket option: one of SO_KEEPALIVE/);
    expect(bad({ server: { options: { TCP_USER_TIMEOUT: 'abc' } } })).toEqual(['server.options.TCP_USER_TIMEOUT: "abc" is not allowed: a 32-bit integer']);
  });

  it('a sysctl outside net.ipv4.tcp_* and a negative value', () => {
    expect(bad({ client: { sysctls: { ip_forward: 1 } } })[0]).toMatch(/^client\.sysctls\.ip_forward: not allowed: a net\.ipv4\.tcp_\* sysctl name/);
    expect(bad({ client: { sysctls: { tcp_syn_retries: -1 } } })).toEqual(['client.sysctls.tcp_syn_retries: -1 is not allowed: a whole number ≥ 0']);
    // outside what the kernel takes: the write would fail after the namespaces exist
    expect(bad({ client: { sysctls: { tcp_syn_retries: 0 } } })).toEqual(['client.sysctls.tcp_syn_retries: 0 is not allowed: the kernel takes 1 to 127']);
    expect(bad({ server: { sysctls: { tcp_synack_retries: 1000 } } })).toEqual(['server.sysctls.tcp_synack_retries: 1000 is not allowed: the kernel takes 0 to 255']);
    expect(bad({ client: { sysctls: { tcp_syn_retries: 127, tcp_rto_max_ms: 120000 } } })).toEqual([]);
  });

  it('no steps, or something that is not a step', () => {
    expect(bad({ steps: [] })).toEqual(['steps: must be a non-empty list of steps']);
    expect(bad({ steps: [{ label: 'x' }] })).toEqual(['steps[0]: not a step (needs a label and a run function)']);
  });
});
