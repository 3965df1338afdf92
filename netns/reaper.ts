import { deleteNamespace, listNamespaces, ownerOf, processStartTicks } from './namespace.js';

/**
 * Removes what a dead run left behind: dp- namespaces whose owning process (pid + start time,
 * encoded in the name) no longer exists. A live run's namespaces are never touched, nor anything
 * without our prefix. Deleting a namespace takes its veth and nft table with it; helpers exit on
 * their own when their controller's pipe closes.
 */
export async function reapStale(only?: { ownerPid: number }): Promise<string[]> {
  const reaped: string[] = [];
  for (const name of await listNamespaces()) {
    const owner = ownerOf(name);
    if (!owner) continue;
    // a test reaps only the run it killed: two suites at once must not reap each other's evidence
    if (only && owner.pid !== only.ownerPid) continue;
    if (processStartTicks(owner.pid) === owner.start) continue; // its run is alive
    await deleteNamespace(name);
    reaped.push(name);
  }
  return reaped;
}
