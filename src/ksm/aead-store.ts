// The seam between the KSM and where AEADs live (files now, PostgreSQL later).
import type { AeadEntry } from './aead-file.js'

export interface AeadRecord extends AeadEntry {
  publicId: string
  /** Where the AEAD came from, for diagnostics (a file path, a table row); never secret. */
  source: string
}

export type AeadLoadResult =
  | { status: 'found', record: AeadRecord }
  /** Nothing stored for this public id; `tried` lists the places looked at. */
  | { status: 'missing', tried: string[] }
  /** Something is stored but cannot be read or parsed; pyhsm stops here and does not try further. */
  | { status: 'unreadable', source: string, detail: string }

export interface AeadStore {
  load (publicId: string): Promise<AeadLoadResult>
  /** A cached record without I/O, if the store has one (lets the hot path skip a promise round trip). */
  peek? (publicId: string): AeadRecord | undefined
}
