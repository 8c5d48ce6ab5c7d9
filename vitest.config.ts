import { defineConfig } from 'vitest/config'

// Three projects: `unit` (pure logic and in-process services, beside the code),
// `integration` (real devnet, real sockets) and `browser` (Playwright driving Debian's Chromium).
// `expect.poll` waits for what a page or a process shows; its 1 s default is a speed goal in
// disguise that fails on a loaded machine (seen: sign-in under load average 10).
const POLL = { timeout: 15_000 }

export default defineConfig({
  test: {
    projects: [
      {
        // The root tsconfig for every transform: apps/web's own extends Kit's generated
        // $app/tsconfig, which exists only after `svelte-kit sync` (and npm prunes it).
        tsconfig: './tsconfig.json',
        test: {
          name: 'unit',
          include: [
            'packages/*/src/**/*.test.ts',
            'services/*/src/**/*.test.ts',
            'apps/cli/src/**/*.test.ts',
            'apps/web/src/**/*.test.ts',
          ],
          // Timeouts are a safety net, not a speed goal (speed lives in `npm run bench`):
          // generous enough for a loaded 2-core CI machine running in-process Repos.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          expect: { poll: POLL },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        tsconfig: './tsconfig.json',
        test: {
          name: 'browser',
          include: ['tests/browser/**/*.test.ts'],
          expect: { poll: POLL },
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
})
