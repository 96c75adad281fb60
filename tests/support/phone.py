"""The mini-program as tests drive it."""


class Phone:
    """The mini-program: signs in with a wx.login code and acts on tickets."""

    def __init__(self, client, code):
        self.client = client
        self.code = code
        self.token = None
        self.user = None

    def login(self):
        response = self.client.post("/api/mp/login", json={"code": self.code})
        assert response.status_code == 200, response.get_json()
        self.token = response.get_json()["token"]
        self.user = response.get_json()["user"]
        return self

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def post(self, ticket_id, action):
        return self.client.post(f"/api/mp/tickets/{ticket_id}/{action}", headers=self.headers())

    def scan(self, ticket_id):
        return self.post(ticket_id, "scan")

    def confirm(self, ticket_id):
        return self.post(ticket_id, "confirm")

    def cancel(self, ticket_id):
        return self.post(ticket_id, "cancel")

    def set_profile(self, **fields):
        return self.client.patch("/api/mp/me", json=fields, headers=self.headers())

    def share_phone(self, code):
        """The getPhoneNumber button: its code goes to POST /api/mp/phone."""
        return self.client.post("/api/mp/phone", json={"code": code}, headers=self.headers())

    def me(self):
        return self.client.get("/api/mp/me", headers=self.headers())
