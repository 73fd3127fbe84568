"""Every table of the tickets package, imported here so `hotline.models.load_all()` sees them."""

from tickets.models.customers import *  # noqa: F403
from tickets.models.tickets import *  # noqa: F403
