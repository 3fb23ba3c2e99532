/** An error the CLI reports as one line `yubival: <message>` with this exit code (no stack trace). */
export class CliError extends Error {
  constructor (message: string, readonly exitCode = 1) {
    super(message)
    this.name = 'CliError'
  }
}
