// Reading an import's input: a file, or standard input for `-` (so `ykval-export | yubival … import` works).
import { readFile } from 'node:fs/promises'
import { CliError } from '../errors.js'

export interface Input {
  text: string
  /** For messages: the file name, or "standard input". */
  name: string
}

async function readStdin (): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

export async function readInput (file: string, what: string): Promise<Input> {
  if (file === '-') {
    if (process.stdin.isTTY === true) process.stderr.write(`yubival: reading ${what} from standard input (end with Ctrl-D)\n`)
    return { text: await readStdin(), name: 'standard input' }
  }
  try {
    return { text: await readFile(file, 'utf8'), name: file }
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
  }
}
