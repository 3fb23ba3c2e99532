// A throwaway CA and a server certificate for 127.0.0.1 (subjectAltName IP:127.0.0.1), made with the
// openssl CLI, for HTTPS tests with real clients (ykclient --cai, pam_yubico cainfo=).
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'

export interface TestCa {
  caCert: string
  serverCert: string
  serverKey: string
  /** A key that does not belong to serverCert. */
  otherKey: string
}

function openssl (args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']

export function makeTestCa (dir: string): TestCa {
  const f = (name: string): string => path.join(dir, name)
  openssl(['req', '-x509', ...EC, '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '2', '-subj', '/CN=yubival test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir)
  openssl(['req', ...EC, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1'], dir)
  writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n')
  openssl(['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.pem'), '-days', '2', '-extfile', f('server.ext')], dir)
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', f('other.key')], dir)
  return { caCert: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server.key'), otherKey: f('other.key') }
}
