/**
 * Polls `condition` until it returns something truthy or `timeoutMs` passes, and resolves
 * with its last value: a test asserts on that, so a timeout fails with what was seen
 * rather than a fixed sleep that is too short on a loaded machine or wastes time on an idle one.
 * @template T
 * @param {() => T | Promise<T>} condition
 * @param {number} [timeoutMs]
 * @param {number} [intervalMs]
 * @returns {Promise<T>}
 */
export async function waitFor(condition, timeoutMs = 5000, intervalMs = 50) {
  const until = Date.now() + timeoutMs
  for (;;) {
    const value = await condition()
    if (value || Date.now() >= until) return value
    await new Promise((resolve) => setTimeout(resolve, intervalMs))
  }
}
