// First, before the rest of the bundle loads (see no-debugger.ts).
import './helpers/no-debugger.js'
import { run } from './helpers/key-proxy/server.js'

await run()
