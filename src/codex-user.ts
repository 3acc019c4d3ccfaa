import { run } from './helpers/codex-user/wrapper.js'

run()
