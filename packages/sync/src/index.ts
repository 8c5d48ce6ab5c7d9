// @hearth/sync: signed space events and the reducer that turns them into a space's state.

// Events: encoding, ids, signatures, parsing untrusted input
export {
  AUTHORITY_KINDS,
  bodySchemas,
  EVENT_ID_PATTERN,
  EVENT_KINDS,
  isEventId,
  MAX_AUTOMOD_KEYWORDS,
  MAX_EMOJI_CHARS,
  MAX_EVENT_BYTES,
  MAX_MOVE_MESSAGES,
  MAX_NAME_CHARS,
  MAX_PARENTS,
  MAX_PINNED_KEYS,
  MAX_TEXT_CHARS,
  ROLES,
  SPACE_MODES,
} from './events/schema.ts'
export type {
  EventBody,
  EventId,
  EventKind,
  Role,
  SpaceEvent,
  SpaceId,
  SpaceMode,
  UnsignedEvent,
} from './events/schema.ts'
export {
  base32Decode,
  base32Encode,
  computeEventId,
  encodeSignedEvent,
  encodeUnsignedEvent,
  EVENT_ID_DOMAIN,
  EVENT_SIG_DOMAIN,
  eventIdToBytes,
  EventParseError,
  bodyProblem,
  isKind,
  parseEventEnvelope,
  parseSignedEvent,
  unsignedFields,
} from './events/codec.ts'
export type { EventParseReason, ParseResult } from './events/codec.ts'
export {
  normaliseParents,
  openEventEnvelope,
  openSignedEvent,
  signEvent,
  verifySpaceEvent,
} from './events/sign.ts'
export type { EventDraft, EventSigner } from './events/sign.ts'

// Reducer: the state of a space as a pure function of its events
export { reduce, SpaceReducer } from './reducer/space-reducer.ts'
export type { ReducerFaults, SpaceReducerOptions } from './reducer/space-reducer.ts'
export { compareOrd } from './reducer/types.ts'
export type {
  AutomodSettings,
  ContainerType,
  ContainerView,
  InvalidEntry,
  InvalidReason,
  MemberStatus,
  MemberView,
  MessageView,
  Ord,
  PendingReason,
  ProposalAction,
  ProposalView,
  SpaceProfile,
  SpaceState,
} from './reducer/types.ts'
export { snapshotState, stateDigest } from './reducer/snapshot.ts'
export {
  CHECKPOINT_VERSION,
  encodeCheckpoint,
  InvalidCheckpointError,
  MAX_CHECKPOINT_BYTES,
  MAX_CHECKPOINT_EVENTS,
  parseCheckpoint,
} from './reducer/checkpoint.ts'
export type { SpaceCheckpoint } from './reducer/checkpoint.ts'
export {
  containerOf,
  MESSAGES_PER_PAGE,
  NO_CONTAINER,
  openPagedCheckpoint,
  PAGED_CHECKPOINT_VERSION,
  pagedCheckpoint,
  PagedSpace,
  partsLoader,
} from './reducer/checkpoint-paged.ts'
export type {
  ContainerPages,
  LoadPart,
  PagedCheckpoint,
  SpaceSummary,
} from './reducer/checkpoint-paged.ts'
export type { StateSnapshot } from './reducer/snapshot.ts'

// Automerge storage of space events: layout, signed writes, the change validator
export {
  actorIdFromKeyId,
  actorIdFromPublicKey,
  BUCKET_CAPACITY,
  bucketKey,
  CHANGE_DOMAIN,
  DocumentRegistry,
  isActorId,
  MAX_CHANGE_BYTES,
  MAX_ENTRY_CHARS,
  MAX_EVENTS_PER_CHANGE,
  MAX_SYNC_MESSAGE_BYTES,
  MESSAGE_DOCUMENT_CAPACITY,
  messageDocumentId,
  parseBucketKey,
  spaceDocumentId,
} from './automerge/layout.ts'
export type { ActorId, DocumentRole } from './automerge/layout.ts'
export { base64urlDecode, base64urlEncode } from './automerge/base64url.ts'
export {
  changeSigningBytes,
  formatChangeMessage,
  parseChangeMessage,
  signChange,
  verifyChangeSignature,
} from './automerge/change-signature.ts'
export type { AllowedOp, ChangeSignature, SignableChange } from './automerge/change-signature.ts'
export {
  changesInBlob,
  changesInDocument,
  MalformedChunkError,
  splitChunks,
} from './automerge/chunks.ts'
export type { Chunk, IncomingChange } from './automerge/chunks.ts'
export { ChangeRejectedError, validateChanges } from './automerge/change-rules.ts'
export type {
  Equivocation,
  RejectionKind,
  ValidatedChanges,
  VerifyEvent,
} from './automerge/change-rules.ts'
export { BatchView, DocumentState } from './automerge/document-state.ts'
export type {
  AcceptedChange,
  BucketInfo,
  ChangeMeta,
  StructureView,
} from './automerge/document-state.ts'
export {
  ChangeValidator,
  importVerified,
  MessageRejectedError,
} from './automerge/change-validator.ts'
export type { AcceptedPayload, ChangeValidatorOptions } from './automerge/change-validator.ts'
export { MAX_BANNED_PEERS, ValidatingNetworkAdapter } from './automerge/validating-adapter.ts'
export type { PeerRejection, ValidatingAdapterOptions } from './automerge/validating-adapter.ts'
export {
  buildSignedChange,
  createSignedDocument,
  entriesOf,
  SignedWriter,
  WriteError,
} from './automerge/signed-writer.ts'
export type { BuiltChange, OwnState } from './automerge/signed-writer.ts'
export { verifySpaceEventBytes } from './automerge/space-events.ts'
export { SpaceEventFeed } from './automerge/space-feed.ts'
export { createValidatedRepo } from './automerge/validated-repo.ts'
export type { ValidatedRepo, ValidatedRepoOptions } from './automerge/validated-repo.ts'
export { MemoryLinkAdapter } from './automerge/memory-network.ts'
export type { Deliver } from './automerge/memory-network.ts'

