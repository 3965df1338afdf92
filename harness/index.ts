/**
 * deadpeer — the public API (`import … from 'deadpeer'`). Everything a project needs to ask the
 * real kernel how long its socket takes to notice a vanished peer: the tools (check, exec, audit),
 * the vanishing peer for tests of its own, the experiment engine and the kernel model for people
 * who write their own experiments. docs/API.md documents every export; anything not exported here
 * (or from 'deadpeer/vitest') is internal and cannot be imported from outside.
 */

// the tools: the same reports `deadpeer check --json`, `deadpeer exec --json` and `deadpeer audit --json` print
export { check } from './apps/check/check.js';
export type { CheckOptions, CheckSide, Duration } from './apps/check/args.js';
export { type CheckReport, type PhaseResult, type DrainResult, SERVER_DRAIN_WINDOW_S } from './apps/check/run.js';
export { PRESETS, type Preset, type SocketConfig, type KeepaliveConfig } from './apps/check/presets.js';
export { exec, type ExecReport } from './apps/exec/exec.js';
export type { AppPath, PathVerdict } from './apps/exec/path.js';
export type { ExecOptions } from './apps/exec/args.js';
export type { AppFault, AppLine, AskedOption, ServerSide } from './apps/exec/run.js';
export { recommend, type RecommendOptions, type RecommendReport } from './apps/recommend/recommend.js';
export { audit } from './apps/audit/audit.js';
export type { AuditOptions } from './apps/audit/args.js';
export type { AuditReport, AuditConnection, AuditGroup, AuditFinding, AuditNamespace, AuditVerdict, Direction } from './apps/audit/report.js';
export type { PhaseVerdict, PhaseAnswer, PhaseUnknown } from './apps/audit/model.js';
export type { TcpInfoRead } from './apps/socket-read.js';
export type { PhaseOutcome } from './apps/recommend/search.js';
export { CLIENT_NAMES, type ClientName } from './apps/recommend/clients.js';

// a peer that vanishes, for a test's own program
export { VanishingPeer, VANISH_KINDS, type VanishKind, type PeerOptions, type PeerProgram, type ProgramLine, type ProgramExit, type PeerConnection, type SpawnOptions } from './engine/peer.js';

// writing experiments: a spec, its steps and faults, run on the kernel → an Observation
export { runScenario } from './engine/scenario.js';
export type { ScenarioSpec, Step, EndpointSpec, Run } from './engine/run.js';
export { arm, blip, healAfter, listen, connect, established, accept, handshake, snapshot, hold, awaitClose, send, pump, read, closeSocket, measureRto, until, untilPacket } from './engine/steps.js';
export { faults, type Fault, type DropRule, type PacketClass } from './engine/faults.js';
export { connectPhase, idlePhase, busyPhase, zeroWindowPhase, zeroWindowModel, withBlip, USER_PHASES, PHASE_ORIGIN } from './recipes/phases.js';
export { serverIdlePhase, serverBusyPhase, serverZeroWindowPhase, SERVER_PHASES, SERVER_PHASE_ORIGIN, type ServerPhase, type ServerPhaseSetup } from './recipes/server-phases.js';
export type { UserPhase, PhaseSetup, BusyOptions, ZeroWindowOptions, ZeroWindowPeer } from './recipes/phases.js';
export { runningKernel } from './engine/kernel.js';
export { sideInput } from './core/observation.js';
export type { Observation, Packet, CloseEvent, TimerState, EffectiveSettings, RunSettings } from './core/observation.js';
export type { Side } from './core/side.js';
export type { SockOpt, TcpInfo } from './core/protocol.js';
export { SOCK_OPTS } from './core/protocol.js';
export type { ProfileName } from './core/profile.js';

// judging an Observation: the verdict the matchers use, and its side-by-side listing
export { judgeTimeline, windows, type TimelineVerdict, type EventVerdict } from './judge/verdict.js';
export { judgeAccept, type AcceptVerdict } from './judge/accept-verdict.js';
export { renderTimeline } from './judge/timeline-text.js';

// the kernel model: pure, no root
export {
  PHASES,
  predict,
  predictSynSent,
  predictSynRecv,
  predictDeferAccept,
  predictIdle,
  predictBusy,
  predictZeroWindow,
  featuresForRelease,
  defaultSysctls,
  defaultSocket,
  rtoFromRtt,
  OLDEST_RELEASE,
  predictPath,
  MIDDLEBOX_PRESETS,
  parseMiddlebox,
  middleboxFamilyProblem,
} from './model/index.js';
export { predictBlip, type BlipVerdict } from './model/blip.js';
export { INHERITANCE, LISTENER_OPTS, inheritedOptions, type Inheritance, type ListenerOpt } from './model/inherit.js';
export { predictionWindows, type PredictionWindows, type FiringWindow } from './model/windows.js';
export type {
  Phase,
  Prediction,
  ModelEvent,
  ModelInput,
  PhaseInput,
  KernelFeatures,
  SocketSettings,
  TcpSysctls,
  BusyInput,
  ZeroWindowInput,
  PacketKind,
  CloseBudget,
  Middlebox,
  MiddleboxMode,
  MiddleboxKind,
  MiddleboxPreset,
  PathInput,
  PathPrediction,
  MappingKept,
} from './model/index.js';
export type { MiddleboxResult } from './apps/check/middlebox.js';

// the reference's advice as a utility: tell a slow reader from a dead one
export { DrainMonitor, type DrainPolicy, type DrainSample, type DrainVerdict, type DrainVerdictKind } from './apps/drain-monitor.js';

// refusals: bad input, or a machine that cannot run kernel experiments (both one line)
export { InputError, EnvironmentError } from './core/errors.js';
export { TimingLockError } from './suite/timing-lock.js';
