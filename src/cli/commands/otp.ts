// `yubival otp …`: troubleshooting one OTP.
import type { Command } from 'commander'
import { CliError } from '../errors.js'
import { keysCommand } from '../keys/common.js'
import { addDatabaseOptions, configFromOptions, type CommonOptionValues } from '../options.js'
import { decodeOtp, formatDecodeReport } from '../otp/decode.js'

interface DecodeOptions extends CommonOptionValues {
  json?: boolean
  nonce?: string
}

export function registerOtpCommands (program: Command): void {
  const group = program.command('otp').description('troubleshoot OTPs')
  addDatabaseOptions(keysCommand(group, 'decode'))
    .description('show what /wsapi/2.0/verify would answer for an OTP and why, without using it up: the AEAD file and key ' +
      'handle, the decrypted counters, the private uid and CRC checks, the stored counters and the verdict. Exit 0 if the ' +
      'answer would be OK, 1 otherwise')
    .argument('<OTP>', 'the OTP (as typed by the YubiKey)')
    .option('--json', 'print the report as JSON')
    .option('--nonce <nonce>', 'the nonce of the request to judge (REPLAYED_REQUEST needs the same nonce as the stored one)')
    .action(async (otp: string, opts: DecodeOptions) => {
      const report = await decodeOtp(configFromOptions(opts), otp, opts.nonce)
      process.stdout.write(opts.json === true ? JSON.stringify(report, null, 2) + '\n' : formatDecodeReport(report))
      if (report.verdict.status !== 'OK') throw new CliError(`verify would answer ${report.verdict.status}`)
    })
}
