import { Sha256 } from '@aws-crypto/sha256-js'
import { SignatureV4 } from '@smithy/signature-v4'
import { bedrockAuthorizer, explainRefusal, type BedrockUpstream } from '../../src/helpers/key-proxy/bedrock.js'
import { mantleEndpoint, parseBedrockAuth, parseProvider, parseRegion } from '../../src/inputs/bedrock.js'
import { getInputs } from '../../src/inputs/inputs.js'
import { userErrorMessage as message } from '../harness/user-error.js'

const KEYS = {
  AWS_ACCESS_KEY_ID: 'ASIAUNITTEST00000001',
  AWS_SECRET_ACCESS_KEY: 'unitTestSecretAccessKey0123456789',
  AWS_SESSION_TOKEN: 'unitTestSessionToken0123456789'
}
const BEARER = 'ABSKdW5pdFRlc3RCZWRyb2NrQXBpS2V5MDEyMzQ1Njc4OQ=='

describe('inputs', () => {
  test('provider: openai by default, amazon-bedrock, nothing else', () => {
    expect(parseProvider('')).toBe('openai')
    expect(parseProvider('amazon-bedrock')).toBe('amazon-bedrock')
    expect(message(() => parseProvider('bedrock'))).toBe('provider must be openai or amazon-bedrock, not "bedrock".')
  })

  test('the region: aws-region, then AWS_REGION, then AWS_DEFAULT_REGION; none is an error', () => {
    const env = { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'eu-central-1' }
    expect(parseRegion('us-east-1', env)).toBe('us-east-1')
    expect(parseRegion('', env)).toBe('eu-west-1')
    expect(parseRegion('', { AWS_DEFAULT_REGION: 'eu-central-1' })).toBe('eu-central-1')
    expect(parseRegion('', { AWS_REGION: 'us-gov-west-1' })).toBe('us-gov-west-1')
    expect(message(() => parseRegion('', {}))).toMatch(/^provider: amazon-bedrock needs a region: set aws-region/)
    expect(message(() => parseRegion('us east', {}))).toMatch(/is not an AWS region/)
    expect(mantleEndpoint('eu-west-1')).toBe('https://bedrock-mantle.eu-west-1.api.aws/openai/v1')
  })

  test('the credential: bedrock-api-key, else the AWS keys, else AWS_BEARER_TOKEN_BEDROCK', () => {
    const all = { ...KEYS, AWS_BEARER_TOKEN_BEDROCK: `${BEARER}x` }
    expect(parseBedrockAuth(BEARER, all).auth).toEqual({ kind: 'bearer', key: BEARER })
    expect(parseBedrockAuth('', all).auth).toEqual({
      kind: 'sigv4',
      keys: {
        accessKeyId: KEYS.AWS_ACCESS_KEY_ID,
        secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY,
        sessionToken: KEYS.AWS_SESSION_TOKEN
      }
    })
    const longLived = parseBedrockAuth('', { ...KEYS, AWS_SESSION_TOKEN: '' }).auth
    expect(longLived.kind === 'sigv4' && longLived.keys.sessionToken).toBeUndefined()
    expect(parseBedrockAuth('', { AWS_BEARER_TOKEN_BEDROCK: BEARER }).auth).toEqual({ kind: 'bearer', key: BEARER })
    expect(message(() => parseBedrockAuth('', {}))).toMatch(
      /needs AWS credentials: run aws-actions\/configure-aws-credentials/
    )
    expect(message(() => parseBedrockAuth('', { AWS_ACCESS_KEY_ID: KEYS.AWS_ACCESS_KEY_ID }))).toMatch(
      /^AWS_SECRET_ACCESS_KEY is empty but AWS_ACCESS_KEY_ID is set/
    )
    expect(message(() => parseBedrockAuth('', { ...KEYS, AWS_ACCESS_KEY_ID: 'not a key' }))).toMatch(
      /does not look like an AWS access key ID/
    )
    expect(message(() => parseBedrockAuth('two words', {}))).toMatch(/^bedrock-api-key does not look like/)
  })

  test('getInputs: the key proxy always, the endpoint from the region unless api-base-url names one', () => {
    const saved = { ...process.env }
    Object.assign(process.env, KEYS, { AWS_REGION: 'us-west-2' })
    try {
      const read = (values: Record<string, string>) => (name: string) =>
        ({ provider: 'amazon-bedrock', 'api-base-url': 'https://api.openai.com/v1', ...values })[name] ?? ''
      const inputs = getInputs(read({}))
      expect(inputs).toMatchObject({ provider: 'amazon-bedrock', keyIsolation: 'proxy' })
      expect(inputs.bedrock).toMatchObject({
        region: 'us-west-2',
        endpoint: 'https://bedrock-mantle.us-west-2.api.aws/openai/v1'
      })
      expect(inputs.credentials).toBeUndefined()
      const vpc = getInputs(
        read({ 'api-base-url': 'https://vpce-1.bedrock-mantle.us-west-2.vpce.amazonaws.com/openai/v1' })
      )
      expect(vpc.bedrock?.endpoint).toBe('https://vpce-1.bedrock-mantle.us-west-2.vpce.amazonaws.com/openai/v1')
      expect(message(() => getInputs(read({ 'export-env': 'true' })))).toMatch(
        /^export-env: true cannot be used with provider: amazon-bedrock/
      )
      const openai = getInputs((name) =>
        name === 'api-base-url'
          ? 'https://api.openai.com/v1'
          : name === 'api-key'
            ? 'sk-proj-abcdefghijklmnopqrstuvwxyz012345'
            : ''
      )
      expect([openai.provider, openai.bedrock]).toEqual(['openai', undefined])
    } finally {
      for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name]
      Object.assign(process.env, saved)
    }
  })
})

