import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { VanishingPeer } from '../harness/engine/peer.js';
import { kernelCases } from '../harness/vitest/cases.js';

/**
 * DEADPEER_EVIDENCE=summary on the wire: the helper's pcap keeps each frame's headers and no byte
 * of what the program sent, while the packets the verdicts read (the helper's events) are the same.
 */
const SECRET = 'AUTH hunter2-not-for-artifacts';

/** The records of the helper's pcap (nanosecond pcap, written in the host's byte order: little-endian here). */
function records(file: string): Array<{ data: Buffer; orig: number }> {
  const buf = readFileSync(file);
  expect(buf.readUInt32LE(0)).toBe(0xa1b23c4d);
  const out = [];
  for (let o = 24; o + 16 <= buf.length; ) {
    const incl = buf.readUInt32LE(o + 8);
    out.push({ data: buf.subarray(o + 16, o + 16 + incl), orig: buf.readUInt32LE(o + 12) });
    o += 16 + incl;
  }
  return out;
}

/** Ethernet + IPv4 + TCP header bytes of a frame, from its own length fields. */
const headerBytes = (f: Buffer) => 14 + (f[14]! & 15) * 4 + (f[14 + (f[14]! & 15) * 4 + 12]! >> 4) * 4;

async function capture(level: 'full' | 'summary') {
  const before = process.env.DEADPEER_EVIDENCE;
  process.env.DEADPEER_EVIDENCE = level;
  let peer: VanishingPeer;
  try {
    peer = await VanishingPeer.start({ family: 4, name: `evidence-${level}` });
  } finally {
    if (before === undefined) delete process.env.DEADPEER_EVIDENCE;
    else process.env.DEADPEER_EVIDENCE = before;
  }
  try {
    const script = `const s = require('net').connect(Number(process.env.DEADPEER_PORT), process.env.DEADPEER_HOST, () => s.write(${JSON.stringify(SECRET + '\r\n')})); setTimeout(() => process.exit(0), 1000);`;
    const program = peer.spawn([process.execPath, '-e', script]);
    await program.exited;
  } finally {
    await peer.dispose();
  }
  return { pcap: records(peer.artifacts.pcap), packets: peer.packets() };
}

kernelCases('what the capture keeps (DEADPEER_EVIDENCE)', () => {
  it('full keeps the payload; summary keeps every frame but cut at the end of its TCP header', async () => {
    const full = await capture('full');
    const summary = await capture('summary');
    const withSecret = (r: Array<{ data: Buffer }>) => r.filter((x) => x.data.includes(SECRET.slice(5)));
    expect(withSecret(full.pcap)).not.toHaveLength(0);
    expect(withSecret(summary.pcap)).toHaveLength(0);
    const sent = summary.pcap.filter((r) => r.orig > headerBytes(r.data));
    expect(sent.length).toBeGreaterThan(0);
    for (const r of summary.pcap) expect(r.data.length).toBe(Math.min(r.orig, headerBytes(r.data)));
    // the timeline still sees the data segment and its length
    expect(summary.packets.some((p) => p.len === SECRET.length + 2)).toBe(true);
  }, 60_000);
});
