import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileStoreAdapter } from './file-store-adapter.ts'
import { MemoryStoreAdapter } from './store-adapter.ts'
import { runStoreAdapterContract } from './store-adapter-contract.ts'

runStoreAdapterContract('memory', async () => ({ adapter: new MemoryStoreAdapter() }))

runStoreAdapterContract('files', async () => {
  const root = await mkdtemp(join(tmpdir(), 'hearth-store-'))
  return {
    adapter: new FileStoreAdapter(root),
    reopen: async () => new FileStoreAdapter(root),
    teardown: () => rm(root, { recursive: true, force: true }),
  }
})
