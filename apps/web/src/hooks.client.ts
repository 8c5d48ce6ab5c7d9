import type { HandleClientError } from '@sveltejs/kit/hooks'

// Kit already shows unknown errors as a bare "Internal Error" (their texts can carry URLs
// or tokens from deep inside a library); log them for the developer console, and word the
// one framework error users meet (a mistyped address) plainly.
export const handleError: HandleClientError = (caught) => {
  if (caught.kind === 'unknown') {
    console.error(caught.error)
    return { message: 'Something unexpected happened. Reloading usually helps.' }
  }
  if (caught.kind === 'framework' && caught.error.status === 404) {
    return { message: 'This page does not exist.' }
  }
  return undefined
}
