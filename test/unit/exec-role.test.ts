import { describe, expect, it } from 'vitest';
import { parseExecArgs } from '../../cli/exec.js';
import { execArgsFromOptions } from '../../harness/apps/exec/args.js';

/** exec --role server's input: what it takes, and what it refuses in one line. */
const parse = (argv: string[]) => parseExecArgs([...argv, '--', 'postgres']);

describe('exec --role server: arguments', () => {
  it('role, client and released reach the arguments', () => {
    const r = parse(['--role', 'server', '--phase', 'idle', '--client', 'psql', '--released', 'true']);
    expect(r).toMatchObject({ kind: 'args', args: { role: 'server', client: 'psql', released: 'true', phase: 'idle', fault: 'blackhole', command: ['postgres'] } });
    expect(parse(['--role', 'client', '--phase', 'idle'])).toMatchObject({ kind: 'args' });
    expect((parse(['--role', 'client', '--phase', 'idle']) as { args: object }).args).not.toHaveProperty('role');
  });

  it.each([
    [['--role', 'peer', '--phase', 'idle'], '--role: "peer" is not allowed: expected client or server'],
    [['--phase', 'idle', '--client', 'psql'], '--client: only with --role server (the command is the client otherwise)'],
    [['--phase', 'idle', '--released', 'true'], '--released: only with --role server (the command is the client otherwise)'],
    [['--role', 'server', '--phase', 'connect'], /^--phase: connect is not a phase of the server's half/],
    [['--role', 'server', '--phase', 'idle', '--fault', 'peer-reset'], /^--fault: "peer-reset" is not allowed with --role server/],
    [['--role', 'server', '--phase', 'idle', '--fault', 'blip:5s'], /^--fault: "blackhole"|^--fault: "blip:5s"/],
    [['--role', 'server', '--phase', 'idle', '--server', 'x'], /^--server: not with --role server/],
    [['--role', 'server', '--phase', 'idle', '--middlebox', 'aws-nlb'], /^--middlebox: not with --role server|^--fault/],
    [['--role', 'server', '--phase', 'idle', '--client', ' '], '--client: " " is not allowed: expected a shell command'],
  ])('%j is refused in one line', (argv, message) => {
    const r = parse(argv);
    expect(r.kind).toBe('error');
    if (r.kind === 'error') (typeof message === 'string' ? expect(r.message).toBe(message) : expect(r.message).toMatch(message));
  });

  it('exec(): the same options, camel-cased', () => {
    expect(execArgsFromOptions({ role: 'server', phase: 'busy', command: ['node', 'server.js'], client: 'curl x', released: 'true' })).toMatchObject({ role: 'server', client: 'curl x', released: 'true' });
    expect(() => execArgsFromOptions({ phase: 'idle', command: ['x'], client: 'y' })).toThrow('exec(): client: only with exec(): role server');
  });
});
