/**
 * `deadpeer recommend`: the socket settings that notice a vanished peer within a budget in every
 * phase and survive a blip, from the model — and with --prove, measured on this kernel.
 */
import { humanDuration } from '../harness/apps/check/advice.js';
import { describeConfig } from '../harness/apps/check/presets.js';
import { hostSysctls } from '../harness/apps/check/run.js';
import { CLIENT_NAMES } from '../harness/apps/recommend/clients.js';
import { type RecommendArgs, type RecommendReport, proveRecommendation, recommendArgsFrom, recommendByModel } from '../harness/apps/recommend/recommend.js';
import { describeParseError, joinNegativeValues, parseOnce } from '../harness/apps/parse-args.js';
import { InputError } from '../harness/core/errors.js';
import { runningKernel } from '../harness/engine/kernel.js';
import { preflightProblem } from '../harness/suite/preflight.js';
import { acquireTimingLock } from '../harness/suite/timing-lock.js';
import { renderTable } from './check.js';
import { oneLine } from '../harness/core/one-line.js';

export const RECOMMEND_USAGE = `usage: deadpeer recommend --detect D [--survive D] [--phases connect,idle,busy,zero-window]
                          [--client ${CLIENT_NAMES.join('|')}] [--middlebox NAME|idle-expiry:D:drop|reset[:nat|firewall]]
                          [--prove] [--json]

Searches the socket settings (SO_KEEPALIVE with TCP_KEEPIDLE/INTVL/CNT, TCP_USER_TIMEOUT, TCP_SYNCNT,
TCP_RTO_MAX_MS where the kernel has it) for the ones that notice a vanished peer within --detect in
every phase — at the late end of the timer wheel's window — and survive an outage of --survive
wherever it falls, preferring the fewest keepalive probes and then the widest margin. The model
works at this host's sysctls. Prints the settings, each phase's detection window and blip margin,
and the code that sets them for --client.

  --detect D     the longest a vanished peer may go unnoticed (30s, 2m, …)
  --survive D    an outage the connection must come through (a network blip, a failover)
  --phases LIST  which phases must meet them (default: all)
  --client C     whose settings to search and print: ${CLIENT_NAMES.join(', ')} (default raw: any setsockopt)
  --middlebox M  a middlebox on the path that forgets idle connections (aws-nat-gateway, aws-nlb, azure-lb,
                 gcp-vpc-firewall, gcp-cloud-nat, linux-conntrack, or idle-expiry:DURATION:drop|reset[:nat|firewall]):
                 only keepalive settings whose TCP_KEEPIDLE + TCP_KEEPINTVL (with the wheel's lateness and a round
                 trip) stay below its idle timeout — the mapping survives one lost probe; needs idle among --phases
  --prove        run the settings through check on this kernel, and a blip run per phase (root or rootless)
  --json         one JSON object on stdout

Each option at most once (a second one is refused, not a correction of the first).
Exit: 0 a recommendation (proven, with --prove), 1 none exists (it says why) or the proof failed, 2 bad input.
`;

