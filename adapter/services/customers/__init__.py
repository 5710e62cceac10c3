"""Customers of the mobile app: people, not institutions.

A customer authenticates with two factors of different kinds (PSD2 RTS art. 4): a device key
unlocked by the user's biometric (WebAuthn, user verification required) plus a password, or a
password plus a TOTP code when enrolling a new device. The adapter verifies every factor itself:
the mobile back-end that relays the requests (its own client certificate, role `mobile`) cannot
act for a customer without the customer's device and password.

Modules, one concept each:
    principal    the customer as a caller of the existing services (CustomerPrincipal)
    passwords    Argon2id (RFC 9106) on its own bounded executor
    totp         RFC 6238 codes with replay refusal
    devices      WebAuthn registration and assertion (user verification, sign counts)
    lockout      consecutive failures -> growing lock -> permanent lock (RTS art. 4(3)(b))
    dpop         RFC 9449 proofs bound to the device key
    tokens       opaque access and rotating refresh tokens with family revocation
    sca          dynamic linking of a payment to its authentication code (RTS art. 5)
    service      the use cases that tie them together
"""
