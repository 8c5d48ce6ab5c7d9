import type { Did } from './ids.ts'

/**
 * A Hearth service's own identity: `did:web:<host%3Aport>` plus a service fragment
 * (`#hearth_keyserver`, `#hearth_router`). Service-auth tokens must carry exactly
 * `<did>#<fragment>` as their audience — which is also what granular OAuth scopes need
 * (`rpc:<lxm>?aud=<did>%23<fragment>`).
 */
export interface ServiceIdentity {
  did: Did
  fragment: string
  audience: string
  /** Where clients reach the service; the `serviceEndpoint` of its DID document. */
  url: string
}

export function serviceIdentity(
  hostPort: string,
  fragment: string,
  options: { https: boolean },
): ServiceIdentity {
  if (!/^[a-z0-9.-]+(:\d{1,5})?$/i.test(hostPort))
    throw new TypeError(`not a host[:port]: ${hostPort}`)
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(fragment))
    throw new TypeError(`not a service fragment: ${fragment}`)
  const host = hostPort.toLowerCase()
  const did = `did:web:${host.replace(':', '%3A')}` as Did
  return {
    did,
    fragment,
    audience: `${did}#${fragment}`,
    url: `${options.https ? 'https' : 'http'}://${host}`,
  }
}

/** The did:web document served at `/.well-known/did.json`. */
export function serviceDidDocument(identity: ServiceIdentity, serviceType: string): object {
  return {
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: identity.did,
    service: [{ id: `#${identity.fragment}`, type: serviceType, serviceEndpoint: identity.url }],
  }
}
