"""The HTTP API described for machines (OpenAPI 3.1), served at /openapi.json.

Written by hand to say what the server promises; tests/security/test_p14_* fuzz
the running app against it, so a change to an answer that is not made here too
fails the tests.
"""
from flask import jsonify

from ..tickets import STATUSES
from . import bp


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict, required=None, **extra) -> dict:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required, **extra}


def _json(schema: dict, description: str, headers: dict | None = None) -> dict:
    answer = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        answer["headers"] = headers
    return answer


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before asking again.",
                                "schema": {"type": "string", "pattern": "^[0-9]+$"}}}

_ERRORS = {
    "400": "Bad input: wrong type, missing field, out of range.",
    "401": "Missing, invalid or revoked (logged out) token, or no session.",
    "403": "Not allowed: another browser's ticket, another person's scan, a request from another site, "
           "an account that may not log in (access_denied), or a phone number to share first (phone_required).",
    "404": "Unknown ticket, session or path.",
    "409": "That step is not allowed for this ticket now.",
    "408": "The body did not arrive in time.",
    "410": "The ticket expired, was cancelled or was used.",
    "413": "The body is over 1 MB.",
    "415": "The body is not JSON.",
    "429": "Too many requests or unused tickets; see Retry-After.",
    "502": "WeChat answered with an error.",
    "503": "WeChat is busy or unreachable; see Retry-After.",
}


def _responses(ok_status: str, ok: dict, *errors: str) -> dict:
    answers = {ok_status: ok}
    for status in errors:
        headers = _RETRY_AFTER if status in ("429", "503") else None
        answers[status] = _json(_ref("Error"), _ERRORS[status], headers)
    return answers


def _profile_update(summary: str, operation_id: str) -> dict:
    return {
        "summary": summary,
        "operationId": operation_id,
        "security": _BEARER,
        "requestBody": _json_body(_obj({
            "nickname": {"type": "string", "minLength": 1, "maxLength": 64,
                         "description": "At most 32 columns wide once invisible characters are removed."},
            "avatar_url": {"type": "string", "format": "uri", "maxLength": 512,
                           "description": "https on WeChat's image hosts or the service's AVATAR_HOSTS."},
        }, required=[])),
        "responses": _responses("200", _json(_obj({"user": _ref("OwnUser")}), "The user."), "400", "401", "415"),
    }


def _json_body(schema: dict, required: bool = True) -> dict:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


_TICKET_ID = {"name": "ticket_id", "in": "path", "required": True,
              "description": "The public ticket id from the QR code.",
              "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,32}$"}}
_BEARER = [{"miniProgramToken": []}]


# Every push and check from WeChat carries these (signature = sha1 of the sorted token, timestamp, nonce).
_OA_QUERY = [{"name": name, "in": "query", "required": True, "schema": {"type": "string"}}
             for name in ("signature", "timestamp", "nonce")]
_OA_TEXT = {"description": "The echoed string.", "content": {"text/plain": {"schema": {"type": "string"}}}}


def _qr_image(kind: str, mimetype: str) -> dict:
    image = {"description": "The QR image.", "content": {mimetype: {"schema": {"type": "string"}}}}
    return {"get": {"summary": f"The ticket's QR code as {kind.upper()}.", "operationId": f"ticketQr{kind.title()}",
                    "parameters": [_TICKET_ID],
                    "responses": _responses("200", image, "403", "404", "410", "429")}}

_EVERYWHERE = _obj({"everywhere": {"type": "boolean", "default": False}}, required=[])

# Mini-program calls that take no body still refuse a non-JSON one (415).
_MP_TICKET_ERRORS = ("401", "403", "404", "409", "410", "415")

