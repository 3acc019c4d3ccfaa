import type { Dispatcher } from 'undici'

/** A response whose status the caller cannot use; retriable when the server may recover. */
export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly retryAfterMs?: number,
    /** The start of the response body: an API's error code lives there. */
    readonly body = '',
    readonly headers: Dispatcher.ResponseData['headers'] = {}
  ) {
    super(`HTTP ${status} from ${url}`)
  }
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH/

/** The first `code` along an error's causes. */
export function errorCode(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** Why a request failed, in words a workflow author can act on. */
export function describeFailure(error: unknown): string {
  if (error instanceof HttpStatusError) {
    if (error.status === 401 || error.status === 403) {
      return `${error.message}: the registry refused access (a private mirror may need registry-token, or the request was rate-limited)`
    }
    if (error.status === 429) return `${error.message}: rate-limited by the registry; try again later`
    return error.message
  }
  const code = errorCode(error)
  const message = error instanceof Error ? error.message : String(error)
  if (code && TLS_CODES.test(code)) {
    return `TLS verification failed (${code}): the server's certificate is not trusted. Behind a TLS-intercepting proxy, give its root CA in ca-certificate or ca-certificate-file`
  }
  return code && !message.includes(code) ? `${message} (${code})` : message
}
