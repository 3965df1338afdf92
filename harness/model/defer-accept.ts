/**
 * TCP_DEFER_ACCEPT on the listener: the handshake completes only with data, or with an ACK that
 * answers the one SYN+ACK resent at the end of the deferral.
 *
 * Rules (net/ipv4/tcp.c secs_to_retrans / retrans_to_secs; net/ipv4/tcp_minisocks.c
 * tcp_check_req; net/ipv4/inet_connection_sock.c syn_ack_recalc, unchanged since 2.6.32):
 * - S seconds are stored as D = secs_to_retrans(S, 1, 120) SYN+ACK timeouts; getsockopt reads
 *   back retrans_to_secs(D) (5 → 7, 30 → 31).
 * - The client's bare final ACK is dropped while num_timeout < D (acked = 1).
 * - While acked, syn_ack_recalc() resends nothing until num_timeout >= D - 1: the timer keeps
 *   firing (1, 3, 7, ... s) silently; at firing D-1 (t = 2^D - 1 s) one SYN+ACK is resent; the
 *   client's ACK to it finds num_timeout = D and creates the socket.
 * - Data completes the handshake at once (end_seq != rcv_isn + 1).
 * - If nothing answers, SYN+ACKs go on until num_timeout >= max(tcp_synack_retries, D): dropped.
 */
import { synAckRetries } from './effective.js';
import { msecsToJiffies } from './jiffies.js';
import { deferAcceptReadBack, deferAcceptRetrans, dropThroughSilentFirings, type ReqskOutcome, runReqskTimer, synAckRtoMaxJ, throughSilentFirings } from './reqsk.js';
import { packetSeries, seconds } from './timeline.js';
import type { DeferAcceptInput, Prediction } from './types.js';

export function predictDeferAccept(input: DeferAcceptInput): Prediction {
  const { features } = input;
  const { hz } = features;
  const requestedS = input.deferAcceptS ?? input.socket.deferAcceptS ?? 0;
  const deferRetrans = deferAcceptRetrans(requestedS);
  const readBackS = deferAcceptReadBack(requestedS);
  const client = input.client ?? 'ack';
  const maxRetries = synAckRetries(input);

  // Without deferral (D = 0) the final ACK completes the handshake.
  const outcome: ReqskOutcome =
    deferRetrans === 0
      ? { synAckJ: [], acceptJ: 0, dropJ: null, silentJ: [] }
      : runReqskTimer({
          hz,
          maxRetries,
          deferRetrans,
          acked: true,
          // a client that will send data is alive meanwhile: it answers the end-of-deferral SYN+ACK
          clientAnswers: client !== 'gone',
          capJ: synAckRtoMaxJ(input),
        });
  if (client === 'data') {
    // Data always completes the handshake (end_seq != rcv_isn + 1 in tcp_check_req), whenever it
    // comes while the request still waits.
    const dataJ = msecsToJiffies((input.clientDataAtS ?? 0) * 1000, hz);
    if (outcome.acceptJ === null || dataJ < outcome.acceptJ) {
      outcome.acceptJ = dataJ;
      outcome.synAckJ = outcome.synAckJ.filter((t) => t < dataJ);
    }
  }

  const notes = [
    `TCP_DEFER_ACCEPT ${requestedS} s → rskq_defer_accept = secs_to_retrans(${requestedS}, 1, 120) = ${deferRetrans} ` +
      `SYN+ACK timeouts; getsockopt reads back retrans_to_secs(${deferRetrans}) = ${readBackS} s`,
    'the bare final ACK is dropped (TCPDEFERACCEPTDROP) and marks the request acked; syn_ack_recalc() then resends ' +
      `no SYN+ACK until num_timeout >= D - 1 = ${Math.max(0, deferRetrans - 1)}`,
  ];
  if (deferRetrans === 0) notes.push('TCP_DEFER_ACCEPT 0 = off: the final ACK completes the handshake');
  if (client === 'data')
    notes.push(`the client sends data at ${input.clientDataAtS ?? 0} s: tcp_check_req() creates the socket when it arrives`);
  if (client === 'ack')
    notes.push(
      'the client answers the SYN+ACK resent at the end of the deferral with an ACK, which finds ' +
        'num_timeout >= D: the socket is created and accept() returns it',
    );
  if (client === 'gone')
    notes.push(
      `nothing answers: SYN+ACKs continue until num_timeout >= max(tcp_synack_retries ${maxRetries}, D ${deferRetrans}); ` +
        'the request is dropped and the application never sees it',
    );

  return {
    phase: 'defer-accept',
    kernel: features.release,
    origin: 'the first SYN+ACK (the client\'s final ACK follows it at once)',
    events: [
      { t: 0, side: 'server', packet: 'SYN-ACK', n: 0 },
      ...throughSilentFirings(packetSeries(outcome.synAckJ, hz, 'server', 'SYN-ACK'), outcome.silentJ, hz),
    ],
    closeAt: seconds(outcome.dropJ, hz),
    ...dropThroughSilentFirings((outcome.synAckJ.at(-1) ?? 0) / hz, outcome.dropJ, outcome.silentJ, hz),
    errno: null,
    acceptAt: seconds(outcome.acceptJ, hz),
    notes,
    inputs: { client, ...(client === 'data' ? { clientDataAtS: input.clientDataAtS ?? 0 } : {}) },
  };
}
