/**
 * Structured logs: one JSON object per line on stdout (stderr for `error`), with `level`,
 * `time`, `event`, and only what an operator needs (`did` when known, `reason`, counts,
 * durations). Never message contents, tickets, tokens or frame bytes: callers pass fields,
 * not objects, and an `Error` is reduced to its name and message (S17: nothing a user wrote
 * may reach the logs).
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

/** What a log line may carry besides its event: scalars only, so no object leaks whole. */
export type LogFields = Record<string, string | number | boolean | null | undefined>

export interface Logger {
  debug(event: string, fields?: LogFields): void
  info(event: string, fields?: LogFields): void
  warn(event: string, fields?: LogFields): void
  error(event: string, fields?: LogFields & { error?: never }, error?: unknown): void
}

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface LoggerOptions {
  /** Lowest level written (default `info`; `HEARTH_LOG_LEVEL` in main.ts). */
  level?: LogLevel
  /** Where lines go (default: stdout, stderr for errors). Tests collect them here. */
  write?: (line: string, level: LogLevel) => void
  now?: () => Date
}

function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 500)
  return typeof error
}

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && value in ORDER
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? 'info']
  const now = options.now ?? (() => new Date())
  const write =
    options.write ??
    ((line: string, level: LogLevel) =>
      (level === 'error' ? process.stderr : process.stdout).write(`${line}\n`))
  const emit = (level: LogLevel, event: string, fields?: LogFields, error?: unknown): void => {
    if (ORDER[level] < min) return
    const line: Record<string, unknown> = { level, time: now().toISOString(), event }
    for (const [key, value] of Object.entries(fields ?? {}))
      if (value !== undefined && !(key in line)) line[key] = value
    if (error !== undefined) line.error = describeError(error)
    write(JSON.stringify(line), level)
  }
  return {
    debug: (event, fields) => emit('debug', event, fields),
    info: (event, fields) => emit('info', event, fields),
    warn: (event, fields) => emit('warn', event, fields),
    error: (event, fields, error) => emit('error', event, fields, error),
  }
}

/** Writes nothing (tests, embedding). */
export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
}
