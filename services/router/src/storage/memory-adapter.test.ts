import { runStorageContract } from './contract.ts'
import { MemoryStorageAdapter, type MemoryStorageBacking } from './memory-adapter.ts'

runStorageContract('memory', async () => {
  const backing: MemoryStorageBacking = new Map()
  const maxChunkBytes = 256 * 1024
  const harness = {
    adapter: new MemoryStorageAdapter({ backing, maxChunkBytes }),
    maxChunkBytes,
    async reopen() {
      harness.adapter = new MemoryStorageAdapter({ backing, maxChunkBytes })
      return harness.adapter
    },
    teardown() {},
  }
  return harness
})
