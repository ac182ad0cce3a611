"""The dashboard service: a read API over the serving database (read-only role) and the live market page,
pushed to browsers with server-sent events from PostgreSQL LISTEN/NOTIFY."""
