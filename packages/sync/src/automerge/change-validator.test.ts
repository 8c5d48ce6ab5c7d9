import * as A from '@automerge/automerge'
import type { DocumentId } from '@automerge/automerge-repo'
import { describe, expect, it } from 'vitest'
import { generateDeviceKey } from '@hearth/identity'
import { Prng } from '../harness/prng.ts'
import { ChangeRejectedError } from './change-rules.ts'
import { ChangeValidator } from './change-validator.ts'
import { spaceDocumentId } from './layout.ts'
import { buildSignedChange, entriesOf } from './signed-writer.ts'
import { makeTestEvent, verifyTestEvent } from './testing.ts'

describe('ChangeValidator on mangled bytes', () => {
  it('refuses or accepts every mutation of a valid sync message cleanly, and accepts only honest changes', async () => {
    const { key } = await generateDeviceKey()
    const own = { seq: 0, hash: undefined, bucket: undefined }
    let doc = A.init<unknown>()
    const honest = new Set<string>()
    for (let i = 0; i < 5; i++) {
      const built = await buildSignedChange(
        doc,
        key,
        own,
        entriesOf([await makeTestEvent(key, `m${i}`)]),
      )
      honest.add(built.hash)
      ;[doc] = A.applyChanges(doc, [built.change])
    }
    // What a first sync sends: a whole document chunk, and incremental change chunks.
    const messages = [
      A.encodeSyncMessage({
        heads: A.getHeads(doc),
        need: [],
        have: [],
        changes: [A.save(doc) as A.Change],
      }),
      A.encodeSyncMessage({
        heads: A.getHeads(doc),
        need: [],
        have: [],
        changes: A.getAllChanges(doc),
      }),
    ]
    const prng = new Prng(7)
    const documentId = spaceDocumentId('fuzz') as DocumentId
    let refused = 0
    let accepted = 0
    for (let round = 0; round < 300; round++) {
      const original = messages[round % messages.length]!
      const mutated = new Uint8Array(original)
      const flips = 1 + prng.int(4)
      for (let f = 0; f < flips; f++) mutated[prng.int(mutated.length)] ^= 1 << prng.int(8)
      const validator = new ChangeValidator({ verifyEvent: verifyTestEvent })
      try {
        const result = await validator.validateSyncMessage(documentId, mutated)
        for (const change of result.accepted) expect(honest.has(change.meta.hash)).toBe(true)
        accepted++
      } catch (error) {
        expect(error).toBeInstanceOf(ChangeRejectedError)
        refused++
      }
    }
    expect(refused).toBeGreaterThan(200)
    expect(refused + accepted).toBe(300)
  })
})
