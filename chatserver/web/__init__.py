"""The Starlette application: WebSocket endpoints, REST API, health."""
