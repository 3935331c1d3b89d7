"""The Redis shell: key names, Lua scripts and the embedded server."""
