"""One module per group of screens; `agent_ui.routes` gathers their routers."""