const OPTIONS = {
  detect: { type: 'string' },
  survive: { type: 'string' },
  phases: { type: 'string' },
  client: { type: 'string' },
  middlebox: { type: 'string' },
  prove: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Every flag `deadpeer recommend` takes (the option-walk test tries each one). */
export const RECOMMEND_FLAGS = Object.keys(OPTIONS).map((o) => `--${o}`);

export type ParsedRecommendArgs = { kind: 'help' } | { kind: 'args'; args: RecommendArgs; json: boolean } | { kind: 'error'; message: string };

export function parseRecommendArgs(argv: string[]): ParsedRecommendArgs {
  let values;
  try {
    ({ values } = parseOnce({ args: joinNegativeValues(argv), allowPositionals: false, strict: true, options: OPTIONS }));
  } catch (e) {
    return { kind: 'error', message: describeParseError(e, RECOMMEND_FLAGS.join(' '), (a) => `unexpected argument "${a}" (recommend takes only options; see --help)`) };
  }
  if (values.help) return { kind: 'help' };
  try {
    const { json, help: _h, ...rest } = values;
    return { kind: 'args', args: recommendArgsFrom(rest, (f) => `--${f}`), json: !!json };
  } catch (e) {
    if (e instanceof InputError) return { kind: 'error', message: e.message };
    throw e;
  }
}

const s = (t: number) => `${t.toFixed(2)} s`;

/** The human report. */
export function renderRecommendation(r: RecommendReport): string {
  const lines = [
    `deadpeer recommend: notice a vanished peer within ${humanDuration(r.detectS)}${r.surviveS !== undefined ? ` and survive a ${humanDuration(r.surviveS)} blip` : ''} in ${r.phases.join(', ')} — client ${r.client}, kernel ${r.kernel.release} (HZ ${r.kernel.hz})`,
    ...(r.middlebox ? [`  behind ${r.middlebox.name}: ${r.middlebox.rule}`, `  ${r.middlebox.client}`] : []),
    `  the model at this host's sysctls: tcp_syn_retries ${r.sysctls.tcp_syn_retries}, tcp_retries2 ${r.sysctls.tcp_retries2}, keepalive ${r.sysctls.tcp_keepalive_time}/${r.sysctls.tcp_keepalive_intvl}/${r.sysctls.tcp_keepalive_probes}; ${r.considered} settings × phases asked`,
    '',
  ];
  if (!r.ok) {
    lines.push('no setting meets both:', ...r.why!.map((w) => `  - ${w}`));
    if (r.clientLimits) lines.push(`  (${r.client}: ${r.clientLimits})`);
    return lines.join('\n') + '\n';
  }
  lines.push(`settings: ${describeConfig(r.config!)}`);
  lines.push(`  socket options: ${Object.entries(r.options!).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  lines.push(`  traffic: ${r.probesPerHour ? `${Math.round(r.probesPerHour)} keepalive probes an hour on an idle, healthy connection` : 'no keepalive probes'}; narrowest margin ${s(r.minMarginS!)}`);
  lines.push('');
  const head = ['phase', 'gives up (timer-wheel window)', `margin to ${humanDuration(r.detectS)}`, ...(r.surviveS !== undefined ? [`worst ${humanDuration(r.surviveS)} blip heals at`, 'blip margin'] : [])];
  const rows = r.outcomes!.map((o) => [
    o.phase,
    o.closeWindow ? `${s(o.closeWindow[0])} … ${s(o.closeWindow[1])}` : 'never',
    s(o.detectMarginS),
    ...(o.blip ? [s(o.blip.healS), `${o.blip.survives === true ? 'survives' : 'NO'}, ${Number.isFinite(o.blip.marginS) ? s(o.blip.marginS) : '∞'} to spare`] : []),
  ]);
  const width = head.map((_, i) => Math.max(...[head, ...rows].map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((c, i) => c.padEnd(width[i]!)).join('  ').trimEnd();
  lines.push(line(head), width.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line), '');
  lines.push(`code (${r.client}):`, ...r.code!.map((c) => `  ${c}`));
  if (r.clientLimits) lines.push(`  note: ${r.clientLimits}`);
  if (r.advice!.length) lines.push('', 'advice:', ...r.advice!.map((a) => `  - ${a}`));
  if (r.proof) {
    lines.push('', 'proof on this kernel — the settings through check, the host\'s sysctls in the test namespace:', renderTable(r.proof.detection.phases));
    if (r.proof.blip) {
      lines.push('', `and a ${humanDuration(r.surviveS!)} blip per phase (idle: beginning just before the first probe, its worst moment):`, renderTable(r.proof.blip.phases));
    }
    lines.push(
      '',
      r.proof.ok
        ? `proof: passed — every phase noticed a vanished peer within ${humanDuration(r.detectS)}${r.proof.blip ? ` and survived the ${humanDuration(r.surviveS!)} blip` : ''}, as the model said`
        : 'proof: FAILED — see the rows above (deadpeer show <artifacts> for a timeline)',
      `artifacts: ${r.proof.detection.artifacts}`,
    );
  }
  return lines.join('\n') + '\n';
}

export async function runRecommend(argv: string[]): Promise<number> {
  const parsed = parseRecommendArgs(argv);
  if (parsed.kind === 'help') {
    process.stdout.write(RECOMMEND_USAGE);
    return 0;
  }
  if (parsed.kind === 'error') {
    process.stderr.write(`${oneLine(`deadpeer recommend: ${parsed.message}`)}\n`);
    return 2;
  }
  const features = runningKernel();
  const sysctls = hostSysctls(features);
  let report = recommendByModel(parsed.args, features, sysctls);
  if (parsed.args.prove && report.ok) {
    const problem = await preflightProblem();
    if (problem) {
      process.stderr.write(`deadpeer recommend: --prove: ${problem}\n`);
      return 2;
    }
    if (!parsed.json) process.stderr.write(`deadpeer recommend: proving ${describeConfig(report.config!)} on this kernel (≈${humanDuration(Math.max(...report.outcomes!.map((o) => o.closeWindow?.[1] ?? 0)) + 5)})\n`);
    const lock = await acquireTimingLock('deadpeer recommend --prove', (l) => process.stderr.write(`${l}\n`));
    try {
      const proof = await proveRecommendation(report, features, sysctls);
      report = { ...report, proof, exitCode: proof.ok ? 0 : 1 };
    } finally {
      await lock.release();
    }
  }
  process.stdout.write(parsed.json ? JSON.stringify(report) + '\n' : renderRecommendation(report));
  return report.exitCode;
}
