// Runs every benchmark file (packages/*/bench/*.ts, services/*/bench/*.ts) in its own Node
// process, one after another (benchmarks must not compete for the two cores).
//   npm run bench [-- <substring of a path>]
import { spawnSync } from 'node:child_process'
import { readdirSync, existsSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = join(import.meta.dirname, '..')
const filter = process.argv[2] ?? ''
const files: string[] = []
for (const area of ['packages', 'services', 'apps']) {
  const dir = join(root, area)
  if (!existsSync(dir)) continue
  for (const pkg of readdirSync(dir)) {
    const bench = join(dir, pkg, 'bench')
    if (!existsSync(bench)) continue
    for (const f of readdirSync(bench).sort())
      if (f.endsWith('.ts') && !f.endsWith('.d.ts')) files.push(join(bench, f))
  }
}
const selected = files.filter((f) => relative(root, f).includes(filter))
let failed = 0
for (const file of selected) {
  console.log(`\n=== ${relative(root, file)} ===`)
  const run = spawnSync(process.execPath, ['--expose-gc', file], { stdio: 'inherit', cwd: root })
  if (run.status !== 0) failed++
}
if (selected.length === 0) console.log('no benchmark files found')
process.exit(failed > 0 ? 1 : 0)
