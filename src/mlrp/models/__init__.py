"""Plain typed values shared by every layer; no I/O here."""
