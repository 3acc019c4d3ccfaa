import { run } from './helpers/refresher/refresher.js'

await run()
