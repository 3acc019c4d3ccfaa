// First, before the rest of the bundle loads (see no-debugger.ts).
import './helpers/no-debugger.js'
import { run } from './helpers/egress/server.js'

await run()
