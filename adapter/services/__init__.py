"""The use cases every front-end calls: canonical values in, canonical values out.

Idempotency, the journal, authorisation, in-doubt resolution and events live here, once,
for all three protocols. Nothing here imports a protocol library.
"""
