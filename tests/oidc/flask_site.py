"""A Flask site logging its users in through the service with Authlib's client (README's Flask snippet)."""
from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, session, url_for


def create_site(issuer: str, client_id: str, client_secret: str) -> Flask:
    site = Flask(__name__)
    site.secret_key = "flask-site-test-key"
    oauth = OAuth(site)
    oauth.register(
        "scanlogin",
        client_id=client_id,
        client_secret=client_secret,
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={"scope": "openid profile", "code_challenge_method": "S256"},
    )

    @site.get("/login")
    def login():
        return oauth.scanlogin.authorize_redirect(url_for("callback", _external=True))

    @site.get("/callback")
    def callback():
        token = oauth.scanlogin.authorize_access_token()  # checks state, PKCE, the id_token's signature and nonce
        session["user"] = token["userinfo"]
        return redirect("/")

    @site.get("/")
    def home():
        user = session.get("user")
        return f"Hello {user['name']} ({user['sub']})" if user else "Not logged in"

    return site
