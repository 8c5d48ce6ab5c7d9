import type { Plugin } from 'vite'

/**
 * cbor-x (automerge-repo's CBOR codec) probes `new Function('')` when it loads, to decide
 * whether it may compile decoders. Under our CSP (no 'unsafe-eval') the probe throws — it
 * is caught — but the browser reports a CSP violation on every start. This applies the
 * substitution cbor-x's own no-eval build makes (the probe calls an undefined
 * `BlockedFunction` instead), so the code takes the same no-eval path without touching
 * the policy. Fails the build if the probe's text changes.
 */
export function cborNoEval(): Plugin {
  const PROBE = "new Function('')"
  return {
    name: 'hearth-cbor-x-no-eval',
    enforce: 'pre',
    transform(code, id) {
      if (!/[\\/]cbor-x[\\/]decode\.js$/.test(id.split('?')[0] ?? '')) return null
      if (!code.includes(PROBE)) this.error(`cbor-x changed: no \`${PROBE}\` probe in ${id}`)
      return { code: code.replace(PROBE, "new BlockedFunction('')"), map: null }
    },
  }
}
