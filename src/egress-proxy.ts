import { refuseDebugger } from './helpers/detach.js'
import { run } from './helpers/egress/server.js'

refuseDebugger()
await run()
