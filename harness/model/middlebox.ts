/**
 * Middleboxes that forget an idle connection: the vocabulary. A middlebox is a connection tracker
 * on the path (a NAT gateway, a load balancer, a stateful firewall) whose entry for the flow
 * expires after an idle timeout; the flow's next packet then finds no entry and is dropped or
 * answered with a RST. Written `idle-expiry:DURATION:drop|reset[:nat|firewall]`, or a preset
 * named after a real one (the numbers and their sources: ../shared/FIELD-NOTES.md, docs/API.md).
 */
import { DURATION_EXAMPLES, durationSeconds } from './duration.js';

/** What the flow's next packet meets once the entry is gone: a silent drop, or a RST from the middlebox. */
export type MiddleboxMode = 'drop' | 'reset';
/** nat: masquerade (IPv4 only); firewall: tracked, not translated (IPv4 and IPv6). */
export type MiddleboxKind = 'nat' | 'firewall';

export interface Middlebox {
  /** the preset's name, or the canonical spec text, e.g. "idle-expiry:6s:reset:firewall" */
  name: string;
  /** whole seconds (conntrack's nf_conntrack_tcp_timeout_established counts seconds), 1..2147483 */
  idleTimeoutS: number;
  mode: MiddleboxMode;
  kind: MiddleboxKind;
  /** presets: where the numbers come from */
  source?: string;
}

export type MiddleboxPreset = Middlebox & { source: string; note?: string };

/**
 * The sysctl is an int of jiffies set through proc_dointvec_jiffies: at most INT_MAX / HZ s, and
 * 2147483 s is what fits at the largest HZ (1000), so one limit holds on every kernel.
 */
export const MAX_IDLE_TIMEOUT_S = 2_147_483;

const preset = (name: string, idleTimeoutS: number, mode: MiddleboxMode, kind: MiddleboxKind, source: string, note?: string): MiddleboxPreset => ({
  name,
  idleTimeoutS,
  mode,
  kind,
  source,
  ...(note ? { note } : {}),
});

export const MIDDLEBOX_PRESETS: Readonly<Record<string, MiddleboxPreset>> = Object.freeze({
  'aws-nat-gateway': preset(
    'aws-nat-gateway',
    350,
    'reset',
    'nat',
    'AWS docs, NAT gateway troubleshooting ("the connection times out after 350 seconds of idle time"; the next packet gets a RST); ' +
      'istio/istio#36499, encode/httpx#2975, urllib3/urllib3#3184, psf/requests#3808',
  ),
  'aws-nlb': preset(
    'aws-nlb',
    350,
    'reset',
    'firewall',
    'AWS docs, Network Load Balancer "update-idle-timeout" (elasticloadbalancing/network): 350 s default, then a RST',
    'configurable from 60 to 6000 s: for another value use idle-expiry:DURATION:reset',
  ),
  'azure-lb': preset(
    'azure-lb',
    240,
    'drop',
    'firewall',
    'Azure Load Balancer docs (TCP idle timeout, 4 min default); confluentinc/librdkafka#3289, Azure/AKS#1564',
    'a RST only with "TCP reset on idle" enabled (then idle-expiry:240s:reset); AKS outbound rules default to 30 min',
  ),
  'gcp-vpc-firewall': preset('gcp-vpc-firewall', 600, 'drop', 'firewall', 'GCP VPC firewall docs (connection tracking, 10 min for established TCP); cloudfoundry/routing-release#116'),
  'gcp-cloud-nat': preset('gcp-cloud-nat', 1200, 'drop', 'nat', 'GCP Cloud NAT docs (TCP established connection idle timeout 1200 s); GoogleCloudPlatform/magic-modules#2283'),
  'linux-conntrack': preset(
    'linux-conntrack',
    432_000,
    'drop',
    'firewall',
    'Linux net.netfilter.nf_conntrack_tcp_timeout_established default, 5 days (net/netfilter/nf_conntrack_proto_tcp.c tcp_timeouts[])',
    'what the next packet meets depends on the rules: drop assumes a `ct state invalid drop` rule, as kube-proxy installs ' +
      '(kubernetes/kubernetes#80298); with nf_conntrack_tcp_loose=1 (the default) the flow is re-adopted instead',
  ),
});

const PRESET_LIST = Object.keys(MIDDLEBOX_PRESETS).join(', ');
const GRAMMAR = 'a preset or idle-expiry:DURATION:drop|reset[:nat|firewall]';

/**
 * A middlebox from its text: a preset name, or idle-expiry:DURATION:drop|reset[:nat|firewall]
 * (firewall when the kind is left out). `{ error }`: one line saying what is allowed — the caller
 * puts its own option name in front ("--middlebox: …").
 */
export function parseMiddlebox(text: string): Middlebox | { error: string } {
  const named = Object.hasOwn(MIDDLEBOX_PRESETS, text) ? MIDDLEBOX_PRESETS[text] : undefined;
  if (named) return { ...named };
  const quoted = JSON.stringify(text);
  if (!text.startsWith('idle-expiry:')) return { error: `unknown middlebox ${quoted}: expected ${GRAMMAR}; presets: ${PRESET_LIST}` };
  const parts = text.slice('idle-expiry:'.length).split(':');
  if (parts.length < 2 || parts.length > 3) return { error: `${quoted} is not allowed: expected idle-expiry:DURATION:drop|reset[:nat|firewall], e.g. idle-expiry:350s:reset` };
  const [duration, mode, kind = 'firewall'] = parts as [string, string, string?];
  const s = durationSeconds(duration);
  if (s === undefined) return { error: `${quoted}: the idle timeout ${JSON.stringify(duration)} is not allowed: expected ${DURATION_EXAMPLES}` };
  if (!Number.isInteger(s) || s < 1 || s > MAX_IDLE_TIMEOUT_S) {
    return { error: `${quoted}: the idle timeout must be whole seconds from 1 to ${MAX_IDLE_TIMEOUT_S} (conntrack's nf_conntrack_tcp_timeout_established counts whole seconds), not ${s} s` };
  }
  if (mode !== 'drop' && mode !== 'reset') return { error: `${quoted}: ${JSON.stringify(mode)} is not allowed: expected drop (silently) or reset (answers with a RST)` };
  if (kind !== 'nat' && kind !== 'firewall') return { error: `${quoted}: ${JSON.stringify(kind)} is not allowed: expected nat (masquerade, IPv4) or firewall (tracked, IPv4 and IPv6)` };
  return { name: `idle-expiry:${s}s:${mode}:${kind}`, idleTimeoutS: s, mode, kind };
}

/** Why this middlebox cannot be on a path of this family (a NAT translates IPv4 only), or undefined. */
export function middleboxFamilyProblem(m: Middlebox, family: 4 | 6): string | undefined {
  if (m.kind !== 'nat' || family === 4) return undefined;
  return `${m.name} is a NAT (IPv4 only): use IPv4, or idle-expiry:${m.idleTimeoutS}s:${m.mode}:firewall for IPv6`;
}
