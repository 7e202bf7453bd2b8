# Routes register themselves on trytond's WSGI app when imported
# (Tryton 8.0 has no router entry in tryton.cfg).
from . import lease_routes, routes, status_page  # noqa: F401
