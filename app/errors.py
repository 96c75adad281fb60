"""Every failure the API can report: one class each, one JSON shape for all.

    {"error": {"code": "<snake_case>", "message": "<human text>"}}

The message follows the request's Accept-Language (app/i18n.py); the code never changes.
"""
import logging

import sqlalchemy as sa
from flask import jsonify
from werkzeug.exceptions import HTTPException

from . import i18n, metrics
from .extensions import db, discard_session


class ApiError(Exception):
    status = 400
    code = "bad_request"
    message = "The request is not valid."
    headers: dict = {}

    def __init__(self, message: str | None = None, *, headers: dict | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        if headers:
            self.headers = headers


class InvalidRequest(ApiError):
    status, code, message = 400, "invalid_request", "The request is not valid."


class UnsupportedMediaType(ApiError):
    status, code, message = 415, "unsupported_media_type", "Send the body as application/json."


class NotAuthenticated(ApiError):
    status, code, message = 401, "not_authenticated", "Sign in first."


class InvalidToken(ApiError):
    status, code, message = 401, "invalid_token", "The token is missing, invalid or expired; sign in again."


class TokenRevoked(ApiError):
    status, code, message = 401, "token_revoked", "This sign-in was ended (logged out); sign in again."


class CrossSiteRequest(ApiError):
    status, code, message = 403, "cross_site_request", "Requests from other sites are not accepted here."


class BodyTimeout(ApiError):
    status, code, message = 408, "body_timeout", "The request body did not arrive in time."
    headers = {"Connection": "close"}  # the rest of that body may still be on its way


class NotBoundBrowser(ApiError):
    status, code, message = 403, "not_bound_browser", "This login code belongs to another browser."


class NotTicketOwner(ApiError):
    status, code, message = 403, "not_ticket_owner", "Only the person who scanned this code may do that."


class HostNotProtected(ApiError):
    status, code, message = 403, "host_not_protected", "This site is not one this service protects."


class TicketNotFound(ApiError):
    status, code, message = 404, "ticket_not_found", "No such login code."


class NotFound(ApiError):
    status, code, message = 404, "not_found", "Not found."


class InvalidTransition(ApiError):
    status, code, message = 409, "invalid_transition", "That step is not allowed for this login code now."


class TicketTaken(ApiError):
    status, code, message = 409, "ticket_taken", "Someone else has already scanned this login code."


class TicketExpired(ApiError):
    status, code, message = 410, "ticket_expired", "This login code has expired; refresh it on the computer."


class TicketCancelled(ApiError):
    status, code, message = 410, "ticket_cancelled", "This login was cancelled."


class TicketUsed(ApiError):
    status, code, message = 410, "ticket_used", "This login code has already been used."


class TicketDenied(ApiError):
    status, code, message = 410, "ticket_denied", "This login was refused: the account may not log in here."


class DevLoginDisabled(ApiError):
    status, code, message = 400, "dev_login_disabled", "Development sign-in codes are not accepted here."


class WeChatCodeInvalid(ApiError):
    status, code, message = 400, "wechat_code_invalid", "The wx.login code is invalid or expired; call wx.login again."


class WeChatCodeUsed(ApiError):
    status, code, message = 400, "wechat_code_used", "The wx.login code was already used; call wx.login again."


class WeChatUserBlocked(ApiError):
    status, code, message = 403, "wechat_user_blocked", "WeChat blocked this account as high-risk."


class WeChatRateLimited(ApiError):
    status, code, message = 429, "wechat_rate_limited", "Too many sign-ins; try again in a minute."
    headers = {"Retry-After": "60"}


class WeChatUnavailable(ApiError):
    status, code, message = 503, "wechat_unavailable", "WeChat is busy or unreachable; try again shortly."
    headers = {"Retry-After": "2"}


class WeChatFailed(ApiError):
    status, code, message = 502, "wechat_failed", "WeChat answered with an error."


class WeChatTimeout(WeChatUnavailable):
    # Same code as "unavailable": the caller's remedy is the same (try again shortly).
    message = "WeChat did not answer in time; try again shortly."


class WeChatMisconfigured(ApiError):
    status, code = 502, "wechat_misconfigured"
    message = "The service's WeChat settings are incorrect; tell its operator."


class WeChatTokenInvalid(ApiError):
    status, code, message = 502, "wechat_token_invalid", "WeChat refused the service's access token."


class WeChatQuotaExceeded(ApiError):
    status, code, message = 503, "wechat_quota_exceeded", "WeChat's limit for this service is reached; try again later."
    headers = {"Retry-After": "60"}


class WeChatPageInvalid(ApiError):
    status, code, message = 502, "wechat_page_invalid", "The mini-program page for login codes is not published."


class WeChatSceneInvalid(ApiError):
    status, code, message = 502, "wechat_scene_invalid", "WeChat refused this login code's id."


class WeChatOaUnauthorized(ApiError):
    status, code = 502, "wechat_oa_unauthorized"
    message = "This Official Account may not make login QR codes: WeChat allows it to verified service accounts only."


# --- the Official Account's callback and confirm links ---

class OaSignatureInvalid(ApiError):
    status, code, message = 403, "oa_signature_invalid", "The signature does not match the Official Account's token."


class OaTimestampStale(ApiError):
    status, code, message = 403, "oa_timestamp_stale", "The timestamp is missing or more than 5 minutes off."


class OaDecryptionFailed(ApiError):
    status, code, message = 400, "oa_decryption_failed", "The message cannot be decrypted with the EncodingAESKey."


class OaWrongAppId(ApiError):
    status, code, message = 403, "oa_wrong_appid", "The message was encrypted for another app id."


class OaMessageInvalid(ApiError):
    status, code, message = 400, "oa_message_invalid", "The message is not a WeChat XML message."


class OaLinkInvalid(ApiError):
    status, code, message = 404, "oa_link_invalid", "This confirm link is not valid for this login."


class OaLinkUsed(ApiError):
    status, code, message = 410, "oa_link_used", "This confirm link has already been used."


class OaLinkExpired(ApiError):
    status, code, message = 410, "oa_link_expired", "This confirm link has expired; scan the code on the computer again."

class AccessDenied(ApiError):
    status, code, message = 403, "access_denied", "This account may not log in here."


class PhoneRequired(ApiError):
    status, code = 403, "phone_required"
    message = "Share your phone number (the phone-number button) before logging in."


class InvalidPhone(ApiError):
    status, code, message = 400, "invalid_phone", "Not a phone number in international form, e.g. +8613800000000."


class PhoneCodeInvalid(ApiError):
    status, code = 400, "phone_code_invalid"
    message = "The phone-number code is invalid, expired or already used; tap the button again."


class PhoneWrongApp(ApiError):
    status, code = 502, "phone_wrong_app"
    message = "WeChat's answer was for another mini-program; the phone number was not stored."


class PhoneQuotaExhausted(ApiError):
    status, code = 503, "phone_quota_exhausted"
    message = "The service's allowance of phone-number checks is used up; tell its operator."
    headers = {"Retry-After": "3600"}


class UserNotFound(ApiError):
    status, code, message = 404, "user_not_found", "No such user."


class SessionNotFound(ApiError):
    status, code, message = 404, "session_not_found", "No such signed-in computer."


class RateLimited(ApiError):
    status, code, message = 429, "rate_limited", "Too many requests; wait a moment and try again."


class SlowDown(ApiError):
    # Like RFC 8628's slow_down: the client polls faster than allowed.
    status, code, message = 429, "slow_down", "Polling too fast; wait as long as Retry-After says."


class TooManyOpenTickets(ApiError):
    status, code, message = 429, "too_many_open_tickets", "This browser holds too many unused login codes; use one or wait."
    headers = {"Retry-After": "30"}


class TooManyPendingTickets(ApiError):
    # Counted per address (per /64 for IPv6), far above what one office behind one NAT needs.
    status, code, message = 429, "too_many_pending_tickets", "Too many unused login codes from this network; wait a moment."
    headers = {"Retry-After": "30"}


class TooManyWaitingPolls(ApiError):
    status, code, message = 429, "too_many_waiting_polls", "Too many requests are already waiting on this login code."
    headers = {"Retry-After": "5"}


class ClientNotFound(ApiError):
    status, code, message = 404, "client_not_found", "No such app is registered."


class InsecureIssuer(ApiError):
    status, code = 503, "insecure_issuer"
    message = "OpenID Connect is served only over https; set PUBLIC_BASE_URL or OIDC_ISSUER to an https URL."


class MetricsForbidden(ApiError):
    status, code, message = 403, "forbidden", "Metrics are only served to the configured scrapers."


class NotReady(ApiError):
    status, code, message = 503, "not_ready", "The service is not ready."
    headers = {"Retry-After": "2"}


class DatabaseUnavailable(ApiError):
    # The database is restarting, unreachable, locked by another writer past the
    # busy timeout, out of disk, or every pooled connection is busy. Nothing was
    # written (the transaction is rolled back); the same request works again soon.
    status, code, message = 503, "database_unavailable", "The service is briefly unavailable; try again shortly."
    headers = {"Retry-After": "2"}


log = logging.getLogger(__name__)

# Failures of the database itself, not of the request: the pool gave up waiting
# for a connection (TimeoutError), a connection broke or could not be made
# (OperationalError, DisconnectionError and InvalidatePoolError), SQLite's lock
# outlasted busy_timeout or its disk is full (OperationalError too).
_DATABASE_DOWN = (sa.exc.OperationalError, sa.exc.TimeoutError, sa.exc.DisconnectionError)


def error_response(status: int, code: str, message: str, headers: dict | None = None, specific: bool = False):
    """The one error answer. A `specific` message says more than its code's usual one."""
    response = jsonify({"error": {"code": code, "message": i18n.error_message(code, message, specific)}})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_code(exc: HTTPException) -> str:
    return (exc.name or "error").lower().replace(" ", "_").replace("-", "_").replace("'", "")


def database_down(exc: BaseException) -> bool:
    """True for an error of the database itself (see _DATABASE_DOWN), whatever the request."""
    if isinstance(exc, _DATABASE_DOWN):
        return True
    # A statement whose connection died is reported as the driver saw it (e.g. InterfaceError).
    return isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated


def rollback() -> None:
    """Undo the request's transaction; on a dead connection, drop the session instead."""
    try:
        db.session.rollback()
    except sa.exc.SQLAlchemyError:
        discard_session()


def register_errorhandlers(app):
    @app.errorhandler(ApiError)
    def handle_api_error(exc: ApiError):
        rollback()
        return error_response(exc.status, exc.code, exc.message, exc.headers,
                              specific=exc.message != type(exc).message)

    @app.errorhandler(HTTPException)
    def handle_http_exception(exc: HTTPException):
        rollback()
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        message = exc.description or exc.name
        if exc.code == 413:
            message = "The request body is too large."
        return error_response(exc.code or 500, _http_code(exc), message, headers)

    @app.errorhandler(Exception)
    def handle_unexpected(exc: Exception):
        rollback()
        if database_down(exc):
            # One line, not a traceback: an operator sees which failure, many times over.
            cause = str(getattr(exc, "orig", None) or exc).strip()
            log.warning("database unavailable: %s: %s", type(exc).__name__, cause.split("\n")[0][:200])
            metrics.database_unavailable()
            error = DatabaseUnavailable()
            return error_response(error.status, error.code, error.message, error.headers)
        app.logger.exception("unhandled error")
        return error_response(500, "internal_error", "Something went wrong on our side.")
