"""The composition root: create_app(), the hotline command line and worker entry points."""
