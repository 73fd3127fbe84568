"""Pages for every role: Jinja2 templates with htmx, live fragments over websockets, static assets."""