SPEC = {
    "openapi": "3.1.0",
    "info": {
        "title": "Scan-to-login",
        "version": "1",
        "description": "A PC browser long-polls a QR login ticket; a WeChat mini-program scans and confirms it. "
                       "Every error is {\"error\": {\"code\", \"message\"}}. Answers are never cached.",
    },
    "paths": {
        "/api/tickets": {
            "post": {
                "summary": "Create a login ticket (PC browser). Sets the HttpOnly browser-binding cookie. "
                           "No body (or JSON); form bodies and other sites' requests are refused. "
                           "With QR_MODE=official_account WeChat makes the QR first (502/503 when it cannot).",
                "operationId": "createTicket",
                "responses": _responses("201", _json(_ref("NewTicket"), "The new ticket."), "403", "415", "429", "502", "503"),
            },
        },
        "/api/tickets/{ticket_id}": {
            "get": {
                "summary": "Poll a ticket (only the browser that created it). Waits while `since` equals the status.",
                "operationId": "pollTicket",
                "parameters": [
                    _TICKET_ID,
                    {"name": "wait", "in": "query", "required": False,
                     "description": "Longest wait in seconds (at most POLL_MAX_WAIT_SECONDS).",
                     "schema": {"type": "number", "minimum": 0, "maximum": 25}},
                    {"name": "since", "in": "query", "required": False,
                     "description": "The status the caller already knows.",
                     "schema": {"type": "string", "enum": list(STATUSES)}},
                ],
                "responses": _responses(
                    "200", _json(_ref("TicketState"), "The ticket's state; `confirmed` sets the session cookie."),
                    "400", "403", "404", "429"),
            },
        },
        "/api/tickets/{ticket_id}/cancel": {
            "post": {
                "summary": "The browser that created the ticket drops it (\"not you? get a new code\"); final.",
                "operationId": "dropTicket",
                "parameters": [_TICKET_ID],
                "responses": _responses("200", _json(_ref("TicketState"), "Cancelled."),
                                        "403", "404", "409", "410", "415"),
            },
        },
        "/api/tickets/{ticket_id}/qr.svg": _qr_image("svg", "image/svg+xml"),
        "/api/tickets/{ticket_id}/qr.png": _qr_image("png", "image/png"),
        "/api/me": {
            "get": {
                "summary": "Who is logged in on this PC browser (session cookie).",
                "operationId": "me",
                "responses": _responses("200", _json(_obj({"user": _ref("User"), "session": _ref("Session")}),
                                                     "The user and this session."), "401"),
            },
        },
        "/api/logout": {
            "post": {
                "summary": "End this browser's session on the server (with `everywhere`, every session and "
                           "mini-program token of the user). JSON only, so a cross-site form cannot.",
                "operationId": "logout",
                "requestBody": _json_body(_EVERYWHERE),
                "responses": _responses("200", _json(_obj({"logged_out": {"type": "boolean"}}),
                                                     "Whether a session was ended."), "400", "415"),
            },
        },
        "/api/mp/login": {
            "post": {
                "summary": "Mini-program sign-in with a wx.login code (`dev:<name>` in development mode).",
                "operationId": "mpLogin",
                "requestBody": _json_body(_obj({"code": {"type": "string", "minLength": 1, "maxLength": 128}})),
                "responses": _responses(
                    "200", _json(_obj({"token": {"type": "string"}, "expires_in": {"type": "integer"},
                                       "user": _ref("OwnUser")}), "A mini-program token."),
                    "400", "403", "415", "429", "502", "503"),
            },
        },
        "/api/mp/logout": {
            "post": {
                "summary": "Sign the mini-program out: every token issued to this user so far gets 401 "
                           "token_revoked; with `everywhere`, every PC session of the user ends too.",
                "operationId": "mpLogout",
                "security": _BEARER,
                "requestBody": _json_body(_EVERYWHERE, required=False),
                "responses": _responses(
                    "200", _json(_obj({"logged_out": {"const": True}, "pc_sessions_ended": {"type": "integer"}}),
                                 "Signed out."), "400", "401", "415"),
            },
        },
        "/api/mp/me": {
            "get": {
                "summary": "The signed-in mini-program user.",
                "operationId": "mpMe",
                "security": _BEARER,
                "responses": _responses("200", _json(_obj({"user": _ref("OwnUser")}), "The user."), "401"),
            },
            "patch": _profile_update("Change nickname and/or avatar (https URL).", "mpUpdateMe"),
            "post": _profile_update("Same as PATCH, for wx.request, which cannot send PATCH.", "mpUpdateMePost"),
        },
        "/api/mp/phone": {
            "post": {
                "summary": "Store the user's WeChat-verified phone number from a getPhoneNumber code "
                           "(`dev-phone:+8613800000000` in development mode). A known number is never asked "
                           "for again (each check is a paid WeChat call).",
                "operationId": "mpPhone",
                "security": _BEARER,
                "requestBody": _json_body(_obj({"code": {"type": "string", "minLength": 1, "maxLength": 128}})),
                "responses": _responses("200", _json(_obj({"user": _ref("OwnUser")}), "The user, with the number."),
                                        "400", "401", "415", "429", "502", "503"),
            },
        },
        "/api/mp/tickets/{ticket_id}/scan": {
            "post": {
                "summary": "The phone read the QR. Answers where the login will happen (QRLJacking check).",
                "operationId": "mpScan",
                "security": _BEARER,
                "parameters": [_TICKET_ID],
                "responses": _responses("200", _json(_ref("ScanResult"), "Scanned."), *_MP_TICKET_ERRORS),
            },
        },
        "/api/mp/tickets/{ticket_id}/confirm": {
            "post": {
                "summary": "The person who scanned approves the login.",
                "operationId": "mpConfirm",
                "security": _BEARER,
                "parameters": [_TICKET_ID],
                "responses": _responses("200", _json(_ref("StepResult"), "Confirmed."), *_MP_TICKET_ERRORS),
            },
        },
        "/api/mp/tickets/{ticket_id}/cancel": {
            "post": {
                "summary": "The person who scanned declines; final.",
                "operationId": "mpCancel",
                "security": _BEARER,
                "parameters": [_TICKET_ID],
                "responses": _responses("200", _json(_ref("StepResult"), "Cancelled."), *_MP_TICKET_ERRORS),
            },
        },
        "/api/mp/sessions": {
            "get": {
                "summary": "The PCs this user is logged in on.",
                "operationId": "mpSessions",
                "security": _BEARER,
                "responses": _responses("200", _json(_obj({"sessions": {"type": "array", "items": _ref("Session")}}),
                                                     "Live sessions, most recently used first."), "401"),
            },
        },
        "/api/mp/sessions/{session_id}": {
            "delete": {
                "summary": "End one of this user's PC sessions; the PC's next request is logged out.",
                "operationId": "mpEndSession",
                "security": _BEARER,
                "parameters": [{"name": "session_id", "in": "path", "required": True,
                                "schema": {"type": "integer", "minimum": 1}}],
                "responses": _responses("200", _json(_obj({"id": {"type": "integer"}, "ended": {"const": True}}),
                                                     "Ended."), "401", "404"),
            },
        },
        "/api/oa/callback": {
            "get": {
                "summary": "WeChat checks the callback URL (Official Account console): answers `echostr` when signed.",
                "operationId": "oaCallbackCheck",
                "parameters": _OA_QUERY + [{"name": "echostr", "in": "query", "required": True,
                                            "schema": {"type": "string", "maxLength": 128}}],
                "responses": {**_responses("200", _OA_TEXT, "400", "403", "404")},
            },
            "post": {
                "summary": "WeChat pushes a message or event (XML; in safe mode encrypted). Subscribe and SCAN "
                           "events of a login QR scan its ticket; the reply is `success` or a text message.",
                "operationId": "oaCallback",
                "parameters": _OA_QUERY + [
                    {"name": "openid", "in": "query", "required": False, "schema": {"type": "string"}},
                    {"name": "encrypt_type", "in": "query", "required": False, "schema": {"const": "aes"}},
                    {"name": "msg_signature", "in": "query", "required": False, "schema": {"type": "string"}},
                ],
                "requestBody": {"required": True, "content": {"text/xml": {"schema": {"type": "string"}}}},
                "responses": {"200": {"description": "`success`, or the passive reply (XML).",
                                      "content": {"text/plain": {"schema": {"type": "string"}},
                                                  "application/xml": {"schema": {"type": "string"}}}},
                              **{status: answer for status, answer in _responses("200", {}, "400", "403", "404",
                                                                                "413").items() if status != "200"}},
            },
        },
        "/auth/verify": {
            "get": {
                "summary": "The reverse proxy's check before each request to a protected site (nginx auth_request, "
                           "Caddy forward_auth, Traefik ForwardAuth); reads the session cookie.",
                "operationId": "forwardAuthVerify",
                "parameters": [
                    {"name": "mode", "in": "query", "required": False,
                     "description": "`redirect` (Caddy, Traefik): 302 to the login page for page loads.",
                     "schema": {"type": "string", "enum": ["redirect"]}},
                    *({"name": name, "in": "header", "required": False, "description": text, "schema": {"type": "string"}}
                      for name, text in (
                          ("X-Original-URL", "The URL the browser asked for (nginx)."),
                          ("X-Original-Method", "Its method (nginx)."),
                          ("X-Forwarded-Proto", "Caddy, Traefik: its scheme,"),
                          ("X-Forwarded-Host", "host,"),
                          ("X-Forwarded-Uri", "path and query,"),
                          ("X-Forwarded-Method", "and method."))),
                ],
                "responses": {
                    "200": {"description": "Logged in and allowed there. The identity headers are always sent, "
                                           "empty when unknown.",
                            "headers": {name: {"description": text, "schema": {"type": "string"}} for name, text in (
                                ("Remote-User", "The stable user id."), ("Remote-Name", "Nickname, UTF-8."),
                                ("Remote-Groups", "Groups, comma-separated."), ("Remote-Phone", "Verified phone."))}},
                    "302": {"description": "Not logged in, `mode=redirect`, a page load: off to the login page.",
                            "headers": {"Location": {"schema": {"type": "string"}}}},
                    "400": _json(_ref("Error"), "No original URL in the headers."),
                    "401": _json(_ref("Error"), "Not logged in. `Location` names the login page with `rd`.",
                                 {"Location": {"schema": {"type": "string"}}}),
                    "403": {"description": "Logged in but not allowed there (a page, or JSON when asked), or the "
                                           "host is not protected.",
                            "content": {"application/json": {"schema": _ref("Error")},
                                        "text/html": {"schema": {"type": "string"}}}},
                },
            },
        },
        "/openapi.json": {
            "get": {
                "summary": "This description.",
                "operationId": "openapi",
                "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
            },
        },
    },
    "components": {
        "securitySchemes": {
            "miniProgramToken": {"type": "http", "scheme": "bearer",
                                 "description": "The token from POST /api/mp/login."},
        },
        "schemas": {
            "Error": _obj({"error": _obj({"code": {"type": "string", "pattern": "^[a-z0-9_]+$"},
                                          "message": {"type": "string", "minLength": 1}},
                                         additionalProperties=False)},
                          additionalProperties=False),
            "User": _obj({"id": {"type": "string", "description": "Stable, opaque user id."},
                          "nickname": {"type": "string"}, "avatar_url": {"type": "string"}},
                         additionalProperties=False),
            "OwnUser": _obj({"id": {"type": "string"}, "nickname": {"type": "string"},
                             "avatar_url": {"type": "string"},
                             "phone": {"type": ["string", "null"], "description": "Verified, E.164."},
                             "needs_phone": {"type": "boolean",
                                             "description": "Show the phone-number button before logging in."}},
                            additionalProperties=False),
            "Session": _obj({"id": {"type": "integer"}, "ip": {"type": "string"},
                             "user_agent": {"type": "string"},
                             "created_at": {"type": "string", "format": "date-time"},
                             "last_seen_at": {"type": "string", "format": "date-time"}},
                            additionalProperties=False),
            "TicketState": _obj({
                "ticket_id": {"type": "string"},
                "status": {"type": "string", "enum": list(STATUSES)},
                "expires_in": {"type": "integer", "minimum": 0},
                "expires_at": {"type": "string", "format": "date-time"},
                "scanned_by": _obj({"nickname": {"type": "string"}, "avatar_url": {"type": "string"}},
                                   additionalProperties=False),
            }, required=["ticket_id", "status", "expires_in", "expires_at"], additionalProperties=False),
            "NewTicket": _obj({
                "ticket_id": {"type": "string", "maxLength": 32},
                "status": {"const": "pending"},
                "expires_in": {"type": "integer", "minimum": 0},
                "expires_at": {"type": "string", "format": "date-time"},
                "qr_content": {"type": "string"},
                "qr_svg": {"type": "string", "description": "The QR image as SVG markup (url mode only)."},
                "qr_svg_url": {"type": "string"},
                "qr_image_url": {"type": "string", "description": "The image to show: the SVG, or in "
                                 "wxacode mode WeChat's mini-program code."},
                "qr_png_url": {"type": "string"},
                "poll_max_wait": {"type": "integer"},
            }, required=["ticket_id", "status", "expires_in", "expires_at", "qr_content", "qr_svg_url", "qr_png_url",
                         "qr_image_url", "poll_max_wait"], additionalProperties=False),
            "ScanResult": _obj({
                "ticket_id": {"type": "string"},
                "status": {"const": "scanned"},
                "expires_in": {"type": "integer", "minimum": 0},
                "pc": _obj({"ip": {"type": "string"}, "user_agent": {"type": "string"},
                            "created_at": {"type": "string", "format": "date-time"},
                            "ip_differs": {"type": "boolean"}}, additionalProperties=False),
            }, additionalProperties=False),
            "StepResult": _obj({"ticket_id": {"type": "string"},
                                "status": {"type": "string", "enum": ["confirmed", "cancelled"]}},
                               additionalProperties=False),
        },
    },
}


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(SPEC)
