"""Use cases over the store, the scheduler and the executor; the API's only entry point."""
