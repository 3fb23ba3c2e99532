// Public API of the OTP codec (pure functions, no I/O).
export * from './types.js'
export * from './modhex.js'
export * from './otp-string.js'
export * from './token.js'
