"""`make bench`: the serving figures the README quotes, measured on the real server."""
