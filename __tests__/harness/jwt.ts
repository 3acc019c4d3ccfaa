/** RS256 JWTs signed by keys the tests make. */
import { createSign, type KeyObject } from 'node:crypto'

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

export function signRs256(claims: object, key: KeyObject, kid: string): string {
  const signed = `${b64url({ alg: 'RS256', typ: 'JWT', kid })}.${b64url(claims)}`
  return `${signed}.${createSign('RSA-SHA256').update(signed).sign(key).toString('base64url')}`
}
