/**
 * No debugger in a helper that holds a secret. Any process of the job's user can send
 * SIGUSR1 to a Node process, which then opens its inspector (unauthenticated, on
 * 127.0.0.1:9229), and a heap snapshot holds every secret. Node 22.14 and later refuse with
 * --disable-sigusr1 (node-flags). On older ones (Node 20) a SIGUSR1 listener of its own
 * takes the signal from the inspector: installed here, in the first module a helper's entry
 * imports, before the rest of its bundle loads. A signal that came earlier, while Node
 * started, has opened the inspector already: debuggerOpened() says so, before any secret is read.
 */
if (process.platform !== 'win32') process.on('SIGUSR1', () => undefined)

/** Whether this process's inspector is open: then it must not read its secret. */
export async function debuggerOpened(): Promise<boolean> {
  if (process.platform === 'win32' || process.execArgv.includes('--disable-sigusr1')) return false
  // Node opens the inspector a moment after the signal, from another thread: allow for that moment.
  await new Promise((resolve) => setTimeout(resolve, 50))
  const inspector = await import('node:inspector').catch(() => undefined)
  return inspector?.url() !== undefined
}
