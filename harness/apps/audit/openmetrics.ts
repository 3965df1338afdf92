import { USER_PHASES } from '../../recipes/phases.js';
import { serviceOf } from './connection.js';
import { isAnswer } from './model.js';
import { AUDIT_VERDICTS, type AuditConnection, type AuditReport, type AuditVerdict } from './report.js';

/**
 * `deadpeer audit --openmetrics`: the audit as metrics for node_exporter's textfile collector or a
 * scrape, so a fleet's view comes from Prometheus. Series are per connection group — program,
 * direction and the service's endpoint (the remote address and port of an outbound connection, the
 * program's own port of an accepted one), never a pid, fd or ephemeral port — so their number is
 * bounded by what the node talks to, not by how many connections it holds. Only gauges: the
 * textfile collector reads the Prometheus text format, which takes OpenMetrics' HELP, TYPE and the
 * UNIT and EOF comments, but not its info or stateset types. docs/AUDIT.md lists every name.
 */

/** A label value as the exposition formats escape it: backslash, double quote and line feed. */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A HELP text: backslash and line feed. */
const escapeHelp = (text: string) => text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');

/** A sample's value: +Inf for never; a number to 12 significant digits (948.268, not 948.2679999999999). */
export function sampleValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(Number(v.toPrecision(12)));
}

type Labels = Array<[string, string]>;
const labelText = (labels: Labels) => (labels.length ? `{${labels.map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}}` : '');

interface Family {
  name: string;
  help: string;
  unit?: string;
  samples: Array<{ labels: Labels; value: number }>;
}

/** The labels of a connection's group: the service it talks to, not the connection. */
function groupLabels(c: AuditConnection): Labels {
  const s = serviceOf(c);
  if (s.direction === 'inbound') return [['program', c.program], ['direction', 'inbound'], ['local_port', String(s.localPort)]];
  return [['program', c.program], ['direction', 'outbound'], ['remote_address', s.remoteAddress!], ['remote_port', String(s.remotePort)]];
}

/** The metric families of a report, in exposition order. */
export function metricFamilies(r: AuditReport, info: { version: string; nowS: number; durationS: number }): Family[] {
  const detection = new Map<string, { labels: Labels; value: number }>();
  const counts = new Map<string, { labels: Labels; value: number }>();
  for (const c of r.connections) {
    const labels = groupLabels(c);
    const key = labels.map(([, v]) => v).join('\0');
    const k = `${key}\0${c.verdict}`;
    const n = counts.get(k) ?? counts.set(k, { labels: [...labels, ['verdict', c.verdict]], value: 0 }).get(k)!;
    n.value++;
    for (const p of USER_PHASES) {
      const v = c.phases[p];
      if (!isAnswer(v)) continue;
      // the latest the kernel may notice (the window's late end); never is +Inf
      const t = v.closeWindow === null ? Infinity : v.closeWindow[1];
      const d = detection.get(`${key}\0${p}`);
      if (!d) detection.set(`${key}\0${p}`, { labels: [...labels, ['phase', p]], value: t });
      else d.value = Math.max(d.value, t);
    }
  }
  const verdictTotals = AUDIT_VERDICTS.map((v: AuditVerdict) => ({ labels: [['verdict', v]] as Labels, value: r.verdicts[v] }));
  return [
    {
      name: 'deadpeer_audit_detection_seconds',
      help: "The latest a vanished peer would be noticed by the kernel in this phase, over the group's connections (the model's close window, from the phase's t = 0); +Inf: never.",
      unit: 'seconds',
      samples: [...detection.values()],
    },
    { name: 'deadpeer_audit_connections', help: 'Connections of the group, by verdict (never, slow, notices, unreadable, unknown, closing).', samples: [...counts.values()] },
    { name: 'deadpeer_audit_verdict_connections', help: 'Connections audited on this node, by verdict.', samples: verdictTotals },
    { name: 'deadpeer_audit_denied_processes', help: 'Processes whose sockets could not be listed (another user\'s, without CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH; another namespace\'s, without CAP_SYS_ADMIN).', samples: [{ labels: [], value: r.denied.length }] },
    { name: 'deadpeer_audit_build_info', help: 'The deadpeer that audited and the kernel it ran on; always 1.', samples: [{ labels: [['version', info.version], ['kernel', r.kernel.release]], value: 1 }] },
    { name: 'deadpeer_audit_last_run_timestamp_seconds', help: 'When this audit ran (Unix time).', unit: 'seconds', samples: [{ labels: [], value: info.nowS }] },
    { name: 'deadpeer_audit_duration_seconds', help: 'How long this audit took, reading and judging every socket.', unit: 'seconds', samples: [{ labels: [], value: info.durationS }] },
  ];
}

/** The exposition text, ending in # EOF. */
export function renderOpenMetrics(r: AuditReport, info: { version: string; nowS: number; durationS: number }): string {
  const out: string[] = [];
  for (const f of metricFamilies(r, info)) {
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} gauge`);
    if (f.unit) out.push(`# UNIT ${f.name} ${f.unit}`);
    for (const s of f.samples) out.push(`${f.name}${labelText(s.labels)} ${sampleValue(s.value)}`);
  }
  out.push('# EOF');
  return out.join('\n') + '\n';
}
