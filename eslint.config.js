// One linter for the whole repository. Type-aware rules (no-floating-promises) run on
// every TypeScript file; import boundaries keep dependencies pointing one way:
// identity <- sync <- apps and services.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import svelte from 'eslint-plugin-svelte'
import globals from 'globals'
import svelteConfig from './svelte.config.js'

const appsAndServices = [
  '@hearth/web',
  '@hearth/cli',
  '@hearth/router',
  '@hearth/keyserver',
  '@hearth/resolver',
  '@hearth/devnet',
]
const relativeEscapes = ['**/apps/**', '**/services/**', '../../apps/**', '../../services/**']

export default tseslint.config(
  {
    ignores: [
      '**/node_modules/**',
      '.tools/**',
      '**/.svelte-kit/**',
      '**/build/**',
      '.data/**',
      'test-results/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...svelte.configs.recommended,
  {
    languageOptions: {
      globals: { ...globals.node, ...globals.browser },
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
        extraFileExtensions: ['.svelte'],
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': [
        'error',
        { checksVoidReturn: { attributes: false } },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['**/*.svelte', '**/*.svelte.ts'],
    languageOptions: { parserOptions: { parser: tseslint.parser, svelteConfig } },
  },
  {
    files: ['**/*.js'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['packages/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...appsAndServices, ...relativeEscapes],
              message: 'packages never import apps or services',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/identity/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@hearth/sync', ...appsAndServices, ...relativeEscapes],
              message: 'identity is the bottom layer: it imports no other Hearth package',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/limits/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@hearth/*', ...relativeEscapes],
              message: 'limits is a leaf: it imports no other Hearth package',
            },
          ],
        },
      ],
    },
  },
)
