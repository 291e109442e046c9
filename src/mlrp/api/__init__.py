"""The REST API (FastAPI), versioned under /api/v1; routes parse, call a service, serialize."""
