"""Prints a bcrypt htpasswd line for the user in argv[1], the password read from stdin (never from argv)."""
import sys

import bcrypt

password = sys.stdin.read().encode()
print(f"{sys.argv[1]}:{bcrypt.hashpw(password, bcrypt.gensalt(rounds=4)).decode()}")
