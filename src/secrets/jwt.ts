/**
 * The `exp` of a JWT, read without verifying anything (only to warn and to fail early);
 * undefined for anything else, such as an `at-…` token, or an `exp` no date can hold.
 */
export function jwtExpiry(token: string): Date | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  try {
    const exp: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')).exp
    // Beyond Date's range (±8.64e15 ms) a date is invalid, and printing it would throw.
    const date = typeof exp === 'number' ? new Date(exp * 1000) : undefined
    return date && !Number.isNaN(date.getTime()) ? date : undefined
  } catch {
    return undefined
  }
}

/** The token's `iat`, or undefined. */
export function jwtIssuedAt(token: string): Date | undefined {
  try {
    const iat: unknown = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')).iat
    return typeof iat === 'number' ? new Date(iat * 1000) : undefined
  } catch {
    return undefined
  }
}
