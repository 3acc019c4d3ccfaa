/**
 * Node flags for the detached helpers, which move bytes and wait: TurboFan's compilations
 * and a large young generation cost them more memory (about 10 MB during a burst of
 * streams) than they gain in speed. Plain JS so that the benchmark starts the key proxy
 * with the same flags as startDetached does. Never a secret here: argv is public.
 */
export const HELPER_NODE_FLAGS = ['--no-opt', '--max-semi-space-size=1']
