import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { afterEach, describe, expect, it } from 'vitest'
import type { Did } from '@hearth/identity'
import { migrate, openSqliteDeviceStore } from './storage.ts'
import type { DeviceStore } from './storage.ts'

const alice = 'did:plc:alice000000000000000000' as Did
const bob = 'did:plc:bob00000000000000000000' as Did

function device(did: Did, deviceId: string, registeredAt = '2026-01-01T00:00:00.000Z') {
  return {
    did,
    deviceId,
    key: `did:key:zDn${deviceId}`,
    name: 'laptop',
    createdAt: '2026-01-01T00:00:00.000Z',
    registeredAt,
  }
}

describe('openSqliteDeviceStore', () => {
  let store: DeviceStore | undefined
  const dirs: string[] = []
  afterEach(() => {
    store?.close()
    store = undefined
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  it('stores, lists and revokes devices per DID', () => {
    store = openSqliteDeviceStore(':memory:')
    store.putDevice(device(alice, 'aaaa'))
    store.putDevice(device(alice, 'bbbb', '2026-01-02T00:00:00.000Z'))
    store.putDevice(device(bob, 'cccc'))
    expect(store.listDevices(alice).map((d) => d.deviceId)).toEqual(['aaaa', 'bbbb'])
    expect(store.countRows()).toBe(3)
    expect(store.countActiveDevices(alice)).toBe(2)

    expect(store.revokeDevice(alice, 'aaaa', '2026-02-01T00:00:00.000Z', 'revoked')).toBe(true)
    expect(store.revokeDevice(alice, 'aaaa', '2026-03-01T00:00:00.000Z', 'revoked')).toBe(false)
    expect(store.revokeDevice(bob, 'aaaa', '2026-03-01T00:00:00.000Z', 'revoked')).toBe(false)
    expect(store.getDevice(alice, 'aaaa')).toMatchObject({
      revokedAt: '2026-02-01T00:00:00.000Z',
      revokedReason: 'revoked',
    })
    expect(store.countActiveDevices(alice)).toBe(1)
    expect(store.listDevices('did:plc:nobody' as Did)).toEqual([])
  })

  it('re-registering clears a revocation', () => {
    store = openSqliteDeviceStore(':memory:')
    store.putDevice(device(alice, 'aaaa'))
    store.revokeDevice(alice, 'aaaa', '2026-02-01T00:00:00.000Z', 'binding-missing')
    store.putDevice(device(alice, 'aaaa', '2026-03-01T00:00:00.000Z'))
    expect(store.getDevice(alice, 'aaaa')).toMatchObject({
      revokedAt: null,
      revokedReason: null,
      registeredAt: '2026-03-01T00:00:00.000Z',
    })
    expect(store.countRows()).toBe(1)
  })

  it('prunes the oldest revoked devices of one DID beyond a bound, never active ones', () => {
    store = openSqliteDeviceStore(':memory:')
    for (const [id, day] of [
      ['r1', '01'],
      ['r2', '02'],
      ['r3', '03'],
    ] as const) {
      store.putDevice(device(alice, id))
      store.revokeDevice(alice, id, `2026-02-${day}T00:00:00.000Z`, 'revoked')
    }
    store.putDevice(device(alice, 'live'))
    store.putDevice(device(bob, 'b1'))
    store.revokeDevice(bob, 'b1', '2026-01-01T00:00:00.000Z', 'revoked')
    expect(store.pruneRevoked(alice, 1)).toBe(2)
    expect(
      store
        .listDevices(alice)
        .map((d) => d.deviceId)
        .sort(),
    ).toEqual(['live', 'r3'])
    expect(store.listDevices(bob)).toHaveLength(1)
  })

  it('uses WAL on a file and survives reopening (migrations run once)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keyserver-'))
    dirs.push(dir)
    const path = join(dir, 'keys.sqlite')
    store = openSqliteDeviceStore(path)
    store.putDevice(device(alice, 'aaaa'))
    store.close()
    store = openSqliteDeviceStore(path)
    expect(store.listDevices(alice)).toHaveLength(1)

    const db = new Database(path, { readonly: true })
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('user_version', { simple: true })).toBe(1)
    db.close()
  })

  it('refuses a database from a newer keyserver', () => {
    const db = new Database(':memory:')
    migrate(db)
    db.pragma('user_version = 99')
    expect(() => migrate(db)).toThrow(/newer/)
    db.close()
  })

  it('refuses an unknown revocation reason at the schema level', () => {
    store = openSqliteDeviceStore(':memory:')
    store.putDevice(device(alice, 'aaaa'))
    expect(() => store!.revokeDevice(alice, 'aaaa', 'x', 'stolen' as 'revoked')).toThrow()
  })
})
