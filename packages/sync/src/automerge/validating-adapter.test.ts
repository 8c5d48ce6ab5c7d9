import type { Message, PeerId } from '@automerge/automerge-repo'
import { describe, expect, it } from 'vitest'
import { ChangeValidator } from './change-validator.ts'
import { MemoryLinkAdapter } from './memory-network.ts'
import { verifyTestEvent } from './testing.ts'
import { ValidatingNetworkAdapter } from './validating-adapter.ts'
import { spaceDocumentId } from './layout.ts'

function wrappedPair() {
  const [inner, remote] = MemoryLinkAdapter.pair()
  const validator = new ChangeValidator({ verifyEvent: verifyTestEvent })
  const wrapped = new ValidatingNetworkAdapter(inner, validator)
  const received: Message[] = []
  wrapped.on('message', (m) => received.push(m))
  const candidate = new Promise<void>((resolve) => wrapped.once('peer-candidate', () => resolve()))
  wrapped.connect('alice' as PeerId)
  remote.connect('mallory' as PeerId)
  return { wrapped, inner, remote, received, candidate }
}

describe('ValidatingNetworkAdapter', () => {
  it('drops ephemeral messages and passes messages without document data, in order', async () => {
    const { wrapped, remote, received, candidate } = wrappedPair()
    await candidate
    const documentId = spaceDocumentId('x')
    const forwarded = new Promise((resolve) => wrapped.once('message', resolve))
    remote.inject({ type: 'ephemeral', documentId, data: new Uint8Array([1]) } as Omit<
      Message,
      'senderId' | 'targetId'
    >)
    remote.inject({ type: 'doc-unavailable', documentId })
    await forwarded
    expect(received.map((m) => m.type)).toEqual(['doc-unavailable'])
  })

  it('bans a peer that breaks a rule and stops forwarding its messages', async () => {
    const { wrapped, inner, remote, received, candidate } = wrappedPair()
    await candidate
    const disconnected = new Promise<void>((resolve) =>
      wrapped.once('peer-disconnected', () => resolve()),
    )
    remote.inject({
      type: 'sync',
      documentId: spaceDocumentId('x'),
      data: new Uint8Array([1, 2, 3]),
    })
    await disconnected
    expect(wrapped.bannedPeers.has('mallory' as PeerId)).toBe(true)
    // The wrapper listens first: once the link has delivered, the wrapper has already decided.
    const delivered = new Promise((resolve) => inner.once('message', resolve))
    remote.inject({ type: 'doc-unavailable', documentId: spaceDocumentId('x') })
    await delivered
    expect(received).toEqual([])
  })
})