// The verified local store: one storage seam, a contract suite every backend runs
export { assertStoreKey, InvalidStoreKeyError, MemoryStoreAdapter } from './store/store-adapter.ts'
export type { StoreAdapter, StoreEntry, StoreKey } from './store/store-adapter.ts'
export { CorruptStoreError, VerifiedStore } from './store/verified-store.ts'
export type { SpaceSnapshot } from './store/verified-store.ts'

// The client: one signed-in device's Repo, its connection to the router, its spaces
export {
  ACK_TYPE,
  encodeRouterFrame,
  MalformedRouterFrameError,
  MAX_PUSH_CHANGES,
  MAX_ROUTER_FRAME_BYTES,
  parseRouterFrame,
  PUSH_TYPE,
} from './protocol/router-frames.ts'
export type { AckFrame, PushFrame, RouterFrame } from './protocol/router-frames.ts'
export { RouterConnection } from './client/router-connection.ts'
export type {
  ConnectionState,
  RouterConnectionOptions,
  WebSocketLike,
} from './client/router-connection.ts'
export { HearthClient, waitFor } from './client/hearth-client.ts'
export type { ConnectionStatus, HearthClientOptions } from './client/hearth-client.ts'
export { SpaceSession } from './client/space-session.ts'
export type { SessionContext } from './client/space-session.ts'
export type { Delivery } from './client/outbox.ts'
export { MAX_OUTBOX, MAX_SPACES } from './client/client-store.ts'
export type { OutboxEntry, SpaceEntry } from './client/client-store.ts'
export { LXM_CREATE_TICKET, routerSocketUrl, TicketRequestError } from './client/router-ticket.ts'
export type { RouterEndpoint, ServiceTokenSource } from './client/router-ticket.ts'
export { prefixedStore, StoreStorageAdapter } from './store/storage-bridge.ts'
export {
  IndexedDbStoreAdapter,
  IndexedDbStoreError,
  InvalidStoreValueError,
} from './store/indexeddb-store-adapter.ts'
export type { IndexedDbStoreOptions } from './store/indexeddb-store-adapter.ts'

// Ephemeral messages (presence, typing, pokes, call signalling), signed by the sender's device
export {
  EPHEMERAL_DOMAIN,
  EPHEMERAL_KINDS,
  EPHEMERAL_SKEW_MS,
  EPHEMERAL_TYPE,
  ephemeralBodySchemas,
  EphemeralParseError,
  ephemeralSigningFields,
  MAX_EPHEMERAL_FRAME_BYTES,
  MAX_SIGNAL_PAYLOAD_BYTES,
  parseEphemeral,
  signEphemeral,
  verifyEphemeral,
} from './protocol/ephemeral.ts'
export type {
  EphemeralBody,
  EphemeralDraft,
  EphemeralFrame,
  EphemeralKind,
  EphemeralParseReason,
  EphemeralParseResult,
} from './protocol/ephemeral.ts'

// The user's own document: followed spaces, read positions, preferences
export { userDocumentId } from './automerge/layout.ts'
export { verifyHearthEntry } from './automerge/entries.ts'
export {
  looksLikeUserRecord,
  MAX_USER_RECORD_BYTES,
  openUserRecord,
  parseUserRecord,
  signUserRecord,
  USER_RECORD_DOMAIN,
  userRecordBodies,
} from './user/user-record.ts'
export type { UserRecord, UserRecordBody, UserRecordType } from './user/user-record.ts'
export { UserDocument } from './user/user-document.ts'
export type { SpacePrefs, UserDocumentContext, UserState } from './user/user-document.ts'
export { EphemeralState, TYPING_TTL_MS } from './client/ephemeral-state.ts'
export type { PresenceState } from './client/ephemeral-state.ts'
export { decodeFrame, documentIdSchema } from './protocol/router-frames.ts'
