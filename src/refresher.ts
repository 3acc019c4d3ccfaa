import { refuseDebugger } from './helpers/detach.js'
import { run } from './helpers/refresher/refresher.js'

refuseDebugger()
await run()
