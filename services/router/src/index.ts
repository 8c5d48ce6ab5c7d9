// @hearth/router: the authenticated WebSocket sync relay.
export { createRouterApp, LXM_CREATE_TICKET, SYNC_PATH } from './app.ts'
export type { RouterAppDeps } from './app.ts'
export { RateLimitedError, toHttpError } from './errors.ts'
export { ConnectionCaps, TokenBuckets } from './limits.ts'
export type { ConnectionRefusal } from './limits.ts'
export { createRouterMetrics } from './metrics.ts'
export type { RouterMetrics } from './metrics.ts'
export { DEFAULT_LIMITS, startRouter } from './server.ts'
export type {
  RouterLimits,
  RouterOptions,
  RunningRouter,
  SyncEndpoint,
  SyncPeer,
} from './server.ts'
export { TICKET_TTL_MS, TicketError, TicketStore } from './tickets.ts'
export type { TicketFailure } from './tickets.ts'
export { ChunkTooLargeError, InvalidStorageKeyError, StorageClosedError } from './storage/errors.ts'
export type { CorruptChunkEvent, CorruptChunkReason } from './storage/errors.ts'
export {
  decodeKey,
  encodeKey,
  MAX_KEY_BYTES,
  MAX_KEY_PARTS,
  prefixRange,
} from './storage/key-codec.ts'
export { MemoryStorageAdapter } from './storage/memory-adapter.ts'
export type { MemoryStorageBacking } from './storage/memory-adapter.ts'
export {
  DEFAULT_MAX_CHUNK_BYTES,
  MAX_QUARANTINED_CHUNKS,
  SqliteStorageAdapter,
} from './storage/sqlite-adapter.ts'
export type { SqliteStorageOptions } from './storage/sqlite-adapter.ts'
export { automergeChunkValidator, isWellFormedAutomergeData } from './storage/automerge-chunks.ts'
export { ACK_TYPE, createSyncEndpoint } from './sync/sync-endpoint.ts'
export type { AckFrame, HearthSyncEndpoint, SyncEndpointOptions } from './sync/sync-endpoint.ts'
export { MAX_PEER_ID_CHARS, peerIdBelongsTo, peerIdFor } from './sync/peer-id.ts'
export { AuthenticatedSocketAdapter, CLOSE_POLICY } from './sync/socket-adapter.ts'
export type { GateOutcome, SessionInfo, SocketAdapterOptions } from './sync/socket-adapter.ts'
export { MAX_PENDING_CREATIONS, SpaceDirectory } from './sync/space-directory.ts'
export type { SpaceAccessView } from './sync/space-directory.ts'
export { encodeFrame, MalformedFrameError, parseClientFrame } from './sync/wire.ts'
export type { ClientFrame, DocFrame, JoinFrame, UnavailableFrame } from './sync/wire.ts'
export { StorageLockedError } from './storage/errors.ts'
export { openRouterStorage, ROUTER_STORAGE_FILE } from './storage/router-storage.ts'
export type { RouterStorageOptions } from './storage/router-storage.ts'
export { MAX_PUSH_CHANGES, PUSH_TYPE } from './sync/sync-endpoint.ts'
export type { PushFrame } from './sync/sync-endpoint.ts'
export { CLIENT_PUSH_TYPE, MAX_CLIENT_PUSH_CHANGES } from './sync/wire.ts'
export type { PushInFrame } from './sync/wire.ts'
export { createLogger, isLogLevel, silentLogger } from './log.ts'
export type { LogFields, Logger, LoggerOptions, LogLevel } from './log.ts'
export { DEFAULT_FRAME_LIMITS, refusalLabel, SessionGuard } from './limits-frames.ts'
export type { FrameLimits, SessionGuardOptions } from './limits-frames.ts'
export { DEFAULT_EPHEMERAL_LIMITS, EphemeralRelay } from './sync/ephemeral-relay.ts'
export type {
  EphemeralDropReason,
  EphemeralLimits,
  EphemeralRelayOptions,
} from './sync/ephemeral-relay.ts'
export { CLOSE_TRY_LATER, MAX_PENDING_FRAMES } from './sync/socket-adapter.ts'
export type { Admission } from './sync/socket-adapter.ts'
