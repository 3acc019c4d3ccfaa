import { refuseDebugger } from './helpers/detach.js'
import { run } from './helpers/key-proxy/server.js'

refuseDebugger()
await run()
