import { run } from './helpers/key-proxy/server.js'

await run()