describe('the key proxy side', () => {
  const sigv4: BedrockUpstream = {
    region: 'us-east-1',
    auth: {
      kind: 'sigv4',
      keys: {
        accessKeyId: KEYS.AWS_ACCESS_KEY_ID,
        secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY,
        sessionToken: KEYS.AWS_SESSION_TOKEN
      }
    }
  }
  const url = 'https://bedrock-mantle.us-east-1.api.aws/openai/v1/responses'

  test('SigV4: a signature the AWS signer reproduces; Codex headers kept unsigned, session_id dropped', async () => {
    const body = Buffer.from('{"model":"openai.gpt-5.5","input":[]}')
    const headers = await bedrockAuthorizer(sigv4)(
      url,
      'POST',
      { 'content-type': 'application/json', session_id: 's', 'session-id': 's', 'x-codex-turn-metadata': '{}' },
      body
    )
    expect(headers.session_id).toBeUndefined()
    expect(headers['session-id']).toBe('s')
    expect(headers['x-amz-security-token']).toBe(KEYS.AWS_SESSION_TOKEN)
    expect(headers['x-amz-content-sha256']).toBeUndefined()
    const authorization = String(headers.authorization)
    expect(authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=ASIAUNITTEST00000001\/\d{8}\/us-east-1\/bedrock-mantle\/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/
    )
    const stamp = String(headers['x-amz-date'])
    const again = await new SignatureV4({
      service: 'bedrock-mantle',
      region: 'us-east-1',
      sha256: Sha256,
      applyChecksum: false,
      credentials: sigv4.auth.kind === 'sigv4' ? sigv4.auth.keys : { accessKeyId: '', secretAccessKey: '' }
    }).sign(
      {
        method: 'POST',
        protocol: 'https:',
        hostname: 'bedrock-mantle.us-east-1.api.aws',
        path: '/openai/v1/responses',
        query: {},
        headers: { host: 'bedrock-mantle.us-east-1.api.aws', 'content-type': 'application/json' },
        body
      },
      {
        signingDate: new Date(
          `${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)}T${stamp.slice(9, 11)}:${stamp.slice(11, 13)}:${stamp.slice(13, 15)}Z`
        )
      }
    )
    expect(again.headers.authorization).toBe(authorization)
  })

  test('a bearer for a Bedrock API key', async () => {
    const headers = await bedrockAuthorizer({ region: 'us-east-1', auth: { kind: 'bearer', key: BEARER } })(
      url,
      'POST',
      { session_id: 's' },
      undefined
    )
    expect(headers).toEqual({ authorization: `Bearer ${BEARER}` })
  })

  test("AWS's refusals, each as one line that says what to do", () => {
    const explain = (type: string, body: string, status = 403) => explainRefusal(sigv4, status, type, body)
    expect(
      explain('ExpiredTokenException', '{"message":"The security token included in the request is expired"}')
    ).toMatch(/session has expired.*role-duration-seconds/)
    expect(explain('InvalidSignatureException', '{}')).toMatch(/SigV4 signature: check that AWS_SECRET_ACCESS_KEY/)
    expect(explain('', 'Signature expired: 20260101T000000Z is now earlier than …')).toMatch(/clock/)
    expect(explain('UnrecognizedClientException', '')).toMatch(/does not know these AWS credentials/)
    expect(explain('AccessDeniedException', '')).toMatch(/IAM policy/)
    expect(explain('', 'something else')).toBeUndefined()
    expect(explain('ExpiredTokenException', '', 500)).toBeUndefined()
    expect(explainRefusal({ region: 'us-east-1', auth: { kind: 'bearer', key: BEARER } }, 401, '', '')).toMatch(
      /refused the Bedrock API key/
    )
  })
})
