// Writes test-vectors/events.json: encoding, ids and signatures of space events that every
// implementation of Hearth must agree on, with invalid cases. Regenerate only when the event
// format changes:   node packages/sync/scripts/generate-vectors.ts
// The keys are throwaway test keys (private JWKs included so other implementations can re-sign).
import { writeFileSync } from 'node:fs'
import * as dagCbor from '@ipld/dag-cbor'
import { asDid, deviceKeyFromKeyPair, toHex } from '@hearth/identity'
import type { DeviceKey } from '@hearth/identity'
import {
  encodeSignedEvent,
  encodeUnsignedEvent,
  EVENT_ID_DOMAIN,
  EVENT_SIG_DOMAIN,
  eventIdToBytes,
  signEvent,
  unsignedFields,
  type SpaceEvent,
} from '../src/index.ts'

async function makeKey(): Promise<{ key: DeviceKey; privateJwk: JsonWebKey }> {
  const keyPair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])
  return {
    key: await deviceKeyFromKeyPair(keyPair),
    privateJwk: await crypto.subtle.exportKey('jwk', keyPair.privateKey),
  }
}

const alice = await makeKey()
const bob = await makeKey()
const aliceDid = asDid('did:plc:ewvi7nxzyoun6zhxrhs64oiz')
const bobDid = asDid('did:plc:3jpt2mvvsumj2r7eqk4gzzjz')
const ts = 1_767_225_600_000

const genesis = await signEvent(alice.key, {
  space: null,
  kind: 'genesis',
  author: aliceDid,
  parents: [],
  ts,
  body: { mode: 'INVITES_ONLY', name: 'Hearth vectors', nonce: 'vector-nonce-0001' },
})
const invite = await signEvent(alice.key, {
  space: genesis.id,
  kind: 'invite',
  author: aliceDid,
  parents: [genesis.id],
  ts: ts + 1,
  body: { invitee: bobDid, keys: [bob.key.keyId] },
})
const join = await signEvent(bob.key, {
  space: genesis.id,
  kind: 'join',
  author: bobDid,
  parents: [invite.id],
  ts: ts + 2,
  body: {},
})
const message = await signEvent(bob.key, {
  space: genesis.id,
  kind: 'message',
  author: bobDid,
  parents: [join.id],
  ts: ts + 3,
  body: { text: 'héllo, hearth 🔥' },
})

const bob2 = await makeKey()
const bind = await signEvent(bob.key, {
  space: genesis.id,
  kind: 'device.add',
  author: bobDid,
  parents: [message.id],
  ts: ts + 4,
  body: { key: bob2.key.keyId, name: 'phone' },
})
const reaction = await signEvent(alice.key, {
  space: genesis.id,
  kind: 'reaction.add',
  author: aliceDid,
  parents: [message.id],
  ts: ts + 5,
  body: { target: message.id, emoji: '🔥' },
})
const edit = await signEvent(bob2.key, {
  space: genesis.id,
  kind: 'edit',
  author: bobDid,
  parents: [bind.id, reaction.id],
  ts: ts + 6,
  body: { text: 'hello, hearth', target: message.id },
})
const proposal = await signEvent(alice.key, {
  space: genesis.id,
  kind: 'proposal',
  author: aliceDid,
  parents: [edit.id],
  ts: ts + 7,
  body: { action: 'role', target: bobDid, role: 'moderator' },
})

function valid(name: string, e: SpaceEvent) {
  return {
    name,
    id: e.id,
    unsignedHex: toHex(encodeUnsignedEvent(e)),
    signatureHex: toHex(e.sig),
    wireHex: toHex(encodeSignedEvent(e)),
    valid: true,
  }
}

function wire(e: object, sig: Uint8Array): string {
  return toHex(dagCbor.encode({ e, s: sig }))
}

// The order of the P-256 group: s and n - s both verify under plain ECDSA.
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n
function highS(sig: Uint8Array): Uint8Array {
  const out = new Uint8Array(sig)
  out.set(hex32(N - BigInt('0x' + toHex(sig.subarray(32)))), 32)
  return out
}
function hex32(n: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'))
}

const m = unsignedFields(message)
const wrongDomainSig = await bob.key.sign('hearth/not-an-event/v1', eventIdToBytes(message.id))
const fullWire = encodeSignedEvent(message)

