// Reference §1.4 as a table: shared by the unit tests (fakes) and the same table on real stores.
import { NONCE, OTP1 } from './helpers.js'

const base = `id=1&otp=${OTP1}&nonce=${NONCE}`

export interface CheckOrderRow { name: string, q: string, status: string, reason: string, key: 'client' | 'empty' }

// key: which key signs the response. Early errors use the client key when `id` names an active
// client (deliberate difference 3), the empty key otherwise.
export const CHECK_ORDER_ROWS: CheckOrderRow[] = [
  { name: '1 nonce absent', q: `id=1&otp=${OTP1}`, status: 'MISSING_PARAMETER', reason: 'missing_nonce', key: 'client' },
  { name: '1 nonce empty', q: `id=1&otp=${OTP1}&nonce=`, status: 'MISSING_PARAMETER', reason: 'missing_nonce', key: 'client' },
  { name: '1 nonce "0" is falsy', q: `id=1&otp=${OTP1}&nonce=0`, status: 'MISSING_PARAMETER', reason: 'missing_nonce', key: 'client' },
  { name: '1 nonce only spaces', q: `id=1&otp=${OTP1}&nonce=%20%20`, status: 'MISSING_PARAMETER', reason: 'missing_nonce', key: 'client' },
  { name: '1 id alone', q: 'id=1', status: 'MISSING_PARAMETER', reason: 'missing_nonce', key: 'client' },
  { name: '1 beats bad otp and bad id', q: 'id=x&otp=zz', status: 'MISSING_PARAMETER', reason: 'missing_nonce', key: 'empty' },
  { name: '2 sl=0', q: `${base}&sl=0`, status: 'MISSING_PARAMETER', reason: 'bad_sl', key: 'client' },
  { name: '2 sl=-5', q: `${base}&sl=-5`, status: 'MISSING_PARAMETER', reason: 'bad_sl', key: 'client' },
  { name: '2 sl=abc', q: `${base}&sl=abc`, status: 'MISSING_PARAMETER', reason: 'bad_sl', key: 'client' },
  { name: '2 sl=.5', q: `${base}&sl=.5`, status: 'MISSING_PARAMETER', reason: 'bad_sl', key: 'client' },
  { name: '2 beats bad otp', q: `id=1&nonce=${NONCE}&sl=0`, status: 'MISSING_PARAMETER', reason: 'bad_sl', key: 'client' },
  { name: '3 timeout=abc', q: `${base}&timeout=abc`, status: 'MISSING_PARAMETER', reason: 'bad_timeout', key: 'client' },
  { name: '3 timeout=-1', q: `${base}&timeout=-1`, status: 'MISSING_PARAMETER', reason: 'bad_timeout', key: 'client' },
  { name: '3 timeout=1.5', q: `${base}&timeout=1.5`, status: 'MISSING_PARAMETER', reason: 'bad_timeout', key: 'client' },
  { name: '4 otp absent', q: `id=1&nonce=${NONCE}`, status: 'BAD_OTP', reason: 'bad_otp_format', key: 'client' },
  { name: '4 otp 31 chars', q: `id=1&nonce=${NONCE}&otp=${OTP1.slice(13)}`, status: 'BAD_OTP', reason: 'bad_otp_format', key: 'client' },
  { name: '4 otp 49 chars', q: `id=1&nonce=${NONCE}&otp=c${OTP1}ccccc`, status: 'BAD_OTP', reason: 'bad_otp_format', key: 'client' },
  { name: '4 otp not modhex', q: `id=1&nonce=${NONCE}&otp=${OTP1.slice(0, -1)}a`, status: 'BAD_OTP', reason: 'bad_otp_format', key: 'client' },
  { name: '4 otp as array', q: `id=1&nonce=${NONCE}&otp[]=${OTP1}`, status: 'BAD_OTP', reason: 'bad_otp_format', key: 'client' },
  { name: '4 beats bad id', q: `id=x&nonce=${NONCE}&otp=zz`, status: 'BAD_OTP', reason: 'bad_otp_format', key: 'empty' },
  { name: '4 unknown client', q: `id=3&nonce=${NONCE}`, status: 'BAD_OTP', reason: 'bad_otp_format', key: 'empty' },
  { name: '4 inactive client', q: `id=2&nonce=${NONCE}`, status: 'BAD_OTP', reason: 'bad_otp_format', key: 'empty' },
  { name: '5 id absent', q: `otp=${OTP1}&nonce=${NONCE}`, status: 'MISSING_PARAMETER', reason: 'bad_client_id', key: 'empty' },
  { name: '5 id=0', q: `id=0&otp=${OTP1}&nonce=${NONCE}`, status: 'MISSING_PARAMETER', reason: 'bad_client_id', key: 'empty' },
  { name: '5 id=00', q: `id=00&otp=${OTP1}&nonce=${NONCE}`, status: 'MISSING_PARAMETER', reason: 'bad_client_id', key: 'empty' },
  { name: '5 id empty', q: `id=&otp=${OTP1}&nonce=${NONCE}`, status: 'MISSING_PARAMETER', reason: 'bad_client_id', key: 'empty' },
  { name: '5 id 11 digits', q: `id=00000000001&otp=${OTP1}&nonce=${NONCE}`, status: 'MISSING_PARAMETER', reason: 'bad_client_id', key: 'empty' },
  { name: '5 id -1', q: `id=-1&otp=${OTP1}&nonce=${NONCE}`, status: 'MISSING_PARAMETER', reason: 'bad_client_id', key: 'empty' },
  { name: '5 id 1.0', q: `id=1.0&otp=${OTP1}&nonce=${NONCE}`, status: 'MISSING_PARAMETER', reason: 'bad_client_id', key: 'empty' },
  { name: '5 before nonce format', q: `id=x&otp=${OTP1}&nonce=short`, status: 'MISSING_PARAMETER', reason: 'bad_client_id', key: 'empty' },
  { name: '6 nonce 15 chars', q: `id=1&otp=${OTP1}&nonce=${'a'.repeat(15)}`, status: 'MISSING_PARAMETER', reason: 'bad_nonce', key: 'client' },
  { name: '6 nonce 41 chars', q: `id=1&otp=${OTP1}&nonce=${'a'.repeat(41)}`, status: 'MISSING_PARAMETER', reason: 'bad_nonce', key: 'client' },
  { name: '6 nonce not alnum', q: `id=1&otp=${OTP1}&nonce=kakakakakakaka-ka`, status: 'MISSING_PARAMETER', reason: 'bad_nonce', key: 'client' },
  { name: '6 nonce as array', q: `id=1&otp=${OTP1}&nonce[]=${NONCE}`, status: 'MISSING_PARAMETER', reason: 'missing_nonce', key: 'client' },
  { name: '8 unknown client', q: `id=3&otp=${OTP1}&nonce=${NONCE}`, status: 'NO_SUCH_CLIENT', reason: 'no_such_client', key: 'empty' },
  { name: '8 inactive client', q: `id=2&otp=${OTP1}&nonce=${NONCE}`, status: 'NO_SUCH_CLIENT', reason: 'no_such_client', key: 'empty' },
  { name: '8 leading zeros find client 1', q: `id=0001&otp=${OTP1}&nonce=${NONCE}`, status: 'OK', reason: 'ok', key: 'client' },
  { name: '8 before signature', q: `id=3&otp=${OTP1}&nonce=${NONCE}&h=bogus`, status: 'NO_SUCH_CLIENT', reason: 'no_such_client', key: 'empty' },
  { name: '9 bad signature', q: `${base}&h=bogus`, status: 'BAD_SIGNATURE', reason: 'bad_signature', key: 'client' },
  { name: '11 KSM does not know the key', q: `id=1&otp=${'cccccccccccb' + OTP1.slice(12)}&nonce=${NONCE}`, status: 'BAD_OTP', reason: 'unknown_key', key: 'client' },
  { name: '21 OK', q: base, status: 'OK', reason: 'ok', key: 'client' },
  { name: '21 OK with sl and timeout', q: `${base}&sl=secure&timeout=0`, status: 'OK', reason: 'ok', key: 'client' }
]
