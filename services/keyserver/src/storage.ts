import Database from 'better-sqlite3'
import type { Did } from '@hearth/identity'

/** Why a device stopped being served as valid. */
export type RevokedReason = 'revoked' | 'binding-missing'

export interface StoredDevice {
  did: Did
  deviceId: string
  /** did:key of the device's P-256 public key. Public material only: nothing private is ever stored. */
  key: string
  /** From the owner's binding record. */
  name: string
  /** From the owner's binding record. */
  createdAt: string
  registeredAt: string
  revokedAt: string | null
  revokedReason: RevokedReason | null
}

export type NewDevice = Omit<StoredDevice, 'revokedAt' | 'revokedReason'>

/** The keyserver's whole persistent state. Small on purpose, so a fake or another engine fits. */
export interface DeviceStore {
  /** Inserts or replaces the device and clears any revocation (re-registering after re-publishing a binding). */
  putDevice(device: NewDevice): void
  /** Marks an active device revoked. Returns false when the DID has no such active device. */
  revokeDevice(did: Did, deviceId: string, at: string, reason: RevokedReason): boolean
  getDevice(did: Did, deviceId: string): StoredDevice | null
  listDevices(did: Did): StoredDevice[]
  countActiveDevices(did: Did): number
  /** Deletes the DID's oldest revoked devices beyond `keep`, so re-keying cannot grow a DID without bound. */
  pruneRevoked(did: Did, keep: number): number
  /** Total rows across all tables: what S5's "stores nothing" tests count. */
  countRows(): number
  close(): void
}

// Each entry runs once, in order, inside a transaction; `user_version` records how many ran.
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE device (
     did            TEXT NOT NULL,
     device_id      TEXT NOT NULL,
     key            TEXT NOT NULL,
     name           TEXT NOT NULL,
     created_at     TEXT NOT NULL,
     registered_at  TEXT NOT NULL,
     revoked_at     TEXT,
     revoked_reason TEXT CHECK (revoked_reason IN ('revoked', 'binding-missing')),
     PRIMARY KEY (did, device_id)
   ) WITHOUT ROWID`,
]

export function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > MIGRATIONS.length) {
    throw new Error(
      `database schema version ${current} is newer than this keyserver (${MIGRATIONS.length})`,
    )
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!)
      db.pragma(`user_version = ${version + 1}`)
    })()
  }
}

interface DeviceRow {
  did: string
  device_id: string
  key: string
  name: string
  created_at: string
  registered_at: string
  revoked_at: string | null
  revoked_reason: RevokedReason | null
}

function fromRow(row: DeviceRow): StoredDevice {
  return {
    did: row.did as Did,
    deviceId: row.device_id,
    key: row.key,
    name: row.name,
    createdAt: row.created_at,
    registeredAt: row.registered_at,
    revokedAt: row.revoked_at,
    revokedReason: row.revoked_reason,
  }
}

/** better-sqlite3 in WAL mode. `path` may be `:memory:` for tests. */
export function openSqliteDeviceStore(path: string): DeviceStore {
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  migrate(db)

  const put = db.prepare<[string, string, string, string, string, string]>(
    `INSERT INTO device (did, device_id, key, name, created_at, registered_at, revoked_at, revoked_reason)
     VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)
     ON CONFLICT (did, device_id) DO UPDATE SET
       key = excluded.key, name = excluded.name, created_at = excluded.created_at,
       registered_at = excluded.registered_at, revoked_at = NULL, revoked_reason = NULL`,
  )
  const revoke = db.prepare<[string, string, string, string]>(
    `UPDATE device SET revoked_at = ?, revoked_reason = ?
     WHERE did = ? AND device_id = ? AND revoked_at IS NULL`,
  )
  const getOne = db.prepare<[string, string], DeviceRow>(
    'SELECT * FROM device WHERE did = ? AND device_id = ?',
  )
  const list = db.prepare<[string], DeviceRow>(
    'SELECT * FROM device WHERE did = ? ORDER BY registered_at, device_id',
  )
  const countActive = db.prepare<[string], { n: number }>(
    'SELECT count(*) AS n FROM device WHERE did = ? AND revoked_at IS NULL',
  )
  const prune = db.prepare<[string, string, number]>(
    `DELETE FROM device WHERE did = ? AND device_id IN (
       SELECT device_id FROM device WHERE did = ? AND revoked_at IS NOT NULL
       ORDER BY revoked_at DESC, device_id LIMIT -1 OFFSET ?)`,
  )
  const countAll = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM device')

  return {
    putDevice(d) {
      put.run(d.did, d.deviceId, d.key, d.name, d.createdAt, d.registeredAt)
    },
    revokeDevice(did, deviceId, at, reason) {
      return revoke.run(at, reason, did, deviceId).changes > 0
    },
    getDevice(did, deviceId) {
      const row = getOne.get(did, deviceId)
      return row ? fromRow(row) : null
    },
    listDevices(did) {
      return list.all(did).map(fromRow)
    },
    countActiveDevices(did) {
      return countActive.get(did)!.n
    },
    pruneRevoked(did, keep) {
      return prune.run(did, did, keep).changes
    },
    countRows() {
      return countAll.get()!.n
    },
    close() {
      db.close()
    },
  }
}
