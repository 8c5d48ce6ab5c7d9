import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import type { z } from 'zod'

/**
 * The CLI keeps its state in one directory (HEARTH_HOME, default ~/.hearth), so two
 * people — or two bots — run side by side on one machine. Files hold secrets (the device's
 * private key, session tokens): they are written 0600 through a temp file and a rename.
 */
export function hearthHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.HEARTH_HOME ?? join(homedir(), '.hearth')
}

export class CorruptStateError extends Error {
  readonly file: string
  constructor(file: string, cause: unknown) {
    super(`${file} is not valid Hearth CLI state; remove it and log in again`, { cause })
    this.name = 'CorruptStateError'
    this.file = file
  }
}

export async function readState<T>(
  home: string,
  name: string,
  schema: z.ZodType<T>,
): Promise<T | null> {
  const file = join(home, name)
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  if (text.length > 1_000_000) throw new CorruptStateError(file, new Error('too large'))
  try {
    return schema.parse(JSON.parse(text))
  } catch (cause) {
    throw new CorruptStateError(file, cause)
  }
}

export async function writeState(home: string, name: string, value: unknown): Promise<void> {
  await mkdir(home, { recursive: true, mode: 0o700 })
  const file = join(home, name)
  const temp = `${file}.${process.pid}.tmp`
  await writeFile(temp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 })
  await chmod(temp, 0o600)
  await rename(temp, file)
}
