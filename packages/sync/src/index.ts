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
  isKind,
  parseSignedEvent,
  unsignedFields,
} from './events/codec.ts'
export type { EventParseReason, ParseResult } from './events/codec.ts'
export { normaliseParents, openSignedEvent, signEvent, verifySpaceEvent } from './events/sign.ts'
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
export type { StateSnapshot } from './reducer/snapshot.ts'