const vectors = {
  description:
    'Hearth space events. unsigned = DAG-CBOR of {v, space, kind, author, key, parents, ts, body}; ' +
    `id = base32-lower-nopad(SHA-256("${EVENT_ID_DOMAIN}" || 0x00 || unsigned)); signature = low-S ECDSA P-256 ` +
    `(see @hearth/identity signatures.json) over domain "${EVENT_SIG_DOMAIN}" and the 32 id bytes; ` +
    'wire = DAG-CBOR of {e: unsigned event, s: 64-byte r||s}. Invalid cases give the parse/verify reason.',
  idDomain: EVENT_ID_DOMAIN,
  signatureDomain: EVENT_SIG_DOMAIN,
  keys: [
    { name: 'alice', did: aliceDid, keyId: alice.key.keyId, privateJwk: alice.privateJwk },
    { name: 'bob', did: bobDid, keyId: bob.key.keyId, privateJwk: bob.privateJwk },
    { name: 'bob2', did: bobDid, keyId: bob2.key.keyId, privateJwk: bob2.privateJwk },
  ],
  spaceId: genesis.id,
  valid: [
    valid('genesis', genesis),
    valid('invite with pinned key', invite),
    valid('join', join),
    valid('message (unicode)', message),
    valid('device.add (second device)', bind),
    valid('reaction.add', reaction),
    valid('edit from the second device, two parents', edit),
    valid('proposal (role)', proposal),
  ],
  invalid: [
    { name: 'high-S signature', wireHex: wire(m, highS(message.sig)), reason: 'bad-signature' },
    {
      name: 'signature for another domain',
      wireHex: wire(m, wrongDomainSig),
      reason: 'bad-signature',
    },
    {
      name: 'truncated wire bytes',
      wireHex: toHex(fullWire.subarray(0, fullWire.length - 5)),
      reason: 'malformed',
    },
    {
      name: 'signed by another key than the one named',
      wireHex: wire({ ...m, key: alice.key.keyId }, message.sig),
      reason: 'bad-signature',
    },
    {
      name: 'altered body',
      wireHex: wire({ ...m, body: { text: 'héllo, hearth 🧊' } }, message.sig),
      reason: 'bad-signature',
    },
    {
      name: 'altered author',
      wireHex: wire({ ...m, author: aliceDid }, message.sig),
      reason: 'bad-signature',
    },
    {
      name: 'oversized (70 KiB text)',
      wireHex: wire({ ...m, body: { text: 'x'.repeat(70 * 1024) } }, message.sig),
      reason: 'oversized',
    },
    {
      name: 'text over 16 KiB',
      wireHex: wire({ ...m, body: { text: 'x'.repeat(16 * 1024 + 1) } }, message.sig),
      reason: 'schema',
    },
    {
      name: 'unknown field in body',
      wireHex: wire({ ...m, body: { text: 'hi', extra: 1 } }, message.sig),
      reason: 'schema',
    },
    {
      name: 'mode change smuggled into a profile change (R2)',
      wireHex: wire({ ...m, kind: 'space.profile', body: { mode: 'PUBLIC' } }, message.sig),
      reason: 'schema',
    },
    {
      name: 'unknown kind',
      wireHex: wire({ ...m, kind: 'mode.change', body: {} }, message.sig),
      reason: 'schema',
    },
    {
      name: 'unsorted parents',
      wireHex: wire({ ...m, parents: [join.id, invite.id].sort().reverse() }, message.sig),
      reason: 'schema',
    },
    {
      name: 'genesis with parents',
      wireHex: wire({ ...unsignedFields(genesis), parents: [invite.id] }, genesis.sig),
      reason: 'genesis-shape',
    },
    {
      name: 'non-genesis without space',
      wireHex: wire({ ...m, space: null }, message.sig),
      reason: 'genesis-shape',
    },
    {
      name: 'genesis with an unknown mode (R1)',
      wireHex: wire(
        { ...unsignedFields(genesis), body: { ...genesis.body, mode: 'OPEN' } },
        genesis.sig,
      ),
      reason: 'schema',
    },
    {
      name: 'malformed DID as invitee (R7)',
      wireHex: wire({ ...unsignedFields(invite), body: { invitee: 'bob.test' } }, invite.sig),
      reason: 'schema',
    },
    {
      name: 'signature of 63 bytes',
      wireHex: wire(m, message.sig.subarray(0, 63)),
      reason: 'schema',
    },
    { name: 'not CBOR', wireHex: toHex(new TextEncoder().encode('{"e":{}}')), reason: 'malformed' },
  ],
}

const out = new URL('../test-vectors/events.json', import.meta.url)
writeFileSync(out, JSON.stringify(vectors, null, 2) + '\n')
console.log(
  `wrote ${out.pathname}: ${vectors.valid.length} valid, ${vectors.invalid.length} invalid`,
)
