import { expect } from '@jest/globals'
import { UserError } from '../../src/job/errors.js'

/** The message of the UserError that `fn` throws; fails the test if it throws anything else or nothing. */
export function userErrorMessage(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(UserError)
    return (error as Error).message
  }
  throw new Error('expected a UserError')
}
