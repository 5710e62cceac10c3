"""The customer side's refusals, as subclasses of the canonical tree (their REST status and
gRPC code follow from the parent: Unauthenticated 401 / UNAUTHENTICATED, Forbidden 403 /
PERMISSION_DENIED). Each message is safe to show and the same whether a username exists."""

from __future__ import annotations

from adapter.model.errors import Forbidden, Unauthenticated


class InvalidCredentials(Unauthenticated):
    code = "INVALID_CREDENTIALS"
    default_message = "the username, password, code or device signature is wrong"


class CustomerLocked(Forbidden):
    code = "CUSTOMER_LOCKED"
    default_message = "too many failed attempts: login is locked for a while"


class InvalidToken(Unauthenticated):
    """RFC 6750 section 3.1 `invalid_token`: unknown, expired, revoked or idle too long."""

    code = "INVALID_TOKEN"
    default_message = "the access token is missing, unknown, expired or revoked"


class ChallengeRefused(Unauthenticated):
    code = "CHALLENGE_REFUSED"
    default_message = "the challenge is unknown, used, expired or for something else"


class ScaRequired(Unauthenticated):
    """RFC 9470 `insufficient_user_authentication`: this payment needs its own strong
    customer authentication with dynamic linking (PSD2 RTS art. 5)."""

    code = "SCA_REQUIRED"
    default_message = ("this payment needs strong customer authentication: request a "
                       "challenge for it and sign it with the device")


class RelayRequired(Forbidden):
    code = "FORBIDDEN"
    default_message = "customer routes are served only to the bank's mobile back-end"
