"""The application layer: one place per user action.

WebSocket sessions (``hub/agent.py``, ``hub/visitor.py``) and REST handlers (``web/``)
call these and nothing else to change a chat.  Each action takes typed input, runs its
atomic store step(s), sends its notifications and returns a typed result or raises
``Refused`` with the reason (``service/errors.py``).
"""
