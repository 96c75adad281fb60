"""Which language a person reads, and the API's error messages in it.

Chinese readers get Simplified (zh-CN) or, for Taiwan, Hong Kong, Macau and
"Hant", Traditional (zh-TW); everyone else English. The error codes never
change; only the human `message` follows the request's Accept-Language.
"""
from flask import has_request_context, request

LANGUAGES = ("en", "zh-CN", "zh-TW")
_TRADITIONAL = ("zh-tw", "zh-hk", "zh-mo", "zh-hant")


def language() -> str:
    """The request's language: the first of Accept-Language's choices this service speaks."""
    if not has_request_context():
        return "en"
    for choice, _quality in request.accept_languages:  # already sorted by preference
        tag = choice.lower()
        if tag.startswith(_TRADITIONAL):
            return "zh-TW"
        if tag == "zh" or tag.startswith("zh-"):
            return "zh-CN"
        if tag == "en" or tag.startswith("en-"):
            return "en"
    return "en"


# The English messages live with the error classes (app/errors.py); these are their translations.
ERROR_MESSAGES = {
    "zh-CN": {
        "bad_request": "请求无效。",
        "invalid_request": "请求无效。",
        "unsupported_media_type": "请以 application/json 发送请求内容。",
        "not_authenticated": "请先登录。",
        "invalid_token": "登录凭证缺失、无效或已过期，请重新登录。",
        "not_bound_browser": "此登录二维码属于另一个浏览器。",
        "not_ticket_owner": "只有扫码的人可以进行此操作。",
        "ticket_not_found": "没有这个登录二维码。",
        "not_found": "找不到该页面。",
        "method_not_allowed": "不支持此请求方法。",
        "invalid_transition": "此登录二维码当前不能进行这一步。",
        "ticket_taken": "此二维码已被其他人扫描。",
        "ticket_expired": "此登录二维码已过期，请在电脑上刷新。",
        "ticket_cancelled": "此次登录已取消。",
        "ticket_used": "此登录二维码已被使用。",
        "dev_login_disabled": "此服务不接受开发模式登录。",
        "wechat_code_invalid": "微信登录凭证无效或已过期，请重试。",
        "wechat_code_used": "微信登录凭证已被使用，请重试。",
        "wechat_user_blocked": "微信已将此账号标记为高风险。",
        "wechat_rate_limited": "登录过于频繁，请一分钟后再试。",
        "wechat_unavailable": "微信繁忙或无法连接，请稍后再试。",
        "wechat_failed": "微信返回了错误。",
        "wechat_misconfigured": "服务的微信设置有误，请联系管理员。",
        "wechat_token_invalid": "微信拒绝了服务的访问凭证。",
        "wechat_quota_exceeded": "已达到微信对此服务的调用上限，请稍后再试。",
        "wechat_page_invalid": "用于登录的小程序页面尚未发布。",
        "wechat_scene_invalid": "微信拒绝了此登录二维码的编号。",
        "session_not_found": "没有这台已登录的电脑。",
        "rate_limited": "请求过于频繁，请稍等片刻再试。",
        "slow_down": "查询过于频繁，请按 Retry-After 等待。",
        "too_many_pending_tickets": "此网络中未使用的登录二维码过多，请使用已打开的二维码或稍后再试。",
        "request_entity_too_large": "请求内容过大。",
        "forbidden": "无权访问。",
        "not_ready": "服务尚未就绪。",
        "internal_error": "服务出现问题，请稍后再试。",
        "database_unavailable": "服务暂时不可用，请稍后再试。",
        "ticket_denied": "此次登录被拒绝：此账号不能在这里登录。",
        "access_denied": "此账号不能在这里登录。",
        "phone_required": "登录前请先提供手机号（点击获取手机号按钮）。",
        "invalid_phone": "不是国际格式的手机号，例如 +8613800000000。",
        "phone_code_invalid": "手机号凭证无效、已过期或已使用，请再点一次按钮。",
        "phone_wrong_app": "微信的回答属于另一个小程序，手机号未保存。",
        "phone_quota_exhausted": "服务的手机号验证额度已用完，请联系管理员。",
        "user_not_found": "没有这个用户。",
        "host_not_protected": "此网站不受本服务保护。",
        "token_revoked": "此次登录已结束（已退出），请重新登录。",
        "cross_site_request": "此处不接受来自其他网站的请求。",
        "body_timeout": "请求内容未能及时送达。",
        "too_many_open_tickets": "此浏览器中未使用的登录二维码过多，请使用其中一个或稍后再试。",
        "too_many_waiting_polls": "已有过多请求在等待此登录二维码。",
        "wechat_oa_unauthorized": "此公众号不能生成登录二维码：微信只允许已认证的服务号这样做。",
        "oa_signature_invalid": "签名与公众号的令牌不符。",
        "oa_timestamp_stale": "时间戳缺失或相差超过 5 分钟。",
        "oa_decryption_failed": "无法用 EncodingAESKey 解密此消息。",
        "oa_wrong_appid": "此消息是为另一个 AppID 加密的。",
        "oa_message_invalid": "这不是微信的 XML 消息。",
        "oa_link_invalid": "此确认链接对本次登录无效。",
        "oa_link_used": "此确认链接已使用。",
        "oa_link_expired": "此确认链接已过期，请在电脑上重新扫码。",
        "client_not_found": "没有注册这个应用。",
        "insecure_issuer": "OpenID Connect 只通过 https 提供；请将 PUBLIC_BASE_URL 或 OIDC_ISSUER 设为 https 地址。",
        "app_access_denied": "此账号不能登录这个应用。",
    },
    "zh-TW": {
        "bad_request": "請求無效。",
        "invalid_request": "請求無效。",
        "unsupported_media_type": "請以 application/json 傳送請求內容。",
        "not_authenticated": "請先登入。",
        "invalid_token": "登入憑證缺失、無效或已過期，請重新登入。",
        "not_bound_browser": "此登入條碼屬於另一個瀏覽器。",
        "not_ticket_owner": "只有掃碼的人可以進行此操作。",
        "ticket_not_found": "沒有這個登入條碼。",
        "not_found": "找不到該頁面。",
        "method_not_allowed": "不支援此請求方法。",
        "invalid_transition": "此登入條碼目前不能進行這一步。",
        "ticket_taken": "此條碼已被其他人掃描。",
        "ticket_expired": "此登入條碼已過期，請在電腦上重新整理。",
        "ticket_cancelled": "此次登入已取消。",
        "ticket_used": "此登入條碼已被使用。",
        "dev_login_disabled": "此服務不接受開發模式登入。",
        "wechat_code_invalid": "微信登入憑證無效或已過期，請重試。",
        "wechat_code_used": "微信登入憑證已被使用，請重試。",
        "wechat_user_blocked": "微信已將此帳號標記為高風險。",
        "wechat_rate_limited": "登入過於頻繁，請一分鐘後再試。",
        "wechat_unavailable": "微信忙碌或無法連線，請稍後再試。",
        "wechat_failed": "微信傳回了錯誤。",
        "wechat_misconfigured": "服務的微信設定有誤，請聯絡管理員。",
        "wechat_token_invalid": "微信拒絕了服務的存取憑證。",
        "wechat_quota_exceeded": "已達到微信對此服務的呼叫上限，請稍後再試。",
        "wechat_page_invalid": "用於登入的小程式頁面尚未發布。",
        "wechat_scene_invalid": "微信拒絕了此登入條碼的編號。",
        "session_not_found": "沒有這台已登入的電腦。",
        "rate_limited": "請求過於頻繁，請稍候再試。",
        "slow_down": "查詢過於頻繁，請依 Retry-After 等待。",
        "too_many_pending_tickets": "此網路中未使用的登入條碼過多，請使用已開啟的條碼或稍後再試。",
        "request_entity_too_large": "請求內容過大。",
        "forbidden": "無權存取。",
        "not_ready": "服務尚未就緒。",
        "internal_error": "服務發生問題，請稍後再試。",
        "database_unavailable": "服務暫時無法使用，請稍後再試。",
        "ticket_denied": "此次登入被拒絕：此帳號不能在這裡登入。",
        "access_denied": "此帳號不能在這裡登入。",
        "phone_required": "登入前請先提供手機號碼（點擊取得手機號碼按鈕）。",
        "invalid_phone": "不是國際格式的手機號碼，例如 +8613800000000。",
        "phone_code_invalid": "手機號碼憑證無效、已過期或已使用，請再點一次按鈕。",
        "phone_wrong_app": "微信的回覆屬於另一個小程式，手機號碼未儲存。",
        "phone_quota_exhausted": "服務的手機號碼驗證額度已用完，請聯絡管理員。",
        "user_not_found": "沒有這個使用者。",
        "host_not_protected": "此網站不受本服務保護。",
        "token_revoked": "此次登入已結束（已登出），請重新登入。",
        "cross_site_request": "此處不接受來自其他網站的請求。",
        "body_timeout": "請求內容未能及時送達。",
        "too_many_open_tickets": "此瀏覽器中未使用的登入條碼過多，請使用其中一個或稍後再試。",
        "too_many_waiting_polls": "已有過多請求在等待此登入條碼。",
        "wechat_oa_unauthorized": "此公眾號不能產生登入條碼：微信只允許已認證的服務號這樣做。",
        "oa_signature_invalid": "簽章與公眾號的權杖不符。",
        "oa_timestamp_stale": "時間戳記缺失或相差超過 5 分鐘。",
        "oa_decryption_failed": "無法用 EncodingAESKey 解密此訊息。",
        "oa_wrong_appid": "此訊息是為另一個 AppID 加密的。",
        "oa_message_invalid": "這不是微信的 XML 訊息。",
        "oa_link_invalid": "此確認連結對本次登入無效。",
        "oa_link_used": "此確認連結已使用。",
        "oa_link_expired": "此確認連結已過期，請在電腦上重新掃碼。",
        "client_not_found": "沒有註冊這個應用程式。",
        "insecure_issuer": "OpenID Connect 只透過 https 提供；請將 PUBLIC_BASE_URL 或 OIDC_ISSUER 設為 https 位址。",
        "app_access_denied": "此帳號不能登入這個應用程式。",
    },
}


def error_message(code: str, message: str, specific: bool) -> str:
    """`message` in the request's language. A `specific` message (one naming a field, say) stays as it is
    unless the code has a translation, which then leads and keeps the detail after it."""
    translated = ERROR_MESSAGES.get(language(), {}).get(code)
    if translated is None:
        return message
    return f"{translated}（{message}）" if specific else translated
