export const SERVICE_FRAGMENT = 'hearth_keyserver'

export interface ServiceIdentity {
  /** `did:web:<host%3Aport>` */
  did: string
  /** `<did>#hearth_keyserver`: the only audience our tokens may carry. */
  audience: string
  /** Where clients reach us; the `serviceEndpoint` of our DID document. */
  url: string
}

/**
 * `hostPort` is how clients reach the keyserver (`localhost:2584`, `keys.example.com`).
 * did:web encodes the port's colon as %3A.
 */
export function serviceIdentity(hostPort: string, options: { https: boolean }): ServiceIdentity {
  if (!/^[a-z0-9.-]+(:\d{1,5})?$/i.test(hostPort))
    throw new TypeError(`not a host[:port]: ${hostPort}`)
  const host = hostPort.toLowerCase()
  const did = `did:web:${host.replace(':', '%3A')}`
  return {
    did,
    audience: `${did}#${SERVICE_FRAGMENT}`,
    url: `${options.https ? 'https' : 'http'}://${host}`,
  }
}

export function serviceDidDocument(identity: ServiceIdentity): object {
  return {
    '@context': ['https://www.w3.org/ns/did/v1'],
    id: identity.did,
    service: [
      {
        id: `#${SERVICE_FRAGMENT}`,
        type: 'HearthKeyserver',
        serviceEndpoint: identity.url,
      },
    ],
  }
}
