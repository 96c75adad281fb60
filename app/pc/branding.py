"""How the pages look for the company that runs the service: its name, logo, colour and scanning app."""
from flask import current_app


def current(t: dict) -> dict:
    """What the templates need to wear the company's look, in the reader's language `t`."""
    config = current_app.config
    site = config.get("SITE_NAME")
    if config.get("SCAN_APP_NAME"):
        scan_app = config["SCAN_APP_NAME"]
    elif config["DEV_LOGIN"]:
        scan_app = t["app_camera"]  # development sign-in: the QR opens a web page, any camera does
    else:
        scan_app = t["app_wechat"]
    return {
        "site_name": site,
        "title": t["title_site"].format(site=site) if site else t["title"],
        "heading": site or t["brand"],
        "logo_url": config.get("LOGO_URL"),
        "scan_app": scan_app,
        # Following the Official Account is scanned with WeChat itself, and says so.
        "pending": t["pending_oa"] if config["QR_MODE"] == "official_account" else t["pending"].format(app=scan_app),
        "miniprogram_link": config.get("MINIPROGRAM_LINK"),
        "dev_login": config["DEV_LOGIN"],
    }


def stylesheet() -> str:
    """The accent colour as a CSS variable (a stylesheet of its own: the pages allow no inline styles)."""
    return f":root {{ --accent: {current_app.config['ACCENT_COLOR']}; }}\n"
