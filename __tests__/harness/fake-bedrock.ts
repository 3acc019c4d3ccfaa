/**
 * Amazon Bedrock's OpenAI-compatible endpoint ("Mantle") on loopback, as Codex 0.171.0
 * talks to it (docs/amazon-bedrock-protocol.md): the Responses API under /openai/v1, behind
 * AWS's authentication. A request needs a Bedrock API key as a bearer, or a SigV4 signature
 * for the service bedrock-mantle in its region, which is checked with the AWS SDK's own
 * signer (@smithy/signature-v4), the library the key proxy signs with. A missing, wrong,
 * stale or expired one gets 403 with AWS's error type and message. Behind the gate a model
 * answers: a reply with usage, or another server's `/v1/responses` (an AttackerModel).
 */
import { Sha256 } from '@aws-crypto/sha256-js'
import { SignatureV4 } from '@smithy/signature-v4'
import { timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { REPLY, sse } from './fake-openai.js'
import { LoopbackServer, sendJson, type TlsIdentity } from './servers.js'

export const SERVICE = 'bedrock-mantle'

/** Temporary credentials of an assumed role, shaped like real ones and valid nowhere, and their region. */
export const TEST_AWS_KEYS = {
  AWS_ACCESS_KEY_ID: 'ASIACODEXAUTHTEST0001',
  AWS_SECRET_ACCESS_KEY: 'codexAuthActionTestSecretAccessKey0123456789',
  AWS_SESSION_TOKEN: 'IQoJb3JpZ2luX2VjECodexAuthActionTestSessionToken0123456789abcdef'
}
export const BEDROCK_REGION = 'us-east-1'
/** The stand-in's `keys` that accept TEST_AWS_KEYS. */
export const TEST_AWS_IDENTITIES = {
  [TEST_AWS_KEYS.AWS_ACCESS_KEY_ID]: {
    secretAccessKey: TEST_AWS_KEYS.AWS_SECRET_ACCESS_KEY,
    sessionToken: TEST_AWS_KEYS.AWS_SESSION_TOKEN
  }
}

/** A pair of AWS keys the stand-in knows, by access key ID. */
export interface AwsIdentity {
  secretAccessKey: string
  sessionToken?: string
  /** A role session that has ended: AWS answers ExpiredTokenException. */
  expired?: boolean
}

export interface FakeBedrockOptions {
  region: string
  keys?: Record<string, AwsIdentity>
  /** Bedrock API keys it accepts as bearers. */
  apiKeys?: string[]
  tls?: TlsIdentity
  /** Where the model's answers come from: `<origin>/v1/responses` (an AttackerModel's server). */
  model?: { origin: string }
  /** total_tokens a reply reports (input + output). */
  tokens?: number
}

/** A refusal as AWS's front doors give it: 403, the error type in x-amzn-ErrorType, a JSON message. */
type Refusal = [type: string, message: string]

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/

export class FakeBedrock {
  readonly server: LoopbackServer
  /** How each request was authenticated: `sigv4 <AKID>`, `bearer`, or the refusal's type. */
  readonly verdicts: string[] = []

  constructor(private readonly options: FakeBedrockOptions) {
    this.server = new LoopbackServer((req, res, body) => this.answer(req, res, body), options.tls)
  }

  get apiBaseUrl(): string {
    return `${this.server.origin}/openai/v1`
  }

  start(): Promise<this> {
    return this.server.start().then(() => this)
  }

  stop(): Promise<void> {
    return this.server.stop()
  }

  private async answer(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const refusal = await this.authenticate(req, body)
    if (refusal) {
      this.verdicts.push(refusal[0])
      res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': refusal[0] })
      return void res.end(JSON.stringify({ message: refusal[1] }))
    }
    const url = (req.url ?? '').split('?')[0]
    if (req.method === 'GET' && url === '/openai/v1/models')
      return sendJson(res, 200, { object: 'list', data: [{ id: 'openai.gpt-5.5', object: 'model' }] })
    if (req.method !== 'POST' || url !== '/openai/v1/responses')
      return sendJson(res, 404, { message: `no route for ${req.method} ${url}` })
    if (this.options.model) {
      const answer = await fetch(`${this.options.model.origin}/v1/responses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body
      })
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'text/event-stream' })
      return void res.end(Buffer.from(await answer.arrayBuffer()))
    }
    const tokens = this.options.tokens ?? 2
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.end(
      sse([
        { type: 'response.created', response: { id: 'resp_1' } },
        {
          type: 'response.output_item.done',
          item: { type: 'message', role: 'assistant', id: 'msg_1', content: [{ type: 'output_text', text: REPLY }] }
        },
        {
          type: 'response.completed',
          response: {
            id: 'resp_1',
            usage: { input_tokens: tokens - 1, output_tokens: 1, total_tokens: tokens }
          }
        }
      ])
    )
  }

  /** Undefined when the request carries a valid credential, else AWS's refusal. */
  private async authenticate(req: IncomingMessage, body: string): Promise<Refusal | undefined> {
    const authorization = req.headers.authorization ?? ''
    if (!authorization) return ['MissingAuthenticationTokenException', 'Missing Authentication Token']
    if (authorization.startsWith('Bearer ')) {
      if (!(this.options.apiKeys ?? []).includes(authorization.slice(7)))
        return ['UnrecognizedClientException', 'The security token included in the request is invalid.']
      this.verdicts.push('bearer')
      return undefined
    }
    const parts = AUTH.exec(authorization)
    if (!parts)
      return [
        'IncompleteSignatureException',
        'Authorization header requires a Credential, SignedHeaders and Signature.'
      ]
    const [, keyId, day, region, service, signedHeaders, signature] = parts
    const identity = this.options.keys?.[keyId]
    if (!identity) return ['UnrecognizedClientException', 'The security token included in the request is invalid.']
    if ((req.headers['x-amz-security-token'] ?? undefined) !== identity.sessionToken)
      return ['UnrecognizedClientException', 'The security token included in the request is invalid.']
    if (identity.expired) return ['ExpiredTokenException', 'The security token included in the request is expired']
    if (service !== SERVICE)
      return ['InvalidSignatureException', `Credential should be scoped to correct service: '${SERVICE}'.`]
    if (region !== this.options.region)
      return ['InvalidSignatureException', `Credential should be scoped to a valid region.`]
    const stamp = String(req.headers['x-amz-date'] ?? '')
    const signingDate = /^\d{8}T\d{6}Z$/.test(stamp)
      ? new Date(
          `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`
        )
      : undefined
    if (!signingDate || stamp.slice(0, 8) !== day)
      return ['IncompleteSignatureException', 'Date must be in ISO-8601 basic format in the x-amz-date header.']
    if (Math.abs(Date.now() - signingDate.getTime()) > 5 * 60_000)
      return ['InvalidSignatureException', `Signature expired: ${stamp} is now earlier than the time allowed.`]
    const names = signedHeaders.split(';')
    if (!names.includes('host'))
      return ['InvalidSignatureException', "'Host' must be a 'SignedHeader' in the AWS Authorization."]
    const headers: Record<string, string> = {}
    for (const name of names) headers[name] = String(req.headers[name] ?? '')
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`)
    const signer = new SignatureV4({
      service,
      region,
      credentials: {
        accessKeyId: keyId,
        secretAccessKey: identity.secretAccessKey,
        sessionToken: identity.sessionToken
      },
      sha256: Sha256,
      applyChecksum: false
    })
    const expected = await signer.sign(
      {
        method: req.method ?? '',
        protocol: 'http:',
        hostname: url.hostname,
        port: url.port ? Number(url.port) : undefined,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers,
        body: Buffer.from(body)
      },
      { signingDate, signableHeaders: new Set(names) }
    )
    const mine = Buffer.from(/Signature=([0-9a-f]{64})/.exec(String(expected.headers.authorization))?.[1] ?? '')
    if (mine.length !== 64 || !timingSafeEqual(mine, Buffer.from(signature)))
      return [
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'
      ]
    this.verdicts.push(`sigv4 ${keyId}`)
    return undefined
  }
}
