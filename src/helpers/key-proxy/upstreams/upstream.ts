/**
 * One kind of upstream credential the key proxy holds: which of Codex's requests it serves,
 * where each goes, and how each is authorized. server.ts and websocket.ts know nothing of the
 * credential itself; one file here per kind (api-key.ts, chatgpt-token.ts).
 */
import { timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

/** A request as the proxy will send it upstream. */
export interface Outgoing {
  method: string
  url: string
  /** Codex's headers, any caller's credential already dropped. */
  headers: Record<string, string | string[]>
  /** The whole body, for a kind with `signsBody` (otherwise it streams and is absent here). */
  body?: Buffer
}

/** Where one of Codex's requests goes. */
export interface Route {
  url: string
  /** A model request: counted by the meter, refused by a cap. */
  metered: boolean
}

export interface Upstream {
  /** What errors name as the upstream. */
  readonly origin: string
  /**
   * A kind that signs the whole request (method, path, headers, body: AWS SigV4) sets this:
   * the proxy then reads every body whole before `authorize`.
   */
  readonly signsBody?: boolean
  /**
   * Where `method url` goes, or undefined for a request without the capability (the
   * proof that Codex of this job sent it) or anything Codex does not ask of this upstream
   * (refused). `websocket`: an upgrade.
   */
  route(method: string, url: string, websocket: boolean, incoming: IncomingHttpHeaders): Route | undefined
  /** The headers to send: `outgoing.headers` with the credential set. `incoming`: Codex's, as they came. */
  authorize(outgoing: Outgoing, incoming: IncomingHttpHeaders): Promise<Record<string, string | string[]>>
  /**
   * For a kind whose upstream explains a refused credential in its own terms (Bedrock): a 401
   * or 403 answer (`errorType`, its body) as one line that says what to do, which Codex gets instead.
   */
  explainRefusal?(status: number, errorType: string, body: string): string
  /**
   * For a kind that can renew its credential (a ChatGPT sign-in): after a 401 to a request
   * sent with `outgoing` headers, undefined when the request may be sent again (authorize
   * sets the renewed credential), else what Codex gets instead: one line that says what to do.
   */
  recover?(outgoing: Record<string, string | string[]>, incoming: IncomingHttpHeaders): Promise<string | undefined>
  /**
   * For a kind that learns only afterwards that Codex met a refusal (workload identity: Codex's
   * refresh of its placeholder sign-in after a 401): the upstream answered 401 to a request, or a
   * websocket's upgrade, sent with `outgoing` headers. Called before Codex gets that answer.
   */
  refused?(outgoing: Record<string, string | string[]>): void
  /** How many times it renewed its credential (a sign-in's refreshes), for the status. */
  renewals?(): number
  /**
   * A renewal under way, settled (a sign-in's refresh): awaited at the stop, so that the file it
   * writes is there for the post step (the token endpoint has rotated the refresh token already).
   * Undefined when none is under way.
   */
  settle?(): Promise<void> | undefined
  /**
   * For a kind that answers a request itself rather than forwarding it (workload identity's
   * placeholder sign-in, refreshed by Codex after a 401): the JSON answer, else undefined.
   * `body` reads the request's body whole, for a kind that needs it.
   */
  answer?(
    method: string,
    url: string,
    incoming: IncomingHttpHeaders,
    body: () => Promise<Buffer>
  ): Promise<{ status: number; body: unknown } | undefined>
}

/** A whole request of the proxy's own (a kind that fetches its credential), through the proxy's client. */
export type Fetch = (
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string
) => Promise<{ status: number; text: string }>

/** Whether `text` starts with `prefix`, compared in constant time (a capability). */
export function startsWithSecret(text: string, prefix: string): boolean {
  const expected = Buffer.from(prefix)
  const head = Buffer.from(text.slice(0, prefix.length))
  return head.length === expected.length && timingSafeEqual(head, expected)
}

/** The part of `path` before its query. */
export const withoutQuery = (path: string): string => {
  const query = path.indexOf('?')
  return query < 0 ? path : path.slice(0, query)
}
