"""What the tests share: fake WeChat, the phone, the live server's fixtures and common assertions.

Test modules import from here, never from each other.
"""
