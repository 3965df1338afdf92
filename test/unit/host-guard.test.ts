import { describe, expect, it } from 'vitest';
import { fingerprintDiff } from '../../harness/suite/host-guard.js';

/**
 * The host guard compares fingerprints taken before and after a suite (vitest global setup and
 * teardown). Changing the real host to prove it would break the promise it guards, so the
 * comparison is shown on fingerprints that differ the way a leak would.
 */
describe('host guard', () => {
  const before = { 'nft ruleset': '', links: '1: lo\n2: eth0', 'ipv4 routes': 'default via …', 'ipv6 routes': '', 'tcp sysctls': 'tcp_retries2=15' };

  it('names each part of the host that changed', () => {
    const after = { ...before, 'nft ruleset': 'table inet deadpeer {…}', 'tcp sysctls': 'tcp_retries2=5' };
    expect(fingerprintDiff(before, after)).toEqual(['nft ruleset', 'tcp sysctls']);
  });

  it('is quiet when nothing changed', () => {
    expect(fingerprintDiff(before, { ...before })).toEqual([]);
  });

  it('catches a veth left in the host namespace', () => {
    expect(fingerprintDiff(before, { ...before, links: before.links + '\n9: dp0@if8' })).toEqual(['links']);
  });
});
