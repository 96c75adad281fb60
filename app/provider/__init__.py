"""The service as an OpenID Connect provider: other apps let people log in by scanning.

server.py holds the protocol (on Authlib), clients.py the registered apps, keys.py the
signing keys, pending.py the requests waiting for a scan, people.py what apps learn
about a person. The HTTP side is the blueprint app/oidc/.
"""
