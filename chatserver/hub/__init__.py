"""One process's live part: its sockets, pub/sub fan-out, the drainer and the timers.

``Node`` (node.py) is the one place where stores, fan-out and sessions are wired together.
"""
