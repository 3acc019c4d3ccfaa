import { UserError } from '../job/errors.js'

/** Where this runner's Codex CLI comes from in the npm package and where it lands. */
export interface Platform {
  /** The suffix of the platform package's version: `0.171.0-linux-x64`. */
  npmSuffix: string
  /** The Rust target triple under `package/vendor/`. */
  triple: string
  /** The executable's file name. */
  exe: string
  /** The tool-cache architecture key. */
  arch: string
}

const TRIPLES: Record<string, string> = {
  'linux-x64': 'x86_64-unknown-linux-musl',
  'linux-arm64': 'aarch64-unknown-linux-musl',
  'darwin-x64': 'x86_64-apple-darwin',
  'darwin-arm64': 'aarch64-apple-darwin',
  'win32-x64': 'x86_64-pc-windows-msvc',
  'win32-arm64': 'aarch64-pc-windows-msvc'
}

export function platformFor(os: string, arch: string): Platform {
  const npmSuffix = `${os}-${arch}`
  const triple = TRIPLES[npmSuffix]
  if (!triple) {
    throw new UserError(
      `The Codex CLI is not published for ${os}/${arch}. Run this job on Linux, macOS or Windows on x64 or arm64, ` +
        'or install codex yourself and set install: false.'
    )
  }
  return { npmSuffix, triple, exe: os === 'win32' ? 'codex.exe' : 'codex', arch }
}
