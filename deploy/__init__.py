"""Deployment files (nginx, systemd) and the loopback deployment that runs them on one machine."""
