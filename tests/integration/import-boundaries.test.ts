// Dependencies point one way: identity <- sync <- apps and services. The linter enforces it;
// this test proves the rule bites, using the repository's own ESLint configuration.
import { ESLint } from 'eslint'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
// The files linted here do not exist, so type-aware parsing (and the rules that need it) is
// switched off; the import rules need no types.
const eslint = new ESLint({
  cwd: root,
  overrideConfig: [
    {
      languageOptions: { parserOptions: { projectService: false } },
      rules: {
        '@typescript-eslint/no-floating-promises': 'off',
        '@typescript-eslint/no-misused-promises': 'off',
      },
    },
  ],
})

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath })
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'no-restricted-imports')
    .map((m) => m.message)
}

describe('import boundaries', () => {
  it.each([
    ['packages/sync/src/x.ts', "import { startRouter } from '@hearth/router'\nvoid startRouter\n"],
    [
      'packages/sync/src/x.ts',
      "import { x } from '../../../services/router/src/index.ts'\nvoid x\n",
    ],
    ['packages/identity/src/x.ts', "import { x } from '@hearth/sync'\nvoid x\n"],
    ['packages/identity/src/x.ts', "import { x } from '@hearth/web'\nvoid x\n"],
  ])('%s may not import %j', async (file, code) => {
    expect(await restrictedImports(`${root}/${file}`, code)).not.toEqual([])
  })

  it.each([
    ['packages/sync/src/x.ts', "import { asDid } from '@hearth/identity'\nvoid asDid\n"],
    ['services/router/src/x.ts', "import { x } from '@hearth/sync'\nvoid x\n"],
  ])('%s may import %j', async (file, code) => {
    expect(await restrictedImports(`${root}/${file}`, code)).toEqual([])
  })
})
