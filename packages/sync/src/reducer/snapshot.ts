import { sha256 } from '@noble/hashes/sha2'
import { toHex, utf8 } from '@hearth/identity'
import type { SpaceState } from './types.ts'

/** A plain, sorted copy of a state: equal snapshots mean equal states, whatever the arrival order. */
export type StateSnapshot = ReturnType<typeof snapshotState>

const byKey = <T>(entries: Iterable<[string, T]>): Array<[string, T]> =>
  [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
const sorted = (values: Iterable<string>): string[] => [...values].sort()

export function snapshotState(state: SpaceState) {
  return {
    spaceId: state.spaceId,
    mode: state.mode,
    creator: state.creator,
    profile: { ...state.profile },
    automod: state.automod ? { ...state.automod, keywords: [...state.automod.keywords] } : null,
    members: byKey(state.members).map(([, m]) => ({
      ...m,
      keys: sorted(m.keys),
      revokedKeys: sorted(m.revokedKeys),
    })),
    memberProfiles: byKey(state.memberProfiles).map(([did, p]) => ({ did, ...p })),
    proposals: byKey(state.proposals).map(([, p]) => ({
      ...p,
      electorate: sorted(p.electorate),
      votes: sorted(p.votes),
    })),
    containers: byKey(state.containers).map(([, c]) => ({ ...c })),
    messages: byKey(state.messages).map(([, m]) => ({
      ...m,
      reactions: byKey(m.reactions).map(([emoji, dids]) => [emoji, sorted(dids)] as const),
    })),
    invalid: byKey(state.invalid).map(([id, e]) => ({ id, ...e })),
    pending: byKey(state.pending).map(([id, reason]) => ({ id, reason })),
    applied: state.applied,
  }
}

/** SHA-256 of the snapshot's JSON: one line to compare replicas. */
export function stateDigest(state: SpaceState): string {
  return toHex(sha256(utf8(JSON.stringify(snapshotState(state)))))
}
