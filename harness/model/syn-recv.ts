/**
 * Server SYN-RECV: the SYN arrived, the SYN+ACK went out, the client's final ACK does not come.
 *
 * Rules (net/ipv4/inet_connection_sock.c reqsk_timer_handler / syn_ack_recalc, 6.x): the request
 * minisocket resends the SYN+ACK at 1, 3, 7, 15, 31 s (TCP_TIMEOUT_INIT << num_timeout, capped),
 * tcp_synack_retries times (TCP_SYNCNT on the listener overrides it), and is dropped at the
 * timer after the last one (≈63 s at defaults). The application never holds the request, so it
 * never sees an error. No linear SYN timeouts (that is SYN-SENT only), no keepalive, no user
 * timeout: the minisocket has none of them.
 */
import { synAckRetries } from './effective.js';
import { dropThroughSilentFirings, runReqskTimer, synAckRtoMaxApplies, synAckRtoMaxJ, throughSilentFirings } from './reqsk.js';
import { packetSeries, seconds } from './timeline.js';
import type { Prediction, SynRecvInput } from './types.js';
import { jiffiesToSeconds, msecsToJiffies } from './jiffies.js';

export function predictSynRecv(input: SynRecvInput): Prediction {
  const { features } = input;
  const { hz } = features;
  const maxRetries = synAckRetries(input);
  const outcome = runReqskTimer({
    hz,
    maxRetries,
    deferRetrans: 0,
    acked: false,
    // the ESTABLISHED client answers a resent SYN+ACK with an ACK (net/ipv4/tcp_input.c
    // tcp_validate_incoming step 4, RFC 5961 4.2: a SYN in ESTABLISHED draws a challenge ACK),
    // which tcp_check_req() accepts as the third packet — unless its bare ACKs are lost as well
    clientAnswers: !!input.finalAckLost && !input.clientAcksLost,
    capJ: synAckRtoMaxJ(input),
  });

  let acceptJ = outcome.acceptJ;
  let dropJ = outcome.dropJ;
  let synAckJ = outcome.synAckJ;
  const dataJ = input.clientDataAtS === undefined ? null : msecsToJiffies(input.clientDataAtS * 1000, hz);
  const stillRequest = (j: number) => (acceptJ === null || j < acceptJ) && (dropJ === null || j < dropJ);
  if (input.finalAckLost && dataJ !== null && stillRequest(dataJ)) {
    // The client's data carries the ACK: tcp_check_req() creates the child at once (data is not
    // a bare ACK, so a fault on bare ACKs lets it through).
    acceptJ = dataJ;
    dropJ = null;
    synAckJ = synAckJ.filter((t) => t < dataJ);
  }

  const notes = [
    `SYN+ACK retransmits: tcp_synack_retries = ${maxRetries}${input.socket.synCnt ? ' (TCP_SYNCNT on the listener)' : ''}, ` +
      'at TCP_TIMEOUT_INIT << num_timeout (1, 3, 7, 15, 31 s, ...) per reqsk_timer_handler(); the request is dropped ' +
      'at the first timer with num_timeout >= max (syn_ack_recalc)',
    synAckRtoMaxApplies(features)
      ? 'SYN+ACK backoff capped by the listener\'s tcp_rto_max (6.19+: tcp_reqsk_timeout(), 1e9d3005e02c "tcp: Apply max RTO to non-TFO SYN+ACK")'
      : 'SYN+ACK backoff capped by the constant TCP_RTO_MAX (120 s): tcp_rto_max_ms does not reach the request ' +
        'timer before 6.19 (reqsk_timeout(req, TCP_RTO_MAX); 1e9d3005e02c applies it from 6.19)',
    'tcp_syn_linear_timeouts does not apply (SYN-SENT only); SO_KEEPALIVE and TCP_USER_TIMEOUT have no effect ' +
      'on the request minisocket',
    'the application never sees this connection (errno null); with syncookies the SYN queue may be skipped ' +
      'only under SYN-queue pressure, not for one connection',
  ];
  if (input.finalAckLost && !input.clientAcksLost) {
    notes.push(
      'final ACK lost: the client is ESTABLISHED; it answers the first resent SYN+ACK with an ACK (or sends data), ' +
        'which tcp_check_req() turns into the child socket: accept() returns it then',
    );
  }
  if (input.finalAckLost && input.clientAcksLost) {
    notes.push(
      "every bare ACK of the client is lost: its answers to the resent SYN+ACKs never arrive, the request stays in " +
        'SYN-RECV until the client\'s first data (which tcp_check_req() turns into the child socket) or until it is dropped',
    );
  }

  return {
    phase: 'syn-recv',
    kernel: features.release,
    origin: 'the first SYN+ACK',
    events: [{ t: 0, side: 'server', packet: 'SYN-ACK', n: 0 }, ...throughSilentFirings(packetSeries(synAckJ, hz, 'server', 'SYN-ACK'), outcome.silentJ, hz)],
    closeAt: seconds(dropJ, hz),
    ...dropThroughSilentFirings((synAckJ.at(-1) ?? 0) / hz, dropJ, outcome.silentJ, hz),
    errno: null,
    acceptAt: acceptJ === null ? null : jiffiesToSeconds(acceptJ, hz),
    notes,
    inputs: {
      finalAckLost: !!input.finalAckLost,
      ...(input.clientAcksLost ? { clientAcksLost: true } : {}),
      ...(input.clientDataAtS !== undefined ? { clientDataAtS: input.clientDataAtS } : {}),
    },
  };
}
