import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exiting } from '../../harness/engine/process-tree.js';

/** `exec --role server` tells a server that exited from one that closed the fd and lives on. */
describe('exiting(pid): /proc/PID/stat, read as the kernel writes it', () => {
  it('a live process is not exiting; a zombie and a reaped pid are', async () => {
    // the backgrounded `sleep 0` exits at once and stays a zombie: its parent exec'd into a sleep that never waits
    const sh = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const [line] = (await once(sh.stdout!, 'data')) as [Buffer];
      const zombie = Number(String(line).trim());
      expect(exiting(sh.pid!)).toBe(false);
      for (let i = 0; i < 100 && !exiting(zombie); i++) await new Promise((r) => setTimeout(r, 10));
      expect(exiting(zombie)).toBe(true);
    } finally {
      sh.kill('SIGKILL');
      await once(sh, 'exit');
    }
    expect(exiting(sh.pid!)).toBe(true);
  });

  it('a command name with spaces and parentheses does not shift the fields', async () => {
    // comm is whatever the program named itself: /proc/PID/stat puts it in parentheses, unescaped
    const named = spawn('perl', ['-e', 'open(my $f, ">", "/proc/self/comm"); print $f "a) Z 1 (c"; close $f; sleep 30'], { stdio: 'ignore' });
    const gone = once(named, 'exit');
    try {
      for (let i = 0; i < 100 && readFileSync(`/proc/${named.pid}/comm`, 'utf8') !== 'a) Z 1 (c\n'; i++) await new Promise((r) => setTimeout(r, 10));
      expect(readFileSync(`/proc/${named.pid}/comm`, 'utf8')).toBe('a) Z 1 (c\n');
      expect(exiting(named.pid!)).toBe(false);
    } finally {
      named.kill('SIGKILL');
      await gone;
    }
  });
});
