"""Property 10: QRLJacking awareness. The scan answer tells the phone where the login will happen
(IP, browser, time) and whether the phone's IP differs from the PC's, so a person shown a code by
someone else (a phishing page relaying a real QR) can see it is not their computer."""
from datetime import datetime, timedelta, timezone


def scan_from(phone, ticket_id, ip):
    return phone.client.post(f"/api/mp/tickets/{ticket_id}/scan", headers=phone.headers(),
                             environ_base={"REMOTE_ADDR": ip})


def test_property_10_scan_answer_names_the_pcs_ip_browser_and_time(app, phone):
    pc = app.test_client()
    ticket = pc.post("/api/tickets", headers={"User-Agent": "Firefox on the office PC"},
                     environ_base={"REMOTE_ADDR": "203.0.113.7"}).get_json()
    body = scan_from(phone, ticket["ticket_id"], "203.0.113.7").get_json()
    assert body["status"] == "scanned"
    pc_info = body["pc"]
    assert pc_info["ip"] == "203.0.113.7"
    assert pc_info["user_agent"] == "Firefox on the office PC"
    created = datetime.fromisoformat(pc_info["created_at"].replace("Z", "+00:00"))
    assert abs(datetime.now(timezone.utc) - created) < timedelta(minutes=5)
    assert pc_info["ip_differs"] is False


def test_property_10_scan_answer_flags_a_pc_on_another_network(app, phone):
    pc = app.test_client()
    ticket = pc.post("/api/tickets", environ_base={"REMOTE_ADDR": "198.51.100.23"}).get_json()
    body = scan_from(phone, ticket["ticket_id"], "203.0.113.7").get_json()
    assert body["pc"]["ip"] == "198.51.100.23" and body["pc"]["ip_differs"] is True
