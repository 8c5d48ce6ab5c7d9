import * as A from '@automerge/automerge'
import { describe, expect, it } from 'vitest'
import { generateDeviceKey } from '@hearth/identity'
import { validateChanges } from './change-rules.ts'
import { changesInDocument } from './chunks.ts'
import { DocumentState } from './document-state.ts'
import { actorIdFromPublicKey, BUCKET_CAPACITY, bucketKey } from './layout.ts'
import { buildSignedChange, createSignedDocument, entriesOf } from './signed-writer.ts'
import { makeTestEvent, readTestEvent, verifyTestEvent } from './testing.ts'
import { base64urlDecode } from './base64url.ts'

describe('signed writes', () => {
  it('builds changes the validator accepts, in the device’s own buckets', async () => {
    const { key } = await generateDeviceKey()
    const actor = actorIdFromPublicKey(key.publicKey)
    const bytes = await createSignedDocument(key, [await makeTestEvent(key, 'genesis')])
    let doc = A.load<Record<string, unknown>>(bytes)
    const own = {
      seq: 1,
      hash: A.getHeads(doc)[0],
      bucket: undefined as undefined | { index: number; objId: string; length: number },
    }
    own.bucket = {
      index: 0,
      objId: A.getObjectId(doc[bucketKey(actor, 0)] as unknown[])!,
      length: 1,
    }
    for (let i = 0; i < 3; i++) {
      const events = [await makeTestEvent(key, `m${i}a`), await makeTestEvent(key, `m${i}b`)]
      const built = await buildSignedChange(doc, key, own, entriesOf(events))
      // validated against the document as it stands
      const state = new DocumentState(() => doc)
      const result = await validateChanges(
        state.beginBatch(),
        [{ decoded: A.decodeChange(built.change), size: built.change.length }],
        verifyTestEvent,
      )
      expect(result.accepted).toHaveLength(1)
      ;[doc] = A.applyChanges(doc, [built.change])
    }
    const entries = doc[bucketKey(actor, 0)] as unknown as A.ImmutableString[]
    expect(entries).toHaveLength(7)
    const texts = entries.map((e) => readTestEvent(base64urlDecode(e.toString())!).text)
    expect(new Set(texts)).toEqual(new Set(['genesis', 'm0a', 'm0b', 'm1a', 'm1b', 'm2a', 'm2b']))
    // every change of the document validates from scratch, and the document round-trips
    const reloaded = A.load(A.save(doc))
    expect(A.getHeads(reloaded)).toEqual(A.getHeads(doc))
    const fresh = new DocumentState(() => undefined)
    const all = await validateChanges(
      fresh.beginBatch(),
      changesInDocument(A.save(doc)),
      verifyTestEvent,
    )
    expect(all.accepted).toHaveLength(4)
  })

  it('opens the next bucket when one is full', async () => {
    const { key } = await generateDeviceKey()
    const actor = actorIdFromPublicKey(key.publicKey)
    const event = await makeTestEvent(key, 'x')
    let doc = A.init<Record<string, unknown>>()
    const own = {
      seq: 0,
      hash: undefined as string | undefined,
      bucket: undefined as undefined | { index: number; objId: string; length: number },
    }
    const perChange = 200
    for (let i = 0; i < BUCKET_CAPACITY / perChange + 1; i++) {
      const built = await buildSignedChange(doc, key, own, entriesOf(Array(perChange).fill(event)))
      ;[doc] = A.applyChanges(doc, [built.change])
    }
    expect((doc[bucketKey(actor, 0)] as unknown[]).length).toBe(BUCKET_CAPACITY)
    expect((doc[bucketKey(actor, 1)] as unknown[]).length).toBe(perChange)
    const fresh = new DocumentState(() => undefined)
    const all = await validateChanges(
      fresh.beginBatch(),
      changesInDocument(A.save(doc)),
      verifyTestEvent,
    )
    expect(all.accepted).toHaveLength(BUCKET_CAPACITY / perChange + 1)
  })
})
