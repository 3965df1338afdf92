import { afterEach, describe, expect, it, vi } from 'vitest';
import { InputError } from '../../harness/core/errors.js';
import { type PeerOptions, VanishingPeer, peerOptionProblems } from '../../harness/engine/peer.js';
import { artifactFolder, artifactsFor } from '../../harness/engine/recorders.js';
import { runScenario } from '../../harness/engine/scenario.js';
import { specProblems } from '../../harness/engine/spec-check.js';
import { Topology } from '../../harness/engine/topology.js';
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

describe('a spec, and a peer, are refused before any namespace exists', () => {
  afterEach(() => vi.restoreAllMocks());
  /** creating a topology is what must not happen: it throws here instead of building namespaces */
  const noNamespaces = () => vi.spyOn(Topology, 'create').mockRejectedValue(new Error('a namespace was about to be created'));

  it('an unknown field (a typo) is refused, not ignored', () => {
    expect(bad({ sysctl: { tcp_retries2: 3 } })).toEqual(['sysctl: unknown field: allowed fields are name, phase, family, client, server, subject, model, origin, steps, path, pathModel, premise']);
    expect(bad({ client: { sysctl: { tcp_retries2: 3 } } })).toEqual(['client.sysctl: unknown field: allowed fields are sysctls, options']);
    expect(bad({ client: { options: 5 } })).toEqual(['client.options: 5 is not allowed: a mapping of names to numbers']);
    expect(bad({ origin: 3 })[0]).toMatch(/^origin: must be a function/);
  });

  it('a router on the path must be a middlebox the router can be', () => {
    const m = { name: 'x', idleTimeoutS: 5, mode: 'reset', kind: 'firewall' };
    expect(bad({ path: { middlebox: m } })).toEqual([]);
    expect(bad({ path: {} })[0]).toMatch(/^path: .* is not allowed: \{ middlebox/);
    expect(bad({ path: { middlebox: { ...m, idleTimeoutS: 1.5 } } })).toEqual(['path.middlebox.idleTimeoutS: 1.5 is not allowed: whole seconds, 1 to 2147483 (conntrack counts seconds)']);
    expect(bad({ path: { middlebox: { ...m, mode: 'rst' } } })).toEqual(['path.middlebox.mode: "rst" is not allowed: "drop" or "reset"']);
    // masquerade is IPv4 only: refused before any namespace exists
    expect(bad({ family: 6, path: { middlebox: { ...m, kind: 'nat' } } })[0]).toMatch(/^path\.middlebox: .*IPv4 only/);
    expect(bad({ pathModel: 1 })[0]).toMatch(/^pathModel: must be a function/);
    expect(bad({ premise: 'yes' })[0]).toMatch(/^premise: must be a function/);
  });

  it.each(['.', '..', '/', '__', '../..', ' / '])('a name that makes no folder (%j) is refused', (name) => {
    expect(bad({ name })).toEqual([`name: ${JSON.stringify(name)} is not allowed: it names the artifact folder, so it needs a letter or a digit`]);
    expect(artifactFolder(name)).toBeNull();
    expect(() => artifactsFor(name, 'x.json')).toThrow(InputError);
  });

  it('runScenario throws an InputError, one line, for a bad spec', async () => {
    noNamespaces();
    const e = await runScenario({ ...good, family: 5 } as unknown as ScenarioSpec).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe('scenario "x": family: 5 is not allowed: 4 or 6');
  });

  it.each([
    [{ family: 5 }, 'family: 5 is not allowed: 4 or 6'],
    [{ name: '..' }, 'name: ".." is not allowed: it names the artifact folder, so it needs a letter or a digit'],
    [{ sysctls: { 'kernel.panic': 1 } }, 'sysctls.kernel.panic: not allowed: a full net.* sysctl name (e.g. net.ipv4.tcp_retries2)'],
    [{ sysctls: { 'net.ipv4.tcp_retries2': -1 } }, 'sysctls.net.ipv4.tcp_retries2: -1 is not allowed: a whole number ≥ 0'],
    [{ serverRcvbuf: 0 }, 'serverRcvbuf: 0 is not allowed: a whole number of bytes from 1 to 1073741824'],
    [{ serverReads: 'no' }, 'serverReads: "no" is not allowed: true or false'],
    [{ server: '' }, 'server: "" is not allowed: a shell command'],
    [{ familly: 6 }, 'familly: unknown option: allowed options are family, server, serverReads, serverRcvbuf, sysctls, name, middlebox, serverEchoes, serverSysctls'],
    [{ family: 6, middlebox: { name: 'aws-nat-gateway', idleTimeoutS: 350, mode: 'reset', kind: 'nat' } }, 'middlebox: aws-nat-gateway is a NAT (IPv4 only): use IPv4, or idle-expiry:350s:reset:firewall for IPv6'],
    [{ serverEchoes: 'yes' }, 'serverEchoes: "yes" is not allowed: true or false'],
  ])('VanishingPeer.start(%j): an InputError naming the option', async (opts, message) => {
    noNamespaces();
    expect(peerOptionProblems(opts as PeerOptions)).toEqual([message]);
    const e = await VanishingPeer.start(opts as PeerOptions).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(InputError);
    expect((e as Error).message).toBe(`VanishingPeer: ${message}`);
  });

  it('good peer options pass', () => {
    expect(peerOptionProblems({ family: 6, server: 'nc -l 1', serverReads: false, serverRcvbuf: 4096, sysctls: { 'net.ipv4.neigh.dp0.delay_first_probe_time': 1 }, name: 'exec-idle' })).toEqual([]);
  });
});
